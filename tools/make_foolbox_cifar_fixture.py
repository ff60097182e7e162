#!/usr/bin/env python3
"""Build the real-CIFAR-10 test fixture from the 20 CIFAR-10 test images in foolbox 3.3.4.

foolbox (MIT) ships the first 20 images of the CIFAR-10 test set as
`foolbox/data/cifar10_{NN}_{label}.png`. This script writes them in the official binary layout
(one label byte, then the red, green and blue 32x32 planes, row by row) as `test_batch.bin`, the
official `batches.meta.txt`, an archive laid out like `cifar-10-binary.tar.gz`, and
`expected.json` with labels and pixel values read independently by Pillow.

    pip download --no-deps foolbox==3.3.4 -d /tmp/foolbox
    pip install pillow
    python3 tools/make_foolbox_cifar_fixture.py /tmp/foolbox/foolbox-3.3.4-py3-none-any.whl
"""
import io
import json
import re
import sys
import tarfile
import zipfile
from pathlib import Path

from PIL import Image

OUT = Path(__file__).resolve().parent.parent / "crates/core/tests/fixtures/cifar10-foolbox"
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def main(wheel: str) -> None:
    images = []
    with zipfile.ZipFile(wheel) as archive:
        names = sorted(n for n in archive.namelist() if re.search(r"data/cifar10_\d\d_\d\.png$", n))
        assert len(names) == 20, names
        for name in names:
            label = int(name[-5])
            pixels = Image.open(io.BytesIO(archive.read(name))).convert("RGB")
            assert pixels.size == (32, 32)
            images.append((label, pixels))

    batch = bytearray()
    expected = []
    for label, image in images:
        planes = [bytes(image.getchannel(c).tobytes()) for c in "RGB"]
        batch.append(label)
        for plane in planes:
            batch.extend(plane)
        expected.append({
            "label": label,
            "class": CLASSES[label],
            "plane_sums": [sum(plane) for plane in planes],
            "top_left_rgb": list(image.getpixel((0, 0))),
            "bottom_right_rgb": list(image.getpixel((31, 31))),
            "row_5_col_17_rgb": list(image.getpixel((17, 5))),
        })
    meta = "".join(f"{name}\n" for name in CLASSES) + "\n"

    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "test_batch.bin").write_bytes(batch)
    (OUT / "batches.meta.txt").write_text(meta)
    (OUT / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")

    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:
        for name, data in [("batches.meta.txt", meta.encode()), ("readme.html", b"<p>fixture</p>"),
                           ("test_batch.bin", bytes(batch))]:
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            info.mtime = 1_262_304_000
            tar.addfile(info, io.BytesIO(data))
    (OUT / "cifar-10-binary.tar.gz").write_bytes(tar_bytes.getvalue())
    print(f"wrote {OUT}: {len(images)} images, {len(batch)} bytes")


if __name__ == "__main__":
    main(sys.argv[1])
