//! The projects page: every project with its DSN, counts, SDK setup snippets and
//! notification channels; creating projects and adding or removing channels (admins).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::{Deserialize, Serialize};

use super::auth::{CurrentUser, Permission};
use super::view::Layout;
use super::{WebError, WebState};
use crate::notify::channel::{self, AddChannelError};
use crate::store::Channel;

/// How a channel target is shown: as its kind redacts it (a webhook URL is a credential).
pub fn redact_target(c: &Channel) -> String {
    channel::redact(c)
}

/// What `projects.html` shows.
#[derive(Debug, Serialize)]
struct ProjectsPage<'a> {
    #[serde(flatten)]
    layout: Layout<'a>,
    projects: Vec<ProjectCard<'a>>,
    /// Channels of no project: they hear about every project.
    global_channels: Vec<ChannelRow>,
}

/// A project with its DSN, counts and channels.
#[derive(Debug, Serialize)]
struct ProjectCard<'a> {
    id: i64,
    name: &'a str,
    dsn: String,
    events: i64,
    issues: i64,
    unresolved: i64,
    channels: Vec<ChannelRow>,
}

/// A notification channel as the projects page lists it.
#[derive(Debug, Serialize)]
struct ChannelRow {
    id: i64,
    kind: &'static str,
    /// Redacted for display (see [`redact_target`]).
    target: String,
    failing: bool,
    last_error: Option<String>,
}

impl ChannelRow {
    fn of(c: &Channel) -> ChannelRow {
        ChannelRow {
            id: c.id,
            kind: c.kind.as_str(),
            target: redact_target(c),
            failing: c.failing_since_ms.is_some(),
            last_error: c.last_error.clone(),
        }
    }
}

/// `GET /projects`.
pub async fn list(State(state): State<WebState>, user: CurrentUser) -> Result<Response, WebError> {
    let store = &state.app.store;
    let mut projects = store.list_projects().await?;
    projects.retain(|p| user.projects.contains(p.id));
    let stats = store.project_stats().await?;
    let channels = store.channels().await?;
    let channels_of = |project_id: Option<i64>| -> Vec<ChannelRow> {
        channels
            .iter()
            .filter(|c| c.project_id == project_id)
            .map(ChannelRow::of)
            .collect()
    };
    let page = ProjectsPage {
        layout: Layout::of(&user),
        projects: projects
            .iter()
            .map(|p| {
                let s = stats.get(&p.id).copied().unwrap_or_default();
                ProjectCard {
                    id: p.id,
                    name: &p.name,
                    dsn: state.app.config.dsn(&p.public_key, p.id),
                    events: s.events,
                    issues: s.issues,
                    unresolved: s.unresolved,
                    channels: channels_of(Some(p.id)),
                }
            })
            .collect(),
        global_channels: channels_of(None),
    };
    Ok(state
        .templates
        .render("projects.html", page)?
        .into_response())
}

/// Fields of the new-project form.
#[derive(Debug, Deserialize)]
pub struct CreateForm {
    name: String,
}

/// `POST /projects`: creates a project (admins and owners). An admin's project belongs to
/// their teams, so that they see it.
pub async fn create(
    State(state): State<WebState>,
    user: CurrentUser,
    crate::http::ClientIp(ip): crate::http::ClientIp,
    Form(form): Form<CreateForm>,
) -> Result<Response, WebError> {
    user.require(Permission::Project)?;
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(WebError::BadRequest(
            "A project name has 1 to 100 characters.".into(),
        ));
    }
    let store = &state.app.store;
    let p = store.create_project(name).await?;
    if user.user.role != crate::store::Role::Owner {
        let by = crate::store::Actor::user(&user.user).from_ip(ip);
        let now = state.app.clock.now_ms();
        for team in store.user_teams(user.user.id).await? {
            let link = crate::store::TeamLink::Project(p.id);
            store.change_team(team, link, true, &by, now).await?;
        }
    }
    tracing::info!(user_id = user.user.id, by = %user.user.email, project_id = p.id, "project created");
    Ok(Redirect::to(&format!("/projects#project-{}", p.id)).into_response())
}

/// Fields of the channel forms.
#[derive(Debug, Deserialize)]
pub struct ChannelForm {
    action: String,
    kind: Option<String>,
    target: Option<String>,
    channel_id: Option<i64>,
}

/// `POST /projects/{id}/channels`: `action=add` with `kind` (`email`/`slack`) and `target`
/// (validated by the kind, as `errata notify channels add-…` does), or `action=remove` with
/// `channel_id` (admins).
pub async fn channels(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(project_id): Path<i64>,
    Form(form): Form<ChannelForm>,
) -> Result<Response, WebError> {
    user.require(Permission::Project)?;
    let store = &state.app.store;
    match form.action.as_str() {
        "add" => {
            let policy = state.app.config.notify.target_policy();
            let kind = form.kind.as_deref().unwrap_or_default();
            let target = form.target.as_deref().unwrap_or_default();
            channel::add(store, project_id, kind, target, &policy)
                .await
                .map_err(|e| match e {
                    AddChannelError::Invalid(e) => WebError::BadRequest(e.to_string()),
                    AddChannelError::Store(e) => e.into(),
                })?;
        }
        "remove" => {
            let id = form
                .channel_id
                .ok_or_else(|| WebError::BadRequest("which channel?".into()))?;
            let owned = store
                .channels()
                .await?
                .iter()
                .any(|c| c.id == id && c.project_id == Some(project_id));
            if !owned {
                return Err(WebError::NotFound);
            }
            store.remove_channel(id).await?;
        }
        other => return Err(WebError::BadRequest(format!("unknown action {other:?}"))),
    }
    tracing::info!(user_id = user.user.id, by = %user.user.email, project_id, action = %form.action, "channels changed");
    Ok(Redirect::to(&format!("/projects#project-{project_id}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_webhooks_are_redacted() {
        let c = Channel {
            id: 1,
            project_id: Some(1),
            kind: crate::store::ChannelKind::Slack,
            target: "https://hooks.slack.com/services/T000/B000/secret".into(),
            source: "cli".into(),
            active: true,
            consecutive_failures: 0,
            failing_since_ms: None,
            last_success_ms: None,
            last_failure_ms: None,
            last_error: None,
        };
        assert_eq!(redact_target(&c), "https://hooks.slack.com/…cret");
    }
}
