// The portfolio page (/b/<id>) in Chromium: it asks for the operator's token (a wrong one is
// refused in words), then shows every state's count, the cause that hurts most domains
// first, exactly the changes since the previous run, a table its filters narrow, and each
// domain's report link, whose page judges the evidence here and must say the row's answer.
// On a phone it fits 390 px; axe stays clean on both.
//
// usage: node portfolio.mjs BASE SHOTS BATCH_ID TOKEN EXPECTED_JSON

import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { axe, assertFits } from "./lib.mjs";

const [base, shots, id, token, expectedFile] = process.argv.slice(2);
const expected = JSON.parse(readFileSync(expectedFile, "utf8"));

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run"],
});
// What the pages said to their console: printed when the test fails.
const said = [];
const fail = async (e) => { console.log(said.join("\n")); await browser.close(); throw e; };
const listen = (page) => {
  page.on("console", (m) => said.push(`console ${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => said.push(`page error: ${e.message}`));
  return page;
};

async function open(page) {
  await page.goto(`${base}/b/${id}`);
  await page.waitForSelector("#token-form", { timeout: 15000 });
  // A wrong token: refused, the form stays, with the server's words.
  await page.fill("#batch-token", "wrong-token-0123456789");
  await page.click("#token-form button");
  await page.waitForSelector("#token-form [role=alert]", { timeout: 15000 });
  const refused = await page.textContent("#token-form [role=alert]");
  assert.ok(/token/i.test(refused), `a wrong token is refused in words: ${refused}`);
  await page.fill("#batch-token", token);
  await page.click("#token-form button");
  await page.waitForSelector("#portfolio-table", { timeout: 15000 });
}

const domainsShown = (page) => page.$$eval("#portfolio-table tbody tr", (rows) => rows.map((r) => r.dataset.domain));

try {
  const page = listen(await browser.newPage({ viewport: { width: 1280, height: 900 } }));
  await open(page);
  assert.equal(await page.textContent("h1"), "weekly");
  const progress = await page.$eval("#progress", (p) => [p.dataset.done, p.dataset.total]);
  assert.deepEqual(progress, [String(expected.rows.length), String(expected.rows.length)]);

  // Every state's count, and a bar per run.
  const shares = await page.$$eval("#shares li", (lis) => lis.map((li) => [li.dataset.state, Number(li.dataset.count)]));
  assert.deepEqual(shares, expected.counts);
  assert.equal(await page.locator("#status-chart g[data-run]").count(), 2, "two runs of the list");

  // The shared server's cause first, with every domain it hurts.
  const top = page.locator("li.cause").first();
  assert.equal(await top.getAttribute("data-host"), expected.top.host);
  assert.equal(await top.getAttribute("data-code"), expected.top.code);
  assert.equal(Number(await top.getAttribute("data-count")), expected.top.count);
  assert.ok((await top.textContent()).includes(`${expected.top.count} domains — MX host ${expected.top.host}`),
    await top.textContent());

  // Exactly the changes since the previous run.
  const changes = await page.$$eval(".portfolio-changes > li", (lis) => lis.map((li) => [li.dataset.domain, li.dataset.direction]));
  assert.deepEqual(changes, expected.changes);

  // The table: every domain in the list's order; the cause's button narrows it to the
  // domains the cause hurts; a state and a name narrow it further.
  assert.deepEqual(await domainsShown(page), expected.rows.map((r) => r[0]));
  const statuses = await page.$$eval("#portfolio-table tbody tr", (rows) => rows.map((r) => r.dataset.status));
  assert.deepEqual(statuses, expected.rows.map((r) => r[1]));
  await top.locator("button").click();
  await page.waitForFunction((n) => document.querySelector("#shown")?.dataset.count === String(n), expected.top.count);
  assert.deepEqual((await domainsShown(page)).sort(), [...expected.top.domains].sort());
  await page.fill("#filter-text", "tenant-1");
  await page.waitForFunction(() => document.querySelector("#shown")?.dataset.count === "1");
  assert.deepEqual(await domainsShown(page), ["tenant-1.test"]);
  await page.fill("#filter-text", "");
  await page.selectOption("#filter-cause", "");
  const state = expected.counts.find(([, n]) => n > 0)[0];
  await page.selectOption("#filter-state", state);
  const inState = expected.rows.filter((r) => r[1] === state).map((r) => r[0]);
  await page.waitForFunction((n) => document.querySelector("#shown")?.dataset.count === String(n), inState.length);
  assert.deepEqual(await domainsShown(page), inState);
  await page.selectOption("#filter-state", "");
  await page.waitForFunction((n) => document.querySelector("#shown")?.dataset.count === String(n), expected.rows.length);
  await axe(page, "portfolio");
  await page.screenshot({ path: `${shots}/portfolio.png`, fullPage: true });

  // A domain's report, judged in the browser, says what its row says.
  const [domain, , answer] = expected.rows.find((r) => r[0] === expected.top.host.replace(/^mx\./, ""));
  await page.click(`#portfolio-table tr[data-domain="${domain}"] a.report-link`);
  await page.waitForSelector("#headline", { timeout: 20000 });
  const headline = await page.textContent("#headline");
  assert.ok(headline.includes(answer), `the report of ${domain} says "${headline}", the row "${answer}"`);

  // On a phone: the same page fits 390 px (the token is kept for the tab).
  const phone = listen(await browser.newPage({ viewport: { width: 390, height: 844 } }));
  await open(phone);
  await assertFits(phone, "portfolio at 390 px");
  await axe(phone, "portfolio (phone)");
  await phone.screenshot({ path: `${shots}/portfolio-phone.png`, fullPage: true });
  console.log(`portfolio ${id}: ${JSON.stringify(shares)}; changes ${JSON.stringify(changes)}`);
} catch (e) {
  await fail(e);
}
await browser.close();
