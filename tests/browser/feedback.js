// User feedback from the real @sentry/browser in headless Chromium, then the pages that show
// it; run by tests/it/feedback.rs. Exit status 0 and a final "feedback walkthrough ok" line
// mean every step passed.
//
// 1. A page served here (127.0.0.1, its own port) loads the SDK bundle built from
//    tests/node/node_modules, captures an error, then captureFeedback about it (an XSS
//    payload in the message); then the SDK's feedback widget sends a report with no event;
//    then Sentry.showReportDialog loads Errata's crash-report dialog, which sends one more.
// 2. Signed in to Errata: the issue list counts the feedback and `has:feedback` finds the
//    issue; the issue page and the project's Feedback page show both reports, inert.
//
// Environment: ERRATA_BASE_URL, ERRATA_DSN, ERRATA_PROJECT_ID, ERRATA_EMAIL,
// ERRATA_PASSWORD, ERRATA_SDK_BUNDLE (the bundle's path), ERRATA_SCREENSHOTS, CHROMIUM.
"use strict";

const fs = require("fs");
const http = require("http");
const { env, check, launch, shot, signIn, assertInert, run } = require("./lib");

const base = env("ERRATA_BASE_URL");
const dsn = env("ERRATA_DSN");
const projectId = env("ERRATA_PROJECT_ID");
const email = env("ERRATA_EMAIL");
const password = env("ERRATA_PASSWORD");
const bundle = fs.readFileSync(env("ERRATA_SDK_BUNDLE"));
const shots = env("ERRATA_SCREENSHOTS");

const PAYLOAD = 'The pay button froze <img src=x onerror="window.__xss=1"><script>window.__xss=2</script>';

// The application under test: the SDK, an init with the feedback widget, and a function the
// test calls to report an error and the user's words about it.
const appJs = `
Sentry.init({
  dsn: ${JSON.stringify(dsn)},
  release: "browser-feedback@1.0.0",
  environment: "test",
  sendClientReports: false,
  integrations: [Sentry.feedbackIntegration({ autoInject: true, colorScheme: "light" })],
});
window.crashDialog = async function () {
  const eventId = Sentry.captureException(new Error("browser report dialog"));
  if (!(await Sentry.flush(10000))) throw new Error("event not delivered");
  await new Promise((resolve, reject) => Sentry.showReportDialog({
    eventId, user: { name: "Dialog User", email: "dialog.user@example.com" },
    title: "Oops <b>bold</b>", onLoad: resolve, onError: reject,
    onClose: () => { window.dialogClosed = true; },
  }));
  return eventId;
};
window.reportProblem = async function (message) {
  const eventId = Sentry.captureException(new Error("browser checkout failed"));
  if (!(await Sentry.flush(10000))) throw new Error("event not delivered");
  const feedbackId = Sentry.captureFeedback({
    message, name: "Browser User", email: "browser.user@example.com",
    associatedEventId: eventId, url: location.href,
  });
  if (!(await Sentry.flush(10000))) throw new Error("feedback not delivered");
  return { eventId, feedbackId };
};
`;

