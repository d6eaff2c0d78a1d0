//! What a page request must prove before its handler runs.
//!
//! * [`csrf_guard`] (middleware over every page): a form post passes the CSRF rule of
//!   [`crate::http::csrf`] or is refused with 403 before any handler runs — the session's
//!   token for signed-in forms, the pre-session cookie's on `/login`, `/setup/…` and
//!   `/reset/…`. It lifts the form's `csrf` field into the request ([`FormCsrf`]), since the
//!   rule cannot read bodies.
//! * [`CurrentUser`] (handler argument): the signed-in user, else a redirect to
//!   `/login?next=<path>`. Pages accept only the session cookie, never an API token.
//! * [`pre_session_form`]: a sign-in or setup form with its pre-session token.

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::http::csrf::{self, FormCsrf, CSRF_FIELD};
use crate::http::principal::{AuthError, CurrentUser};
use crate::web::{error_page, urlencode, WebError, WebState};

/// Largest form body the guard reads (bulk forms with a page of ids are a few KiB).
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Middleware: every state-changing page request must prove it came from one of our forms.
///
/// GET/HEAD/OPTIONS pass. Other methods must pass the CSRF rule; anything else is refused
/// with 403 (413 for a form over 64 KiB). A signed-out form post that carries a token (an
/// expired session) is sent to sign-in. The user found is handed on in the request
/// extensions, for [`CurrentUser`].
pub async fn csrf_guard(State(state): State<WebState>, req: Request, next: Next) -> Response {
    if !csrf::changes_state(req.method()) {
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
    if let Some((_, token)) = url::form_urlencoded::parse(&bytes).find(|(k, _)| k == CSRF_FIELD) {
        parts.extensions.insert(FormCsrf(token.into_owned()));
    }
    let path = parts.uri.path().to_owned();
    let ok = if path == "/login" || path.starts_with("/setup/") || path.starts_with("/reset/") {
        csrf::pre_session_request_ok(&parts)
    } else {
        match CurrentUser::from_session(&parts, &state.app.store).await {
            Ok(Some(user)) => {
                parts.extensions.insert(user);
                true
            }
            Ok(None) if csrf::sent_token(&parts).is_some() => {
                return Redirect::to("/login").into_response();
            }
            Ok(None) | Err(AuthError::Csrf) => false,
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

/// Rejection of [`CurrentUser`] on a page: a redirect to sign-in, or an error page.
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

/// The pages' extractor: the signed-in user of the session cookie.
impl FromRequestParts<WebState> for CurrentUser {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &WebState,
    ) -> Result<Self, AuthRejection> {
        // The guard already checked a form post's session.
        if let Some(user) = parts.extensions.get::<CurrentUser>() {
            return Ok(user.clone());
        }
        match CurrentUser::from_session(parts, &state.app.store).await {
            Ok(Some(user)) => Ok(user),
            Ok(None) => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_else(|| "/".to_owned());
                Err(AuthRejection::SignIn(next))
            }
            Err(e) => Err(AuthRejection::Error(e.into())),
        }
    }
}

/// A sign-in or setup form page: `render` gets the form's pre-session CSRF token (the
/// browser's, or a fresh one whose cookie the response then sets).
pub fn pre_session_form(
    state: &WebState,
    headers: &HeaderMap,
    status: StatusCode,
    render: impl FnOnce(&str) -> Result<Html<String>, WebError>,
) -> Result<Response, WebError> {
    let (token, fresh) = csrf::pre_session_token(headers);
    let mut res = (status, render(&token)?).into_response();
    if fresh {
        res.headers_mut().append(
            header::SET_COOKIE,
            csrf::pre_session_cookie(&state.app.config, headers, &token),
        );
    }
    Ok(res)
}
