// Watches from the pages, in real headless Chromium. Called by e2e.mjs (one line) with its
// browser context and helpers; the server (crates/mxtls-server/tests/e2e_browser.rs) allows
// loopback webhooks and sends no mail.
//
// 1. The live report, a shared /r/ link, the history page and the widget link the domain's
//    watch page (/d/<domain>/watch) and the reports its Atom feed.
// 2. The watch page is plain HTML: no script runs, axe finds nothing serious, refused input
//    comes back with the reason, and its form makes a webhook watch in Chromium (a
//    same-origin form post) whose unsubscribe page ends it with a button.

import assert from "node:assert/strict";

const STEP = 30_000;

export async function watch({ context, base, axe, shot, good, historyDomain }) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const watchPath = (d) => `/d/${d}/watch`;

  // 1. Every way to a report leads to the watch page.
  const history = await (await context.request.get(`${base}/api/domains/${historyDomain}/history`)).json();
  await page.goto(`${base}/r/${history.snapshots[0].snapshot}`);
  await page.locator("#headline").waitFor({ timeout: STEP });
  assert.equal(await page.locator("#watch-link").getAttribute("href"), watchPath(historyDomain), "shared link");
  assert.equal(await page.locator("#watch-link").innerText(), "Tell me when this changes");
  assert.equal(await page.locator("#feed-link").getAttribute("href"), `/d/${historyDomain}/feed.atom`);
  await page.locator("#watch-link").click();
  await page.waitForURL(`**${watchPath(historyDomain)}`);
  await page.locator("#watch-form").waitFor({ timeout: STEP });

  await page.goto(`${base}/check/${good}`);
  await page.locator("#headline").waitFor({ timeout: STEP });
  assert.equal(await page.locator("#watch-link").getAttribute("href"), watchPath(good), "check page");
  assert.equal(await page.locator("#feed-link").getAttribute("href"), `/d/${good}/feed.atom`);

  await page.goto(`${base}/d/${historyDomain}`);
  await page.locator("#timeline").waitFor({ timeout: STEP });
  assert.equal(await page.locator("#watch-link").getAttribute("href"), watchPath(historyDomain), "history page");
  await page.locator("#watch-link").click();
  await page.locator("#watch-form").waitFor({ timeout: STEP });

  await page.goto(`${base}/widget/${good}`);
  await page.locator(".widget-headline").waitFor({ timeout: STEP });
  assert.equal(await page.locator("#widget-watch").getAttribute("href"), watchPath(good), "widget");
  assert.equal(await page.locator("#widget-watch").getAttribute("target"), "_blank", "out of the frame");

  // 2. The watch page itself: plain, accessible, readable on a phone.
  await page.goto(base + watchPath(good));
  await page.locator("#watch-form").waitFor({ timeout: STEP });
  assert.equal(await page.locator("script").count(), 0, "no script");
  assert.equal(await page.locator("h1").innerText(), `Tell me when ${good} changes`);
  assert.equal(await page.locator("#feed").getAttribute("href"), `/d/${good}/feed.atom`);
  assert.equal(await page.locator("#email").count(), 0, "this server sends no mail: no address field");
  assert.ok(await page.locator('link[rel="stylesheet"]').count() === 1, "the app's stylesheet");
  await axe(page, "watch page");
  await shot(page, "watch");
  await page.setViewportSize({ width: 390, height: 844 });
  assert.ok(
    await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth),
    "nothing overflows a phone's width",
  );
  await shot(page, "watch-phone");
  await page.setViewportSize({ width: 1280, height: 900 });

  // Refused: the reason, and the input kept.
  await page.locator("#webhook").fill("ftp://hooks.example/x");
  await page.locator('button[type="submit"]').click();
  await page.locator("#watch-error").waitFor({ timeout: STEP });
  assert.match(await page.locator("#watch-error").innerText(), /http:\/\/ or https:\/\//);
  assert.equal(await page.locator("#webhook").inputValue(), "ftp://hooks.example/x");
  await axe(page, "watch page (refused)");

  // Made: a same-origin form post, the id and how to end the watch.
  await page.locator("#webhook").fill("http://127.0.0.1:9/hook");
  await page.locator('button[type="submit"]').click();
  await page.locator("#watch-made").waitFor({ timeout: STEP });
  const id = await page.locator("#watch-id").innerText();
  assert.match(id, /^[0-9a-f]{32}$/);
  await axe(page, "watch made");
  await page.locator("#unsubscribe").click();
  await page.waitForURL(`**/api/watches/${id}/unsubscribe`);
  assert.match(await page.locator("main").innerText(), new RegExp(`stop the webhook notices about ${good.replace(".", "\\.")}`));
  await axe(page, "unsubscribe page");
  await page.locator('button[type="submit"]').click();
  await page.locator("#ended").waitFor({ timeout: STEP });
  const again = await context.request.post(`${base}/api/watches/${id}/unsubscribe`);
  assert.equal(again.status(), 404, "the watch is gone");
  assert.deepEqual(errors, [], "no script errors");
  await page.close();
  console.log("ok: watch pages");
}
