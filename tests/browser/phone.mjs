// Every page on a phone (390 px wide) in real headless Chromium: nothing may scroll sideways
// or stick out on the right, and axe-core finds nothing serious; the same fit at tablet widths
// (600, 768 px) and on both sides of 960 px, where the tables turn into cards. Started by
// crates/mxtls-server/tests/e2e_browser.rs after e2e.mjs, against the same server:
//
//   node phone.mjs BASE_URL SCREENSHOT_DIR PHONE_TABLE HISTORY REPORTS
//
// PHONE_TABLE is a JSON file: {"domains": [every world scenario's domain], "shown": [the
// scenarios photographed for the closing note], "widget": a domain for the widget,
// "split": [the scenarios whose name servers disagree]}. Every report's name-server section
// must show a table (and an amber or red glance under the grid) exactly for "split", folded
// lines for the rest; ns-stale's table is pinned row by row.
// Each domain's report is opened from its latest snapshot (/r/<id>) where e2e.mjs already
// checked it, else checked (/check/<domain>) by two pages at a time, as one client may.
// HISTORY and REPORTS are e2e.mjs's: a domain with stored checks, and TLS-RPT report files.
//
// The scenarios in "shown" (and the widget and the report reader) are photographed at
// 1280 px and at 390 px into SCREENSHOT_DIR as scenario-<name>.png and
// scenario-<name>-phone.png. Exits non-zero on failure.

import { chromium } from "playwright-core";
import { readFileSync, mkdirSync } from "node:fs";
import assert from "node:assert/strict";
import { axe, assertFits } from "./lib.mjs";

const [base, shots, tableFile, historyDomain, reportsFile] = process.argv.slice(2);
if (!base || !shots || !tableFile || !historyDomain || !reportsFile) {
  console.error("usage: node phone.mjs BASE_URL SCREENSHOT_DIR PHONE_TABLE HISTORY REPORTS");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const table = JSON.parse(readFileSync(tableFile, "utf8"));
const reports = JSON.parse(readFileSync(reportsFile, "utf8"));
const STEP = 30_000; // every wait has a deadline
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };
/// A screenshot is the page from its top down to past the sender table, at most this tall
/// on a phone and on the desktop: a file of a few hundred KB, not a 10 MB scroll.
const MAX_SHOT_HEIGHT = { phone: 4000, desktop: 2400 };

async function shot(page, name) {
  const path = `${shots}/${name}.png`;
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  const { width } = page.viewportSize();
  const most = width > 600 ? MAX_SHOT_HEIGHT.desktop : MAX_SHOT_HEIGHT.phone;
  const clip = { x: 0, y: 0, width, height: Math.min(height, most) };
  await page.screenshot({ path, fullPage: true, clip });
  console.log(`screenshot ${path}`);
}

/// Every page's failed assertion, reported together at the end.
const failures = [];

/// The name servers of a report: a table exactly where the world says they disagree, each
/// zone's line coloured like its findings; the stale secondary of ns-stale row by row.
const nsSeen = { tables: [], folded: 0, none: 0 };
async function nameServers(page, domain) {
  const split = table.split.includes(domain);
  const tables = await page.locator("#ns-h ~ div.ns-zone h3").allTextContents();
  const folded = await page.locator("#ns-h ~ details.ns-zone:not([open]) summary").allTextContents();
  const glance = page.locator(".ns-glance");
  if ((await glance.count()) === 0) {
    // No name servers were asked (no zone found): then there is no section either.
    assert.ok(!split, `${domain}: its name servers disagree, but the report shows none`);
    assert.equal(await page.locator("#ns-h").count(), 0, `${domain}: a name-server section without a glance`);
    nsSeen.none += 1;
    return;
  }
  const glanceText = (await glance.textContent()) ?? "";
  const glanceClass = (await glance.getAttribute("class")) ?? "";
  if (split) {
    assert.ok(tables.length > 0, `${domain}: its name servers disagree, but no table is shown`);
    assert.match(glanceText, new RegExp(`^Name servers disagree for .*${domain.replaceAll(".", "\\.")}`), `${domain}: the glance`);
    assert.match(glanceClass, /\b(warn|bad)\b/, `${domain}: the glance's colour`);
  } else {
    assert.deepEqual(tables, [], `${domain}: a name-server table where the servers agree`);
    assert.ok(folded.length > 0, `${domain}: no folded name-server line`);
    assert.match(glanceText, /^Name servers agree: the same answers from every server of \d+ zones?$/, `${domain}: the glance`);
    assert.match(glanceClass, /\bgood\b/, `${domain}: the glance's colour`);
  }
  if (tables.length > 0) nsSeen.tables.push(domain); else nsSeen.folded += 1;
  if (domain !== "ns-stale.test") return;
  // tests/world: ns-b.test (127.53.x.3) serves serial 1 without the TLSA records; ns.test serial 2.
  assert.deepEqual(tables, ["ns-stale.test: 1 of 2 servers disagree"], "ns-stale: the zone's line");
  assert.deepEqual(folded, ["test: 1 server, serial 1"], "ns-stale: the parent folds");
  const zone = page.locator("div.ns-zone");
  assert.match((await zone.locator("h3").getAttribute("class")) ?? "", /\bwarn\b/, "ns-stale: amber, as its warnings");
  const rows = await zone.locator("tbody tr").evaluateAll((trs) => trs.map((tr) => ({
    name: tr.querySelector("th").textContent,
    serial: tr.querySelector("td[data-label=Serial]").textContent,
    answers: tr.querySelector("td[data-label=Answers]").textContent,
    mood: tr.querySelector("td[data-label=Answers]").className,
  })));
  assert.equal(rows.length, 2, "ns-stale: two servers");
  assert.deepEqual(rows.map((r) => [r.name, r.serial, r.mood]), [["ns-b.test", "1", "warn"], ["ns.test", "2", "good"]], "ns-stale: the rows");
  for (const part of ["serial 1, newest 2", "_25._tcp.mx.ns-stale.test TLSA: no such name", "signatures expire in"]) {
    assert.ok(rows[0].answers.includes(part), `ns-stale: ns-b.test's row lacks "${part}": ${rows[0].answers}`);
  }
  assert.equal(rows[1].answers, "agrees", "ns-stale: ns.test agrees");
}

