// Explore-and-teach figures, in headless Chromium on the CPU backend:
// - how long the page takes to redraw the embedding map at 1,500 and 10,000 points (the canvas
//   draw, timed in the page with performance.now()), and how long the worker took to embed and
//   project them (one small epoch on synthetic data gives a map of each size);
// - fast mode's seconds per epoch (a head on frozen ImageNet features) after its one-off embedding.
// Prints figures; passes or fails nothing. Needs a built dist/ and `tripletlab prepare --from
// synthetic --out dist/public/data/map-shapes --shards 3 --images-per-shard 10000`.
import { serveDist } from "../support/server.mjs";
import { launch } from "../support/browser.mjs";
import { chooseLargestDataset, loadVerdict } from "../support/dataset.mjs";
import { waitForPhase } from "../support/studio.mjs";

const SIZES = [1_500, 10_000];
const FAST_IMAGES = 6_000;
const FAST_EPOCHS = 3;
const server = await serveDist();
const browser = await launch({ webgpu: false });
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
try {
  for (const points of SIZES) {
    const images = points === 10_000 ? 30_000 : 6_000;
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(`${server.url}?preset=quick&images=${images}&held_out=50&batch=64&epochs=1&map=${points}&backend=cpu`);
    await chooseLargestDataset(page);
    await page.getByTestId("dataset-load").click();
    await loadVerdict(page, 300_000);
    await page.getByRole("button", { name: "Start training" }).click();
    await waitForPhase(page, ["finished", "failed"], 1_800_000);
    const map = page.getByTestId("map");
    await map.waitFor();
    await map.focus();
    const draws = [];
    for (let at = 0; at < 15; at += 1) {
      await page.keyboard.press("ArrowRight");
      await page.waitForTimeout(50);
      draws.push(Number(await map.getAttribute("data-draw-ms")));
    }
    const shown = Number(await map.getAttribute("data-points"));
    const compute = Number(await map.getAttribute("data-compute-ms"));
    console.log(JSON.stringify({ points: shown, redrawMsMedian: median(draws), redrawMsMax: Math.max(...draws), embedAndProjectMs: compute }));
    await page.close();
  }

  // Fast mode: width 1.0 ImageNet encoder frozen, 6,000 images, steps of 64, three epochs.
  const page = await browser.newPage();
  await page.goto(`${server.url}?preset=quick&fast=1&width=1&pretrained=1&images=${FAST_IMAGES}&held_out=20&batch=64&epochs=${FAST_EPOCHS}&lr=0.001&backend=cpu`);
  await chooseLargestDataset(page);
  await page.getByTestId("dataset-load").click();
  await loadVerdict(page, 300_000);
  const clicked = Date.now();
  await page.getByRole("button", { name: "Start training" }).click();
  const epochEnds = [];
  let seen = 0;
  while (seen < FAST_EPOCHS) {
    await page.waitForTimeout(100);
    const summary = await page.locator('[data-testid="loss-chart"] svg').getAttribute("data-summary").catch(() => null);
    const epochs = Number(summary?.split(" ")[3] ?? 0);
    if (epochs > seen) {
      seen = epochs;
      epochEnds.push(Date.now());
    }
    if ((await page.getByTestId("phase").getAttribute("data-phase")) === "failed") throw new Error(await page.getByTestId("phase").innerText());
  }
  const line = await page.getByTestId("run-line").innerText();
  const embedded = Number(line.match(/embedded in ([\d.]+) s/)?.[1]);
  const perEpoch = epochEnds.slice(1).map((end, at) => (end - epochEnds[at]) / 1000);
  console.log(JSON.stringify({ fastMode: { images: FAST_IMAGES, embedSeconds: embedded, firstEpochEndSeconds: (epochEnds[0] - clicked) / 1000, secondsPerEpoch: perEpoch, run: line } }));
  await page.close();
} finally {
  await browser.close();
  await server.close();
}
