// The real @sentry/node sends an error and then the user's feedback about it
// (captureFeedback with associatedEventId), run by tests/it/feedback.rs against a test server.
// Prints one JSON line {"event_id", "feedback_id"} and exits 0 once both were delivered.
//
// Environment: ERRATA_DSN, ERRATA_MESSAGE (the feedback text).
"use strict";

const Sentry = require("@sentry/node");

const dsn = process.env.ERRATA_DSN;
if (!dsn) throw new Error("missing ERRATA_DSN");

async function main() {
  Sentry.init({
    dsn,
    release: "node-feedback@1.0.0",
    environment: "test",
    tracesSampleRate: 0,
    sendClientReports: false,
  });
  const eventId = Sentry.captureException(new Error("node checkout failed"));
  // The event is stored (and acknowledged) before the feedback is sent, so the feedback is
  // linked as it arrives; feedback that comes first is tested with raw envelopes.
  if (!(await Sentry.flush(10000))) throw new Error("the event was not delivered");
  const feedbackId = Sentry.captureFeedback({
    message: process.env.ERRATA_MESSAGE || "The checkout button did nothing",
    name: "Node User",
    email: "node.user@example.com",
    url: "https://shop.example.com/checkout",
    associatedEventId: eventId,
  });
  if (!(await Sentry.flush(10000))) throw new Error("the feedback was not delivered");
  console.log(JSON.stringify({ event_id: eventId, feedback_id: feedbackId }));
  await Sentry.close(2000);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
