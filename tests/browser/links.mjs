// Shared links, the server's limits and the icon, in real headless Chromium. Called by
// e2e.mjs (one line) with its browser context and helpers; the servers are set up by
// crates/mxtls-server/tests/e2e_browser.rs:
//
//   base           the checker (its store holds HISTORY's two checks)
//   MXTLS_QUOTA_BASE  the same app and store, one check a minute per client (429)
//   MXTLS_BUSY_BASE   the same app and store, no slot for any check (503, Retry-After 5)
//
// 1. An older shared link says when it was checked and links the newer check.
// 2. A refused start is a neutral box with the wait, counting down; the retry starts by
//    itself, never before Retry-After.
// 3. Every page links the icon; /favicon.ico answers (no 404 on any page load).

import assert from "node:assert/strict";

const STEP = 30_000;

/// Requests of `page` to `path`, as the page's own resource timing saw them (ms on its clock).
async function timings(page, path) {
  return page.evaluate((p) =>
    performance.getEntriesByType("resource")
      .filter((e) => new URL(e.name).pathname === p)
      .map((e) => ({ start: e.startTime, end: e.responseEnd })), path);
}

/// A page that collects its script errors and the 404s it meets.
async function watched(context) {
  const page = await context.newPage();
  const errors = [];
  const missing = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("response", (r) => { if (r.status() === 404) missing.push(new URL(r.url()).pathname); });
  return { page, errors, missing };
}

