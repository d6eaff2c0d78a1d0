//! The data lifecycle's pages: a project's settings (retention, cap per issue, rate limit,
//! discarded issues with their undo, deleting the project), "delete and discard future
//! events" on the issue page, and the admin page with the database's size and the pruning
//! passes (`/admin/retention`).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::{Deserialize, Serialize};

use super::auth::{CurrentUser, Permission};
use super::view::{when, Layout, When};
use super::{WebError, WebState};
use crate::clock::system_now_ms as now_ms;
use crate::store::{DiscardedGrouping, ProjectLimits, RetentionRun};

/// Passes listed on the admin page.
const RUNS_SHOWN: usize = 20;

/// What `project_settings.html` shows.
#[derive(Debug, Serialize)]
struct SettingsPage<'a> {
    #[serde(flatten)]
    layout: Layout<'a>,
    project: &'a ProjectLimits,
    /// The configuration's values, shown where the project has none.
    default_days: u32,
    default_cap: u64,
    discarded: Vec<Discarded<'a>>,
    /// The e-mail digest interval, minutes (`notify::email_digest`).
    email_digest_minutes: Option<i64>,
    /// Why the form was refused.
    error: Option<String>,
}

/// A discarded hash on the settings page.
#[derive(Debug, Serialize)]
struct Discarded<'a> {
    hash: &'a str,
    title: &'a str,
    when: When,
}

async fn render_settings(
    state: &WebState,
    user: &CurrentUser,
    project_id: i64,
    error: Option<String>,
) -> Result<Response, WebError> {
    let store = &state.app.store;
    let project = store.project_limit(project_id).await?;
    if project.deleted_ms.is_some() {
        return Err(WebError::NotFound);
    }
    let discarded: Vec<DiscardedGrouping> = store.discarded_groupings(Some(project_id)).await?;
    let now = now_ms();
    let c = &state.app.config.retention;
    let page = SettingsPage {
        layout: Layout::of(user),
        project: &project,
        default_days: c.days,
        default_cap: c.max_events_per_issue,
        discarded: discarded
            .iter()
            .map(|d| Discarded {
                hash: &d.hash,
                title: &d.issue_title,
                when: when(d.discarded_ms, now),
            })
            .collect(),
        email_digest_minutes: store.project_email_digest(project_id).await?,
        error,
    };
    let status = if page.error.is_some() {
        axum::http::StatusCode::BAD_REQUEST
    } else {
        axum::http::StatusCode::OK
    };
    Ok((
        status,
        state.templates.render("project_settings.html", page)?,
    )
        .into_response())
}

/// `GET /projects/{id}/settings`.
pub async fn settings(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(project_id): Path<i64>,
) -> Result<Response, WebError> {
    render_settings(&state, &user, project_id, None).await
}

/// Fields of the settings forms; empty means the configuration's value (or no limit), absent
/// means unchanged (the e-mail digest has a form of its own).
#[derive(Debug, Deserialize)]
pub struct SettingsForm {
    retention_days: Option<String>,
    max_events_per_issue: Option<String>,
    rate_limit: Option<String>,
    email_digest_minutes: Option<String>,
}

/// `POST /projects/{id}/settings` (admins): the same values as `errata project update`.
pub async fn save_settings(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(project_id): Path<i64>,
    Form(form): Form<SettingsForm>,
) -> Result<Response, WebError> {
    user.require(Permission::Project)?;
    let store = &state.app.store;
    store.project(project_id).await?;
    let given = [
        form.retention_days.as_deref(),
        form.max_events_per_issue.as_deref(),
        form.rate_limit.as_deref(),
    ];
    let digest = form.email_digest_minutes.as_deref();
    let digest = digest.map(crate::notify::email_digest::parse_minutes);
    let values = match (
        crate::retention::cli::parse_settings(given),
        digest.transpose(),
    ) {
        (Ok(values), Ok(digest)) => {
            if let Some(minutes) = digest {
                store.set_project_email_digest(project_id, minutes).await?;
            }
            values
        }
        (Err(e), _) => {
            return render_settings(&state, &user, project_id, Some(e.to_string())).await
        }
        (_, Err(e)) => {
            return render_settings(&state, &user, project_id, Some(e.to_string())).await
        }
    };
    for (limit, value) in values {
        store.set_project_limit(project_id, limit, value).await?;
    }
    state.app.retention.policies.reload().await?;
    tracing::info!(user_id = user.user.id, by = %user.user.email, project_id, "project limits changed");
    Ok(Redirect::to(&format!("/projects/{project_id}/settings")).into_response())
}

/// Fields of the undo form.
#[derive(Debug, Deserialize)]
pub struct UndoForm {
    hash: String,
}

/// `POST /projects/{id}/discarded/undo`: events with this hash are stored again.
pub async fn undo_discard(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(project_id): Path<i64>,
    Form(form): Form<UndoForm>,
) -> Result<Response, WebError> {
    user.require(Permission::Triage)?;
    state
        .app
        .store
        .undiscard_grouping(project_id, &form.hash)
        .await?;
    state.app.retention.policies.reload().await?;
    tracing::info!(user_id = user.user.id, by = %user.user.email, project_id, "discard undone");
    Ok(Redirect::to(&format!("/projects/{project_id}/settings#discarded")).into_response())
}

