// Account management in headless Chromium, run by tests/it/accounts.rs. Exit status 0 and a
// final "accounts walkthrough ok" line mean every step passed.
//
// The admin creates an API token (shown once, then only its last four characters), revokes
// it, makes the member an admin and back, and makes a password reset link; the member, in
// another browser, sets a password with the link, is refused the admin pages, and changes
// their password on the account page; the admin's audit log shows all of it.
//
// Environment: ERRATA_BASE_URL, ERRATA_EMAIL, ERRATA_PASSWORD, ERRATA_MEMBER,
// ERRATA_MEMBER_PASSWORD, ERRATA_SCREENSHOTS, CHROMIUM.
"use strict";

const { env, check, launch, shot, signIn, run } = require("./lib");

const base = env("ERRATA_BASE_URL");
const email = env("ERRATA_EMAIL");
const password = env("ERRATA_PASSWORD");
const member = env("ERRATA_MEMBER");
const memberPassword = env("ERRATA_MEMBER_PASSWORD");
const shots = env("ERRATA_SCREENSHOTS");

async function main() {
  const { browser, close } = await launch();
  let page;
  try {
    const dialogs = [];
    const adminContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await adminContext.newPage();
    // Revoke and delete forms ask first (app.js): accept.
    page.on("dialog", (d) => { dialogs.push(d.message()); d.accept(); });
    await signIn(page, base, email, password);

    // API tokens: created, shown once, usable, then only its hint; revoked.
    await Promise.all([page.waitForURL(/\/admin\/tokens$/), page.click("header nav a:text-is('API tokens')")]);
    await page.fill("input[name=name]", "browser token");
    await Promise.all([page.waitForLoadState("load"), page.click("form.card button[type=submit]")]);
    const secret = await page.inputValue("#token-secret");
    check(/^errata_[0-9a-f]{40}$/.test(secret), "the new token is shown");
    const api = await fetch(`${base}/api/v1/projects`, { headers: { authorization: `Bearer ${secret}` } });
    check(api.status === 200, "the token works on the API");
    await shot(page, shots, "acc-01-token-created");
    await page.goto(`${base}/admin/tokens`);
    const html = await page.content();
    check(!html.includes(secret), "the token is not shown again");
    const row = page.locator("#tokens tr", { hasText: "browser token" });
    check((await row.textContent()).includes(`…${secret.slice(-4)}`), "its last four characters are");
    check(!(await row.locator("td.last-used").textContent()).includes("never"), "its last use is shown");
    await Promise.all([page.waitForLoadState("load"), row.locator("button:text-is('Revoke')").click()]);
    check((await page.locator("#tokens tr", { hasText: "browser token" }).count()) === 0, "revoked, it is gone");
    const revoked = await fetch(`${base}/api/v1/projects`, { headers: { authorization: `Bearer ${secret}` } });
    check(revoked.status === 401, "a revoked token is refused");

    // Users: role there and back, a reset link for the member.
    await Promise.all([page.waitForURL(/\/admin\/users$/), page.click("header nav a:text-is('Users')")]);
    const memberRow = () => page.locator("#users tr", { hasText: member });
    await Promise.all([page.waitForLoadState("load"), memberRow().locator("button:text-is('Make admin')").click()]);
    check((await memberRow().locator("td.role").textContent()).trim() === "admin", "the member is now an admin");
    await Promise.all([page.waitForLoadState("load"), memberRow().locator("button:text-is('Make member')").click()]);
    check((await memberRow().locator("td.role").textContent()).trim() === "member", "and a member again");
    check((await page.locator("#users tr", { hasText: email }).locator("button").count()) === 0, "no buttons on one's own row");
    await Promise.all([page.waitForLoadState("load"), memberRow().locator("button:text-is('Reset password')").click()]);
    const link = await page.inputValue("#reset-url");
    check(link.startsWith(`${base}/reset/`), "a one-time reset link is shown");
    await shot(page, shots, "acc-02-users-reset-link");

    // The member, in their own browser: the link, the admin pages refused, their password.
    const memberContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const mpage = await memberContext.newPage();
    await mpage.goto(link);
    check((await mpage.textContent("#reset-form")).includes(member), "the link names the member");
    await mpage.fill("input[name=password]", "reset password 42");
    await mpage.fill("input[name=repeat]", "reset password 42");
    await Promise.all([mpage.waitForURL(/\/projects$/), mpage.click("#reset-form button[type=submit]")]);
    check(true, "the new password is set and the member signed in");
    const again = await mpage.goto(link);
    check(again.status() === 404, "the link works once");
    for (const path of ["/admin/tokens", "/admin/users", "/admin/audit"]) {
      const res = await mpage.goto(`${base}${path}`);
      check(res.status() === 403, `a member is refused ${path}`);
    }
    check((await mpage.locator("header nav a:text-is('API tokens')").count()) === 0, "no admin links for members");
    await mpage.goto(`${base}/projects`);
    await Promise.all([mpage.waitForURL(/\/account$/), mpage.click("header a.who")]);
    await mpage.fill("input[name=current]", "reset password 42");
    await mpage.fill("input[name=password]", "changed password 43");
    await mpage.fill("input[name=repeat]", "changed password 43");
    await Promise.all([mpage.waitForLoadState("load"), mpage.click("#password-form button[type=submit]")]);
    check(await mpage.isVisible("#password-changed"), "the member changed their password");
    await shot(mpage, shots, "acc-03-account");
    await mpage.context().clearCookies();
    await signIn(mpage, base, member, "changed password 43");
    check(new URL(mpage.url()).pathname === "/projects", "and signs in with it");
    check(memberPassword !== "changed password 43", "(the old password was another)");

    // The audit log.
    await Promise.all([page.waitForURL(/\/admin\/audit$/), page.click("header nav a:text-is('Audit log')")]);
    // Sign-ins are in the log too; this walk follows the changes.
    const actions = (await page.locator("code.audit-action").allTextContents()).filter((a) => !a.startsWith("user.sign_in"));
    check(actions.join(",") === "user.password_change,user.password_reset,user.password_reset_link,user.role,user.role,token.revoke,token.create",
      `the audit log lists every change, newest first (${actions.join(", ")})`);
    await page.selectOption("select[name=action]", "user.role");
    await Promise.all([page.waitForURL(/action=user\.role/), page.click("button:text-is('Filter')")]);
    check((await page.locator("code.audit-action").count()) === 2, "filtered by action");
    await shot(page, shots, "acc-04-audit");
    check(dialogs.length === 1 && dialogs[0].includes("browser token"), `one confirmation, for the revoke (${dialogs.join("; ")})`);
    console.log("accounts walkthrough ok");
  } catch (e) {
    if (page) await shot(page, shots, "acc-failure").catch(() => {});
    throw e;
  } finally {
    await close();
  }
}

run(main);
