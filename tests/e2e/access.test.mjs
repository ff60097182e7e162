// Accessibility and layout, checked the way a classroom meets the page: axe-core (serious and
// critical violations) before, during and after a run, light and dark; a run started and stopped
// with the keyboard alone; no horizontal scroll on a phone (390 px wide) or a projector
// (1280 x 720).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { serveDist } from "../support/server.mjs";
import { launch, openRecorded } from "../support/browser.mjs";
import { globalStep, loadSynthetic, tinySettings, waitForPhase, waitForStep } from "../support/studio.mjs";
import { loadVerdict } from "../support/dataset.mjs";
import { seriousViolations } from "../support/axe.mjs";

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

/** How far the page scrolls sideways (0: it fits). */
const sideways = (page) => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);

describe("accessibility and layout", { timeout: 300_000 }, () => {
  test("axe finds no serious or critical violation before, during and after a run", async () => {
    const { page } = await openRecorded(browser, server.url);
    await page.getByTestId("backend-cpu").check();
    assert.deepEqual(await seriousViolations(page), [], "before a run");
    // The check can fail: an image without a text alternative, planted for a moment, is found.
    await page.evaluate(() => document.querySelector("main").insertAdjacentHTML("beforeend", '<img id="planted" src="data:,">'));
    const planted = await seriousViolations(page);
    assert.ok(planted.some((line) => line.startsWith("critical image-alt") && line.includes("#planted")), planted.join("\n"));
    await page.evaluate(() => document.getElementById("planted").remove());
    await loadSynthetic(page);
    // Ten epochs: long enough (seconds) that the Pause below lands before the run ends, even on
    // a loaded machine (with one epoch the CPU run could finish between step 1 and the click).
    await tinySettings(page, { images: 48, epochs: 10 });
    await page.getByRole("button", { name: "Start training" }).click();
    await waitForStep(page, 1);
    await page.getByRole("button", { name: "Pause" }).click();
    assert.equal(await waitForPhase(page, "paused"), "paused");
    assert.deepEqual(await seriousViolations(page), [], "during a run (paused)");
    await page.getByRole("button", { name: "Resume", exact: true }).click();
    assert.equal(await waitForPhase(page, ["finished", "failed"], 180_000), "finished");
    assert.deepEqual(await seriousViolations(page), [], "after a run");
    // The dark scheme (prefers-color-scheme) meets the same bar.
    await page.emulateMedia({ colorScheme: "dark" });
    assert.equal(await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor), "rgb(15, 20, 32)", "dark");
    assert.deepEqual(await seriousViolations(page), [], "after a run, dark");
    await page.close();
  });

  // A visitor without a mouse: every control on the way to a run is reached with Tab, shows where
  // the focus is, and works with Enter, Space or typing.
  test("a run started and stopped with the keyboard alone", async () => {
    const { page } = await openRecorded(browser, server.url);
    await page.getByTestId("backend-cpu").waitFor();
    await page.getByTestId("dataset-select").waitFor({ timeout: 60_000 });
    const tabTo = async (what, matches) => {
      for (let presses = 0; presses < 300; presses += 1) {
        await page.keyboard.press("Tab");
        const found = await page.evaluate(matches);
        if (found) {
          // The focus ring, compared focused against unfocused: a resting box-shadow is no ring.
          const looks = await page.evaluate(() => {
            const element = document.activeElement;
            const look = () => {
              const style = getComputedStyle(element);
              return style.outlineStyle === "none" ? `shadow ${style.boxShadow}` : `outline ${style.outlineStyle} ${style.outlineWidth} ${style.outlineColor}; shadow ${style.boxShadow}`;
            };
            const focused = look();
            element.blur();
            const resting = look();
            element.focus();
            return { focused, resting, back: document.activeElement === element };
          });
          assert.ok(looks.back, `${what} has the focus again`);
          assert.notEqual(looks.focused, looks.resting, `${what} shows that it has the focus (focused and resting look the same: ${looks.focused})`);
          return;
        }
      }
      throw new Error(`${what} cannot be reached with Tab`);
    };
    const byTestId = (id) => new Function(`return document.activeElement?.dataset?.testid === ${JSON.stringify(id)}`);
    const byText = (text) => new Function(`return document.activeElement?.textContent?.trim() === ${JSON.stringify(text)}`);
    const byLabel = (label) =>
      new Function(`const el = document.activeElement; return !!el?.labels && [...el.labels].some((l) => l.textContent.trim() === ${JSON.stringify(label)});`);

    await tabTo("the CPU backend", byTestId("backend-cpu"));
    await page.keyboard.press("Space");
    assert.ok(await page.getByTestId("backend-cpu").isChecked());
    await tabTo("the dataset list", byTestId("dataset-select"));
    const wanted = await page.getByTestId("dataset-select").evaluate((el) => [...el.options].findIndex((o) => o.textContent.startsWith("synthetic-shapes")));
    const current = await page.getByTestId("dataset-select").evaluate((el) => el.selectedIndex);
    for (let at = current; at < wanted; at += 1) await page.keyboard.press("ArrowDown");
    for (let at = current; at > wanted; at -= 1) await page.keyboard.press("ArrowUp");
    await tabTo("Load", byTestId("dataset-load"));
    await page.keyboard.press("Enter");
    assert.equal((await loadVerdict(page)).state, "ready");
    await tabTo("From scratch (small)", byText("From scratch (small)"));
    await page.keyboard.press("Enter");
    await tabTo("All settings", byText("All settings"));
    await page.keyboard.press("Enter");
    for (const [label, value] of [["Images", "48"], ["Epochs", "30"], ["Patience", "30"]]) {
      await tabTo(label, byLabel(label));
      await page.keyboard.press("Control+A");
      await page.keyboard.type(value);
    }
    await tabTo("Start training", byText("Start training"));
    assert.equal(await page.getByLabel("Images", { exact: true }).inputValue(), "48", "typed, committed when the focus left");
    await page.keyboard.press("Enter");
    await waitForStep(page, 1);
    await tabTo("Stop", byText("Stop"));
    await page.keyboard.press("Enter");
    assert.equal(await waitForPhase(page, ["stopped", "finished"]), "stopped");
    assert.ok((await globalStep(page)) >= 1);
    // The typed settings were the run's: 48 images make at most 24 triplets.
    const [, train, heldOut] = (await page.getByTestId("run-line").innerText()).match(/(\d+) training and (\d+) held-out triplets/);
    assert.ok(Number(train) + Number(heldOut) <= 24, `${train} + ${heldOut} triplets from 48 images`);
    await page.close();
  });

  // An educator on a projector: what it does and the way to a run, in the first screen.
  test("the first screen at 1280 x 720 shows the four steps and Start, the rest one click away", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    await page.goto(server.url);
    await page.locator("main.layout").waitFor();
    const steps = await page.locator("h3 .step").evaluateAll((spans) => spans.map((span) => span.parentElement.textContent.trim()));
    assert.deepEqual(steps, ["1Compute backend", "2Dataset", "3Choose a recipe", "4Run"]);
    // Measured once the backend check has its verdict (the card's full height).
    await page.waitForFunction(() => document.querySelector('[data-testid="ping-result"]')?.dataset.state === "ok", null, { timeout: 60_000 });
    for (const target of [page.getByTestId("try-button"), page.getByRole("button", { name: "Reproduce the tutorial" }), page.getByRole("button", { name: "Start training" })]) {
      const box = await target.boundingBox();
      assert.ok(box && box.y + box.height <= 720, `${await target.innerText()} is in the first screen (${JSON.stringify(box)})`);
    }
    assert.equal(await page.getByTestId("all-settings").evaluate((el) => el.open), false, "every setting is one click away");
    // What Start will run, in one line: the class demo (pressed), then the tutorial's recipe (docs/recipe.md).
    const summary = page.getByTestId("settings-summary");
    const pressed = () => page.locator("button.preset[aria-pressed=true]").allInnerTexts();
    assert.deepEqual(await pressed(), ["Try it (1 minute)"]);
    assert.equal(
      await summary.innerText(),
      "MobileNetV2 width 1.0 from pretrained weights, 1000 images (20% held out), batch 32, 5 epochs, triplet loss with margin 0.4 (cosine), learning rate 0.001, fast mode (a head on frozen features).",
    );
    await page.getByRole("button", { name: "Reproduce the tutorial" }).click();
    assert.deepEqual(await pressed(), ["Reproduce the tutorial"]);
    assert.equal(
      await summary.innerText(),
      "MobileNetV2 width 1.0 from pretrained weights, all images (5% held out), batch 64, 50 epochs, triplet loss with margin 0.4 (cosine), learning rate 0.0001.",
    );
    await page.getByText("All settings").click();
    assert.equal(await page.getByLabel("Images", { exact: true }).isVisible(), true);
    await page.close();
  });

  for (const [name, viewport] of [["a phone", { width: 390, height: 844 }], ["a projector", { width: 1280, height: 720 }]]) {
    test(`no horizontal scroll on ${name} (${viewport.width} x ${viewport.height})`, async () => {
      const { page } = await openRecorded(browser, server.url);
      await page.setViewportSize(viewport);
      await page.getByTestId("backend-cpu").check();
      assert.equal(await sideways(page), 0, "before a run");
      await loadSynthetic(page);
      // Ten epochs: long enough (seconds) that the Pause below lands before the run ends, even on
    // a loaded machine (with one epoch the CPU run could finish between step 1 and the click).
    await tinySettings(page, { images: 48, epochs: 10 });
      await page.getByRole("button", { name: "Start training" }).click();
      assert.equal(await waitForPhase(page, ["finished", "failed"], 180_000), "finished");
      assert.equal(await sideways(page), 0, "after a run, with its charts, map and gallery");
      await page.close();
    });
  }
});
