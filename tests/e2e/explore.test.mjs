// Explore and teach: lessons as links (values set, controls hidden), the embedding map after an
// epoch (drawn, navigable, with retrieval metrics), and 1:N search with a map image and with a
// picture of the visitor's own, dropped onto the page (decoded and resized in the worker).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { serveDist } from "../support/server.mjs";
import { launch, openRecorded } from "../support/browser.mjs";
import { loadVerdict } from "../support/dataset.mjs";
import { seriousViolations } from "../support/axe.mjs";
import { errorsIn, loadSynthetic, lossSummary, screenshot, tinySettings, waitForPhase } from "../support/studio.mjs";

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

const open = (path = "") => openRecorded(browser, server.url + path);

const value = (page, id) => page.locator(`#${id}`).evaluate((el) => el.value);

describe("lessons as links", { timeout: 240_000 }, () => {
  test("a link sets the values, hides the controls it names, and makes its own link", async () => {
    const query = "?preset=quick&margin=0.15&batch=8&distance=euclidean&hide=settings,checkpoints,recipe&title=Margins&intro=Watch+the+gap";
    const { page, log } = await open(query);
    const banner = page.getByTestId("lesson");
    await banner.waitFor();
    assert.match(await banner.innerText(), /^Margins\n+Watch the gap/);
    for (const hidden of ["settings-card", "checkpoint-row", "recipe-card"]) {
      assert.equal(await page.getByTestId(hidden).isHidden(), true, `${hidden} is hidden`);
    }
    assert.equal(await page.getByTestId("dataset-card").isVisible(), true);
    assert.equal(await value(page, "setting-margin"), "0.15");
    assert.equal(await value(page, "setting-batch-size"), "8");
    assert.equal(await value(page, "setting-distance"), "euclidean");
    assert.equal(await value(page, "setting-learning-rate"), "0.003", "the rest is the quick demo's");

    await page.getByRole("button", { name: "Link to these settings" }).click();
    const link = await page.getByTestId("lesson-link").inputValue();
    assert.ok(link.startsWith(server.url + "?"), link);
    for (const part of ["margin=0.15", "batch=8", "distance=euclidean", "hide=settings,checkpoints,recipe", "title=Margins"]) {
      assert.ok(link.includes(part), `${part} in ${link}`);
    }
    // The link opens the same lesson.
    const again = await open(link.slice(server.url.length));
    await again.page.getByTestId("lesson").waitFor();
    assert.equal(await value(again.page, "setting-margin"), "0.15");
    assert.equal(await again.page.getByTestId("settings-card").isHidden(), true);
    await again.page.close();

    await page.getByRole("button", { name: "Show all controls" }).click();
    assert.equal(await page.getByTestId("settings-card").isVisible(), true);
    assert.deepEqual(errorsIn(log), [], log.join("\n"));
    await page.close();
  });

  test("ready lessons are linked; a bad value is named and ignored; a hidden dataset loads itself", async () => {
    const { page } = await open();
    const lessons = page.getByTestId("ready-lessons").locator("a");
    assert.equal(await lessons.count(), 5);
    await page.getByRole("link", { name: "Cosine vs euclidean" }).click();
    await page.getByTestId("lesson").waitFor();
    assert.match(await page.getByTestId("lesson").innerText(), /^Cosine vs euclidean/);
    // The lesson trains cosine first, then the same with euclidean distance, and compares them.
    assert.equal(await value(page, "setting-distance"), "cosine");
    assert.match(await page.getByTestId("lesson-compare").innerText(), /then the same with distance = euclidean\.$/);
    await page.close();

    const bad = await open("?margin=abc&hide=dataset&title=Ready+data");
    assert.match(await bad.page.getByTestId("lesson-problems").innerText(), /margin=abc is not a number/);
    assert.equal(await value(bad.page, "setting-margin"), "0.4", "the preset's margin stays");
    assert.equal(await bad.page.getByTestId("dataset-card").isHidden(), true);
    const verdict = await loadVerdict(bad.page);
    assert.equal(verdict.state, "ready", `the lesson's dataset loaded itself: ${verdict.text}`);
    await bad.page.close();
  });
});

