//! A project's Alerts page (`/projects/{id}/alerts`): its alert rules in words, a form for a
//! new rule (triggers with their parameters, filters, channels and e-mail, the per-issue
//! interval: [`super::alert_form`]), an edit page per rule
//! (`/projects/{id}/alerts/{rule_id}/edit`, the same form), and per rule enable / disable,
//! delete and "send test" (the rule's message for the latest issue, sent now to its
//! channels, results shown on the page). Admins change rules; everyone signed in reads them.
//! The rule model and its validation are the API's (`/api/v1/…/alert-rules`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Serialize;

use super::alert_form::{RuleForm, TRIGGERS};
use super::auth::{CurrentUser, Permission};
use super::view::Layout;
use super::{WebError, WebState};
use crate::notify::{channel, Notifier};
use crate::store::{
    AlertRule, AssignedFilter, ChannelSelection, RuleActions, RuleFilters, RuleTrigger, TagOp,
};

/// What `alerts.html` shows.
#[derive(Debug, Serialize)]
struct AlertsPage<'a> {
    #[serde(flatten)]
    layout: Layout<'a>,
    project_id: i64,
    project: String,
    rules: Vec<RuleRow>,
    channels: Vec<ChannelOption>,
    /// Users the form can e-mail.
    users: Vec<ChannelOption>,
    /// The triggers the form offers.
    triggers: &'static [(&'static str, &'static str)],
    /// The rule form's fields.
    form: RuleForm,
    /// The rule the form edits (else it adds one).
    editing: Option<Editing>,
    /// Why the form (or another action) was refused.
    error: Option<String>,
    /// The error is the rule form's (shown in it), not another action's (shown on top).
    form_refused: bool,
    /// Results of "send test": `(channel, ok, detail)`.
    tested: Option<Vec<TestLine>>,
}

/// A rule in words.
#[derive(Debug, Serialize)]
struct RuleRow {
    id: i64,
    name: String,
    enabled: bool,
    builtin: Option<String>,
    triggers: String,
    filters: String,
    actions: String,
    interval_minutes: i64,
}

/// A channel (or user) the rule form offers as a checkbox; the id as the form sends it.
#[derive(Debug, Serialize)]
struct ChannelOption {
    id: String,
    label: String,
}

/// The rule being edited.
#[derive(Debug, Serialize)]
struct Editing {
    id: i64,
    name: String,
}

/// One channel's "send test" result.
#[derive(Debug, Serialize)]
struct TestLine {
    channel: String,
    ok: bool,
    detail: String,
}

fn trigger_words(t: &RuleTrigger) -> String {
    match *t {
        RuleTrigger::NewIssue => "new issue".into(),
        RuleTrigger::Regression => "regression".into(),
        RuleTrigger::Unignored => "unignored".into(),
        RuleTrigger::Frequency { events, minutes } => {
            format!("more than {events} events in {minutes} min")
        }
        RuleTrigger::Users { users, minutes } => {
            format!("more than {users} users in {minutes} min")
        }
        RuleTrigger::EveryEvent => "every event".into(),
        RuleTrigger::MonitorFailing => "monitor failing".into(),
        RuleTrigger::MonitorRecovering => "monitor recovering".into(),
        RuleTrigger::UptimeDown => "uptime check down".into(),
        RuleTrigger::UptimeUp => "uptime check up".into(),
    }
}

fn filter_words(f: &RuleFilters) -> String {
    let mut parts = Vec::new();
    if !f.environments.is_empty() {
        parts.push(format!("environment {}", f.environments.join(" or ")));
    }
    if let Some(l) = &f.level {
        parts.push(format!("level ≥ {l}"));
    }
    for t in &f.tags {
        let op = match t.op {
            TagOp::Equals => "=",
            TagOp::Contains => "contains",
        };
        parts.push(format!("tag {} {op} {}", t.key, t.value));
    }
    if let Some(r) = &f.release {
        parts.push(format!("release {r}"));
    }
    if let Some(t) = &f.title_contains {
        parts.push(format!("title contains {t:?}"));
    }
    match f.assigned {
        Some(AssignedFilter::Assigned) => parts.push("assigned".into()),
        Some(AssignedFilter::Unassigned) => parts.push("unassigned".into()),
        None => {}
    }
    if parts.is_empty() {
        "any issue".into()
    } else {
        parts.join(", ")
    }
}

