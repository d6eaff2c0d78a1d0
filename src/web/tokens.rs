//! The API tokens page (`/admin/tokens`, admins only): every token with its owner, last
//! four characters, creation and last use; a form that creates one (owned by the admin, its
//! plaintext shown once on the page that answers the form) and a revoke button per token.
//! Both changes are recorded in the audit log.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::{Deserialize, Serialize};

use super::auth::CurrentUser;
use super::view::{when, Layout, When};
use super::{WebError, WebState};
use crate::http::ClientIp;
use crate::store::{Actor, ApiToken};

/// Longest token name accepted, in characters.
pub const MAX_TOKEN_NAME: usize = 100;

/// What `tokens.html` shows.
#[derive(Debug, Serialize)]
struct TokensPage<'a> {
    #[serde(flatten)]
    layout: Layout<'a>,
    tokens: Vec<TokenRow>,
    /// The token just made, shown this once.
    created: Option<CreatedToken>,
    /// Why the form was refused.
    error: Option<String>,
}

/// A row of the tokens table.
#[derive(Debug, Serialize)]
struct TokenRow {
    id: i64,
    name: String,
    /// The owner's e-mail; `None` for tokens of the command line.
    owner: Option<String>,
    /// `…abcd`, when known.
    hint: Option<String>,
    created: When,
    last_used: Option<When>,
}

impl TokenRow {
    fn of(t: &ApiToken, now: i64) -> TokenRow {
        TokenRow {
            id: t.id,
            name: t.name.clone(),
            owner: t.user_email.clone(),
            hint: t.hint.as_ref().map(|h| format!("…{h}")),
            created: when(t.created_ms, now),
            last_used: t.last_used_ms.map(|ms| when(ms, now)),
        }
    }
}

/// A token just made.
#[derive(Debug, Serialize)]
struct CreatedToken {
    name: String,
    secret: String,
}

async fn render_tokens(
    state: &WebState,
    user: &CurrentUser,
    status: StatusCode,
    created: Option<CreatedToken>,
    error: Option<String>,
) -> Result<Response, WebError> {
    let now = state.app.clock.now_ms();
    let tokens = state.app.store.list_tokens().await?;
    let page = TokensPage {
        layout: Layout::of(user),
        tokens: tokens.iter().map(|t| TokenRow::of(t, now)).collect(),
        created,
        error,
    };
    // Like every page it is sent with `Cache-Control: no-store`, so the secret is not cached.
    Ok((status, state.templates.render("tokens.html", page)?).into_response())
}

/// `GET /admin/tokens`.
pub async fn tokens(
    State(state): State<WebState>,
    user: CurrentUser,
) -> Result<Response, WebError> {
    user.require_admin()?;
    render_tokens(&state, &user, StatusCode::OK, None, None).await
}

/// Fields of the new-token form.
#[derive(Debug, Deserialize)]
pub struct NewTokenForm {
    name: String,
}

/// A token name: trimmed, 1 to [`MAX_TOKEN_NAME`] characters.
pub fn token_name(name: &str) -> Result<&str, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("Give the token a name (what uses it).".into());
    }
    if name.chars().count() > MAX_TOKEN_NAME {
        return Err(format!(
            "The name is longer than {MAX_TOKEN_NAME} characters."
        ));
    }
    Ok(name)
}

/// `POST /admin/tokens`: creates a token owned by the admin and shows it once.
pub async fn create(
    State(state): State<WebState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Form(form): Form<NewTokenForm>,
) -> Result<Response, WebError> {
    user.require_admin()?;
    let name = match token_name(&form.name) {
        Ok(n) => n,
        Err(e) => {
            return render_tokens(&state, &user, StatusCode::BAD_REQUEST, None, Some(e)).await
        }
    };
    let by = Actor::user(&user.user).from_ip(ip);
    let now = state.app.clock.now_ms();
    let new = state
        .app
        .store
        .add_token(name, Some(user.user.id), "org:admin", &[], &by, now)
        .await?;
    tracing::info!(
        user_id = user.user.id, by = %user.user.email,
        token_id = new.token.id,
        "token created"
    );
    let created = CreatedToken {
        name: new.token.name,
        secret: new.secret,
    };
    render_tokens(&state, &user, StatusCode::CREATED, Some(created), None).await
}

/// `POST /admin/tokens/{id}/revoke`.
pub async fn revoke(
    State(state): State<WebState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Path(token_id): Path<i64>,
) -> Result<Response, WebError> {
    user.require_admin()?;
    let by = Actor::user(&user.user).from_ip(ip);
    let now = state.app.clock.now_ms();
    state.app.store.revoke_token(token_id, &by, now).await?;
    tracing::info!(user_id = user.user.id, by = %user.user.email, token_id, "token revoked");
    Ok(Redirect::to("/admin/tokens").into_response())
}
