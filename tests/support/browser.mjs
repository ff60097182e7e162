// Debian's Chromium, headless, cut off from the closed network: without the background-networking flags it keeps trying to reach hosts it cannot.
import { chromium } from "playwright-core";

const QUIET = [
  "--no-sandbox",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
];

/**
 * Launch Chromium. With `webgpu`, Chromium offers its SwiftShader WebGPU adapter; without it,
 * `navigator.gpu.requestAdapter()` returns null, as on a machine without WebGPU.
 */
export async function launch({ webgpu, extraArgs = [] }) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    // TRIPLETLAB_CHROMIUM_ARGS: more flags, space-separated (tools/gpu-check.sh: a real GPU's
    // Vulkan adapter instead of SwiftShader).
    args: [...QUIET, ...(webgpu ? ["--enable-unsafe-webgpu"] : []), ...extraArgs, ...(process.env.TRIPLETLAB_CHROMIUM_ARGS?.split(" ").filter(Boolean) ?? [])],
  });
}

/** A new page that keeps its console and errors (the worker's included) for failure messages. */
export async function openPage(browser, url) {
  const page = await browser.newPage();
  const log = [];
  page.on("console", (msg) => log.push(`[${msg.type()}] ${msg.text()}`));
  page.on("pageerror", (err) => log.push(`[pageerror] ${err.message}`));
  page.on("worker", (worker) => log.push(`[worker started] ${worker.url()}`));
  await page.goto(url);
  await mounted(page);
  return { page, log };
}

/**
 * A page (1400 x 1000, or `viewport`) that records its console, errors (the worker's included)
 * and every request (`METHOD url`), opened at `url`. Resolves to { page, log, requests }.
 */
export async function openRecorded(browser, url, { before, viewport = { width: 1400, height: 1000 } } = {}) {
  const page = await browser.newPage({ viewport });
  const log = [];
  const requests = [];
  page.on("console", (msg) => log.push(`[${msg.type()}] ${msg.text()}`));
  page.on("pageerror", (err) => log.push(`[pageerror] ${err.message}`));
  page.on("request", (request) => requests.push(request.url()));
  if (before) await before(page);
  await page.goto(url);
  await mounted(page);
  return { page, log, requests };
}

/**
 * Resolves once the app has mounted: `goto` waits for the document's load event, which can come
 * before the page's wasm has run and drawn anything (a count taken then is 0).
 */
async function mounted(page) {
  await page.locator("main.layout").waitFor({ timeout: 30_000 });
}
