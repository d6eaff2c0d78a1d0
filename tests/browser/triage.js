// Headless Chromium walk through team triage (issue #21), run by tests/it/triage_browser.rs
// against a seeded server: assign and "My issues", a Markdown comment full of payloads (inert)
// and its edit, resolve in the next release (an old-release event keeps it resolved, a newer
// one reopens it), ignore until N events, bulk merge and unmerge, the Events page.
// Exit status 0 and a final "triage ok" line mean every step passed.
//
// Environment: ERRATA_BASE_URL, ERRATA_EMAIL, ERRATA_PASSWORD, ERRATA_PROJECT_ID,
// ERRATA_KEY (the project's public key, to send events), ERRATA_ISSUE_A (release 1.0.0,
// function "checkout"), ERRATA_ISSUE_B (function "login"), ERRATA_SCREENSHOTS, CHROMIUM.
"use strict";

const crypto = require("crypto");
const { env, check, screenshots, signIn, withBrowser } = require("./lib");

const base = env("ERRATA_BASE_URL");
const projectId = env("ERRATA_PROJECT_ID");
const issueA = env("ERRATA_ISSUE_A");
const issueB = env("ERRATA_ISSUE_B");
const shot = screenshots(env("ERRATA_SCREENSHOTS"), "triage-");

// Sends one event the way an SDK does; resolves once the server stored it.
async function sendEvent(fn, release) {
  const id = crypto.randomUUID().replace(/-/g, "");
  const event = {
    event_id: id, platform: "python", level: "error", release, environment: "prod",
    user: { id: "u1" },
    exception: { values: [{ type: "ValueError", value: `${fn} failed`,
      stacktrace: { frames: [{ module: "app", function: fn, filename: "app.py", lineno: 3, in_app: true }] } }] },
  };
  const body = `{"event_id":"${id}"}\n{"type":"event"}\n${JSON.stringify(event)}\n`;
  const res = await fetch(`${base}/api/${projectId}/envelope/`, {
    method: "POST", body,
    headers: { "x-sentry-auth": `Sentry sentry_key=${env("ERRATA_KEY")}, sentry_version=7` },
  });
  if (res.status !== 200) throw new Error(`event not accepted: ${res.status} ${await res.text()}`);
}

async function status(page) {
  return (await page.textContent("#issue-status")).trim();
}

async function submit(page, selector) {
  await Promise.all([page.waitForLoadState("load"), page.click(selector)]);
}

