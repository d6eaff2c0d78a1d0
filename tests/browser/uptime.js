// Headless Chromium walk through the uptime pages, run by tests/it/uptime/web.rs against a
// server seeded with a check whose name and URL carry XSS payloads and which is down (a
// 503 server on loopback). Exit status 0 and a final "uptime walk ok" line mean every step
// passed.
//
// Environment: ERRATA_BASE_URL, ERRATA_EMAIL, ERRATA_PASSWORD, ERRATA_PROJECT_ID,
// ERRATA_CHECK_ID (the seeded check), ERRATA_TARGET_URL (a healthy server for a new check),
// ERRATA_SCREENSHOTS (directory), CHROMIUM.
"use strict";

const path = require("path");
const { env, check, assertInert, launch, fitsPhone, run, screenshots, signIn } = require("./lib");

const base = env("ERRATA_BASE_URL");
const projectId = env("ERRATA_PROJECT_ID");
const checkId = env("ERRATA_CHECK_ID");
const shots = env("ERRATA_SCREENSHOTS");
const shot = screenshots(shots, "");

async function main() {
  const { browser, close } = await launch();
  let page;
  try {
    const desktop = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await desktop.newPage();
    const dialogs = [];
    page.on("dialog", (d) => { dialogs.push(d.message()); d.accept(); });

    await signIn(page, base, env("ERRATA_EMAIL"), env("ERRATA_PASSWORD"));

    // From the projects page to the project's Uptime page.
    await Promise.all([page.waitForURL(/\/uptime$/), page.click(`#project-${projectId} a:text-is("Uptime")`)]);
    const card = page.locator(`#check-${checkId}`);
    check(await card.isVisible(), "the seeded check is listed");
    check((await card.locator(".check-name").textContent()).includes("<img src=x onerror"), "its name shows as text");
    check((await card.locator(".check-status").textContent()).trim() === "down", "it is down");
    check(await card.locator(".dot.mon-error").count() === 1, "a red status dot");
    check((await card.locator(".uptime-24h").textContent()).trim() === "0.00 %", "0 % up over 24 h");
    check(await card.locator("svg.uptime-spark rect").count() === 3, "a sparkline bar per result");
    check((await card.locator(".last-error").textContent()).includes("503 Service Unavailable"), "the last error");
    await shot(page, "u1-uptime");

    // The check page: chart, incident, results.
    await Promise.all([page.waitForURL(/\/uptime\/\d+$/), card.locator(".check-name").click()]);
    check(await page.locator("svg.response-times rect").count() === 3, "the response-time chart has a bar per result");
    check(await page.locator("#incidents tr.incident").count() === 1, "the incident is listed");
    check((await page.textContent("#incidents")).includes("ongoing"), "still ongoing");
    check(await page.locator("#results tr.result").count() === 3, "the latest results");
    check((await page.textContent("#check-url")).includes("%3Csvg%20onload"), "the URL shows as stored (normalized)");
    check((await page.textContent("#check-rules")).includes("<script>window.__xss=3</script>"), "the keyword shows as text");
    await shot(page, "u2-check");

    // Escaping holds without the CSP too.
    const storage = await desktop.storageState();
    const naked = await browser.newContext({ bypassCSP: true, storageState: storage });
    const xss = await naked.newPage();
    xss.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });
    for (const [where, url] of [["uptime page", `${base}/projects/${projectId}/uptime`], ["check page", `${base}/uptime/${checkId}`]]) {
      await xss.goto(url);
      await xss.hover("h1");
      await assertInert(xss, where);
    }

    // The public status page: no sign-in, the public check by name, nothing internal.
    const anonymous = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const status = await anonymous.newPage();
    status.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });
    const res = await status.goto(`${base}/status/shop`);
    check(res.status() === 200, "the status page needs no sign-in");
    check((await status.textContent("#status-title")).trim() === "<i>Shop</i> status", "its title shows as text");
    check((await status.textContent("#status-summary")).includes("Some systems are down"), "something is down");
    check((await status.locator(".item-name").first().textContent()).includes("<img src=x onerror"), "the check's name shows as text");
    check(await status.locator("svg.days rect").count() === 90, "90 daily bars");
    check(!(await status.content()).includes("127.0.0.1"), "no URL on the page");
    await status.hover("h1");
    await assertInert(status, "status page");
    await status.screenshot({ path: path.join(shots, "u6-status.png"), fullPage: true });

    // Create a check with the form; a refused target is a clear error.
    await page.goto(`${base}/projects/${projectId}/uptime`);
    const form = page.locator("#create-check");
    await form.locator("input[name=url]").fill(env("ERRATA_TARGET_URL"));
    await form.locator("input[name=name]").fill("Browser check");
    await form.locator("input[name=interval_seconds]").fill("30");
    await Promise.all([page.waitForURL(/\/uptime\/\d+$/), form.locator("button[type=submit]").click()]);
    check((await page.textContent("#check-title")).includes("Browser check"), "created, on its page");
    check((await page.textContent("#check-status")).trim() === "unknown", "a new check is unknown");
    await shot(page, "u3-created");
    const created = page.url();

    // Edit it, pause it, resume it.
    await page.locator("#edit-check input[name=timeout_seconds]").fill("5");
    await page.locator("#edit-check input[name=keyword]").fill("healthy");
    await Promise.all([page.waitForLoadState("load"), page.click("#edit-check button[type=submit]")]);
    check((await page.textContent("#check-rules")).includes("timeout 5 s"), "edited");
    check((await page.textContent("#check-rules")).includes("healthy"), "keyword saved");
    await Promise.all([page.waitForLoadState("load"), page.click("#pause")]);
    check((await page.textContent("#check-status")).trim() === "paused", "paused");
    await Promise.all([page.waitForLoadState("load"), page.click("#resume")]);
    check(await page.isVisible("#pause"), "resumed");

    // Delete the seeded check (the confirmation is accepted).
    await page.goto(`${base}/uptime/${checkId}`);
    await Promise.all([page.waitForURL(/\/uptime$/), page.click("#delete")]);
    check(dialogs.length === 1, "one confirmation asked");
    check(!(await page.isVisible(`#check-${checkId}`)), "deleted");

    // Phone-size viewport: no horizontal scrolling.
    await fitsPhone(browser, storage, [["u4-phone-uptime", `${base}/projects/${projectId}/uptime`], ["u5-phone-check", created]], shots);
    console.log("uptime walk ok");
  } catch (e) {
    if (page) await shot(page, "u-failure").catch(() => {});
    throw e;
  } finally {
    await close();
  }
}

run(main);
