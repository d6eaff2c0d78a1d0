//! The envelope and store endpoint handlers.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use http_body_util::BodyExt;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::error::ApiError;
use crate::protocol::auth::{self, Auth};
use crate::protocol::dsn::Dsn;
use crate::protocol::envelope::{Envelope, EnvelopeError, ItemType};
use crate::protocol::EventId;
use crate::AppState;

use super::decode::{self, DecodeError};
use super::event;
use super::writer::SubmitError;

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
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let result = match admit(&app) {
        Ok(_admission) => handle_envelope(&app, &project_id, req).await,
        Err(e) => Err(e),
    };
    finish(result, started)
}

/// `POST /api/{project_id}/store/`: one JSON event (legacy), or an envelope when the
/// content type says so.
async fn store(
    State(app): State<AppState>,
    Path(project_id): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let is_envelope = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-sentry-envelope"));
    let result = match admit(&app) {
        Err(e) => Err(e),
        Ok(_admission) if is_envelope => handle_envelope(&app, &project_id, req).await,
        Ok(_admission) => handle_store(&app, &project_id, req).await,
    };
    finish(result, started)
}

fn finish(
    result: Result<Option<EventId>, ApiError>,
    started: Instant,
) -> Result<Response, ApiError> {
    metrics::histogram!("errata_ingest_duration_seconds").record(started.elapsed().as_secs_f64());
    match result {
        Ok(id) => {
            let body = match id {
                Some(id) => serde_json::json!({ "id": id }),
                None => serde_json::json!({}),
            };
            Ok(Json(body).into_response())
        }
        Err(e) => {
            let reason = match e.status().as_u16() {
                400 => "bad_request",
                401 => "unauthorized",
                403 => "forbidden",
                413 => "too_large",
                415 => "unsupported_encoding",
                429 => "overloaded",
                503 => "unavailable",
                _ => "internal",
            };
            metrics::counter!("errata_events_rejected_total", "reason" => reason).increment(1);
            Err(e)
        }
    }
}

/// What a request carried, before the body is read.
struct RequestMeta {
    project_id: i64,
    auth: Option<Auth>,
    content_encoding: Option<String>,
    client_ip: Option<IpAddr>,
}

fn request_meta(app: &AppState, project_id: &str, req: &Request) -> Result<RequestMeta, ApiError> {
    let project_id: i64 = project_id
        .parse()
        .map_err(|_| ApiError::bad_request(format!("project id {project_id:?} is not a number")))?;
    let auth = auth::from_request_parts(req.headers(), req.uri().query()).map_err(|e| match e {
        auth::AuthError::UnsupportedVersion(_) => ApiError::bad_request(e.to_string()),
        e => ApiError::unauthorized(format!("invalid authentication: {e}")),
    })?;
    let content_encoding = req
        .headers()
        .get(header::CONTENT_ENCODING)
        .map(|v| {
            v.to_str()
                .map(str::to_owned)
                .map_err(|_| ApiError::unsupported_encoding("Content-Encoding is not ASCII"))
        })
        .transpose()?;
    Ok(RequestMeta {
        project_id,
        auth,
        content_encoding,
        client_ip: crate::http::client_ip(
            req.headers(),
            req.extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
            app.config.ingest.trust_forwarded_for,
        ),
    })
}

/// Reads the body, refusing more than `limit` bytes on the wire (chunked bodies included), and
/// undoes its `Content-Encoding`, refusing more than `limit` decompressed bytes too.
async fn read_body(
    req: Request,
    encoding: Option<String>,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large_body(limit));
    }
    let limited = http_body_util::Limited::new(body, limit);
    let raw = match limited.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large_body(limit)),
        Err(e) => {
            return Err(ApiError::bad_request(format!(
                "could not read the request body: {e}"
            )))
        }
    };
    decode(encoding, raw, limit).await
}

fn too_large_body(limit: usize) -> ApiError {
    ApiError::too_large(format!(
        "request body is larger than the limit of {limit} bytes"
    ))
}

/// Undoes `Content-Encoding`. Small bodies (the common case) are inflated inline; large ones
/// on the blocking pool so a 20 MiB body does not stall other requests on this worker.
async fn decode(encoding: Option<String>, raw: Bytes, limit: usize) -> Result<Bytes, ApiError> {
    const INLINE: usize = 64 * 1024;
    if raw.len() <= INLINE {
        return decode::decode_body(encoding.as_deref(), raw, limit).map_err(decode_error);
    }
    tokio::task::spawn_blocking(move || decode::decode_body(encoding.as_deref(), raw, limit))
        .await
        .map_err(ApiError::internal)?
        .map_err(decode_error)
}

fn decode_error(e: DecodeError) -> ApiError {
    match e {
        DecodeError::Unsupported(_) => ApiError::unsupported_encoding(e.to_string()),
        DecodeError::TooLarge { .. } => ApiError::too_large(e.to_string()),
        _ => ApiError::bad_request(e.to_string()),
    }
}

