//! The uptime check API.
//!
//! * `GET /api/v1/projects/{project_id}/uptime-checks` → `{"uptime_checks": [<check>…]}` (by
//!   name); `POST` the same path with a check's fields creates one (201 + the check).
//! * `GET /api/v1/uptime-checks/{id}` → the check; `PATCH` changes the fields it names
//!   (pausing and resuming: `{"is_paused": true|false}`); `DELETE` removes the check with its
//!   results and incidents (204; its issues stay).
//! * `GET /api/v1/uptime-checks/{id}/results?limit=&cursor=` → `{"results": [<result>…],
//!   "next_cursor"}`, newest first.
//!
//! A check: `id`, `project_id`, `name`, `url`, `method`, `headers` (names only: values may be
//! credentials and are never shown), `interval_seconds`, `timeout_seconds`,
//! `expected_status` (`"200-399"`), `keyword`, `keyword_absent`, `follow_redirects`,
//! `verify_tls`, `failure_threshold`, `recovery_threshold`, `cert_warning_days`,
//! `is_public`, `is_paused`, `status` (`up`, `down`, `unknown`, `paused`),
//! `last_checked_at`, `last_response_ms`, `last_error`, `uptime_24h` (percent of the last
//! 24 hours' results that were up, or null), `next_check_at`, `date_created`. A result: `id`,
//! `checked_at`, `ok`, `status_code`, `response_ms`, `error_class` (`timeout`, `dns`,
//! `connection`, `tls`, `status`, `keyword`, `refused`, `other`, or null), `reason`. Times
//! are RFC 3339 UTC.
//!
//! Fields of `POST`/`PATCH` are those of [`crate::monitors::uptime::config`]. Errors: 400
//! naming the field (a refused target says why and which setting allows it), 403 without the
//! permission (creating, editing and deleting need an admin or a token; pausing and resuming
//! any user who may triage), 404.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::clock::DAY_MS;
use crate::error::ApiError;
use crate::http::principal::{Permission, Principal};
use crate::monitors::uptime::manage::{self, ManageError};
use crate::store::{Store, StoreError, UptimeCheck, UptimeResult};
use crate::timefmt::rfc3339_ms;
use crate::AppState;

/// Routes of the uptime check API.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/projects/{project_id}/uptime-checks",
            get(list).post(create),
        )
        .route(
            "/api/v1/uptime-checks/{check_id}",
            get(show).patch(update).delete(delete),
        )
        .route("/api/v1/uptime-checks/{check_id}/results", get(results))
}

/// `up`, `down`, `unknown` or `paused`.
pub fn shown_status(c: &UptimeCheck) -> &'static str {
    if c.is_paused {
        "paused"
    } else {
        c.status.as_str()
    }
}

/// A check as the API shows it, with its uptime over the last 24 hours (percent).
pub fn check_json(c: &UptimeCheck, uptime_24h: Option<f64>) -> Value {
    let k = &c.config;
    let headers: Vec<&str> = k.headers.iter().map(|(name, _)| name.as_str()).collect();
    json!({
        "id": c.id,
        "project_id": c.project_id,
        "name": k.name,
        "url": k.url,
        "method": k.method,
        "headers": headers,
        "interval_seconds": k.interval_seconds,
        "timeout_seconds": k.timeout_seconds,
        "expected_status": k.expected_status,
        "keyword": k.keyword,
        "keyword_absent": k.keyword_absent,
        "follow_redirects": k.follow_redirects,
        "verify_tls": k.verify_tls,
        "failure_threshold": k.failure_threshold,
        "recovery_threshold": k.recovery_threshold,
        "cert_warning_days": k.cert_warning_days,
        "is_public": k.is_public,
        "is_paused": c.is_paused,
        "status": shown_status(c),
        "last_checked_at": c.last_checked_ms.map(rfc3339_ms),
        "last_response_ms": c.last_response_ms,
        "last_error": c.last_error,
        "uptime_24h": uptime_24h.map(|p| (p * 100.0).round() / 100.0),
        "next_check_at": (!c.is_paused).then(|| rfc3339_ms(c.next_check_ms)),
        "date_created": rfc3339_ms(c.created_ms),
    })
}

