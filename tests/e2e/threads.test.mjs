// Every core on the CPU: on a cross-origin isolated page (the host sends COOP and COEP) without
// WebGPU, the page replaces its usual single-threaded worker by the threaded CPU worker
// (crates/engine-threads: one memory shared by a rayon pool of Web Workers); on a page that is not
// isolated it keeps the usual worker and says why. Both compute the recipe's first step from the
// same weights and batch: burn flex's matrix products and our depthwise kernels split their work
// over the threads, and the loss they give must be the one-thread loss to 1e-4.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { DIST, serveDist } from "../support/server.mjs";
import { launch, openRecorded } from "../support/browser.mjs";
import { errorsIn, loadSynthetic, lossSummary, recipeSettings, waitForStep } from "../support/studio.mjs";

/** The first step's loss on one thread and on several: the same arithmetic, split differently. */
const FIRST_STEP_TOLERANCE = 1e-4;

let plain;
let isolated;
let browser;
before(async () => {
  plain = await serveDist(DIST);
  isolated = await serveDist(DIST, { isolated: true });
  browser = await launch({ webgpu: false });
});
after(async () => {
  await browser?.close();
  await plain?.close();
  await isolated?.close();
});

/**
 * Open `url`, wait until the page says how the CPU trains (`threads`: the count it must reach),
 * train the recipe's first step (200 synthetic images, width 1.0, batch 64) and stop. Returns the
 * first step's loss, its seconds, the page's lines about threads and the run, and what the page
 * logged and fetched.
 */
async function firstStep(url, threads) {
  const session = await openRecorded(browser, url);
  const { page } = session;
  await page.waitForFunction(
    (threads) => document.querySelector('[data-testid="cpu-threads"]')?.dataset.threads === String(threads),
    threads,
    { timeout: 60_000 },
  );
  // The adapter is known (none), so the page has chosen its worker for good.
  await page.waitForFunction(() => /No WebGPU adapter/.test(document.querySelector('[data-testid="adapter-line"]')?.innerText ?? ""));
  await loadSynthetic(page);
  await recipeSettings(page, { epochs: 1 });
  const started = Date.now();
  await page.getByRole("button", { name: "Start training" }).click();
  await waitForStep(page, 1, 300_000);
  const seconds = (Date.now() - started) / 1000;
  const { firstLoss } = await lossSummary(page);
  const result = {
    firstLoss,
    seconds,
    threadsLine: await page.getByTestId("cpu-threads").innerText(),
    threadsWhy: (await page.getByTestId("cpu-threads-why").count()) ? await page.getByTestId("cpu-threads-why").textContent() : "",
    runLine: await page.getByTestId("run-line").innerText(),
    cores: await page.evaluate(() => navigator.hardwareConcurrency),
    isolated: await page.evaluate(() => self.crossOriginIsolated),
    errors: errorsIn(session.log),
    log: session.log,
    requests: session.requests,
  };
  await page.getByRole("button", { name: "Stop" }).click();
  await page.close();
  return result;
}

