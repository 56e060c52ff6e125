// The dashboard's browser test: opens /ui of a running stack in Debian's chromium, finds
// every component with its state, clicks restart on one and sees it go through `restarting`
// to `ready`.
//
//   node ui-test.mjs URL TOKEN EXPECTED_JSON RESTART SCREENSHOT
//
// EXPECTED_JSON maps each component to the state it should show. Exit 0 on success; on a
// failure the reason is printed on stderr and the exit code is 1.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [url, token, expectedJson, restart, screenshot] = process.argv.slice(2);
const expected = JSON.parse(expectedJson);
const profile = mkdtempSync(join(tmpdir(), "herald-ui-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  viewport: { width: 1280, height: 860 },
});
let code = 0;
try {
  const page = context.pages()[0] || await context.newPage();
  page.on("pageerror", e => console.error("page error:", e.message));
  // Any request off 127.0.0.1 is a failure: the page must need no network.
  page.on("request", r => {
    if (!r.url().startsWith(url)) throw new Error(`the page fetched ${r.url()}`);
  });
  await page.goto(`${url}/ui?token=${encodeURIComponent(token)}`);
  for (const [name, state] of Object.entries(expected)) {
    await page.locator(`tr[data-component="${name}"] .state[data-state="${state}"]`)
      .waitFor({ timeout: 20000 });
    console.log(`${name}: ${state}`);
  }
  // Every state the row shows from now on, in order; `window.through` resolves once it
  // has shown `restarting` and then `ready`. (The page's CSP forbids eval, so the wait is a
  // promise in the page rather than a polled predicate.)
  await page.evaluate(name => {
    window.seen = [];
    const target = document.querySelector(`tr[data-component="${name}"] .state`);
    window.through = new Promise(resolve => {
      new MutationObserver(records => {
        for (const r of records) window.seen.push(r.target.dataset.state);
        const at = window.seen.indexOf("restarting");
        if (at >= 0 && window.seen.indexOf("ready", at) > at) resolve(true);
      }).observe(target, { attributes: true, attributeFilter: ["data-state"] });
    });
  }, restart);
  await page.click(`button[data-action="restart"][data-component="${restart}"]`);
  const through = page.evaluate(() => window.through);
  const late = new Promise((_, fail) => setTimeout(() => fail(new Error(
    `${restart} did not go through restarting to ready within 20 s`)), 20000));
  await Promise.race([through, late]);
  console.log(`${restart}: ${(await page.evaluate(() => window.seen)).join(" -> ")}`);
  // The graph shows every component, coloured.
  const nodes = await page.locator("svg#graph g.node").count();
  if (nodes !== Object.keys(expected).length) throw new Error(`the graph has ${nodes} nodes`);
  if (screenshot) {
    await page.waitForTimeout(300);
    await page.screenshot({ path: screenshot, fullPage: true });
  }
} catch (e) {
  console.error(String(e && e.stack || e));
  code = 1;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(code);