/// A result as the API shows it.
pub fn result_json(UptimeResult { id, outcome: r }: &UptimeResult) -> Value {
    json!({
        "id": id,
        "checked_at": rfc3339_ms(r.checked_ms),
        "ok": r.ok,
        "status_code": r.status_code,
        "response_ms": r.response_ms,
        "error_class": r.error_class,
        "reason": r.reason,
    })
}

/// The check's JSON with its 24-hour uptime as of `now`.
pub async fn check_with_uptime(
    store: &Store,
    c: &UptimeCheck,
    now: i64,
) -> Result<Value, StoreError> {
    let uptime = store.uptime_percent(c.id, now - DAY_MS).await?;
    Ok(check_json(c, uptime))
}

impl From<ManageError> for ApiError {
    fn from(e: ManageError) -> Self {
        match e {
            ManageError::Invalid(e) => ApiError::bad_request(e.to_string()),
            ManageError::Refused(_) => ApiError::bad_request(e.to_string()),
            ManageError::Store(e) => e.into(),
        }
    }
}

/// The JSON object of a request body, or a 400 saying what is wrong with it.
fn object(body: Result<Json<Value>, JsonRejection>) -> Result<Map<String, Value>, ApiError> {
    match body.map_err(|e| ApiError::bad_request(e.body_text()))? {
        Json(Value::Object(map)) => Ok(map),
        Json(_) => Err(ApiError::bad_request("the body must be a JSON object")),
    }
}