describe("every core on the CPU", { timeout: 600_000 }, () => {
  test("an isolated page trains on a thread per core with the single-threaded worker's first step; a page that is not isolated says why it runs one", async (t) => {
    const one = await firstStep(plain.url, 1);
    assert.equal(one.isolated, false);
    assert.deepEqual(one.errors, [], one.log.join("\n"));
    assert.equal(one.threadsLine, "one thread");
    assert.match(one.threadsWhy, /one thread, because this page is not cross-origin isolated/);
    assert.match(one.runLine, /WebAssembly, one thread/);
    assert.ok(!one.requests.some((url) => url.includes("worker-threads")), "no threaded worker without isolation");
    if (one.cores < 2) {
      t.skip(`this browser reports ${one.cores} core: no threads to compare`);
      return;
    }

    const threads = Math.min(one.cores, 16);
    const many = await firstStep(isolated.url, threads);
    assert.equal(many.isolated, true);
    assert.deepEqual(many.errors, [], many.log.join("\n"));
    assert.equal(many.threadsLine, `${threads} threads`);
    assert.equal(many.threadsWhy, "", "nothing to explain");
    assert.match(many.runLine, new RegExp(`WebAssembly, ${threads} threads`));
    assert.ok(many.requests.some((url) => url.endsWith("/worker-threads_bg.wasm")), "the threaded worker's module was fetched");
    console.log(
      `first step (loss, seconds from Start): one thread ${one.firstLoss} in ${one.seconds.toFixed(1)} s, ` +
        `${threads} threads ${many.firstLoss} in ${many.seconds.toFixed(1)} s`,
    );
    assert.ok(
      Math.abs(one.firstLoss - many.firstLoss) <= FIRST_STEP_TOLERANCE,
      `first step: one thread ${one.firstLoss}, ${threads} threads ${many.firstLoss}`,
    );
  });

  // The threaded worker cannot start (its module's download breaks off): the page says so and
  // goes on with the usual worker, on one thread, and does not try threads again on this visit.
  test("a threaded worker that cannot start gives way to the single-threaded one, with the reason", async (t) => {
    isolated.faults.push({ path: "/worker-threads_bg.wasm", cut: 0 });
    const session = await openRecorded(browser, isolated.url);
    const { page } = session;
    if ((await page.evaluate(() => navigator.hardwareConcurrency)) < 2) {
      isolated.faults.length = 0;
      t.skip("one core: no threaded worker to fail");
      return;
    }
    await page.waitForFunction(() => /could not start/.test(document.body.innerText), null, { timeout: 60_000 });
    assert.match(await page.locator("body").innerText(), /The threaded CPU engine could not start \(.+\)\. The page goes on with its single-threaded engine/);
    await page.waitForFunction(() => document.querySelector('[data-testid="ping-result"]')?.dataset.state === "ok", null, { timeout: 60_000 });
    assert.equal(await page.getByTestId("cpu-threads").innerText(), "one thread");
    assert.match(await page.getByTestId("cpu-threads-why").textContent(), /one thread, because the threaded worker \(\d+ threads\) ended: The threaded CPU engine could not start/);
    const threadedStarts = session.requests.filter((url) => url.includes("worker-threads-boot.js"));
    assert.equal(threadedStarts.length, 1, "threads are not tried again on this visit");
    await page.close();
  });

  // A browser without WebGPU at all (no navigator.gpu: Firefox, older Safari) needs no worker to
  // look for an adapter: the isolated page starts the threaded worker at once, and the usual one
  // is never downloaded.
  test("without navigator.gpu an isolated page starts only the threaded worker", async (t) => {
    const session = await openRecorded(browser, isolated.url, {
      before: (page) => page.addInitScript(() => delete Navigator.prototype.gpu),
    });
    const { page } = session;
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    if (cores < 2) {
      t.skip(`this browser reports ${cores} core`);
      return;
    }
    await page.waitForFunction(() => /^\d+ threads$/.test(document.querySelector('[data-testid="cpu-threads"]')?.innerText ?? ""));
    await page.getByTestId("ping-button").click();
    await page.waitForFunction(() => document.querySelector('[data-testid="ping-result"]')?.dataset.state === "ok", null, { timeout: 60_000 });
    assert.match(await page.getByTestId("adapter-line").innerText(), /No WebGPU adapter/);
    assert.ok(await page.getByTestId("backend-webgpu").isDisabled(), "WebGPU cannot be chosen");
    assert.deepEqual(errorsIn(session.log), [], session.log.join("\n"));
    const usual = session.requests.filter((url) => /\/worker(-boot)?\.js$|\/worker_bg\.wasm$/.test(url));
    assert.deepEqual(usual, [], "the usual worker was not fetched");
    assert.ok(session.requests.some((url) => url.endsWith("/worker-threads_bg.wasm")));
    await page.close();
  });
});
