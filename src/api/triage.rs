//! The triage API: assignment and conditional status (`PATCH /api/v1/issues/{id}`), the
//! timeline and comments, merge, grouping hashes and unmerge.
//!
//! Shapes (README, HTTP API):
//! * `PATCH /api/v1/issues/{id}`: any of `"status"`, `"status_details"` (one of
//!   `in_next_release`, `in_release`, `ignore_count`, `ignore_users`,
//!   `ignore_duration_minutes`, `ignore_until_regression`; needs `"status"`), `"assignee"`
//!   (a user's e-mail, or `null` to unassign) → the issue, with `assignee` and
//!   `status_details`. Everything is checked before anything is written.
//! * `GET /api/v1/issues/{id}/activity` → `{"activity": [{"id", "type", "user",
//!   "date_created", "data"}]}`; `user` is `{"type": "user" | "token" | "errata", "id",
//!   "name"}`; a comment's `data` is `{"text", "html", "date_edited"}`.
//! * `POST /api/v1/issues/{id}/comments` `{"text"}` → 201 and the entry; `PATCH …/comments/
//!   {comment_id}` `{"text"}` → the entry; `DELETE …/comments/{comment_id}` → 204; only the
//!   author may change or delete a comment (403 otherwise).
//! * `POST /api/v1/projects/{id}/issues/merge` `{"issue_ids": [...]}` → `{"issue_id"}`.
//! * `GET /api/v1/issues/{id}/hashes` → `{"hashes": [{"hash", "grouping_version",
//!   "event_count", "first_seen"}]}`; `POST /api/v1/issues/{id}/unmerge` `{"hashes": [...]}`
//!   → `{"issue_id"}` of the new issue.
//!
//! Every change needs [`Permission::Triage`].

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

use super::dto::issue_json;
use crate::error::ApiError;
use crate::http::principal::{Permission, Principal};
use crate::store::{Activity, CommentError, IssueStatus, MergeError, Store, StoreError};
use crate::timefmt::rfc3339_ms;
use crate::triage::{Actor, DetailsRequest};
use crate::web::markdown;
use crate::AppState;

/// The triage routes, merged into the API's router.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/issues/{issue_id}/activity", get(activity))
        .route("/api/v1/issues/{issue_id}/comments", post(add_comment))
        .route(
            "/api/v1/issues/{issue_id}/comments/{comment_id}",
            patch(edit_comment).delete(delete_comment),
        )
        .route("/api/v1/projects/{project_id}/issues/merge", post(merge))
        .route("/api/v1/issues/{issue_id}/hashes", get(hashes))
        .route("/api/v1/issues/{issue_id}/unmerge", post(unmerge))
}

/// Distinguishes an absent key (`None`) from `null` (`Some(None)`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Body of `PATCH /api/v1/issues/{id}`.
#[derive(Debug, Deserialize)]
pub struct IssueUpdate {
    status: Option<IssueStatus>,
    status_details: Option<DetailsRequest>,
    #[serde(default, deserialize_with = "present")]
    assignee: Option<Option<String>>,
}

/// The user id of an assignee e-mail (`None` for `null`). Errors: 400 for an unknown one.
pub async fn assignee_id(store: &Store, email: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(email) = email else {
        return Ok(None);
    };
    let wanted = crate::store::normalize_email(email);
    let users = store.list_users().await?;
    users
        .iter()
        .find(|u| u.email == wanted)
        .map(|u| Some(u.id))
        .ok_or_else(|| ApiError::bad_request(format!("no user has the e-mail {email:?}")))
}

/// `PATCH /api/v1/issues/{id}`: status (with its condition) and assignee.
pub async fn update_issue(
    State(app): State<AppState>,
    who: Principal,
    Path(issue_id): Path<i64>,
    body: Result<Json<IssueUpdate>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::Triage)?;
    let Json(update) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let condition = match (update.status, &update.status_details) {
        (Some(status), Some(details)) => details
            .condition(status)
            .map_err(|e| ApiError::bad_request(e.to_string()))?,
        (None, Some(_)) => {
            return Err(ApiError::bad_request("status_details needs a status"));
        }
        _ => None,
    };
    if update.status.is_none() && update.assignee.is_none() {
        return Err(ApiError::bad_request(
            "give status (with optional status_details) or assignee",
        ));
    }
    let store = &app.store;
    store.issue(issue_id).await?;
    let assignee = match &update.assignee {
        Some(email) => Some(assignee_id(store, email.as_deref()).await?),
        None => None,
    };
    let actor = Actor::of(&who);
    let now = app.clock.now_ms();
    let mut issue = None;
    if let Some(assignee) = assignee {
        issue = Some(store.assign_issue(issue_id, assignee, &actor, now).await?);
        tracing::info!(issue_id, assignee = ?assignee, by = &*actor.timeline_name(), "issue assigned");
    }
    if let Some(status) = update.status {
        issue = Some(
            store
                .change_status(issue_id, status, condition, &actor, now)
                .await?,
        );
        tracing::info!(
            issue_id,
            status = status.as_str(),
            by = &*actor.timeline_name(),
            "issue status changed"
        );
    }
    let issue = match issue {
        Some(i) => i,
        None => store.issue(issue_id).await?,
    };
    Ok(Json(issue_json(&issue)))
}

