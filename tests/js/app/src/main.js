// Entry point of the test app: installs the SDK, then wires the button to checkout.
import * as Sentry from "@sentry/browser";
import { startCheckout } from "./checkout.js";

const config = window.ERRATA_TEST;
Sentry.init({
  dsn: config.dsn,
  release: config.release,
  environment: "production",
  defaultIntegrations: false,
  integrations: [Sentry.dedupeIntegration(), Sentry.httpContextIntegration(), Sentry.linkedErrorsIntegration()],
});

export async function runTest() {
  let eventId = null;
  try {
    startCheckout({ items: [{ sku: "A-1", qty: 2 }], coupon: config.coupon });
  } catch (err) {
    eventId = Sentry.captureException(err);
  }
  await Sentry.flush(5000);
  return eventId;
}

window.runTest = runTest;
