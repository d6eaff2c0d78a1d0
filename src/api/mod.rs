//! The JSON read API used by the issue browser, scripts and tests (`/api/v1/…`).
//!
//! Every route needs `Authorization: Bearer <token>` (tokens from `errata token create`).
//! Timestamps are RFC 3339 UTC; errors use the ingestion error shape `{"detail", "causes"}`.

mod auth;
mod dto;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::protocol::{EventId, Level};
use crate::store::{IssueQuery, IssueSort, IssueStatus};
use crate::AppState;

pub use auth::ApiAuth;
use dto::{event_summary_json, issue_json};

/// Routes under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/projects", get(projects))
        .route("/api/v1/projects/{project_id}/issues", get(issues))
        .route(
            "/api/v1/projects/{project_id}/events/{event_id}",
            get(event),
        )
        .route("/api/v1/issues/{issue_id}", get(issue).patch(update_issue))
        .route("/api/v1/issues/{issue_id}/events", get(issue_events))
}

async fn projects(State(app): State<AppState>, _auth: ApiAuth) -> Result<Json<Value>, ApiError> {
    let projects = app.store.list_projects().await?;
    let list: Vec<Value> = projects
        .iter()
        .map(|p| {
            json!({
                "id": p.id,
                "name": p.name,
                "public_key": p.public_key,
                "dsn": app.config.dsn(&p.public_key, p.id),
                "created": crate::timefmt::rfc3339_ms(p.created_ms),
            })
        })
        .collect();
    Ok(Json(json!({ "projects": list })))
}

/// Query string of the issue list.
#[derive(Debug, Deserialize)]
struct IssuesParams {
    status: Option<String>,
    level: Option<String>,
    release: Option<String>,
    environment: Option<String>,
    query: Option<String>,
    sort: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

fn parse_status(s: &str) -> Result<IssueStatus, ApiError> {
    match s {
        "unresolved" => Ok(IssueStatus::Unresolved),
        "resolved" => Ok(IssueStatus::Resolved),
        "ignored" => Ok(IssueStatus::Ignored),
        other => Err(ApiError::bad_request(format!(
            "status {other:?} is not one of unresolved, resolved, ignored"
        ))),
    }
}

fn parse_limit(limit: Option<&str>, default: usize) -> Result<usize, ApiError> {
    match limit {
        None => Ok(default),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "limit {s:?} must be a number from 1 to 100"
            ))),
        },
    }
}

async fn issues(
    State(app): State<AppState>,
    _auth: ApiAuth,
    Path(project_id): Path<i64>,
    Query(p): Query<IssuesParams>,
) -> Result<Json<Value>, ApiError> {
    app.store.project(project_id).await?;
    let sort = match p.sort.as_deref() {
        None | Some("last_seen") => IssueSort::LastSeen,
        Some("first_seen") => IssueSort::FirstSeen,
        Some("count") => IssueSort::Count,
        Some("users") => IssueSort::Users,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "sort {other:?} is not one of last_seen, first_seen, count, users"
            )))
        }
    };
    let level = match p.level.as_deref() {
        None => None,
        Some(s) => Some(
            Level::from_name(s)
                .ok_or_else(|| ApiError::bad_request(format!("level {s:?} is not a level")))?,
        ),
    };
    let q = IssueQuery {
        project_id,
        status: p.status.as_deref().map(parse_status).transpose()?,
        level,
        release: p.release,
        environment: p.environment,
        query: p.query.filter(|q| !q.trim().is_empty()),
        tags: Vec::new(),
        regressed: false,
        sort,
        limit: parse_limit(p.limit.as_deref(), 50)?,
        cursor: p.cursor,
    };
    let page = app.store.list_issues(&q).await?;
    let issues: Vec<Value> = page.issues.iter().map(issue_json).collect();
    Ok(Json(
        json!({ "issues": issues, "next_cursor": page.next_cursor }),
    ))
}

async fn issue(
    State(app): State<AppState>,
    _auth: ApiAuth,
    Path(issue_id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let issue = app.store.issue(issue_id).await?;
    Ok(Json(issue_json(&issue)))
}

#[derive(Debug, Deserialize)]
struct IssueUpdate {
    status: IssueStatus,
}

async fn update_issue(
    State(app): State<AppState>,
    _auth: ApiAuth,
    Path(issue_id): Path<i64>,
    body: Result<Json<IssueUpdate>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(update) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let issue = app.store.set_issue_status(issue_id, update.status).await?;
    Ok(Json(issue_json(&issue)))
}

#[derive(Debug, Deserialize)]
struct PageParams {
    limit: Option<String>,
    cursor: Option<String>,
}

async fn issue_events(
    State(app): State<AppState>,
    _auth: ApiAuth,
    Path(issue_id): Path<i64>,
    Query(p): Query<PageParams>,
) -> Result<Json<Value>, ApiError> {
    app.store.issue(issue_id).await?;
    let limit = parse_limit(p.limit.as_deref(), 50)?;
    let page = app
        .store
        .issue_events(issue_id, limit, p.cursor.as_deref())
        .await?;
    let events: Vec<Value> = page.events.iter().map(event_summary_json).collect();
    Ok(Json(
        json!({ "events": events, "next_cursor": page.next_cursor }),
    ))
}

async fn event(
    State(app): State<AppState>,
    _auth: ApiAuth,
    Path((project_id, event_id)): Path<(i64, String)>,
) -> Result<Json<Value>, ApiError> {
    let event_id: EventId = event_id
        .parse()
        .map_err(|e: crate::protocol::ParseEventIdError| ApiError::bad_request(e.to_string()))?;
    let stored = app.store.event(project_id, &event_id).await?;
    Ok(Json(dto::stored_event_json(&stored)))
}
