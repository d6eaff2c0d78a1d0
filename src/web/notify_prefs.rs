//! One's own notification settings: the projects one gets e-mail for
//! (`/account/notifications`: a checkbox per project one sees; rules with
//! `email_subscribers`, the default rule among them, e-mail the ticked ones) and muting an
//! issue for oneself (`POST /issues/{id}/mute`, the button on the issue page: no e-mail to
//! oneself about it). Viewers may change these too: they only concern the user.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::{Deserialize, Serialize};

use super::auth::CurrentUser;
use super::view::Layout;
use super::{WebError, WebState};

/// What `notifications.html` shows.
#[derive(Debug, Serialize)]
struct PrefsPage<'a> {
    #[serde(flatten)]
    layout: Layout<'a>,
    projects: Vec<ProjectChoice>,
    /// Set after saving.
    saved: bool,
}

/// A project with its checkbox.
#[derive(Debug, Serialize)]
struct ProjectChoice {
    id: i64,
    name: String,
    subscribed: bool,
}

/// `GET /account/notifications[?saved=1]`.
pub async fn page(
    State(state): State<WebState>,
    user: CurrentUser,
    query: axum::extract::Query<SavedQuery>,
) -> Result<Response, WebError> {
    let store = &state.app.store;
    let mine = store.project_subscriptions(user.user.id).await?;
    let projects = store
        .list_projects()
        .await?
        .into_iter()
        .filter(|p| user.projects.contains(p.id))
        .map(|p| ProjectChoice {
            subscribed: mine.contains(&p.id),
            id: p.id,
            name: p.name,
        })
        .collect();
    let page = PrefsPage {
        layout: Layout::of(&user),
        projects,
        saved: query.saved.is_some(),
    };
    Ok(state
        .templates
        .render("notifications.html", page)?
        .into_response())
}

/// `?saved=1` after the form.
#[derive(Debug, Deserialize)]
pub struct SavedQuery {
    saved: Option<String>,
}

/// `POST /account/notifications`: `project=<id>` once per ticked project; every project the
/// user sees is set to ticked or not (others are left alone).
pub async fn save(
    State(state): State<WebState>,
    user: CurrentUser,
    body: Bytes,
) -> Result<Response, WebError> {
    let mut ticked = Vec::new();
    for (k, v) in url::form_urlencoded::parse(&body) {
        if k == "project" {
            let id = v
                .parse::<i64>()
                .map_err(|_| WebError::BadRequest(format!("{v:?} is not a project id")))?;
            ticked.push(id);
        }
    }
    let store = &state.app.store;
    let now = state.app.clock.now_ms();
    for p in store.list_projects().await? {
        if user.projects.contains(p.id) {
            let on = ticked.contains(&p.id);
            store
                .set_project_subscription(user.user.id, p.id, on, now)
                .await?;
        }
    }
    Ok(Redirect::to("/account/notifications?saved=1").into_response())
}

/// Fields of the mute button: `muted=on|off`.
#[derive(Debug, Deserialize)]
pub struct MuteForm {
    muted: String,
}

/// `POST /issues/{id}/mute`: mutes or unmutes the issue for the signed-in user.
pub async fn mute(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(issue_id): Path<i64>,
    Form(form): Form<MuteForm>,
) -> Result<Response, WebError> {
    let on = match form.muted.as_str() {
        "on" => true,
        "off" => false,
        _ => return Err(WebError::BadRequest("muted is on or off".into())),
    };
    state
        .app
        .store
        .set_issue_muted(user.user.id, issue_id, on, state.app.clock.now_ms())
        .await?;
    Ok(Redirect::to(&format!("/issues/{issue_id}")).into_response())
}
