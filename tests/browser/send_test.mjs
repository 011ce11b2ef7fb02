// The sender test page in Chromium: /send-test starts a test, /send-test/TOKEN lists the
// addresses and follows the receivers live. This script is the sender for two test domains
// (plain SMTP over node's net: the stripped STARTTLS and the cleartext control); the page
// must show their verdicts as they come, leave the others waiting, say so in its summary,
// keep it all on a shared link, pass axe and fit a phone.
//
// usage: node send_test.mjs BASE SHOTS STRIPPED_ADDR NO_STARTTLS_ADDR   (ADDR: ip:port)

import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import net from "node:net";
import { axe, assertFits } from "./lib.mjs";

const [base, shots, stripped, plain] = process.argv.slice(2);

/// One SMTP session: EHLO, MAIL, RCPT `rcpt`, DATA; the EHLO reply and the last reply.
function send(addr, rcpt) {
  const [host, port] = addr.split(/:(?=\d+$)/);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), host);
    const script = ["EHLO browser.tester.test", "MAIL FROM:<postmaster@tester.test>", `RCPT TO:<${rcpt}>`,
      "DATA", "Subject: mxtls sender test\r\n\r\nhello\r\n.", "QUIT"];
    const replies = [];
    let buffer = "";
    socket.setTimeout(20000, () => { socket.destroy(); reject(new Error(`${addr}: no answer`)); });
    socket.on("data", (chunk) => {
      buffer += chunk.toString();
      // A reply ends with a line "NNN text"; continuation lines are "NNN-text".
      while (/^\d{3} .*\r\n/m.test(buffer)) {
        const end = buffer.search(/^\d{3} .*\r\n/m);
        const line = buffer.slice(end).split("\r\n")[0];
        replies.push(buffer.slice(0, end) + line);
        buffer = buffer.slice(end + line.length + 2);
        const next = script.shift();
        if (next) socket.write(`${next}\r\n`);
      }
    });
    socket.on("close", () => resolve(replies));
    socket.on("error", reject);
  });
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const fail = async (e) => { await browser.close(); throw e; };
try {
  const page = await browser.newPage({ viewport: { width: 960, height: 900 } });
  await page.goto(`${base}/send-test`);
  await page.click("#send-test-start");
  await page.waitForURL(/\/send-test\/[a-z2-7]{26}$/, { timeout: 15000 });
  const token = page.url().split("/").pop();
  const addresses = await page.textContent("#send-test-addresses");
  for (const label of ["dane-valid", "dane-mismatch", "dnssec-no-tlsa", "sts-enforce", "sts-wrong-name",
    "starttls-broken", "starttls-stripped", "no-starttls"]) {
    assert.ok(addresses.includes(`${token}@${label}.sender.test`), `address at ${label}: ${addresses}`);
  }
  // Nothing sent yet: every test domain waits, and nothing is judged broken.
  assert.equal(await page.locator("#send-test-published").count(), 0, "the world's zone is published correctly");
  const outcomes = async () => page.$$eval("tr[data-case]", (rows) =>
    Object.fromEntries(rows.map((r) => [r.dataset.case, r.querySelector("[data-outcome]").dataset.outcome])));
  assert.deepEqual(new Set(Object.values(await outcomes())), new Set(["waiting"]));

  const strippedReplies = await send(stripped, `${token}@starttls-stripped.sender.test`);
  assert.ok(strippedReplies[1].includes("XXXXXXXA") && !strippedReplies[1].includes("STARTTLS"), strippedReplies[1]);
  const plainReplies = await send(plain, `${token}@no-starttls.sender.test`);
  assert.ok(plainReplies.some((r) => r.startsWith("250 2.0.0")), plainReplies.join("\n"));

  // The page polls: the two verdicts arrive without a reload.
  await page.waitForFunction(() => {
    const o = (c) => document.querySelector(`tr[data-case="${c}"] [data-outcome]`)?.dataset.outcome;
    return o("starttls-stripped") === "bad" && o("no-starttls") === "neutral";
  }, null, { timeout: 20000 });
  const now = await outcomes();
  assert.deepEqual(now, {
    "dane-valid": "waiting", "dane-mismatch": "waiting", "dnssec-no-tlsa": "waiting",
    "sts-enforce": "waiting", "sts-wrong-name": "waiting", "starttls-broken": "waiting",
    "starttls-stripped": "bad", "no-starttls": "neutral",
  });
  const summary = await page.textContent("#send-test-summary");
  assert.ok(summary.includes("sends in cleartext when STARTTLS is stripped"), summary);
  assert.ok(!summary.includes("validates DANE") && !summary.includes("falls back"), summary);
  const row = await page.textContent('tr[data-case="starttls-stripped"]');
  assert.ok(row.includes("127.0.0.1"), `the connection's source: ${row}`);
  await axe(page, "send-test");
  await page.screenshot({ path: `${shots}/send-test.png`, fullPage: true });

  // The shared link, opened fresh on a phone, shows the same.
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 } });
  await phone.goto(`${base}/send-test/${token}`);
  await phone.waitForSelector('tr[data-case="starttls-stripped"] [data-outcome="bad"]', { timeout: 15000 });
  assert.deepEqual(await phone.$$eval("tr[data-case]", (rows) =>
    Object.fromEntries(rows.map((r) => [r.dataset.case, r.querySelector("[data-outcome]").dataset.outcome]))), now);
  await assertFits(phone, "send-test at 390 px");
  await axe(phone, "send-test (phone)");
  await phone.screenshot({ path: `${shots}/send-test-phone.png`, fullPage: true });

  // A token that is not one: a clear error, not an empty table.
  await phone.goto(`${base}/send-test/bbbbbbbbbbbbbbbbbbbbbbbbbb`);
  await phone.waitForSelector("#send-test-error", { timeout: 15000 });
  const error = await phone.textContent("#send-test-error");
  assert.ok(error.includes("no sender test with this link"), error);
  console.log(`send-test: ${token}: ${JSON.stringify(now)}`);
} catch (e) {
  await fail(e);
}
await browser.close();