async fn list(
    State(app): State<AppState>,
    _who: Principal,
    Path(project_id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    app.store.project(project_id).await?;
    let now = app.clock.now_ms();
    let mut list = Vec::new();
    for c in app.store.uptime_checks(project_id).await? {
        list.push(check_with_uptime(&app.store, &c, now).await?);
    }
    Ok(Json(json!({ "uptime_checks": list })))
}

async fn create(
    State(app): State<AppState>,
    who: Principal,
    Path(project_id): Path<i64>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    who.require(Permission::Project)?;
    let fields = object(body)?;
    let policy = app.config.uptime.target_policy();
    let c = manage::create(&app.store, project_id, &fields, &policy, app.clock.now_ms()).await?;
    Ok((StatusCode::CREATED, Json(check_json(&c, None))).into_response())
}

async fn show(
    State(app): State<AppState>,
    _who: Principal,
    Path(check_id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let c = app.store.uptime_check(check_id).await?;
    Ok(Json(
        check_with_uptime(&app.store, &c, app.clock.now_ms()).await?,
    ))
}

async fn update(
    State(app): State<AppState>,
    who: Principal,
    Path(check_id): Path<i64>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let fields = object(body)?;
    let only_pause = fields.keys().all(|k| k == "is_paused");
    who.require(if only_pause {
        Permission::Triage
    } else {
        Permission::Project
    })?;
    let policy = app.config.uptime.target_policy();
    let now = app.clock.now_ms();
    let c = manage::update(&app.store, check_id, &fields, &policy, now).await?;
    Ok(Json(check_with_uptime(&app.store, &c, now).await?))
}

async fn delete(
    State(app): State<AppState>,
    who: Principal,
    Path(check_id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    who.require(Permission::Project)?;
    app.store.delete_uptime_check(check_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query string of the result list.
#[derive(Debug, Deserialize)]
struct ResultParams {
    limit: Option<String>,
    cursor: Option<String>,
}

async fn results(
    State(app): State<AppState>,
    _who: Principal,
    Path(check_id): Path<i64>,
    Query(p): Query<ResultParams>,
) -> Result<Json<Value>, ApiError> {
    app.store.uptime_check(check_id).await?;
    let limit = super::parse_limit(p.limit.as_deref(), 50)?;
    let page = app
        .store
        .uptime_results(check_id, limit, p.cursor.as_deref())
        .await?;
    let list: Vec<Value> = page.results.iter().map(result_json).collect();
    Ok(Json(
        json!({ "results": list, "next_cursor": page.next_cursor }),
    ))
}

/// Routes of the status page settings: `GET|PUT /api/v1/projects/{project_id}/status-page`.
///
/// The settings: `{"enabled": bool, "slug": "shop", "title": "Shop status", "monitor_ids":
/// [cron monitor ids]}`; the checks shown are those with `is_public`. `GET` answers the
/// settings (404 before the first `PUT`) with `url` (`/status/{slug}`); `PUT` (admins)
/// replaces them: `slug` is 1–50 lowercase letters, digits and `-`, unique (409 when taken);
/// `title` at most 100 characters (default the project's name); `monitor_ids` must be
/// monitors of the project.
pub fn status_page_router() -> Router<AppState> {
    Router::new().route(
        "/api/v1/projects/{project_id}/status-page",
        get(status_page).put(save_status_page),
    )
}

fn status_page_json(p: &crate::store::StatusPage) -> Value {
    json!({
        "enabled": p.enabled,
        "slug": p.slug,
        "title": p.title,
        "monitor_ids": p.monitor_ids,
        "url": format!("/status/{}", p.slug),
    })
}

async fn status_page(
    State(app): State<AppState>,
    _who: Principal,
    Path(project_id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    app.store.project(project_id).await?;
    match app.store.status_page(project_id).await? {
        Some(p) => Ok(Json(status_page_json(&p))),
        None => Err(ApiError::not_found("this project has no status page yet")),
    }
}

/// Checks a status page slug: 1–50 lowercase letters, digits and `-`.
pub fn valid_slug(s: &str) -> bool {
    (1..=50).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

async fn save_status_page(
    State(app): State<AppState>,
    who: Principal,
    Path(project_id): Path<i64>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::Project)?;
    let fields = object(body)?;
    let project = app.store.project(project_id).await?;
    let slug = fields
        .get("slug")
        .and_then(Value::as_str)
        .filter(|s| valid_slug(s))
        .ok_or_else(|| {
            ApiError::bad_request("slug: 1 to 50 lowercase letters, digits and '-' are required")
        })?;
    let title = match fields.get("title") {
        None | Some(Value::Null) => project.name.clone(),
        Some(Value::String(t)) if t.chars().count() <= 100 && !t.trim().is_empty() => {
            t.trim().to_owned()
        }
        Some(_) => return Err(ApiError::bad_request("title: 1 to 100 characters")),
    };
    let enabled = match fields.get("enabled") {
        None => false,
        Some(v) => v
            .as_bool()
            .ok_or_else(|| ApiError::bad_request("enabled: must be true or false"))?,
    };
    let monitor_ids: Vec<i64> = match fields.get("monitor_ids") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| {
                v.as_i64()
                    .ok_or_else(|| ApiError::bad_request("monitor_ids: a list of monitor ids"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(ApiError::bad_request("monitor_ids: a list of monitor ids")),
    };
    let own: Vec<i64> = app
        .store
        .monitors(project_id)
        .await?
        .iter()
        .map(|m| m.id)
        .collect();
    if let Some(bad) = monitor_ids.iter().find(|id| !own.contains(id)) {
        return Err(ApiError::bad_request(format!(
            "monitor_ids: {bad} is not a monitor of this project"
        )));
    }
    let page = crate::store::StatusPage {
        project_id,
        slug: slug.to_owned(),
        title,
        enabled,
        monitor_ids,
    };
    app.store
        .save_status_page(&page, app.clock.now_ms())
        .await?;
    Ok(Json(status_page_json(&page)))
}
