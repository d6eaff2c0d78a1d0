//! The per-project e-mail digest (`notify::email_digest`).
//!
//! * `GET /api/v1/projects/{project_id}/email-digest` → `{"minutes": 15}` (`null`: off).
//! * `PUT` the same path with `{"minutes": 15}` (`null` or 0: off) sets it and answers the
//!   same shape; project admins only (403). Errors: 400 for minutes out of range, 404.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::http::principal::{Permission, Principal};
use crate::notify::email_digest::parse_minutes;
use crate::AppState;

/// Routes of the e-mail digest setting.
pub fn router() -> Router<AppState> {
    Router::new().route(
        "/api/v1/projects/{project_id}/email-digest",
        get(show).put(set),
    )
}

/// The `PUT` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DigestBody {
    minutes: Option<i64>,
}

async fn show(
    State(app): State<AppState>,
    _who: Principal,
    Path(project_id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let minutes = app.store.project_email_digest(project_id).await?;
    Ok(Json(json!({ "minutes": minutes })))
}

async fn set(
    State(app): State<AppState>,
    who: Principal,
    Path(project_id): Path<i64>,
    body: Result<Json<DigestBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::Project)?;
    let Json(body) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let given = body.minutes.map(|m| m.to_string()).unwrap_or_default();
    let minutes = parse_minutes(&given).map_err(|e| ApiError::bad_request(e.to_string()))?;
    app.store
        .set_project_email_digest(project_id, minutes)
        .await?;
    Ok(Json(json!({ "minutes": minutes })))
}
