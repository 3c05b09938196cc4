// Drives ksid's live admin dashboard (GET /dashboard) in Debian's headless Chromium through playwright-core.
// Usage: KSID_NODE_MODULES=<dir with playwright-core> node dashboard_browser.mjs <dashboard_url> <turn_id> <screenshot_dir>
// Opens the page, waits for the SSE connection (#status-dot.ok), times how long the given turn's row takes to appear
// (must be within 5 s of navigation start), screenshots, cancels that turn through its row's button, waits for the row to
// go and for both charts to have drawn series, screenshots again.
// Prints one JSON line: {"ok":true,"appeared_ms":N,"cancel_ms":N,"series":{"keys":N,"models":N},"console_errors":[...]}
// and exits 0, or prints {"ok":false,"error":"..."} and exits 1.
import { createRequire } from "module";
import fs from "fs";
import path from "path";

const APPEAR_LIMIT_MS = 5000;
const CANCEL_LIMIT_MS = 10000;
const SERIES_LIMIT_MS = 10000;
const OVERALL_LIMIT_MS = 90000;

const consoleErrors = [];
const pageErrors = [];
let browser = null;
let finished = false;

function report(result, code) {
  if (finished) return;
  finished = true;
  process.stdout.write(JSON.stringify(result) + "\n");
  const done = () => process.exit(code);
  if (browser) browser.close().then(done, done);
  else done();
  setTimeout(done, 5000).unref();
}

function fail(message) {
  const r = { ok: false, error: String(message) };
  if (consoleErrors.length) r.console_errors = consoleErrors;
  if (pageErrors.length) r.page_errors = pageErrors;
  report(r, 1);
}

function loadPlaywright() {
  const dir = process.env.KSID_NODE_MODULES;
  const req = dir ? createRequire(path.resolve(dir) + "/") : createRequire(import.meta.url);
  return req("playwright-core");
}

function cssString(s) {
  return '"' + String(s).replace(/["\\]/g, "\\$&").replace(/\n/g, "\\a ") + '"';
}

function readLine() {
  return new Promise((resolve, reject) => {
    let buf = "";
    process.stdin.setEncoding("utf8");
    process.stdin.on("data", (d) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl >= 0) { process.stdin.pause(); resolve(buf.slice(0, nl).trim()); }
    });
    process.stdin.on("end", () => reject(new Error("stdin ended before a turn id")));
  });
}

async function main() {
  let [, , url, turnId, shotDir] = process.argv;
  if (!url || !turnId || !shotDir) throw new Error("usage: node dashboard_browser.mjs <dashboard_url> <turn_id> <screenshot_dir>");
  fs.mkdirSync(shotDir, { recursive: true });
  const { chromium } = loadPlaywright();
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync"],
  });
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
  const page = await context.newPage();
  page.on("console", (msg) => { if (msg.type() === "error") consoleErrors.push(msg.text()); });
  page.on("pageerror", (err) => { pageErrors.push(String(err && err.stack ? err.message : err)); });
  const checkPageErrors = () => { if (pageErrors.length) throw new Error("uncaught exception in page: " + pageErrors[0]); };

  let rowSel = `tr.turn[data-id=${cssString(turnId)}]`;
  const response = await page.goto(url, { waitUntil: "domcontentloaded", timeout: 15000 });
  if (!response) throw new Error("navigation produced no response");
  if (response.status() !== 200) throw new Error(`GET ${page.url()} answered ${response.status()}`);

  // The SSE connection is up once the first snapshot has been applied.
  await page.waitForSelector("#status-dot.ok", { timeout: APPEAR_LIMIT_MS + 2000 }).catch(async () => {
    const cls = await page.getAttribute("#status-dot", "class").catch(() => null);
    throw new Error(`#status-dot never became ok (class=${cls})`);
  });
  checkPageErrors();

  // turn_id "-": the page is up; the caller starts the turn now and sends its id on stdin, and the time counts from
  // then (a turn started while the page is open must show within a second).
  let since = 0;
  if (turnId === "-") {
    process.stdout.write("READY\n");
    turnId = await readLine();
    rowSel = `tr.turn[data-id=${cssString(turnId)}]`;
    since = await page.evaluate(() => performance.now());
  }
  // Time from navigation start (performance.timeOrigin, which includes a ?key= redirect) until the row is in the DOM.
  let appeared;
  try {
    appeared = await page.waitForFunction(({ sel, t0 }) => (document.querySelector(sel) ? performance.now() - t0 : null),
                                          { sel: rowSel, t0: since }, { timeout: APPEAR_LIMIT_MS, polling: "raf" });
  } catch (e) {
    const ids = await page.$$eval("tr.turn", (rows) => rows.map((r) => r.dataset.id)).catch(() => []);
    throw new Error(`turn row ${turnId} did not appear within ${APPEAR_LIMIT_MS} ms (rows: ${JSON.stringify(ids)})`);
  }
  const appearedMs = Math.round(await appeared.jsonValue());
  if (appearedMs > APPEAR_LIMIT_MS) throw new Error(`turn row ${turnId} appeared after ${appearedMs} ms (> ${APPEAR_LIMIT_MS})`);
  checkPageErrors();

  await page.screenshot({ path: path.join(shotDir, "dashboard-running.png"), fullPage: true });

  const button = page.locator(`${rowSel} button.cancel`);
  if ((await button.count()) !== 1) throw new Error(`row ${turnId} has ${await button.count()} button.cancel`);
  const deleteSeen = page.waitForResponse(
    (r) => r.request().method() === "DELETE" && new URL(r.url()).pathname === "/admin/turns/" + encodeURIComponent(turnId),
    { timeout: CANCEL_LIMIT_MS });
  const clickAt = Date.now();
  await button.click({ timeout: 5000 });
  const del = await deleteSeen.catch(() => { throw new Error("clicking Cancel sent no DELETE /admin/turns/" + turnId); });
  if (del.status() !== 200) {
    const shown = await page.locator(`${rowSel} .msg`).textContent().catch(() => "");
    throw new Error(`DELETE /admin/turns/${turnId} answered ${del.status()} (page shows: ${JSON.stringify(shown)})`);
  }
  await page.waitForSelector(rowSel, { state: "detached", timeout: Math.max(1, CANCEL_LIMIT_MS - (Date.now() - clickAt)) })
    .catch(() => { throw new Error(`row ${turnId} still present ${CANCEL_LIMIT_MS} ms after Cancel`); });
  const cancelMs = Date.now() - clickAt;
  checkPageErrors();

  let series;
  try {
    const h = await page.waitForFunction(() => {
      const count = (id) => [...document.querySelectorAll(`svg#${id} .series`)]
        .filter((e) => (e.getAttribute("d") || e.getAttribute("points") || "").trim() !== "").length;
      const keys = count("chart-keys"), models = count("chart-models");
      return keys > 0 && models > 0 ? { keys, models } : null;
    }, null, { timeout: SERIES_LIMIT_MS });
    series = await h.jsonValue();
  } catch (e) {
    throw new Error(`charts did not draw series within ${SERIES_LIMIT_MS} ms`);
  }
  checkPageErrors();

  await page.screenshot({ path: path.join(shotDir, "dashboard-after-cancel.png"), fullPage: true });
  checkPageErrors();

  report({ ok: true, appeared_ms: appearedMs, cancel_ms: cancelMs, series, console_errors: consoleErrors }, 0);
}

setTimeout(() => fail(`gave up after ${OVERALL_LIMIT_MS} ms`), OVERALL_LIMIT_MS).unref();
main().catch((e) => fail(e && e.message ? e.message : e));