describe("online mining", { timeout: 240_000 }, () => {
  test("a batch-hard lesson mines P x K batches and shows the counts a batch must have", async () => {
    // P = 5 classes x K = 4 images: n = 20, n (K - 1) (n - K) = 960 valid triplets, one per anchor mined.
    const { page, log } = await open("?preset=quick&mining=batch-hard&p=5&k=4&images=96&held_out=40&batch=8&epochs=1");
    assert.equal(await value(page, "setting-triplets"), "batch-hard");
    assert.equal(await value(page, "setting-classes-per-batch--p-"), "5");
    assert.equal(await value(page, "setting-images-per-class--k-"), "4");
    await page.getByTestId("backend-cpu").check();
    await loadSynthetic(page);
    await page.getByRole("button", { name: "Start training" }).click();
    const mined = page.getByTestId("stat-mined");
    await mined.waitFor({ timeout: 60_000 });
    assert.match(await mined.innerText(), /^20 of 960 valid \(\d+ active\)$/);
    assert.equal(await waitForPhase(page, ["finished", "failed"], 120_000), "finished", await page.getByTestId("phase").innerText());

    // The heat map: the last mined batch's 20 x 20 distances, 5 same-class blocks of 4.
    const map = page.getByTestId("heat-map");
    assert.equal(await map.getAttribute("data-images"), "20");
    assert.equal(await page.getByTestId("heat-block").count(), 5);
    const cells = await page.getByTestId("heat-cell").evaluateAll((all) =>
      all.map((g) => ({
        row: Number(g.dataset.row),
        col: Number(g.dataset.col),
        d: Number(g.dataset.distance),
        kind: g.dataset.hardness,
        fill: g.querySelector("rect").getAttribute("fill"),
      })),
    );
    assert.equal(cells.length, 400);
    const at = (row, col) => cells[row * 20 + col];
    const margin = 0.4;
    for (const cell of cells) {
      const sameBlock = Math.floor(cell.row / 4) === Math.floor(cell.col / 4);
      if (cell.row === cell.col) {
        assert.equal(cell.kind, "itself");
        assert.equal(cell.fill, "#440154", "distance 0 is the ramp's darkest colour");
        continue;
      }
      if (sameBlock) {
        assert.equal(cell.kind, "same class", JSON.stringify(cell));
        continue;
      }
      // Hard, semi-hard or easy against the row's farthest positive, worked out here from the
      // distances the page shows (rounded to 1e-6).
      const ap = Math.max(...[0, 1, 2, 3].map((k) => Math.floor(cell.row / 4) * 4 + k).filter((p) => p !== cell.row).map((p) => at(cell.row, p).d));
      const expected = cell.d < ap - 1e-5 ? "hard" : cell.d < ap + margin - 1e-5 ? "semi-hard" : cell.d >= ap + margin + 1e-5 ? "easy" : cell.kind;
      assert.equal(cell.kind, expected, `cell ${cell.row},${cell.col}: d ${cell.d}, farthest positive ${ap}`);
    }
    const tally = (kind) => cells.filter((c) => c.kind === kind).length;
    const counts = await page.getByTestId("heat-counts").innerText();
    assert.ok(
      counts.startsWith(`Of the 320 other-class cells, ${tally("hard")} are hard, ${tally("semi-hard")} semi-hard and ${tally("easy")} easy (margin 0.4).`),
      counts,
    );
    // A click on an other-class cell holds the batch and shows its triplet: the row's anchor, its
    // farthest positive and the clicked negative, with their distances.
    const negative = cells.find((c) => Math.floor(c.row / 4) !== Math.floor(c.col / 4) && c.row === 6);
    await page.locator(`[data-testid="heat-cell"][data-row="${negative.row}"][data-col="${negative.col}"]`).click();
    const triplet = page.getByTestId("mined-triplet");
    await triplet.waitFor();
    assert.equal(await triplet.locator("img").count(), 3);
    const farthest = Math.max(...[4, 5, 7].map((p) => at(6, p).d));
    assert.ok(Math.abs(Number(await triplet.getAttribute("data-an")) - negative.d) < 1e-6);
    assert.ok(Math.abs(Number(await triplet.getAttribute("data-ap")) - farthest) < 1e-6);
    assert.equal(await triplet.getAttribute("data-hardness"), negative.kind);
    const line = await page.getByTestId("mined-triplet-line").innerText();
    assert.ok(line.includes(`d(a,n) = ${negative.d.toFixed(3)}`) && line.includes(`d(a,p) = ${farthest.toFixed(3)}`), line);
    assert.equal(await page.getByTestId("margin-band").locator("circle").count(), 19, "the anchor's 19 other pictures");
    // The keyboard's way: the lists choose anchor 1's first positive (picture 2), whose triplet
    // pairs it with anchor 1's nearest negative.
    await page.getByTestId("heat-anchor").selectOption("0");
    await page.getByTestId("heat-other").selectOption("1");
    assert.ok(Math.abs(Number(await triplet.getAttribute("data-ap")) - at(0, 1).d) < 1e-6);
    const nearest = Math.min(...cells.filter((c) => c.row === 0 && c.col >= 4).map((c) => c.d));
    assert.ok(Math.abs(Number(await triplet.getAttribute("data-an")) - nearest) < 1e-6);
    assert.deepEqual(await seriousViolations(page), [], "axe, with the heat map and a held triplet");
    await page.getByTestId("heat-follow").click();
    assert.equal(await triplet.count(), 0, "following training again drops the held triplet");
    const spread = await page.getByTestId("spread-chart").locator("path.spread").getAttribute("d");
    assert.ok(spread.split("L").length >= 2, "the batches' mean distance, step by step");
    console.log(`mining heat map: ${counts}`);
    await screenshot(page, "mining-heat-map");
    assert.deepEqual(errorsIn(log), [], log.join("\n"));
    await page.close();
  });
});

