// Bundles the real @sentry/browser from node_modules into one script that defines
// `window.Sentry`, for the headless-Chromium feedback test (tests/browser/feedback.js).
// Usage: node bundle-browser.js OUT.js
"use strict";

const path = require("path");
const esbuild = require("esbuild");

const out = process.argv[2];
if (!out) throw new Error("usage: node bundle-browser.js OUT.js");
esbuild.buildSync({
  stdin: {
    contents: 'import * as Sentry from "@sentry/browser"; window.Sentry = Sentry;',
    resolveDir: __dirname,
    sourcefile: "sentry-browser-entry.js",
  },
  bundle: true,
  format: "iife",
  target: "es2020",
  outfile: out,
  logLevel: "warning",
});
console.log(path.resolve(out));
