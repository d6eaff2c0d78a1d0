// Single sign-on in headless Chromium against a real OpenID provider on loopback, run by
// tests/it/sso.rs. Exit status 0 and a final "sso walkthrough ok" line mean every step passed.
//
// Alice (groups errata-admins, payments) signs in through discovery, the provider's sign-in and
// consent pages and the callback: she is created as an admin and put in team "payments". Bob,
// of a domain that is not allowed, is refused. A state or a nonce changed on the way to the
// provider is refused, and so is an ID token that has expired.
//
// Environment: ERRATA_BASE_URL, ERRATA_PROVIDER_URL, ERRATA_SCREENSHOTS, CHROMIUM.
"use strict";

const { env, check, launch, shot, run } = require("./lib");

const base = env("ERRATA_BASE_URL");
const providerUrl = env("ERRATA_PROVIDER_URL");
const shots = env("ERRATA_SCREENSHOTS");
/** The logins for which the provider asked for consent. */
const consented = [];

/**
 * Goes from Errata's sign-in page through the provider's sign-in and consent pages as `login`
 * in a fresh browser context; `tamper(url)` may rewrite the request to the provider's
 * authorization endpoint. Returns the page where the flow ended, and its status.
 */
async function ssoSignIn(browser, login, tamper) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const visited = [];
  page.on("request", (r) => { if (r.isNavigationRequest()) visited.push(`${r.method()} ${r.url()}`); });
  if (tamper) {
    // Errata's redirect to the provider is rewritten on its way to the browser (Playwright
    // does not intercept the redirected request itself); its cookies pass through.
    const isStart = (url) => url.origin === base && url.pathname === "/login/sso/test";
    await page.route(isStart, async (route) => {
      const response = await route.fetch({ maxRedirects: 0 });
      const headers = response.headers();
      headers.location = tamper(headers.location);
      await route.fulfill({ response, headers });
    });
  }
  await page.goto(`${base}/login`);
  await Promise.all([
    page.waitForURL((u) => u.toString().startsWith(providerUrl)),
    page.click("a:text('Sign in with Test SSO')"),
  ]);
  await page.fill("input[name=login]", login);
  await page.fill("input[name=password]", "any password");
  const callback = page.waitForResponse((r) => r.url().startsWith(`${base}/login/sso/test/callback`), { timeout: 60000 });
  callback.catch(() => {});
  await page.click("button:text-is('Sign-in')");
  // The provider asks for consent the first time an account meets the client (each test runs
  // in a fresh browser session, so every time).
  const consent = page.locator("button:text-is('Continue')");
  const first = await Promise.race([
    callback.then(() => "callback"),
    consent.waitFor({ timeout: 60000 }).then(() => "consent"),
  ]).catch(async (e) => {
    const html = await page.content();
    const code = (html.match(/ERR_[A-Z_]+/) || [""])[0];
    throw new Error(`stuck at ${page.url()} ${code} after ${visited.join(" -> ")}: ${html.slice(0, 300)} (${e})`);
  });
  check(first === "consent", `the provider asks ${login} for consent before the callback`);
  check((await page.content()).includes("openid"), "naming the scopes asked for");
  consented.push(login);
  await consent.click();
  const final = await callback;
  await page.waitForLoadState("load");
  return { context, page, status: final.status() };
}

function withParam(name, value) {
  return (url) => {
    const u = new URL(url);
    u.searchParams.set(name, value);
    return u.toString();
  };
}

async function main() {
  const { browser, close } = await launch();
  try {
    // Alice: discovery, redirect, sign-in, consent, callback, a new admin in team payments.
    const alice = await ssoSignIn(browser, "alice@corp.example");
    const said = async (p) => (await p.locator("body").innerText()).replace(/\s+/g, " ").slice(0, 400);
    check(alice.status === 303, `the callback signs Alice in (${alice.status} ${alice.status === 303 ? "" : await said(alice.page)})`);
    check(new URL(alice.page.url()).pathname === "/projects", "and lands on the projects page");
    check((await alice.page.content()).includes("alice@corp.example"), "signed in as Alice");
    await alice.page.goto(`${base}/account`);
    check((await alice.page.content()).includes("admin"), "her group made her an admin");
    await shot(alice.page, shots, "sso-01-alice");
    await alice.context.close();

    // Bob's domain is not allowed.
    const bob = await ssoSignIn(browser, "bob@other.example");
    check(bob.status === 403, `a disallowed domain is refused (${bob.status})`);
    check((await bob.page.content()).includes("its domain is not allowed"), "and told why");
    await shot(bob.page, shots, "sso-02-domain");
    await bob.context.close();

    // A state changed on the way: the callback's state is not this browser's.
    const state = await ssoSignIn(browser, "carol@corp.example", withParam("state", "tampered-state"));
    check(state.status === 400, `a tampered state is refused (${state.status})`);
    check((await state.page.content()).includes("state does not match"), "as a state mismatch");
    await state.context.close();

    // A nonce changed on the way: the ID token carries another nonce than the one sent.
    const nonce = await ssoSignIn(browser, "carol@corp.example", withParam("nonce", "tampered-nonce"));
    check(nonce.status === 400, `a tampered nonce is refused (${nonce.status})`);
    check((await nonce.page.content()).includes("ID token is not valid"), "as an invalid ID token");
    await nonce.context.close();

    // An ID token that has expired (5 s tokens, Errata's clock ahead).
    const late = await ssoSignIn(browser, "late@corp.example");
    check(late.status === 400, `an expired ID token is refused (${late.status})`);
    check((await late.page.content()).toLowerCase().includes("expired"), "as expired");
    await shot(late.page, shots, "sso-03-expired");
    await late.context.close();

    check(consented.length === 5, `every sign-in went through the consent page (${consented.join(", ")})`);
    console.log("sso walkthrough ok");
  } finally {
    await close();
  }
}

run(main);
