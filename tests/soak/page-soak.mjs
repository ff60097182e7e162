// Soak: train in the page on the CPU backend for a long time (synthetic data, small model) and
// sample memory throughout: the engine's WebAssembly memory (from its step events), the page's
// JavaScript heap (DevTools protocol) and the browser's renderer processes' resident memory.
// It must be flat after the first epoch. Run by `cargo xtask test --long`; the minutes come from
// TRIPLETLAB_SOAK_MINUTES (default 30). Writes target/soak/page.json and prints a summary.
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { resolve } from "node:path";

import { serveDist } from "../support/server.mjs";
import { launch } from "../support/browser.mjs";
import { chooseLargestDataset, loadVerdict } from "../support/dataset.mjs";
import { tinySettings, waitForStep } from "../support/studio.mjs";
import { flatness } from "./flatness.mjs";

const minutes = Number(process.env.TRIPLETLAB_SOAK_MINUTES ?? 30);
const SAMPLE_MS = 15_000;
const OUT = resolve(import.meta.dirname, "..", "..", "target", "soak");

/** A switch Chromium ignores, to find this soak's browser among the machine's processes. */
const MARKER = `--tripletlab-soak=${process.pid}`;

/**
 * Resident memory (bytes) of this soak's Chromium renderer processes (the page and its worker):
 * the descendants of the browser process launched with MARKER, other browsers left out.
 */
async function rendererRss() {
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
  return processes.filter((p) => ours.has(p.pid) && p.cmdline.includes("--type=renderer")).reduce((sum, p) => sum + p.rss, 0);
}

const server = await serveDist();
const browser = await launch({ webgpu: false, extraArgs: [MARKER] });
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(err.message));
  page.on("console", (msg) => msg.type() === "error" && errors.push(msg.text()));
  await page.goto(server.url);
  const cdp = await page.context().newCDPSession(page);
  await page.getByTestId("backend-cpu").check();
  // The largest served dataset (`cargo xtask soak page` prepares 5,000 synthetic images), so an
  // epoch is long enough that early stopping (patience at most 100 epochs) cannot end the soak.
  await chooseLargestDataset(page);
  await page.getByTestId("dataset-load").click();
  const verdict = await loadVerdict(page);
  if (verdict.state !== "ready") throw new Error(`dataset did not load: ${verdict.text}`);
  console.log(`soak page: ${verdict.text}`);
  // All its images, width 0.35 from random weights, steps of 16, as many epochs as fit.
  await tinySettings(page, { images: 0, heldOut: 20, batch: 16, epochs: 1000 });
  await page.getByRole("button", { name: "Start training" }).click();
  await waitForStep(page, 1);
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
      rendererRssBytes: await rendererRss(),
    };
    samples.push(row);
    console.log(
      `soak page: ${row.seconds} s, step ${step} (epoch ${row.epoch.toFixed(1)}), wasm ${(wasm / 1e6).toFixed(1)} MB, ` +
        `page heap ${(usedSize / 1e6).toFixed(1)} MB, renderers ${(row.rendererRssBytes / 1e6).toFixed(0)} MB`,
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
    samples,
  };
  await mkdir(OUT, { recursive: true });
  await writeFile(resolve(OUT, "page.json"), JSON.stringify(report, null, 1));
  console.log(`soak page summary: ${JSON.stringify({ phase, errors, wasm: report.wasm, pageHeap: report.pageHeap, rendererRss: report.rendererRss })}`);
  const failures = [];
  if (phase !== "running") failures.push(`the run is ${phase}, not running`);
  if (errors.length) failures.push(`errors: ${errors.join("; ")}`);
  for (const name of ["wasm", "pageHeap", "rendererRss"]) if (!report[name].flat) failures.push(`${name} grew: ${JSON.stringify(report[name])}`);
  if (failures.length) {
    console.error(`soak page FAILED: ${failures.join("\n")}`);
    process.exitCode = 1;
  }
} finally {
  await browser.close();
  await server.close();
}