function serveApp() {
  const server = http.createServer((req, res) => {
    const send = (type, body) => { res.writeHead(200, { "content-type": type }); res.end(body); };
    if (req.url === "/sentry.js") return send("text/javascript", bundle);
    if (req.url === "/app.js") return send("text/javascript", appJs);
    if (req.url === "/" || req.url.startsWith("/?")) {
      return send("text/html", '<!doctype html><html><head><title>Shop</title><script src="/sentry.js"></script><script src="/app.js"></script></head><body><h1>Shop</h1></body></html>');
    }
    res.writeHead(404);
    res.end();
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

async function main() {
  const server = await serveApp();
  const appUrl = `http://127.0.0.1:${server.address().port}/`;
  const { browser, close } = await launch();
  let page;
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));

    // 1. The SDK in the application's page.
    await page.goto(appUrl);
    const ids = await page.evaluate((m) => window.reportProblem(m), PAYLOAD);
    check(/^[0-9a-f]{32}$/.test(ids.eventId) && /^[0-9a-f]{32}$/.test(ids.feedbackId),
      `captureFeedback sent feedback ${ids.feedbackId} about event ${ids.eventId}`);
    await page.getByRole("button", { name: "Report a Bug" }).click();
    await page.getByLabel("Name").fill("Widget User");
    await page.getByLabel("Email").fill("widget.user@example.com");
    await page.getByLabel("Description").fill("The widget works");
    await page.getByRole("button", { name: "Send Bug Report" }).click();
    await page.getByText("Thank you for your report!").waitFor({ timeout: 15000 });
    check(true, "the feedback widget sent a report");
    await shot(page, shots, "fb-01-widget");
    // The crash-report dialog of showReportDialog, served by Errata's /api/embed/error-page/.
    const dialogEvent = await page.evaluate(() => window.crashDialog());
    const dialog = page.locator(".errata-report-dialog");
    await dialog.waitFor();
    check((await dialog.locator("h2").textContent()) === "Oops <b>bold</b>", "the dialog shows the page's title as text");
    check((await dialog.locator("input[name=name]").inputValue()) === "Dialog User", "it is filled with the user's name");
    await dialog.locator("textarea[name=comments]").fill("I clicked pay twice");
    await dialog.locator("button[type=submit]").click();
    await dialog.getByText("Your feedback has been sent. Thank you!").waitFor({ timeout: 15000 });
    await shot(page, shots, "fb-01b-report-dialog");
    await dialog.locator("button:text-is('Close')").click();
    await page.waitForFunction(() => window.dialogClosed === true);
    check((await dialog.count()) === 0, `the crash-report dialog sent a report about ${dialogEvent} and closed`);
    check(errors.length === 0, `no page errors (${errors.join("; ")})`);

    // 2. Errata's pages, with the CSP bypassed so that escaping alone must keep payloads inert.
    const naked = await browser.newContext({ bypassCSP: true, viewport: { width: 1280, height: 900 } });
    page = await naked.newPage();
    page.on("dialog", (d) => { errors.push(`dialog ${d.message()}`); d.dismiss(); });
    await signIn(page, base, email, password);
    await page.goto(`${base}/projects/${projectId}/issues?q=${encodeURIComponent("has:feedback")}`);
    const rows = await page.locator("li.issue-row").count();
    check(rows === 2, `has:feedback finds the two issues with feedback (found ${rows})`);
    const checkout = page.locator("li.issue-row", { hasText: "browser checkout failed" });
    check((await checkout.locator("a.badge.feedback").textContent()).trim() === "1 feedback", "the list counts its feedback");
    await shot(page, shots, "fb-02-list");
    await Promise.all([page.waitForURL(/\/issues\/\d+#user-feedback$/), checkout.locator("a.badge.feedback").click()]);
    const section = page.locator("#user-feedback");
    check(await section.isVisible(), "the issue page has a user feedback section");
    const text = await section.textContent();
    check(text.includes("Browser User") && text.includes("browser.user@example.com"), "it names who wrote it");
    check(text.includes('<img src=x onerror="window.__xss=1">'), "the message shows as text, payload and all");
    check((await section.locator("a.fb-event").getAttribute("href")).endsWith(`event=${ids.eventId}`), "it links its event");
    await assertInert(page, "issue page with feedback");
    await shot(page, shots, "fb-03-issue");

    await page.goto(`${base}/projects/${projectId}/feedback`);
    const items = page.locator("li.feedback-item");
    check((await items.count()) === 3, "the Feedback page lists the three reports");
    const [dialogItem, widgetItem, sdkItem] = [items.nth(0), items.nth(1), items.nth(2)];
    check((await dialogItem.textContent()).includes("I clicked pay twice"), "the dialog's report is newest");
    check((await dialogItem.textContent()).includes("crash report"), "and is marked a crash report");
    check((await dialogItem.locator("a.fb-issue").textContent()).includes("browser report dialog"), "linked to its issue");
    check((await widgetItem.textContent()).includes("The widget works"), "the widget's report follows");
    check((await widgetItem.textContent()).includes("no event"), "the widget's report names no event");
    check((await sdkItem.locator("a.fb-issue").textContent()).includes("browser checkout failed"), "captureFeedback's links its issue");
    await assertInert(page, "Feedback page");
    await shot(page, shots, "fb-04-feedback-page");
    check(errors.length === 0, `no dialogs or page errors (${errors.join("; ")})`);
    console.log("feedback walkthrough ok");
  } catch (e) {
    if (page) await shot(page, shots, "fb-failure").catch(() => {});
    throw e;
  } finally {
    await close();
    server.close();
  }
}

run(main);
