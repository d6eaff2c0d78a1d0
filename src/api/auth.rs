//! Bearer-token authentication of the read API.

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};

use crate::error::ApiError;
use crate::AppState;

/// Proof that the request carried a valid API token. Add it as a handler argument.
#[derive(Debug, Clone, Copy)]
pub struct ApiAuth;

impl FromRequestParts<AppState> for ApiAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <token>"))?;
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