async fn handle_envelope(
    app: &AppState,
    project_id: &str,
    req: Request,
) -> Result<Option<EventId>, ApiError> {
    let meta = request_meta(app, project_id, &req)?;
    // Reject bad credentials before spending time on the body.
    if let Some(auth) = &meta.auth {
        authorize(app, &auth.public_key, meta.project_id).await?;
    }
    let limits = &app.config.limits;
    let body = read_body(
        req,
        meta.content_encoding.clone(),
        limits.max_envelope_bytes,
    )
    .await?;
    let envelope = Envelope::parse_with_limits(body, limits.max_items).map_err(|e| match e {
        EnvelopeError::TooManyItems { .. } => ApiError::too_large(format!("invalid envelope: {e}")),
        e => ApiError::bad_request(format!("invalid envelope: {e}")),
    })?;

    match (&meta.auth, &envelope.header.dsn) {
        (Some(auth), Some(dsn)) => {
            let dsn: Dsn = dsn
                .parse()
                .map_err(|e| ApiError::bad_request(format!("invalid dsn in envelope header: {e}")))?;
            if dsn.public_key != auth.public_key || dsn.project_id != meta.project_id {
                return Err(ApiError::bad_request(
                    "the envelope header's dsn does not match the request's key or project",
                ));
            }
        }
        (None, Some(dsn)) => {
            let dsn: Dsn = dsn
                .parse()
                .map_err(|e| ApiError::unauthorized(format!("invalid dsn in envelope header: {e}")))?;
            if dsn.project_id != meta.project_id {
                return Err(ApiError::bad_request(
                    "the envelope header's dsn names another project than the URL",
                ));
            }
            authorize(app, &dsn.public_key, meta.project_id).await?;
        }
        (None, None) => {
            return Err(ApiError::unauthorized(
                "missing authentication: send X-Sentry-Auth, ?sentry_key= or a dsn in the envelope header",
            ))
        }
        (Some(_), None) => {}
    }

    let mut event_item = None;
    for item in &envelope.items {
        match item.header.ty {
            ItemType::Event if event_item.is_none() => event_item = Some(item),
            _ => {
                metrics::counter!("errata_items_dropped_total", "type" => item.header.ty.as_str().to_owned())
                    .increment(1);
            }
        }
    }
    let Some(item) = event_item else {
        return Ok(envelope.header.event_id);
    };
    if item.payload.len() > limits.max_event_bytes {
        return Err(ApiError::too_large(format!(
            "event item is {} bytes, more than the limit of {}",
            item.payload.len(),
            limits.max_event_bytes
        )));
    }
    let ctx = event::Context {
        project_id: meta.project_id,
        envelope_event_id: envelope.header.event_id,
        client_ip: meta.client_ip,
    };
    let new_event = event::prepare(&item.payload, &ctx)?;
    submit(app, new_event).await
}

async fn handle_store(
    app: &AppState,
    project_id: &str,
    req: Request,
) -> Result<Option<EventId>, ApiError> {
    let meta = request_meta(app, project_id, &req)?;
    let Some(auth) = &meta.auth else {
        return Err(ApiError::unauthorized(
            "missing authentication: send X-Sentry-Auth or ?sentry_key=",
        ));
    };
    authorize(app, &auth.public_key, meta.project_id).await?;
    let limits = &app.config.limits;
    let body = read_body(
        req,
        meta.content_encoding.clone(),
        limits.max_envelope_bytes,
    )
    .await?;
    let json = decode::decode_store_body(body, limits.max_event_bytes).map_err(decode_error)?;
    if json.len() > limits.max_event_bytes {
        return Err(ApiError::too_large(format!(
            "event is {} bytes, more than the limit of {}",
            json.len(),
            limits.max_event_bytes
        )));
    }
    let ctx = event::Context {
        project_id: meta.project_id,
        envelope_event_id: None,
        client_ip: meta.client_ip,
    };
    let new_event = event::prepare(&json, &ctx)?;
    submit(app, new_event).await
}

/// Checks that `key` is an active key of an active `project_id` (sentry-protocol.md 2.1).
async fn authorize(app: &AppState, key: &str, project_id: i64) -> Result<(), ApiError> {
    let info = app.keys.get(&app.store, key).await?;
    match info {
        None => Err(ApiError::forbidden("unknown public key")),
        Some(i) if i.project_id != project_id => Err(ApiError::forbidden(
            "the public key belongs to another project",
        )),
        Some(i) if !i.key_active => Err(ApiError::forbidden("the public key is disabled")),
        Some(i) if !i.project_active => Err(ApiError::forbidden("the project is disabled")),
        Some(_) => Ok(()),
    }
}

fn admit(app: &AppState) -> Result<super::writer::Admission, ApiError> {
    app.writer
        .admit()
        .map_err(|_| ApiError::overloaded(app.config.ingest.retry_after_secs))
}

async fn submit(
    app: &AppState,
    event: crate::store::NewEvent,
) -> Result<Option<EventId>, ApiError> {
    let id = event.event_id;
    match app.writer.submit(event).await {
        Ok(_) => Ok(Some(id)),
        Err(SubmitError::QueueFull) => {
            Err(ApiError::overloaded(app.config.ingest.retry_after_secs))
        }
        Err(SubmitError::Closed) => Err(ApiError::unavailable("writer stopped")),
        Err(SubmitError::Store(e)) => Err(e.into()),
    }
}
