// Helpers shared by the browser tests (e2e.mjs, phone.mjs): the accessibility audit and the
// check that a page fits its viewport.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import assert from "node:assert/strict";

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/// axe-core on `page`: no serious or critical violations.
export async function axe(page, name) {
  // page.evaluate runs through the DevTools protocol, so the page's CSP does not block it.
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(
    bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`),
    [],
    `axe on ${name}`,
  );
}

/// What sticks out of the viewport on the right: elements whose box ends beyond it and text
/// that overflows its box (which shows only in the text's own rectangles), each named by a
/// selector with its nearest ancestor that has an id. Empty when the page fits. What an
/// ancestor hides (overflow hidden or clip, a clip rectangle: text for screen readers only)
/// is not on screen; what a scrolling box (overflow auto) holds beyond the viewport is.
export async function overflowing(page) {
  return page.evaluate(() => {
    const limit = window.innerWidth + 0.5;
    // The right edge of what is visible of a box ending at `right` inside `e` (`inside`: a text
    // of e, which e's own overflow clips) or of e's own box, clipped by hiding ancestors.
    const visibleRight = (e, right, inside = false) => {
      for (let a = e; a && a !== document.body; a = a.parentElement) {
        const style = getComputedStyle(a);
        if (style.clip !== "auto") return -Infinity;
        if ((inside || a !== e) && (style.overflowX === "hidden" || style.overflowX === "clip")) {
          right = Math.min(right, a.getBoundingClientRect().right);
        }
      }
      return right;
    };
    const name = (e) => {
      const own = (x) => x.tagName.toLowerCase() + (x.id ? `#${x.id}` : "")
        + [...x.classList].map((c) => `.${c}`).join("");
      let anchor = e.parentElement;
      while (anchor && !anchor.id) anchor = anchor.parentElement;
      return anchor && anchor !== e ? `${own(anchor)} … ${own(e)}` : own(e);
    };
    const out = [];
    for (const e of document.querySelectorAll("body *")) {
      const r = e.getBoundingClientRect();
      if ((r.width > 0 || r.height > 0) && r.right > limit && visibleRight(e, r.right) > limit) {
        out.push(`${name(e)} (right edge ${Math.round(r.right)}px)`);
      }
    }
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const range = document.createRange();
      range.selectNodeContents(n);
      const r = range.getBoundingClientRect();
      if ((r.width > 0 || r.height > 0) && r.right > limit && visibleRight(n.parentElement, r.right, true) > limit) {
        out.push(`text in ${name(n.parentElement)}: "${n.textContent.trim().slice(0, 40)}"`);
      }
    }
    return out;
  });
}

/// `page` fits its viewport: nothing scrolls sideways and nothing sticks out on the right.
export async function assertFits(page, name) {
  const { scroll, inner } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    inner: window.innerWidth,
  }));
  const wide = await overflowing(page);
  assert.ok(
    scroll <= inner && wide.length === 0,
    `${name} at ${inner}px: scrollWidth ${scroll}; beyond the viewport: ${wide.slice(0, 8).join("; ") || "nothing"}`,
  );
}
