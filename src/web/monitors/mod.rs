//! The monitor pages: a project's Monitors page (status, schedule in words, last check-in,
//! next expected, a strip of the last 30 check-ins, average duration; the create form and
//! setup snippets) and a monitor's page (environments, duration chart, check-in history with
//! pages, incidents, edit form, pause/resume, delete, setup snippets).
//!
//! Routes: `GET|POST /projects/{id}/monitors`, `GET|POST /monitors/{id}` (POST edits),
//! `POST /monitors/{id}/pause`, `/resume`, `/delete`. Creating, editing and deleting need an
//! admin; pausing and resuming any signed-in user. Every form carries the CSRF token (checked
//! by [`super::auth::csrf_guard`]); everything that came from a client (environments,
//! releases, names) is escaped by the templates, and the charts are made of numbers only
//! ([`charts`]).

pub mod charts;
pub mod snippets;
pub mod view;

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::auth::{CurrentUser, Permission};
use super::svg::Svg;
use super::view::{when, Layout, When};
use super::{urlencode, WebError, WebState};
use crate::monitors::cron::manage::{self, ManageError};
use crate::monitors::cron::{MonitorConfig, MonitorStatus, Schedule};
use crate::monitors::incident::{duration_words, IncidentSource};
use crate::store::{Project, StoredCheckIn};
use snippets::{snippets, Snippets, Target};
use view::{units, EnvironmentView, FormValues, StatusView};

/// Check-ins per history page (and in the duration chart).
pub const PAGE_SIZE: usize = 25;
/// Check-ins the duration chart and the average cover.
pub const CHART_SIZE: usize = 50;

/// The routes of the monitor pages.
pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/projects/{project_id}/monitors", get(list).post(create))
        .route("/monitors/{monitor_id}", get(show).post(edit))
        .route(
            "/monitors/{monitor_id}/pause",
            post(|s, u, p| set_paused(s, u, p, true)),
        )
        .route(
            "/monitors/{monitor_id}/resume",
            post(|s, u, p| set_paused(s, u, p, false)),
        )
        .route("/monitors/{monitor_id}/delete", post(delete))
}

impl From<ManageError> for WebError {
    fn from(e: ManageError) -> Self {
        match e {
            ManageError::Invalid(e) => WebError::BadRequest(super::sentence(&e.to_string())),
            ManageError::Store(crate::store::StoreError::Conflict(m)) => {
                WebError::BadRequest(super::sentence(&m))
            }
            ManageError::Store(e) => e.into(),
        }
    }
}

/// The setup snippets of monitor `slug` with `config` in `project`.
fn setup(state: &WebState, project: &Project, slug: &str, config: &MonitorConfig) -> Snippets {
    let dsn = state.app.config.dsn(&project.public_key, project.id);
    let base = state.app.config.base_url();
    let target = Target {
        dsn: &dsn,
        base_url: &base,
        project_id: project.id,
        public_key: &project.public_key,
    };
    snippets(&target, slug, config)
}

/// What `monitors.html` shows.
#[derive(Debug, Serialize)]
struct MonitorsPage<'a> {
    #[serde(flatten)]
    layout: Layout<'a>,
    project: &'a Project,
    monitors: Vec<MonitorCard>,
    form: FormValues,
    units: Vec<&'static str>,
    /// Example snippets for a new monitor.
    snippets: Snippets,
}

/// One monitor on the Monitors page.
#[derive(Debug, Serialize)]
struct MonitorCard {
    id: i64,
    name: String,
    slug: String,
    status: StatusView,
    schedule: String,
    environments: Vec<EnvironmentView>,
    strip: Svg,
    average: Option<String>,
}

/// `GET /projects/{id}/monitors`.
async fn list(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(project_id): Path<i64>,
) -> Result<Response, WebError> {
    let store = &state.app.store;
    let now = state.app.clock.now_ms();
    let project = store.project(project_id).await?;
    let monitors = store.monitors(project_id).await?;
    let ids: Vec<i64> = monitors.iter().map(|m| m.id).collect();
    let envs = store.monitor_environments(&ids).await?;
    let recent = store.recent_checkins(project_id, charts::STRIP).await?;
    let averages: HashMap<i64, i64> = store
        .average_durations(project_id, CHART_SIZE)
        .await?
        .into_iter()
        .collect();
    let cards = monitors
        .iter()
        .map(|m| {
            let own: Vec<_> = envs.iter().filter(|e| e.monitor_id == m.id).collect();
            let latest: Vec<&StoredCheckIn> = recent
                .iter()
                .filter(|c| c.fields.monitor_id == m.id)
                .collect();
            MonitorCard {
                id: m.id,
                name: m.name.clone(),
                slug: m.slug.clone(),
                status: StatusView::of(MonitorStatus::of_monitor(
                    m.is_paused,
                    own.iter().map(|e| e.status),
                )),
                schedule: m.config.schedule.describe(m.config.timezone),
                environments: own
                    .iter()
                    .map(|e| EnvironmentView::of(e, m.is_paused, now))
                    .collect(),
                strip: charts::strip(&latest),
                average: averages.get(&m.id).map(|&ms| charts::seconds_text(ms)),
            }
        })
        .collect();
    let example = MonitorConfig::with_schedule(Schedule::Crontab {
        value: "0 2 * * *".into(),
    });
    let page = MonitorsPage {
        layout: Layout::of(&user),
        project: &project,
        monitors: cards,
        form: FormValues::blank(),
        units: units(),
        snippets: setup(&state, &project, "nightly-backup", &example),
    };
    Ok(state
        .templates
        .render("monitors.html", page)?
        .into_response())
}

