//! Account management through the API: API tokens, users and the audit log.
//!
//! Reading the user list needs any credentials; everything else needs an owner's session or
//! an API token with `org:admin` ([`Permission::Admin`]): anyone else gets 403 and nothing
//! changes. Every change is recorded in the audit log, as done by the session's user or by
//! the token.
//!
//! * `GET /api/v1/tokens` → `{"tokens": [token]}`; `POST /api/v1/tokens` `{"name", "scopes"?:
//!   ["project:read", …], "projects"?: [id, …]}` → 201 token plus `"token": "errata_…"` (the
//!   plaintext, shown this once; owned by the session's user, by nobody when a token made
//!   it); `DELETE /api/v1/tokens/{id}` → 204.
//! * `GET /api/v1/users` → `{"users": [user]}`; `PATCH /api/v1/users/{id}` `{"role":
//!   "owner" | "admin" | "member" | "viewer"}` → user; `DELETE /api/v1/users/{id}` → 204;
//!   `POST /api/v1/users/{id}/password-reset` → 201 `{"url", "expires"}` (a one-time link).
//!   409 for a change that would leave no owner; 400 for deleting oneself.
//! * `GET /api/v1/audit-log?action=&limit=&cursor=` → `{"entries": [entry], "next_cursor"}`
//!   (entry: [`AuditEntry::to_json`](crate::store::AuditEntry::to_json)).
//! * `GET /api/v1/audit-log/export` → the whole log as JSON lines (`application/x-ndjson`,
//!   one entry per line, newest first).

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::parse_limit;
use crate::error::ApiError;
use crate::http::principal::{Permission, Principal, SCOPES};
use crate::http::ClientIp;
use crate::store::{ApiToken, AuditAction, AuditQuery, Role, User};
use crate::timefmt::rfc3339_ms;
use crate::web::auth::reset::create_reset_link;
use crate::web::tokens::token_name;
use crate::AppState;

/// Routes of the account API.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route(
            "/api/v1/tokens/{token_id}",
            axum::routing::delete(revoke_token),
        )
        .route("/api/v1/users", get(list_users))
        .route(
            "/api/v1/users/{user_id}",
            patch(update_user).delete(delete_user),
        )
        .route(
            "/api/v1/users/{user_id}/password-reset",
            post(password_reset),
        )
        .route("/api/v1/audit-log", get(audit_log))
        .route("/api/v1/audit-log/export", get(audit_export))
}

/// A token: `id, name, user (owner's e-mail or null), scopes (list), projects (ids; empty:
/// not limited), hint (last four characters or null), date_created, last_used (RFC 3339 or
/// null)`.
pub fn token_json(t: &ApiToken) -> Value {
    let scopes: Vec<&str> = match t.scopes.split_whitespace().collect::<Vec<_>>() {
        s if s.is_empty() => vec!["org:admin"],
        s => s,
    };
    json!({
        "id": t.id,
        "name": t.name,
        "user": t.user_email,
        "scopes": scopes,
        "projects": t.projects,
        "hint": t.hint,
        "date_created": rfc3339_ms(t.created_ms),
        "last_used": t.last_used_ms.map(rfc3339_ms),
    })
}

/// A user: `id, email, role (owner | admin | member | viewer), date_created, last_login
/// (RFC 3339 or null)`.
pub fn user_json(u: &User) -> Value {
    json!({
        "id": u.id,
        "email": u.email,
        "role": u.role.as_str(),
        "date_created": rfc3339_ms(u.created_ms),
        "last_login": u.last_login_ms.map(rfc3339_ms),
    })
}

/// A JSON body, or 400 saying what is wrong with it.
fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(v)| v)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

async fn list_tokens(State(app): State<AppState>, who: Principal) -> Result<Json<Value>, ApiError> {
    who.require(Permission::Admin)?;
    let tokens: Vec<Value> = app
        .store
        .list_tokens()
        .await?
        .iter()
        .map(token_json)
        .collect();
    Ok(Json(json!({ "tokens": tokens })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    /// Default: `["org:admin"]`.
    #[serde(default)]
    scopes: Vec<String>,
    /// Project ids; default: not limited.
    #[serde(default)]
    projects: Vec<i64>,
}

/// Checks scopes against [`SCOPES`]; returns them space-separated (`org:admin` for none).
pub fn scope_list(scopes: &[String]) -> Result<String, String> {
    if let Some(bad) = scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
        return Err(format!("scope {bad:?} is not one of {}", SCOPES.join(", ")));
    }
    if scopes.is_empty() {
        return Ok("org:admin".to_owned());
    }
    Ok(scopes.join(" "))
}

async fn create_token(
    State(app): State<AppState>,
    who: Principal,
    ClientIp(ip): ClientIp,
    b: Result<Json<NewToken>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    who.require(Permission::Admin)?;
    let new = body(b)?;
    let name = token_name(&new.name).map_err(ApiError::bad_request)?;
    let scopes = scope_list(&new.scopes).map_err(ApiError::bad_request)?;
    let owner = who.user().map(|u| u.id);
    let made = app
        .store
        .add_token(
            name,
            owner,
            &scopes,
            &new.projects,
            &who.actor(ip),
            app.clock.now_ms(),
        )
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound => {
                ApiError::bad_request("a project in projects does not exist")
            }
            e => e.into(),
        })?;
    let mut v = token_json(&made.token);
    v["token"] = Value::String(made.secret);
    Ok((StatusCode::CREATED, Json(v)))
}

