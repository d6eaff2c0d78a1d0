//! The Sentry wire model: envelope framing, authentication data, DSNs, lenient JSON and the
//! small newtypes (event ids, levels) shared by every later stage.
//!
//! Source: `shared/docs/sentry-protocol.md` sections 1–5 (after Relay's `relay-server/src/envelope`
//! and `relay-event-schema`).

pub mod auth;
pub mod dsn;
pub mod envelope;
pub mod json;

mod ids;
mod level;

pub use ids::{EventId, ParseEventIdError};
pub use level::Level;

/// The recorded Python SDK payloads (`shared/fixtures/python`), for tests.
#[cfg(test)]
pub(crate) const PYTHON_FIXTURES: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/python");
