//! The sign-in form, sign-out, and where sign-in sends the browser afterwards.
//!
//! Failed sign-ins are logged with the e-mail and remote address and slowed per (address,
//! account) and per address ([`super::LoginLimiter`]), never per account alone, so nobody can
//! lock an owner out from elsewhere. A wrong e-mail costs as much time as a wrong password.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::{Deserialize, Serialize};

use super::guard::pre_session_form;
use super::password::{dummy_hash, verify_password};
use crate::http::{csrf, session, PeerAddr};
use crate::store::{Actor, AuditAction, AuditTarget, NewAuditEntry, User};
use crate::web::{WebError, WebState};

/// `next` as a path on this server, else `/`: sign-in must not become an open redirect.
///
/// `next` is resolved the way a browser would resolve it against this server's origin (WHATWG
/// URL parsing: tabs and newlines are removed, `\\` counts as `/`, `/./` and `/../` collapse),
/// and kept only when it stays on that origin; what comes back is the parsed path, query and
/// fragment, so it is a valid `Location` value whatever bytes were sent. A result that starts
/// with `//` (reachable through dot segments: `/.//evil.example`) would be read as another
/// host and goes to `/` too.
pub fn safe_next(next: Option<&str>) -> String {
    next.and_then(same_origin_path)
        .unwrap_or_else(|| "/".to_owned())
}

fn same_origin_path(next: &str) -> Option<String> {
    // Any fixed origin does: only whether the parse leaves it matters.
    let base = url::Url::parse("http://errata.invalid/").ok()?;
    let url = base.join(next).ok()?;
    if url.origin() != base.origin() || !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    let mut out = url.path().to_owned();
    if let Some(q) = url.query() {
        out.push('?');
        out.push_str(q);
    }
    if let Some(f) = url.fragment() {
        out.push('#');
        out.push_str(f);
    }
    (out.starts_with('/') && !out.starts_with("//")).then_some(out)
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

/// What `login.html` shows.
#[derive(Debug, Serialize)]
struct LoginPage<'a> {
    /// The form's pre-session CSRF token.
    csrf: &'a str,
    /// The e-mail typed last time (after a failure).
    email: &'a str,
    /// Where to go after signing in (a local path).
    next: &'a str,
    error: Option<String>,
    /// No user exists yet: the page explains how to create the first admin.
    no_users: bool,
    /// No password form (`[auth] passwords = false`).
    passwords_off: bool,
    /// Single sign-on buttons.
    sso: Vec<SsoButton<'a>>,
}

/// A single sign-on button of the sign-in page.
#[derive(Debug, Serialize)]
struct SsoButton<'a> {
    /// `/login/sso/{id}?next=…`.
    href: String,
    name: &'a str,
}

async fn render_login(
    state: &WebState,
    headers: &HeaderMap,
    status: StatusCode,
    email: &str,
    next: &str,
    error: Option<String>,
) -> Result<Response, WebError> {
    let no_users = state.app.store.user_count().await? == 0;
    let auth = &state.app.config.auth;
    pre_session_form(state, headers, status, |csrf| {
        let page = LoginPage {
            csrf,
            email,
            next,
            error,
            no_users,
            passwords_off: !auth.passwords,
            sso: auth
                .oidc
                .iter()
                .map(|p| SsoButton {
                    href: format!("/login/sso/{}?next={}", p.id, crate::web::urlencode(next)),
                    name: &p.name,
                })
                .collect(),
        };
        state.templates.render("login.html", page)
    })
}

/// `GET /login`: the sign-in form (signed-in users go on to `next`).
pub async fn login_page(
    State(state): State<WebState>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Result<Response, WebError> {
    if session::session_from_headers(&headers, &state.app.store)
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
    if !state.app.config.auth.passwords {
        let msg = "Password sign-in is turned off here: use single sign-on.";
        return render_login(
            &state,
            &headers,
            StatusCode::FORBIDDEN,
            &email,
            &next,
            Some(msg.into()),
        )
        .await;
    }
    let now_ms = state.app.clock.now_ms();
    if let Some(wait) = state.limiter.blocked(now_ms, ip, &email) {
        tracing::warn!(email = %email, remote = %crate::http::show_ip(ip), "sign-in refused: too many failed attempts");
        let secs = wait.as_millis().div_ceil(1000).max(1);
        let when = if secs < 120 {
            format!("{secs} seconds")
        } else {
            format!("{} minutes", secs.div_ceil(60))
        };
        let msg = format!("Too many failed sign-in attempts from here. Try again in {when}.");
        let mut res = render_login(
            &state,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            &email,
            &next,
            Some(msg),
        )
        .await?;
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs as u64));
        return Ok(res);
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
            state.limiter.record_failure(now_ms, ip, &email);
            tracing::warn!(email = %email, remote = %crate::http::show_ip(ip), "sign-in failed: wrong e-mail or password");
            let data = serde_json::json!({
                "provider": "password",
                "reason": "wrong e-mail or password",
                "email": email,
            });
            audit_sign_in(&state, &Actor::system().from_ip(ip), None, data).await?;
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
    state.limiter.record_success(ip, &email);
    tracing::info!(user_id = user.id, remote = %crate::http::show_ip(ip), "signed in");
    start_session(&state, &headers, &user, &next, SignIn::Password, ip).await
}

