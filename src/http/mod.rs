//! Cross-cutting HTTP: the accept loop and its timeouts ([`server`], [`min_rate`]), the
//! middleware stack (request ids, tracing, panic safety), health and readiness probes,
//! `/metrics`, the client's address, and who a request comes from ([`principal`], with
//! [`session`], [`csrf`] and [`cookie`]) for the pages and the API alike.

pub mod access;
pub mod cookie;
pub mod csrf;
pub mod min_rate;
pub mod principal;
pub mod security;
pub mod server;
pub mod session;

use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRef, FromRequestParts, MatchedPath, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderName, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use tracing::Level;

use crate::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// `/healthz`, `/readyz` and `/metrics`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// Wraps the whole application: an incoming `X-Request-ID` is kept (else a UUID is made) and
/// echoed, every request gets a span carrying it, and a panic in a handler becomes a 500
/// instead of a dropped connection.
pub fn layers(router: Router) -> Router {
    router
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("handler panicked");
            crate::error::ApiError::internal("handler panicked").into_response()
        }))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<Body>| {
                    let route = req
                        .extensions()
                        .get::<MatchedPath>()
                        .map(|p| p.as_str().to_owned())
                        .unwrap_or_else(|| req.uri().path().to_owned());
                    let id = req
                        .headers()
                        .get(&REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    tracing::info_span!("request", method = %req.method(), route, request_id = id)
                })
                .on_response(|res: &Response, latency: Duration, _span: &tracing::Span| {
                    let status = res.status().as_u16();
                    let ms = latency.as_secs_f64() * 1000.0;
                    // A 503 is logged where it is decided (storage outages once per change
                    // of state and then once a minute, not once per refused request).
                    if res.status().is_server_error()
                        && res.status() != StatusCode::SERVICE_UNAVAILABLE
                    {
                        tracing::event!(Level::ERROR, status, ms, "response");
                    } else {
                        tracing::event!(Level::DEBUG, status, ms, "response");
                    }
                })
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, RandomRequestId))
}

/// Makes a request id: a UUID v4 from the thread's random generator.
///
/// tower-http's `MakeRequestUuid` asks the operating system for every id (a `getrandom` system
/// call per request, 0.4 % of a burst's CPU); an id needs to be unique, not secret, so the
/// thread-local generator (seeded from the operating system) serves.
#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        let mut text = uuid::Uuid::encode_buffer();
        HeaderValue::from_str(id.hyphenated().encode_lower(&mut text))
            .ok()
            .map(RequestId::new)
    }
}

/// The client's address: the first `X-Forwarded-For` entry when configured to trust it (behind
/// a proxy), else the TCP peer.
pub fn client_ip(
    headers: &axum::http::HeaderMap,
    peer: Option<std::net::SocketAddr>,
    trust_forwarded_for: bool,
) -> Option<std::net::IpAddr> {
    if trust_forwarded_for {
        let forwarded = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok());
        if forwarded.is_some() {
            return forwarded;
        }
    }
    peer.map(|a| a.ip())
}

/// A client address as log lines show it: `127.0.0.1`, or `unknown` (never `Some(…)`).
pub fn show_ip(ip: Option<std::net::IpAddr>) -> String {
    ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

/// The client's address ([`client_ip`]: the TCP peer, or `X-Forwarded-For` when trusted), as
/// a handler argument; `None` in router tests without a peer.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<std::net::IpAddr>);

impl<S> FromRequestParts<S> for ClientIp
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let trust = AppState::from_ref(state).config.ingest.trust_forwarded_for;
        let peer = parts
            .extensions
            .get::<ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0);
        Ok(ClientIp(client_ip(&parts.headers, peer, trust)))
    }
}

/// The TCP peer of the request, when the server recorded it (absent in router tests).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub Option<std::net::SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PeerAddr(
            parts
                .extensions
                .get::<ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready when the database answers, is still the file the server writes (SQLite), and
/// ingestion has not been refusing events for storage reasons lately (disk full, WAL over
/// its limit: within the last `ingest.unavailable_retry_after_secs`). A failing check names
/// its cause. `checks.disk_budget` is `over` when the last retention pass could not get the
/// database under `retention.max_database_bytes`; events are still accepted then, so it
/// does not make the server unready.
async fn readyz(State(app): State<AppState>) -> Response {
    let window_ms = app.config.ingest.unavailable_retry_after_secs.max(1) as i64 * 1000;
    let failure = match app.store.ping().await {
        Err(e) => Some(("database", e.to_string())),
        Ok(()) => app.outage.recent(window_ms).map(|cause| ("ingest", cause)),
    };
    let budget = if app.retention.over_budget() {
        "over"
    } else {
        "ok"
    };
    match failure {
        None => Json(json!({
            "status": "ready",
            "checks": { "database": "ok", "ingest": "ok", "disk_budget": budget },
        }))
        .into_response(),
        Some((check, cause)) => {
            tracing::debug!(check, cause, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "status": "unavailable",
                    "checks": { check: "failing" },
                    "detail": cause,
                })),
            )
                .into_response()
        }
    }
}

/// `/metrics`, to whom `[security]` lets read it (401 with `WWW-Authenticate: Bearer` when a
/// token would help, else 403).
async fn metrics(
    State(app): State<AppState>,
    headers: axum::http::HeaderMap,
    PeerAddr(peer): PeerAddr,
) -> Response {
    let ip = client_ip(&headers, peer, app.config.ingest.trust_forwarded_for);
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match app.config.security.metrics_access(ip, authorization) {
        Ok(()) => {}
        Err(security::MetricsRefusal::Unauthorized) => {
            let mut res = crate::error::ApiError::unauthorized(
                "/metrics needs Authorization: Bearer <security.metrics_token>",
            )
            .into_response();
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
            return res;
        }
        Err(security::MetricsRefusal::Forbidden) => {
            return crate::error::ApiError::forbidden(
                "this address may not read /metrics (security.metrics_allow)",
            )
            .into_response();
        }
    }
    // Read when scraped, so that ingestion pays nothing for it.
    metrics::gauge!("errata_ingest_bytes_in_flight").set(app.gate.bytes_in_flight() as f64);
    if let Err(e) = crate::monitors::refresh_gauges(&app.store).await {
        tracing::warn!(error = %e, "cannot read the monitor gauges");
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_distinct_uuid_v4() {
        let request = Request::new(());
        let mut ids = std::collections::HashSet::new();
        for _ in 0..1000 {
            let id = RandomRequestId
                .make_request_id(&request)
                .expect("an id is made");
            let text = id.header_value().to_str().expect("ascii").to_owned();
            let parsed = uuid::Uuid::parse_str(&text).expect("a UUID");
            assert_eq!(parsed.get_version_num(), 4, "{text}");
            assert_eq!(
                parsed.hyphenated().to_string(),
                text,
                "lower-case hyphenated"
            );
            assert!(ids.insert(text), "ids repeat");
        }
    }
}