export async function links({ context, base, axe, shot, historyDomain }) {
  const quotaBase = process.env.MXTLS_QUOTA_BASE;
  const busyBase = process.env.MXTLS_BUSY_BASE;
  assert.ok(quotaBase && busyBase, "MXTLS_QUOTA_BASE and MXTLS_BUSY_BASE are set");

  // 1. An older snapshot of a domain checked again since: its age, and the newer check.
  const history = await (await context.request.get(`${base}/api/domains/${historyDomain}/history`)).json();
  assert.equal(history.snapshots.length, 2, "two stored checks");
  const [newest, older] = history.snapshots.map((s) => s.snapshot);
  const { page, errors, missing } = await watched(context);
  await page.goto(`${base}/r/${older}`);
  await page.locator("#headline").waitFor({ timeout: STEP });
  const taken = await page.locator("#taken").innerText();
  assert.match(taken, /^Snapshot taken \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC — checked \d+ (second|seconds|minute|minutes) ago\.$/, taken);
  const time = page.locator("#taken time");
  assert.match(await time.getAttribute("datetime"), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.match(await time.getAttribute("title"), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/, "the date on hover");
  const newer = page.locator("#newer");
  await newer.waitFor({ timeout: STEP });
  const said = await newer.innerText();
  assert.match(said, new RegExp(`^A newer check of ${historyDomain.replace(".", "\\.")} exists, made \\d+ (second|seconds|minute|minutes) ago: open it\\. ?Check again now$`), said);
  assert.equal(await newer.locator("a").getAttribute("href"), `/r/${newest}`);
  assert.equal(await newer.locator("a").innerText(), "open it");
  const classes = (await newer.getAttribute("class")).split(/\s+/);
  assert.ok(classes.includes("info") && !classes.includes("bad"), `a neutral box: ${classes}`);
  assert.equal(await newer.locator("button#check-again-now").innerText(), "Check again now");
  assert.equal(await page.locator("#latest-note").count(), 0);
  await axe(page, "snapshot (a newer check exists)");
  await shot(page, "snapshot-newer");
  // Following it opens the newer check, which is the latest.
  await newer.locator("a").click();
  await page.waitForURL(`**/r/${newest}`);
  await page.locator("#latest-note").waitFor({ timeout: STEP });
  assert.equal(await page.locator("#latest-note").innerText(), `This is the latest check of ${historyDomain} on this server.`);
  assert.equal(await page.locator("#newer").count(), 0);

  // 3. The icon: linked from every bundle's page, answered at both addresses, and no page
  // load meets a 404.
  for (const path of ["/", `/d/${historyDomain}`, "/tls-rpt"]) {
    await page.goto(base + path);
    await page.locator("#main").waitFor({ timeout: STEP });
    assert.equal(await page.locator('link[rel="icon"]').getAttribute("href"), "/favicon.svg", path);
    assert.equal(await page.locator('link[rel="icon"]').getAttribute("type"), "image/svg+xml", path);
  }
  for (const path of ["/favicon.svg", "/favicon.ico"]) {
    const icon = await context.request.get(base + path);
    assert.equal(icon.status(), 200, path);
    assert.match(icon.headers()["content-type"], /^image\/svg\+xml/, path);
    assert.match(await icon.text(), /^<svg /, path);
  }
  assert.deepEqual(missing, [], "no 404 on any page load");
  assert.deepEqual(errors, [], "no script errors");
  await page.close();

  // 2a. A client over its quota: a neutral box with the wait, counting down; no retry early.
  const quota = await watched(context);
  await quota.page.goto(`${quotaBase}/check/dual-key.test`);
  await quota.page.locator("#headline").waitFor({ timeout: 60_000 });
  const refusals = [];
  quota.page.on("response", (r) => {
    if (new URL(r.url()).pathname === "/api/check/alg-p384.test") refusals.push(r);
  });
  await quota.page.goto(`${quotaBase}/check/alg-p384.test`);
  const box = quota.page.locator("#deferred");
  await box.waitFor({ timeout: STEP });
  assert.equal(refusals.length, 1);
  assert.equal(refusals[0].status(), 429);
  const retryAfter = Number(refusals[0].headers()["retry-after"]);
  assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${retryAfter}`);
  const boxClasses = (await box.getAttribute("class")).split(/\s+/);
  assert.ok(boxClasses.includes("info") && !boxClasses.includes("bad"), `a neutral box: ${boxClasses}`);
  assert.equal(await quota.page.locator(".error-box, .bad").count(), 0, "nothing reads as the domain's failure");
  assert.equal(await box.locator("h2").innerText(), "Not started yet");
  const text = () => box.locator("#deferred-text").innerText();
  const first = await text();
  const m = first.match(/^You have started many checks; this one can start in (\d+) seconds?\.$/);
  assert.ok(m, first);
  const left = Number(m[1]);
  assert.ok(left >= 1 && left <= retryAfter, `${left} s of ${retryAfter}`);
  // It counts down.
  await quota.page.waitForFunction(
    (before) => document.getElementById("deferred-text")?.textContent !== before,
    first,
    { timeout: 5_000 },
  );
  const later = (await text()).match(/can start in (\d+) seconds?\./);
  assert.ok(later && Number(later[1]) < left, `counting down: ${await text()}`);
  assert.match(await quota.page.locator("#live-status").textContent(), /has not started yet/);
  await axe(quota.page, "check refused for now (429)");
  await shot(quota.page, "deferred");
  assert.equal(refusals.length, 1, "no retry before Retry-After");
  assert.deepEqual(quota.errors, []);
  await quota.page.close();

  // 2b. No free slot (503, Retry-After 5): the same box; the retry starts by itself, and
  // not before the wait the server asked for.
  const busy = await watched(context);
  const path = "/api/check/alg-rsa.test";
  await busy.page.goto(`${busyBase}/check/alg-rsa.test`);
  await busy.page.locator("#deferred").waitFor({ timeout: STEP });
  assert.match(await busy.page.locator("#deferred-text").innerText(),
    /^The checker is busy with other checks; this one can start in [1-5] seconds?\.$/);
  assert.ok((await busy.page.locator("#deferred").getAttribute("class")).split(/\s+/).includes("info"));
  await busy.page.waitForFunction(
    (p) => performance.getEntriesByType("resource").filter((e) => new URL(e.name).pathname === p).length >= 2,
    path,
    { timeout: 20_000 },
  );
  const [one, two] = await timings(busy.page, path);
  assert.ok(two.start - one.end >= 5_000, `retried ${Math.round(two.start - one.end)} ms after the refusal, not before Retry-After (5 s)`);
  await busy.page.locator("#deferred").waitFor({ timeout: STEP });
  assert.deepEqual(busy.errors, []);
  await busy.page.close();
  console.log("links: shared link age, refusals and icon passed");
}
