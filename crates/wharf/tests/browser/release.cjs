// A release page and a run's load test in a real browser (Debian's Chromium, headless,
// driven by playwright-core). Run by crates/wharf/tests/cli/dashboard.rs after a run that
// gated, load-tested and released, with:
//
//   WHARF_URL, WHARF_TOKEN (a viewer), WHARF_PROJECT, WHARF_RUN, WHARF_VERSION,
//   WHARF_EXCEPTION (the id of the exception that expires within the warning window),
//   WHARF_SCREENSHOTS (optional), PLAYWRIGHT_CORE.
//
// Each check prints `ok: …`; the first failure exits 1.
"use strict";
const { fail, shot, launch } = require("./common.cjs");

const url = process.env.WHARF_URL;
const project = process.env.WHARF_PROJECT;

(async () => {
  const browser = await launch();
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage();
  page.setDefaultTimeout(30000);
  page.on("dialog", (d) => fail("a dialog opened (injected script?): " + d.message()));
  const blocked = [];
  page.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) blocked.push(m.text()); });

  await page.goto(url + "/login?next=" + encodeURIComponent("/projects/" + project + "/runs/" + process.env.WHARF_RUN));
  await page.fill("#token", process.env.WHARF_TOKEN);
  await page.click("button[type=submit]");
  await page.waitForURL("**/runs/" + process.env.WHARF_RUN);

  // The histogram: an image the browser decoded (the SVG, under the page's CSP).
  const img = page.locator(".load-test img").first();
  await img.scrollIntoViewIfNeeded();
  const size = await img.evaluate((i) => i.decode().then(() => [i.naturalWidth, i.naturalHeight]));
  if (!(size[0] > 100 && size[1] > 100)) fail("the latency histogram did not render: " + size);
  console.log("ok: the run page draws the load test's histogram, " + size.join("x"));
  await shot(page, "dashboard-load-test");

  // From the run page to its release.
  await page.click("a[href$='/releases/" + process.env.WHARF_VERSION + "']");
  await page.waitForURL("**/releases/" + process.env.WHARF_VERSION);
  const row = page.locator("#exception-" + process.env.WHARF_EXCEPTION);
  const color = await row.locator("td.expiry").evaluate((td) => getComputedStyle(td).color);
  if (color !== "rgb(207, 34, 46)") fail("the expiring exception is not in red: " + color);
  console.log("ok: the expiring exception is shown in red: " + (await row.locator("td.expiry").innerText()));
  const order = await page.evaluate(() => [...document.querySelectorAll("h2")].map((h) => h.textContent));
  if (order.join("|").indexOf("Risk|What it ships|What proves it") < 0) fail("sections: " + order);
  console.log("ok: risk first, then what it ships and what proves it");
  const kinds = await page.locator("table.evidence tbody tr td:first-child").allInnerTexts();
  for (const k of ["provenance", "public-key", "sbom-spdx", "sbom-cyclonedx"]) {
    if (!kinds.includes(k)) fail("no " + k + " among " + kinds);
  }
  console.log("ok: the evidence lists " + [...new Set(kinds)].join(", "));
  await shot(page, "dashboard-release");
  if (blocked.length) fail("the CSP blocked something: " + blocked.join("; "));
  await browser.close();
  console.log("ok: all");
})().catch((e) => fail(e.stack || String(e)));