withBrowser(async (browser) => {
  let page;
  try {
    const dialogs = [];
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.on("dialog", (d) => { dialogs.push(d.message()); d.accept(); });

    await signIn(page, base, env("ERRATA_EMAIL"), env("ERRATA_PASSWORD"));

    // Assign A to myself; it shows under "My issues".
    await page.goto(`${base}/issues/${issueA}`);
    await page.selectOption("#assignee", { label: env("ERRATA_EMAIL") });
    await submit(page, "#assign");
    check((await page.textContent("#activity")).includes(`assigned it to ${env("ERRATA_EMAIL")}`), "the timeline shows the assignment");
    await Promise.all([page.waitForURL(/\/my-issues$/), page.click("#nav-my-issues")]);
    check(await page.isVisible(`#my-issues a[href="/issues/${issueA}"]`), "My issues lists the assigned issue");
    await shot(page, "01-my-issues");

    // A comment full of payloads: Markdown renders, nothing runs, links are marked.
    await page.goto(`${base}/issues/${issueA}`);
    const evil = "**bold** <script>window.__xss='script'</script> <img src=x onerror=\"window.__xss='img'\">\n\n" +
      "[click](javascript:window.__xss='link') [docs](https://example.com/docs)";
    await page.fill("#comment-text", evil);
    await submit(page, "#comment-submit");
    const body = page.locator(".comment-body").last();
    check((await body.locator("strong").textContent()) === "bold", "Markdown is rendered");
    check((await body.textContent()).includes("<script>window.__xss='script'</script>"), "raw HTML shows as text");
    const found = await page.evaluate(() => {
      const c = Array.from(document.querySelectorAll(".comment-body"));
      return {
        xss: window.__xss === undefined ? null : String(window.__xss),
        scripts: c.flatMap((el) => Array.from(el.querySelectorAll("script,img,iframe,svg"))).length,
        handlers: c.flatMap((el) => Array.from(el.querySelectorAll("*")))
          .flatMap((el) => Array.from(el.attributes).filter((a) => /^on/i.test(a.name))).length,
        links: c.flatMap((el) => Array.from(el.querySelectorAll("a"))).map((a) => [a.getAttribute("href"), a.getAttribute("rel")]),
      };
    });
    check(found.xss === null, `no payload ran (window.__xss = ${found.xss})`);
    check(found.scripts === 0 && found.handlers === 0, "no script, image or handler in comments");
    check(found.links.length === 1 && found.links[0][0] === "https://example.com/docs" && found.links[0][1] === "nofollow noopener",
      `only the https link survives, with rel="nofollow noopener" (${JSON.stringify(found.links)})`);
    await page.locator("details.edit-comment summary").last().click();
    await page.locator("details.edit-comment textarea").last().fill("Fixed by *the next deploy*");
    await submit(page, "details.edit-comment[open] button[type=submit]");
    check((await page.locator(".comment-body").last().innerHTML()).includes("<em>the next deploy</em>"), "the edit shows");
    check((await page.textContent("#activity")).includes("(edited)"), "marked as edited");
    await shot(page, "02-comment");

    // Resolve in the next release: 1.0.0 is the latest, so an event of it changes nothing.
    await page.click("#resolve-menu summary");
    await submit(page, "#resolve-next-release");
    check(await status(page) === "resolved", "resolved in the next release");
    check((await page.textContent("#status-condition")).includes("next release (after 1.0.0)"), "the condition is shown");
    await sendEvent("checkout", "1.0.0");
    await page.reload();
    check(await status(page) === "resolved", "an event of 1.0.0 does not reopen it");
    await sendEvent("checkout", "1.1.0");
    await page.reload();
    check(await status(page) === "unresolved", "an event of 1.1.0 reopens it");
    check((await page.textContent("#activity")).includes("regressed: an event of release 1.1.0 reopened it"), "the timeline names the release");
    await shot(page, "03-regressed");

    // Ignore B until 2 more events.
    await page.goto(`${base}/issues/${issueB}`);
    await page.click("#ignore-menu summary");
    await page.fill("#ignore-count", "2");
    await submit(page, "#ignore-until-count");
    check(await status(page) === "ignored", "ignored until 2 more events");
    check((await page.textContent("#status-condition")).includes("until 2 more events"), "the ignore's condition is shown");
    await sendEvent("login", "1.0.0");
    await page.reload();
    check(await status(page) === "ignored", "one more event keeps it ignored");
    await sendEvent("login", "1.0.0");
    await page.reload();
    check(await status(page) === "unresolved", "the second one brings it back");
    check((await page.textContent("#activity")).includes("its ignore ran out"), "Errata's entry says why");

    // The Events page with a search.
    await Promise.all([page.waitForURL(/\/events/), page.click("#all-events")]);
    check(await page.locator("tr.event-row").count() === 3, "the Events page lists the issue's 3 events");
    await page.goto(`${base}/issues/${issueA}/events`);
    await page.fill("input[name=q]", "release:1.1.0");
    await Promise.all([page.waitForURL(/q=/), page.click("form.search button[type=submit]")]);
    check(await page.locator("tr.event-row").count() === 1, "release:1.1.0 finds one event");
    await shot(page, "04-events");

    // Merge A and B from the list, then split B's hash off again.
    await page.goto(`${base}/projects/${projectId}/issues`);
    await page.check(`input[name=issue][value="${issueA}"]`);
    await page.check(`input[name=issue][value="${issueB}"]`);
    await Promise.all([page.waitForURL(/\/issues\/\d+$/), page.click("#bulk-merge")]);
    const survivor = page.url().split("/").pop();
    check(await page.locator("#hashes li").count() === 2, `merged into #${survivor}, which has two hashes`);
    check((await page.textContent("#activity")).includes("merged"), "the timeline shows the merge");
    await shot(page, "05-merged");
    await page.locator("#hashes input[name=hash]").last().check();
    await Promise.all([page.waitForURL((u) => !u.toString().endsWith(`/issues/${survivor}`)), page.click("#unmerge")]);
    check(await page.locator("#hashes li").count() === 1, "the split-off issue has one hash");
    check((await page.textContent("#activity")).includes("split this issue off"), "and says where it came from");
    await shot(page, "06-unmerged");
    check(dialogs.length === 0, `no dialogs (${dialogs.join(", ")})`);
    console.log(`survivor ${survivor} split ${page.url().split("/").pop()}`);
    console.log("triage ok");
  } catch (e) {
    if (page) await shot(page, "failure").catch(() => {});
    throw e;
  }
});
