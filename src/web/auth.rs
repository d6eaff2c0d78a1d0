//! Sign-in, sessions and CSRF protection of the issue browser.
//!
//! * Passwords are argon2id PHC strings ([`hash_password`]); hashing runs on the blocking
//!   pool because it is deliberately slow (tens of milliseconds).
//! * A session is a random 256-bit token in the `errata_session` cookie (HttpOnly,
//!   SameSite=Lax, Secure when the base URL is https); the database keeps only its SHA-256,
//!   so a leaked database does not leak live sessions.
//! * CSRF: each session has a random token that every POST form carries in the hidden
//!   field `csrf` (or the `X-CSRF-Token` header); [`csrf_guard`] checks it before any
//!   handler runs and answers 403 otherwise. Sign-in and first-admin setup have no session
//!   yet, so they use a double-submit cookie (`errata_csrf`) instead.
//! * Failed sign-ins are logged with the e-mail and remote address and limited per address
//!   and per e-mail ([`LoginLimiter`]).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use serde_json::json;

use super::{error_page, WebError, WebState};
use crate::store::{secret_hash, Session, Store, StoreError, User};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "errata_session";
/// Name of the pre-session CSRF cookie of the sign-in and setup forms.
pub const LOGIN_CSRF_COOKIE: &str = "errata_csrf";
/// How long a session lasts: 14 days from sign-in.
pub const SESSION_TTL: Duration = Duration::from_secs(14 * 24 * 3600);
/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Largest form body the CSRF guard reads (bulk forms with a page of ids are a few KiB).
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Errors hashing a password.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Shorter than [`MIN_PASSWORD_LEN`].
    #[error("the password must have at least {MIN_PASSWORD_LEN} characters")]
    TooShort,
    /// argon2 failed (out of memory).
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// Hashes a password as an argon2id PHC string with a random salt.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(PasswordError::TooShort);
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// [`hash_password`] on the blocking pool: argon2 is deliberately slow and must not stall the
/// request workers. The outer error is a failed task, the inner one a rejected password.
pub async fn hash_password_off_thread(
    password: String,
) -> Result<Result<String, PasswordError>, WebError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| WebError::BadRequest(e.to_string()))
}

/// True when `password` matches the PHC string `hash`; false for a malformed hash.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash of a random password, verified against when the e-mail is unknown so that a
/// wrong e-mail takes as long as a wrong password (no account enumeration by timing).
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&random_hex(16)).unwrap_or_default())
}

/// `n` random bytes as lowercase hex.
pub fn random_hex(n: usize) -> String {
    let bytes: Vec<u8> = (0..n).map(|_| rand::random::<u8>()).collect();
    hex::encode(bytes)
}

/// Constant-time string equality (length may leak; tokens have a fixed length).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The session named by the request's session cookie, if it is live. Used by the pages and
/// by the JSON API, which accepts a session as well as a token.
pub async fn session_from_headers(
    headers: &HeaderMap,
    store: &Store,
) -> Result<Option<Session>, StoreError> {
    match cookie(headers, SESSION_COOKIE) {
        Some(token) => store.session(&secret_hash(token)).await,
        None => Ok(None),
    }
}

/// True when `token` is this session's CSRF token.
pub fn csrf_matches(session: &Session, token: &str) -> bool {
    same(&session.csrf_token, token)
}

/// The signed-in user of a page request, with the CSRF token its forms must carry.
/// Without a live session the request is redirected to the sign-in page.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    /// Who is signed in.
    pub user: User,
    /// The session's CSRF token (for the hidden `csrf` field).
    pub csrf: String,
}

/// Rejection of [`CurrentUser`]: a redirect to sign-in, or a storage error.
#[derive(Debug)]
pub enum AuthRejection {
    /// No session: go to `/login?next=<path>`.
    SignIn(String),
    /// The session lookup failed.
    Error(WebError),
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            AuthRejection::SignIn(next) => {
                let target = if next == "/" {
                    "/login".to_owned()
                } else {
                    format!("/login?next={}", urlencode(&next))
                };
                Redirect::to(&target).into_response()
            }
            AuthRejection::Error(e) => e.into_response(),
        }
    }
}

