// The Teams page in headless Chromium, run by tests/it/teams.rs. Exit status 0 and a final
// "teams walkthrough ok" line mean every step passed.
//
// The owner opens Teams from the header, creates a team whose name is markup (shown as text),
// is told a taken name is taken, adds two members and removes one, attaches two projects and
// detaches one, and creates and deletes a second team.
//
// Environment: ERRATA_BASE_URL, ERRATA_EMAIL, ERRATA_PASSWORD, ERRATA_MEMBER, ERRATA_VIEWER,
// ERRATA_PROJECT, ERRATA_SCREENSHOTS, CHROMIUM.
"use strict";

const { env, check, launch, shot, signIn, assertInert, run } = require("./lib");

const base = env("ERRATA_BASE_URL");
const member = env("ERRATA_MEMBER");
const viewer = env("ERRATA_VIEWER");
const project = env("ERRATA_PROJECT");
const shots = env("ERRATA_SCREENSHOTS");
const markup = "<b>payments</b><img src=x onerror=\"window.__xss=1\">";

async function main() {
  const { browser, close } = await launch();
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const dialogs = [];
    page.on("dialog", (d) => { dialogs.push(d.message()); d.accept(); });
    await signIn(page, base, env("ERRATA_EMAIL"), env("ERRATA_PASSWORD"));
    const submit = (locator) => Promise.all([page.waitForLoadState("load"), locator.click()]);

    await Promise.all([page.waitForURL(/\/admin\/teams$/), page.click("header nav a:text-is('Teams')")]);
    check((await page.locator("#no-teams").count()) === 1, "no teams at first");
    await page.fill("#new-team input[name=name]", markup);
    await submit(page.locator("#new-team button[type=submit]"));
    const team = page.locator("section.team", { hasText: "payments" });
    check((await team.locator("h2").textContent()) === markup, "the name is shown as text");
    check((await team.locator("h2 b, h2 img").count()) === 0, "not as markup");
    await assertInert(page, "teams page");

    await page.fill("#new-team input[name=name]", markup);
    await submit(page.locator("#new-team button[type=submit]"));
    check((await page.locator("p.error").textContent()).includes("already"), "a taken name is refused");

    for (const who of [member, viewer]) {
      await team.locator("form.add-member select").selectOption({ label: who });
      await submit(team.locator("form.add-member button"));
    }
    const members = () => team.locator("ul.members li");
    check((await members().allTextContents()).join(" ").includes(member), "the member is in");
    await submit(members().filter({ hasText: viewer }).locator("button:text-is('Remove')"));
    const left = (await members().allTextContents()).join(" ");
    check(left.includes(member) && !left.includes(viewer), `the viewer is out again (${left})`);

    for (const name of [project, "beta"]) {
      await team.locator("form.add-project select").selectOption({ label: name });
      await submit(team.locator("form.add-project button"));
    }
    await submit(team.locator("ul.projects li", { hasText: project }).locator("button:text-is('Detach')"));
    const projects = (await team.locator("ul.projects li").allTextContents()).join(" ");
    check(projects.includes("beta") && !projects.includes(project), `beta stays, ${project} is detached (${projects})`);
    await shot(page, shots, "teams-01");

    await page.fill("#new-team input[name=name]", "doomed");
    await submit(page.locator("#new-team button[type=submit]"));
    const doomed = page.locator("section.team", { hasText: "doomed" });
    await submit(doomed.locator("button:text-is('Delete team')"));
    check(dialogs.some((d) => d.includes("doomed")), "deleting asks first");
    check((await page.locator("section.team", { hasText: "doomed" }).count()) === 0, "the team is gone");
    await context.close();
    console.log("teams walkthrough ok");
  } finally {
    await close();
  }
}

run(main);
