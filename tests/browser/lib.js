// What the headless-Chromium scripts share: checks that print "ok - …", launching Debian's
// chromium through playwright-core (`launch`, or `withBrowser` around a whole walk),
// screenshots, signing in, and the XSS inertness check.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { chromium } = require("playwright-core");

/** The value of environment variable `name`; throws when it is missing. */
function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`missing environment variable ${name}`);
  return v;
}

/** Throws `check failed: message` unless `cond`; prints `ok - message` otherwise. */
function check(cond, message) {
  if (!cond) throw new Error(`check failed: ${message}`);
  console.log(`ok - ${message}`);
}

/**
 * Starts headless Chromium (CHROMIUM, default /usr/bin/chromium) with its own profile and
 * cache, `extraArgs` after the suite's flags; `close()` stops it and removes them.
 */
async function launch(extraArgs = []) {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "errata-chromium-"));
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run",
      `--disk-cache-dir=${path.join(userDataDir, "cache")}`,
      ...extraArgs,
    ],
  });
  return {
    browser,
    close: async () => {
      await browser.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** A function that saves a full-page screenshot as `<dir>/<prefix><name>.png`. */
function screenshots(dir, prefix) {
  fs.mkdirSync(dir, { recursive: true });
  return (page, name) => page.screenshot({ path: path.join(dir, `${prefix}${name}.png`), fullPage: true });
}

/** A full-page screenshot `dir/name.png`. */
async function shot(page, dir, name) {
  fs.mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: true });
}

/** Signs in at `base` and waits for the page sign-in leads to. */
async function signIn(page, base, email, password) {
  await page.goto(`${base}/login`);
  await page.fill("input[name=email]", email);
  await page.fill("input[name=password]", password);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith("/login")), page.click("button[type=submit]")]);
}

// Every way a payload could run leaves a trace here: a global, a dialog, a script element,
// an event-handler attribute or a javascript: link.
async function assertInert(page, where) {
  const found = await page.evaluate(() => ({
    xss: window.__xss === undefined ? null : String(window.__xss),
    scripts: Array.from(document.scripts).map((s) => s.src || "inline"),
    handlers: Array.from(document.querySelectorAll("*")).flatMap((el) =>
      Array.from(el.attributes).filter((a) => /^on/i.test(a.name)).map((a) => `${el.tagName}.${a.name}`)),
    jsLinks: Array.from(document.querySelectorAll("[href],[src],[action]")).filter((el) =>
      /^\s*javascript:/i.test(el.getAttribute("href") || el.getAttribute("src") || el.getAttribute("action") || "")).length,
  }));
  check(found.xss === null, `${where}: no payload ran (window.__xss = ${found.xss})`);
  check(found.scripts.length === 1 && /\/static\/app\.js/.test(found.scripts[0]),
    `${where}: only our app.js is a script (${found.scripts.join(", ")})`);
  check(found.handlers.length === 0, `${where}: no event-handler attributes (${found.handlers.join(", ")})`);
  check(found.jsLinks === 0, `${where}: no javascript: URLs`);
}

/** Runs `main`, printing a failure's stack and exiting 1. */
function run(main) {
  main().catch((e) => {
    console.error(e && e.stack ? e.stack : e);
    process.exit(1);
  });
}

/**
 * Opens each `[name, url]` of `pages` on a 390 px phone screen (with `storageState`'s
 * session), checks that nothing scrolls sideways and that every header link is on the screen,
 * and saves `dir/name.png`.
 */
async function fitsPhone(browser, storageState, pages, dir) {
  const width = 390;
  const phone = await browser.newContext({ storageState, viewport: { width, height: 844 }, isMobile: true, hasTouch: true });
  const page = await phone.newPage();
  for (const [name, url] of pages) {
    await page.goto(url);
    // Against the screen's 390 px, not `innerWidth`: a mobile browser widens its layout
    // viewport to content that overflows, and then nothing seems to.
    const overflow = await page.evaluate((w) => document.documentElement.scrollWidth - w, width);
    check(overflow <= 1, `${name}: fits a 390 px screen (overflow ${overflow} px)`);
    const cut = await page.evaluate((w) => [...document.querySelectorAll("header.top a, header.top button")]
      .map((a) => [a.textContent.trim(), a.getBoundingClientRect()])
      .filter(([, r]) => r.left < 0 || r.right > w + 1)
      .map(([t, r]) => `${t} ${Math.round(r.left)}..${Math.round(r.right)}`), width);
    check(cut.length === 0, `${name}: every header link on a 390 px screen (cut: ${cut.join(", ")})`);
    await shot(page, dir, name);
  }
  await phone.close();
}

/** Clicks `selector` (a form's submit button) and waits for the page it navigates to. */
async function submit(page, selector) {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
}

/** Runs `walk(browser)` in a fresh headless Chromium (see `launch`) through `run`. */
function withBrowser(walk) {
  run(async () => {
    const { browser, close } = await launch();
    try {
      await walk(browser);
    } finally {
      await close();
    }
  });
}

module.exports = { env, check, launch, shot, screenshots, signIn, assertInert, fitsPhone, run, submit, withBrowser };
