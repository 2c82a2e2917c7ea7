// Drives one Turnstile HTML page in headless Chromium (Debian's, through playwright-core)
// the way a reader would, and prints what it saw as JSON for tests/it/browser.rs:
//
//   TURNSTILE_NODE_MODULES=DIR node check.mjs PAGE.html SHOTS_DIR NAME TABLE_ID SORT_COLUMN SEARCH_TEXT
//
// - every console error and page error while loading and using the page;
// - the table's visible rows after load, after clicking the SORT_COLUMN header once and
//   twice, after choosing the first value of the first drop-down, and after typing
//   SEARCH_TEXT in the search box;
// - whether the page is wider than the window at 1400 and 700 px, with a screenshot of
//   each (SHOTS_DIR/NAME-1400.png, NAME-700.png).
import { createRequire } from "node:module";

// playwright-core lives in the peers' cache (tests/peers/peers.sh install), not here.
const require = createRequire((process.env.TURNSTILE_NODE_MODULES || "./node_modules") + "/");
const { chromium } = require("playwright-core");

const [file, shots, name, tableId, sortColumn, search] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
const out = { errors: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on("console", (m) => { if (m.type() === "error") out.errors.push(m.text()); });
  page.on("pageerror", (e) => out.errors.push(String(e)));
  page.on("requestfailed", (r) => out.errors.push("request failed: " + r.url()));
  const started = Date.now();
  await page.goto("file://" + file, { waitUntil: "load" });
  await page.waitForSelector(`#${tableId} tbody tr, #${tableId} .pager`, { timeout: 60000 });
  out.load_ms = Date.now() - started;
  const col = Number(sortColumn);
  const rows = () => page.$$eval(`#${tableId} tbody tr`, (trs) => trs.map((tr) => Array.from(tr.children).map((td) => td.textContent)));
  const count = () => page.$eval(`#${tableId} .count`, (e) => e.textContent);
  out.initial = { count: await count(), rows: await rows() };
  const header = page.locator(`#${tableId} thead th`).nth(col).locator("button");
  await header.click();
  out.sorted_ascending = (await rows()).map((r) => r[col]);
  await header.click();
  out.sorted_descending = (await rows()).map((r) => r[col]);
  const select = page.locator(`#${tableId} select`).first();
  if (await select.count()) {
    const value = await select.locator("option").nth(1).getAttribute("value");
    const column = Number(await select.getAttribute("data-col"));
    await select.selectOption(value);
    out.selected = { column, value, count: await count(), rows: await rows() };
    await select.selectOption("");
  }
  await page.locator(`#${tableId} input[type=search]`).fill(search);
  await page.waitForTimeout(400);
  out.searched = { count: await count(), rows: await rows() };
  for (const width of [1400, 700]) {
    await page.setViewportSize({ width, height: 900 });
    await page.waitForTimeout(100);
    out[`overflow_${width}`] = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    await page.screenshot({ path: `${shots}/${name}-${width}.png`, fullPage: false });
  }
} catch (e) {
  out.errors.push("driver: " + String(e));
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out));
