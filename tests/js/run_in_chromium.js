// Loads a built test app (tests/js/app, bundled by esbuild) in headless Chromium from an HTTP
// server on 127.0.0.1, lets it throw and report through the real @sentry/browser, and prints
// `event <id>` per event. Run by tests/it/sourcemaps.rs.
//
// Environment: ERRATA_DIST (directory with app.min.js), ERRATA_DSN, ERRATA_RELEASE (optional),
// ERRATA_STATIC_PREFIX (URL path the bundle is served under, default /static),
// ERRATA_SCREENSHOT (optional PNG path of the issue page), ERRATA_ISSUE_URL + ERRATA_EMAIL +
// ERRATA_PASSWORD (optional: sign in and open that page, print what it shows),
// CHROMIUM (executable, default /usr/bin/chromium).
"use strict";

const fs = require("fs");
const http = require("http");
const os = require("os");
const path = require("path");
const { chromium } = require("playwright-core");

const dist = process.env.ERRATA_DIST;
const dsn = process.env.ERRATA_DSN;
const release = process.env.ERRATA_RELEASE || undefined;
const prefix = process.env.ERRATA_STATIC_PREFIX || "/static";
if (!dist || !dsn) throw new Error("ERRATA_DIST and ERRATA_DSN are required");

function page(config) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>shop</title>
<script>window.ERRATA_TEST = ${JSON.stringify(config)};</script>
<script src="${prefix}/app.min.js"></script></head><body><button id="buy">Buy</button></body></html>`;
}

function serve() {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://127.0.0.1");
    if (url.pathname === "/") {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(page({ dsn, release, coupon: null }));
      return;
    }
    if (url.pathname.startsWith(prefix + "/")) {
      const file = path.join(dist, path.basename(url.pathname));
      if (fs.existsSync(file)) {
        res.writeHead(200, { "content-type": "application/javascript" });
        res.end(fs.readFileSync(file));
        return;
      }
    }
    res.writeHead(404);
    res.end();
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

async function main() {
  const server = await serve();
  const base = `http://127.0.0.1:${server.address().port}`;
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "errata-js-"));
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--no-first-run", `--disk-cache-dir=${path.join(userDataDir, "cache")}`],
  });
  try {
    const context = await browser.newContext();
    const tab = await context.newPage();
    const errors = [];
    tab.on("pageerror", (e) => errors.push(String(e)));
    const sent = [];
    tab.on("response", (r) => { if (r.url().includes("/envelope/")) sent.push(r.status()); });
    await tab.goto(`${base}/`);
    const id = await tab.evaluate(async () => {
      const eventId = window.runTest();
      return eventId;
    });
    // The SDK sends asynchronously; wait until the envelope was answered.
    await tab.waitForResponse((r) => r.url().includes("/envelope/"), { timeout: 20000 }).catch(() => {});
    for (let i = 0; i < 100 && sent.length === 0; i++) await tab.waitForTimeout(100);
    if (errors.length) console.log(`page errors: ${errors.join(" | ")}`);
    console.log(`envelope statuses ${sent.join(",")}`);
    console.log(`event ${id}`);
    if (process.env.ERRATA_ISSUE_URL) {
      const issue = await context.newPage();
      await issue.goto(process.env.ERRATA_ISSUE_URL);
      if (new URL(issue.url()).pathname === "/login") {
        await issue.fill("input[name=email]", process.env.ERRATA_EMAIL);
        await issue.fill("input[name=password]", process.env.ERRATA_PASSWORD);
        await Promise.all([issue.waitForLoadState("load"), issue.click("button[type=submit]")]);
        await issue.goto(process.env.ERRATA_ISSUE_URL);
      }
      const shown = await issue.evaluate(() => ({
        frames: Array.from(document.querySelectorAll(".frame summary")).map((s) => s.textContent.replace(/\s+/g, " ").trim()),
        current: Array.from(document.querySelectorAll(".frame .source li.current")).map((l) => l.textContent.trim()),
        minified: Array.from(document.querySelectorAll(".frame .minified")).map((m) => m.textContent.replace(/\s+/g, " ").trim()),
        notes: Array.from(document.querySelectorAll(".frame .sourcemap-note")).map((n) => n.textContent.trim()),
        contexts: Array.from(document.querySelectorAll("h3")).map((h) => h.textContent.trim()),
      }));
      console.log(`issue page ${JSON.stringify(shown)}`);
      if (process.env.ERRATA_SCREENSHOT) {
        await issue.screenshot({ path: process.env.ERRATA_SCREENSHOT, fullPage: true });
      }
    }
  } finally {
    await browser.close();
    server.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