fn action_words(a: &RuleActions) -> String {
    let mut parts = vec![match &a.channels {
        ChannelSelection::All => "every channel".to_owned(),
        ChannelSelection::Ids(ids) if ids.is_empty() => "no channel".to_owned(),
        ChannelSelection::Ids(ids) => format!(
            "channel {}",
            ids.iter()
                .map(|i| format!("#{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }];
    if a.email_assignee {
        parts.push("the assignee".into());
    }
    if a.email_subscribers {
        parts.push("subscribers by e-mail".into());
    }
    if !a.email_users.is_empty() {
        parts.push(format!("{} users by e-mail", a.email_users.len()));
    }
    parts.join(" + ")
}

fn row(r: &AlertRule) -> RuleRow {
    RuleRow {
        id: r.id,
        name: r.spec.name.clone(),
        enabled: r.spec.enabled,
        builtin: r.builtin.clone(),
        triggers: r
            .spec
            .triggers
            .iter()
            .map(trigger_words)
            .collect::<Vec<_>>()
            .join(", "),
        filters: filter_words(&r.spec.filters),
        actions: action_words(&r.spec.actions),
        interval_minutes: r.spec.interval_minutes,
    }
}

/// What a render of the page shows besides the rules.
#[derive(Debug, Default)]
struct View {
    /// Why the form was refused (the page answers 400).
    error: Option<String>,
    /// "Send test" results.
    tested: Option<Vec<TestLine>>,
    /// The rule form as shown (blank, typed, or the edited rule).
    form: Option<RuleForm>,
    /// The rule being edited.
    editing: Option<Editing>,
}

async fn render(
    state: &WebState,
    user: &CurrentUser,
    project_id: i64,
    view: View,
) -> Result<Response, WebError> {
    let store = &state.app.store;
    let project = store.project(project_id).await?;
    let rules = store.alert_rules(project_id).await?;
    let channels = store
        .channels()
        .await?
        .iter()
        .filter(|c| c.project_id.is_none_or(|p| p == project_id))
        .map(|c| ChannelOption {
            id: c.id.to_string(),
            label: format!("#{} {} {}", c.id, c.kind.as_str(), channel::redact(c)),
        })
        .collect();
    let users = store
        .list_users()
        .await?
        .into_iter()
        .map(|u| ChannelOption {
            id: u.id.to_string(),
            label: u.email,
        })
        .collect();
    let status = if view.error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = AlertsPage {
        layout: Layout::of(user),
        project_id,
        project: project.name,
        rules: rules.iter().map(row).collect(),
        channels,
        users,
        triggers: TRIGGERS,
        form_refused: view.form.is_some(),
        form: view.form.unwrap_or_else(RuleForm::blank),
        editing: view.editing,
        error: view.error,
        tested: view.tested,
    };
    Ok((status, state.templates.render("alerts.html", page)?).into_response())
}

/// `GET /projects/{id}/alerts`.
pub async fn page(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(project_id): Path<i64>,
) -> Result<Response, WebError> {
    render(&state, &user, project_id, View::default()).await
}

/// Rule `rule_id` if it is one of `project_id`'s (the access guard checked the project in
/// the path; a rule of another project is 404 here, as if it did not exist).
async fn owned_rule(
    state: &WebState,
    project_id: i64,
    rule_id: i64,
) -> Result<AlertRule, WebError> {
    let rule = state.app.store.alert_rule(rule_id).await?;
    if rule.project_id != project_id {
        return Err(WebError::NotFound);
    }
    Ok(rule)
}

/// The edit form of `rule` showing `form`, refused with `error` if any.
async fn render_edit(
    state: &WebState,
    user: &CurrentUser,
    rule: &AlertRule,
    form: RuleForm,
    error: Option<String>,
) -> Result<Response, WebError> {
    let view = View {
        error,
        form: Some(form),
        editing: Some(Editing {
            id: rule.id,
            name: rule.spec.name.clone(),
        }),
        ..View::default()
    };
    render(state, user, rule.project_id, view).await
}

/// `GET /projects/{id}/alerts/{rule_id}/edit`: the page with the rule in the form (shown to
/// admins; others read the page, as its rules are readable to everyone signed in).
pub async fn edit_page(
    State(state): State<WebState>,
    user: CurrentUser,
    Path((project_id, rule_id)): Path<(i64, i64)>,
) -> Result<Response, WebError> {
    let rule = owned_rule(&state, project_id, rule_id).await?;
    let form = RuleForm::from_spec(&rule.spec);
    render_edit(&state, &user, &rule, form, None).await
}

/// `POST /projects/{id}/alerts/{rule_id}/edit` (admins): replaces the rule with the form's
/// (its on/off state stays), through the store call of the API's `PATCH`.
pub async fn edit(
    State(state): State<WebState>,
    user: CurrentUser,
    Path((project_id, rule_id)): Path<(i64, i64)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    user.require(Permission::Project)?;
    let rule = owned_rule(&state, project_id, rule_id).await?;
    let form = RuleForm::from_pairs(&pairs);
    let mut spec = match form.to_spec() {
        Ok(s) => s,
        Err(e) => return render_edit(&state, &user, &rule, form, Some(e.0)).await,
    };
    spec.enabled = rule.spec.enabled;
    let now = state.app.clock.now_ms();
    if let Err(e) = state
        .app
        .store
        .update_alert_rule(rule.id, &spec, now)
        .await?
    {
        return render_edit(&state, &user, &rule, form, Some(e.0)).await;
    }
    tracing::info!(
        user_id = user.user.id,
        project_id,
        rule_id,
        "alert rule edited"
    );
    Ok(Redirect::to(&format!("/projects/{project_id}/alerts#rule-{rule_id}")).into_response())
}

/// The value of field `name` in a submitted form.
fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `POST /projects/{id}/alerts` (admins): create, enable/disable, delete or test a rule.
pub async fn change(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(project_id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    user.require(Permission::Project)?;
    let store = &state.app.store;
    let now = state.app.clock.now_ms();
    let action = field(&pairs, "action").unwrap_or_default();
    let rule = match field(&pairs, "rule_id") {
        Some(id) => {
            let id = id
                .parse()
                .map_err(|_| WebError::BadRequest(format!("bad rule id {id:?}")))?;
            Some(owned_rule(&state, project_id, id).await?)
        }
        None => None,
    };
    let refused = |error: String| View {
        error: Some(error),
        ..View::default()
    };
    match (action, rule) {
        ("create", _) => {
            let form = RuleForm::from_pairs(&pairs);
            let refusal = match form.to_spec() {
                Ok(spec) => store.create_alert_rule(project_id, &spec, now).await?.err(),
                Err(e) => Some(e),
            };
            if let Some(e) = refusal {
                let view = View {
                    form: Some(form),
                    ..refused(e.0)
                };
                return render(&state, &user, project_id, view).await;
            }
        }
        ("toggle", Some(r)) => {
            let mut spec = r.spec.clone();
            spec.enabled = !spec.enabled;
            if let Err(e) = store.update_alert_rule(r.id, &spec, now).await? {
                return render(&state, &user, project_id, refused(e.0)).await;
            }
        }
        ("delete", Some(r)) => store.delete_alert_rule(r.id).await?,
        ("test", Some(r)) => {
            let notifier = Notifier::new(store.clone(), &state.app.config)
                .map_err(|e| WebError::BadRequest(e.to_string()))?;
            let lines = match notifier
                .test_rule(&r)
                .await
                .map_err(|e| WebError::BadRequest(e.to_string()))?
            {
                Some(results) => results
                    .iter()
                    .map(|t| TestLine {
                        channel: format!(
                            "#{} {} {}",
                            t.channel.id,
                            t.channel.kind.as_str(),
                            channel::redact(&t.channel)
                        ),
                        ok: t.result.is_ok(),
                        detail: match &t.result {
                            Ok(reply) => reply.clone(),
                            Err(e) => e.to_string(),
                        },
                    })
                    .collect(),
                None => {
                    let e = "This project has no issue to show in a test message yet.";
                    return render(&state, &user, project_id, refused(e.into())).await;
                }
            };
            let view = View {
                tested: Some(lines),
                ..View::default()
            };
            return render(&state, &user, project_id, view).await;
        }
        (other, _) => {
            return Err(WebError::BadRequest(format!(
                "unknown action {other:?} or no rule"
            )))
        }
    }
    tracing::info!(
        user_id = user.user.id,
        project_id,
        action,
        "alert rules changed"
    );
    Ok(Redirect::to(&format!("/projects/{project_id}/alerts")).into_response())
}
