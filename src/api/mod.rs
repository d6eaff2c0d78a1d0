//! The JSON read API used by the issue browser, scripts and tests (`/api/v1/…`): projects,
//! issues and events here, user feedback in `feedback.rs`, API tokens, users and the audit
//! log in `accounts.rs`, alert rules in `alert_rules.rs`.
//!
//! Every route needs `Authorization: Bearer <token>` (tokens from `errata token create`) or
//! the issue browser's session cookie; a change made with the cookie also needs the session's
//! CSRF token in `X-CSRF-Token` (see [`crate::http::principal`]). Timestamps are RFC 3339
//! UTC; errors use the ingestion error shape `{"detail", "causes"}`.

mod accounts;
pub mod alert_rules;
mod dto;
pub mod email_digest;
mod feedback;
pub mod monitors;
mod retention;
mod sessions;
mod teams;
pub mod triage;
pub mod uptime;

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::http::principal::Principal;
use crate::protocol::{EventId, Level};
use crate::store::{AssigneeFilter, IssueSort, IssueStatus, StoreError};
use crate::web::search::{self, Assigned, Search};
use crate::AppState;

pub use accounts::scope_list;
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
        .route(
            "/api/v1/issues/{issue_id}",
            get(issue).patch(triage::update_issue),
        )
        .route("/api/v1/issues/{issue_id}/events", get(issue_events))
        .merge(triage::router())
        .merge(feedback::router())
        .merge(accounts::router())
        .merge(teams::router())
        .merge(sessions::router())
        .merge(retention::router())
        .merge(monitors::router())
        .merge(uptime::router())
        .merge(uptime::status_page_router())
        .merge(alert_rules::router())
        .merge(email_digest::router())
}

async fn projects(State(app): State<AppState>, who: Principal) -> Result<Json<Value>, ApiError> {
    let projects = app.store.list_projects().await?;
    let list: Vec<Value> = projects
        .iter()
        .filter(|p| who.projects().contains(p.id))
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

/// The `query` parameter: the issue browser's search terms (`web::search`).
fn parse_query(query: Option<&str>) -> Result<Search, ApiError> {
    search::parse(query.unwrap_or_default()).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// `assigned:me` (the calling user; a token has no "me"), `assigned:EMAIL`, `is:assigned`,
/// `is:unassigned`.
async fn assignee_filter(
    app: &AppState,
    who: &Principal,
    assigned: Option<&Assigned>,
) -> Result<Option<AssigneeFilter>, ApiError> {
    Ok(match assigned {
        None => None,
        Some(Assigned::Nobody) => Some(AssigneeFilter::Nobody),
        Some(Assigned::Anybody) => Some(AssigneeFilter::Anybody),
        Some(Assigned::Me) => match who {
            Principal::User(u) => Some(AssigneeFilter::User(u.user.id)),
            Principal::Token(_) => {
                return Err(ApiError::bad_request(
                    "assigned:me needs a signed-in user; use assigned:EMAIL with a token",
                ))
            }
        },
        Some(Assigned::Email(email)) => {
            let id = triage::assignee_id(&app.store, Some(email)).await?;
            id.map(AssigneeFilter::User)
        }
    })
}

async fn issues(
    State(app): State<AppState>,
    who: Principal,
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
    let terms = parse_query(p.query.as_deref())?;
    let status = p.status.as_deref().map(parse_status).transpose()?;
    // The same meaning as the issue list's search box: a term of `query` wins over the
    // parameter of the same name, as `is:` wins over the page's tab.
    let mut q = terms.issue_query(
        project_id,
        status,
        sort,
        parse_limit(p.limit.as_deref(), 50)?,
        p.cursor,
    );
    q.level = q.level.or(level);
    q.release = q.release.or(p.release);
    q.environment = q.environment.or(p.environment);
    q.assignee = assignee_filter(&app, &who, terms.assigned.as_ref()).await?;
    let page = app.store.list_issues(&q).await?;
    let issues: Vec<Value> = page.issues.iter().map(issue_json).collect();
    Ok(Json(
        json!({ "issues": issues, "next_cursor": page.next_cursor }),
    ))
}

async fn issue(
    State(app): State<AppState>,
    _who: Principal,
    Path(issue_id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    // A merged-away issue answers as the issue it was merged into.
    let issue = match app.store.issue(issue_id).await {
        Err(StoreError::NotFound) => {
            let target = triage::redirected(&app.store, issue_id).await?;
            app.store.issue(target).await?
        }
        other => other?,
    };
    Ok(Json(issue_json(&issue)))
}

/// `limit` and `cursor` of a paged list.
#[derive(Debug, Deserialize)]
struct PageParams {
    limit: Option<String>,
    cursor: Option<String>,
    query: Option<String>,
}

async fn issue_events(
    State(app): State<AppState>,
    _who: Principal,
    Path(issue_id): Path<i64>,
    Query(p): Query<PageParams>,
) -> Result<Json<Value>, ApiError> {
    app.store.issue(issue_id).await?;
    let limit = parse_limit(p.limit.as_deref(), 50)?;
    let filter = parse_query(p.query.as_deref())?
        .event_filter()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let page = app
        .store
        .search_issue_events(issue_id, &filter, limit, p.cursor.as_deref())
        .await?;
    let events: Vec<Value> = page
        .events
        .iter()
        .map(|e| {
            let mut v = event_summary_json(&e.summary);
            if let Some(map) = v.as_object_mut() {
                map.insert("user".into(), json!(e.user));
                map.insert("message".into(), json!(e.message));
                map.insert("tags".into(), json!(e.tags));
            }
            v
        })
        .collect();
    Ok(Json(
        json!({ "events": events, "next_cursor": page.next_cursor }),
    ))
}

async fn event(
    State(app): State<AppState>,
    _who: Principal,
    Path((project_id, event_id)): Path<(i64, String)>,
) -> Result<Json<Value>, ApiError> {
    let event_id: EventId = event_id
        .parse()
        .map_err(|e: crate::protocol::ParseEventIdError| ApiError::bad_request(e.to_string()))?;
    let stored = app.store.event(project_id, &event_id).await?;
    Ok(Json(dto::stored_event_json(&stored)))
}
