//! User feedback through the API: an issue's and a project's, newest first.
//!
//! `GET /api/v1/issues/{id}/feedback` and `GET /api/v1/projects/{id}/feedback`, with
//! `limit` (1–100, default 50) and `cursor`, answer `{"feedback": [{"id", "name", "email",
//! "message", "event_id", "issue_id", "url", "kind", "date_created"}], "next_cursor"}`.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{parse_limit, PageParams};
use crate::error::ApiError;
use crate::http::principal::Principal;
use crate::store::{Feedback, FeedbackQuery};
use crate::timefmt::rfc3339_ms;
use crate::AppState;

/// Routes of the feedback API.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/issues/{issue_id}/feedback", get(issue_feedback))
        .route(
            "/api/v1/projects/{project_id}/feedback",
            get(project_feedback),
        )
}

/// One piece of feedback: `id, name, email, message, event_id (32 hex or null), issue_id
/// (null until its event is stored), url, kind (feedback | user_report), date_created
/// (RFC 3339)`.
pub fn feedback_json(f: &Feedback) -> Value {
    json!({
        "id": f.id,
        "name": f.name,
        "email": f.email,
        "message": f.message,
        "event_id": f.event_id,
        "issue_id": f.issue_id,
        "url": f.url,
        "kind": f.kind.as_str(),
        "date_created": rfc3339_ms(f.created_ms),
    })
}

async fn page(app: &AppState, q: FeedbackQuery) -> Result<Json<Value>, ApiError> {
    let page = app.store.list_feedback(&q).await?;
    let feedback: Vec<Value> = page.feedback.iter().map(feedback_json).collect();
    Ok(Json(
        json!({ "feedback": feedback, "next_cursor": page.next_cursor }),
    ))
}

async fn issue_feedback(
    State(app): State<AppState>,
    _who: Principal,
    Path(issue_id): Path<i64>,
    Query(p): Query<PageParams>,
) -> Result<Json<Value>, ApiError> {
    app.store.issue(issue_id).await?;
    let q = FeedbackQuery {
        issue_id: Some(issue_id),
        limit: parse_limit(p.limit.as_deref(), 50)?,
        cursor: p.cursor,
        ..FeedbackQuery::default()
    };
    page(&app, q).await
}

async fn project_feedback(
    State(app): State<AppState>,
    _who: Principal,
    Path(project_id): Path<i64>,
    Query(p): Query<PageParams>,
) -> Result<Json<Value>, ApiError> {
    app.store.project(project_id).await?;
    let q = FeedbackQuery {
        project_id: Some(project_id),
        limit: parse_limit(p.limit.as_deref(), 50)?,
        cursor: p.cursor,
        ..FeedbackQuery::default()
    };
    page(&app, q).await
}
