// Headless Chromium walk through the issue browser, run by tests/it/browser.rs against a
// seeded server. Exit status 0 and a final "walkthrough ok" line mean every step passed.
//
// Environment: ERRATA_BASE_URL, ERRATA_EMAIL, ERRATA_PASSWORD, ERRATA_PROJECT (name),
// ERRATA_SEARCH (text finding the issue), ERRATA_ISSUE_TITLE (text of its title),
// ERRATA_XSS_ISSUE (id of the issue full of payloads), ERRATA_SCREENSHOTS (directory),
// CHROMIUM (executable, default /usr/bin/chromium).
"use strict";

const { env, check, screenshots, assertInert, fitsPhone, withBrowser } = require("./lib");

const base = env("ERRATA_BASE_URL");
const email = env("ERRATA_EMAIL");
const password = env("ERRATA_PASSWORD");
const projectName = env("ERRATA_PROJECT");
const search = env("ERRATA_SEARCH");
const issueTitle = env("ERRATA_ISSUE_TITLE");
const xssIssue = env("ERRATA_XSS_ISSUE");
const shot = screenshots(env("ERRATA_SCREENSHOTS"), "");

async function signIn(page, pass) {
  await page.goto(`${base}/projects`);
  check(new URL(page.url()).pathname === "/login", "without a session /projects goes to sign-in");
  await page.fill("input[name=email]", email);
  await page.fill("input[name=password]", pass);
  await Promise.all([page.waitForLoadState("load"), page.click("button[type=submit]")]);
}

withBrowser(async (browser) => {
  let page;
  try {
    const dialogs = [];
    const desktop = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await desktop.newPage();
    page.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });

    // Sign in: a wrong password first, then the right one.
    await signIn(page, "wrong password!");
    check(await page.isVisible("#login-error"), "a wrong password shows an error");
    check((await page.textContent("#login-error")).includes("Wrong e-mail or password"), "the error says why");
    await shot(page, "01-login-error");
    await page.fill("input[name=email]", email);
    await page.fill("input[name=password]", password);
    await Promise.all([page.waitForURL(/\/projects/), page.click("button[type=submit]")]);
    check(new URL(page.url()).pathname === "/projects", "signed in, on the projects page");
    await shot(page, "02-projects");

    // Open the project, find the issue by search, open it.
    await Promise.all([page.waitForURL(/\/issues/), page.click(`a:has-text("${projectName}") >> nth=0`)]);
    check(/\/projects\/\d+\/issues/.test(page.url()), "opened the project's issue list");
    await page.fill("input[name=q]", search);
    await Promise.all([page.waitForURL(/q=/), page.click("form.search button[type=submit]")]);
    const rows = await page.locator("li.issue-row").count();
    check(rows === 1, `search "${search}" finds exactly one issue (found ${rows})`);
    await shot(page, "03-search");
    await Promise.all([page.waitForURL(/\/issues\/\d+$/), page.click(`li.issue-row a.title`)]);
    const title = await page.textContent("#issue-title");
    check(title.includes(issueTitle), `issue page shows the title (${title.trim()})`);

    // Stack trace with locals, source context and breadcrumbs.
    const appFrame = page.locator("details.frame.in-app").first();
    check(await appFrame.evaluate((d) => d.open), "the in-app frame is expanded");
    check(await appFrame.locator("table.vars").isVisible(), "local variables are visible");
    check((await appFrame.locator("table.vars").textContent()).includes("card_last4"), "locals list card_last4");
    check((await appFrame.locator("ol.source li.current").textContent()).includes("raise PaymentDeclined"),
      "the error line is highlighted");
    const libFrame = page.locator("details.frame:not(.in-app)").first();
    check(!(await libFrame.evaluate((d) => d.open)), "library frames are collapsed");
    check((await page.textContent("#breadcrumbs")).includes("user logged in"), "breadcrumbs are shown");
    check(await page.isVisible("#why-grouped"), "the why-grouped panel is shown");
    await shot(page, "04-issue");

    // Resolve it: it leaves the unresolved tab and shows under resolved.
    const issueUrl = page.url();
    await Promise.all([page.waitForLoadState("load"), page.click("#resolve")]);
    check((await page.textContent("#issue-status")).trim() === "resolved", "the issue is resolved");
    await Promise.all([page.waitForURL(/\/issues(\?|$)/), page.click(".crumbs a:has-text('Issues')")]);
    check(!(await page.isVisible(`a.title:has-text("${issueTitle}")`)), "it left the unresolved tab");
    await shot(page, "05-unresolved-after-resolve");
    await Promise.all([page.waitForURL(/[?&]status=resolved(&|$)/), page.click(".tabs a:text-is('Resolved')")]);
    check(await page.isVisible(`a.title:has-text("${issueTitle}")`), "it is listed under resolved");
    check(dialogs.length === 0, "no dialogs opened");

    // XSS, with the CSP switched off so that escaping alone must hold.
    const storage = await desktop.storageState();
    const naked = await browser.newContext({ bypassCSP: true, storageState: storage, viewport: { width: 1280, height: 900 } });
    const xssPage = await naked.newPage();
    xssPage.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });
    await xssPage.goto(`${base}/issues/${xssIssue}`);
    check((await xssPage.textContent("#issue-title")).includes("<script>"), "payload shows as text in the title");
    await xssPage.locator("details.frame").first().evaluate((d) => { d.open = true; });
    await xssPage.hover("table.vars");
    await assertInert(xssPage, "XSS issue page");
    await shot(xssPage, "06-xss-issue");
    await xssPage.goto(`${base}/projects/1/issues?q=${encodeURIComponent("XssError")}`);
    await assertInert(xssPage, "XSS issue list");
    check(dialogs.length === 0, "no dialogs opened by payloads");

    // Phone-size viewport: no horizontal scrolling on the list and issue pages.
    await fitsPhone(browser, storage, [["07-phone-list", `${base}/projects/1/issues?status=resolved`], ["08-phone-issue", issueUrl], ["09-phone-projects", `${base}/projects`]], env("ERRATA_SCREENSHOTS"));
    console.log("walkthrough ok");
  } catch (e) {
    if (page) await shot(page, "failure").catch(() => {});
    throw e;
  }
});
