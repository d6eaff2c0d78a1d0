//! The project access guard: one check, before the handler, for every route that names a
//! project, an issue or a monitor in its path.
//!
//! Handlers were written before teams; rather than trusting each of them to ask, the guard
//! (a `route_layer` over the pages and the API, [`guard`]) reads the matched route's path
//! parameters (`project_id`, `issue_id` — a merged-away issue counts as the one it was merged
//! into — `monitor_id`, `check_id` (uptime checks), `rule_id` (alert rules), and the Sentry
//! API's `project` name), finds the project, and answers
//! 404 when the caller does not see it ([`super::principal::Projects`]), exactly as for a
//! project that does not exist. It also refuses a viewer's form posts on pages (403) except
//! signing out and changing their own password. The caller it authenticated is handed on in
//! the request extensions, so handlers do not look it up again.
//!
//! Requests it cannot authenticate pass through untouched: the handler answers them (401,
//! sign-in redirect) as it always did. Unknown ids pass through too (the handler's 404).

use axum::extract::{FromRequestParts, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::csrf;
use super::principal::{AuthError, CurrentUser, Permission, Principal};
use crate::error::ApiError;
use crate::store::StoreError;
use crate::AppState;

/// Page posts a viewer may still make: signing out, their own password and sessions.
const VIEWER_POSTS: [&str; 2] = ["/logout", "/account/"];

/// Middleware over routes with path parameters: see the module doc.
pub async fn guard(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let api = parts.uri.path().starts_with("/api/");
    match check(&app, &mut parts, api).await {
        Ok(()) => next.run(Request::from_parts(parts, body)).await,
        Err(e) if api => ApiError::from(e).into_response(),
        Err(e) => page_refusal(e),
    }
}

async fn check(app: &AppState, parts: &mut Parts, api: bool) -> Result<(), AuthError> {
    let changes = csrf::changes_state(&parts.method);
    let project = match RawPathParams::from_request_parts(parts, app).await {
        Ok(params) => project_of(app, &params).await?,
        Err(_) => None,
    };
    if api {
        let Some(project) = project else {
            return Ok(());
        };
        let Ok(who) = Principal::authenticate(parts, app).await else {
            return Ok(());
        };
        who.see(project)?;
        parts.extensions.insert(who);
        return Ok(());
    }
    if project.is_none() && !changes {
        return Ok(());
    }
    let user = match parts.extensions.get::<CurrentUser>() {
        Some(u) => u.clone(),
        None => match CurrentUser::from_session(parts, &app.store).await {
            Ok(Some(u)) => u,
            _ => return Ok(()),
        },
    };
    if let Some(project) = project {
        user.see(project)?;
    }
    let path = parts.uri.path();
    let own = VIEWER_POSTS
        .iter()
        .any(|p| path == *p || (p.ends_with('/') && path.starts_with(p)));
    if changes && !own {
        user.require(Permission::Triage)?;
    }
    parts.extensions.insert(user);
    Ok(())
}

/// The project a route's parameters name, if any (and if it exists).
async fn project_of(app: &AppState, params: &RawPathParams) -> Result<Option<i64>, StoreError> {
    let store = &app.store;
    for (key, value) in params {
        let found = match key {
            "project_id" => value.parse::<i64>().ok(),
            "issue_id" => match value.parse::<i64>() {
                Ok(id) => issue_project(app, id).await?,
                Err(_) => None,
            },
            "monitor_id" => owner(value, |id| store.monitor(id), |m| m.project_id).await?,
            "check_id" => owner(value, |id| store.uptime_check(id), |c| c.project_id).await?,
            "rule_id" => owner(value, |id| store.alert_rule(id), |r| r.project_id).await?,
            "project" => crate::artifacts::api::project_named(app, value)
                .await
                .ok()
                .map(|p| p.id),
            _ => None,
        };
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// The project of the entity with id `value` (`None`: not an id, or no such entity).
async fn owner<T, F, Fut>(
    value: &str,
    find: F,
    project_of: impl Fn(&T) -> i64,
) -> Result<Option<i64>, StoreError>
where
    F: Fn(i64) -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let Ok(id) = value.parse::<i64>() else {
        return Ok(None);
    };
    match find(id).await {
        Ok(found) => Ok(Some(project_of(&found))),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

async fn issue_project(app: &AppState, issue_id: i64) -> Result<Option<i64>, StoreError> {
    let store = &app.store;
    let id = match store.issue(issue_id).await {
        Ok(issue) => return Ok(Some(issue.project_id)),
        Err(StoreError::NotFound) => match store.issue_redirect(issue_id).await? {
            Some(target) => target,
            None => return Ok(None),
        },
        Err(e) => return Err(e),
    };
    match store.issue(id).await {
        Ok(issue) => Ok(Some(issue.project_id)),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

fn page_refusal(e: AuthError) -> Response {
    crate::web::WebError::from(e).into_response()
}
