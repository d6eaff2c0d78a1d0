//! [`IngestError`]: every way an ingest request fails, with the status and message the SDK is
//! shown (sentry-protocol.md 3.3) and the `reason` label of `errata_events_rejected_total`.
//!
//! Rendering goes through [`ApiError`], so ingest errors have the same JSON shape
//! (`{"detail", "causes"}`), `X-Sentry-Error`, `Accept-Encoding` on 415 and `Retry-After` +
//! `X-Sentry-Rate-Limits` on 429 as every other error of the server.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::protocol::auth::AuthError;
use crate::protocol::dsn::ParseDsnError;
use crate::protocol::envelope::EnvelopeError;
use crate::store::StoreError;

use super::decode::DecodeError;

/// Why an ingest request was refused. Nothing of a refused request is stored.
///
/// Status by variant: 400 malformed input, 401 no usable credentials, 403 credentials not
/// allowed here, 408 a body too slow, 413 over a size limit, 415 unsupported
/// `Content-Encoding`, 429 overloaded, 503 storage unavailable, 500 a bug. 5xx details are
/// logged, not returned.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The URL's project id is not a number (400).
    #[error("project id {0:?} is not a number")]
    InvalidProjectId(String),
    /// The credentials name a `sentry_version` newer than this server speaks (400).
    #[error("{0}")]
    UnsupportedVersion(#[source] AuthError),
    /// Credentials that cannot be parsed, or sources naming different keys (401).
    #[error("invalid authentication: {0}")]
    InvalidAuth(#[source] AuthError),
    /// No credentials anywhere (401); holds the places the request could have used.
    #[error("missing authentication: send {0}")]
    MissingAuth(&'static str),
    /// A `Content-Encoding` header that is not ASCII (415).
    #[error("Content-Encoding is not ASCII")]
    EncodingNotAscii,
    /// The body on the wire is larger than `limit` bytes (413).
    #[error("request body is larger than the limit of {limit} bytes")]
    BodyTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The body arrived slower than `[http]` allows (408; the connection is closed).
    #[error("{0}")]
    BodyTooSlow(#[source] crate::http::min_rate::BodyTooSlow),
    /// The connection failed while the body was read (400).
    #[error("could not read the request body: {0}")]
    BodyUnreadable(#[source] axum::BoxError),
    /// A `Content-Encoding` or legacy `/store/` encoding that could not be undone: 415 for an
    /// unsupported coding, 413 over the limit, 400 for corrupt data.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The body is not a well-formed envelope: 400, or 413 for too many items.
    #[error("invalid envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    /// The envelope header's `dsn` does not parse: 401 when it was the only credential, else 400.
    #[error("invalid dsn in envelope header: {source}")]
    InvalidHeaderDsn {
        /// The parse error.
        source: ParseDsnError,
        /// True when the request carried no other credentials.
        only_credential: bool,
    },
    /// The envelope header's `dsn` names another key or project than the request (400).
    #[error("the envelope header's dsn does not match the request's key or project")]
    DsnMismatch,
    /// The envelope header's `dsn`, the only credential, names another project than the URL (400).
    #[error("the envelope header's dsn names another project than the URL")]
    DsnOtherProject,
    /// No such public key (403).
    #[error("unknown public key")]
    UnknownKey,
    /// The public key is another project's (403).
    #[error("the public key belongs to another project")]
    KeyOfAnotherProject,
    /// The public key is disabled (403).
    #[error("the public key is disabled")]
    KeyDisabled,
    /// The project is disabled (403).
    #[error("the project is disabled")]
    ProjectDisabled,
    /// One item's payload is over its limit (413); `item` is its type.
    #[error("{item} item is {size} bytes, more than the limit of {limit}")]
    ItemTooLarge {
        /// The item type (`event`).
        item: &'static str,
        /// The payload size, in bytes.
        size: usize,
        /// The limit, in bytes.
        limit: usize,
    },
    /// The event payload is not JSON (400).
    #[error("event is not valid JSON: {0}")]
    InvalidEventJson(#[source] serde_json::Error),
    /// The event payload is JSON but not an object (400).
    #[error("event must be a JSON object")]
    EventNotObject,
    /// A `feedback` or `user_report` item that cannot be stored (400): `item` is its type,
    /// `why` what is wrong with it.
    #[error("invalid {item} item: {why}")]
    InvalidFeedback {
        /// The item type.
        item: &'static str,
        /// What is wrong.
        why: String,
    },
    /// A `check_in` item that does not parse, or names a bad field (400).
    #[error("invalid check-in: {0}")]
    InvalidCheckIn(#[source] crate::monitors::cron::CheckInError),
    /// No room: the ingest queue is full (429); the SDK should retry after `retry_after_secs`.
    #[error("server is busy: the ingest queue is full, retry later")]
    Overloaded {
        /// Seconds for `Retry-After`.
        retry_after_secs: u64,
    },
    /// The project sent more events this minute than its rate limit allows (429 with
    /// `X-Sentry-Rate-Limits: <secs>:error:project`); retry when the minute is over.
    #[error("the project's rate limit of events per minute is reached, retry later")]
    RateLimited {
        /// Seconds until the window ends, for `Retry-After`.
        retry_after_secs: u64,
    },
    /// The client's address has `ingest.max_per_address` requests in progress (429).
    #[error("too many requests in progress from your address, retry later")]
    AddressBusy {
        /// Seconds for `Retry-After`.
        retry_after_secs: u64,
    },
    /// The bytes of requests in flight are at `ingest.max_bytes_in_flight` (429).
    #[error("server is busy: its memory for requests in flight is used up, retry later")]
    OverBudget {
        /// Seconds for `Retry-After`.
        retry_after_secs: u64,
    },
    /// The group-commit writer has stopped: the server is shutting down (503).
    #[error("writer stopped")]
    WriterClosed,
    /// The database failed: 503 when unreachable, else 500.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bug, such as a panicked decoding task (500).
    #[error("{0}")]
    Internal(String),
}

impl IngestError {
    /// The `reason` label of `errata_events_rejected_total`: a short, stable snake_case token
    /// per kind of failure (`invalid_envelope`, `unknown_key`, `overloaded`, …).
    pub fn reason(&self) -> &'static str {
        use IngestError as E;
        match self {
            E::InvalidProjectId(_) => "invalid_project_id",
            E::UnsupportedVersion(_) => "unsupported_version",
            E::InvalidAuth(_) => "invalid_auth",
            E::MissingAuth(_) => "missing_auth",
            E::EncodingNotAscii | E::Decode(DecodeError::Unsupported(_)) => "unsupported_encoding",
            E::BodyTooLarge { .. } | E::Decode(DecodeError::TooLarge { .. }) => "body_too_large",
            E::BodyTooSlow(_) => "body_too_slow",
            E::BodyUnreadable(_) => "body_unreadable",
            E::Decode(DecodeError::Corrupt { .. }) => "invalid_encoding",
            E::Envelope(EnvelopeError::TooManyItems { .. }) => "too_many_items",
            E::Envelope(_) => "invalid_envelope",
            E::InvalidHeaderDsn { .. } => "invalid_dsn",
            E::DsnMismatch | E::DsnOtherProject => "dsn_mismatch",
            E::UnknownKey => "unknown_key",
            E::KeyOfAnotherProject => "key_of_another_project",
            E::KeyDisabled => "key_disabled",
            E::ProjectDisabled => "project_disabled",
            E::ItemTooLarge { .. } => "item_too_large",
            E::InvalidEventJson(_) | E::EventNotObject => "invalid_event",
            E::InvalidFeedback { .. } => "invalid_feedback",
            E::InvalidCheckIn(_) => "invalid_check_in",
            E::Overloaded { .. } => "overloaded",
            E::RateLimited { .. } => "project_rate_limit",
            E::AddressBusy { .. } => "address_busy",
            E::OverBudget { .. } | E::Decode(DecodeError::OverBudget) => "over_budget",
            E::WriterClosed | E::Store(StoreError::Unavailable(_)) => "unavailable",
            E::Store(_) | E::Internal(_) => "internal",
        }
    }

    /// The HTTP status of a client error, `None` for the ones [`ApiError`] builds itself
    /// (429 and 5xx, which carry headers or are logged).
    fn client_status(&self) -> Option<StatusCode> {
        use IngestError as E;
        Some(match self {
            E::InvalidAuth(_) | E::MissingAuth(_) => StatusCode::UNAUTHORIZED,
            E::InvalidHeaderDsn {
                only_credential: true,
                ..
            } => StatusCode::UNAUTHORIZED,
            E::UnknownKey | E::KeyOfAnotherProject | E::KeyDisabled | E::ProjectDisabled => {
                StatusCode::FORBIDDEN
            }
            E::BodyTooLarge { .. }
            | E::ItemTooLarge { .. }
            | E::Decode(DecodeError::TooLarge { .. })
            | E::Envelope(EnvelopeError::TooManyItems { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            E::EncodingNotAscii | E::Decode(DecodeError::Unsupported(_)) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            E::BodyTooSlow(_) => StatusCode::REQUEST_TIMEOUT,
            E::Overloaded { .. }
            | E::RateLimited { .. }
            | E::AddressBusy { .. }
            | E::OverBudget { .. }
            | E::Decode(DecodeError::OverBudget)
            | E::WriterClosed
            | E::Store(_)
            | E::Internal(_) => return None,
            E::InvalidProjectId(_)
            | E::UnsupportedVersion(_)
            | E::BodyUnreadable(_)
            | E::Decode(DecodeError::Corrupt { .. })
            | E::Envelope(_)
            | E::InvalidHeaderDsn { .. }
            | E::DsnMismatch
            | E::DsnOtherProject
            | E::InvalidEventJson(_)
            | E::EventNotObject
            | E::InvalidFeedback { .. }
            | E::InvalidCheckIn(_) => StatusCode::BAD_REQUEST,
        })
    }
}

impl IngestError {
    /// True for the refusals of an unavailable storage (503): the ones [`Outage`] counts.
    ///
    /// [`Outage`]: super::outage::Outage
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            IngestError::WriterClosed | IngestError::Store(StoreError::Unavailable(_))
        )
    }

    /// The answer: as [`ApiError::from`], but a 503 carries `Retry-After:
    /// unavailable_retry_after_secs` and is not logged here (`outage.rs` logs outages).
    pub fn into_api_error(self, unavailable_retry_after_secs: u64) -> ApiError {
        if self.is_unavailable() {
            return ApiError::unavailable_retry_after(unavailable_retry_after_secs);
        }
        self.into()
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> ApiError {
        if let Some(status) = e.client_status() {
            return ApiError::with_status(status, e.to_string());
        }
        match e {
            IngestError::Overloaded { retry_after_secs } => ApiError::overloaded(retry_after_secs),
            IngestError::RateLimited { retry_after_secs } => {
                ApiError::rate_limited(retry_after_secs, "error:project", e.to_string())
            }
            IngestError::AddressBusy { retry_after_secs }
            | IngestError::OverBudget { retry_after_secs } => {
                ApiError::too_many_requests(e.to_string(), retry_after_secs)
            }
            // Only from a decoder without a caller to say how long to wait.
            IngestError::Decode(DecodeError::OverBudget) => {
                ApiError::too_many_requests(e.to_string(), 1)
            }
            IngestError::WriterClosed | IngestError::Store(StoreError::Unavailable(_)) => {
                ApiError::unavailable(e)
            }
            e => ApiError::internal(e),
        }
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}
