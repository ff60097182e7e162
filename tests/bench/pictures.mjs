// Your own pictures, imported: a folder of N mixed JPEG and PNG pictures of varied sizes (phone
// photos of 12 megapixels down to 640 x 480, painted in headless Chromium and kept in
// target/bench/pictures-N/ for the next run) chosen in the page; prints the seconds from the
// choice to a ready dataset, and the browser's peak resident memory (every Chromium process,
// sampled every 100 ms) over its resting memory before the choice. Passes or fails nothing.
// Usage: node bench/pictures.mjs [--pictures N] [--small] (needs a built dist/; `cargo xtask bench
// pictures [--pictures N] [--small]`).
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { resolve } from "node:path";

import { serveDist } from "../support/server.mjs";
import { launch } from "../support/browser.mjs";

const at = process.argv.indexOf("--pictures");
const COUNT = at > 0 ? Number(process.argv[at + 1]) : 1_000;
// `--small`: only pictures of at most 1024 x 768 (quick to paint: for the 10,000-picture run,
// which measures that memory stays flat as the folder grows, not the decoding of large photos).
const SMALL = process.argv.includes("--small");
const CLASSES = 5;
// Sizes (width x height) and formats, in turn: phone photos are JPEG, screenshots PNG.
const KINDS = [
  { width: 4032, height: 3024, type: "image/jpeg", ext: "jpg" },
  { width: 1920, height: 1080, type: "image/jpeg", ext: "jpg" },
  { width: 1280, height: 960, type: "image/png", ext: "png" },
  { width: 640, height: 480, type: "image/jpeg", ext: "jpg" },
  { width: 800, height: 800, type: "image/png", ext: "png" },
  { width: 3024, height: 4032, type: "image/jpeg", ext: "jpg" },
  { width: 1024, height: 768, type: "image/jpeg", ext: "jpg" },
];
const kinds = SMALL ? KINDS.filter((kind) => kind.width * kind.height <= 1024 * 768) : KINDS;
const folder = resolve(`../target/bench/pictures-${COUNT}${SMALL ? "-small" : ""}`);

const server = await serveDist();
const browser = await launch({ webgpu: false });

/** Resident memory of every Chromium process, bytes. */
function chromiumRss() {
  const out = execFileSync("ps", ["-C", "chromium,chrome,headless_shell,chrome-headless-shell", "-o", "rss="], { encoding: "utf8" }).trim();
  return out ? out.split(/\s+/).reduce((sum, kb) => sum + Number(kb) * 1024, 0) : 0;
}

try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  await page.goto(`${server.url}?preset=demo&backend=cpu`);
  if (!existsSync(resolve(folder, "done"))) {
    for (let klass = 0; klass < CLASSES; klass += 1) await mkdir(resolve(folder, `class ${klass + 1}`), { recursive: true });
    for (let n = 0; n < COUNT; n += 1) {
      const kind = kinds[n % kinds.length];
      const klass = n % CLASSES;
      const bytes = await page.evaluate(async ([kind, klass, n]) => {
        const canvas = new OffscreenCanvas(kind.width, kind.height);
        const c = canvas.getContext("2d");
        const sky = c.createLinearGradient(0, 0, kind.width, kind.height);
        sky.addColorStop(0, `hsl(${klass * 72}, 60%, ${30 + (n % 7) * 5}%)`);
        sky.addColorStop(1, `hsl(${klass * 72 + 40}, 50%, 70%)`);
        c.fillStyle = sky;
        c.fillRect(0, 0, kind.width, kind.height);
        for (let s = 0; s < 30; s += 1) {
          c.fillStyle = `hsla(${(klass * 72 + s * 13) % 360}, 70%, 50%, 0.6)`;
          const r = ((s * 37 + n * 11) % 100) / 100;
          c.beginPath();
          c.arc(kind.width * r, kind.height * ((s * 53) % 100) / 100, Math.min(kind.width, kind.height) * (0.02 + r / 10), 0, Math.PI * 2);
          c.fill();
        }
        const blob = await canvas.convertToBlob({ type: kind.type, quality: 0.85 });
        // As base64 (a data: URL): a list of numbers would cost more than the picture.
        return await new Promise((done) => {
          const reader = new FileReader();
          reader.onload = () => done(String(reader.result).split(",")[1]);
          reader.readAsDataURL(blob);
        });
      }, [kind, klass, n]);
      await writeFile(resolve(folder, `class ${klass + 1}`, `${String(n).padStart(5, "0")}.${kind.ext}`), Buffer.from(bytes, "base64"));
    }
    await writeFile(resolve(folder, "done"), "");
  }
  const files = (await Promise.all([...Array(CLASSES).keys()].map((k) => readdir(resolve(folder, `class ${k + 1}`))))).flat();
  const rest = chromiumRss();
  let peak = rest;
  const sampler = setInterval(() => { peak = Math.max(peak, chromiumRss()); }, 100);
  await page.getByTestId("own-data").locator("summary").click();
  const started = Date.now();
  await page.getByTestId("pictures-folder").setInputFiles(folder);
  await page.waitForFunction(() => ["ready", "failed"].includes(document.querySelector('[data-testid="dataset-status"]')?.dataset.state), null, { timeout: 1_800_000 });
  const seconds = (Date.now() - started) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, chromiumRss());
  const line = await page.getByTestId("dataset-status").innerText();
  const cpu = execFileSync("sh", ["-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], { encoding: "utf8" }).trim();
  console.log(line);
  console.log(JSON.stringify({
    pictures: files.length,
    megabytes: Math.round(Number(execFileSync("du", ["-sb", folder], { encoding: "utf8" }).split(/\s/)[0]) / 1e6),
    state: await page.getByTestId("dataset-status").getAttribute("data-state"),
    seconds: Number(seconds.toFixed(1)),
    picturesPerSecond: Number((files.length / seconds).toFixed(1)),
    restingRssMB: Math.round(rest / 1e6),
    peakRssMB: Math.round(peak / 1e6),
    cpu,
  }));
  await page.close();
} finally {
  await browser.close();
  await server.close();
}
