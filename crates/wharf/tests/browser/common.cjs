// What the browser scripts share: failing with what was wrong, screenshots on request,
// and Debian's Chromium, headless, launched by playwright-core (which never downloads a
// browser here) with nothing that would reach out to the network.
"use strict";
const path = require("path");

function fail(what) {
  console.error("FAILED: " + what);
  process.exit(1);
}

async function shot(page, name) {
  const shots = process.env.WHARF_SCREENSHOTS;
  if (shots) await page.screenshot({ path: path.join(shots, name + ".png"), fullPage: true });
}

async function launch() {
  const { chromium } = require(process.env.PLAYWRIGHT_CORE);
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
}

module.exports = { fail, shot, launch };
