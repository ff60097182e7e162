// The training studio end to end, on tiny configurations (synthetic data, width 0.35, batch 4):
// start, steps with a falling loss, pause/resume, an epoch with its ROC curve, AUC and pair
// gallery, a reload mid-run that resumes from the checkpoint with its step count and history,
// stop. Throughout: no console errors, only same-origin requests, no main-thread task over 200 ms.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { resolve } from "node:path";

import { DIST, serveDist } from "../support/server.mjs";
import { launch, openRecorded } from "../support/browser.mjs";
import {
  errorsIn,
  globalStep,
  loadSynthetic,
  longTasksSince,
  lossSummary,
  now,
  phase,
  recipeSettings,
  screenshot,
  setNumber,
  tinySettings,
  waitForEvaluation,
  waitForEvaluationAt,
  waitForPhase,
  waitForStep,
  watchLongTasks,
} from "../support/studio.mjs";

const CLI_CHECKPOINT = resolve(DIST, "e2e", "cli.checkpoint.safetensors");
// The recipe's run trained by the native CLI (`cargo xtask test` makes it: xtask/src/data.rs).
const CLI_RECIPE_REPORT = resolve(DIST, "e2e", "cli-recipe.report.json");
/**
 * Page and CLI train on the same CPU backend (burn's flex, in wasm and natively), but not bit for
 * bit (natively its matrix kernels use the machine's vector instructions). The first step, before
 * any update, agrees to rounding: same images, triplets, order, weights, scaling and loss. After
 * it, training is chaotic (docs/quality.md: rounding-level differences grow in a few Adam steps).
 * Measured on the recipe's run (2 steps an epoch): epoch 1 agreed to 5e-5, epoch 2 to 7.8e-4 (the
 * held-out loss: page 0.12967, CLI 0.13045). Epoch 2's limit, 2e-3, is under what epoch 2 moves
 * the held-out loss (3.8e-3: 0.1258 -> 0.1297) and its training loss (0.046), so a page whose
 * second epoch did not train fails it.
 */
const FIRST_STEP_TOLERANCE = 1e-4;
const EPOCH_TOLERANCE = [2e-4, 2e-3];

let server;
before(async () => {
  server = await serveDist();
});
after(async () => {
  await server?.close();
});

/** A page with its console, errors and every request it makes recorded. */
const openStudio = (browser) => openRecorded(browser, server.url, { before: watchLongTasks });

/** The AUC of an "AUC 0.812 after ..." line. */
const aucOf = (line) => Number(line.match(/^AUC ([\d.]+)/)[1]);

/** The run's sizes, read from the live view's run line. */
async function runSizes(page) {
  const line = await page.getByTestId("run-line").innerText();
  const found = line.match(/(\d+) training and (\d+) held-out triplets, (\d+) steps an epoch/);
  assert.ok(found, line);
  const [train, heldOut, steps] = found.slice(1).map(Number);
  return { line, train, heldOut, steps, gallery: 2 * Math.min(6, heldOut) };
}

function assertClean({ log, requests }, longTasks) {
  assert.deepEqual(errorsIn(log), [], log.join("\n"));
  const foreign = requests.filter((url) => /^https?:/.test(url) && !url.startsWith(server.url));
  assert.deepEqual(foreign, [], "every request stays on the page's origin");
  const slow = longTasks.filter((task) => task.duration > 200);
  assert.deepEqual(slow, [], `main-thread tasks over 200 ms while training: ${JSON.stringify(slow)}`);
}