describe("fast mode", { timeout: 240_000 }, () => {
  test("a head on frozen pretrained features finishes its epochs in seconds on the CPU", async () => {
    const { page, log } = await open("?preset=quick&fast=1&width=1&pretrained=1&images=200&held_out=25&batch=16&epochs=2&lr=0.001");
    assert.equal(await value(page, "setting-train"), "1");
    await page.getByTestId("backend-cpu").check();
    await loadSynthetic(page);
    await page.getByRole("button", { name: "Start training" }).click();
    assert.equal(await waitForPhase(page, ["finished", "failed"], 180_000), "finished", await page.getByTestId("phase").innerText());
    const line = await page.getByTestId("run-line").innerText();
    assert.match(line, /fast mode: a 1280 -> 128 head on frozen features of \d+ images, embedded in [\d.]+ s/, line);
    const { epochLosses } = await lossSummary(page);
    assert.equal(epochLosses.length, 2);
    assert.ok(epochLosses[1].loss < epochLosses[0].loss, `the head's loss falls: ${JSON.stringify(epochLosses)}`);
    assert.match(await page.getByTestId("auc").innerText(), /^AUC (0|1)\.\d{3} after 2 epochs/);
    assert.equal(await page.getByTestId("notice").innerText(), "Finished. Fast mode stores no checkpoint: it is quick to run again.");
    assert.deepEqual(errorsIn(log), [], log.join("\n"));
    await page.close();
  });
});

describe("the contrastive loss", { timeout: 240_000 }, () => {
  test("a lesson link chooses it, the form shows it, and the triplet anatomy explains its two pair costs", async () => {
    const { page, log } = await open("?preset=quick&fast=1&width=1&pretrained=1&loss=contrastive&images=200&held_out=25&batch=16&epochs=1&lr=0.001");
    assert.equal(await value(page, "setting-loss"), "contrastive");
    assert.match(await page.getByTestId("settings-summary").innerText(), /contrastive loss with margin 0\.4/);
    await page.getByTestId("backend-cpu").check();
    await loadSynthetic(page);
    await page.getByRole("button", { name: "Start training" }).click();
    assert.equal(await waitForPhase(page, ["finished", "failed"], 180_000), "finished", await page.getByTestId("phase").innerText());
    await page.getByTestId("anatomy").waitFor();
    const cells = await page.getByTestId("anatomy-table").locator("tbody tr td").allInnerTexts();
    // Before training (epoch 0), then the one epoch: a row each.
    assert.equal(cells.length, 10, `before training and one epoch, a row each: ${cells}`);
    assert.equal(Number(cells[0]), 0, `the first row is before training: ${cells}`);
    const [epoch, ap, an, margin, loss] = cells.slice(5).map(Number);
    assert.equal(epoch, 1);
    assert.equal(margin, 0.4);
    // Hadsell et al.'s two pair costs: d(a,p)^2 / 2 + max(margin - d(a,n), 0)^2 / 2.
    const expected = (ap * ap) / 2 + Math.max(margin - an, 0) ** 2 / 2;
    assert.ok(Math.abs(loss - expected) <= 0.0015, `${cells} vs ${expected}`);
    assert.match(await page.getByTestId("anatomy-verdict").innerText(), /^Contrastive loss: the two pairs are judged apart\./);
    assert.deepEqual(errorsIn(log), [], log.join("\n"));
    await page.close();
  });
});

