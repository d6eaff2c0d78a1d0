//! The projects page: every project with its DSN, counts, SDK setup snippets and
//! notification channels; creating projects and adding or removing channels (admins).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use minijinja::Value as Tpl;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::CurrentUser;
use super::{WebError, WebState};
use crate::store::{Channel, ChannelKind};

/// How a channel target is shown: e-mail as is; a Slack webhook URL is a credential, so
/// only its scheme and host.
pub fn redact_target(c: &Channel) -> String {
    match c.kind {
        ChannelKind::Email => c.target.clone(),
        ChannelKind::Slack => match url::Url::parse(&c.target) {
            Ok(u) => format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or("")),
            Err(_) => "(webhook)".to_owned(),
        },
    }
}

fn channel_json(c: &Channel) -> Value {
    json!({
        "id": c.id,
        "kind": c.kind.as_str(),
        "target": redact_target(c),
        "failing": c.failing_since_ms.is_some(),
        "last_error": c.last_error,
    })
}

/// `GET /projects`.
pub async fn list(State(state): State<WebState>, user: CurrentUser) -> Result<Response, WebError> {
    let store = &state.app.store;
    let projects = store.list_projects().await?;
    let stats = store.project_stats().await?;
    let channels = store.channels().await?;
    let list: Vec<Value> = projects
        .iter()
        .map(|p| {
            let s = stats.get(&p.id).copied().unwrap_or_default();
            let chans: Vec<Value> = channels
                .iter()
                .filter(|c| c.project_id == Some(p.id))
                .map(channel_json)
                .collect();
            json!({
                "id": p.id,
                "name": p.name,
                "dsn": state.app.config.dsn(&p.public_key, p.id),
                "events": s.events,
                "issues": s.issues,
                "unresolved": s.unresolved,
                "channels": chans,
            })
        })
        .collect();
    let global: Vec<Value> = channels
        .iter()
        .filter(|c| c.project_id.is_none())
        .map(channel_json)
        .collect();
    let ctx = minijinja::context! {
        me => Tpl::from_serialize(json!({"email": user.user.email, "is_admin": user.user.is_admin})),
        csrf => user.csrf,
        projects => Tpl::from_serialize(&list),
        global_channels => Tpl::from_serialize(&global),
    };
    Ok(state
        .templates
        .render("projects.html", ctx)?
        .into_response())
}

/// Fields of the new-project form.
#[derive(Debug, Deserialize)]
pub struct CreateForm {
    name: String,
}

/// `POST /projects`: creates a project (admins).
pub async fn create(
    State(state): State<WebState>,
    user: CurrentUser,
    Form(form): Form<CreateForm>,
) -> Result<Response, WebError> {
    user.require_admin()?;
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(WebError::BadRequest(
            "A project name has 1 to 100 characters.".into(),
        ));
    }
    let p = state.app.store.create_project(name).await?;
    tracing::info!(user_id = user.user.id, project_id = p.id, "project created");
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

/// `POST /projects/{id}/channels`: `action=add` with `kind` (`email`/`slack`) and `target`,
/// or `action=remove` with `channel_id` (admins).
pub async fn channels(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(project_id): Path<i64>,
    Form(form): Form<ChannelForm>,
) -> Result<Response, WebError> {
    user.require_admin()?;
    let store = &state.app.store;
    match form.action.as_str() {
        "add" => {
            let target = form.target.as_deref().unwrap_or("").trim().to_owned();
            let kind = match form.kind.as_deref() {
                Some("email") if target.contains('@') && !target.contains(['\r', '\n']) => {
                    ChannelKind::Email
                }
                Some("slack") if target.starts_with("https://") => ChannelKind::Slack,
                _ => {
                    return Err(WebError::BadRequest(
                        "A channel is an e-mail address, or a Slack webhook URL starting with https://."
                            .into(),
                    ))
                }
            };
            store.add_channel(project_id, kind, &target).await?;
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
    tracing::info!(user_id = user.user.id, project_id, action = %form.action, "channels changed");
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
            kind: ChannelKind::Slack,
            target: "https://hooks.slack.com/services/T000/B000/secret".into(),
            source: "cli".into(),
            active: true,
            consecutive_failures: 0,
            failing_since_ms: None,
            last_success_ms: None,
            last_failure_ms: None,
            last_error: None,
        };
        assert_eq!(redact_target(&c), "https://hooks.slack.com/…");
    }
}
