//! Password reset by an admin: a one-time link (`/reset/{token}`, valid [`RESET_TTL_MS`])
//! that the admin hands to the user, whose form sets a new password and signs them in.
//!
//! The link is made by [`create_reset_link`] (the users page, the API and `errata user
//! reset-password` all call it): 256 random bits, only the hash stored, recorded in the
//! audit log. Using it spends it, ends every session of the user and is recorded too; a new
//! link for the same user replaces the old one. The form is a pre-session form (like
//! sign-in), so it works whoever is signed in in that browser.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use serde::{Deserialize, Serialize};

use super::guard::pre_session_form;
use super::login::{start_session, SignIn};
use super::password::hash_password_off_thread;
use crate::clock::DAY_MS;
use crate::config::Config;
use crate::http::session::random_hex;
use crate::http::ClientIp;
use crate::store::{secret_hash, Actor, Store, StoreError, User};
use crate::web::{sentence, WebError, WebState};

/// How long a reset link works: one day.
pub const RESET_TTL_MS: i64 = DAY_MS;

/// A reset link just made.
#[derive(Debug, Clone)]
pub struct ResetLink {
    /// The user it is for.
    pub user: User,
    /// `{base_url}/reset/{token}`.
    pub url: String,
    /// When it stops working, epoch ms.
    pub expires_ms: i64,
}

/// Makes a one-time reset link for `user_id` at `now_ms`, replacing their earlier ones, and
/// records `by` making it. Errors: [`StoreError::NotFound`] for an unknown user.
pub async fn create_reset_link(
    store: &Store,
    config: &Config,
    user_id: i64,
    by: &Actor,
    now_ms: i64,
) -> Result<ResetLink, StoreError> {
    let token = random_hex(32);
    let expires_ms = now_ms.saturating_add(RESET_TTL_MS);
    let user = store
        .create_password_reset(user_id, &secret_hash(&token), expires_ms, by, now_ms)
        .await?;
    Ok(ResetLink {
        user,
        url: format!("{}/reset/{token}", config.base_url()),
        expires_ms,
    })
}

/// Fields of the reset form.
#[derive(Debug, Deserialize)]
pub struct ResetForm {
    password: String,
    repeat: String,
}

/// What `reset.html` shows.
#[derive(Debug, Serialize)]
struct ResetPage<'a> {
    /// The form's pre-session CSRF token.
    csrf: &'a str,
    /// The link's token (the form posts back to it).
    token: &'a str,
    /// Whose password is set.
    email: &'a str,
    error: Option<String>,
}

fn token_ok(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The user of a live link, else 404 (unknown, spent and expired links look the same).
async fn link_user(state: &WebState, token: &str) -> Result<User, WebError> {
    if !token_ok(token) {
        return Err(WebError::NotFound);
    }
    state
        .app
        .store
        .password_reset_user(&secret_hash(token), state.app.clock.now_ms())
        .await?
        .ok_or(WebError::NotFound)
}

async fn render_reset(
    state: &WebState,
    headers: &HeaderMap,
    token: &str,
    email: &str,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, WebError> {
    pre_session_form(state, headers, status, |csrf| {
        let page = ResetPage {
            csrf,
            token,
            email,
            error,
        };
        state.templates.render("reset.html", page)
    })
}

/// `GET /reset/{token}`: the form setting a new password.
pub async fn reset_page(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let user = link_user(&state, &token).await?;
    render_reset(&state, &headers, &token, &user.email, StatusCode::OK, None).await
}

/// `POST /reset/{token}`: sets the password, spends the link, ends the user's sessions and
/// signs them in.
pub async fn reset(
    State(state): State<WebState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Path(token): Path<String>,
    Form(form): Form<ResetForm>,
) -> Result<Response, WebError> {
    let user = link_user(&state, &token).await?;
    let refuse = |error: String| {
        render_reset(
            &state,
            &headers,
            &token,
            &user.email,
            StatusCode::BAD_REQUEST,
            Some(error),
        )
    };
    if form.password != form.repeat {
        return refuse("The two passwords differ.".into()).await;
    }
    let hash = match hash_password_off_thread(form.password).await? {
        Ok(h) => h,
        Err(e) => return refuse(sentence(&e.to_string())).await,
    };
    let now = state.app.clock.now_ms();
    let user = match state
        .app
        .store
        .reset_password(&secret_hash(&token), &hash, ip, now)
        .await
    {
        Ok(u) => u,
        // Spent by a concurrent submit, or expired while the password was hashed.
        Err(StoreError::NotFound) => return Err(WebError::NotFound),
        Err(e) => return Err(e.into()),
    };
    tracing::info!(user_id = user.id, "password reset through a link");
    start_session(&state, &headers, &user, "/projects", SignIn::ResetLink, ip).await
}