/// Widths between the phone and the desktop, where the page must fit too: tablets, and both
/// sides of 960 px, where style.css's tables turn into cards.
const BETWEEN = [600, 768, 959, 960];

/// The page fits the phone and passes axe, and fits the widths between the phone and the
/// desktop; photographed on both screens when `name` is given.
async function onPhone(page, what, name) {
  const between = BETWEEN.map((width) => async () => {
    await page.setViewportSize({ width, height: PHONE.height });
    try {
      await assertFits(page, what);
    } finally {
      await page.setViewportSize(PHONE);
    }
  });
  for (const check of [() => assertFits(page, what), () => axe(page, `${what} (phone)`), ...between]) {
    try {
      await check();
    } catch (e) {
      if (!(e instanceof assert.AssertionError)) throw e;
      failures.push(e.message);
    }
  }
  if (name) {
    await shot(page, `scenario-${name}-phone`);
    await page.setViewportSize(DESKTOP);
    await shot(page, `scenario-${name}`);
    await page.setViewportSize(PHONE);
  }
}

const started = Date.now();
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run"],
});
let failed = false;
try {
  const context = await browser.newContext({ viewport: PHONE });
  context.setDefaultTimeout(STEP);
  const errors = [];
  const open = async () => {
    const page = await context.newPage();
    page.on("pageerror", (e) => errors.push(`${page.url()}: ${e}`));
    return page;
  };

  // Every scenario's report, by two pages at a time.
  const queue = [...table.domains];
  const opened = { snapshot: 0, checked: 0 };
  const worker = async () => {
    const page = await open();
    for (let domain = queue.shift(); domain; domain = queue.shift()) {
      const latest = await context.request.get(`${base}/api/domains/${domain}/latest`);
      if (latest.status() === 200) {
        const { snapshot } = await latest.json();
        await page.goto(`${base}/r/${snapshot}`);
        opened.snapshot += 1;
      } else {
        await page.goto(`${base}/check/${domain}`);
        opened.checked += 1;
      }
      await page.locator("#headline").waitFor({ timeout: 60_000 });
      try {
        await nameServers(page, domain);
      } catch (e) {
        if (!(e instanceof assert.AssertionError)) throw e;
        failures.push(e.message);
      }
      const name = domain.replace(/\.test$/, "");
      await onPhone(page, `report of ${domain}`, table.shown.includes(name) ? name : null);
    }
    await page.close();
  };
  await Promise.all([worker(), worker()]);
  console.log(`${table.domains.length} reports on a phone: ${opened.snapshot} from snapshots (/r/), ${opened.checked} checked`);
  assert.ok(opened.snapshot > 0, "shared links (/r/) were among the pages");
  console.log(`name servers: a table for ${nsSeen.tables.sort().join(", ")}; folded in ${nsSeen.folded} reports, absent from ${nsSeen.none}`);
  assert.deepEqual(nsSeen.tables.sort(), [...table.split].sort(), "the reports with a name-server table");

  const page = await open();
  // The home page.
  await page.goto(`${base}/`);
  await page.locator("#domain").waitFor();
  await onPhone(page, "home");

  // The widget, as a phone opens it.
  await page.goto(`${base}/widget/${table.widget}`);
  await page.locator(".widget-headline").waitFor();
  await onPhone(page, "widget", "widget");

  // A domain's history.
  await page.goto(`${base}/d/${historyDomain}`);
  await page.locator("#timeline > li").first().waitFor();
  await onPhone(page, "history");

  // The TLS-RPT reader with reports, their findings, charts and tables.
  await page.goto(`${base}/tls-rpt`);
  await page.locator("#report-files").setInputFiles(reports.stripping);
  await page.locator(".finding").first().waitFor();
  await page.locator(".sender table").first().waitFor();
  await onPhone(page, "the TLS-RPT reader", "tls-rpt");

  assert.deepEqual(failures, [], `${failures.length} pages do not fit a phone or fail axe`);
  assert.deepEqual(errors, [], "no script errors");
  console.log(`phone tests passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
