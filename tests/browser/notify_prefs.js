// Headless Chromium through one's own e-mail settings, run by tests/it/alerts_more.rs: the
// account page links to "E-mail notifications", where the signed-in user (subscribed to the
// project by the test) unticks it and saves; on the issue page "Mute for me" mutes the issue
// and turns into "Unmute". A final "prefs ok" line means every step passed.
//
// Environment: ERRATA_BASE_URL, ERRATA_EMAIL, ERRATA_PASSWORD, ERRATA_PROJECT_ID,
// ERRATA_ISSUE_ID, ERRATA_SCREENSHOTS, CHROMIUM.
"use strict";

const { env, check, withBrowser, signIn, shot, submit } = require("./lib");

const base = env("ERRATA_BASE_URL");
const project = env("ERRATA_PROJECT_ID");
const issue = env("ERRATA_ISSUE_ID");
const shots = env("ERRATA_SCREENSHOTS");

withBrowser(async (browser) => {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await signIn(page, base, env("ERRATA_EMAIL"), env("ERRATA_PASSWORD"));

  await page.goto(`${base}/account`);
  await Promise.all([page.waitForNavigation(), page.click("#notification-settings")]);
  check(page.url().endsWith("/account/notifications"), `the account page links to the settings (${page.url()})`);
  const box = `#project-${project}`;
  check(await page.isChecked(box), "the project the user subscribed to is ticked");
  await page.uncheck(box);
  await submit(page, "#save-prefs");
  check(await page.isVisible("#prefs-saved"), "saving says so");
  check(!(await page.isChecked(box)), "the project stays unticked after saving");
  await shot(page, shots, "notification-settings");

  await page.goto(`${base}/issues/${issue}`);
  check((await page.textContent("#mute")).trim() === "Mute for me", "the issue page offers to mute");
  await submit(page, "#mute");
  check((await page.textContent("#mute")).trim() === "Unmute", "muted, the button unmutes");
  await shot(page, shots, "issue-muted");
  console.log("prefs ok");
});
