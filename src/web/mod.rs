//! The issue browser: server-rendered HTML pages for signed-in users.
//!
//! Every string that came in with an event is attacker-controlled, so pages are rendered by
//! minijinja templates with HTML autoescaping (`web/templates`, embedded at compile time)
//! and nothing from an event is ever marked safe or used as a URL. As defence in depth every
//! page carries a Content-Security-Policy that forbids inline script; the little JavaScript
//! there is (`web/static/app.js`, copy buttons and select-all) is served from `/static` and
//! every flow works without it.
//!
//! Routes: `/login`, `/logout`, `/setup/{token}` (first admin), `/projects`,
//! `/projects/{id}/issues`, `/issues/{id}` (+ actions and raw JSON), `/admin/users`,
//! `/admin/deliveries`, `/static/{file}`. All but sign-in and setup need a session
//! ([`auth::CurrentUser`]); every POST must carry the CSRF token ([`auth::csrf_guard`]).

pub mod admin;
pub mod assets;
pub mod auth;
pub mod cli;
pub mod event_view;
pub mod issues;
pub mod projects;
pub mod search;
pub mod svg;
pub mod templates;

use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::store::StoreError;
use crate::AppState;

pub use auth::{hash_password, session_from_headers, verify_password, PasswordError};

/// State of the web handlers: the application state plus the template set and the sign-in
/// rate limiter (one per router, so tests running several servers do not share counters).
#[derive(Clone)]
pub struct WebState {
    /// Database, configuration, writers.
    pub app: AppState,
    /// Parsed templates.
    pub templates: Arc<templates::Templates>,
    /// Failed sign-in counters.
    pub limiter: Arc<auth::LoginLimiter>,
}

/// Routes of the issue browser, with their security headers and CSRF guard.
///
/// Errors building the template set are bugs in `web/templates` (caught by the unit test
/// `templates::tests::all_templates_parse`); they are logged and every page then answers 500.
pub fn router(app: AppState) -> Router<AppState> {
    let templates = Arc::new(templates::Templates::load());
    let state = WebState {
        app,
        templates,
        limiter: Arc::new(auth::LoginLimiter::default()),
    };
    Router::new()
        .route("/", get(home))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/setup/{token}", get(auth::setup_page).post(auth::setup))
        .route("/projects", get(projects::list).post(projects::create))
        .route("/projects/{project_id}/channels", post(projects::channels))
        .route("/projects/{project_id}/issues", get(issues::list))
        .route("/projects/{project_id}/issues/bulk", post(issues::bulk))
        .route("/issues/{issue_id}", get(issues::show))
        .route("/issues/{issue_id}/status", post(issues::set_status))
        .route("/issues/{issue_id}/delete", post(issues::delete))
        .route(
            "/issues/{issue_id}/events/{event_id}/json",
            get(issues::raw_json),
        )
        .route("/admin/users", get(admin::users).post(admin::create_user))
        .route("/admin/deliveries", get(admin::deliveries))
        .route("/static/{file}", get(assets::serve))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::csrf_guard,
        ))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// `/`: the projects page (it lists every project's issues link).
async fn home(_user: auth::CurrentUser) -> Redirect {
    Redirect::to("/projects")
}

/// The Content-Security-Policy of every page: only our own script and style, no inline
/// script, no plugins, no framing, forms only to us.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
    frame-ancestors 'none'; form-action 'self'";

async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        // Pages show private data: keep them out of shared caches and the back-forward
        // cache of a signed-out browser.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// Why a page could not be shown; each kind picks its status and a plain message.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// No such project, issue or event.
    #[error("not found")]
    NotFound,
    /// Malformed input (message shown to the user).
    #[error("{0}")]
    BadRequest(String),
    /// Signed in but not allowed (message shown to the user).
    #[error("{0}")]
    Forbidden(String),
    /// The database failed.
    #[error(transparent)]
    Store(StoreError),
    /// A template failed to render (a bug).
    #[error("template error: {0}")]
    Template(#[from] minijinja::Error),
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => WebError::NotFound,
            StoreError::InvalidCursor(m) => WebError::BadRequest(format!("invalid cursor: {m}")),
            other => WebError::Store(other),
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, message) = match &self {
            WebError::NotFound => (StatusCode::NOT_FOUND, "Not found.".to_owned()),
            WebError::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
            WebError::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone()),
            WebError::Store(StoreError::Unavailable(e)) => {
                tracing::error!(error = %e, "storage unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The database is unavailable; retry in a moment.".to_owned(),
                )
            }
            WebError::Store(e) => {
                tracing::error!(error = %e, "page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong; the server log has the details.".to_owned(),
                )
            }
            WebError::Template(e) => {
                tracing::error!(error = %e, "template failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong; the server log has the details.".to_owned(),
                )
            }
        };
        (status, error_page(status, &message)).into_response()
    }
}

/// A minimal standalone error page (no template, so it works when templates do not).
pub fn error_page(status: StatusCode, message: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{code} · Errata</title><link rel=\"stylesheet\" href=\"/static/app.css\">\
         </head><body><main class=\"narrow\"><h1>{code}</h1><p class=\"error\">{msg}</p>\
         <p><a href=\"/\">Back to Errata</a></p></main></body></html>",
        code = status.as_u16(),
        msg = escape_html(message),
    ))
}

/// Escapes text for HTML element content and quoted attributes.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape_html("<script>\"'&"),
            "&lt;script&gt;&quot;&#x27;&amp;"
        );
        let page = error_page(StatusCode::BAD_REQUEST, "<img onerror=x>").0;
        assert!(page.contains("&lt;img onerror=x&gt;") && !page.contains("<img"));
    }
}
