// Fault injection: what the network, the browser's storage, the worker or the GPU can do to a
// visitor, each ending in a clear message and a working page, with what was trained kept.
// Tiny configurations (synthetic data, width 0.35, 48 images, batch 4) keep each scenario short.
// The scenarios and their outcomes are tabled in docs/reliability.md.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { serveDist } from "../support/server.mjs";
import { launch, openRecorded } from "../support/browser.mjs";
import { chooseDataset, loadVerdict, shardRequests } from "../support/dataset.mjs";
import { errorsIn, globalStep, loadSynthetic, screenshot, setNumber, tinySettings, waitForPhase, waitForStep } from "../support/studio.mjs";

const WEIGHTS = "**/weights/mobilenetv2_1.0.f16.safetensors"; // the file public/weights/weights.json names

let server;
before(async () => {
  server = await serveDist();
});
after(async () => {
  await server?.close();
});

const open = (browser) => openRecorded(browser, server.url);

const alerts = (page) => page.getByTestId("alerts").innerText();

async function waitForAlert(page, pattern, timeout = 60_000) {
  await page.waitForFunction(
    (source) => new RegExp(source).test(document.querySelector('[data-testid="alerts"]')?.innerText ?? ""),
    pattern.source,
    { timeout },
  );
  return alerts(page);
}

/** The engine worker (started from worker-boot.js). */
function engineWorker(page) {
  const workers = page.workers().filter((worker) => worker.url().includes("worker-boot.js"));
  assert.equal(workers.length, 1, `one engine worker: ${page.workers().map((w) => w.url())}`);
  return workers[0];
}

/** The steps of an epoch, from the live view's run line. */
async function stepsPerEpoch(page) {
  const line = await page.getByTestId("run-line").innerText();
  const found = line.match(/(\d+) steps an epoch/);
  assert.ok(found, line);
  return Number(found[1]);
}

/** Start a tiny CPU run and wait until its first epoch is stored; returns the epoch's steps. */
async function trainPastFirstEpoch(page, epochs, timeout = 120_000) {
  await loadSynthetic(page);
  await tinySettings(page, { images: 48, epochs });
  await page.getByRole("button", { name: "Start training" }).click();
  await waitForStep(page, 1, timeout);
  const steps = await stepsPerEpoch(page);
  await waitForStep(page, steps + 1, timeout);
  return steps;
}

/**
 * After an engine ended: the dataset comes back by itself, the stored run is offered, and it
 * resumes on the CPU exactly where its checkpoint was, then finishes.
 */
async function resumeAfterEngineEnded(page, steps, epochs) {
  assert.equal(await waitForPhase(page, "failed"), "failed");
  const verdict = await loadVerdict(page);
  assert.equal(verdict.state, "ready", `the dataset is loaded again in the fresh engine: ${verdict.text}`);
  const saved = page.getByTestId("saved-run");
  await saved.waitFor({ timeout: 30_000 });
  const savedText = await saved.innerText();
  const found = savedText.match(new RegExp(`(\\d+) of ${epochs} epochs done, step (\\d+)\\b`));
  assert.ok(found, savedText);
  const step = Number(found[2]);
  assert.ok(step >= steps, `the checkpoint is at or after epoch 1's end: ${savedText}`);
  await page.getByTestId("backend-cpu").check();
  await page.getByRole("button", { name: "Resume saved run" }).click();
  assert.equal(await waitForPhase(page, ["running", "failed"]), "running", await page.getByTestId("phase").innerText());
  const resumed = await page.getByTestId("run-line").innerText();
  assert.match(resumed, new RegExp(`Resumed after ${Math.floor(step / steps)} epochs? and ${step % steps} steps?`), resumed);
  assert.equal(await waitForPhase(page, ["finished", "failed"], 240_000), "finished", await page.getByTestId("phase").innerText());
  assert.equal(await globalStep(page), epochs * steps);
}

