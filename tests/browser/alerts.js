// Headless Chromium through a project's Alerts page, run by tests/it/alerts.rs against a
// seeded server (a Slack-like listener as the project's channel, one issue whose title
// carries an injection payload): the default rule is listed, a rule with two triggers, an
// environment filter and two channels is added through the form (refused first: the error is
// shown and the form keeps what was typed), edited (a threshold, one channel fewer), "send
// test" reports its channel's answer, disabling, enabling and deleting work, and no payload
// runs. A final "alerts ok" line means every step passed; the Rust side then reads the rule
// through the API.
//
// Environment: ERRATA_BASE_URL, ERRATA_EMAIL, ERRATA_PASSWORD, ERRATA_PROJECT_ID,
// ERRATA_CHANNELS (two channel ids, comma separated), ERRATA_SCREENSHOTS, CHROMIUM.
"use strict";

const { env, check, withBrowser, signIn, assertInert, shot, submit } = require("./lib");

const base = env("ERRATA_BASE_URL");
const project = env("ERRATA_PROJECT_ID");
const shots = env("ERRATA_SCREENSHOTS");

withBrowser(async (browser) => {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await signIn(page, base, env("ERRATA_EMAIL"), env("ERRATA_PASSWORD"));

  await page.goto(`${base}/projects`);
  const links = await page.$$eval("a", (as) => as.map((a) => a.getAttribute("href")));
  check(links.includes(`/projects/${project}/alerts`), `the projects page links to Alerts (${page.url()} ${links.join(" ")})`);
  await page.goto(`${base}/projects/${project}/alerts`);
  const rules = await page.$$eval("tr.rule .rule-name", (els) => els.map((e) => e.textContent));
  check(rules.length === 1 && rules[0] === "Default", `the default rule is listed (${rules.join(", ")})`);
  check(/new issue, regression/.test(await page.textContent("tr.rule")), "its triggers are in words");

  // A rule with two triggers, an environment filter and two channels; refused first (the
  // event trigger has no window): the error is shown and everything typed is still there.
  const [chanA, chanB] = env("ERRATA_CHANNELS").split(",");
  await page.fill("#rule-name", "Prod spikes");
  await page.uncheck("#rule-trigger-new_issue");
  await page.check("#rule-trigger-frequency");
  await page.fill("#rule-frequency-events", "100");
  await page.check("#rule-trigger-users");
  await page.fill("#rule-users-users", "3");
  await page.fill("#rule-users-minutes", "10");
  await page.fill("#rule-environments", "production");
  await page.uncheck("#rule-channel-all");
  await page.check(`#rule-channel-${chanA}`);
  await page.check(`#rule-channel-${chanB}`);
  await page.fill("#rule-interval", "15");
  await submit(page, "#create-rule");
  check(/minutes must be from 1/.test(await page.textContent("#alerts-error")), "a bad rule says what is wrong");
  check(await page.inputValue("#rule-name") === "Prod spikes" && await page.inputValue("#rule-frequency-events") === "100"
    && await page.inputValue("#rule-users-minutes") === "10" && await page.inputValue("#rule-environments") === "production"
    && await page.isChecked("#rule-trigger-frequency") && await page.isChecked("#rule-trigger-users")
    && !await page.isChecked("#rule-trigger-new_issue") && !await page.isChecked("#rule-channel-all")
    && await page.isChecked(`#rule-channel-${chanA}`) && await page.isChecked(`#rule-channel-${chanB}`)
    && await page.inputValue("#rule-interval") === "15", "the refused form keeps what was typed");

  await page.fill("#rule-frequency-minutes", "5");
  await submit(page, "#create-rule");
  const added = page.locator("tr.rule", { hasText: "Prod spikes" });
  check(await added.count() === 1, "the new rule is listed");
  let text = await added.textContent();
  check(/more than 100 events in 5 min, more than 3 users in 10 min/.test(text) && /environment production/.test(text)
    && text.includes(`channel #${chanA}, #${chanB}`), `the new rule reads as entered (${text})`);
  await shot(page, shots, "alerts-01-rules");

  // Edit it: a lower threshold, one channel fewer.
  await Promise.all([page.waitForNavigation(), added.locator("a.edit-rule").click()]);
  check(await page.isVisible("#edit-rule") && await page.inputValue("#rule-frequency-events") === "100"
    && await page.isChecked(`#rule-channel-${chanB}`), "the edit form shows the rule");
  await page.fill("#rule-frequency-events", "50");
  await page.uncheck(`#rule-channel-${chanB}`);
  await shot(page, shots, "alerts-02-edit");
  await submit(page, "#save-rule");
  text = await page.locator("tr.rule", { hasText: "Prod spikes" }).textContent();
  check(/more than 50 events in 5 min, more than 3 users in 10 min/.test(text) && text.includes(`channel #${chanA}`)
    && !text.includes(`#${chanB}`), `the edited rule reads as changed (${text})`);

  // Send test on the edited rule: only its remaining channel answers.
  await submit(page, "tr.rule:has-text('Prod spikes') button.send-test");
  const results = await page.$$eval("li.test-result", (els) => els.map((e) => e.textContent));
  check(results.length === 1 && /^ok/.test(results[0]) && /slack/.test(results[0]),
    `send test reports the channel (${results.join(" | ")})`);
  await assertInert(page, "alerts page after a test");
  await shot(page, shots, "alerts-03-tested");

  // Disable and enable it again; add a throwaway rule from the blank form and delete it.
  await submit(page, "tr.rule:has-text('Prod spikes') button.toggle");
  check(await page.locator("tr.rule.disabled", { hasText: "Prod spikes" }).count() === 1, "disabled");
  await submit(page, "tr.rule:has-text('Prod spikes') button.toggle");
  check(await page.locator("tr.rule.disabled").count() === 0, "enabled again");
  await page.fill("#rule-name", "Throwaway");
  await submit(page, "#create-rule");
  check(/new issue/.test(await page.locator("tr.rule", { hasText: "Throwaway" }).textContent()), "the blank form adds a rule");
  await submit(page, "tr.rule:has-text('Throwaway') button.delete");
  check(await page.locator("tr.rule", { hasText: "Throwaway" }).count() === 0, "deleted");
  console.log("alerts ok");
});