/// How a user signed in, as the `user.sign_in` audit entry records it (`data.method`, and
/// `data.provider` for password and single sign-on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignIn<'a> {
    /// E-mail and password on the sign-in form.
    Password,
    /// OpenID Connect through the provider with this id.
    Oidc(&'a str),
    /// The first admin, through the one-time setup link.
    SetupLink,
    /// A new password set through a one-time reset link.
    ResetLink,
}

impl SignIn<'_> {
    /// The audit entry's details.
    fn data(self) -> serde_json::Value {
        match self {
            SignIn::Password => serde_json::json!({ "method": "password", "provider": "password" }),
            SignIn::Oidc(id) => serde_json::json!({ "method": "oidc", "provider": id }),
            SignIn::SetupLink => serde_json::json!({ "method": "setup_link" }),
            SignIn::ResetLink => serde_json::json!({ "method": "reset_link" }),
        }
    }
}

/// Records a sign-in (`user` signed in) or a refused password sign-in (`None`) in the audit
/// log.
async fn audit_sign_in(
    state: &WebState,
    by: &Actor,
    user: Option<&User>,
    data: serde_json::Value,
) -> Result<(), WebError> {
    let entry = NewAuditEntry {
        at_ms: state.app.clock.now_ms(),
        by,
        action: if user.is_some() {
            AuditAction::SignIn
        } else {
            AuditAction::SignInFailed
        },
        target: user.map(AuditTarget::user),
        data,
    };
    state.app.store.record_audit(&entry).await?;
    Ok(())
}

/// Signs `user` in and redirects to `next`: records the sign-in (`how`, from client address
/// `ip`) in the audit log, sets the session cookie and drops the pre-session CSRF cookie,
/// whose job is done. Every way of signing in ends here, so none goes unaudited.
pub(crate) async fn start_session(
    state: &WebState,
    headers: &HeaderMap,
    user: &User,
    next: &str,
    how: SignIn<'_>,
    ip: Option<std::net::IpAddr>,
) -> Result<Response, WebError> {
    let by = Actor::user(user).from_ip(ip);
    audit_sign_in(state, &by, Some(user), how.data()).await?;
    let config = &state.app.config;
    let cookie = session::start(&state.app.store, config, headers, user).await?;
    let mut res = Redirect::to(next).into_response();
    let h = res.headers_mut();
    h.append(header::SET_COOKIE, cookie);
    h.append(
        header::SET_COOKIE,
        csrf::pre_session_cookie(config, headers, ""),
    );
    Ok(res)
}

/// `POST /logout`: ends the session and clears the cookie.
pub async fn logout(
    State(state): State<WebState>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let cookie = session::end(&state.app.store, &state.app.config, &headers).await?;
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_must_be_local() {
        assert_eq!(safe_next(Some("/issues/4?x=1")), "/issues/4?x=1");
        assert_eq!(safe_next(Some("/issues/4?x=1#e")), "/issues/4?x=1#e");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn next_is_parsed_as_a_browser_would() {
        // A tab or newline after the slash is dropped by browsers: `//evil.example`.
        for evil in [
            "/\t/evil.example/x",
            "/\n/evil.example",
            "\t//evil.example",
            "/\r\n/evil.example",
            "/.//evil.example",
            "/x/..//evil.example",
            "\\\\evil.example",
            "/\t\\evil.example",
            "http://errata.invalid@evil.example/",
            "https://errata.invalid/",
            "javascript:alert(1)",
            "data:text/html,hi",
        ] {
            assert_eq!(safe_next(Some(evil)), "/", "{evil:?}");
        }
        // Same scheme without slashes is a relative path in browsers too.
        assert_eq!(safe_next(Some("http:evil.example")), "/evil.example");
        // Control characters never reach the Location header.
        let got = safe_next(Some("/\r\nSet-Cookie: a=b"));
        assert!(!got.contains(['\r', '\n']), "{got:?}");
        assert!(axum::http::HeaderValue::from_str(&got).is_ok(), "{got:?}");
        assert_eq!(safe_next(Some("relative")), "/relative");
        assert_eq!(safe_next(Some("/a b")), "/a%20b");
    }
}