async fn revoke_token(
    State(app): State<AppState>,
    who: Principal,
    ClientIp(ip): ClientIp,
    Path(token_id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    who.require(Permission::Admin)?;
    app.store
        .revoke_token(token_id, &who.actor(ip), app.clock.now_ms())
        .await?;
    let by = who.actor(ip).label;
    tracing::info!(token_id, by = %by, "token revoked");
    Ok(StatusCode::NO_CONTENT)
}

async fn list_users(State(app): State<AppState>, _who: Principal) -> Result<Json<Value>, ApiError> {
    let users: Vec<Value> = app
        .store
        .list_users()
        .await?
        .iter()
        .map(user_json)
        .collect();
    Ok(Json(json!({ "users": users })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserUpdate {
    role: String,
}

async fn update_user(
    State(app): State<AppState>,
    who: Principal,
    ClientIp(ip): ClientIp,
    Path(user_id): Path<i64>,
    b: Result<Json<UserUpdate>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::Admin)?;
    let update = body(b)?;
    let role = Role::from_name(&update.role).ok_or_else(|| {
        ApiError::bad_request(format!(
            "role {:?} is not one of owner, admin, member, viewer",
            update.role
        ))
    })?;
    let user = app
        .store
        .set_user_role(user_id, role, &who.actor(ip), app.clock.now_ms())
        .await?;
    Ok(Json(user_json(&user)))
}

async fn delete_user(
    State(app): State<AppState>,
    who: Principal,
    ClientIp(ip): ClientIp,
    Path(user_id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    who.require(Permission::Admin)?;
    if who.user().is_some_and(|u| u.id == user_id) {
        return Err(ApiError::bad_request("you cannot delete your own account"));
    }
    app.store
        .delete_user(user_id, &who.actor(ip), app.clock.now_ms())
        .await?;
    let by = who.actor(ip).label;
    tracing::info!(user_id, by = %by, "user deleted");
    Ok(StatusCode::NO_CONTENT)
}

async fn password_reset(
    State(app): State<AppState>,
    who: Principal,
    ClientIp(ip): ClientIp,
    Path(user_id): Path<i64>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    who.require(Permission::Admin)?;
    let now = app.clock.now_ms();
    let link = create_reset_link(&app.store, &app.config, user_id, &who.actor(ip), now).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "url": link.url, "expires": rfc3339_ms(link.expires_ms) })),
    ))
}

#[derive(Debug, Deserialize)]
struct AuditParams {
    action: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

async fn audit_log(
    State(app): State<AppState>,
    who: Principal,
    Query(p): Query<AuditParams>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::Admin)?;
    let action = match p.action.as_deref() {
        None | Some("") => None,
        Some(a) => Some(AuditAction::from_name(a).ok_or_else(|| {
            ApiError::bad_request(format!("action {a:?} is not an audit log action"))
        })?),
    };
    let page = app
        .store
        .audit_log(&AuditQuery {
            action,
            limit: parse_limit(p.limit.as_deref(), 50)?,
            cursor: p.cursor,
        })
        .await?;
    let entries: Vec<Value> = page.entries.iter().map(|e| e.to_json()).collect();
    Ok(Json(
        json!({ "entries": entries, "next_cursor": page.next_cursor }),
    ))
}

/// The whole audit log as JSON lines, newest first (owners).
async fn audit_export(
    State(app): State<AppState>,
    who: Principal,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    who.require(Permission::Admin)?;
    let mut out = String::new();
    let mut cursor = None;
    loop {
        let page = app
            .store
            .audit_log(&AuditQuery {
                action: None,
                limit: 100,
                cursor,
            })
            .await?;
        for entry in &page.entries {
            out.push_str(&entry.to_json().to_string());
            out.push('\n');
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let headers = [
        (axum::http::header::CONTENT_TYPE, "application/x-ndjson"),
        (
            axum::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"errata-audit-log.jsonl\"",
        ),
    ];
    Ok((headers, out).into_response())
}
