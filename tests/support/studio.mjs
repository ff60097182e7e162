// Page helpers for the training studio.
import { mkdir } from "node:fs/promises";
import { resolve } from "node:path";

import { chooseDataset, loadVerdict } from "./dataset.mjs";

/** Screenshots are CI artefacts under the repository's target/ (never committed). */
export const SHOTS = resolve(import.meta.dirname, "..", "..", "target", "screenshots");

export async function screenshot(page, name) {
  await mkdir(SHOTS, { recursive: true });
  const path = resolve(SHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** What the viewport shows now (not the whole page): a first screen. */
export async function viewportShot(page, name) {
  await mkdir(SHOTS, { recursive: true });
  const path = resolve(SHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  return path;
}

/** Record main-thread long tasks (PerformanceObserver) from the first script on. */
export async function watchLongTasks(page) {
  await page.addInitScript(() => {
    window.__longTasks = [];
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) window.__longTasks.push({ start: entry.startTime, duration: entry.duration });
    }).observe({ type: "longtask", buffered: true });
  });
}

/** Long tasks that started after `since` (performance.now() milliseconds). */
export const longTasksSince = (page, since) =>
  page.evaluate((since) => window.__longTasks.filter((task) => task.start >= since), since);

export const now = (page) => page.evaluate(() => performance.now());

/** Load the served synthetic dataset. */
export async function loadSynthetic(page) {
  await chooseDataset(page, "synthetic-shapes");
  await page.getByTestId("dataset-load").click();
  const verdict = await loadVerdict(page);
  if (verdict.state !== "ready") throw new Error(`dataset did not load: ${verdict.text}`);
}

/** Open "All settings" (closed on a first visit: the path shows only the recipe buttons). */
export async function allSettings(page) {
  const details = page.getByTestId("all-settings");
  if (!(await details.evaluate((el) => el.open))) await details.locator("summary").click();
}

/** Fill a numeric setting by its label, committing it as a visitor would (change on blur). */
export async function setNumber(page, label, value) {
  await allSettings(page);
  const input = page.getByLabel(label, { exact: true });
  await input.fill(String(value));
  await input.blur();
}

/** The quick demo preset, shrunk to `images` images, `batch` triplets a step and `epochs` epochs. */
export async function tinySettings(page, { images, heldOut = 25, batch = 4, epochs = 2 }) {
  await page.locator('button[data-preset="quick"]').click();
  await allSettings(page);
  await setNumber(page, "Images", images);
  await setNumber(page, "Held out (%)", heldOut);
  await setNumber(page, "Batch size", batch);
  await setNumber(page, "Epochs", epochs);
  await setNumber(page, "Patience", epochs);
}

/**
 * The recipe's run as the CLI trains it for the comparisons (`xtask/src/data.rs`,
 * `cli_recipe_run`): the first 200 synthetic images, batches of 64, width 1.0 from the pretrained
 * encoder, learning rate 1e-4, BatchNorm momentum 0.999, `epochs` epochs.
 */
export async function recipeSettings(page, { epochs }) {
  await tinySettings(page, { images: 200, batch: 64, epochs });
  await page.getByLabel("Width").selectOption("1");
  await page.getByLabel("Start from").selectOption("1");
  await setNumber(page, "Learning rate", 1e-4);
  await setNumber(page, "BatchNorm momentum", 0.999);
}

export const phase = (page) => page.getByTestId("phase").getAttribute("data-phase");

export async function waitForPhase(page, wanted, timeout = 120_000) {
  await page.waitForFunction(
    (wanted) => wanted.includes(document.querySelector('[data-testid="phase"]')?.dataset.phase),
    Array.isArray(wanted) ? wanted : [wanted],
    { timeout },
  );
  return phase(page);
}

/** Total steps so far, from the live view. */
export async function globalStep(page) {
  const text = await page.getByTestId("stat-global-step").innerText();
  return Number(text);
}

export async function waitForStep(page, atLeast, timeout = 120_000) {
  await page.waitForFunction(
    (atLeast) => Number(document.querySelector('[data-testid="stat-global-step"]')?.innerText) >= atLeast,
    atLeast,
    { timeout },
  );
}

/**
 * The loss chart's summary: { steps, firstLoss, lastSmoothed, epochs, epochLosses: [{ loss, val }] }.
 */
export async function lossSummary(page) {
  const text = await page.locator('[data-testid="loss-chart"] svg').getAttribute("data-summary");
  const [steps, firstLoss, lastSmoothed, epochs, perEpoch = ""] = text.split(" ");
  const epochLosses = perEpoch
    .split(",")
    .filter(Boolean)
    .map((pair) => pair.split("/").map(Number))
    .map(([loss, val]) => ({ loss, val }));
  return { steps: Number(steps), firstLoss: Number(firstLoss), lastSmoothed: Number(lastSmoothed), epochs: Number(epochs), epochLosses };
}

/** Wait for an evaluation after `epochs` epochs; returns the AUC line. */
export async function waitForEvaluation(page, epochs, timeout = 180_000) {
  await page.waitForFunction(
    (epochs) => new RegExp(`after ${epochs} epochs? `).test(document.querySelector('[data-testid="auc"]')?.innerText ?? ""),
    epochs,
    { timeout },
  );
  return page.getByTestId("auc").innerText();
}

/**
 * Wait for an evaluation at global step `step` (whichever epoch that is); returns
 * { line, epochs }, the AUC line and the epochs it says were done.
 */
export async function waitForEvaluationAt(page, step, timeout = 180_000) {
  await page.waitForFunction(
    (step) => new RegExp(`after \\d+ epochs? \\(step ${step}\\)`).test(document.querySelector('[data-testid="auc"]')?.innerText ?? ""),
    step,
    { timeout },
  );
  const line = await page.getByTestId("auc").innerText();
  return { line, epochs: Number(/after (\d+) epochs? /.exec(line)[1]) };
}

/** Console errors and page errors, from openPage's log. */
export const errorsIn = (log) => log.filter((line) => line.startsWith("[error]") || line.startsWith("[pageerror]"));
