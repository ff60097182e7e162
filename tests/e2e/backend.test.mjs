// The page finds (or explains the absence of) a WebGPU adapter, and its engine worker computes a
// known matrix product on WebGPU and on the CPU.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { serveDist } from "../support/server.mjs";
import { launch, openPage } from "../support/browser.mjs";

// SwiftShader compiles shaders on the CPU: a first WebGPU computation can take a while.
const SLOW = 180_000;
const PRODUCT = "[58.0, 64.0, 139.0, 154.0]";

let server;
before(async () => {
  server = await serveDist();
});
after(async () => {
  await server?.close();
});

/** Wait until the backend check has a verdict, and return its state and text. */
async function pingVerdict(page) {
  const result = page.getByTestId("ping-result");
  await page.waitForFunction(
    () => ["ok", "wrong", "failed"].includes(
      document.querySelector('[data-testid="ping-result"]')?.dataset.state,
    ),
    null,
    { timeout: SLOW },
  );
  // The plain verdict, then the developer's detail folded under "What was checked".
  const detail = page.getByTestId("ping-detail");
  const text = (await detail.count()) > 0 ? await detail.textContent() : await result.innerText();
  return { state: await result.getAttribute("data-state"), text, verdict: await result.innerText() };
}

describe("with WebGPU (Chromium's SwiftShader adapter)", { timeout: 2 * SLOW }, () => {
  let browser;
  before(async () => {
    browser = await launch({ webgpu: true });
  });
  after(async () => {
    await browser?.close();
  });

  test("shows the adapter and a correct product on WebGPU, then on the CPU", async () => {
    const { page, log } = await openPage(browser, server.url);
    const context = () => `page log:\n${log.join("\n")}`;
    const adapter = page.getByTestId("adapter-line");
    await page.waitForFunction(
      () => document.querySelector('[data-testid="adapter-line"]')?.innerText.startsWith("WebGPU adapter:"),
      null,
      { timeout: 60_000 },
    ).catch(() => {});
    const line = await adapter.innerText();
    assert.match(line, /^WebGPU adapter: google \/ swiftshader/, `${line}\n${context()}`);
    assert.match(line, /fallback adapter/, line);

    const webgpu = await pingVerdict(page);
    assert.equal(webgpu.state, "ok", `${webgpu.text}\n${context()}`);
    assert.ok(webgpu.text.startsWith("WebGPU: burn wgpu"), webgpu.text);
    assert.ok(webgpu.text.includes(PRODUCT), webgpu.text);
    assert.ok(await page.getByTestId("backend-webgpu").isChecked());

    await page.getByTestId("backend-cpu").check();
    await page.waitForFunction(
      () => document.querySelector('[data-testid="ping-result"]')?.innerText.startsWith("CPU"),
      null,
      { timeout: SLOW },
    );
    const cpu = await pingVerdict(page);
    assert.equal(cpu.state, "ok", `${cpu.text}\n${context()}`);
    assert.ok(cpu.text.startsWith("CPU: burn flex"), cpu.text);
    assert.ok(cpu.text.includes(PRODUCT), cpu.text);
    // A class reads a plain verdict; the numbers are folded away.
    assert.match(cpu.verdict, /^CPU works: a small test computation came out right \(\d+ ms\)\.\nWhat was checked$/, cpu.verdict);
  });
});

describe("without WebGPU", { timeout: 2 * SLOW }, () => {
  let browser;
  before(async () => {
    browser = await launch({ webgpu: false });
  });
  after(async () => {
    await browser?.close();
  });

  test("explains the missing adapter and computes on the CPU", async () => {
    const { page, log } = await openPage(browser, server.url);
    const cpu = await pingVerdict(page);
    const line = await page.getByTestId("adapter-line").innerText();
    assert.match(line, /^No WebGPU adapter\./, `${line}\npage log:\n${log.join("\n")}`);
    assert.match(line, /CPU backend/, line);
    // The reason is one click away.
    await page.getByTestId("adapter-why").locator("summary").click();
    assert.match(await page.getByTestId("adapter-why").innerText(), /WebGPU/);
    assert.ok(await page.getByTestId("backend-webgpu").isDisabled());
    assert.ok(await page.getByTestId("backend-cpu").isChecked());
    assert.equal(cpu.state, "ok", `${cpu.text}\npage log:\n${log.join("\n")}`);
    assert.ok(cpu.text.startsWith("CPU: burn flex"), cpu.text);
    assert.ok(cpu.text.includes(PRODUCT), cpu.text);
    // A class reads a plain verdict; the numbers are folded away.
    assert.match(cpu.verdict, /^CPU works: a small test computation came out right \(\d+ ms\)\.\nWhat was checked$/, cpu.verdict);
  });
});