impl FromRequestParts<WebState> for CurrentUser {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &WebState,
    ) -> Result<Self, AuthRejection> {
        // The CSRF guard already looked the session up for POSTs.
        let session = match parts.extensions.get::<Session>() {
            Some(s) => Some(s.clone()),
            None => session_from_headers(&parts.headers, &state.app.store)
                .await
                .map_err(|e| AuthRejection::Error(e.into()))?,
        };
        match session {
            Some(s) => Ok(CurrentUser {
                user: s.user,
                csrf: s.csrf_token,
            }),
            None => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_else(|| "/".to_owned());
                Err(AuthRejection::SignIn(next))
            }
        }
    }
}

impl CurrentUser {
    /// `Ok` for admins, else [`WebError::Forbidden`].
    pub fn require_admin(&self) -> Result<(), WebError> {
        if self.user.is_admin {
            Ok(())
        } else {
            Err(WebError::Forbidden(
                "Only admins may open this page.".into(),
            ))
        }
    }
}

/// Middleware: every state-changing request must prove it came from one of our forms.
///
/// GET/HEAD/OPTIONS pass. Other methods need the `csrf` form field (or `X-CSRF-Token`
/// header) to equal the session's token — or, on `/login` and `/setup/…`, the
/// `errata_csrf` cookie. Anything else is refused with 403 before a handler runs. The
/// session found is handed on in the request extensions.
pub async fn csrf_guard(State(state): State<WebState>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            error_page(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large."),
        )
            .into_response();
    };
    let sent = parts
        .headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            url::form_urlencoded::parse(&bytes)
                .find(|(k, _)| k == "csrf")
                .map(|(_, v)| v.into_owned())
        })
        .unwrap_or_default();
    let path = parts.uri.path();
    let pre_session = path == "/login" || path.starts_with("/setup/");
    let ok = if pre_session {
        cookie(&parts.headers, LOGIN_CSRF_COOKIE)
            .is_some_and(|c| !sent.is_empty() && same(c, &sent))
    } else {
        match session_from_headers(&parts.headers, &state.app.store).await {
            Ok(Some(session)) => {
                let ok = !sent.is_empty() && csrf_matches(&session, &sent);
                parts.extensions.insert(session);
                ok
            }
            // No session: the handler's extractor redirects to sign-in.
            Ok(None) if sent.is_empty() => false,
            Ok(None) => {
                return Redirect::to("/login").into_response();
            }
            Err(e) => return WebError::from(e).into_response(),
        }
    };
    if !ok {
        tracing::debug!(path, "csrf check failed");
        return (
            StatusCode::FORBIDDEN,
            error_page(
                StatusCode::FORBIDDEN,
                "This form was not sent from an Errata page or has expired \
                 (CSRF check failed). Go back, reload the page and try again.",
            ),
        )
            .into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// In-memory counters of failed sign-ins in a sliding window, per remote address and per
/// e-mail. Bounded: at most [`LoginLimiter::MAX_KEYS`] keys are tracked.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl LoginLimiter {
    /// Window over which failures count.
    pub const WINDOW: Duration = Duration::from_secs(15 * 60);
    /// Failures allowed per e-mail in the window.
    pub const PER_EMAIL: usize = 5;
    /// Failures allowed per remote address in the window (several users behind one NAT).
    pub const PER_ADDRESS: usize = 20;
    /// Most keys tracked; past it, stale keys are dropped, then the oldest.
    pub const MAX_KEYS: usize = 10_000;

    fn keys(ip: Option<IpAddr>, email: &str) -> [(String, usize); 2] {
        let ip = ip
            .map(|i| i.to_string())
            .unwrap_or_else(|| "unknown".into());
        [
            (format!("ip:{ip}"), Self::PER_ADDRESS),
            (format!("email:{email}"), Self::PER_EMAIL),
        ]
    }

    /// `Some(wait)` when the address or e-mail has used up its failures.
    pub fn blocked(&self, ip: Option<IpAddr>, email: &str) -> Option<Duration> {
        let now = Instant::now();
        let Ok(map) = self.failures.lock() else {
            return None;
        };
        Self::keys(ip, email)
            .iter()
            .filter_map(|(key, limit)| {
                let recent: Vec<&Instant> = map
                    .get(key)?
                    .iter()
                    .filter(|t| now.duration_since(**t) < Self::WINDOW)
                    .collect();
                if recent.len() >= *limit {
                    recent
                        .first()
                        .map(|oldest| Self::WINDOW.saturating_sub(now.duration_since(**oldest)))
                } else {
                    None
                }
            })
            .max()
    }

    /// Counts a failed attempt.
    pub fn record_failure(&self, ip: Option<IpAddr>, email: &str) {
        let now = Instant::now();
        let Ok(mut map) = self.failures.lock() else {
            return;
        };
        if map.len() >= Self::MAX_KEYS {
            map.retain(|_, times| times.iter().any(|t| now.duration_since(*t) < Self::WINDOW));
            while map.len() >= Self::MAX_KEYS {
                let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, times)| times.last().copied())
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                map.remove(&oldest);
            }
        }
        for (key, _) in Self::keys(ip, email) {
            let times = map.entry(key).or_default();
            times.retain(|t| now.duration_since(*t) < Self::WINDOW);
            times.push(now);
        }
    }

    /// Forgets an e-mail's failures after a successful sign-in.
    pub fn clear_email(&self, email: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(&format!("email:{email}"));
        }
    }
}

