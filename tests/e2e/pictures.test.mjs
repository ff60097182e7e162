// Your own pictures: a folder whose sub-folders are classes, chosen in the page, decoded and made
// 32 x 32 in the worker (PNG, JPEG and WebP of several sizes, written by this test), trained on,
// and the classes the model never trained on scored (the class split); bad folders refused by name
// while the page keeps what it had.
import { mkdtemp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { serveDist } from "../support/server.mjs";
import { launch, openRecorded } from "../support/browser.mjs";
import { errorsIn, screenshot, waitForPhase } from "../support/studio.mjs";
import { pngHeaderOnly, solidPng, zipOf } from "../support/files.mjs";

let server;
let browser;
let folders;
before(async () => {
  server = await serveDist();
  browser = await launch({ webgpu: false });
  folders = await mkdtemp(join(tmpdir(), "tripletlab-pictures-"));
});
after(async () => {
  await browser?.close();
  await server?.close();
  if (folders) await rm(folders, { recursive: true, force: true });
});

// Four classes a child could draw, each picture a little different (position, size, shade).
const CLASSES = ["red discs", "blue stripes", "green squares", "yellow rings"];
// Formats and sizes the pictures come in: landscape, portrait and square, three encodings.
const SHAPES = [
  { type: "image/png", ext: "png", width: 96, height: 64 },
  { type: "image/jpeg", ext: "jpg", width: 60, height: 120 },
  { type: "image/webp", ext: "webp", width: 48, height: 48 },
];

/** Paint `count` pictures of `klass` in the browser and return them as files' bytes. */
async function paint(page, klass, count, offset = 0) {
  return page.evaluate(
    async ([klass, count, offset, shapes]) => {
      const out = [];
      for (let n = 0; n < count; n += 1) {
        // The n-th file; the drawing's own number `i` (offset for pictures of a second set).
        const i = n + offset;
        const shape = shapes[i % shapes.length];
        const canvas = new OffscreenCanvas(shape.width, shape.height);
        const c = canvas.getContext("2d");
        const side = Math.min(shape.width, shape.height);
        const [x0, y0] = [(shape.width - side) / 2, (shape.height - side) / 2];
        const jitter = ((i * 7) % 5) - 2;
        c.fillStyle = `rgb(${20 + i * 3}, ${20 + i * 2}, 30)`;
        c.fillRect(0, 0, shape.width, shape.height);
        if (klass === "red discs") {
          c.fillStyle = "#e03030";
          c.beginPath();
          c.arc(x0 + side / 2 + jitter, y0 + side / 2, side * (0.25 + (i % 3) * 0.04), 0, Math.PI * 2);
          c.fill();
        } else if (klass === "blue stripes") {
          c.fillStyle = "#3060f0";
          for (let s = 0; s < 4; s += 1) c.fillRect(x0, y0 + (s * side) / 4 + jitter + 2, side, side / 10);
        } else if (klass === "green squares") {
          c.fillStyle = "#30c050";
          c.fillRect(x0 + side * 0.25 + jitter, y0 + side * 0.25, side * 0.5, side * 0.5);
        } else if (klass === "purple triangles") {
          c.fillStyle = "#a040e0";
          c.beginPath();
          c.moveTo(x0 + side / 2 + jitter, y0 + side * 0.15);
          c.lineTo(x0 + side * 0.85, y0 + side * 0.85);
          c.lineTo(x0 + side * 0.15, y0 + side * 0.85);
          c.closePath();
          c.fill();
        } else {
          c.strokeStyle = "#f0d020";
          c.lineWidth = side / 10;
          c.beginPath();
          c.arc(x0 + side / 2, y0 + side / 2 + jitter, side * 0.3, 0, Math.PI * 2);
          c.stroke();
        }
        const blob = await canvas.convertToBlob({ type: shape.type, quality: 0.9 });
        out.push({ name: `${String(n + 1).padStart(2, "0")}.${shape.ext}`, bytes: [...new Uint8Array(await blob.arrayBuffer())] });
      }
      return out;
    },
    [klass, count, offset, SHAPES],
  );
}

/** Write a folder `name` of `classes` (class -> count) under the test's temporary folder. */
async function folder(page, name, classes, extras = {}, offset = 0) {
  const root = join(folders, name);
  for (const [klass, count] of Object.entries(classes)) {
    await mkdir(join(root, klass), { recursive: true });
    for (const file of await paint(page, klass, count, offset)) await writeFile(join(root, klass, file.name), Buffer.from(file.bytes));
  }
  for (const [path, text] of Object.entries(extras)) await writeFile(join(root, path), text);
  return root;
}

const status = (page) => page.getByTestId("dataset-status");

/** The regular files of a (ustar) tar, by path, in order. */
function untar(buffer) {
  const files = new Map();
  for (let at = 0; at + 512 <= buffer.length; ) {
    const header = buffer.subarray(at, at + 512);
    if (header.every((byte) => byte === 0)) break;
    const field = (from, length) => header.subarray(from, from + length).toString("utf8").replace(/\0.*$/s, "");
    const name = [field(345, 155), field(0, 100)].filter(Boolean).join("/");
    const size = parseInt(field(124, 12).trim(), 8);
    files.set(name, buffer.subarray(at + 512, at + 512 + size));
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

describe("your own pictures", { timeout: 300_000 }, () => {
  test("a folder of classes is loaded, trained on, and the two classes it never trained on are scored", async () => {
    const { page, log } = await openRecorded(browser, server.url + "?preset=demo&split=class&held_out=50&epochs=3&batch=8");
    await page.getByTestId("backend-cpu").check();
    const root = await folder(page, "pets", Object.fromEntries(CLASSES.map((klass) => [klass, 12])), {
      "red discs/notes.txt": "not a picture",
      "readme.txt": "a file in no class",
    });
    await page.getByTestId("own-data").locator("summary").click();
    await page.getByTestId("pictures-folder").setInputFiles(root);
    await page.waitForFunction(() => ["ready", "failed"].includes(document.querySelector('[data-testid="dataset-status"]')?.dataset.state), null, { timeout: 60_000 });
    const line = await status(page).innerText();
    assert.equal(await status(page).getAttribute("data-state"), "ready", line);
    assert.match(line, /^Loaded your pictures: 48 pictures in 4 classes \(blue stripes 12, green squares 12, red discs 12, yellow rings 12\), each cut to its centred square and scaled to 32 x 32 in this browser, in \d+ ms\.$/);
    // One picture of each class as chosen beside what the encoder sees.
    const samples = page.getByTestId("picture-sample");
    assert.equal(await samples.count(), 4);
    const sizes = await samples.first().locator("img").evaluateAll((imgs) => imgs.map((img) => [img.naturalWidth, img.naturalHeight]));
    assert.deepEqual(sizes, [[96, 64], [32, 32]], "blue stripes' first picture (01.png, 96 x 64) beside its 32 x 32");
    // Saved as a CIFAR-10 archive, which the page reads back as CIFAR-10 files (and
    // `tripletlab prepare --from` too: crates/cli/tests/prepare.rs).
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("pictures-export").click()]);
    assert.equal(download.suggestedFilename(), "your-pictures-cifar10-binary.tar.gz");
    const archive = join(folders, download.suggestedFilename());
    await download.saveAs(archive);
    // The two files that are not pictures of a class are named; the rest loaded.
    const alerts = await page.getByTestId("alerts").innerText();
    assert.match(alerts, /2 files were left out of your pictures \(the rest loaded\): /);
    assert.ok(alerts.includes("red discs/notes.txt") && alerts.includes("readme.txt: not in a class sub-folder"), alerts);
    await page.getByTestId("dataset-files").setInputFiles(archive);
    await page.waitForFunction(() => document.querySelector('[data-testid="dataset-status"]')?.dataset.state === "ready" && /your files/.test(document.querySelector('[data-testid="dataset-status"]').innerText), null, { timeout: 60_000 });
    assert.match(await status(page).innerText(), /^Loaded your pictures \(your files\) \(real images\): 48 images in 4 classes/);
    await page.getByRole("button", { name: "Start training" }).click();
    assert.equal(await waitForPhase(page, ["finished", "failed"], 240_000), "finished", await page.getByTestId("phase").innerText());
    const counts = await page.getByTestId("counts-line").innerText();
    const unseen = counts.match(/classes the model never trains on \(([a-z ]+) and ([a-z ]+)\)/);
    assert.ok(unseen && CLASSES.includes(unseen[1]) && CLASSES.includes(unseen[2]), counts);
    const headline = await page.getByTestId("auc").innerText();
    assert.match(headline, /^AUC [01]\.\d{3} after 3 epochs/);
    console.log(`own pictures (4 painted classes x 12, PNG/JPEG/WebP): unseen ${unseen[1]} and ${unseen[2]}; ${headline}`);
    // The map handed to the Embedding Projector: one tar of its four files, read back here.
    const points = Number(await page.getByTestId("map").getAttribute("data-points"));
    const [bundle] = await Promise.all([page.waitForEvent("download"), page.getByTestId("projector-export").click()]);
    assert.equal(bundle.suggestedFilename(), "tripletlab-projector.tar");
    const tarPath = join(folders, "projector.tar");
    await bundle.saveAs(tarPath);
    const files = untar(await readFile(tarPath));
    assert.deepEqual([...files.keys()], ["vectors.tsv", "metadata.tsv", "sprite.png", "projector_config.json"].map((f) => `tripletlab-projector/${f}`));
    const text = (name) => files.get(`tripletlab-projector/${name}`).toString("utf8");
    const vectors = text("vectors.tsv").trim().split("\n").map((line) => line.split("\t").map(Number));
    const metadata = text("metadata.tsv").trim().split("\n");
    assert.equal(vectors.length, points);
    assert.ok(vectors.every((row) => row.length === vectors[0].length && row.every(Number.isFinite)));
    assert.equal(metadata[0], "index\tclass\tsplit");
    assert.equal(metadata.length, points + 1);
    for (const line of metadata.slice(1)) assert.ok([unseen[1], unseen[2]].includes(line.split("\t")[1]), line);
    const config = JSON.parse(text("projector_config.json"));
    assert.deepEqual(config.embeddings[0].tensorShape, [points, vectors[0].length]);
    const sprite = files.get("tripletlab-projector/sprite.png");
    const side = Math.ceil(Math.sqrt(points)) * 32;
    assert.deepEqual([sprite.readUInt32BE(16), sprite.readUInt32BE(20)], [side, side], "PNG width and height");
    await screenshot(page, "own-pictures-trained");

    // Enrolled without training: first one of the two classes the run held out whole.
    const enrolled = page.getByTestId("enrolled");
    await page.getByTestId("enrol-unseen").selectOption({ label: unseen[1] });
    await page.getByTestId("enrol-unseen-button").click();
    await page.waitForFunction((name) => document.querySelector('[data-testid="enrol-auc"]')?.innerText.startsWith(name + ":"), unseen[1], { timeout: 60_000 });
    const held = await page.getByTestId("enrol-auc").innerText();
    const heldMatch = held.match(/^([a-z ]+): AUC ([01]\.\d{3}) on a class held out of training: ([\d,]+) genuine pairs among its ([\d,]+) pictures, ([\d,]+) impostor pairs with ([\d,]+) map pictures of ([a-z ]+)\. The run's held-out pairs: AUC ([01]\.\d{3})\. Scored by the model after epoch 3 \(step \d+\)\.$/);
    assert.ok(heldMatch, held);
    const num = (text) => Number(text.replace(/,/g, ""));
    const [, , heldAuc, heldGenuine, heldPictures, heldImpostor, heldGallery, heldOthers, runAuc] = heldMatch;
    const n = num(heldPictures);
    assert.equal(num(heldGenuine), (n * (n - 1)) / 2, "every pair of its pictures");
    assert.equal(num(heldImpostor), n * num(heldGallery), "each picture with each map picture of another class");
    assert.equal(heldOthers, unseen[2], "with the class split the map holds the two unseen classes: the other is the impostors'");
    assert.equal(num(heldPictures) + num(heldGallery), points, "the class's map pictures and the rest make the map");
    assert.equal(runAuc, headline.match(/^AUC ([01]\.\d{3})/)[1], "the run's AUC is the headline's");
    assert.equal(num(await enrolled.getAttribute("data-auc")).toFixed(3), heldAuc);
    const rates = (await page.getByTestId("enrol-rates").innerText()).match(/threshold ([01]\.\d{3}) .*: ([\d,]+) of ([\d,]+) genuine pairs accepted \(\d+%\), ([\d,]+) of ([\d,]+) impostor pairs accepted/);
    assert.ok(rates, await page.getByTestId("enrol-rates").innerText());
    assert.deepEqual([num(rates[3]), num(rates[5])], [num(heldGenuine), num(heldImpostor)]);
    assert.equal(await enrolled.locator("img").count(), n);

    // Then a class of the visitor's own, which no run saw: six painted purple triangles.
    const triangles = await folder(page, "new-class", { "purple triangles": 6 });
    await page.getByTestId("enrol-name").fill("purple triangles");
    const pictures = ["01.png", "02.jpg", "03.webp", "04.png", "05.jpg", "06.webp"].map((f) => join(triangles, "purple triangles", f));
    await page.getByTestId("enrol-files").setInputFiles(pictures);
    await page.waitForFunction(() => document.querySelector('[data-testid="enrol-auc"]')?.innerText.startsWith("purple triangles:"), null, { timeout: 60_000 });
    const own = await page.getByTestId("enrol-auc").innerText();
    const ownMatch = own.match(/^purple triangles: AUC ([01]\.\d{3}) on pictures the model never trained on: 15 genuine pairs among its 6 pictures, ([\d,]+) impostor pairs with ([\d,]+) map pictures of ([a-z ]+) and ([a-z ]+)\./);
    assert.ok(ownMatch, own);
    assert.equal(num(ownMatch[3]), points, "every map picture is another class's");
    assert.equal(num(ownMatch[2]), 6 * points);
    assert.deepEqual([ownMatch[4], ownMatch[5]].sort(), [unseen[1], unseen[2]].sort());
    console.log(`enrolled without training: ${unseen[1]} (held out) AUC ${heldAuc} over ${heldGenuine} genuine / ${heldImpostor} impostor pairs; purple triangles (own) AUC ${ownMatch[1]}; run ${runAuc}`);
    // A new picture of each kind, checked against the triangles at the run's threshold.
    const probes = await folder(page, "probes", { "purple triangles": 1, "red discs": 1 }, {}, 6);
    const verdicts = {};
    for (const klass of ["purple triangles", "red discs"]) {
      const previous = await page.getByTestId("enrol-verdict").count() ? await page.getByTestId("enrol-verdict").innerText() : "";
      await page.getByTestId("enrol-check").setInputFiles(join(probes, klass, "01.png"));
      await page.waitForFunction((before) => {
        const now = document.querySelector('[data-testid="enrol-verdict"]');
        return now && now.innerText !== before;
      }, previous, { timeout: 60_000 });
      const verdict = page.getByTestId("enrol-verdict");
      const text = await verdict.innerText();
      const parsed = text.match(/^01\.png: similarity ([01]\.\d{3}) to purple triangles \(the mean over its 6 pictures; the closest one ([01]\.\d{3})\), (at least|below) the run's threshold ([01]\.\d{3}): (accepted as purple triangles|rejected, not purple triangles)\. Its nearest picture on the map is of ([a-z ]+) \(similarity [01]\.\d{3}\)\.$/);
      assert.ok(parsed, text);
      const similarity = Number(await verdict.getAttribute("data-similarity"));
      assert.ok(Number(parsed[2]) >= Number(parsed[1]), "the closest picture is at least the mean");
      assert.equal(await verdict.getAttribute("data-accepted"), String(similarity >= Number(parsed[4])), text);
      assert.equal(parsed[3] === "at least", parsed[5].startsWith("accepted"), text);
      verdicts[klass] = { similarity, text };
    }
    assert.ok(verdicts["purple triangles"].similarity > verdicts["red discs"].similarity,
      `a new triangle is nearer the enrolled triangles than a disc is: ${JSON.stringify(verdicts)}`);
    console.log(`checked: ${verdicts["purple triangles"].text} | ${verdicts["red discs"].text}`);
    await screenshot(page, "unseen-class-enrolled");
    assert.deepEqual(errorsIn(log), [], log.join("\n"));
    await page.close();
  });

  test("pictures taken with the camera (Chromium's fake camera) become a dataset of named classes", async () => {
    const camera = await launch({ webgpu: false, extraArgs: ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"] });
    try {
      const { page, log } = await openRecorded(camera, server.url + "?preset=demo&epochs=1&batch=4");
      await page.getByTestId("backend-cpu").check();
      await page.getByTestId("own-data").locator("summary").click();
      await page.getByTestId("camera-start").click();
      await page.waitForFunction(() => document.querySelector('[data-testid="camera-video"]')?.videoWidth > 0, null, { timeout: 30_000 });
      for (const klass of ["my mug", "my pen"]) {
        await page.getByTestId("camera-class").fill(klass);
        for (let shot = 0; shot < 4; shot += 1) {
          await page.getByTestId("camera-capture").click();
          await page.waitForTimeout(120);
        }
      }
      assert.equal(await page.getByTestId("camera-counts").innerText(), "my mug: 4, my pen: 4");
      await page.getByTestId("camera-use").click();
      await page.waitForFunction(() => ["ready", "failed"].includes(document.querySelector('[data-testid="dataset-status"]')?.dataset.state), null, { timeout: 60_000 });
      const line = await status(page).innerText();
      assert.match(line, /^Loaded your pictures: 8 pictures in 2 classes \(my mug 4, my pen 4\)/, line);
      assert.equal(await page.getByTestId("camera-stop").count(), 0, "the camera is stopped once the pictures are used");
      await page.getByRole("button", { name: "Start training" }).click();
      assert.equal(await waitForPhase(page, ["finished", "failed"], 240_000), "finished", await page.getByTestId("phase").innerText());
      // A third thing, enrolled from the camera without training.
      await page.getByTestId("enrol").locator("details.enrol-camera summary").click();
      await page.getByTestId("enrol-camera-start").click();
      await page.waitForFunction(() => document.querySelector('[data-testid="enrol-camera-video"]')?.videoWidth > 0, null, { timeout: 30_000 });
      await page.getByTestId("enrol-camera-class").fill("my cup");
      for (let shot = 0; shot < 3; shot += 1) {
        await page.getByTestId("enrol-camera-capture").click();
        await page.waitForTimeout(150);
      }
      assert.equal(await page.getByTestId("enrol-camera-counts").innerText(), "my cup: 3");
      await page.getByTestId("enrol-camera-use").click();
      await page.waitForFunction(() => document.querySelector('[data-testid="enrol-auc"]')?.innerText.startsWith("my cup:"), null, { timeout: 60_000 });
      const enrolled = await page.getByTestId("enrol-auc").innerText();
      assert.match(enrolled, /^my cup: AUC [01]\.\d{3} on pictures the model never trained on: 3 genuine pairs among its 3 pictures, \d+ impostor pairs with \d+ map pictures of my mug and my pen\./);
      assert.equal(await page.getByTestId("enrol-camera-stop").count(), 0, "the camera is stopped once the pictures are enrolled");
      console.log(`camera: ${enrolled}`);
      assert.deepEqual(errorsIn(log), [], log.join("\n"));
      await page.close();
    } finally {
      await camera.close();
    }
  });

  test("a folder that cannot train is refused by name, and the page keeps the dataset it had", async () => {
    const { page, log } = await openRecorded(browser, server.url + "?preset=demo");
    await page.getByTestId("backend-cpu").check();
    await page.getByTestId("own-data").locator("summary").click();
    const good = await folder(page, "good", { "red discs": 4, "blue stripes": 4 });
    await page.getByTestId("pictures-folder").setInputFiles(good);
    await page.waitForFunction(() => document.querySelector('[data-testid="dataset-status"]')?.dataset.state === "ready", null, { timeout: 60_000 });
    const cases = [
      ["one class", { "red discs": 5 }, /^every picture is in one class \(red discs\): a triplet needs a picture of another class/],
      ["one picture", { "red discs": 5, "blue stripes": 1 }, /^class blue stripes has 1 picture; each class needs at least 4 \(two to train on, two to test\): add pictures to it or remove it$/],
    ];
    for (const [name, classes, expected] of cases) {
      const root = await folder(page, name.replace(" ", "-"), classes);
      await page.getByTestId("pictures-folder").setInputFiles(root);
      await page.waitForFunction(() => document.querySelector('[data-testid="dataset-status"]')?.dataset.state === "failed", null, { timeout: 60_000 });
      const message = await status(page).innerText();
      assert.match(message, expected, `${name}: ${message}`);
    }
    // Not one picture: a folder of text files.
    const empty = join(folders, "no-pictures", "notes");
    await mkdir(empty, { recursive: true });
    await writeFile(join(empty, "a.txt"), "words");
    await page.getByTestId("pictures-folder").setInputFiles(join(folders, "no-pictures"));
    await page.waitForFunction(() => document.querySelector('[data-testid="dataset-status"]')?.dataset.state === "failed", null, { timeout: 60_000 });
    assert.match(await status(page).innerText(), /^no picture could be read: choose a folder whose sub-folders/);
    // A zip bomb: 30 MB of zeros in a 30 KB .zip, refused whole before any picture is read.
    const zips = [
      ["bomb.zip", zipOf([{ name: "pets/cat/0.png", bytes: Buffer.alloc(30_000_000) }]),
        /^bomb\.zip: pets\/cat\/0\.png unpacks to more than 25 MB, more than any picture read here \(a zip bomb\?\); nothing was loaded from it$/],
      ["notes.zip", Buffer.from("words, not a zip"), /^notes\.zip is not a \.zip this page can read \(.+\): zip the folder again, or choose the folder itself$/],
    ];
    for (const [name, bytes, expected] of zips) {
      assert.ok(bytes.length < 100_000, `${name}: ${bytes.length} bytes`);
      await page.getByTestId("pictures-zip").setInputFiles({ name, mimeType: "application/zip", buffer: bytes });
      await page.waitForFunction(() => document.querySelector('[data-testid="dataset-status"]')?.dataset.state === "failed", null, { timeout: 60_000 });
      assert.match(await status(page).innerText(), expected);
      await page.getByTestId("dataset-retry").waitFor();
    }
    // The worker still holds the good folder's 8 pictures: a run starts on them.
    await page.getByRole("button", { name: "Start training" }).click();
    assert.equal(await waitForPhase(page, ["finished", "failed"], 240_000), "finished", await page.getByTestId("phase").innerText());
    assert.match(await page.getByTestId("run-line").innerText(), /^your pictures: /);
    assert.deepEqual(errorsIn(log), [], log.join("\n"));
    await page.close();
  });

  test("picture files picked and named class by class become a dataset", async () => {
    const { page, log } = await openRecorded(browser, server.url + "?preset=demo");
    await page.getByTestId("backend-cpu").check();
    const root = await folder(page, "picked", { "red discs": 4, "blue stripes": 4 });
    await page.getByTestId("own-data").locator("summary").click();
    for (const [name, klass] of [["discs", "red discs"], ["stripes", "blue stripes"]]) {
      await page.getByTestId("camera-class").fill(name);
      const files = ["01.png", "02.jpg", "03.webp", "04.png"].map((file) => join(root, klass, file));
      await page.getByTestId("camera-files").setInputFiles(files);
      await page.waitForFunction((name) => document.querySelector('[data-testid="camera-counts"]')?.innerText.includes(`${name}: 4`), name);
    }
    assert.equal(await page.getByTestId("camera-counts").innerText(), "discs: 4, stripes: 4");
    await page.getByTestId("camera-use").click();
    await page.waitForFunction(() => ["ready", "failed"].includes(document.querySelector('[data-testid="dataset-status"]')?.dataset.state), null, { timeout: 60_000 });
    assert.match(await status(page).innerText(), /^Loaded your pictures: 8 pictures in 2 classes \(discs 4, stripes 4\)/);
    assert.deepEqual(errorsIn(log), [], log.join("\n"));
    await page.close();
  });

  test("a .zip of a folder loads, a 50-megapixel photo in it too; a picture whose header says 120 megapixels is named and left out", async () => {
    const { page, log } = await openRecorded(browser, server.url + "?preset=demo");
    await page.getByTestId("backend-cpu").check();
    const entries = [];
    for (const klass of ["red discs", "blue stripes", "green squares"]) {
      for (const file of await paint(page, klass, 4)) entries.push({ name: `my pets/${klass}/${file.name}`, bytes: Buffer.from(file.bytes) });
    }
    // A phone's 50-megapixel photo (8,160 x 6,120, one colour: small once compressed) and a
    // decompression bomb: only a header saying 12,000 x 10,000.
    const photo = solidPng(8160, 6120, [200, 40, 40]);
    entries.push({ name: "my pets/red discs/phone photo.png", bytes: photo });
    entries.push({ name: "my pets/blue stripes/huge.png", bytes: pngHeaderOnly(12000, 10000) });
    const zip = zipOf(entries);
    await page.getByTestId("own-data").locator("summary").click();
    const started = Date.now();
    await page.getByTestId("pictures-zip").setInputFiles({ name: "my pets.zip", mimeType: "application/zip", buffer: zip });
    await page.waitForFunction(() => ["ready", "failed"].includes(document.querySelector('[data-testid="dataset-status"]')?.dataset.state), null, { timeout: 120_000 });
    const line = await status(page).innerText();
    assert.match(line, /^Loaded your pictures: 13 pictures in 3 classes \(blue stripes 4, green squares 4, red discs 5\)/, line);
    const alerts = await page.getByTestId("alerts").innerText();
    assert.ok(alerts.includes("blue stripes/huge.png is 12000 x 10000 pixels (120 megapixels); pictures up to 100 megapixels are read"), alerts);
    console.log(`a .zip of 13 pictures (one of 50 megapixels, ${Math.round(photo.length / 1000)} KB) and a 120-megapixel header: ready in ${Date.now() - started} ms`);
    assert.deepEqual(errorsIn(log), [], log.join("\n"));
    await page.close();
  });

  test("a folder of more than 200 pictures goes to the worker in parts and loads whole", async () => {
    const { page, log } = await openRecorded(browser, server.url + "?preset=demo");
    await page.getByTestId("backend-cpu").check();
    const root = await folder(page, "parts", { "red discs": 110, "blue stripes": 110 });
    await page.getByTestId("own-data").locator("summary").click();
    await page.getByTestId("pictures-folder").setInputFiles(root);
    await page.waitForFunction(() => ["ready", "failed"].includes(document.querySelector('[data-testid="dataset-status"]')?.dataset.state), null, { timeout: 120_000 });
    const line = await status(page).innerText();
    assert.match(line, /^Loaded your pictures: 220 pictures in 2 classes \(blue stripes 110, red discs 110\)/, line);
    // The worker answered the first part (200 files) before the page sent the second.
    assert.equal(await status(page).getAttribute("data-parts-read"), "1");
    assert.equal(await page.getByTestId("picture-sample").count(), 2);
    // Kept in this browser: after a reload (the page holds none of the folder) they load again.
    await page.reload();
    await page.getByTestId("backend-cpu").check();
    await page.getByTestId("own-data").locator("summary").click();
    await page.getByTestId("pictures-kept").click();
    await page.waitForFunction(() => ["ready", "failed"].includes(document.querySelector('[data-testid="dataset-status"]')?.dataset.state), null, { timeout: 60_000 });
    assert.match(await status(page).innerText(), /^Loaded your pictures \(your files\) \(real images\): 220 images in 2 classes/);
    assert.deepEqual(errorsIn(log), [], log.join("\n"));
    await page.close();
  });
});
