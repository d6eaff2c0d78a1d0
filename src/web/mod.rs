//! The issue browser: server-rendered HTML pages for signed-in users.
//!
//! Every string that came in with an event is attacker-controlled, so pages are rendered by
//! minijinja templates with HTML autoescaping (`web/templates`, embedded at compile time)
//! and nothing from an event is ever marked safe or used as a URL. As defence in depth every
//! page carries a Content-Security-Policy that forbids inline script; the little JavaScript
//! there is (`web/static/app.js`, copy buttons and select-all) is served from `/static` and
//! every flow works without it.
//!
//! Routes: any unknown path gets [`not_found`] (a page, or JSON under `/api/`); `/login`, `/logout`, `/setup/{token}` (first admin), `/reset/{token}` (password
//! reset link), `/projects`, `/projects/{id}/issues`, `/projects/{id}/feedback`, `/projects/{id}/releases`,
//! `/issues/{id}` (+ actions, raw JSON, triage and its Events page, see [`triage`]),
//! `/my-issues`, `/account`, `/admin/users` (+ role, delete, reset), `/admin/tokens`,
//! `/admin/teams` (+ delete, members, projects), `/admin/audit`, `/admin/deliveries`, `/static/{file}`, the monitor pages
//! ([`monitors`]), the uptime pages ([`uptime`]) and the public status page
//! `/status/{slug}` ([`status_page`], no sign-in). All but sign-in, setup and reset need a session
//! ([`auth::CurrentUser`]); every POST must carry the CSRF token ([`auth::csrf_guard`]).
//! Each page's handler fills a typed view model (`#[derive(Serialize)]`) for its template;
//! the pieces every page shares are in [`view`].

pub mod account;
pub mod admin;
pub mod alert_form;
pub mod alerts;
pub mod assets;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod event_view;
pub mod feedback;
pub mod issues;
pub mod lifecycle;
pub mod markdown;
pub mod monitors;
pub mod notify_prefs;
pub mod projects;
pub mod releases;
pub mod search;
pub mod sso;
pub mod status_page;
pub mod svg;
pub mod team_cli;
pub mod teams;
pub mod templates;
pub mod tokens;
pub mod triage;
pub mod uptime;
pub mod users;
pub mod view;

use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::html::escape_html;
use crate::http::principal::AuthError;
use crate::store::StoreError;
use crate::AppState;

pub use auth::{hash_password, verify_password, PasswordError};

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

