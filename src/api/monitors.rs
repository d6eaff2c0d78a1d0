//! The cron monitor API.
//!
//! * `GET /api/v1/projects/{project_id}/monitors` → `{"monitors": [<monitor>…]}` (by slug);
//!   `POST` the same path with a monitor's fields creates one (201 + the monitor).
//! * `GET /api/v1/monitors/{id}` → the monitor; `PATCH` changes the fields it names (pausing
//!   and resuming: `{"is_paused": true|false}`); `DELETE` removes the monitor with its
//!   check-ins and incidents (204; its issues stay).
//! * `GET /api/v1/monitors/{id}/checkins?environment=&limit=&cursor=` → `{"checkins":
//!   [<check-in>…], "next_cursor"}`, newest first.
//!
//! A monitor: `id`, `project_id`, `slug`, `name`, `status` (`new`, `ok`, `error`,
//! `in_progress`, `missed`, `timeout`, `paused`: see [`MonitorStatus::of_monitor`]),
//! `environments` (`[{"name", "status", "last_checkin", "next_checkin",
//! "next_checkin_latest", "last_ok", "failing"}]`), `schedule` (`{"type": "crontab",
//! "value"}` or `{"type": "interval", "value", "unit"}`), `schedule_description`,
//! `checkin_margin` and `max_runtime` (minutes), `timezone`, `failure_issue_threshold`,
//! `recovery_threshold`, `is_paused`, `date_created`. A check-in: `id` (32 hex), `status`,
//! `environment`, `duration` (seconds, or null), `date_created` (when it started, or was
//! expected for `missed`), `date_updated`, `expected_time`, `release`, `trace_id`,
//! `event_id` (the issue event of a failure). Times are RFC 3339 UTC.
//!
//! Fields of `POST`/`PATCH` are those of [`crate::monitors::cron::manage`]. Errors: 400 with
//! the field named, 403 without the permission (creating, editing and deleting need an admin
//! or a token; pausing and resuming any signed-in user), 404, 409 for a taken slug.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::http::principal::{Permission, Principal};
use crate::monitors::cron::manage::{self, ManageError};
use crate::monitors::cron::MonitorStatus;
use crate::store::{Monitor, MonitorEnvironment, StoredCheckIn};
use crate::timefmt::rfc3339_ms;
use crate::AppState;

/// Routes of the monitor API.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/projects/{project_id}/monitors",
            get(list).post(create),
        )
        .route(
            "/api/v1/monitors/{monitor_id}",
            get(show).patch(update).delete(delete),
        )
        .route("/api/v1/monitors/{monitor_id}/checkins", get(checkins))
}

/// A monitor with its environments, as the API shows it.
pub fn monitor_json(m: &Monitor, envs: &[MonitorEnvironment]) -> Value {
    let own: Vec<&MonitorEnvironment> = envs.iter().filter(|e| e.monitor_id == m.id).collect();
    let time = |ms: Option<i64>| ms.map(rfc3339_ms);
    let environments: Vec<Value> = own
        .iter()
        .map(|e| {
            json!({
                "name": e.environment,
                "status": e.status,
                "last_checkin": time(e.last_checkin_ms),
                "next_checkin": time(e.next_checkin_ms),
                "next_checkin_latest": time(e.next_checkin_latest_ms),
                "last_ok": time(e.last_ok_ms),
                "failing": e.incident_id.is_some(),
            })
        })
        .collect();
    let c = &m.config;
    json!({
        "id": m.id,
        "project_id": m.project_id,
        "slug": m.slug,
        "name": m.name,
        "status": MonitorStatus::of_monitor(m.is_paused, own.iter().map(|e| e.status)),
        "environments": environments,
        "schedule": c.schedule,
        "schedule_description": c.schedule.describe(c.timezone),
        "checkin_margin": c.checkin_margin,
        "max_runtime": c.max_runtime,
        "timezone": c.timezone.name(),
        "failure_issue_threshold": c.failure_issue_threshold,
        "recovery_threshold": c.recovery_threshold,
        "is_paused": m.is_paused,
        "date_created": rfc3339_ms(m.created_ms),
    })
}

