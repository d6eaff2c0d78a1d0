//! The signed-in user's own account (`/account`): who they are, their role, a form to
//! change their password (the current one is asked for; the change ends their other
//! sessions and is recorded in the audit log), and their sessions, each of which they can
//! sign out (`POST /account/sessions/{id}/revoke`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::{Deserialize, Serialize};

use super::auth::password::{hash_password_off_thread, verify_password};
use super::auth::CurrentUser;
use super::view::Layout;
use super::{sentence, WebError, WebState};
use crate::http::cookie::cookie;
use crate::http::session::SESSION_COOKIE;
use crate::http::ClientIp;
use crate::store::{secret_hash, Actor};

/// What `account.html` shows.
#[derive(Debug, Serialize)]
struct AccountPage<'a> {
    #[serde(flatten)]
    layout: Layout<'a>,
    role: &'static str,
    /// Why the password form was refused.
    error: Option<String>,
    /// Set after a successful change.
    changed: bool,
    /// Their live sessions, newest first.
    sessions: Vec<SessionRow>,
}

/// A row of the sessions table.
#[derive(Debug, Serialize)]
struct SessionRow {
    id: String,
    /// The session of this request.
    current: bool,
    /// Sign-in time, RFC 3339.
    created: String,
    /// End, RFC 3339.
    expires: String,
}

async fn render_account(
    state: &WebState,
    user: &CurrentUser,
    headers: &HeaderMap,
    status: StatusCode,
    error: Option<String>,
    changed: bool,
) -> Result<Response, WebError> {
    // Sessions expire on the wall clock (`http::session`).
    let now = crate::clock::system_now_ms();
    let current = crate::http::session::current_session_id(headers);
    let sessions = state
        .app
        .store
        .list_sessions(user.user.id, now)
        .await?
        .into_iter()
        .map(|s| SessionRow {
            current: current.as_deref() == Some(s.id.as_str()),
            id: s.id,
            created: crate::timefmt::rfc3339_ms(s.created_ms),
            expires: crate::timefmt::rfc3339_ms(s.expires_ms),
        })
        .collect();
    let page = AccountPage {
        layout: Layout::of(user),
        sessions,
        role: user.user.role.as_str(),
        error,
        changed,
    };
    Ok((status, state.templates.render("account.html", page)?).into_response())
}

/// `GET /account`.
pub async fn account(
    State(state): State<WebState>,
    user: CurrentUser,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    render_account(&state, &user, &headers, StatusCode::OK, None, false).await
}

/// `POST /account/sessions/{id}/revoke`: signs one of one's sessions out.
pub async fn revoke_session(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    state.app.store.revoke_session(user.user.id, &id).await?;
    tracing::info!(user_id = user.user.id, "session signed out");
    Ok(Redirect::to("/account").into_response())
}

/// Fields of the password form.
#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    current: String,
    password: String,
    repeat: String,
}

/// `POST /account/password`: changes the signed-in user's password.
pub async fn change_password(
    State(state): State<WebState>,
    user: CurrentUser,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Form(form): Form<PasswordForm>,
) -> Result<Response, WebError> {
    let refuse = |status: StatusCode, error: String| {
        render_account(&state, &user, &headers, status, Some(error), false)
    };
    let stored = state.app.store.user_with_password(&user.user.email).await?;
    let Some((_, hash)) = stored else {
        return Err(WebError::NotFound);
    };
    let current = form.current;
    let verified = tokio::task::spawn_blocking(move || verify_password(&hash, &current))
        .await
        .unwrap_or(false);
    if !verified {
        tracing::warn!(user_id = user.user.id, by = %user.user.email, remote = %crate::http::show_ip(ip), "password change: wrong current password");
        let wrong = "The current password is wrong.".to_owned();
        return refuse(StatusCode::BAD_REQUEST, wrong).await;
    }
    if form.password != form.repeat {
        return refuse(
            StatusCode::BAD_REQUEST,
            "The two new passwords differ.".into(),
        )
        .await;
    }
    let new_hash = match hash_password_off_thread(form.password).await? {
        Ok(h) => h,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, sentence(&e.to_string())).await,
    };
    let keep = cookie(&headers, SESSION_COOKIE)
        .map(secret_hash)
        .unwrap_or_default();
    let by = Actor::user(&user.user).from_ip(ip);
    let now = state.app.clock.now_ms();
    state
        .app
        .store
        .change_password(user.user.id, &new_hash, &keep, &by, now)
        .await?;
    tracing::info!(user_id = user.user.id, by = %user.user.email, "password changed");
    render_account(&state, &user, &headers, StatusCode::OK, None, true).await
}
