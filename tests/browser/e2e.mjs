// The web checker in real headless Chromium (Debian's), against `mxtls serve` and the test
// world. Started by crates/mxtls-server/tests/e2e_browser.rs, which sets up both:
//
//   node e2e.mjs BASE_URL GOOD_DOMAIN BROKEN_DOMAIN SCREENSHOT_DIR STS_GOOD STS_BROKEN STS_TABLE HISTORY REPORTS
//
// STS_TABLE is a JSON file: [{"domain", "codes": [...], "protection"}] for every MTA-STS
// scenario of the world, each checked in the browser. HISTORY is a domain with two stored
// checks: its mail server answered the first and was down for the second. REPORTS is a JSON
// file naming TLS-RPT report files for the report reader (/tls-rpt): {"stripping": [files
// about GOOD_DOMAIN], "broken": file, "confirmed": file, "confirmedDomain": domain}.
//
// Every step asserts what a user would see; every page is checked with axe-core (no serious
// or critical violations) and photographed into SCREENSHOT_DIR. Exits non-zero on failure.

import { chromium } from "playwright-core";
import { createServer } from "node:http";
import { readFileSync, mkdirSync } from "node:fs";
import assert from "node:assert/strict";
import { axe, assertFits } from "./lib.mjs";

const [base, good, broken, shots, stsGood, stsBroken, stsTable, historyDomain, reportsFile] = process.argv.slice(2);
if (!base || !good || !broken || !shots || !stsGood || !stsBroken || !stsTable || !historyDomain || !reportsFile) {
  console.error("usage: node e2e.mjs BASE_URL GOOD_DOMAIN BROKEN_DOMAIN SCREENSHOT_DIR STS_GOOD STS_BROKEN STS_TABLE HISTORY REPORTS");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const STEP = 30_000; // every wait has a deadline

async function shot(page, name) {
  const path = `${shots}/${name}.png`;
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot ${path}`);
}

/// A screenshot on the desktop and one on a phone (390 px), where nothing may scroll sideways.
async function shotBoth(page, name) {
  await shot(page, name);
  await page.setViewportSize({ width: 390, height: 844 });
  await assertFits(page, name);
  await shot(page, `${name}-phone`);
  await page.setViewportSize({ width: 1200, height: 900 });
}

/// Findings codes and the headline of a report page, to compare two views of one check.
async function reportFacts(page) {
  return {
    headline: await page.locator("#headline").innerText(),
    stripping: await page.locator("#stripping").innerText(),
    codes: await page.locator(".finding").evaluateAll((els) => els.map((e) => e.dataset.code)),
    verdicts: await page.locator("[data-verdict]").evaluateAll((els) => els.map((e) => e.dataset.verdict)),
  };
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run"],
});
let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  context.setDefaultTimeout(STEP);
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });

  const requested = [];
  page.on("request", (r) => requested.push(new URL(r.url()).pathname));

  // 1. The home page lists the test world's scenarios as examples; its first load does not
  // include the root set (fetched when a check starts).
  await page.goto(base + "/");
  await page.locator("#domain").waitFor();
  await page.locator(".examples a", { hasText: good }).waitFor();
  assert.ok(!requested.includes("/api/roots"), `first load: ${requested}`);
  await axe(page, "home");
  await shot(page, "home");

  // An invalid domain gets a clear error without leaving the page.
  await page.fill("#domain", "not a domain!");
  await page.click("button[type=submit]");
  await page.locator("#domain-error").waitFor();
  assert.match(await page.locator("#domain-error").innerText(), /not a valid domain/);
  assert.equal(new URL(page.url()).pathname, "/");

  // 2. A good scenario: live steps appear while the probe works, then the report with DANE
  // verified. The check takes a fraction of a second here, so a MutationObserver records
  // every running session line drawn before the report replaces them.
  await page.evaluate(() => {
    window.__live = [];
    new MutationObserver(() => {
      if (document.getElementById("headline")) return;
      for (const el of document.querySelectorAll(".steps .session.running")) {
        window.__live.push(`${el.dataset.ip} ${el.dataset.step} ${el.textContent}`);
      }
    }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
  });
  await page.fill("#domain", good);
  await page.click("button[type=submit]");
  await page.waitForURL(`**/check/${good}`);
  await page.locator("#headline").waitFor();
  assert.ok(requested.includes("/api/roots"), "the root set is fetched for the report");
  const live = await page.evaluate(() => window.__live);
  assert.ok(live.length > 0, "running sessions were shown before the report");
  assert.ok(live.some((l) => /^127\.\d+\.\d+\.\d+ /.test(l)), `a live line names the address: ${live}`);
  const steps = new Set(live.map((l) => l.split(" ")[1]));
  console.log(`live steps seen: ${[...steps].join(", ")}`);
  const goodFacts = await reportFacts(page);
  assert.ok(goodFacts.verdicts.includes("verified"), `verdicts: ${goodFacts.verdicts}`);
  assert.match(goodFacts.stripping, /by DANE/);
  assert.ok(goodFacts.codes.includes("dane-verified"), `codes: ${goodFacts.codes}`);
  assert.equal(await page.locator(".headline.good").count(), 1);
  // The TLSA records stand beside the chain they match, and the transcript is there, folded.
  assert.match(await page.locator(".tlsa-record").first().innerText(), /usable, matches ECDSA end entity at 127\./);
  assert.ok((await page.locator("details.transcript").count()) > 0);
  await page.locator("details.transcript summary").first().click();
  assert.match(await page.locator("details.transcript pre").first().innerText(), /S: 220 /);
  await axe(page, "check (good)");
  await shot(page, "check-good");

  // Dark mode and a phone-sized screen.
  await page.emulateMedia({ colorScheme: "dark" });
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(bg, "rgb(13, 17, 23)", "dark background in dark mode");
  await axe(page, "check (good, dark)");
  await shot(page, "check-good-dark");
  await page.emulateMedia({ colorScheme: "light" });
  await page.setViewportSize({ width: 390, height: 844 });
  await assertFits(page, "check (good)");
  await shot(page, "check-good-phone");
  await page.setViewportSize({ width: 1200, height: 900 });

  // 3. The copied link opens the same report, frozen.
  await page.click("button:has-text('Copy link')");
  await page.locator(".share .copied", { hasText: "Copied" }).waitFor();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(copied, await page.inputValue("#share-link"));
  assert.match(copied, /\/r\/[0-9a-f]{32}$/);
  const frozen = await context.newPage();
  await frozen.goto(copied);
  await frozen.locator("#headline").waitFor();
  assert.deepEqual(await reportFacts(frozen), goodFacts, "the snapshot shows the same report");
  assert.match(await frozen.locator("#taken").innerText(), /Snapshot taken \d{4}-\d\d-\d\d/);
  await frozen.locator("#check-again").waitFor();
  await axe(frozen, "snapshot");
  await shot(frozen, "snapshot");
  // A mistyped snapshot link says so.
  await frozen.goto(base + "/r/00000000000000000000000000000000");
  await frozen.locator(".error-box", { hasText: "no snapshot" }).waitFor();
  await frozen.close();

  // 4. A broken scenario, by keyboard only: Tab to the form, type, Enter.
  await page.goto(base + "/");
  await page.locator("#domain").waitFor();
  for (let i = 0; i < 10 && !(await page.evaluate(() => document.activeElement?.id === "domain")); i++) {
    await page.keyboard.press("Tab");
  }
  assert.equal(await page.evaluate(() => document.activeElement?.id), "domain", "the form is reachable by Tab");
  await page.keyboard.type(broken);
  await page.keyboard.press("Enter");
  await page.waitForURL(`**/check/${broken}`);
  await page.locator("#headline").waitFor();
  const brokenFacts = await reportFacts(page);
  assert.equal(await page.locator(".headline.bad").count(), 1, "the broken scenario is shown as bad");
  assert.ok(brokenFacts.codes.includes("tlsa-mismatch"), `codes: ${brokenFacts.codes}`);
  assert.ok(!brokenFacts.verdicts.includes("verified"), `verdicts: ${brokenFacts.verdicts}`);
  // The fix offers a record to copy.
  assert.ok((await page.locator(".finding.bad .record code").count()) > 0, "a record to publish");
  await axe(page, "check (broken)");
  // Do this first: the action that changes the status, with its whole fix in one block.
  const firstAction = page.locator(".do-first .action").first();
  assert.equal(await firstAction.getAttribute("data-code"), "tlsa-mismatch");
  assert.match(await firstAction.locator("pre.fix-records").innerText(), /IN TLSA 3 1 1 [0-9a-f]{64}/);
  assert.match(await page.locator("#headline").innerText(), /Some senders defer mail to .*: no TLSA record matches .*: DANE senders will not deliver to it/);
  // Every finding says why it matters; the grid shows the address with its DANE result.
  assert.ok((await page.locator(".finding .why").count()) >= 1);
  assert.match(await page.locator("table.grid tbody").innerText(), /no match/);
  assert.match(await page.locator('tr[data-sender="dane"] th').innerText(), /validates DANE/);
  await shotBoth(page, "check-broken");

  // 5. The widget, embedded with the one-line snippet in a page of another origin.
  const snippet = await page.locator("#embed-snippet").innerText();
  assert.match(snippet, new RegExp(`data-domain="${broken}"`));
  const other = createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    if (req.url === "/framed-app") {
      res.end(`<!doctype html><title>framing</title><iframe id="app" src="${base}/" title="app" onload="window.__frameLoaded = true"></iframe>`);
    } else {
      res.end(`<!doctype html><html lang="en"><title>Our site</title><h1>Our site</h1>${snippet}</html>`);
    }
  });
  await new Promise((ok) => other.listen(0, "127.0.0.1", ok));
  const otherOrigin = `http://127.0.0.1:${other.address().port}`;
  assert.notEqual(new URL(otherOrigin).origin, new URL(base).origin);
  try {
    const host = await context.newPage();
    await host.goto(otherOrigin + "/");
    const frame = host.frameLocator("iframe");
    await frame.locator(".widget-headline").waitFor();
    assert.match(await frame.locator(".widget-box").innerText(), new RegExp(broken));
    // embed.js sized the frame to the widget's content.
    await host.waitForFunction(() => /px$/.test(document.querySelector("iframe").style.height));
    await axe(host, "page embedding the widget");
    await shot(host, "widget-embedded");

    // Every other page refuses to be framed: wait for the frame's load event (Chromium
    // fires it for the error page it shows instead), then assert the refusal itself — the
    // frame holds Chromium's error page, not the app.
    const framing = await context.newPage();
    await framing.goto(otherOrigin + "/framed-app");
    await framing.waitForFunction(() => window.__frameLoaded === true);
    const inner = framing.frames().find((f) => f !== framing.mainFrame());
    assert.ok(inner, "the frame exists");
    const frameUrl = inner.url();
    assert.match(frameUrl, /^chrome-error:/, `the frame shows Chromium's refusal, not ${frameUrl}`);
    assert.equal(await inner.locator("#main").count(), 0, "the app page must not render inside a frame");
    await framing.close();
    await host.close();
  } finally {
    other.close();
  }
  const widget = await context.newPage();
  await widget.goto(`${base}/widget/${good}`);
  await widget.locator(".widget-headline.good").waitFor();
  await axe(widget, "widget");
  await shot(widget, "widget");
  await widget.close();

  // 6. The badge.
  const badge = await page.request.get(`${base}/badge/${good}.svg`);
  assert.equal(badge.status(), 200);
  assert.match(badge.headers()["content-type"], /image\/svg\+xml/);
  const svg = await badge.text();
  assert.match(svg, /<svg/);
  assert.match(svg, /DANE/);
  // Shown as a README shows it: an image in another page.
  const readme = await context.newPage();
  await readme.setContent(`<!doctype html><html lang="en"><title>badge</title><p><img alt="mail TLS" src="${base}/badge/${good}.svg"></p></html>`);
  await readme.waitForFunction(() => document.querySelector("img").complete && document.querySelector("img").naturalWidth > 0);
  await readme.screenshot({ path: `${shots}/badge.png` });
  console.log(`screenshot ${shots}/badge.png`);
  await readme.close();

  // 7. MTA-STS: an enforced policy protects, a policy that cannot be fetched does not; the
  // sender-outcome matrix says what each kind of sender does.
  await page.goto(`${base}/check/${stsGood}`);
  await page.locator("#headline").waitFor();
  assert.match(await page.locator("#stripping").innerText(), /by MTA-STS \(enforce\)/);
  assert.equal(await page.locator('.finding[data-code="mta-sts-enforce"]').count(), 1);
  assert.equal(
    await page.locator('tr[data-sender="mta-sts"] [data-delivery]').getAttribute("data-delivery"),
    "authenticated",
  );
  assert.match(await page.locator('tr[data-sender="opportunistic"]').innerText(), /the attack works/);
  assert.match(await page.locator("#mta-sts").innerText(), /mode enforce/);
  await axe(page, "check (MTA-STS enforce)");
  await shot(page, "check-mta-sts");
  await page.goto(`${base}/check/${stsBroken}`);
  await page.locator("#headline").waitFor();
  assert.match(await page.locator("#stripping").innerText(), /: no$/);
  assert.match(
    await page.locator('.finding[data-code="mta-sts-policy-fetch-failed"]').innerText(),
    /404/,
  );
  await shot(page, "check-mta-sts-broken");

  // Every MTA-STS scenario: its documented findings and protection, as the page shows them.
  const protectionText = {
    "mta-sts": "by MTA-STS (enforce), for senders that apply it; other senders can still be downgraded to cleartext",
    both: "by DANE and MTA-STS (enforce), for senders that use either",
    dane: "by DANE, for senders that validate it; other senders can still be downgraded to cleartext",
    none: "no",
  };
  for (const s of JSON.parse(readFileSync(stsTable, "utf8"))) {
    await page.goto(`${base}/check/${s.domain}`);
    await page.locator("#headline").waitFor();
    const codes = await page.locator(".finding").evaluateAll((els) => els.map((e) => e.dataset.code));
    // Exactly the scenario's findings: none missing, none extra.
    assert.deepEqual([...new Set(codes)].sort(), [...s.codes].sort(), `${s.domain}: findings`);
    if (s.protection) {
      const line = await page.locator("#stripping").innerText();
      // No protection where the senders that would refuse cleartext cannot deliver at all
      // says why ("no — …").
      const whyNot = s.protection === "none" && /: no — the senders that would refuse cleartext cannot deliver at all/.test(line);
      assert.ok(line.endsWith(`: ${protectionText[s.protection]}`) || whyNot, `${s.domain}: ${line}`);
    }
    assert.equal(await page.locator("table.senders tbody tr").count(), 4, `${s.domain}: the sender matrix`);
  }

  // 10. A host whose two addresses present different keys: the grid shows both, one
  // verified and one not, and a finding says the servers differ (not a rollover).
  await page.goto(`${base}/check/split-keys.test`);
  await page.locator("#headline").waitFor();
  const gridRows = await page.locator("table.grid tbody tr").evaluateAll((rows) => rows.map((r) => r.innerText));
  assert.equal(gridRows.length, 2, `grid: ${gridRows}`);
  assert.ok(gridRows.some((r) => /verified/.test(r)) && gridRows.some((r) => /no match/.test(r)), `grid: ${gridRows}`);
  assert.equal(await page.locator('.finding[data-code="addresses-differ"]').count(), 1);
  assert.match(await page.locator('tr[data-sender="dane"]').innerText(), /fails at 127\./);
  await axe(page, "check (split keys)");
  await shotBoth(page, "check-split");

  // 11. No MTA-STS: the fix is the whole policy file, to copy in one piece or download, with
  // the TXT record as one block beside it; what is right is folded away.
  await page.goto(`${base}/check/dane-ee.test`);
  await page.locator("#headline").waitFor();
  const sts = page.locator('.finding[data-code="mta-sts-missing"]');
  assert.match(await sts.locator("pre.fix-file").innerText(), /^version: STSv1\s+mode: testing\s+mx: mx\.dane-ee\.test\s+max_age: 604800/);
  assert.match(await sts.locator("pre.fix-records").innerText(), /_mta-sts\.dane-ee\.test\. IN TXT "v=STSv1; id=\d{14}"/);
  assert.equal(await sts.locator("button.copy").count(), 2, "one copy for the records, one for the file");
  assert.equal(await sts.locator('a.download[download="mta-sts.txt"]').count(), 1);
  assert.equal(await page.locator("details.ok-findings").count(), 1, "OK results folded");
  assert.ok(!(await page.locator("details.ok-findings").getAttribute("open")));
  assert.match(await page.locator("dl.glossary").innerText(), /TLSA/);
  // An ECDSA-only server turning away an RSA-only handshake is normal, and said so.
  // (in the folded "what the probe did": textContent, since folded text is not rendered)
  assert.match(await page.locator(".steps .session.normal").first().textContent(), /no RSA certificate \(normal/);
  assert.match(await page.locator("#live-status").textContent(), /^Check finished: /);
  assert.match(await page.locator("#live-count").textContent(), /\d+ of \d+ sessions done/);
  await shotBoth(page, "check-no-mta-sts");

  // 12. The colour follows the status: an enforced MTA-STS policy is green, testing amber.
  await page.goto(`${base}/check/sts-enforce.test`);
  await page.locator("#headline").waitFor();
  assert.equal(await page.locator(".headline.good").count(), 1, "enforced MTA-STS is green");
  await page.goto(`${base}/check/sts-testing.test`);
  await page.locator("#headline").waitFor();
  assert.equal(await page.locator(".headline.warn").count(), 1, "testing mode is amber");
  assert.match(await page.locator("#stripping").innerText(), /: no$/);

  // 13. The form forgives a mail address: it checks the domain and says so.
  await page.goto(base + "/");
  await page.fill("#domain", "postmaster@dane-ta.test");
  await page.click("button[type=submit]");
  await page.waitForURL("**/check/dane-ta.test");
  assert.match(await page.locator("#input-note").innerText(), /dane-ta\.test, the domain of the mail address/);
  await page.locator("#headline").waitFor();

  // 8. A domain none of whose servers could be tested: grey, says so, and claims no protection
  // it did not see; the badge agrees.
  await page.goto(`${base}/check/busy-421.test`);
  await page.locator("#headline").waitFor();
  assert.equal(await page.locator(".headline.unknown").count(), 1, "could not test is grey");
  assert.match(await page.locator("#headline").innerText(), /could be tested/);
  assert.match(await page.locator("#stripping").innerText(), /not known \(no server could be tested/);
  const untested = await (await page.request.get(`${base}/badge/busy-421.test.svg`)).text();
  assert.match(untested, /could not test/);
  await axe(page, "check (could not test)");
  await shotBoth(page, "check-not-tested");

  // 9. Bogus MX data: the report names the cause and shows no server it did not contact.
  await page.goto(`${base}/check/bad-ds.test`);
  await page.locator("#headline").waitFor();
  assert.equal(await page.locator("[data-verdict]").count(), 0, "no address was connected to");
  assert.match(await page.locator('.finding[data-code="dnssec-bogus"]').innerText(), /IN DS /);
  await shot(page, "check-bogus");

  // 14. A domain's history: two checks, newest first, each judged in the browser; the newer
  // names what changed (the server went away: unreachable added, DANE verified gone); the
  // feed is linked; the report links to the history.
  await page.goto(`${base}/d/${historyDomain}`);
  await page.locator("#timeline").waitFor({ timeout: STEP });
  assert.equal(await page.locator("#timeline > li").count(), 2, "two stored checks");
  const newest = page.locator("#timeline > li").first();
  assert.ok(await newest.locator('.change.added[data-code="smtp-unreachable"]').count() >= 1, "unreachable added");
  assert.equal(await newest.locator('.change.removed[data-code="dane-verified"]').count(), 1, "DANE verified gone");
  assert.equal(await newest.locator(".change.removed.good, .change.added.good").count() >= 1, true);
  assert.match(await page.locator("#timeline > li").nth(1).innerText(), /first stored check/);
  assert.equal(await page.locator(`a#feed[href="/d/${historyDomain}/feed.atom"]`).count(), 1);
  const feed = await page.request.get(`${base}/d/${historyDomain}/feed.atom`);
  assert.match(await feed.text(), /<entry>[\s\S]*smtp-unreachable/);
  await axe(page, "history");
  await shotBoth(page, "history");
  await newest.locator("a").first().click();
  await page.locator("#headline").waitFor();
  assert.match(await page.locator("#horizon").innerText(), /Looking ahead 30 days for certificates/);

  await (await import("./links.mjs")).links({ context, base, axe, shot, historyDomain });
  await (await import("./watch.mjs")).watch({ context, base, axe, shot, good, historyDomain });
  // 15. The TLS-RPT report reader: report files read and judged in the browser, never
  // uploaded. Reports of starttls-not-supported for GOOD (whose STARTTLS works, as its check
  // above showed) are stripping on the senders' path; a file that is not a report says why;
  // the chart has one figure per sender; a domain this server never checked is checked from
  // the page, and the probe confirms the senders' failure.
  const reports = JSON.parse(readFileSync(reportsFile, "utf8"));
  const sent = [];
  page.on("request", (r) => { if (r.method() !== "GET") sent.push(`${r.method()} ${r.url()}`); });
  await page.goto(`${base}/tls-rpt`);
  assert.equal(await page.locator("h1").innerText(), "TLS-RPT reports");
  await page.locator("#report-files").setInputFiles([...reports.stripping, reports.broken]);
  await page.locator("#inputs > li").nth(2).waitFor();
  assert.match(await page.locator("#inputs .input-error").innerText(), /broken\.json: not read\. .+/);
  assert.equal(await page.locator("#inputs .input-ok").count(), 2);
  await page.locator(".finding").first().waitFor();
  assert.match(await page.locator("#evidence-status").innerText(), new RegExp(`latest check of ${good.replace(".", "\\.")}`));
  const rptCodes = await page.locator(".finding").evaluateAll((els) => els.map((e) => e.dataset.code));
  assert.deepEqual(rptCodes, ["tlsrpt-stripping-on-path", "tlsrpt-stripping-on-path"]);
  assert.match(await page.locator("#rpt-headline").innerText(), /STARTTLS is stripped/);
  assert.ok((await page.locator("#rpt-headline").getAttribute("class")).includes("bad"), "the headline is red");
  assert.match(await page.locator(".finding").first().innerText(), /Google Inc\.|Microsoft Corporation/);
  const orgs = await page.locator("figure.chart").evaluateAll((els) => els.map((e) => e.dataset.org));
  assert.deepEqual(orgs, ["Google Inc.", "Microsoft Corporation"]);
  assert.match(await page.locator('figure.chart[data-org="Google Inc."] svg').getAttribute("aria-label"),
    /2026-11-30: 40 succeeded, 12 failed/);
  assert.match(await page.locator("#totals").innerText(), /2 reports from 2 sending organisations/);
  assert.match(await page.locator('.sender[data-org="Microsoft Corporation"]').innerText(), /9 × starttls-not-supported at mx\./);
  await axe(page, "tls-rpt");
  await shotBoth(page, "tls-rpt");
  // Keyboard: the file picker and the paste box are reachable and labelled.
  await page.locator("#report-paste").focus();
  await page.keyboard.type("{\"organization-name\": 1}");
  await page.locator("#read-paste").press("Enter");
  await page.locator("#inputs > li").nth(3).waitFor();
  assert.match(await page.locator("#inputs > li").nth(3).innerText(), /pasted report: not read/);

  await page.locator("#clear-reports").click();
  await page.locator("#report-files").setInputFiles([reports.confirmed]);
  await page.locator("#check-now").waitFor();
  assert.match(await page.locator("#evidence-status").innerText(), /has no check of/);
  await page.locator("#check-now").click();
  await page.locator('.finding[data-code="tlsrpt-failure-confirmed"]').waitFor({ timeout: 60_000 });
  assert.equal(await page.locator(".finding").count(), 1);
  assert.match(await page.locator(".finding").innerText(), /starttls-missing[\s\S]*Fix: Enable STARTTLS/);
  assert.match(await page.locator("#evidence-status").innerText(), new RegExp(`check of ${reports.confirmedDomain.replace(".", "\\.")} just made`));
  await axe(page, "tls-rpt (confirmed)");
  await shot(page, "tls-rpt-confirmed");
  assert.deepEqual(sent, [], "the reports are never uploaded: no request but GETs");

  assert.deepEqual(errors.filter((e) => !/status of 404/.test(e)), [], "no errors in the console");
  console.log("browser tests passed");
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