/// A check-in, as the API shows it.
pub fn checkin_json(c: &StoredCheckIn) -> Value {
    json!({
        "id": c.fields.guid,
        "status": c.fields.status,
        "environment": c.environment,
        "duration": c.fields.duration_ms.map(|ms| ms as f64 / 1000.0),
        "date_created": rfc3339_ms(c.fields.started_ms),
        "date_updated": rfc3339_ms(c.fields.updated_ms),
        "expected_time": c.fields.expected_ms.map(rfc3339_ms),
        "release": c.fields.release,
        "trace_id": c.fields.trace_id,
        "event_id": c.event_id,
    })
}

impl From<ManageError> for ApiError {
    fn from(e: ManageError) -> Self {
        match e {
            ManageError::Invalid(e) => ApiError::bad_request(e.to_string()),
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

async fn one(app: &AppState, monitor_id: i64) -> Result<Value, ApiError> {
    let m = app.store.monitor(monitor_id).await?;
    let envs = app.store.monitor_environments(&[m.id]).await?;
    Ok(monitor_json(&m, &envs))
}

async fn list(
    State(app): State<AppState>,
    _who: Principal,
    Path(project_id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    app.store.project(project_id).await?;
    let monitors = app.store.monitors(project_id).await?;
    let ids: Vec<i64> = monitors.iter().map(|m| m.id).collect();
    let envs = app.store.monitor_environments(&ids).await?;
    let list: Vec<Value> = monitors.iter().map(|m| monitor_json(m, &envs)).collect();
    Ok(Json(json!({ "monitors": list })))
}

async fn create(
    State(app): State<AppState>,
    who: Principal,
    Path(project_id): Path<i64>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    who.require(Permission::Project)?;
    let fields = object(body)?;
    app.store.project(project_id).await?;
    let m = manage::create(&app.store, project_id, &fields, app.clock.now_ms()).await?;
    Ok((StatusCode::CREATED, Json(monitor_json(&m, &[]))).into_response())
}

async fn show(
    State(app): State<AppState>,
    _who: Principal,
    Path(monitor_id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(one(&app, monitor_id).await?))
}

async fn update(
    State(app): State<AppState>,
    who: Principal,
    Path(monitor_id): Path<i64>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let fields = object(body)?;
    let only_pause = fields.keys().all(|k| k == "is_paused");
    who.require(if only_pause {
        Permission::Triage
    } else {
        Permission::Project
    })?;
    manage::update(&app.store, monitor_id, &fields, app.clock.now_ms()).await?;
    Ok(Json(one(&app, monitor_id).await?))
}

async fn delete(
    State(app): State<AppState>,
    who: Principal,
    Path(monitor_id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    who.require(Permission::Project)?;
    app.store.delete_monitor(monitor_id).await?;
    let by = crate::triage::Actor::of(&who);
    tracing::info!(monitor_id, by = &*by.timeline_name(), "monitor deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Query string of the check-in list.
#[derive(Debug, Deserialize)]
struct CheckInParams {
    environment: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

async fn checkins(
    State(app): State<AppState>,
    _who: Principal,
    Path(monitor_id): Path<i64>,
    Query(p): Query<CheckInParams>,
) -> Result<Json<Value>, ApiError> {
    app.store.monitor(monitor_id).await?;
    let limit = super::parse_limit(p.limit.as_deref(), 50)?;
    let page = app
        .store
        .monitor_checkins(
            monitor_id,
            p.environment.as_deref().filter(|e| !e.is_empty()),
            limit,
            p.cursor.as_deref(),
        )
        .await?;
    let list: Vec<Value> = page.checkins.iter().map(checkin_json).collect();
    Ok(Json(
        json!({ "checkins": list, "next_cursor": page.next_cursor }),
    ))
}
