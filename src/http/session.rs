//! Browser sessions: a random 256-bit token in the `errata_session` cookie, valid for
//! [`SESSION_TTL`]. The database keeps only the token's SHA-256 (so a leaked database does not
//! leak live sessions) together with the session's CSRF token (see [`super::csrf`]).
//!
//! Who a session belongs to, and what they may do, is answered by
//! [`super::principal::Principal`]; this module only starts, finds and ends sessions.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};

use super::cookie::{cookie, set_cookie};
use crate::config::Config;
use crate::store::{secret_hash, Session, Store, StoreError, User};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "errata_session";
/// How long a session lasts: 14 days from sign-in.
pub const SESSION_TTL: Duration = Duration::from_secs(14 * 24 * 3600);

/// `n` random bytes as lowercase hex (session tokens, CSRF tokens, setup links).
pub fn random_hex(n: usize) -> String {
    let bytes: Vec<u8> = (0..n).map(|_| rand::random::<u8>()).collect();
    hex::encode(bytes)
}

/// The live session named by the request's session cookie, if any.
pub async fn session_from_headers(
    headers: &HeaderMap,
    store: &Store,
) -> Result<Option<Session>, StoreError> {
    match cookie(headers, SESSION_COOKIE) {
        Some(token) => store.session(&secret_hash(token)).await,
        None => Ok(None),
    }
}

/// The listed id ([`crate::store::SessionInfo::id`]) of the request's session cookie, if any.
pub fn current_session_id(headers: &HeaderMap) -> Option<String> {
    cookie(headers, SESSION_COOKIE)
        .map(|token| secret_hash(token)[..crate::store::SESSION_ID_LEN].to_owned())
}

/// Starts a session for `user` (a fresh token and CSRF token, expiring after
/// [`SESSION_TTL`]) and returns the `Set-Cookie` value that hands it to the browser.
pub async fn start(
    store: &Store,
    config: &Config,
    headers: &HeaderMap,
    user: &User,
) -> Result<HeaderValue, StoreError> {
    let token = random_hex(32);
    let csrf = random_hex(16);
    let ttl_ms = i64::try_from(SESSION_TTL.as_millis()).unwrap_or(i64::MAX);
    // The store compares expiry with the wall clock, so the session is made on it too.
    let expires = crate::clock::system_now_ms().saturating_add(ttl_ms);
    store
        .create_session(user.id, &secret_hash(&token), &csrf, expires)
        .await?;
    Ok(set_cookie(
        config,
        headers,
        SESSION_COOKIE,
        &token,
        SESSION_TTL.as_secs(),
    ))
}

/// Ends the request's session on the server (not just in the browser) and returns the
/// `Set-Cookie` value that deletes the cookie.
pub async fn end(
    store: &Store,
    config: &Config,
    headers: &HeaderMap,
) -> Result<HeaderValue, StoreError> {
    if let Some(token) = cookie(headers, SESSION_COOKIE) {
        store.delete_session(&secret_hash(token)).await?;
    }
    Ok(set_cookie(config, headers, SESSION_COOKIE, "", 0))
}
