//! `ApiError`: every HTTP error this server returns, as a status plus Relay's JSON body shape
//! `{"detail": "<message>", "causes": ["…"]}` (sentry-protocol.md 3.3).
//!
//! 4xx bodies say what was wrong; 5xx bodies stay generic and the detail goes to the log.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// An error answer. Build it with the constructors, which pick the status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    detail: String,
    causes: Vec<String>,
    retry_after: Option<u64>,
    /// `<categories>:<scope>[:<reason>]` of `X-Sentry-Rate-Limits`, sent with 429s (which
    /// SDKs obey), e.g. `:key:overloaded` or `error:project`.
    limits: Option<&'static str>,
}

impl ApiError {
    fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            causes: Vec::new(),
            retry_after: None,
            limits: None,
        }
    }

    /// An error with the given status and message, for error families that choose their own
    /// status (such as `IngestError`). 5xx messages are shown to the client: use
    /// [`ApiError::unavailable`] or [`ApiError::internal`] for those.
    pub fn with_status(status: StatusCode, detail: impl Into<String>) -> Self {
        Self::new(status, detail)
    }

    /// 400: malformed input.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 401: no usable credentials.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    /// 403: credentials known but not allowed here.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail)
    }

    /// 404: no such resource.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    /// 413: over a size limit.
    pub fn too_large(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, detail)
    }

    /// 415: unsupported `Content-Encoding`; the response lists the supported ones.
    pub fn unsupported_encoding(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, detail)
    }

    /// 429: overloaded; the SDK should come back after `retry_after` seconds.
    pub fn overloaded(retry_after: u64) -> Self {
        Self::too_many_requests(
            "server is busy: the ingest queue is full, retry later",
            retry_after,
        )
    }

    /// 429 with the given message: `Retry-After` and `X-Sentry-Rate-Limits` of `retry_after`
    /// seconds.
    pub fn too_many_requests(detail: impl Into<String>, retry_after: u64) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, detail);
        e.retry_after = Some(retry_after.max(1));
        // Empty category list = all categories (sentry-protocol.md 3.3).
        e.limits = Some(":key:overloaded");
        e
    }

    /// 503 with `Retry-After`, for an outage its caller has logged already (ingestion logs
    /// a change of state once, then a summary a minute, not a line per refused request).
    pub fn unavailable_retry_after(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage is unavailable, retry later",
        );
        e.retry_after = Some(retry_after.max(1));
        e
    }

    /// 429: over a quota; `limits` is the `<categories>:<scope>[:<reason>]` of
    /// `X-Sentry-Rate-Limits` (sentry-protocol.md 3.3), e.g. `error:project` for a project's
    /// rate limit on events.
    pub fn rate_limited(retry_after: u64, limits: &'static str, detail: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, detail);
        e.retry_after = Some(retry_after.max(1));
        e.limits = Some(limits);
        e
    }

    /// 503: the database is unreachable. The cause is logged, not returned.
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "storage unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage is unavailable, retry later",
        )
    }

    /// 500: a bug. The cause is logged, not returned.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
    }

    /// Adds a cause line to the body.
    pub fn with_cause(mut self, cause: impl Into<String>) -> Self {
        self.causes.push(cause.into());
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status.as_u16(), self.detail)
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match e {
            StoreError::NotFound => ApiError::not_found("not found"),
            StoreError::Unavailable(_) => ApiError::unavailable(e),
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
            StoreError::InvalidCursor(m) => ApiError::bad_request(format!("invalid cursor: {m}")),
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_client_error() {
            tracing::debug!(status = self.status.as_u16(), detail = %self.detail, "request rejected");
        }
        let body = serde_json::json!({ "detail": self.detail, "causes": self.causes });
        let mut res = (self.status, Json(body)).into_response();
        let h = res.headers_mut();
        // SDKs log this header; keep it ASCII and short.
        let short: String = self
            .detail
            .chars()
            .filter(|c| c.is_ascii() && !c.is_ascii_control())
            .take(200)
            .collect();
        if let Ok(v) = HeaderValue::from_str(&short) {
            h.insert("x-sentry-error", v);
        }
        if self.status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
            h.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_static("gzip, deflate, br, zstd"),
            );
        }
        if let Some(secs) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let (Some(secs), Some(limits)) = (self.retry_after, self.limits) {
            if let Ok(v) = HeaderValue::from_str(&format!("{secs}:{limits}")) {
                h.insert("x-sentry-rate-limits", v);
            }
        }
        res
    }
}