/// The fields of the create and edit forms.
#[derive(Debug, Deserialize)]
pub struct MonitorForm {
    slug: Option<String>,
    name: Option<String>,
    schedule_type: Option<String>,
    crontab: Option<String>,
    interval_value: Option<String>,
    interval_unit: Option<String>,
    timezone: Option<String>,
    checkin_margin: Option<String>,
    max_runtime: Option<String>,
    failure_issue_threshold: Option<String>,
    recovery_threshold: Option<String>,
}

impl MonitorForm {
    /// The form as the JSON fields of [`manage`] (numbers as strings, which it accepts).
    fn fields(&self) -> Map<String, Value> {
        let mut out = Map::new();
        let mut put = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                out.insert(k.to_owned(), Value::String(v.trim().to_owned()));
            }
        };
        put("slug", &self.slug);
        put("name", &self.name);
        put("timezone", &self.timezone);
        put("checkin_margin", &self.checkin_margin);
        put("max_runtime", &self.max_runtime);
        put("failure_issue_threshold", &self.failure_issue_threshold);
        put("recovery_threshold", &self.recovery_threshold);
        let schedule = match self.schedule_type.as_deref() {
            Some("interval") => serde_json::json!({
                "type": "interval",
                "value": self.interval_value.as_deref().unwrap_or_default().trim(),
                "unit": self.interval_unit.as_deref().unwrap_or_default(),
            }),
            _ => serde_json::json!({
                "type": "crontab",
                "value": self.crontab.as_deref().unwrap_or_default(),
            }),
        };
        out.insert("schedule".into(), schedule);
        out
    }
}

/// `POST /projects/{id}/monitors`: creates a monitor (admins).
async fn create(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(project_id): Path<i64>,
    Form(form): Form<MonitorForm>,
) -> Result<Response, WebError> {
    user.require(Permission::Project)?;
    state.app.store.project(project_id).await?;
    let now = state.app.clock.now_ms();
    let m = manage::create(&state.app.store, project_id, &form.fields(), now).await?;
    tracing::info!(user_id = user.user.id, by = %user.user.email, monitor_id = m.id, "monitor created");
    Ok(Redirect::to(&format!("/monitors/{}", m.id)).into_response())
}

/// Query string of the monitor page.
#[derive(Debug, Deserialize)]
struct ShowParams {
    cursor: Option<String>,
}

/// What `monitor.html` shows.
#[derive(Debug, Serialize)]
struct MonitorPage<'a> {
    #[serde(flatten)]
    layout: Layout<'a>,
    project: &'a Project,
    monitor: MonitorHead<'a>,
    environments: Vec<EnvironmentView>,
    chart: Svg,
    checkins: Vec<CheckInView>,
    first_url: Option<String>,
    next_url: Option<String>,
    incidents: Vec<IncidentView>,
    form: FormValues,
    units: Vec<&'static str>,
    snippets: Snippets,
}

/// The monitor itself.
#[derive(Debug, Serialize)]
struct MonitorHead<'a> {
    id: i64,
    name: &'a str,
    slug: &'a str,
    status: StatusView,
    schedule: String,
    is_paused: bool,
    timezone: &'static str,
    checkin_margin: i64,
    max_runtime: i64,
    failure_issue_threshold: i64,
    recovery_threshold: i64,
}

/// One check-in of the history.
#[derive(Debug, Serialize)]
struct CheckInView {
    id: String,
    status: &'static str,
    started: When,
    duration: Option<String>,
    environment: String,
    release: Option<String>,
    /// The issue that shows the failure, when it was recorded as an event.
    issue_url: Option<String>,
}

/// One incident.
#[derive(Debug, Serialize)]
struct IncidentView {
    opened: When,
    resolved: Option<When>,
    lasted: String,
    reason: String,
    environment: String,
    issue_url: Option<String>,
}

