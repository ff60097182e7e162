// How long the page takes to redraw the embedding map, at 1,500 and 10,000 points (the canvas
// draw, measured in the page with performance.now() around it), and how long the worker took to
// embed and project them. Trains one small epoch on synthetic data to get a map of each size.
// Prints figures; passes or fails nothing. Needs `tripletlab prepare --from synthetic --out
// dist/public/data/map-shapes --shards 3 --images-per-shard 10000` and a built dist/.
import { serveDist } from "../support/server.mjs";
import { launch } from "../support/browser.mjs";
import { chooseLargestDataset, loadVerdict } from "../support/dataset.mjs";
import { waitForPhase } from "../support/studio.mjs";

const SIZES = [1_500, 10_000];
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
} finally {
  await browser.close();
  await server.close();
}