impl axum::extract::FromRef<WebState> for AppState {
    fn from_ref(state: &WebState) -> AppState {
        state.app.clone()
    }
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
        .route(
            "/login",
            get(auth::login::login_page).post(auth::login::login),
        )
        .route("/logout", post(auth::login::logout))
        .route("/login/sso/{provider}", get(sso::start))
        .route("/login/sso/{provider}/callback", get(sso::callback))
        .route(
            "/setup/{token}",
            get(auth::setup::setup_page).post(auth::setup::setup),
        )
        .route("/projects", get(projects::list).post(projects::create))
        .route("/projects/{project_id}/channels", post(projects::channels))
        .route(
            "/projects/{project_id}/alerts",
            get(alerts::page).post(alerts::change),
        )
        .route(
            "/projects/{project_id}/alerts/{rule_id}/edit",
            get(alerts::edit_page).post(alerts::edit),
        )
        .route("/projects/{project_id}/issues", get(issues::list))
        .route("/projects/{project_id}/issues/bulk", post(issues::bulk))
        .route("/projects/{project_id}/releases", get(releases::list))
        .route("/issues/{issue_id}", get(issues::show))
        .route("/issues/{issue_id}/status", post(issues::set_status))
        .route("/issues/{issue_id}/delete", post(issues::delete))
        .route("/issues/{issue_id}/assign", post(triage::assign))
        .route("/issues/{issue_id}/comments", post(triage::comment))
        .route(
            "/issues/{issue_id}/comments/{comment_id}/edit",
            post(triage::edit_comment),
        )
        .route(
            "/issues/{issue_id}/comments/{comment_id}/delete",
            post(triage::delete_comment),
        )
        .route("/issues/{issue_id}/unmerge", post(triage::unmerge))
        .route("/issues/{issue_id}/events", get(triage::events))
        .route("/my-issues", get(triage::mine))
        .route(
            "/issues/{issue_id}/events/{event_id}/json",
            get(issues::raw_json),
        )
        .route(
            "/reset/{token}",
            get(auth::reset::reset_page).post(auth::reset::reset),
        )
        .route("/projects/{project_id}/feedback", get(feedback::list))
        .route("/account", get(account::account))
        .route("/account/password", post(account::change_password))
        .route(
            "/account/notifications",
            get(notify_prefs::page).post(notify_prefs::save),
        )
        .route("/issues/{issue_id}/mute", post(notify_prefs::mute))
        .route(
            "/account/sessions/{session_id}/revoke",
            post(account::revoke_session),
        )
        .route("/admin/users", get(users::users).post(users::create_user))
        .route("/admin/users/{user_id}/role", post(users::set_role))
        .route("/admin/users/{user_id}/delete", post(users::delete_user))
        .route("/admin/users/{user_id}/reset", post(users::reset_link))
        .route("/admin/teams", get(teams::teams).post(teams::create))
        .route("/admin/teams/{team_id}/delete", post(teams::delete))
        .route("/admin/teams/{team_id}/{what}", post(teams::link))
        .route("/admin/tokens", get(tokens::tokens).post(tokens::create))
        .route("/admin/tokens/{token_id}/revoke", post(tokens::revoke))
        .route("/admin/audit", get(audit::audit))
        .route("/admin/deliveries", get(admin::deliveries))
        .route("/admin/retention", get(lifecycle::admin))
        .route(
            "/projects/{project_id}/settings",
            get(lifecycle::settings).post(lifecycle::save_settings),
        )
        .route(
            "/projects/{project_id}/discarded/undo",
            post(lifecycle::undo_discard),
        )
        .route(
            "/projects/{project_id}/delete",
            post(lifecycle::delete_project),
        )
        .route("/issues/{issue_id}/discard", post(lifecycle::discard_issue))
        .route("/static/{file}", get(assets::serve))
        .route("/status/{slug}", get(status_page::show))
        .merge(monitors::routes())
        .merge(uptime::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            state.app.clone(),
            crate::http::access::guard,
        ))
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

impl From<AuthError> for WebError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Store(e) => e.into(),
            AuthError::Hidden => WebError::NotFound,
            other => WebError::Forbidden(sentence(&other.to_string())),
        }
    }
}

/// An error message as a sentence for a page: `the password …` becomes `The password ….`
pub(crate) fn sentence(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).chain(['.']).collect(),
        None => String::new(),
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

/// The answer for a path no route serves (the application's fallback): the API's JSON error
/// under `/api/`, else a 404 page with the pages' security headers, instead of an empty body
/// that the browser would replace with its own error page.
pub async fn not_found(uri: axum::http::Uri) -> Response {
    let path = uri.path();
    if path.starts_with("/api/") {
        return crate::error::ApiError::not_found(format!("no API route at {path}"))
            .into_response();
    }
    let page = error_page(
        StatusCode::NOT_FOUND,
        &format!(
            "There is no page at {path}. Your projects and their issues are on the projects page."
        ),
    );
    security_headers((StatusCode::NOT_FOUND, page).into_response()).await
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

/// Percent-encodes a query-string value (`application/x-www-form-urlencoded`).
pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_pages_escape_the_message() {
        let page = error_page(StatusCode::BAD_REQUEST, "<img onerror=x>").0;
        assert!(page.contains("&lt;img onerror=x&gt;") && !page.contains("<img"));
    }
}
