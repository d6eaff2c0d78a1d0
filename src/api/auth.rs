//! Authentication of the read API: a Bearer token, or the issue browser's session cookie
//! (state-changing calls with a session must also send the session's CSRF token in
//! `X-CSRF-Token`, so another site cannot make a signed-in browser change issues).

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts, Method};

use crate::error::ApiError;
use crate::AppState;

/// Proof that the request carried a valid API token or session. Add it as a handler argument.
#[derive(Debug, Clone, Copy)]
pub struct ApiAuth;

impl FromRequestParts<AppState> for ApiAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let Some(value) = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return session_auth(parts, app).await;
        };
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::unauthorized("Authorization must use the Bearer scheme"))?;
        if app.store.token_valid(token).await? {
            Ok(ApiAuth)
        } else {
            Err(ApiError::unauthorized("invalid API token"))
        }
    }
}

/// Accepts the browser session cookie in place of a token.
async fn session_auth(parts: &Parts, app: &AppState) -> Result<ApiAuth, ApiError> {
    let missing = || ApiError::unauthorized("missing Authorization: Bearer <token>");
    let session = crate::web::session_from_headers(&parts.headers, &app.store)
        .await?
        .ok_or_else(missing)?;
    if !matches!(parts.method, Method::GET | Method::HEAD) {
        let sent = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !crate::web::auth::csrf_matches(&session, sent) {
            return Err(ApiError::forbidden(
                "a session-authenticated change needs the X-CSRF-Token header",
            ));
        }
    }
    Ok(ApiAuth)
}
