// The worker loads served dataset shards with progress, verifies them, caches them in the
// browser (a reload downloads nothing), and reports a missing or corrupt shard with a retry.
import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";

import { serveDist } from "../support/server.mjs";
import { launch, openPage } from "../support/browser.mjs";
import { chooseDataset, loadVerdict, shardRequests } from "../support/dataset.mjs";

// `cargo xtask test` prepares 2 synthetic shards of 200 images into dist/.
const SYNTHETIC = "synthetic-shapes";
const SHARDS = 2;
const IMAGES = 400;

let server;
let browser;
before(async () => {
  server = await serveDist();
  browser = await launch({ webgpu: false });
});
after(async () => {
  await browser?.close();
  await server?.close();
});
beforeEach(() => {
  server.requests.length = 0;
});

describe("served datasets", { timeout: 240_000 }, () => {
  test("load with progress, then come from the browser cache after a reload", async () => {
    const { page, log } = await openPage(browser, server.url);
    // Slow the shards down so the progress display can be seen.
    await page.route("**/*.bin", async (route) => {
      await new Promise((done) => setTimeout(done, 400));
      await route.continue();
    });
    await chooseDataset(page, SYNTHETIC);
    await page.getByTestId("dataset-load").click();
    await page.getByTestId("dataset-progress").waitFor({ timeout: 10_000 });
    // While the (slowed) shards arrive, the page shows shards and bytes.
    await page.waitForFunction(
      () => /^\d of 2 shards, [\d.]+ MB of 1\.2 MB/.test(document.querySelector('[data-testid="dataset-status"]')?.innerText ?? ""),
      null,
      { timeout: 10_000 },
    );
    const during = await page.getByTestId("dataset-status").innerText();
    assert.match(during, /reading data_batch_[12]\.bin/, during);

    const first = await loadVerdict(page);
    assert.equal(first.state, "ready", `${first.text}\n${log.join("\n")}`);
    assert.match(first.text, new RegExp(`^Loaded ${SYNTHETIC} \\(SYNTHETIC shapes, not CIFAR-10\\): ${IMAGES} images in 10 classes from ${SHARDS} shards \\(0 from the browser cache`), first.text);
    assert.equal(shardRequests(server).length, SHARDS);

    await page.unroute("**/*.bin");
    server.requests.length = 0;
    await page.reload();
    await chooseDataset(page, SYNTHETIC);
    await page.getByTestId("dataset-load").click();
    const second = await loadVerdict(page);
    assert.equal(second.state, "ready", second.text);
    assert.match(second.text, new RegExp(`from ${SHARDS} shards \\(${SHARDS} from the browser cache, 0.0 MB downloaded\\)`), second.text);
    assert.deepEqual(shardRequests(server), [], "a reload must not download shards again");
  });

  test("a shard that 404s is named, and Retry loads it once it is back", async () => {
    const { page } = await openPage(browser, server.url);
    await page.route("**/data_batch_2.bin", (route) => route.fulfill({ status: 404, body: "gone" }));
    await chooseDataset(page, SYNTHETIC);
    await page.getByTestId("dataset-load").click();
    const failed = await loadVerdict(page);
    assert.equal(failed.state, "failed", failed.text);
    assert.match(failed.text, /data_batch_2\.bin answered HTTP 404/, failed.text);

    await page.unroute("**/data_batch_2.bin");
    await page.getByTestId("dataset-retry").click();
    const retried = await loadVerdict(page);
    assert.equal(retried.state, "ready", retried.text);
  });

  test("a corrupt shard fails its SHA-256 check instead of being used", async () => {
    const { page } = await openPage(browser, server.url);
    await page.route("**/data_batch_1.bin", async (route) => {
      const response = await route.fetch();
      const body = Buffer.from(await response.body());
      body[1000] ^= 0xff;
      await route.fulfill({ response, body });
    });
    await chooseDataset(page, SYNTHETIC);
    await page.getByTestId("dataset-load").click();
    const failed = await loadVerdict(page);
    assert.equal(failed.state, "failed", failed.text);
    assert.match(failed.text, /^data_batch_1\.bin has SHA-256 [0-9a-f]{64}, but the manifest says [0-9a-f]{64}: the download is corrupt/, failed.text);
  });
});

describe("the visitor's own files", { timeout: 120_000 }, () => {
  const fixture = new URL("../../crates/core/tests/fixtures/cifar10-foolbox/", import.meta.url).pathname;

  test("a dropped cifar-10-binary.tar.gz is read in the worker", async () => {
    const { page, log } = await openPage(browser, server.url);
    await page.getByTestId("dataset-files").setInputFiles(`${fixture}cifar-10-binary.tar.gz`);
    const loaded = await loadVerdict(page);
    assert.equal(loaded.state, "ready", `${loaded.text}\n${log.join("\n")}`);
    assert.match(loaded.text, /^Loaded cifar-10 \(your files\) \(real images\): 20 images in 8 classes from 1 shards/, loaded.text);
    assert.deepEqual(shardRequests(server), []);
  });

  test("a truncated batch file is named in the error", async () => {
    const { page } = await openPage(browser, server.url);
    const { readFile } = await import("node:fs/promises");
    const batch = await readFile(`${fixture}test_batch.bin`);
    await page.getByTestId("dataset-files").setInputFiles([
      { name: "test_batch.bin", mimeType: "application/octet-stream", buffer: batch.subarray(0, batch.length - 10) },
      { name: "batches.meta.txt", mimeType: "text/plain", buffer: await readFile(`${fixture}batches.meta.txt`) },
    ]);
    const failed = await loadVerdict(page);
    assert.equal(failed.state, "failed", failed.text);
    assert.match(failed.text, /^test_batch\.bin is 61450 bytes: not a whole number of 3,073-byte records/, failed.text);
  });
});
