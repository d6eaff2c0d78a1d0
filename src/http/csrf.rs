//! The CSRF rule, for the pages and the API alike.
//!
//! A browser attaches cookies to requests that other sites make it send, so a request that
//! changes state (any method but GET, HEAD and OPTIONS) and is authenticated by the session
//! cookie must also prove it came from one of our pages: it carries the session's CSRF token
//! in the `X-CSRF-Token` header or, for an HTML form, the `csrf` field (which the pages' guard
//! lifts out of the body into [`FormCsrf`]). Bearer tokens are never attached by a browser on
//! its own, so requests carrying one need no CSRF token.
//!
//! Sign-in and first-admin setup have no session yet: their forms use a double-submit cookie
//! ([`PRE_SESSION_COOKIE`]) holding the same random token as the form's `csrf` field, which
//! another site can neither read nor set.

use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method};

use super::cookie::{cookie, set_cookie};
use super::session::random_hex;
use crate::config::Config;

/// Header carrying the CSRF token of a script's request.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Form field carrying the CSRF token of an HTML form.
pub const CSRF_FIELD: &str = "csrf";
/// Name of the pre-session CSRF cookie of the sign-in and setup forms.
pub const PRE_SESSION_COOKIE: &str = "errata_csrf";
/// How long a pre-session token lives, seconds.
pub const PRE_SESSION_MAX_AGE: u64 = 3600;

/// The `csrf` field of a submitted form, put in the request extensions by the pages' guard
/// (an extractor cannot read the body).
#[derive(Debug, Clone)]
pub struct FormCsrf(pub String);

/// True for methods that may change state: everything but GET, HEAD and OPTIONS.
pub fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The CSRF token a request sent: the `X-CSRF-Token` header, else the form's `csrf` field;
/// `None` when neither is there or it is empty.
pub fn sent_token(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.extensions.get::<FormCsrf>().map(|f| f.0.as_str()))
        .filter(|t| !t.is_empty())
}

/// The rule for a session-authenticated request: it may go ahead when it does not change
/// state, or when it sent `session_token`.
pub fn session_request_ok(parts: &Parts, session_token: &str) -> bool {
    !changes_state(&parts.method) || sent_token(parts).is_some_and(|t| same(t, session_token))
}

/// The rule before a session exists: the sent token equals the pre-session cookie.
pub fn pre_session_request_ok(parts: &Parts) -> bool {
    match (
        cookie(&parts.headers, PRE_SESSION_COOKIE),
        sent_token(parts),
    ) {
        (Some(c), Some(t)) => same(c, t),
        _ => false,
    }
}

/// The pre-session token of a sign-in or setup form: the browser's current one, or a fresh one
/// (then `true`: set it with [`pre_session_cookie`]).
pub fn pre_session_token(headers: &HeaderMap) -> (String, bool) {
    match cookie(headers, PRE_SESSION_COOKIE) {
        Some(c) if c.len() == 32 && c.bytes().all(|b| b.is_ascii_hexdigit()) => {
            (c.to_owned(), false)
        }
        _ => (random_hex(16), true),
    }
}

/// The `Set-Cookie` value storing `token` as the pre-session token; an empty `token` deletes
/// the cookie (done at sign-in, when the session's own token takes over).
pub fn pre_session_cookie(config: &Config, headers: &HeaderMap, token: &str) -> HeaderValue {
    let max_age = if token.is_empty() {
        0
    } else {
        PRE_SESSION_MAX_AGE
    };
    set_cookie(config, headers, PRE_SESSION_COOKIE, token, max_age)
}

/// Constant-time string equality (the length may leak; tokens have a fixed length).
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{header, Request};

    fn parts(method: Method, headers: &[(&str, &str)], form: Option<&str>) -> Parts {
        let mut req = Request::builder().method(method).uri("/x");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let (mut parts, ()) = req.body(()).unwrap().into_parts();
        if let Some(f) = form {
            parts.extensions.insert(FormCsrf(f.to_owned()));
        }
        parts
    }

    #[test]
    fn changes_need_the_session_token() {
        let token = "ab".repeat(16);
        assert!(session_request_ok(&parts(Method::GET, &[], None), &token));
        assert!(!session_request_ok(&parts(Method::POST, &[], None), &token));
        assert!(!session_request_ok(
            &parts(Method::POST, &[], Some("")),
            &token
        ));
        assert!(!session_request_ok(
            &parts(Method::PATCH, &[(CSRF_HEADER, "cd")], None),
            &token
        ));
        assert!(session_request_ok(
            &parts(Method::PATCH, &[(CSRF_HEADER, &token)], None),
            &token
        ));
        assert!(session_request_ok(
            &parts(Method::POST, &[], Some(&token)),
            &token
        ));
    }

    #[test]
    fn pre_session_forms_double_submit() {
        let token = "0123456789abcdef".repeat(2);
        let with_cookie = format!("{PRE_SESSION_COOKIE}={token}");
        let ok = parts(
            Method::POST,
            &[(header::COOKIE.as_str(), &with_cookie)],
            Some(&token),
        );
        assert!(pre_session_request_ok(&ok));
        assert!(!pre_session_request_ok(&parts(
            Method::POST,
            &[],
            Some(&token)
        )));
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(&with_cookie).unwrap());
        assert_eq!(pre_session_token(&h), (token, false));
        let (fresh, new) = pre_session_token(&HeaderMap::new());
        assert!(new && fresh.len() == 32);
    }

    #[test]
    fn constant_time_compare() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
    }
}