/// The TCP peer of the request, when the server recorded it (absent in router tests).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PeerAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}

/// `next` if it is a local path (`/…` but not `//…`), else `/`: sign-in must not become an
/// open redirect.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

/// Percent-encodes a query-string value.
pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// True when the browser talks https to us: the base URL says so, or a trusted proxy
/// (`trust_forwarded_for`) reports `X-Forwarded-Proto: https`.
fn behind_https(state: &WebState, headers: &HeaderMap) -> bool {
    state.app.config.base_url().starts_with("https://")
        || (state.app.config.ingest.trust_forwarded_for
            && headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("https")))
}

fn cookie_header(
    state: &WebState,
    headers: &HeaderMap,
    name: &str,
    value: &str,
    max_age_secs: u64,
) -> HeaderValue {
    let secure = if behind_https(state, headers) {
        "; Secure"
    } else {
        ""
    };
    let text =
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The pre-session CSRF token: the existing cookie's, or a fresh one to set.
fn login_csrf(headers: &HeaderMap) -> (String, bool) {
    match cookie(headers, LOGIN_CSRF_COOKIE) {
        Some(c) if c.len() == 32 && c.bytes().all(|b| b.is_ascii_hexdigit()) => {
            (c.to_owned(), false)
        }
        _ => (random_hex(16), true),
    }
}

/// Query of the sign-in page.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// Fields of the sign-in form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

async fn render_login(
    state: &WebState,
    headers: &HeaderMap,
    status: StatusCode,
    email: &str,
    next: &str,
    error: Option<String>,
) -> Result<Response, WebError> {
    let (csrf, fresh) = login_csrf(headers);
    let no_users = state.app.store.user_count().await? == 0;
    let html = state.templates.render(
        "login.html",
        json!({
            "csrf": csrf,
            "email": email,
            "next": next,
            "error": error,
            "no_users": no_users,
        }),
    )?;
    Ok(form_response(state, headers, status, html, &csrf, fresh))
}

/// `GET /login`: the sign-in form (signed-in users go home).
pub async fn login_page(
    State(state): State<WebState>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Result<Response, WebError> {
    if session_from_headers(&headers, &state.app.store)
        .await?
        .is_some()
    {
        return Ok(Redirect::to(&safe_next(q.next.as_deref())).into_response());
    }
    let next = safe_next(q.next.as_deref());
    render_login(&state, &headers, StatusCode::OK, "", &next, None).await
}

/// `POST /login`: checks the password, starts a session, redirects to `next`.
pub async fn login(
    State(state): State<WebState>,
    headers: HeaderMap,
    PeerAddr(connect): PeerAddr,
    Form(form): Form<LoginForm>,
) -> Result<Response, WebError> {
    let ip = crate::http::client_ip(
        &headers,
        connect,
        state.app.config.ingest.trust_forwarded_for,
    );
    let email = crate::store::normalize_email(&form.email);
    let next = safe_next(form.next.as_deref());
    if let Some(wait) = state.limiter.blocked(ip, &email) {
        tracing::warn!(email = %email, remote = ?ip, "sign-in refused: too many failed attempts");
        let minutes = wait.as_secs().div_ceil(60).max(1);
        let msg = format!("Too many failed sign-in attempts. Try again in {minutes} minute(s).");
        return render_login(
            &state,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            &email,
            &next,
            Some(msg),
        )
        .await;
    }
    let stored = state.app.store.user_with_password(&email).await?;
    let password = form.password;
    let (user, hash) = match stored {
        Some((user, hash)) => (Some(user), hash),
        None => (None, dummy_hash().to_owned()),
    };
    let verified = tokio::task::spawn_blocking(move || verify_password(&hash, &password))
        .await
        .unwrap_or(false);
    let user = match user {
        Some(u) if verified => u,
        _ => {
            state.limiter.record_failure(ip, &email);
            tracing::warn!(email = %email, remote = ?ip, "sign-in failed: wrong e-mail or password");
            return render_login(
                &state,
                &headers,
                StatusCode::UNAUTHORIZED,
                &email,
                &next,
                Some("Wrong e-mail or password.".into()),
            )
            .await;
        }
    };
    state.limiter.clear_email(&email);
    tracing::info!(user_id = user.id, remote = ?ip, "signed in");
    start_session(&state, &headers, &user, &next).await
}

async fn start_session(
    state: &WebState,
    headers: &HeaderMap,
    user: &User,
    next: &str,
) -> Result<Response, WebError> {
    let token = random_hex(32);
    let csrf = random_hex(16);
    let ttl_ms = i64::try_from(SESSION_TTL.as_millis()).unwrap_or(i64::MAX);
    let expires = crate::timefmt::now_ms().saturating_add(ttl_ms);
    state
        .app
        .store
        .create_session(user.id, &secret_hash(&token), &csrf, expires)
        .await?;
    let mut res = Redirect::to(next).into_response();
    let h = res.headers_mut();
    h.append(
        header::SET_COOKIE,
        cookie_header(
            state,
            headers,
            SESSION_COOKIE,
            &token,
            SESSION_TTL.as_secs(),
        ),
    );
    // The pre-session token has done its job.
    h.append(
        header::SET_COOKIE,
        cookie_header(state, headers, LOGIN_CSRF_COOKIE, "", 0),
    );
    Ok(res)
}

/// `POST /logout`: ends the session and clears the cookie.
pub async fn logout(
    State(state): State<WebState>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        state.app.store.delete_session(&secret_hash(token)).await?;
    }
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(&state, &headers, SESSION_COOKIE, "", 0),
    );
    Ok(res)
}

