// The real @sentry/node against Errata: two jobs wrapped in Sentry.withMonitor with their
// monitor configs, one that succeeds and one that throws. Run by tests/it/monitors/sdk.rs
// with ERRATA_DSN; prints "node crons ok" when the SDK flushed.
"use strict";

const Sentry = require("@sentry/node");

Sentry.init({
  dsn: process.env.ERRATA_DSN,
  environment: "production",
  release: "node-jobs@1.0",
  tracesSampleRate: 0,
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  await Sentry.withMonitor("node-job", async () => { await sleep(50); }, {
    schedule: { type: "crontab", value: "*/10 * * * *" },
    timezone: "Europe/Berlin",
    checkinMargin: 2,
    maxRuntime: 5,
    failureIssueThreshold: 2,
  });
  try {
    await Sentry.withMonitor("node-failing", async () => { throw new Error("node job failed"); }, {
      schedule: { type: "interval", value: 1, unit: "day" },
    });
  } catch (e) {
    // withMonitor re-throws what the job threw.
  }
  const flushed = await Sentry.flush(10000);
  if (!flushed) throw new Error("the SDK did not flush");
  console.log("node crons ok");
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