/// Fields of the delete form: the project's name, typed again.
#[derive(Debug, Deserialize)]
pub struct DeleteForm {
    confirm: String,
}

/// `POST /projects/{id}/delete` (admins): the project stops taking events at once and its
/// data is deleted in batches by a background pass.
pub async fn delete_project(
    State(state): State<WebState>,
    user: CurrentUser,
    crate::http::ClientIp(ip): crate::http::ClientIp,
    Path(project_id): Path<i64>,
    Form(form): Form<DeleteForm>,
) -> Result<Response, WebError> {
    user.require(Permission::Project)?;
    let app = &state.app;
    let project = app.store.project(project_id).await?;
    if form.confirm.trim() != project.name {
        let error = format!("Type the project's name, {}, to delete it.", project.name);
        return render_settings(&state, &user, project_id, Some(error)).await;
    }
    let by = crate::store::Actor::user(&user.user).from_ip(ip);
    app.store
        .delete_project_audited(project_id, &by, app.clock.now_ms())
        .await?;
    app.keys.clear();
    let jobs = app.jobs.clone();
    // The pass deletes in batches; the page does not wait for it.
    tokio::spawn(async move {
        if let Err(e) = jobs.run_now(crate::retention::JOB).await {
            tracing::warn!(error = %e, "cannot start the pass that deletes the project");
        }
    });
    tracing::info!(user_id = user.user.id, by = %user.user.email, project_id, "project deleted");
    Ok(Redirect::to("/projects").into_response())
}

/// `POST /issues/{id}/discard`: deletes the issue and drops its future events.
pub async fn discard_issue(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(issue_id): Path<i64>,
) -> Result<Response, WebError> {
    user.require(state.app.config.security.delete_permission())?;
    let app = &state.app;
    let issue = app.store.issue(issue_id).await?;
    let deleted =
        crate::retention::discard_issue(&app.store, &app.retention, &app.clock, issue_id).await?;
    tracing::info!(user_id = user.user.id, by = %user.user.email, issue_id, deleted, "issue discarded");
    Ok(Redirect::to(&format!("/projects/{}/issues", issue.project_id)).into_response())
}

/// What `retention.html` shows.
#[derive(Debug, Serialize)]
struct RetentionPage<'a> {
    #[serde(flatten)]
    layout: Layout<'a>,
    database_bytes: String,
    used_bytes: String,
    free_bytes: String,
    incremental_vacuum: bool,
    budget: Option<String>,
    over_budget: bool,
    events: i64,
    issues: i64,
    oldest: Option<When>,
    days: u32,
    cap: u64,
    overrides: Vec<ProjectLimits>,
    runs: Vec<RunRow>,
}

/// A pass on the admin page.
#[derive(Debug, Serialize)]
struct RunRow {
    at: When,
    ms: i64,
    #[serde(flatten)]
    run: RetentionRun,
}

/// `GET /admin/retention`.
pub async fn admin(State(state): State<WebState>, user: CurrentUser) -> Result<Response, WebError> {
    user.require_admin()?;
    let store = &state.app.store;
    let now = now_ms();
    let size = store.database_size().await?;
    let contents = store.stored_contents().await?;
    let runs = store.retention_runs(RUNS_SHOWN).await?;
    let c = &state.app.config.retention;
    let overrides = store
        .project_limits()
        .await?
        .into_iter()
        .filter(|p| {
            p.deleted_ms.is_some()
                || p.retention_days.is_some()
                || p.max_events_per_issue.is_some()
                || p.rate_limit_per_minute.is_some()
        })
        .collect();
    let page = RetentionPage {
        layout: Layout::of(&user),
        database_bytes: bytes(size.bytes),
        used_bytes: bytes(size.used_bytes),
        free_bytes: bytes(size.free_bytes),
        incremental_vacuum: size.incremental_vacuum,
        budget: c
            .max_database_bytes
            .map(|b| bytes(i64::try_from(b).unwrap_or(i64::MAX))),
        over_budget: runs.first().is_some_and(|r| r.over_budget),
        events: contents.events,
        issues: contents.issues,
        oldest: contents.oldest_received_ms.map(|ms| when(ms, now)),
        days: c.days,
        cap: c.max_events_per_issue,
        overrides,
        runs: runs
            .into_iter()
            .map(|r| RunRow {
                at: when(r.finished_ms, now),
                ms: r.finished_ms - r.started_ms,
                run: r,
            })
            .collect(),
    };
    Ok(state
        .templates
        .render("retention.html", page)?
        .into_response())
}

/// `12.3 MB`-style size (SI units, as `500MB` in the configuration).
fn bytes(n: i64) -> String {
    bytesize::ByteSize::b(n.max(0).unsigned_abs())
        .display()
        .si()
        .to_string()
}
