//! Ingestion: the Sentry envelope and store endpoints (sentry-protocol.md sections 2–4).
//!
//! Per request: authenticate → read the body within the size limit → undo
//! `Content-Encoding` (limit enforced while inflating) → frame the envelope → parse the event
//! leniently → normalize → group → queue for the group-commit [`writer`] → answer once the
//! event is committed. Everything an SDK can be told about (auth, size, framing, JSON) is
//! checked before answering; other item types are accepted and dropped.

pub mod decode;
mod endpoints;
mod event;
pub mod keys;
pub mod writer;

pub use endpoints::router;
pub use writer::{SubmitError, Writer};
