//! The envelope and store endpoints, and the one path both take: request meta and
//! credentials → a place → body → envelope → items.

use std::pin::pin;
use std::time::Instant;

use axum::extract::{Path, Request, State};
use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::http::min_rate::MinRate;
use crate::protocol::EventId;
use crate::AppState;

use super::auth::{self, Credentials};
use super::error::IngestError;
use super::items::{self, ItemContext};
use super::rejections::Seen;
use super::request::{self, BodyFormat};
use super::{body, decode};

/// Most bytes read looking for the envelope header of a request without other credentials.
const HEADER_LINE_MAX: usize = 64 * 1024;

/// Routes of the ingestion API, with the CORS policy browser SDKs need.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/{project_id}/envelope/", post(envelope))
        .route("/api/{project_id}/envelope", post(envelope))
        .route("/api/{project_id}/store/", post(store))
        .route("/api/{project_id}/store", post(store))
        .layer(cors())
}

/// CORS of sentry-protocol.md 2.2: pre-flights answered without authentication, and
/// `Access-Control-Allow-Origin` plus the exposed SDK headers on every POST answer, errors too.
fn cors() -> CorsLayer {
    const ALLOWED: [&str; 14] = [
        "x-sentry-auth",
        "x-requested-with",
        "x-forwarded-for",
        "origin",
        "referer",
        "accept",
        "content-type",
        "authentication",
        "authorization",
        "content-encoding",
        "transfer-encoding",
        "sentry-trace",
        "baggage",
        "x-request-id",
    ];
    CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers(ALLOWED.map(header::HeaderName::from_static))
        .expose_headers(
            ["x-sentry-error", "x-sentry-rate-limits", "retry-after"]
                .map(header::HeaderName::from_static),
        )
        .max_age(std::time::Duration::from_secs(3600))
}

/// `POST /api/{project_id}/envelope/`
async fn envelope(
    State(app): State<AppState>,
    Path(project_id): Path<String>,
    req: Request,
) -> Response {
    ingest(&app, &project_id, req, BodyFormat::Envelope).await
}

/// `POST /api/{project_id}/store/`: one JSON event (legacy), or an envelope when the
/// content type says so.
async fn store(
    State(app): State<AppState>,
    Path(project_id): Path<String>,
    req: Request,
) -> Response {
    let format = BodyFormat::of_store_request(req.headers());
    ingest(&app, &project_id, req, format).await
}

/// The answer of an accepted request: `{"id": "<32 hex>"}`, or `{}` without an event id.
#[derive(serde::Serialize)]
struct Answer {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<EventId>,
}

/// Runs one request and records its duration, its rejection reason in
/// `errata_events_rejected_total{reason}` and the log (`rejections.rs`), and storage
/// outages (`outage.rs`).
async fn ingest(app: &AppState, project_id: &str, req: Request, format: BodyFormat) -> Response {
    let started = Instant::now();
    let mut seen = Seen {
        project: project_id.to_owned(),
        public_key: None,
        client: crate::http::client_ip(
            req.headers(),
            req.extensions()
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0),
            app.config.ingest.trust_forwarded_for,
        ),
    };
    let result = process(app, project_id, req, format, &mut seen).await;
    metrics::histogram!("errata_ingest_duration_seconds").record(started.elapsed().as_secs_f64());
    match result {
        Ok(id) => {
            if id.is_some() {
                app.outage.stored();
            }
            Json(Answer { id }).into_response()
        }
        Err(e) => {
            metrics::counter!("errata_events_rejected_total", "reason" => e.reason()).increment(1);
            app.items.rejections.record(app.clock.now_ms(), &e, &seen);
            if e.is_unavailable() {
                app.outage.refused(&e);
            }
            let ingest = &app.config.ingest;
            e.into_api_error(ingest.unavailable_retry_after_secs)
                .into_response()
        }
    }
}

/// Request meta and credentials → a place of the client's address → body, charged to the
/// bytes-in-flight budget → one of the writer's admissions → envelope → items; returns the id
/// to answer with.
async fn process(
    app: &AppState,
    project_id: &str,
    req: Request,
    format: BodyFormat,
    seen: &mut Seen,
) -> Result<Option<EventId>, IngestError> {
    let config = &app.config;
    let retry_after_secs = config.ingest.retry_after_secs;
    let mut meta = request::meta(app, project_id, &req)?;
    seen.public_key = meta.auth.as_ref().map(|a| a.public_key.clone());
    let user_agent = req.headers().get(header::USER_AGENT).cloned();
    let encoded = decode::is_encoded(meta.content_encoding.as_deref())?;
    let credentials = auth::check_request(app, &meta, format, encoded).await?;
    // While its body comes in, a request holds a place of its address and the bytes it sent,
    // not one of the writer's admissions: slow clients cannot take those from everyone.
    let _place = app
        .gate
        .enter(meta.client_ip)
        .map_err(|refusal| body::refused(refusal, retry_after_secs))?;
    let limit = config.limits.max_envelope_bytes;
    let declared = request::declared_length(&req);
    let rate = pin!(MinRate::new(req.into_body(), config.http.body_rule()));
    let mut reader =
        body::BodyReader::new(rate, declared, limit, &app.gate, retry_after_secs).await?;
    if credentials == Credentials::InEnvelopeHeader {
        let line = reader.first_line(HEADER_LINE_MAX.min(limit)).await?;
        auth::check_header_line(app, &meta, line).await?;
    }
    let (raw, reservation) = reader.finish().await?;
    let _admission = app
        .writer
        .admit()
        .map_err(|_| IngestError::Overloaded { retry_after_secs })?;
    let encoding = meta.content_encoding.take();
    let heavy = app.gate.heavy();
    let (body, _reservation) =
        body::decode(heavy, raw, encoding, limit, reservation, retry_after_secs).await?;
    let envelope = request::parse_envelope(heavy, body, format, &config.limits).await?;
    auth::check_envelope(app, &meta, &envelope.header).await?;
    let cx = ItemContext {
        app,
        project_id: meta.project_id,
        envelope: &envelope.header,
        client_ip: meta.client_ip,
        event_id: None,
        user_agent: user_agent.as_ref().and_then(|v| v.to_str().ok()),
    };
    items::dispatch(cx, &envelope.items).await
}
