// Soak: train in the page for a long time (synthetic data, small model) and sample memory
// throughout: the engine's WebAssembly memory (from its step events), the page's JavaScript heap
// (DevTools protocol) and the browser's renderer processes' resident memory; with `--webgpu`, on
// WebGPU (SwiftShader here) and the GPU process's resident memory too, where the GPU's buffers
// live. It must be flat after the first epoch. Run by `cargo xtask test --long` (CPU) and
// `cargo xtask soak page [--webgpu]`; the minutes come from TRIPLETLAB_SOAK_MINUTES (default 30).
// Writes target/soak/page.json (page-webgpu.json) and prints a summary.
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { resolve } from "node:path";

import { serveDist } from "../support/server.mjs";
import { launch } from "../support/browser.mjs";
import { chooseLargestDataset, loadVerdict } from "../support/dataset.mjs";
import { tinySettings, waitForStep } from "../support/studio.mjs";
import { flatness } from "./flatness.mjs";

const minutes = Number(process.env.TRIPLETLAB_SOAK_MINUTES ?? 30);
const webgpu = process.argv.includes("--webgpu");
const SAMPLE_MS = 15_000;
const OUT = resolve(import.meta.dirname, "..", "..", "target", "soak");

/** A switch Chromium ignores, to find this soak's browser among the machine's processes. */
const MARKER = `--tripletlab-soak=${process.pid}`;

/**
 * Resident memory (bytes) of this soak's Chromium renderer processes (the page and its worker):
 * the descendants of the browser process launched with MARKER, other browsers left out.
 */
async function processRss(type = "renderer") {
  const processes = [];
  for (const pid of await readdir("/proc").catch(() => [])) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8");
      const status = await readFile(`/proc/${pid}/status`, "utf8");
      const parent = Number(status.match(/PPid:\s+(\d+)/)?.[1] ?? 0);
      const rss = Number(status.match(/VmRSS:\s+(\d+) kB/)?.[1] ?? 0) * 1024;
      processes.push({ pid: Number(pid), parent, cmdline, rss });
    } catch {
      // The process ended between the listing and the read.
    }
  }
  const root = processes.find((p) => p.cmdline.includes(MARKER) && !p.cmdline.includes("--type="));
  if (!root) return 0;
  const ours = new Set([root.pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of processes) {
      if (!ours.has(p.pid) && ours.has(p.parent)) {
        ours.add(p.pid);
        grew = true;
      }
    }
  }
  return processes.filter((p) => ours.has(p.pid) && p.cmdline.includes(`--type=${type}`)).reduce((sum, p) => sum + p.rss, 0);
}

const server = await serveDist();
const browser = await launch({ webgpu, extraArgs: [MARKER] });
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(err.message));
  page.on("console", (msg) => msg.type() === "error" && errors.push(msg.text()));
  await page.goto(server.url);
  const cdp = await page.context().newCDPSession(page);
  if (webgpu) {
    await page.waitForFunction(() => document.querySelector('[data-testid="backend-webgpu"]')?.disabled === false, null, { timeout: 60_000 });
    await page.getByTestId("backend-webgpu").check();
    // SwiftShader runs WebGPU on the CPU (seconds a step): the tests' small set, 64 images and
    // steps of 4, so an epoch is a handful of steps and a soak of minutes holds many epochs.
    await page.getByTestId("dataset-load").click();
  } else {
    await page.getByTestId("backend-cpu").check();
    // The largest served dataset (`cargo xtask soak page` prepares 5,000 synthetic images), so an
    // epoch is long enough that early stopping (patience at most 100 epochs) cannot end the soak.
    await chooseLargestDataset(page);
    await page.getByTestId("dataset-load").click();
  }
  const verdict = await loadVerdict(page);
  if (verdict.state !== "ready") throw new Error(`dataset did not load: ${verdict.text}`);
  console.log(`soak page: ${verdict.text}${webgpu ? ", on WebGPU" : ""}`);
  // Width 0.35 from random weights, as many epochs as fit; all images in steps of 16 on the CPU.
  if (webgpu) await tinySettings(page, { images: 64, heldOut: 20, batch: 4, epochs: 1000 });
  else await tinySettings(page, { images: 0, heldOut: 20, batch: 16, epochs: 1000 });
  await page.getByRole("button", { name: "Start training" }).click();
  // WebGPU's first step compiles its kernels (minutes on SwiftShader).
  await waitForStep(page, 1, webgpu ? 600_000 : 120_000);
  const stepsPerEpoch = Number((await page.getByTestId("run-line").innerText()).match(/(\d+) steps an epoch/)[1]);

  const samples = [];
  const started = Date.now();
  const sample = async () => {
    const step = Number(await page.getByTestId("stat-global-step").innerText());
    const wasm = Number(await page.getByTestId("stat-memory").getAttribute("data-bytes"));
    const { usedSize } = await cdp.send("Runtime.getHeapUsage");
    const row = {
      seconds: Math.round((Date.now() - started) / 1000),
      step,
      epoch: step / stepsPerEpoch,
      wasmBytes: wasm,
      pageHeapBytes: usedSize,
      rendererRssBytes: await processRss("renderer"),
      gpuRssBytes: webgpu ? await processRss("gpu-process") : 0,
    };
    samples.push(row);
    console.log(
      `soak page: ${row.seconds} s, step ${step} (epoch ${row.epoch.toFixed(1)}), wasm ${(wasm / 1e6).toFixed(1)} MB, ` +
        `page heap ${(usedSize / 1e6).toFixed(1)} MB, renderers ${(row.rendererRssBytes / 1e6).toFixed(0)} MB` +
        (webgpu ? `, GPU process ${(row.gpuRssBytes / 1e6).toFixed(0)} MB` : ""),
    );
  };
  while (Date.now() - started < minutes * 60_000) {
    await sample();
    await page.waitForTimeout(SAMPLE_MS);
  }
  await sample();
  const phase = await page.getByTestId("phase").getAttribute("data-phase");
  const report = {
    minutes,
    stepsPerEpoch,
    phase,
    errors,
    wasm: flatness(samples, "wasmBytes"),
    pageHeap: flatness(samples, "pageHeapBytes"),
    rendererRss: flatness(samples, "rendererRssBytes"),
    ...(webgpu ? { gpuRss: flatness(samples, "gpuRssBytes") } : {}),
    samples,
  };
  await mkdir(OUT, { recursive: true });
  await writeFile(resolve(OUT, webgpu ? "page-webgpu.json" : "page.json"), JSON.stringify(report, null, 1));
  const { samples: _, ...summary } = report;
  console.log(`soak page summary: ${JSON.stringify(summary)}`);
  const failures = [];
  if (phase !== "running") failures.push(`the run is ${phase}, not running`);
  if (errors.length) failures.push(`errors: ${errors.join("; ")}`);
  for (const name of ["wasm", "pageHeap", "rendererRss", ...(webgpu ? ["gpuRss"] : [])]) if (!report[name].flat) failures.push(`${name} grew: ${JSON.stringify(report[name])}`);
  if (failures.length) {
    console.error(`soak page FAILED: ${failures.join("\n")}`);
    process.exitCode = 1;
  }
} finally {
  await browser.close();
  await server.close();
}
