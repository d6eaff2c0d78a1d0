//! The first admin: when no user exists, `errata serve` prints a one-time link
//! (`/setup/{token}`, valid one day) whose form creates an admin and signs them in. The
//! database keeps only the token's hash; creating the admin spends every setup token.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::{Deserialize, Serialize};

use super::guard::pre_session_form;
use super::login::{start_session, SignIn};
use super::password::hash_password_off_thread;
use crate::http::session::random_hex;
use crate::http::ClientIp;
use crate::store::{secret_hash, Store, StoreError};
use crate::web::{sentence, WebError, WebState};

/// Fields of the first-admin form.
#[derive(Debug, Deserialize)]
pub struct SetupForm {
    email: String,
    password: String,
}

/// What `setup.html` shows.
#[derive(Debug, Serialize)]
struct SetupPage<'a> {
    /// The form's pre-session CSRF token.
    csrf: &'a str,
    /// The setup token of the link (the form posts back to it).
    token: &'a str,
    email: &'a str,
    error: Option<String>,
}

async fn render_setup(
    state: &WebState,
    headers: &HeaderMap,
    token: &str,
    status: StatusCode,
    email: &str,
    error: Option<String>,
) -> Result<Response, WebError> {
    pre_session_form(state, headers, status, |csrf| {
        let page = SetupPage {
            csrf,
            token,
            email,
            error,
        };
        state.templates.render("setup.html", page)
    })
}

fn setup_token_ok(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `GET /setup/{token}`: the one-time form creating the first admin.
pub async fn setup_page(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    if state.app.store.user_count().await? > 0 {
        return Ok(link_used());
    }
    if !setup_token_ok(&token)
        || !state
            .app
            .store
            .setup_token_valid(&secret_hash(&token))
            .await?
    {
        return Ok(link_unknown());
    }
    render_setup(&state, &headers, &token, StatusCode::OK, "", None).await
}

/// The answer to a setup link once the first admin exists (410): what happened and what to
/// do instead, rather than a bare "not found".
fn link_used() -> Response {
    let page = crate::web::error_page(
        StatusCode::GONE,
        "This setup link was already used: Errata has its first admin. Sign in, or ask an \
         admin for an account (Admin → Users, or `errata user create EMAIL` on the server); \
         a forgotten password is reset with `errata user reset-password EMAIL`.",
    );
    (StatusCode::GONE, page).into_response()
}

/// The answer to a setup link that is malformed, unknown or expired while no user exists
/// (404), saying how to get a new one.
fn link_unknown() -> Response {
    let page = crate::web::error_page(
        StatusCode::NOT_FOUND,
        "This setup link is unknown or has expired (links last 24 hours). Restart `errata \
         serve` to print a new one, or run `errata user create you@example.com --admin` on \
         the server.",
    );
    (StatusCode::NOT_FOUND, page).into_response()
}

/// `POST /setup/{token}`: creates the first admin and signs them in.
pub async fn setup(
    State(state): State<WebState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Path(token): Path<String>,
    Form(form): Form<SetupForm>,
) -> Result<Response, WebError> {
    if state.app.store.user_count().await? > 0 {
        return Ok(link_used());
    }
    if !setup_token_ok(&token) {
        return Ok(link_unknown());
    }
    let email = crate::store::normalize_email(&form.email);
    let refuse = |error: String| {
        render_setup(
            &state,
            &headers,
            &token,
            StatusCode::BAD_REQUEST,
            &email,
            Some(error),
        )
    };
    if !email.contains('@') {
        return refuse("Enter an e-mail address.".into()).await;
    }
    let hash = match hash_password_off_thread(form.password).await? {
        Ok(h) => h,
        Err(e) => return refuse(sentence(&e.to_string())).await,
    };
    let user = match state
        .app
        .store
        .create_first_admin(&secret_hash(&token), &email, &hash)
        .await
    {
        Ok(u) => u,
        Err(StoreError::NotFound) => return Ok(link_unknown()),
        Err(StoreError::Conflict(_)) => return Ok(link_used()),
        Err(e) => return Err(e.into()),
    };
    tracing::info!(user_id = user.id, "first admin created");
    start_session(&state, &headers, &user, "/projects", SignIn::SetupLink, ip).await
}

/// Creates a one-time setup token (valid one day) when no user exists yet and returns it
/// (for the first-start hint of `errata serve`); `None` when users exist.
pub async fn first_admin_setup_token(store: &Store) -> Result<Option<String>, StoreError> {
    if store.user_count().await? > 0 {
        return Ok(None);
    }
    let token = random_hex(32);
    let expires = crate::clock::system_now_ms().saturating_add(crate::clock::DAY_MS);
    store
        .create_setup_token(&secret_hash(&token), expires)
        .await?;
    Ok(Some(token))
}