/// `GET /monitors/{id}`.
async fn show(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(monitor_id): Path<i64>,
    Query(p): Query<ShowParams>,
) -> Result<Response, WebError> {
    let store = &state.app.store;
    let now = state.app.clock.now_ms();
    let m = store.monitor(monitor_id).await?;
    let project = store.project(m.project_id).await?;
    let envs = store.monitor_environments(&[m.id]).await?;
    let cursor = p.cursor.as_deref().filter(|c| !c.is_empty());
    let page = store
        .monitor_checkins(m.id, None, PAGE_SIZE, cursor)
        .await?;
    let recent = store.monitor_checkins(m.id, None, CHART_SIZE, None).await?;
    let env_ids: Vec<i64> = envs.iter().map(|e| e.id).collect();
    let incidents = store
        .incidents_of(IncidentSource::Cron, &env_ids, 20)
        .await?;
    let env_name = |id: i64| {
        envs.iter()
            .find(|e| e.id == id)
            .map(|e| e.environment.clone())
            .unwrap_or_default()
    };
    // The issue of each environment: where a failure's event went.
    let issue_of: HashMap<i64, i64> = incidents
        .iter()
        .rev()
        .filter_map(|i| Some((i.source_id, i.issue_id?)))
        .collect();
    let checkins = page
        .checkins
        .iter()
        .map(|c| CheckInView {
            id: c.fields.guid.clone(),
            status: c.fields.status.as_str(),
            started: when(c.fields.started_ms, now),
            duration: c.fields.duration_ms.map(charts::seconds_text),
            environment: c.environment.clone(),
            release: c.fields.release.clone(),
            issue_url: c
                .event_id
                .as_ref()
                .and_then(|e| Some((e, issue_of.get(&c.fields.monitor_environment_id)?)))
                .map(|(e, issue)| format!("/issues/{issue}?event={e}")),
        })
        .collect();
    let incidents = incidents
        .iter()
        .map(|i| IncidentView {
            opened: when(i.opened_ms, now),
            resolved: i.resolved_ms.map(|ms| when(ms, now)),
            lasted: duration_words(i.resolved_ms.unwrap_or(now) - i.opened_ms),
            reason: i.reason.clone(),
            environment: env_name(i.source_id),
            issue_url: i.issue_id.map(|id| format!("/issues/{id}")),
        })
        .collect();
    let c = &m.config;
    let page_view = MonitorPage {
        layout: Layout::of(&user),
        project: &project,
        monitor: MonitorHead {
            id: m.id,
            name: &m.name,
            slug: &m.slug,
            status: StatusView::of(MonitorStatus::of_monitor(
                m.is_paused,
                envs.iter().map(|e| e.status),
            )),
            schedule: c.schedule.describe(c.timezone),
            is_paused: m.is_paused,
            timezone: c.timezone.name(),
            checkin_margin: c.checkin_margin,
            max_runtime: c.max_runtime,
            failure_issue_threshold: c.failure_issue_threshold,
            recovery_threshold: c.recovery_threshold,
        },
        environments: envs
            .iter()
            .map(|e| EnvironmentView::of(e, m.is_paused, now))
            .collect(),
        chart: charts::durations(&recent.checkins),
        checkins,
        first_url: cursor.map(|_| format!("/monitors/{}", m.id)),
        next_url: page
            .next_cursor
            .map(|c| format!("/monitors/{}?cursor={}", m.id, urlencode(&c))),
        incidents,
        form: FormValues::of(&m),
        units: units(),
        snippets: setup(&state, &project, &m.slug, c),
    };
    Ok(state
        .templates
        .render("monitor.html", page_view)?
        .into_response())
}

/// `POST /monitors/{id}`: changes a monitor (admins).
async fn edit(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(monitor_id): Path<i64>,
    Form(form): Form<MonitorForm>,
) -> Result<Response, WebError> {
    user.require(Permission::Project)?;
    let now = state.app.clock.now_ms();
    let mut fields = form.fields();
    // The slug is what SDKs send: the form does not change it.
    fields.remove("slug");
    manage::update(&state.app.store, monitor_id, &fields, now).await?;
    tracing::info!(user_id = user.user.id, by = %user.user.email, monitor_id, "monitor changed");
    Ok(Redirect::to(&format!("/monitors/{monitor_id}")).into_response())
}

/// `POST /monitors/{id}/pause` and `/resume` (any signed-in user).
async fn set_paused(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(monitor_id): Path<i64>,
    paused: bool,
) -> Result<Response, WebError> {
    user.require(Permission::Triage)?;
    let now = state.app.clock.now_ms();
    manage::set_paused(&state.app.store, monitor_id, paused, now).await?;
    tracing::info!(
        user_id = user.user.id, by = %user.user.email,
        monitor_id,
        paused,
        "monitor paused or resumed"
    );
    Ok(Redirect::to(&format!("/monitors/{monitor_id}")).into_response())
}

/// `POST /monitors/{id}/delete` (admins): back to the project's Monitors page.
async fn delete(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(monitor_id): Path<i64>,
) -> Result<Response, WebError> {
    user.require(Permission::Project)?;
    let m = state.app.store.monitor(monitor_id).await?;
    state.app.store.delete_monitor(monitor_id).await?;
    tracing::info!(user_id = user.user.id, by = %user.user.email, monitor_id, "monitor deleted");
    Ok(Redirect::to(&format!("/projects/{}/monitors", m.project_id)).into_response())
}