describe("training studio on the CPU", { timeout: 600_000 }, () => {
  let browser;
  before(async () => {
    browser = await launch({ webgpu: false });
  });
  after(async () => {
    await browser?.close();
  });

  test("train, pause, resume, evaluate, reload and resume from the checkpoint, finish", async () => {
    const session = await openStudio(browser);
    const { page, log } = session;
    await page.getByTestId("backend-cpu").check();
    await loadSynthetic(page);
    // 96 images make about 48 triplets (two images of a class each, as the recipe pairs them),
    // a quarter held out; steps of 4 (about 9 an epoch); two epochs. The reload below must land
    // before epoch 2 ends (its checkpoint would replace epoch 1's): with 48 images only 2 steps
    // were left for it, and a quiet machine finished the run first.
    await tinySettings(page, { images: 96, epochs: 2 });
    const since = await now(page);
    await page.getByRole("button", { name: "Start training" }).click();
    await waitForStep(page, 3);
    const run = await runSizes(page);
    assert.equal(run.steps, Math.ceil(run.train / 4), run.line);
    assert.ok(run.train >= 12 && run.heldOut === Math.ceil((run.train + run.heldOut) / 4), run.line);
    assert.match(run.line, /SYNTHETIC.*on CPU/, run.line);
    assert.equal(await page.getByTestId("stat-dispatches").count(), 0, "the CPU backend dispatches no GPU kernels");

    await page.getByRole("button", { name: "Pause" }).click();
    assert.equal(await waitForPhase(page, "paused"), "paused");
    const pausedAt = await globalStep(page);
    await page.waitForTimeout(1500);
    assert.equal(await globalStep(page), pausedAt, "no steps while paused");
    assert.match(await page.getByTestId("notice").innerText(), /checkpoint is stored/);
    await page.getByRole("button", { name: "Resume", exact: true }).click();
    await waitForStep(page, pausedAt + 1);

    const auc = await waitForEvaluation(page, 1);
    assert.match(auc, new RegExp(`^AUC (0|1)\\.\\d{3} after 1 epoch \\(step ${run.steps}\\), ${2 * run.heldOut} held-out pairs`), auc);
    assert.equal(await page.getByTestId("gallery").locator("li").count(), run.gallery, "genuine and impostor pairs");
    const roc = await page.locator('[data-testid="roc-chart"] path.roc-current').getAttribute("d");
    assert.match(roc, /^M\d/, "the ROC curve is drawn");
    assert.match(await page.getByTestId("counts").innerText(), /genuine pairs/);
    await screenshot(page, "studio-cpu-epoch1");

    // Reload in the middle of epoch 2: the page offers the stored run (saved at epoch 1's end).
    await waitForStep(page, run.steps + 2);
    const beforeReload = await lossSummary(page);
    assertClean(session, await longTasksSince(page, since));
    await page.reload();
    const saved = page.getByTestId("saved-run");
    await saved.waitFor({ timeout: 30_000 });
    assert.match(await saved.innerText(), new RegExp(`synthetic-shapes, 1 of 2 epochs done, step ${run.steps}\\b`));
    const resumedSince = await now(page);
    await page.getByRole("button", { name: "Resume saved run" }).click();
    await waitForStep(page, run.steps + 1);
    const resumed = await page.getByTestId("run-line").innerText();
    assert.match(resumed, /Resumed after 1 epoch and 0 steps/, resumed);
    const history = await lossSummary(page);
    assert.equal(history.epochs, 1, "epoch 1 is in the history");
    assert.equal(history.firstLoss, beforeReload.firstLoss, "the loss history survived the reload");

    assert.equal(await waitForPhase(page, ["finished", "failed"], 240_000), "finished", await page.getByTestId("phase").innerText());
    const end = await lossSummary(page);
    assert.equal(end.steps, 2 * run.steps);
    assert.equal(end.epochs, 2);
    assert.match(await page.getByTestId("auc").innerText(), /after 2 epochs/);
    await screenshot(page, "studio-cpu-finished");
    assertClean(session, await longTasksSince(page, resumedSince));
    await page.close();
  });

  // A random-init width-0.35 model needs thousands of triplets before its loss moves; the
  // pretrained encoder (the recipe's) shows a falling loss within a few steps of 16. Every draw is
  // seeded and the CPU backend is deterministic, so this run is the same every time.
  test("the pretrained encoder's training loss falls epoch over epoch", async () => {
    const session = await openStudio(browser);
    const { page } = session;
    await page.getByTestId("backend-cpu").check();
    await loadSynthetic(page);
    await tinySettings(page, { images: 200, batch: 16, epochs: 3 });
    await page.getByLabel("Width").selectOption("1");
    await page.getByLabel("Start from").selectOption("1");
    await setNumber(page, "Learning rate", 3e-4);
    await setNumber(page, "BatchNorm momentum", 0.99);
    await page.getByRole("button", { name: "Start training" }).click();
    assert.equal(await waitForPhase(page, ["finished", "failed"], 300_000), "finished", await page.getByTestId("phase").innerText());
    const { epochLosses, firstLoss, lastSmoothed } = await lossSummary(page);
    const losses = epochLosses.map((epoch) => epoch.loss);
    assert.equal(losses.length, 3);
    assert.ok(losses[0] > losses[1] && losses[1] > losses[2], `epoch losses ${losses}`);
    assert.ok(lastSmoothed < firstLoss, `the smoothed loss falls: ${firstLoss} -> ${lastSmoothed}`);
    assert.match(await page.getByTestId("auc").innerText(), /^AUC 0\.9\d\d after 3 epochs/);
    await screenshot(page, "studio-cpu-pretrained");
    // The weights were downloaded once, verified, and cached: a second run fetches nothing.
    const weightRequests = () => session.requests.filter((url) => url.endsWith(".safetensors")).length;
    assert.equal(weightRequests(), 1);
    await page.getByRole("button", { name: "Start training" }).click();
    await waitForStep(page, 1);
    await page.getByRole("button", { name: "Stop" }).click();
    assert.equal(await waitForPhase(page, ["stopped", "failed"]), "stopped");
    assert.equal(weightRequests(), 1, "the second run read the weights from the browser's cache");
    assertClean(session, []);
    await page.close();
  });

  // What the page shows a class is what the recipe gives: the native CLI trains the same run (the
  // recipe's settings on the first 200 synthetic images: xtask/src/data.rs) and reports its losses.
  test("the recipe's settings give the native CLI's numbers", async () => {
    const session = await openStudio(browser);
    const { page } = session;
    await page.getByTestId("backend-cpu").check();
    await loadSynthetic(page);
    await recipeSettings(page, { epochs: 2 });
    await page.getByRole("button", { name: "Start training" }).click();
    assert.equal(await waitForPhase(page, ["finished", "failed"], 300_000), "finished", await page.getByTestId("phase").innerText());
    const { epochLosses, firstLoss } = await lossSummary(page);
    const cli = JSON.parse(await readFile(CLI_RECIPE_REPORT, "utf8"));
    assert.equal(cli.history.length, 2, "the CLI ran 2 epochs");
    assert.equal(epochLosses.length, 2, "the page ran 2 epochs");
    assert.ok(
      Math.abs(firstLoss - cli.first_step_loss) <= FIRST_STEP_TOLERANCE,
      `first step: page ${firstLoss}, CLI ${cli.first_step_loss}`,
    );
    cli.history.forEach((epoch, at) => {
      const ours = epochLosses[at];
      const detail = `epoch ${at + 1}: page ${ours.loss}/${ours.val}, CLI ${epoch.loss}/${epoch.val_loss}`;
      console.log(`page vs CLI, ${detail}`);
      assert.ok(Math.abs(ours.loss - epoch.loss) <= EPOCH_TOLERANCE[at], detail);
      assert.ok(Math.abs(ours.val - epoch.val_loss) <= EPOCH_TOLERANCE[at], detail);
    });
    assertClean(session, []);
    await page.close();
  });

  test("stop ends a run cleanly and keeps its checkpoint", async () => {
    const session = await openStudio(browser);
    const { page } = session;
    await page.getByTestId("backend-cpu").check();
    await loadSynthetic(page);
    await tinySettings(page, { images: 48, epochs: 3 });
    await page.getByRole("button", { name: "Start training" }).click();
    await waitForStep(page, 2);
    await page.getByRole("button", { name: "Stop" }).click();
    assert.equal(await waitForPhase(page, ["stopped", "failed"]), "stopped");
    assert.match(await page.getByTestId("notice").innerText(), /Stopped\. The checkpoint is stored/);
    assert.equal(await page.getByRole("button", { name: "Start training" }).isEnabled(), true);
    // After a run, a damaged checkpoint is refused with a message too (once it showed nothing),
    // naming the file once.
    await page.getByLabel("Import checkpoint").setInputFiles({ name: "broken.safetensors", mimeType: "application/octet-stream", buffer: Buffer.from("not a checkpoint") });
    await page.waitForFunction(() => /Choose a/.test(document.querySelector('[data-testid="notice"]')?.innerText ?? ""), null, { timeout: 30_000 });
    const refusal = await page.getByTestId("notice").innerText();
    assert.equal(refusal.split("broken.safetensors").length - 1, 1, refusal);
    // Plain words: sentences, no code quotes.
    assert.ok(!refusal.includes("`"), refusal);
    assert.match(refusal, /^[A-Z].*\. Choose a \.safetensors checkpoint saved by Triplet Lab \(the page's "Export checkpoint", or the command tripletlab train\)\.$/, refusal);
    assert.equal(await phase(page), "stopped", "the stopped run's state stays");
    assertClean(session, []);
    await page.close();
  });
});

describe("checkpoints as files", { timeout: 600_000 }, () => {
  let browser;
  before(async () => {
    browser = await launch({ webgpu: false });
  });
  after(async () => {
    await browser?.close();
  });

  async function freshStudio() {
    const session = await openStudio(browser);
    await session.page.getByTestId("backend-cpu").check();
    await loadSynthetic(session.page);
    return session;
  }

  const importFile = (page, file) => page.getByLabel("Import checkpoint").setInputFiles(file);

  test("a mining run exported from one browser resumes in a fresh one on its own split, with the same AUC", async () => {
    const first = await freshStudio();
    // 96 images: 18 steps an epoch, so the pause below most likely lands in epoch 1; where it
    // lands is read back, not assumed.
    await tinySettings(first.page, { images: 96, epochs: 3 });
    // The pretrained encoder (random weights collapse within a few steps: every pair alike, AUC
    // 0.500 whatever the weights, and an equal AUC after the import would prove nothing).
    await first.page.getByLabel("Width").selectOption("1");
    await first.page.getByLabel("Start from").selectOption("1");
    await setNumber(first.page, "BatchNorm momentum", 0.99);
    await first.page.getByLabel("Triplets").selectOption("batch-hard");
    await setNumber(first.page, "Classes per batch (P)", 3);
    await setNumber(first.page, "Images per class (K)", 2);
    await first.page.getByRole("button", { name: "Start training" }).click();
    await waitForStep(first.page, 2);
    const before = await runSizes(first.page);
    // The AUC at the step it stops at: paused, evaluated, then stopped (a stop while paused
    // stores the same step).
    await first.page.getByRole("button", { name: "Pause" }).click();
    assert.equal(await waitForPhase(first.page, "paused"), "paused");
    const stoppedAt = await globalStep(first.page);
    await first.page.getByRole("button", { name: "Evaluate now" }).click();
    const { line: exported, epochs: epochsDone } = await waitForEvaluationAt(first.page, stoppedAt);
    // The AUC compared below is of a model that tells pairs apart (a collapsed one scores every
    // pair alike, AUC 0.500 whatever its weights, and the page warns).
    assert.equal(await first.page.getByTestId("collapse-warning").count(), 0, `not collapsed: ${exported}`);
    assert.notEqual(aucOf(exported), 0.5, exported);
    await first.page.getByRole("button", { name: "Stop" }).click();
    assert.equal(await waitForPhase(first.page, "stopped"), "stopped");
    assert.equal(await globalStep(first.page), stoppedAt, "stopped where it paused");
    const [download] = await Promise.all([
      first.page.waitForEvent("download"),
      first.page.getByRole("button", { name: "Export checkpoint" }).click(),
    ]);
    assert.match(download.suggestedFilename(), new RegExp(`^tripletlab-synthetic-shapes-epoch${epochsDone}-step${stoppedAt}\\.safetensors$`));
    // Kept outside the browser context, whose downloads go when it closes.
    const file = resolve(await mkdtemp(resolve(tmpdir(), "tripletlab-export-")), download.suggestedFilename());
    await download.saveAs(file);
    assertClean(first, []);
    await first.page.close();

    const second = await freshStudio();
    const { page } = second;
    assert.equal(await page.getByTestId("saved-run").count(), 0, "a fresh browser stores nothing");
    // The form shows other settings (the quick demo): the checkpoint's own run must win.
    await importFile(page, file);
    const saved = page.getByTestId("saved-run");
    await saved.waitFor({ timeout: 30_000 });
    assert.match(await saved.innerText(), new RegExp(`an imported checkpoint, ${epochsDone} of 3 epochs done`));
    await page.getByRole("button", { name: "Resume saved run" }).click();
    // A resumed run is evaluated before its next step: the same weights on the same held-out set.
    const { line: resumedAuc } = await waitForEvaluationAt(page, stoppedAt);
    const after = await runSizes(page);
    assert.deepEqual([after.train, after.heldOut], [before.train, before.heldOut], "its own split");
    assert.equal(aucOf(resumedAuc), aucOf(exported), `${exported} vs ${resumedAuc}`);
    assert.equal(await page.getByLabel("Triplets").inputValue(), "batch-hard", "the form shows the run's settings");
    await waitForStep(page, stoppedAt + 1);
    assert.match(await page.getByTestId("run-line").innerText(), new RegExp(`Resumed after ${epochsDone} epochs? and ${stoppedAt - epochsDone * before.steps} steps?`));
    await page.getByRole("button", { name: "Stop" }).click();
    assert.equal(await waitForPhase(page, "stopped"), "stopped");
    assertClean(second, []);
    await page.close();
  });

  test("a checkpoint made by the native CLI imports and resumes; a bad file is refused", async () => {
    const session = await freshStudio();
    const { page } = session;
    await importFile(page, { name: "notes.safetensors", mimeType: "application/octet-stream", buffer: Buffer.from("not a checkpoint") });
    await page.waitForFunction(
      () => /Choose a/.test(document.querySelector('[data-testid="notice"]')?.innerText ?? ""),
      null,
      { timeout: 30_000 },
    );
    const refusal = await page.getByTestId("notice").innerText();
    assert.match(refusal, /notes\.safetensors/, refusal);
    assert.match(refusal, /Choose a \.safetensors checkpoint saved by Triplet Lab/, refusal);
    assert.equal(await page.getByTestId("saved-run").count(), 0, "nothing was stored");

    // `cargo xtask test` trains two epochs of two steps with `tripletlab train --held-out 0.2`
    // into dist/e2e/. The page's settings say 5% (the tutorial's): the checkpoint's 20% must win,
    // on exactly the CLI's held-out triplets, with the CLI's AUC.
    const report = JSON.parse(await readFile(`${CLI_CHECKPOINT}.report.json`, "utf8"));
    await page.getByRole("button", { name: "Reproduce the tutorial" }).click();
    await importFile(page, CLI_CHECKPOINT);
    const saved = page.getByTestId("saved-run");
    await saved.waitFor({ timeout: 30_000 });
    assert.match(await saved.innerText(), /an imported checkpoint, finished/);
    await page.getByRole("button", { name: "Resume saved run" }).click();
    assert.equal(await waitForPhase(page, ["finished", "failed"], 120_000), "finished", await page.getByTestId("phase").innerText());
    const sizes = await runSizes(page);
    assert.deepEqual([sizes.train, sizes.heldOut], [report.train_triplets, report.held_out_triplets], sizes.line);
    const shown = await page.getByTestId("auc").innerText();
    assert.match(shown, /^AUC (0|1)\.\d{3} after 2 epochs/);
    // The same weights on the same pairs; WebAssembly's and the native build's float32 differ in
    // the last bits, which reorders near-tied pairs of this barely trained model (one swap of 40 x
    // 40 pairs moves the AUC by 0.000625; 0.0014 was seen): a few swaps are allowed, a different
    // held-out set is not (the counts above, and the page checks the split's hash).
    assert.ok(Math.abs(aucOf(shown) - report.held_out.summary.auc) <= 0.005, `${shown} vs the CLI's ${report.held_out.summary.auc}`);
    assertClean(session, []);
    await page.close();
  });
});

// The WebGPU test's tiny run, natively on flex, on wgpu (lavapipe) and on flex at a learning rate
// of 1e-7 (`cargo xtask test` makes them: xtask/src/data.rs, cli_tiny_backends).
const CLI_TINY = (name) => resolve(DIST, "e2e", `cli-tiny-${name}.json`);

/**
 * The recipe (pretrained width 1.0, learning rate 1e-4, BatchNorm momentum 0.999) on the first 48
 * images, 60% of the triplets held out (12, so the held-out loss is a mean of 12), batches of 4:
 * two steps, one epoch. The same as the CLI's cli_tiny_backends runs.
 */
async function tinyRecipe(page) {
  await tinySettings(page, { images: 48, heldOut: 60, epochs: 1 });
  await page.getByLabel("Width").selectOption("1");
  await page.getByLabel("Start from").selectOption("1");
  await setNumber(page, "Learning rate", 1e-4);
  await setNumber(page, "BatchNorm momentum", 0.999);
}

describe("training studio on WebGPU (SwiftShader)", { timeout: 900_000 }, () => {
  let browser;
  before(async () => {
    browser = await launch({ webgpu: true });
  });
  after(async () => {
    await browser?.close();
  });

  test("train an epoch on WebGPU with pause/resume, then see the ROC curve and gallery; its numbers are the CPU's", async () => {
    const session = await openStudio(browser);
    const { page, log } = session;
    await page.getByTestId("backend-webgpu").waitFor();
    await page.waitForFunction(() => document.querySelector('[data-testid="backend-webgpu"]')?.disabled === false, null, { timeout: 60_000 });
    await page.getByTestId("backend-webgpu").check();
    await loadSynthetic(page);
    // SwiftShader runs WebGPU on the CPU: compiling a step's kernels takes it tens of seconds.
    // The page compiles them ahead (a warm-up, launched dry: nothing computed) once the settings
    // stand still and the data is there, and says so; the first step then dispatches exactly the
    // warm-up's kernels, and compiles none.
    await tinyRecipe(page);
    const settled = Date.now();
    const warmLine = page.getByTestId("gpu-warmup");
    await page.waitForFunction(
      () => /^Your GPU is ready for these settings/.test(document.querySelector('[data-testid="gpu-warmup"]')?.innerText ?? ""),
      null,
      { timeout: 300_000 },
    ).catch(async () => assert.fail(`no warm-up: "${await warmLine.innerText()}"\n${log.join("\n")}`));
    const warmed = (await warmLine.innerText()).match(/^Your GPU is ready for these settings: the (\d+) kernels of a step were compiled ahead \(in ([\d.]+) s\), so the first step does not wait for them\.$/);
    assert.ok(warmed, await warmLine.innerText());
    const [warmKernels, warmSeconds] = [Number(warmed[1]), Number(warmed[2])];
    const readyAfter = (Date.now() - settled) / 1000;
    const since = await now(page);
    const clicked = Date.now();
    await page.getByRole("button", { name: "Start training" }).click();
    // While the first step runs, the page says how far it has got (the worker reports every 250
    // kernel dispatches), of about as many as the warm-up's step: sampled until the step is done.
    const seen = [];
    // The step count and the last step's kernels, read together: step 1's, before step 2 ends.
    const stepStats = () =>
      page.evaluate(() => ["stat-global-step", "stat-dispatches"].map((id) => Number(document.querySelector(`[data-testid="${id}"]`)?.innerText)));
    let firstStep;
    while ((firstStep = await stepStats())[0] < 1 && Date.now() - clicked < 300_000) {
      const line = page.getByTestId("step-progress");
      if (await line.count()) {
        const text = await line.innerText().catch(() => "");
        // The line may already speak of step 2 when the step counter has not yet shown step 1
        // done: the first step is over then.
        if (/^Step ([2-9]|\d\d+) under way on the GPU: \d+ kernels dispatched of about \d+\./.test(text)) break;
        const found = text.match(/^Step 1 under way on the GPU: (\d+) kernels dispatched of about (\d+)\.$/);
        assert.ok(found || text === "", text);
        if (found) {
          assert.equal(Number(found[2]), warmKernels, text);
          seen.push({ seconds: (Date.now() - clicked) / 1000, dispatched: Number(found[1]) });
        }
      }
      await page.waitForTimeout(250);
    }
    await waitForStep(page, 1, 10_000);
    const stepOne = (Date.now() - clicked) / 1000;
    if (firstStep[0] < 1) firstStep = await stepStats();
    assert.ok(seen.length >= 1, `the first step's progress was shown: ${JSON.stringify(seen)}`);
    const run = await runSizes(page);
    assert.match(run.line, /on WebGPU/);
    assert.deepEqual([run.train, run.heldOut, run.steps], [8, 12, 2], run.line);
    // The kernels a step dispatched, counted by CubeCL's launch observer in the worker: the
    // whole graph (three branch passes, their backward, Adam), thousands of kernels (9,847
    // natively); the first step dispatched exactly the warm-up's.
    assert.equal(firstStep[0], 1, "step 1's figures are read before step 2 ends (a step takes SwiftShader seconds)");
    const dispatches = firstStep[1];
    assert.ok(dispatches > 1000, `kernels a step on WebGPU: ${dispatches}`);
    assert.equal(dispatches, warmKernels, "the first step dispatches the warm-up's kernels");
    assert.ok(seen.at(-1).dispatched <= dispatches, `${seen.at(-1).dispatched} shown of ${dispatches}`);
    console.log(
      `WebGPU: the warm-up compiled a step's ${warmKernels} kernels in ${warmSeconds} s (ready ${readyAfter.toFixed(1)} s ` +
        `after the settings were made); from the click on Start: the first ${seen[0].dispatched} dispatched at ` +
        `${seen[0].seconds.toFixed(1)} s, step 1 done at ${stepOne.toFixed(1)} s`,
    );
    await page.getByRole("button", { name: "Pause" }).click();
    assert.equal(await waitForPhase(page, "paused", 300_000), "paused", log.join("\n"));
    const pausedAt = await globalStep(page);
    await page.waitForTimeout(1000);
    assert.equal(await globalStep(page), pausedAt, "no steps while paused");
    await screenshot(page, "studio-webgpu-paused");
    await page.getByRole("button", { name: "Resume", exact: true }).click();
    assert.equal(await waitForPhase(page, ["finished", "failed"], 480_000), "finished", await page.getByTestId("phase").innerText());
    assert.equal(await globalStep(page), run.steps);
    const auc = await page.getByTestId("auc").innerText();
    assert.match(auc, new RegExp(`^AUC (0|1)\\.\\d{3} after 1 epoch \\(step ${run.steps}\\), ${2 * run.heldOut} held-out pairs`), auc);
    assert.equal(await page.getByTestId("gallery").locator("li").count(), run.gallery);
    await screenshot(page, "studio-webgpu-finished");
    assertClean(session, await longTasksSince(page, since));
    const gpu = await lossSummary(page);
    await page.close();

    // The same run on the CPU (burn's flex in the worker), from the same weights, images and
    // triplets in the same order.
    const cpuSession = await openStudio(browser);
    await cpuSession.page.getByTestId("backend-cpu").check();
    await loadSynthetic(cpuSession.page);
    await tinyRecipe(cpuSession.page);
    await cpuSession.page.getByRole("button", { name: "Start training" }).click();
    assert.equal(await waitForPhase(cpuSession.page, ["finished", "failed"], 300_000), "finished");
    const cpu = await lossSummary(cpuSession.page);
    assertClean(cpuSession, []);
    await cpuSession.page.close();

    // The limits: the first step (one forward pass, before any update) to 1e-4; after the
    // updates, three times the spread between our native backends on the same run (flex and
    // lavapipe, measured by every `cargo xtask test`), and never under 1e-4 (the summary's 5
    // decimals). The epoch's training loss includes step 2, after an update: a WebGPU step that
    // updated nothing would move it as far as the native run at a learning rate of 1e-7 moved
    // (asserted larger than the limit, so this limit can tell). Two steps barely move the
    // held-out loss (the 1e-7 run's is within the limit too): it is checked for what the
    // evaluation computes, not for the learning.
    const [flex, wgpu, still] = await Promise.all(["flex", "wgpu", "still"].map(async (name) => JSON.parse(await readFile(CLI_TINY(name), "utf8"))));
    const limit = (a, b) => Math.max(3 * Math.abs(a - b), 1e-4);
    const trainLimit = limit(flex.history[0].loss, wgpu.history[0].loss);
    const heldOutLimit = limit(flex.history[0].val_loss, wgpu.history[0].val_loss);
    const figures =
      `first step: WebGPU ${gpu.firstLoss}, CPU ${cpu.firstLoss} (native flex ${flex.first_step_loss}, wgpu ${wgpu.first_step_loss}); ` +
      `epoch loss: WebGPU ${gpu.epochLosses[0]?.loss}, CPU ${cpu.epochLosses[0]?.loss} (native flex ${flex.history[0].loss.toFixed(5)}, ` +
      `wgpu ${wgpu.history[0].loss.toFixed(5)}, lr 1e-7 ${still.history[0].loss.toFixed(5)}; limit ${trainLimit.toExponential(2)}); ` +
      `held-out loss: WebGPU ${gpu.epochLosses[0]?.val}, CPU ${cpu.epochLosses[0]?.val} (native flex ${flex.history[0].val_loss.toFixed(5)}, ` +
      `wgpu ${wgpu.history[0].val_loss.toFixed(5)}, lr 1e-7 ${still.history[0].val_loss.toFixed(5)}; limit ${heldOutLimit.toExponential(2)})`;
    console.log(`WebGPU vs CPU in the page: ${figures}`);
    assert.ok(Math.abs(still.history[0].loss - flex.history[0].loss) > trainLimit, `the limit could not tell a step that learned: ${figures}`);
    assert.equal(gpu.epochLosses.length, 1, figures);
    assert.equal(cpu.epochLosses.length, 1, figures);
    assert.ok(Math.abs(gpu.firstLoss - cpu.firstLoss) <= FIRST_STEP_TOLERANCE, figures);
    assert.ok(Math.abs(gpu.epochLosses[0].loss - cpu.epochLosses[0].loss) <= trainLimit, figures);
    assert.ok(Math.abs(gpu.epochLosses[0].val - cpu.epochLosses[0].val) <= heldOutLimit, figures);
  });
});