describe("embedding map and search", { timeout: 300_000 }, () => {
  test("after an epoch: the map, its retrieval metrics, search by a point and by a dropped picture", async () => {
    const { page, log, requests } = await open();
    await page.getByTestId("backend-cpu").check();
    await loadSynthetic(page);
    await tinySettings(page, { images: 96, heldOut: 40, batch: 8, epochs: 1 });
    await page.getByRole("button", { name: "Start training" }).click();
    assert.equal(await waitForPhase(page, ["finished", "failed"], 240_000), "finished", await page.getByTestId("phase").innerText());

    // From random weights, one epoch of 4 steps: BatchNorm's running statistics still map every
    // held-out image to one point (all similarities 1.000), and the page says so.
    assert.match(await page.getByTestId("collapse-warning").innerText(), /^The embedding has collapsed on the held-out images: 90% of their pair similarities lie within 0\.0\d\d of each other .* the margin \(0\.4\)/);

    // Triplet anatomy: the hinge is max(d(a,p) - d(a,n) + margin, 0) of the distances shown.
    await page.getByTestId("anatomy").waitFor();
    const cells = await page.getByTestId("anatomy-table").locator("tbody tr td").allInnerTexts();
    // A row before training (epoch 0) and one after the epoch: the collapse shows as distances
    // that were apart before training and are 0 after.
    assert.equal(cells.length, 10, `before training and one epoch, a row each: ${cells}`);
    const [untrained, [epoch, ap, an, margin, hinge]] = [cells.slice(0, 5).map(Number), cells.slice(5).map(Number)];
    assert.equal(untrained[0], 0);
    assert.ok(Math.abs(untrained[4] - Math.max(untrained[1] - untrained[2] + untrained[3], 0)) <= 0.0015, `${cells}`);
    assert.ok(untrained[1] > 0.01 && untrained[2] > 0.01, `apart before training: ${cells}`);
    assert.equal(epoch, 1);
    assert.equal(margin, 0.4);
    assert.ok(Math.abs(hinge - Math.max(ap - an + margin, 0)) <= 0.0015, `${cells}`);
    assert.match(await page.getByTestId("anatomy-verdict").innerText(), hinge > 0 ? /^Active: / : /^Inactive: .* not a bug\.$/);
    assert.match(await page.getByTestId("anatomy-batch").innerText(), /^In the last training batch \d+% of the triplets were active\. A loss of exactly 0/);
    const firstAnchor = await page.getByTestId("anatomy").locator("figure img").first().getAttribute("src");
    await page.getByTestId("anatomy-select").selectOption("2");
    await page.waitForFunction((before) => document.querySelector('[data-testid="anatomy"] figure img')?.getAttribute("src") !== before, firstAnchor);
    assert.equal(await page.getByTestId("anatomy").locator("figure").count(), 3, "anchor, positive, negative");

    const map = page.getByTestId("map");
    await map.waitFor();
    const points = Number(await map.getAttribute("data-points"));
    assert.ok(points >= 40, `held-out images on the map: ${points}`);
    assert.match(await page.getByTestId("map-caption").innerText(), new RegExp(`^${points} held-out images after 1 epoch .* principal components \\(\\d+% and \\d+% of the variance\\), as unit vectors \\(cosine\\)`));
    assert.match(await page.getByTestId("retrieval").innerText(), /^Retrieval among these images: precision@1 [01]\.\d{3}, R-precision [01]\.\d{3}, MAP@R [01]\.\d{3} \(\d+ queries\)\./);
    assert.equal(await page.getByTestId("map-legend").locator("li").count(), 10);

    // The keyboard picks a point (as the mouse does) and Enter searches with it.
    await map.focus();
    await page.keyboard.press("ArrowRight");
    assert.match(await page.getByTestId("map-hovered").innerText(), /^image \d+: synthetic /);
    await page.keyboard.press("Enter");
    const results = page.getByTestId("search-results");
    await results.waitFor({ timeout: 60_000 });
    // The query's class once (it was repeated: "(synthetic bar) (synthetic bar)").
    assert.match(await results.innerText(), /Nearest to image \d+ \(synthetic [a-z ]+\):/);
    const similarities = await page.getByTestId("search-hit").evaluateAll((hits) => hits.map((hit) => Number(hit.dataset.similarity)));
    assert.equal(similarities.length, 8);
    // The collapsed model (the warning above) scores every image alike: similarity 1 to three
    // places, where a working model ranks them apart (the search test on a trained model below).
    assert.ok(similarities.every((s) => s > 0.999), `${similarities}`);
    await screenshot(page, "explore-search-point");

    // A picture of the visitor's own, 40 x 30 PNG made in the page, dropped on the search box.
    const drop = await page.evaluateHandle(async () => {
      const canvas = new OffscreenCanvas(40, 30);
      const context = canvas.getContext("2d");
      context.fillStyle = "#d33";
      context.fillRect(0, 0, 40, 30);
      context.fillStyle = "#fff";
      context.fillRect(10, 8, 20, 14);
      const blob = await canvas.convertToBlob({ type: "image/png" });
      const transfer = new DataTransfer();
      transfer.items.add(new File([blob], "my-photo.png", { type: "image/png" }));
      return transfer;
    });
    const before = requests.length;
    await page.getByTestId("search-drop").dispatchEvent("drop", { dataTransfer: drop });
    await page.waitForFunction(() => /Nearest to my-photo\.png:/.test(document.querySelector('[data-testid="search-results"]')?.innerText ?? ""), null, { timeout: 60_000 });
    const mine = await page.getByTestId("search-hit").evaluateAll((hits) => hits.map((hit) => Number(hit.dataset.similarity)));
    assert.equal(mine.length, 8);
    assert.ok(mine.every((s) => s > 0.999), `collapsed: ${mine}`);
    const query = page.getByTestId("search-results").locator("figure img");
    assert.equal(await query.evaluate((img) => [img.naturalWidth, img.naturalHeight].join("x")), "32x32", "resized to 32 x 32");
    assert.deepEqual(requests.slice(before), [], "the picture never leaves the browser");
    await screenshot(page, "explore-search-picture");

    // Something that is not a picture is refused with its name.
    await page.getByTestId("search-file").setInputFiles({ name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("not a picture") });
    await page.waitForFunction(() => /Could not read notes\.txt as a picture/.test(document.querySelector('[data-testid="search-status"]')?.innerText ?? ""), null, { timeout: 30_000 });
    assert.deepEqual(errorsIn(log), [], log.join("\n"));
    assert.deepEqual(requests.filter((url) => !url.startsWith(server.url)), []);
    await page.close();
  });

  // The test above runs on a collapsed model, where every similarity is 1.000 and no ranking can
  // be seen. The pretrained encoder after a few steps of the recipe spreads the images out: a
  // search must rank them, most similar first, without the query itself, with similarities that
  // differ (a ranking that ignored them, or sorted them the wrong way, fails here).
  test("on a model that has not collapsed, a search ranks the images by similarity", async () => {
    const { page, log } = await open("?preset=tutorial&images=96&held_out=40&batch=8&epochs=1&patience=1");
    await page.getByTestId("backend-cpu").check();
    await loadSynthetic(page);
    await page.getByRole("button", { name: "Start training" }).click();
    assert.equal(await waitForPhase(page, ["finished", "failed"], 240_000), "finished", await page.getByTestId("phase").innerText());
    assert.equal(await page.getByTestId("collapse-warning").count(), 0, "the pretrained encoder does not collapse");
    const map = page.getByTestId("map");
    await map.waitFor();
    await map.focus();
    await page.keyboard.press("ArrowRight");
    const hovered = await page.getByTestId("map-hovered").innerText();
    const queried = Number(hovered.match(/^image (\d+):/)[1]);
    await page.keyboard.press("Enter");
    await page.getByTestId("search-results").waitFor({ timeout: 60_000 });
    const hits = await page.getByTestId("search-hit").evaluateAll((items) =>
      items.map((hit) => ({ similarity: Number(hit.dataset.similarity), image: Number(hit.dataset.image) })),
    );
    const similarities = hits.map((hit) => hit.similarity);
    assert.equal(hits.length, 8);
    assert.ok(similarities.every((s, at) => at === 0 || s <= similarities[at - 1]), `most similar first: ${similarities}`);
    assert.ok(similarities[0] - similarities[7] > 0.005, `the similarities differ: ${similarities}`);
    assert.ok(similarities[0] < 1, `not collapsed: ${similarities}`);
    assert.ok(!hits.some((hit) => hit.image === queried), `the query (image ${queried}) is not its own hit: ${JSON.stringify(hits)}`);
    // The README's two pictures, when asked for (`TRIPLETLAB_README_SHOTS=1 cargo xtask test`):
    // a finished run's ROC curve and the embedding map with a search, from this non-collapsed run.
    if (process.env.TRIPLETLAB_README_SHOTS) {
      await page.locator("section.card:has(> #roc-title)").screenshot({ path: "../docs/images/finished-run.png" });
      await page.locator("section.card:has(> #map-title)").screenshot({ path: "../docs/images/embedding-map.png" });
    }
    assert.deepEqual(errorsIn(log), [], log.join("\n"));
    await page.close();
  });
});
