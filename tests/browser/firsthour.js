// Issue #20 in headless Chromium, run by tests/it/first_hour/pages.rs: the issue page of a
// message event with 25 breadcrumbs (the last 10 shown, "show all 25" for the rest; on a
// phone each message is on screen), its logger, server and message template, "(not set)"
// apart from "other values", an events chart without gutters; the issue list's match count
// and a bulk resolve that says what it did; the 404 page. A final "first hour ok" line means
// every check passed.
//
// Environment: ERRATA_BASE_URL, ERRATA_EMAIL, ERRATA_PASSWORD, ERRATA_ISSUE (the payment
// issue), ERRATA_PROJECT_ID, ERRATA_SCREENSHOTS, CHROMIUM.
"use strict";

const { env, check, shot, signIn, withBrowser } = require("./lib");

const base = env("ERRATA_BASE_URL");
const issue = env("ERRATA_ISSUE");
const project = env("ERRATA_PROJECT_ID");
const shots = env("ERRATA_SCREENSHOTS");

withBrowser(async (browser) => {
  const desk = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await desk.newPage();
  await signIn(page, base, env("ERRATA_EMAIL"), env("ERRATA_PASSWORD"));

  // The issue page.
  await page.goto(`${base}/issues/${issue}`);
  const shown = await page.locator("#breadcrumbs tbody tr").count();
  check(shown === 10, `the last 10 breadcrumbs are shown (${shown})`);
  const summary = (await page.textContent("#older-breadcrumbs summary")).trim();
  check(summary === "Show all 25 breadcrumbs", `"show all" names the total (${summary})`);
  check(!(await page.locator("#older-breadcrumbs tr").first().isVisible()), "older breadcrumbs start collapsed");
  check((await page.textContent("#breadcrumbs tbody tr:first-child")).includes("crumb 24"), "newest breadcrumb first");
  await page.click("#older-breadcrumbs summary");
  const older = page.locator("#older-breadcrumbs tr");
  check((await older.count()) === 15 && (await older.last().isVisible()), "show all opens the other 15");
  check((await older.last().textContent()).includes("crumb 0"), "the oldest comes last");
  check((await page.textContent("#event-logger")).trim() === "shop.payments", "the logger is shown");
  check((await page.textContent("#event-server")).trim() === "web-7", "the server name is shown");
  check((await page.textContent("#event-message")).includes("Payment ord-7 failed after 3 tries"), "the message");
  check((await page.textContent("#message-template")).includes("Payment %s failed after %d tries"), "its template");
  const params = await page.locator("#message-params tr").allTextContents();
  check(params.length === 2 && params[0].includes("ord-7") && params[1].includes("3"), `its parameters (${params})`);
  const browserFacet = await page.evaluate(() => {
    const facet = Array.from(document.querySelectorAll(".facet")).find((f) => f.querySelector("h3").textContent === "browser");
    if (!facet) return null;
    const text = (sel) => { const el = facet.querySelector(sel); return el ? el.textContent.replace(/\s+/g, " ").trim() : null; };
    return { notSet: text(".facet-not-set"), other: text(".facet-other") };
  });
  check(browserFacet && browserFacet.notSet === "(not set) 50%", `events without the tag are "(not set)" (${JSON.stringify(browserFacet)})`);
  check(browserFacet.other === null, "no \"other values\" when every value is shown");
  const gutters = await page.evaluate(() => {
    const svg = document.querySelector("svg.chart");
    const box = svg.getBoundingClientRect();
    const card = svg.closest("section").getBoundingClientRect();
    const rects = svg.querySelectorAll("rect");
    const first = rects[0].getBoundingClientRect();
    const last = rects[rects.length - 1].getBoundingClientRect();
    return { left: first.left - box.left, right: box.right - last.right, svg: box.width, card: card.width };
  });
  check(gutters.left < 4 && gutters.right < 4, `the bars reach both edges of the chart (${JSON.stringify(gutters)})`);
  check(gutters.svg > gutters.card - 60, `the chart fills its card (${JSON.stringify(gutters)})`);
  await shot(page, shots, "issue");

  // On a phone every breadcrumb's message is on screen.
  const phone = await browser.newContext({
    storageState: await desk.storageState(), viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true,
  });
  const small = await phone.newPage();
  await small.goto(`${base}/issues/${issue}`);
  const msg = await small.evaluate(() => {
    const td = document.querySelector("#breadcrumbs td.crumb-msg");
    const r = td.getBoundingClientRect();
    // Against the screen's 390 px: a mobile browser widens `innerWidth` to overflowing content.
    return { left: r.left, right: r.right, width: r.width, vw: 390,
      overflow: document.documentElement.scrollWidth - 390 };
  });
  check(msg.left >= 0 && msg.right <= msg.vw && msg.width > 250, `the message column is on a 390 px screen (${JSON.stringify(msg)})`);
  check(msg.overflow <= 1, `the issue page fits a phone (overflow ${msg.overflow} px)`);
  await small.locator("#breadcrumbs").scrollIntoViewIfNeeded();
  await shot(small, shots, "issue-phone");
  await phone.close();

  // The issue list counts matches; a bulk resolve says what it did.
  await page.goto(`${base}/projects/${project}/issues?q=boom`);
  const count = (await page.textContent("#match-count")).trim();
  check(count === "2 issues match this search.", `the search says how many matched (${count})`);
  await page.check("#select-all");
  await Promise.all([page.waitForURL(/done=resolved/), page.click("button[value=resolve]")]);
  const done = (await page.textContent("#bulk-done")).trim();
  check(done === "2 issues resolved.", `the bulk action says what it did (${done})`);
  await shot(page, shots, "bulk");

  // An unknown page is a page.
  const res = await page.goto(`${base}/projects/${project}/nope`);
  check(res.status() === 404, "unknown pages answer 404");
  check((await page.textContent("main")).includes("There is no page at"), "with a page that says so");
  await shot(page, shots, "not-found");
  await desk.close();
  console.log("first hour ok");
});
