// Page helpers for the dataset panel.

/** Pick the served dataset whose label starts with `name`. */
export async function chooseDataset(page, name) {
  const select = page.getByTestId("dataset-select");
  await select.waitFor({ timeout: 60_000 });
  const value = await select.evaluate(
    (el, wanted) => [...el.options].find((o) => o.textContent.startsWith(wanted))?.value,
    name,
  );
  if (value === undefined) throw new Error(`no served dataset named ${name}`);
  await select.selectOption(value);
}

/** Wait until loading ends (ready or failed); returns { state, text }. */
export async function loadVerdict(page, timeout = 60_000) {
  await page.waitForFunction(
    () => ["ready", "failed"].includes(
      document.querySelector('[data-testid="dataset-status"]')?.dataset.state,
    ),
    null,
    { timeout },
  );
  const status = page.getByTestId("dataset-status");
  return { state: await status.getAttribute("data-state"), text: await status.innerText() };
}

export const shardRequests = (server) => server.requests.filter((path) => path.endsWith(".bin"));

/** Pick the served dataset with the most images (the soak's and benchmarks' larger sets). */
export async function chooseLargestDataset(page) {
  const select = page.getByTestId("dataset-select");
  await select.waitFor({ timeout: 60_000 });
  const largest = await select.evaluate((el) => {
    const images = (option) => Number(option.textContent.replace(/,/g, "").match(/(\d+) images/)?.[1] ?? 0);
    return [...el.options].sort((a, b) => images(b) - images(a))[0].value;
  });
  await select.selectOption(largest);
}