describe("faults on the CPU", { timeout: 600_000 }, () => {
  let browser;
  before(async () => {
    browser = await launch({ webgpu: false });
  });
  after(async () => {
    await browser?.close();
  });

  test("a shard cut off mid-download is fetched again and loads", async () => {
    const { page, log } = await open(browser);
    server.requests.length = 0;
    server.faults.push({ path: "/data_batch_2.bin", cut: 0.5 });
    await chooseDataset(page, "synthetic-shapes");
    await page.getByTestId("dataset-load").click();
    const loaded = await loadVerdict(page);
    assert.equal(loaded.state, "ready", `${loaded.text}\n${log.join("\n")}`);
    const batch2 = shardRequests(server).filter((path) => path.endsWith("data_batch_2.bin"));
    assert.equal(batch2.length, 2, "the cut download was retried once");
    assert.equal(server.faults.length, 0);
    await page.close();
  });

  test("a server error is retried, then named; Retry loads once the server is back", async () => {
    const { page } = await open(browser);
    let answered = 0;
    await page.route("**/data_batch_1.bin", (route) => {
      answered += 1;
      return route.fulfill({ status: 500, body: "boom" });
    });
    await chooseDataset(page, "synthetic-shapes");
    await page.getByTestId("dataset-load").click();
    const failed = await loadVerdict(page);
    assert.equal(failed.state, "failed", failed.text);
    assert.match(failed.text, /data_batch_1\.bin answered HTTP 500/, failed.text);
    assert.equal(answered, 4, "the first attempt and three retries");
    await page.unroute("**/data_batch_1.bin");
    await page.getByTestId("dataset-retry").click();
    assert.equal((await loadVerdict(page)).state, "ready");
    await page.close();
  });

  test("truncated or oversized pretrained weights are refused; the next start works", async () => {
    const { page, log } = await open(browser);
    await page.getByTestId("backend-cpu").check();
    await loadSynthetic(page);
    await tinySettings(page, { images: 48, epochs: 1 });
    await page.getByLabel("Width").selectOption("1");
    await page.getByLabel("Start from").selectOption("1");

    let serve = "truncated";
    await page.route(WEIGHTS, async (route) => {
      const response = await route.fetch();
      const body = Buffer.from(await response.body());
      const damaged = serve === "truncated" ? body.subarray(0, body.length - 4096) : Buffer.concat([body, Buffer.alloc(4096)]);
      await route.fulfill({ status: 200, contentType: "application/octet-stream", body: damaged });
    });
    await page.getByRole("button", { name: "Start training" }).click();
    assert.equal(await waitForPhase(page, ["failed", "running"]), "failed");
    assert.match(await page.getByTestId("phase").innerText(), /pretrained weights arrived damaged \(their size or SHA-256 differs from weights\.json's\)/);

    serve = "oversized";
    await page.getByRole("button", { name: "Start training" }).click();
    assert.equal(await waitForPhase(page, ["failed", "running"]), "failed");
    assert.match(await page.getByTestId("phase").innerText(), /larger than the 4806184 bytes expected of it/);

    await page.unroute(WEIGHTS);

    // The site's weights.json decides what is fetched: one naming a file outside its folder is refused.
    await page.route("**/weights/weights.json", (route) =>
      route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify({ format: 1, file: "../index.html", bytes: 100, sha256: "0".repeat(64), description: "x" }) }),
    );
    await page.getByRole("button", { name: "Start training" }).click();
    assert.equal(await waitForPhase(page, ["failed", "running"]), "failed");
    assert.match(await page.getByTestId("phase").innerText(), /weights\.json is not a weights manifest: "\.\.\/index\.html" is not a plain file name/);
    await page.unroute("**/weights/weights.json");

    await page.getByRole("button", { name: "Start training" }).click();
    await waitForStep(page, 1);
    await page.getByRole("button", { name: "Stop" }).click();
    assert.equal(await waitForPhase(page, ["stopped", "failed"]), "stopped");
    assert.deepEqual(errorsIn(log), [], log.join("\n"));
    await page.close();
  });

  test("storage quota exceeded: data still loads, a refused checkpoint is said, the stored one is kept", async () => {
    const { page } = await open(browser);
    const origin = server.url.replace(/\/$/, "");
    const cdp = await page.context().newCDPSession(page);
    // A 1-byte quota: Chromium refuses every Cache API write of this origin.
    await cdp.send("Storage.overrideQuotaForOrigin", { origin, quotaSize: 1 });
    await page.getByTestId("backend-cpu").check();
    await loadSynthetic(page);
    assert.match(await waitForAlert(page, /did not keep data_batch_1\.bin for the next visit/), /downloaded again/);
    await page.getByRole("button", { name: "Dismiss" }).click();
    await cdp.send("Storage.overrideQuotaForOrigin", { origin });

    // The first epoch's checkpoint is stored; then IndexedDB refuses writes as a full disk does.
    // (Chromium's quota override does not reach IndexedDB, so the refusal is injected into the
    // worker: its object stores throw the QuotaExceededError a full origin gets.)
    await tinySettings(page, { images: 48, epochs: 3 });
    await page.getByRole("button", { name: "Start training" }).click();
    await waitForStep(page, 1);
    const steps = await stepsPerEpoch(page);
    await waitForStep(page, steps + 1);
    await engineWorker(page).evaluate(() => {
      IDBObjectStore.prototype.put = function () {
        throw new DOMException("The quota has been exceeded.", "QuotaExceededError");
      };
    });
    const refused = await waitForAlert(page, /refused to store the checkpoint of step/, 120_000);
    assert.match(refused, new RegExp(`checkpoint of step ${2 * steps} \\(The quota has been exceeded\\.\\)\\. The one stored before is kept`), refused);
    assert.equal(await waitForPhase(page, ["finished", "failed"], 240_000), "finished");
    assert.match(await page.getByTestId("notice").innerText(), /refused to store the checkpoint/);
    await screenshot(page, "fault-quota");

    // The checkpoint of epoch 1 is intact: a reload (a fresh worker) resumes from it.
    await page.reload();
    const saved = page.getByTestId("saved-run");
    await saved.waitFor({ timeout: 30_000 });
    assert.match(await saved.innerText(), new RegExp(`1 of 3 epochs done, step ${steps}\\b`));
    await page.getByTestId("backend-cpu").check();
    await page.getByRole("button", { name: "Resume saved run" }).click();
    assert.equal(await waitForPhase(page, ["running", "failed"]), "running");
    assert.match(await page.getByTestId("run-line").innerText(), /Resumed after 1 epoch and 0 steps/);
    await page.getByRole("button", { name: "Stop" }).click();
    assert.equal(await waitForPhase(page, ["stopped", "failed"]), "stopped");
    await page.close();
  });

  test("a worker terminated mid-epoch: the page says so, starts a fresh engine and resumes", async () => {
    const { page, log } = await open(browser);
    await page.getByTestId("backend-cpu").check();
    const steps = await trainPastFirstEpoch(page, 2);
    // Ends the worker as the browser would, without a word from it.
    await engineWorker(page).evaluate(() => setTimeout(() => self.close(), 0));
    const said = await waitForAlert(page, /engine worker stopped without a word/);
    assert.match(said, /A fresh engine has started/);
    assert.match(await page.getByTestId("phase").innerText(), /last stored checkpoint is kept/);
    await screenshot(page, "fault-worker-ended");
    await resumeAfterEngineEnded(page, steps, 2);
    assert.equal(page.workers().filter((w) => w.url().includes("worker-boot.js")).length, 1, "one engine, not two");
    assert.deepEqual(errorsIn(log), [], log.join("\n"));
    await page.close();
  });

  test("the Content-Security-Policy refuses injected scripts; names are shown as text", async () => {
    const { page, requests } = await open(browser);
    const violation = await page.evaluate(
      () =>
        new Promise((resolve) => {
          document.addEventListener("securitypolicyviolation", (event) => resolve(event.effectiveDirective), { once: true });
          const script = document.createElement("script");
          script.textContent = "window.__injected = true";
          document.body.append(script);
        }),
    );
    assert.equal(violation, "script-src-elem");
    assert.equal(await page.evaluate(() => window.__injected), undefined, "the inline script did not run");
    const handler = await page.evaluate(
      () =>
        new Promise((resolve) => {
          document.addEventListener("securitypolicyviolation", (event) => resolve(event.effectiveDirective), { once: true });
          const div = document.createElement("div");
          div.innerHTML = '<img src="data:," onerror="window.__handler = true">';
          document.body.append(div);
        }),
    );
    assert.equal(handler, "script-src-attr");
    assert.equal(await page.evaluate(() => window.__handler), undefined, "the inline handler did not run");

    // A file name full of markup comes back in the refusal as text, never as elements.
    const name = '<img src="data:," onerror="window.__named = true">.safetensors';
    await page.getByLabel("Import checkpoint").setInputFiles({ name, mimeType: "application/octet-stream", buffer: Buffer.from("not a checkpoint") });
    await page.waitForFunction(() => /Choose a/.test(document.querySelector('[data-testid="notice"]')?.innerText ?? ""), null, { timeout: 30_000 });
    const refusal = await page.getByTestId("notice").innerText();
    assert.ok(refusal.includes('<img src="data:,"'), refusal);
    assert.equal(await page.locator('[data-testid="notice"] img').count(), 0);
    assert.equal(await page.evaluate(() => window.__named), undefined);
    const foreign = requests.filter((url) => /^https?:/.test(url) && !url.startsWith(server.url));
    assert.deepEqual(foreign, []);
    await page.close();
  });
});

