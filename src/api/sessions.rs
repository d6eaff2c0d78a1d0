//! Browser sessions through the API: one's own, and (owners) anyone's.
//!
//! * `GET /api/v1/sessions` → `{"sessions": [{"id", "current", "date_created", "expires"}]}`:
//!   the calling user's live sessions, newest first (`current`: the one making the request).
//! * `DELETE /api/v1/sessions/{id}` → 204: ends one of them (404 for someone else's).
//! * `GET /api/v1/users/{user_id}/sessions`, `DELETE /api/v1/users/{user_id}/sessions/{id}`:
//!   the same for any user (owners, `org:admin`).
//!
//! A session's id is the start of the SHA-256 of its cookie, never the cookie itself. API
//! tokens have no sessions: for them the first two routes answer 400.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::http::principal::{Permission, Principal, SelfService};
use crate::http::session::current_session_id;
use crate::store::SessionInfo;
use crate::timefmt::rfc3339_ms;
use crate::AppState;

/// Routes of the sessions API.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/sessions", get(own))
        .route("/api/v1/sessions/{id}", delete(revoke_own))
        .route("/api/v1/users/{user_id}/sessions", get(of_user))
        .route(
            "/api/v1/users/{user_id}/sessions/{id}",
            delete(revoke_of_user),
        )
}

fn session_json(s: &SessionInfo, current: Option<&str>) -> Value {
    json!({
        "id": s.id,
        "current": current == Some(s.id.as_str()),
        "date_created": rfc3339_ms(s.created_ms),
        "expires": rfc3339_ms(s.expires_ms),
    })
}

fn own_user(who: &Principal) -> Result<i64, ApiError> {
    who.user()
        .map(|u| u.id)
        .ok_or_else(|| ApiError::bad_request("API tokens have no sessions; sign in"))
}

async fn own(
    State(app): State<AppState>,
    who: Principal,
    headers: axum::http::HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let user = own_user(&who)?;
    let current = current_session_id(&headers);
    let list = app.store.list_sessions(user, app.clock.now_ms()).await?;
    let sessions: Vec<Value> = list
        .iter()
        .map(|s| session_json(s, current.as_deref()))
        .collect();
    Ok(Json(json!({ "sessions": sessions })))
}

async fn revoke_own(
    State(app): State<AppState>,
    SelfService(who): SelfService,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user = own_user(&who)?;
    app.store.revoke_session(user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn of_user(
    State(app): State<AppState>,
    who: Principal,
    Path(user_id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::Admin)?;
    app.store.user(user_id).await?;
    let list = app.store.list_sessions(user_id, app.clock.now_ms()).await?;
    let sessions: Vec<Value> = list.iter().map(|s| session_json(s, None)).collect();
    Ok(Json(json!({ "sessions": sessions })))
}

async fn revoke_of_user(
    State(app): State<AppState>,
    who: Principal,
    Path((user_id, id)): Path<(i64, String)>,
) -> Result<StatusCode, ApiError> {
    who.require(Permission::Admin)?;
    app.store.revoke_session(user_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
