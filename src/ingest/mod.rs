//! Ingestion: the Sentry envelope and store endpoints (sentry-protocol.md sections 2–4).
//!
//! One path for both endpoints (`endpoints`): read the project id and credentials, and check
//! them before the body (`request`, `auth`: no credentials, no body read, except the first
//! line of an uncompressed envelope whose header may carry a `dsn`) → take a place, per client
//! address and in total ([`gate`], [`writer`]; 429 when full) → read the body within the size
//! limit, the body-rate rule and the bytes-in-flight budget, and undo its `Content-Encoding`
//! on the blocking pool, the limit and budget enforced while inflating (`body`, [`decode`]) →
//! frame the envelope, a legacy `/store/` event becoming a one-item envelope → check the
//! envelope header's `dsn` → dispatch every item by type ([`items`]): an `event` is parsed
//! leniently, normalized, grouped and queued for the group-commit [`writer`], and the request
//! is answered once it is committed; other types are accepted and dropped, counted and
//! logged. Everything an SDK can be told about (auth, size, framing, event JSON) is checked
//! before answering; every refusal is an [`IngestError`], and refusals for an unavailable
//! storage are logged as an [`outage`], the others as [`rejections`] (WARN, limited per reason). Beside them, `embed` serves Sentry's crash-report
//! dialog, whose reports are stored like `user_report` items, and HTTP check-ins of cron
//! monitors have their own endpoint ([`cron`]).

mod auth;
mod body;
pub mod budget;
pub mod cron;
pub mod decode;
mod embed;
mod endpoints;
mod error;
pub mod gate;
pub mod heavy;
pub mod items;
pub mod keys;
pub mod outage;
pub mod rejections;
mod request;
pub mod writer;

pub use error::IngestError;
pub use gate::Gate;
pub use items::ItemState;
pub use outage::Outage;
pub use writer::{SubmitError, Writer};

/// Routes of ingestion: the envelope and store endpoints, HTTP check-ins ([`cron`]) and the
/// crash-report dialog (`embed`, `/api/embed/error-page/`).
pub fn router() -> axum::Router<crate::AppState> {
    endpoints::router()
        .merge(cron::router())
        .merge(embed::router())
}
