// Headless Chromium checks that sign-in's `next` cannot send the browser to another host, run
// by tests/it/signin.rs. Every request to a host other than the server's is blocked and
// recorded (and the resolver maps every other name to nothing), so a redirect that escapes
// shows up as a recorded request. Exit status 0 and a final "redirect ok" line mean every
// check passed.
//
// Environment: ERRATA_BASE_URL, ERRATA_EMAIL, ERRATA_PASSWORD, CHROMIUM (executable, default
// /usr/bin/chromium).
"use strict";

const { env, check, launch, run } = require("./lib");

const base = env("ERRATA_BASE_URL");
const email = env("ERRATA_EMAIL");
const password = env("ERRATA_PASSWORD");
const host = new URL(base).host;

// What attackers put in `next`, raw (the URL encodes them): a tab or newline before or after
// the slash, a backslash, dot segments, a double slash, another host or scheme.
const payloads = [
  "/\t/evil.example/x",
  "/\n/evil.example/x",
  "/\\evil.example/x",
  "/.//evil.example/x",
  "//evil.example/x",
  "https://evil.example/x",
  "javascript:alert(1)",
  "\t//evil.example/x",
];

async function main() {
  // Every other name resolves to nothing, in case a request slipped past the route below.
  const { browser, close } = await launch(["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]);
  try {
    const context = await browser.newContext();
    const escaped = [];
    await context.route("**/*", (route) => {
      const url = new URL(route.request().url());
      if (url.host === host) return route.continue();
      escaped.push(route.request().url());
      return route.abort();
    });
    const page = await context.newPage();
    const dialogs = [];
    page.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });

    // Signing in with a hostile `next` lands on this server.
    const first = payloads[0];
    await page.goto(`${base}/login?next=${encodeURIComponent(first)}`);
    await page.fill("input[name=email]", email);
    await page.fill("input[name=password]", password);
    await Promise.all([page.waitForLoadState("load"), page.click("button[type=submit]")]);
    await page.waitForLoadState("networkidle");
    check(escaped.length === 0, `sign-in with next=${JSON.stringify(first)} stays here (left for: ${escaped.join(", ")})`);
    check(new URL(page.url()).host === host, `the browser is on ${host} (${page.url()})`);
    check(new URL(page.url()).pathname === "/projects", "signed in, on the projects page");

    // Signed in, /login?next=… redirects at once: every payload stays here.
    for (const p of payloads) {
      await page.goto(`${base}/login?next=${encodeURIComponent(p)}`);
      await page.waitForLoadState("networkidle");
      check(escaped.length === 0, `signed in, next=${JSON.stringify(p)} stays here (left for: ${escaped.join(", ")})`);
      check(new URL(page.url()).host === host, `on ${host} after next=${JSON.stringify(p)} (${page.url()})`);
    }
    check(dialogs.length === 0, "no dialogs opened");

    // A legitimate local `next` is still honoured.
    await page.goto(`${base}/login?next=${encodeURIComponent("/admin/users?x=1")}`);
    check(new URL(page.url()).pathname === "/admin/users", `a local next is followed (${page.url()})`);
    console.log("redirect ok");
  } finally {
    await close();
  }
}

run(main);
