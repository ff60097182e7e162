// Page figures for the training studio (a benchmark: prints numbers, asserts nothing).
//   node tests/bench/studio-speed.mjs [--steps N] [--backend cpu|webgpu|both] [--width 1|0.35] [--batch 64] [--root DIR] [--isolated]
// Serves dist/ (build it first: trunk build --release, plus a prepared dataset), or DIR (a site
// from `cargo xtask site`), then for each
// backend: time from navigation to the first training step (second visit: dataset shards and
// weights in the browser's cache), triplets/s over the steps after the first, and the bytes the
// first visit transferred by kind. --isolated: served with COOP and COEP, so the CPU trains on the
// threaded worker (a thread per core); the threads it used are printed.
import { resolve } from "node:path";
import { parseArgs } from "node:util";

import { serveDist } from "../support/server.mjs";
import { launch } from "../support/browser.mjs";
import { loadSynthetic, setNumber, waitForStep } from "../support/studio.mjs";

const { values } = parseArgs({
  options: {
    steps: { type: "string", default: "5" },
    backend: { type: "string", default: "both" },
    width: { type: "string", default: "1" },
    batch: { type: "string", default: "64" },
    root: { type: "string" },
    isolated: { type: "boolean", default: false },
  },
});
const steps = Number(values.steps);
const backends = values.backend === "both" ? ["cpu", "webgpu"] : [values.backend];

const server = await serveDist(values.root ? resolve(values.root) : undefined, { isolated: values.isolated });
const kind = (url) => {
  if (url.endsWith(".wasm")) return "wasm";
  if (url.endsWith(".js")) return "js";
  if (url.endsWith(".safetensors")) return "weights";
  if (url.endsWith(".bin") || url.endsWith(".json")) return "data";
  return "other";
};

for (const backend of backends) {
  const browser = await launch({ webgpu: backend === "webgpu" });
  const context = await browser.newContext();
  const page = await context.newPage();
  const bytes = {};
  page.on("response", async (response) => {
    try {
      const body = await response.body();
      const k = kind(response.url());
      bytes[k] = (bytes[k] ?? 0) + body.length;
    } catch {
      // Redirects and aborted responses have no body.
    }
  });

  async function visit() {
    const started = Date.now();
    await page.goto(server.url);
    if (backend === "webgpu") {
      // The page may not have drawn the choice yet (a second visit starts from a blank document).
      await page.waitForFunction(() => document.querySelector('[data-testid="backend-webgpu"]')?.disabled === false, null, { timeout: 60_000 });
      await page.getByTestId("backend-webgpu").check();
    } else {
      await page.getByTestId("backend-cpu").check();
      // An isolated page moves to its threaded worker once it knows there is no WebGPU.
      // Isolated: the threaded worker's count (2 or more), or the run measures the wrong worker.
      const threads = values.isolated ? "([2-9]|1[0-6])" : "1";
      await page.waitForFunction(
        (threads) => new RegExp(`^${threads}$`).test(document.querySelector('[data-testid="cpu-threads"]')?.dataset.threads ?? "") &&
          /No WebGPU adapter|WebGPU adapter:/.test(document.querySelector('[data-testid="adapter-line"]')?.innerText ?? ""),
        threads,
        { timeout: 60_000 },
      );
    }
    await loadSynthetic(page);
    await page.getByRole("button", { name: values.width === "1" ? "Reproduce the tutorial" : "Quick demo" }).click();
    // Two images make a triplet: enough for the warm-up step and the measured ones in one epoch.
    await setNumber(page, "Images", 2 * Number(values.batch) * (2 * steps + 4));
    await setNumber(page, "Batch size", values.batch);
    await page.getByRole("button", { name: "Start training" }).click();
    await waitForStep(page, 1, 600_000);
    return Date.now() - started;
  }

  const cold = await visit();
  const transferred = { ...bytes };
  await waitForStep(page, steps + 1, 1_800_000);
  const speeds = await page.evaluate(() => document.querySelector('[data-testid="stat-speed"]').innerText);
  // Median triplets/s over the steps after the first, read from the live view once per step.
  const samples = [];
  for (let at = 0; at < steps; at++) {
    const before = Number(await page.getByTestId("stat-global-step").innerText());
    await waitForStep(page, before + 1, 600_000);
    samples.push(Number(await page.getByTestId("stat-speed").innerText()));
  }
  samples.sort((a, b) => a - b);
  // WebGPU only: the kernels the last step dispatched (CubeCL's launch observer in the worker).
  const dispatches = await page.getByTestId("stat-dispatches").count()
    ? Number(await page.getByTestId("stat-dispatches").innerText())
    : null;
  await page.getByRole("button", { name: "Stop" }).click();
  const warm = await visit();
  await page.getByRole("button", { name: "Stop" }).click();
  console.log(JSON.stringify({
    backend,
    adapter: await page.getByTestId("adapter-line").innerText(),
    cpu_threads: Number(await page.getByTestId("cpu-threads").getAttribute("data-threads")),
    isolated: values.isolated,
    cores: await page.evaluate(() => navigator.hardwareConcurrency),
    width: Number(values.width),
    batch: Number(values.batch),
    first_step_ms_first_visit: cold,
    first_step_ms_second_visit: warm,
    triplets_per_second: { median: samples[Math.floor(samples.length / 2)], min: samples[0], max: samples.at(-1), last_shown: Number(speeds) },
    first_visit_bytes: transferred,
    dispatches_per_step: dispatches,
  }));
  await browser.close();
}
await server.close();
