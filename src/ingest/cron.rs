//! HTTP check-ins for shell scripts and crontab lines (sentry-protocol-more.md 1; Relay's
//! `endpoints/monitor.rs`):
//!
//! `GET` or `POST /api/{project_id}/cron/{monitor_slug}/{sentry_key}/` (or
//! `/api/{project_id}/cron/{monitor_slug}/` with the key in `X-Sentry-Auth` or
//! `?sentry_key=`), with `status` (`in_progress`, `ok`, `error`), `check_in_id`,
//! `environment` and `duration` (seconds) as query parameters, or the same fields as a JSON
//! body (which wins, and may carry `monitor_config`).
//!
//! ```text
//! 0 2 * * * backup.sh && curl -fsS "https://errata.example.com/api/1/cron/nightly-backup/KEY/?status=ok"
//! ```
//!
//! Answers `202 {"id": "<check_in_id>"}` once the check-in is recorded (also when it was
//! ignored because the monitor is paused or the check-in already finished; `detail` then says
//! so). Errors, with `{"detail"}`: 400 bad project id, missing `status`, malformed fields or
//! `monitor_config`; 401/403 missing, unknown or disabled key; 404 unknown monitor without
//! `monitor_config` (the message says how to create it); 413 a body over 64 KiB. Never 429.

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::on;
use axum::routing::MethodFilter;
use axum::{Json, Router};
use http_body_util::BodyExt;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::monitors::cron::{self, CheckIn, RecordError, Recorded};
use crate::protocol::auth;
use crate::AppState;

use super::auth::authorize;
use super::error::IngestError;

/// Largest body of an HTTP check-in, bytes.
pub const MAX_BODY: usize = 64 * 1024;

/// The HTTP check-in routes.
pub fn router() -> Router<AppState> {
    let with_key = on(MethodFilter::GET.or(MethodFilter::POST), with_key);
    let without_key = on(MethodFilter::GET.or(MethodFilter::POST), without_key);
    Router::new()
        .route(
            "/api/{project_id}/cron/{monitor_slug}/{sentry_key}/",
            with_key.clone(),
        )
        .route(
            "/api/{project_id}/cron/{monitor_slug}/{sentry_key}",
            with_key,
        )
        .route(
            "/api/{project_id}/cron/{monitor_slug}/",
            without_key.clone(),
        )
        .route("/api/{project_id}/cron/{monitor_slug}", without_key)
}

async fn with_key(
    State(app): State<AppState>,
    Path((project_id, slug, key)): Path<(String, String, String)>,
    req: Request,
) -> Response {
    respond(check_in(&app, &project_id, &slug, Some(key), req).await)
}

async fn without_key(
    State(app): State<AppState>,
    Path((project_id, slug)): Path<(String, String)>,
    req: Request,
) -> Response {
    respond(check_in(&app, &project_id, &slug, None, req).await)
}

fn respond(result: Result<Recorded, ApiError>) -> Response {
    match result {
        Ok(recorded) => {
            let mut body = json!({ "id": recorded.guid() });
            let detail = match &recorded {
                Recorded::Stored { .. } => None,
                Recorded::Paused { .. } => Some("the monitor is paused: check-in not recorded"),
                Recorded::AlreadyFinished { .. } => {
                    Some("that check-in already finished: nothing changed")
                }
            };
            if let Some(d) = detail {
                body["detail"] = Value::from(d);
            }
            (StatusCode::ACCEPTED, Json(body)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// Authenticates, reads the fields and records the check-in.
async fn check_in(
    app: &AppState,
    project_id: &str,
    slug: &str,
    key: Option<String>,
    req: Request,
) -> Result<Recorded, ApiError> {
    let project_id: i64 = project_id
        .parse()
        .map_err(|_| IngestError::InvalidProjectId(project_id.to_owned()))?;
    let key =
        match key {
            Some(k) => k,
            None => auth::from_request_parts(req.headers(), req.uri().query())
                .map_err(IngestError::InvalidAuth)?
                .ok_or(IngestError::MissingAuth(
                    "the key in the URL (/api/{project_id}/cron/{monitor_slug}/{sentry_key}/), \
                     X-Sentry-Auth or ?sentry_key=",
                ))?
                .public_key,
        };
    authorize(app, &key, project_id).await?;
    let mut fields = query_fields(req.uri().query())?;
    for (k, v) in body_fields(req).await? {
        fields.insert(k, v);
    }
    if fields.get("status").is_none_or(Value::is_null) {
        return Err(ApiError::bad_request(
            "status is required: in_progress, ok or error",
        ));
    }
    fields.insert("monitor_slug".into(), Value::String(slug.to_owned()));
    let checkin = CheckIn::from_json(&Value::Object(fields))
        .map_err(|e| ApiError::bad_request(format!("invalid check-in: {e}")))?;
    cron::record(&app.store, project_id, &checkin, app.clock.now_ms())
        .await
        .map_err(|e| match e {
            RecordError::UnknownMonitor(_) => ApiError::not_found(e.to_string()),
            RecordError::Store(e) => e.into(),
        })
}

/// `status`, `check_in_id`, `environment`, `duration` and `release` from the query string.
fn query_fields(query: Option<&str>) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if matches!(
            k.as_ref(),
            "status" | "check_in_id" | "environment" | "duration" | "release"
        ) {
            out.insert(k.into_owned(), Value::String(v.into_owned()));
        }
    }
    Ok(out)
}

/// The fields of a JSON body (an object); empty without a body.
async fn body_fields(req: Request) -> Result<Map<String, Value>, ApiError> {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let body: Bytes = match http_body_util::Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(ApiError::too_large(format!(
                "a check-in body may have at most {MAX_BODY} bytes"
            )))
        }
        Err(e) => {
            return Err(ApiError::bad_request(format!(
                "could not read the body: {e}"
            )))
        }
    };
    let text = String::from_utf8_lossy(&body);
    if text.trim().is_empty() || (!is_json && !text.trim_start().starts_with('{')) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request("the body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!("the body is not JSON: {e}"))),
    }
}