/// A rendered sign-in or set-up form; sets the form's CSRF cookie when `csrf` was just
/// minted (`fresh`, see [`login_csrf`]).
fn form_response(
    state: &WebState,
    headers: &HeaderMap,
    status: StatusCode,
    html: Html<String>,
    csrf: &str,
    fresh: bool,
) -> Response {
    let mut res = (status, html).into_response();
    if fresh {
        res.headers_mut().append(
            header::SET_COOKIE,
            cookie_header(state, headers, LOGIN_CSRF_COOKIE, csrf, 3600),
        );
    }
    res
}

/// Fields of the first-admin form.
#[derive(Debug, Deserialize)]
pub struct SetupForm {
    email: String,
    password: String,
}

async fn render_setup(
    state: &WebState,
    headers: &HeaderMap,
    token: &str,
    status: StatusCode,
    email: &str,
    error: Option<String>,
) -> Result<Response, WebError> {
    let (csrf, fresh) = login_csrf(headers);
    let html = state.templates.render(
        "setup.html",
        json!({ "csrf": csrf, "token": token, "email": email, "error": error }),
    )?;
    Ok(form_response(state, headers, status, html, &csrf, fresh))
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
    if !setup_token_ok(&token)
        || state.app.store.user_count().await? > 0
        || !state
            .app
            .store
            .setup_token_valid(&secret_hash(&token))
            .await?
    {
        return Err(WebError::NotFound);
    }
    render_setup(&state, &headers, &token, StatusCode::OK, "", None).await
}