/// One timeline entry as JSON (see the module docs).
pub fn activity_json(a: &Activity) -> Value {
    let mut data = a.data.clone();
    if let (Some(body), Some(map)) = (&a.body, data.as_object_mut()) {
        map.insert("text".into(), json!(body));
        map.insert("html".into(), json!(markdown::render(body)));
        map.insert("date_edited".into(), json!(a.edited_ms.map(rfc3339_ms)));
    }
    json!({
        "id": a.id,
        "type": a.kind,
        "user": {"type": a.actor_kind, "id": a.user_id, "name": a.actor_name},
        "date_created": rfc3339_ms(a.created_ms),
        "data": data,
    })
}

async fn activity(
    State(app): State<AppState>,
    _who: Principal,
    Path(issue_id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let entries = app.store.issue_activity(issue_id).await?;
    let list: Vec<Value> = entries.iter().map(activity_json).collect();
    Ok(Json(json!({ "activity": list })))
}

#[derive(Debug, Deserialize)]
struct CommentBody {
    text: String,
}

fn comment_error(e: CommentError) -> ApiError {
    match e {
        CommentError::BadText => ApiError::bad_request(e.to_string()),
        CommentError::NotAuthor => ApiError::forbidden(e.to_string()),
        CommentError::Store(e) => e.into(),
    }
}

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(b)| b)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

async fn add_comment(
    State(app): State<AppState>,
    who: Principal,
    Path(issue_id): Path<i64>,
    body: Result<Json<CommentBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    who.require(Permission::Triage)?;
    let body = json_body(body)?;
    let entry = app
        .store
        .add_comment(issue_id, &Actor::of(&who), &body.text, app.clock.now_ms())
        .await
        .map_err(comment_error)?;
    Ok((StatusCode::CREATED, Json(activity_json(&entry))))
}

async fn edit_comment(
    State(app): State<AppState>,
    who: Principal,
    Path((issue_id, comment_id)): Path<(i64, i64)>,
    body: Result<Json<CommentBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::Triage)?;
    let body = json_body(body)?;
    let entry = app
        .store
        .edit_comment(
            issue_id,
            comment_id,
            &Actor::of(&who),
            &body.text,
            app.clock.now_ms(),
        )
        .await
        .map_err(comment_error)?;
    Ok(Json(activity_json(&entry)))
}

async fn delete_comment(
    State(app): State<AppState>,
    who: Principal,
    Path((issue_id, comment_id)): Path<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    who.require(Permission::Triage)?;
    app.store
        .delete_comment(issue_id, comment_id, &Actor::of(&who))
        .await
        .map_err(comment_error)?;
    let by = Actor::of(&who);
    tracing::info!(
        issue_id,
        comment_id,
        by = &*by.timeline_name(),
        "comment deleted"
    );
    Ok(StatusCode::NO_CONTENT)
}

/// A refused merge or unmerge: the caller's mistakes are 400, the rest as the store says.
pub fn merge_error(e: MergeError) -> ApiError {
    match e {
        MergeError::Store(e) => e.into(),
        other => ApiError::bad_request(other.to_string()),
    }
}

#[derive(Debug, Deserialize)]
struct MergeBody {
    issue_ids: Vec<i64>,
}

async fn merge(
    State(app): State<AppState>,
    who: Principal,
    Path(project_id): Path<i64>,
    body: Result<Json<MergeBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::Triage)?;
    let body = json_body(body)?;
    app.store.project(project_id).await?;
    let survivor = app
        .store
        .merge_issues(
            project_id,
            &body.issue_ids,
            &Actor::of(&who),
            app.clock.now_ms(),
        )
        .await
        .map_err(merge_error)?;
    let by = Actor::of(&who);
    tracing::info!(
        project_id,
        survivor,
        merged = ?body.issue_ids,
        by = &*by.timeline_name(),
        "issues merged"
    );
    Ok(Json(json!({ "issue_id": survivor })))
}

async fn hashes(
    State(app): State<AppState>,
    _who: Principal,
    Path(issue_id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let hashes = app.store.issue_hashes(issue_id).await?;
    let list: Vec<Value> = hashes
        .iter()
        .map(|h| {
            json!({
                "hash": h.hash,
                "grouping_version": h.grouping_version,
                "event_count": h.event_count,
                "first_seen": rfc3339_ms(h.created_ms),
            })
        })
        .collect();
    Ok(Json(json!({ "hashes": list })))
}

#[derive(Debug, Deserialize)]
struct UnmergeBody {
    hashes: Vec<String>,
}

async fn unmerge(
    State(app): State<AppState>,
    who: Principal,
    Path(issue_id): Path<i64>,
    body: Result<Json<UnmergeBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::Triage)?;
    let body = json_body(body)?;
    let new_issue = app
        .store
        .unmerge_hashes(issue_id, &body.hashes, &Actor::of(&who), app.clock.now_ms())
        .await
        .map_err(merge_error)?;
    Ok(Json(json!({ "issue_id": new_issue })))
}

/// `StoreError::NotFound` of an issue that was merged away: the issue it lives in now.
pub async fn redirected(store: &Store, issue_id: i64) -> Result<i64, ApiError> {
    match store.issue_redirect(issue_id).await? {
        Some(target) => Ok(target),
        None => Err(StoreError::NotFound.into()),
    }
}
