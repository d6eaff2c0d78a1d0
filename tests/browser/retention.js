// Headless Chromium through the data-lifecycle pages, run by tests/it/retention.rs against a
// seeded server: the issue page's "showing the newest N of M", "delete and discard future
// events", the project settings (limits, the discarded issue and its undo, deleting the
// project) and /admin/retention. A final "retention ok" line means every step passed.
//
// Environment: ERRATA_BASE_URL, ERRATA_EMAIL, ERRATA_PASSWORD, ERRATA_PROJECT_ID,
// ERRATA_PRUNED_ISSUE (id of an issue with pruned events), ERRATA_DOOMED_PROJECT_ID and
// ERRATA_DOOMED_PROJECT (id and name of a project to delete), ERRATA_SCREENSHOTS, CHROMIUM.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { chromium } = require("playwright-core");

const given = {};
for (const name of ["ERRATA_BASE_URL", "ERRATA_EMAIL", "ERRATA_PASSWORD", "ERRATA_PROJECT_ID",
  "ERRATA_PRUNED_ISSUE", "ERRATA_DOOMED_PROJECT_ID", "ERRATA_DOOMED_PROJECT", "ERRATA_SCREENSHOTS"]) {
  if (!process.env[name]) throw new Error(`${name} is not set`);
  given[name.replace("ERRATA_", "").toLowerCase()] = process.env[name];
}
const { base_url: base, project_id: project, pruned_issue: pruned } = given;
const { doomed_project_id: doomedId, doomed_project: doomed, screenshots: shots } = given;
fs.mkdirSync(shots, { recursive: true });

const check = (ok, what) => {
  if (!ok) throw new Error(`not so: ${what}`);
  console.log(`ok - ${what}`);
};

async function submit(page, selector) {
  await Promise.all([page.waitForLoadState("load"), page.waitForNavigation(), page.click(selector)]);
}

async function main() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "errata-retention-"));
  const flags = "--headless --no-sandbox --disable-gpu --disable-background-networking " +
    "--disable-component-update --disable-sync --no-first-run";
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [...flags.split(" "), `--disk-cache-dir=${path.join(profile, "cache")}`],
  });
  try {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    const confirms = [];
    page.on("dialog", (d) => { confirms.push(d.message()); d.accept(); });
    await page.goto(`${base}/login`);
    await page.fill("input[name=email]", given.email);
    await page.fill("input[name=password]", given.password);
    await submit(page, "button[type=submit]");

    // The issue whose events were pruned says so, and its counts include every event.
    await page.goto(`${base}/issues/${pruned}`);
    const note = await page.textContent("#pruned-note");
    check(/Showing the newest 3 of 8 events/.test(note), `pruned issue: "${note.trim().slice(0, 40)}…"`);
    await page.screenshot({ path: path.join(shots, "retention-01-issue.png"), fullPage: true });

    // Delete and discard future events: confirmed, then back on the issue list.
    await submit(page, "#discard");
    check(confirms.length === 1 && /drop its future events/.test(confirms[0]), "discard asks first");
    check(new URL(page.url()).pathname === `/projects/${project}/issues`, "discard returns to the list");

    // Project settings: set limits, see the discarded issue, undo it.
    await page.goto(`${base}/projects/${project}/settings`);
    await page.fill("#retention_days", "30");
    await page.fill("#max_events_per_issue", "50");
    await page.fill("#rate_limit", "120");
    await submit(page, "#save-settings");
    check((await page.textContent("#current-days")).trim() === "30 days", "retention saved");
    check((await page.textContent("#current-rate")).trim() === "120 events/min", "rate limit saved");
    await page.fill("#rate_limit", "lots");
    await submit(page, "#save-settings");
    check(/--rate-limit/.test(await page.textContent("#settings-error")), "a bad value is refused with a reason");
    await page.goto(`${base}/projects/${project}/settings`);
    check(await page.locator("li.discarded").count() === 1, "the discarded issue is listed");
    await page.screenshot({ path: path.join(shots, "retention-02-settings.png"), fullPage: true });
    await submit(page, "li.discarded button");
    check(await page.locator("li.discarded").count() === 0, "undo removes it");

    // The admin page shows the database and the passes.
    await page.goto(`${base}/admin/retention`);
    check(/\d/.test(await page.textContent("#database-size")), "database size shown");
    check(await page.locator("#runs tbody tr").count() >= 1, "passes listed");
    await page.screenshot({ path: path.join(shots, "retention-03-admin.png"), fullPage: true });

    // Deleting a project needs its name typed again.
    await page.goto(`${base}/projects/${doomedId}/settings`);
    await page.fill("#confirm-name", "not it");
    await submit(page, "#delete-project-button");
    check(/Type the project's name/.test(await page.textContent("#settings-error")), "a wrong name is refused");
    await page.fill("#confirm-name", doomed);
    await submit(page, "#delete-project-button");
    check(new URL(page.url()).pathname === "/projects", "deleted: back to the projects");
    check(!(await page.content()).includes(`id="project-${doomedId}"`), "the project is gone from the list");
    console.log("retention ok");
  } finally {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
