// Headless Chromium walk through the monitor pages, run by tests/it/monitors/web.rs against a
// server seeded with a monitor whose name, environment and release carry XSS payloads. Exit
// status 0 and a final "monitors walk ok" line mean every step passed.
//
// Environment: ERRATA_BASE_URL, ERRATA_EMAIL, ERRATA_PASSWORD, ERRATA_PROJECT_ID,
// ERRATA_MONITOR_ID (the seeded monitor), ERRATA_SCREENSHOTS (directory), CHROMIUM.
"use strict";

const { env, check, assertInert, launch, fitsPhone, run, screenshots, signIn } = require("./lib");

const base = env("ERRATA_BASE_URL");
const projectId = env("ERRATA_PROJECT_ID");
const monitorId = env("ERRATA_MONITOR_ID");
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

    // From the projects page to the project's monitors.
    await Promise.all([page.waitForURL(/\/monitors$/), page.click(`#project-${projectId} a:text-is("Monitors")`)]);
    const card = page.locator(`#monitor-${monitorId}`);
    check(await card.isVisible(), "the seeded monitor is listed");
    check((await card.locator(".monitor-name").textContent()).includes("<b onmouseover"), "its name shows as text");
    check((await card.locator(".monitor-status").textContent()).trim() === "Missed", "its status is Missed");
    check(await card.locator("svg.strip rect").count() === 30, "a strip of the last 30 check-ins");
    check((await card.textContent()).includes("Every hour"), "the schedule in words");
    check((await card.locator("table.envs td").first().textContent()).includes("<svg onload"), "the environment shows as text");
    await shot(page, "m1-monitors");

    // The monitor page: chart, history pages, incidents.
    await Promise.all([page.waitForURL(/\/monitors\/\d+$/), card.locator(".monitor-name").click()]);
    check(await page.locator("svg.durations rect").count() > 20, "the duration chart has a bar per check-in");
    check(await page.locator("tr.checkin").count() === 25, "a page of check-ins");
    check(await page.isVisible("#incidents"), "the incident is listed");
    await shot(page, "m2-monitor");
    await Promise.all([page.waitForURL(/cursor=/), page.click("#older-checkins")]);
    check(await page.locator("tr.checkin").count() === 5, "the older check-ins");

    // Escaping holds without the CSP too.
    const storage = await desktop.storageState();
    const naked = await browser.newContext({ bypassCSP: true, storageState: storage });
    const xss = await naked.newPage();
    xss.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });
    for (const [where, url] of [["monitors page", `${base}/projects/${projectId}/monitors`], ["monitor page", `${base}/monitors/${monitorId}`]]) {
      await xss.goto(url);
      await xss.hover("h1");
      await assertInert(xss, where);
    }

    // Create a monitor with the form.
    await page.goto(`${base}/projects/${projectId}/monitors`);
    const form = page.locator("#create-monitor");
    await form.locator("input[name=slug]").fill("browser-job");
    await form.locator("input[name=name]").fill("Browser job");
    await form.locator("input[name=crontab]").fill("*/15 * * * *");
    await form.locator("input[name=timezone]").fill("Europe/Berlin");
    await Promise.all([page.waitForURL(/\/monitors\/\d+$/), form.locator("button[type=submit]").click()]);
    check((await page.textContent("#monitor-title")).includes("Browser job"), "created, on its page");
    check((await page.textContent("#monitor-status")).trim() === "Waiting for first check-in", "a new monitor waits");
    await shot(page, "m3-created");
    const created = page.url();

    // Edit it, pause it, resume it.
    await page.locator("#edit-monitor input[name=max_runtime]").fill("20");
    await Promise.all([page.waitForLoadState("load"), page.click("#edit-monitor button[type=submit]")]);
    check((await page.textContent("#monitor-schedule")).includes("max runtime 20 min"), "edited");
    await Promise.all([page.waitForLoadState("load"), page.click("#pause")]);
    check((await page.textContent("#monitor-status")).trim() === "Paused", "paused");
    await Promise.all([page.waitForLoadState("load"), page.click("#resume")]);
    check(await page.isVisible("#pause"), "resumed");

    // Delete the seeded monitor (the confirmation is accepted).
    await page.goto(`${base}/monitors/${monitorId}`);
    await Promise.all([page.waitForURL(/\/monitors$/), page.click("#delete")]);
    check(dialogs.length === 1, "one confirmation asked");
    check(!(await page.isVisible(`#monitor-${monitorId}`)), "deleted");

    // Phone-size viewport: no horizontal scrolling.
    await fitsPhone(browser, storage, [["m4-phone-monitors", `${base}/projects/${projectId}/monitors`], ["m5-phone-monitor", created]], shots);
    console.log("monitors walk ok");
  } catch (e) {
    if (page) await shot(page, "m-failure").catch(() => {});
    throw e;
  } finally {
    await close();
  }
}

run(main);
