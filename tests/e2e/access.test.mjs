// Accessibility and layout, checked the way a classroom meets the page: axe-core (serious and
// critical violations) before, during and after a run; no horizontal scroll on a phone (390 px
// wide) or a projector (1280 x 720).
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { serveDist } from "../support/server.mjs";
import { launch, openRecorded } from "../support/browser.mjs";
import { loadSynthetic, tinySettings, waitForPhase, waitForStep } from "../support/studio.mjs";

const AXE = await readFile(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

let server;
let browser;
before(async () => {
  server = await serveDist();
  browser = await launch({ webgpu: false });
});
after(async () => {
  await browser?.close();
  await server?.close();
});

/**
 * axe-core's serious and critical violations on the page as it is now, as readable lines. The
 * script is evaluated through the DevTools protocol (the page's CSP refuses injected scripts).
 */
async function seriousViolations(page) {
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ["violations"] })).violations);
  return violations
    .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
    .map((violation) => `${violation.impact} ${violation.id}: ${violation.help} (${violation.nodes.map((node) => node.target.join(" ")).slice(0, 3).join(", ")})`);
}

/** How far the page scrolls sideways (0: it fits). */
const sideways = (page) => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);

describe("accessibility and layout", { timeout: 300_000 }, () => {
  test("axe finds no serious or critical violation before, during and after a run", async () => {
    const { page } = await openRecorded(browser, server.url);
    await page.getByTestId("backend-cpu").check();
    assert.deepEqual(await seriousViolations(page), [], "before a run");
    await loadSynthetic(page);
    await tinySettings(page, { images: 48, epochs: 1 });
    await page.getByRole("button", { name: "Start training" }).click();
    await waitForStep(page, 1);
    await page.getByRole("button", { name: "Pause" }).click();
    assert.equal(await waitForPhase(page, "paused"), "paused");
    assert.deepEqual(await seriousViolations(page), [], "during a run (paused)");
    await page.getByRole("button", { name: "Resume", exact: true }).click();
    assert.equal(await waitForPhase(page, ["finished", "failed"], 180_000), "finished");
    assert.deepEqual(await seriousViolations(page), [], "after a run");
    await page.close();
  });

  for (const [name, viewport] of [["a phone", { width: 390, height: 844 }], ["a projector", { width: 1280, height: 720 }]]) {
    test(`no horizontal scroll on ${name} (${viewport.width} x ${viewport.height})`, async () => {
      const { page } = await openRecorded(browser, server.url);
      await page.setViewportSize(viewport);
      await page.getByTestId("backend-cpu").check();
      assert.equal(await sideways(page), 0, "before a run");
      await loadSynthetic(page);
      await tinySettings(page, { images: 48, epochs: 1 });
      await page.getByRole("button", { name: "Start training" }).click();
      assert.equal(await waitForPhase(page, ["finished", "failed"], 180_000), "finished");
      assert.equal(await sideways(page), 0, "after a run, with its charts, map and gallery");
      await page.close();
    });
  }
});