/// `POST /setup/{token}`: creates the first admin and signs them in.
pub async fn setup(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(form): Form<SetupForm>,
) -> Result<Response, WebError> {
    if !setup_token_ok(&token) {
        return Err(WebError::NotFound);
    }
    let email = crate::store::normalize_email(&form.email);
    if !email.contains('@') {
        return render_setup(
            &state,
            &headers,
            &token,
            StatusCode::BAD_REQUEST,
            &email,
            Some("Enter an e-mail address.".into()),
        )
        .await;
    }
    let hash = match hash_password_off_thread(form.password).await? {
        Ok(h) => h,
        Err(e) => {
            return render_setup(
                &state,
                &headers,
                &token,
                StatusCode::BAD_REQUEST,
                &email,
                Some(format!("{}.", capitalize(&e.to_string()))),
            )
            .await;
        }
    };
    let user = match state
        .app
        .store
        .create_first_admin(&secret_hash(&token), &email, &hash)
        .await
    {
        Ok(u) => u,
        Err(StoreError::NotFound | StoreError::Conflict(_)) => return Err(WebError::NotFound),
        Err(e) => return Err(e.into()),
    };
    tracing::info!(user_id = user.id, "first admin created");
    start_session(&state, &headers, &user, "/projects").await
}

/// Creates a one-time setup token (valid one day) when no user exists yet and returns it
/// (for the first-start hint of `errata serve`); `None` when users exist.
pub async fn first_admin_setup_token(store: &Store) -> Result<Option<String>, StoreError> {
    if store.user_count().await? > 0 {
        return Ok(None);
    }
    let token = random_hex(32);
    let expires = crate::timefmt::now_ms().saturating_add(24 * 3600 * 1000);
    store
        .create_setup_token(&secret_hash(&token), expires)
        .await?;
    Ok(Some(token))
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "wrong horse"));
        assert!(!verify_password("garbage", "correct horse"));
        assert!(matches!(
            hash_password("short"),
            Err(PasswordError::TooShort)
        ));
    }

    #[test]
    fn next_must_be_local() {
        assert_eq!(safe_next(Some("/issues/4?x=1")), "/issues/4?x=1");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn cookies_are_found_by_name() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; errata_session=abc"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "c"), None);
    }

    #[test]
    fn limiter_blocks_after_failures_per_email() {
        let l = LoginLimiter::default();
        let ip: Option<IpAddr> = "10.0.0.1".parse().ok();
        for _ in 0..LoginLimiter::PER_EMAIL {
            assert!(l.blocked(ip, "a@x").is_none());
            l.record_failure(ip, "a@x");
        }
        assert!(l.blocked(ip, "a@x").is_some());
        assert!(
            l.blocked(ip, "b@x").is_none(),
            "other e-mails are not blocked yet"
        );
        l.clear_email("a@x");
        assert!(l.blocked(ip, "a@x").is_none());
    }

    #[test]
    fn constant_time_compare() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
    }
}
