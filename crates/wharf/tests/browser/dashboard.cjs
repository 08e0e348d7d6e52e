// The dashboard in a real browser: Debian's Chromium, headless, driven by playwright-core
// (which never downloads a browser here: it is given /usr/bin/chromium). Run by
// crates/wharf/tests/cli/dashboard.rs, which starts `wharf serve`, pushes a pipeline and
// passes what to check in the environment:
//
//   WHARF_URL        the server            WHARF_TOKEN   an operator token
//   WHARF_PROJECT    the project           WHARF_RUN     the run to open (its `live` job waits)
//   WHARF_GO_FILE    created by this script to let the live job print its line (and
//                    GO_FILE.later, to let the job `later` end)
//   WHARF_ARTIFACT_SHA256   what the downloaded artifact must hash to
//   WHARF_SCREENSHOTS       a directory to write the main pages' screenshots to (optional)
//   PLAYWRIGHT_CORE  where playwright-core is installed
//
// Each check prints `ok: …`; the first failure exits 1 with what was on the page.
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const { fail, shot, launch } = require("./common.cjs");

const url = process.env.WHARF_URL;
const project = process.env.WHARF_PROJECT;
const run = process.env.WHARF_RUN;

(async () => {
  const browser = await launch();
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  page.setDefaultTimeout(30000);
  // Anything a page prints through alert() is an injected script: fail on it.
  page.on("dialog", (d) => fail("a dialog opened (injected script?): " + d.message()));
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));

  // Signed out: any page leads to the sign-in form, and back after it.
  await page.goto(url + "/projects/" + project);
  if (!page.url().includes("/login")) fail("not sent to /login: " + page.url());
  await page.fill("#token", process.env.WHARF_TOKEN);
  await shot(page, "dashboard-login");
  await page.click("button[type=submit]");
  await page.waitForURL("**/projects/" + project);
  console.log("ok: signed in and back on " + page.url());
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "wharf_session");
  if (!session || !session.httpOnly || session.sameSite !== "Strict") {
    fail("the session cookie is not HttpOnly + SameSite=Strict: " + JSON.stringify(session));
  }
  console.log("ok: the session cookie is HttpOnly and SameSite=Strict");
  // The commit message with a script tag is text.
  const message = await page.locator("td.commit .message").first().textContent();
  if (!message.includes("<script>")) fail("the commit message is not shown as text: " + message);
  console.log("ok: the commit message shows as text: " + message.trim());
  await shot(page, "dashboard-runs");

  // The run: its graph, the failing test by name, the artifact.
  await page.goto(url + "/projects/" + project + "/runs/" + run);
  for (let i = 0; i < 100; i++) {
    if ((await page.locator(".failed-tests .test-name").count()) > 0) break;
    await page.waitForTimeout(300);
    await page.reload();
  }
  const test = await page.locator(".failed-tests .test-name").first().textContent();
  if (!test.includes("test_total")) fail("the failing test is not named: " + test);
  console.log("ok: the failing test is named: " + test);
  const nodes = await page.locator("svg.dag a.node").count();
  if (nodes < 3) fail("the job graph has " + nodes + " jobs");
  console.log("ok: the job graph draws " + nodes + " jobs");
  await shot(page, "dashboard-run");
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.click("table.artifacts a"),
  ]);
  const file = await download.path();
  const sha = crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
  if (sha !== process.env.WHARF_ARTIFACT_SHA256) {
    fail("the artifact's sha256 is " + sha + ", not " + process.env.WHARF_ARTIFACT_SHA256);
  }
  console.log("ok: the downloaded artifact's sha256 is " + sha);

  // The run page follows the run: a job that ends now shows as ended, with no reload.
  const later = () => page.locator("#job-later .badge").textContent().then((t) => t.trim());
  for (let i = 0; i < 100 && (await later()) !== "running"; i++) {
    await page.waitForTimeout(300);
    await page.reload();
  }
  if ((await later()) !== "running") fail("the job `later` is " + (await later()) + ", not running");
  await page.evaluate(() => { window.wharfSamePage = true; });
  fs.writeFileSync(process.env.WHARF_GO_FILE + ".later", "go");
  const ended = Date.now();
  await page.waitForFunction(
    () => document.querySelector("#job-later .badge").textContent.trim() === "success");
  if (!(await page.evaluate(() => window.wharfSamePage === true))) fail("the run page was reloaded");
  console.log("ok: the run page showed `later` succeed " + (Date.now() - ended) + " ms after it could, without a reload");

  // The running job: a line printed now appears without a reload.
  await page.click("svg.dag a.node[data-job=live]");
  await page.waitForSelector("#log[data-stream]", { state: "attached" });
  await page.waitForSelector("text=waiting for the go file");
  fs.writeFileSync(process.env.WHARF_GO_FILE, "go");
  const seen = Date.now();
  await page.waitForSelector("text=LIVE-LINE-42");
  console.log("ok: the live line appeared " + (Date.now() - seen) + " ms after the step could print it");
  const coloured = await page.locator("#log pre.output span.f2").count();
  if (coloured < 1) fail("the ANSI colour of the live line is not shown");
  console.log("ok: ANSI colours are shown");
  await shot(page, "dashboard-live-log");

  // Cancel the run from its page.
  await page.goto(url + "/projects/" + project + "/runs/" + run);
  await page.click("#cancel");
  for (let i = 0; i < 100; i++) {
    const status = (await page.locator("#run-status").textContent()).trim();
    if (status === "cancelled") break;
    if (i === 99) fail("the run is " + status + " after cancelling");
    await page.waitForTimeout(300);
    await page.goto(url + "/projects/" + project + "/runs/" + run);
  }
  console.log("ok: the run was cancelled from the dashboard");
  if (errors.length) fail("script errors on the pages: " + errors.join("; "));
  await browser.close();
  console.log("ok: all");
})().catch((e) => fail(String(e && e.stack || e)));
