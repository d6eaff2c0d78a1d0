//! Data lifecycle routes of the API: "delete and discard future events" of an issue, the
//! discarded hashes of a project and their undo.
//!
//! * `POST /api/v1/issues/{id}/discard` → `{"deleted_events": n, "discarded": [hash, …]}`:
//!   the issue and its events are deleted and events with its grouping hashes are dropped at
//!   ingest from then on (counted in `errata_events_discarded_total`).
//! * `GET /api/v1/projects/{id}/discarded` → `{"discarded": [{"hash", "grouping_version",
//!   "issue_title", "discarded"}]}`.
//! * `DELETE /api/v1/projects/{id}/discarded/{hash}` → 204: its events are stored again.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::http::principal::{Permission, Principal};
use crate::timefmt::rfc3339_ms;
use crate::AppState;

/// The routes above.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/issues/{issue_id}/discard", post(discard))
        .route("/api/v1/projects/{project_id}/discarded", get(discarded))
        .route(
            "/api/v1/projects/{project_id}/discarded/{hash}",
            delete(undiscard),
        )
}

async fn discard(
    State(app): State<AppState>,
    who: Principal,
    Path(issue_id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    who.require(app.config.security.delete_permission())?;
    let issue = app.store.issue(issue_id).await?;
    let deleted =
        crate::retention::discard_issue(&app.store, &app.retention, &app.clock, issue_id).await?;
    let hashes: Vec<String> = app
        .store
        .discarded_groupings(Some(issue.project_id))
        .await?
        .into_iter()
        .map(|d| d.hash)
        .collect();
    let by = crate::triage::Actor::of(&who);
    tracing::info!(
        issue_id,
        deleted,
        by = &*by.timeline_name(),
        "issue deleted and its events discarded"
    );
    Ok(Json(
        json!({ "deleted_events": deleted, "discarded": hashes }),
    ))
}

async fn discarded(
    State(app): State<AppState>,
    _who: Principal,
    Path(project_id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    app.store.project(project_id).await?;
    let list: Vec<Value> = app
        .store
        .discarded_groupings(Some(project_id))
        .await?
        .iter()
        .map(|d| {
            json!({
                "hash": d.hash,
                "grouping_version": d.grouping_version,
                "issue_title": d.issue_title,
                "discarded": rfc3339_ms(d.discarded_ms),
            })
        })
        .collect();
    Ok(Json(json!({ "discarded": list })))
}

async fn undiscard(
    State(app): State<AppState>,
    who: Principal,
    Path((project_id, hash)): Path<(i64, String)>,
) -> Result<StatusCode, ApiError> {
    who.require(Permission::Triage)?;
    app.store.undiscard_grouping(project_id, &hash).await?;
    app.retention.policies.reload().await?;
    let by = crate::triage::Actor::of(&who);
    tracing::info!(project_id, hash = %hash, by = &*by.timeline_name(), "discard undone");
    Ok(StatusCode::NO_CONTENT)
}