describe("faults on WebGPU (SwiftShader)", { timeout: 600_000 }, () => {
  let browser;
  before(async () => {
    browser = await launch({ webgpu: true });
  });
  after(async () => {
    await browser?.close();
  });

  test("a lost GPU device mid-step: the page says so and the run resumes on the CPU", async () => {
    const { page, log } = await open(browser);
    // The page checks WebGPU first (SwiftShader compiles its shaders): let it finish.
    await page.waitForFunction(() => document.querySelector('[data-testid="ping-result"]')?.innerText.startsWith("WebGPU"), null, { timeout: 180_000 });
    // An epoch on the CPU stores a checkpoint; the run goes on on WebGPU from there.
    await page.getByTestId("backend-cpu").check();
    const steps = await trainPastFirstEpoch(page, 2, 240_000);
    await page.getByRole("button", { name: "Stop" }).click();
    assert.equal(await waitForPhase(page, ["stopped", "failed"]), "stopped");
    const stoppedAt = await globalStep(page);
    await page.getByTestId("backend-webgpu").check();
    await page.getByRole("button", { name: "Resume saved run" }).click();
    assert.equal(await waitForPhase(page, ["running", "failed"], 240_000), "running", log.join("\n"));
    assert.match(await page.getByTestId("run-line").innerText(), /on WebGPU/);
    await waitForStep(page, stoppedAt + 1, 240_000);
    // The browser's own API, as a driver reset would: every device of the worker is destroyed.
    const destroyed = await engineWorker(page).evaluate(() => {
      for (const device of self.tripletlabGpuDevices) device.destroy();
      return self.tripletlabGpuDevices.length;
    });
    assert.ok(destroyed >= 1);
    const said = await waitForAlert(page, /The GPU device was lost \(destroyed\)/);
    assert.match(said, /A fresh engine has started/);
    await screenshot(page, "fault-device-lost");
    // The fresh engine probes WebGPU again; this run goes on on the CPU.
    await page.waitForFunction(() => !document.querySelector('[data-testid="backend-webgpu"]')?.disabled, null, { timeout: 60_000 });
    await resumeAfterEngineEnded(page, steps, 2);
    assert.deepEqual(errorsIn(log).filter((line) => !/device|GPU|wgpu/i.test(line)), [], log.join("\n"));
    await page.close();
  });
});
