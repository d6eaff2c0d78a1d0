//! The uptime pages: a project's Uptime page (per check a status dot, name, URL, uptime over
//! 24 h / 7 d / 30 d, a response-time sparkline of the latest results and the last error;
//! the create form) and a check's page (response-time chart, incidents with start, end,
//! duration and reason, the latest results, edit form, pause/resume, delete).
//!
//! Routes: `GET|POST /projects/{id}/uptime`, `GET|POST /uptime/{id}` (POST edits),
//! `POST /uptime/{id}/pause`, `/resume`, `/delete`. Creating, editing and deleting need an
//! admin; pausing and resuming anyone who may triage. Forms carry the CSRF token (checked by
//! [`super::auth::csrf_guard`]); URLs, names, keywords and failure reasons are escaped by the
//! templates; the charts are numbers only ([`charts`]).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::auth::{CurrentUser, Permission};
use super::svg::Svg;
use super::view::{when, Layout, When};
use super::{WebError, WebState};
use crate::clock::DAY_MS;
use crate::monitors::incident::{duration_words, IncidentSource};
use crate::monitors::uptime::manage::{self, ManageError};
use crate::store::{Project, UptimeCheck, UptimeResult};

/// Results in the check page's table.
const RESULTS_SHOWN: usize = 25;
/// Results in the check page's chart.
const CHART_SIZE: usize = 120;
/// Results in the Uptime page's sparklines.
const SPARK_SIZE: usize = 30;

/// The routes of the uptime pages.
pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/projects/{project_id}/uptime", get(list).post(create))
        .route("/uptime/{check_id}", get(show).post(edit))
        .route(
            "/uptime/{check_id}/pause",
            post(|s, u, p| set_paused(s, u, p, true)),
        )
        .route(
            "/uptime/{check_id}/resume",
            post(|s, u, p| set_paused(s, u, p, false)),
        )
        .route("/uptime/{check_id}/delete", post(delete))
}

impl From<ManageError> for WebError {
    fn from(e: ManageError) -> Self {
        match e {
            ManageError::Store(e) => e.into(),
            e => WebError::BadRequest(super::sentence(&e.to_string())),
        }
    }
}

/// A check's state for the status dot: `name` picks the colour, `label` is shown.
#[derive(Debug, Serialize)]
struct StatusView {
    name: &'static str,
    label: &'static str,
}

fn status_of(c: &UptimeCheck) -> StatusView {
    match crate::api::uptime::shown_status(c) {
        "up" => StatusView {
            name: "ok",
            label: "up",
        },
        "down" => StatusView {
            name: "error",
            label: "down",
        },
        "paused" => StatusView {
            name: "paused",
            label: "paused",
        },
        _ => StatusView {
            name: "new",
            label: "unknown",
        },
    }
}

/// `99.95 %`, or `–` without results.
fn percent(p: Option<f64>) -> String {
    match p {
        Some(p) if p >= 99.995 => "100 %".to_owned(),
        Some(p) => format!("{p:.2} %"),
        None => "–".to_owned(),
    }
}

/// One check on the Uptime page.
#[derive(Debug, Serialize)]
struct CheckCard {
    id: i64,
    name: String,
    url: String,
    status: StatusView,
    uptime_24h: String,
    uptime_7d: String,
    uptime_30d: String,
    spark: Svg,
    last_error: Option<String>,
    last_checked: Option<When>,
    last_response: Option<String>,
}

/// What `uptime.html` shows.
#[derive(Debug, Serialize)]
struct UptimePage<'a> {
    #[serde(flatten)]
    layout: Layout<'a>,
    project: &'a Project,
    checks: Vec<CheckCard>,
}

/// `GET /projects/{id}/uptime`.
async fn list(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(project_id): Path<i64>,
) -> Result<Response, WebError> {
    let store = &state.app.store;
    let now = state.app.clock.now_ms();
    let project = store.project(project_id).await?;
    let mut cards = Vec::new();
    for c in store.uptime_checks(project_id).await? {
        let recent = store
            .uptime_results_since(c.id, now - 30 * DAY_MS, SPARK_SIZE)
            .await?;
        cards.push(CheckCard {
            id: c.id,
            name: c.config.name.clone(),
            url: c.config.url.clone(),
            status: status_of(&c),
            uptime_24h: percent(store.uptime_percent(c.id, now - DAY_MS).await?),
            uptime_7d: percent(store.uptime_percent(c.id, now - 7 * DAY_MS).await?),
            uptime_30d: percent(store.uptime_percent(c.id, now - 30 * DAY_MS).await?),
            spark: charts::sparkline(&recent),
            last_error: c.last_error.clone(),
            last_checked: c.last_checked_ms.map(|ms| when(ms, now)),
            last_response: c.last_response_ms.map(|ms| format!("{ms} ms")),
        });
    }
    let page = UptimePage {
        layout: Layout::of(&user),
        project: &project,
        checks: cards,
    };
    Ok(state.templates.render("uptime.html", page)?.into_response())
}

/// The fields of the create and edit forms (all text, as browsers send them).
#[derive(Debug, Deserialize)]
pub struct CheckForm {
    url: Option<String>,
    name: Option<String>,
    method: Option<String>,
    interval_seconds: Option<String>,
    timeout_seconds: Option<String>,
    expected_status: Option<String>,
    keyword: Option<String>,
    failure_threshold: Option<String>,
    recovery_threshold: Option<String>,
    cert_warning_days: Option<String>,
    /// Checkboxes: present when ticked; `options` says the form had them.
    follow_redirects: Option<String>,
    verify_tls: Option<String>,
    options: Option<String>,
}

impl CheckForm {
    /// The form as the JSON fields of [`manage`]: numbers parsed (a non-number is passed
    /// on as text, which the validation names), empty texts cleared.
    fn fields(&self) -> Map<String, Value> {
        let mut out = Map::new();
        let texts = [
            ("url", &self.url),
            ("name", &self.name),
            ("method", &self.method),
            ("expected_status", &self.expected_status),
            ("keyword", &self.keyword),
        ];
        for (k, v) in texts {
            if let Some(v) = v {
                out.insert(k.to_owned(), Value::String(v.trim().to_owned()));
            }
        }
        let numbers = [
            ("interval_seconds", &self.interval_seconds),
            ("timeout_seconds", &self.timeout_seconds),
            ("failure_threshold", &self.failure_threshold),
            ("recovery_threshold", &self.recovery_threshold),
            ("cert_warning_days", &self.cert_warning_days),
        ];
        for (k, v) in numbers {
            if let Some(v) = v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                let value = v
                    .parse::<i64>()
                    .map_or_else(|_| Value::String(v.to_owned()), Value::from);
                out.insert(k.to_owned(), value);
            }
        }
        if self.options.is_some() {
            out.insert(
                "follow_redirects".into(),
                self.follow_redirects.is_some().into(),
            );
            out.insert("verify_tls".into(), self.verify_tls.is_some().into());
        }
        out
    }
}

/// `POST /projects/{id}/uptime`: creates a check (admins).
async fn create(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(project_id): Path<i64>,
    Form(form): Form<CheckForm>,
) -> Result<Response, WebError> {
    user.require(Permission::Project)?;
    let policy = state.app.config.uptime.target_policy();
    let now = state.app.clock.now_ms();
    let c = manage::create(&state.app.store, project_id, &form.fields(), &policy, now).await?;
    tracing::info!(
        user_id = user.user.id,
        uptime_check_id = c.id,
        "uptime check created"
    );
    Ok(Redirect::to(&format!("/uptime/{}", c.id)).into_response())
}

/// The check itself, for its page and edit form.
#[derive(Debug, Serialize)]
struct CheckHead<'a> {
    id: i64,
    name: &'a str,
    url: &'a str,
    method: &'static str,
    status: StatusView,
    is_paused: bool,
    interval_seconds: i64,
    timeout_seconds: i64,
    expected_status: String,
    keyword: Option<&'a str>,
    follow_redirects: bool,
    verify_tls: bool,
    failure_threshold: i64,
    recovery_threshold: i64,
    cert_warning_days: i64,
    last_error: Option<&'a str>,
    uptime_24h: String,
    uptime_7d: String,
    uptime_30d: String,
}

/// One result row.
#[derive(Debug, Serialize)]
struct ResultView {
    ok: bool,
    checked: When,
    status_code: Option<i64>,
    response: Option<String>,
    error_class: Option<&'static str>,
    reason: Option<String>,
}

/// One incident row.
#[derive(Debug, Serialize)]
struct IncidentView {
    opened: When,
    resolved: Option<When>,
    lasted: String,
    reason: String,
    issue_url: Option<String>,
}

/// What `uptime_check.html` shows.
#[derive(Debug, Serialize)]
struct CheckPage<'a> {
    #[serde(flatten)]
    layout: Layout<'a>,
    project: &'a Project,
    check: CheckHead<'a>,
    chart: Svg,
    results: Vec<ResultView>,
    incidents: Vec<IncidentView>,
}

/// `GET /uptime/{id}`.
async fn show(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(check_id): Path<i64>,
) -> Result<Response, WebError> {
    let store = &state.app.store;
    let now = state.app.clock.now_ms();
    let c = store.uptime_check(check_id).await?;
    let project = store.project(c.project_id).await?;
    let recent = store
        .uptime_results_since(c.id, now - 30 * DAY_MS, CHART_SIZE)
        .await?;
    let results = recent
        .iter()
        .rev()
        .take(RESULTS_SHOWN)
        .map(|UptimeResult { outcome: r, .. }| ResultView {
            ok: r.ok,
            checked: when(r.checked_ms, now),
            status_code: r.status_code,
            response: r.response_ms.map(|ms| format!("{ms} ms")),
            error_class: r.error_class.map(|e| e.as_str()),
            reason: r.reason.clone(),
        })
        .collect();
    let incidents = store
        .incidents_of(IncidentSource::Uptime, &[c.id], 20)
        .await?
        .iter()
        .map(|i| IncidentView {
            opened: when(i.opened_ms, now),
            resolved: i.resolved_ms.map(|ms| when(ms, now)),
            lasted: duration_words(i.resolved_ms.unwrap_or(now) - i.opened_ms),
            reason: i.reason.clone(),
            issue_url: i.issue_id.map(|id| format!("/issues/{id}")),
        })
        .collect();
    let k = &c.config;
    let page = CheckPage {
        layout: Layout::of(&user),
        project: &project,
        check: CheckHead {
            id: c.id,
            name: &k.name,
            url: &k.url,
            method: k.method.as_str(),
            status: status_of(&c),
            is_paused: c.is_paused,
            interval_seconds: k.interval_seconds,
            timeout_seconds: k.timeout_seconds,
            expected_status: k.expected_status.to_string(),
            keyword: k.keyword.as_deref(),
            follow_redirects: k.follow_redirects,
            verify_tls: k.verify_tls,
            failure_threshold: k.failure_threshold,
            recovery_threshold: k.recovery_threshold,
            cert_warning_days: k.cert_warning_days,
            last_error: c.last_error.as_deref(),
            uptime_24h: percent(store.uptime_percent(c.id, now - DAY_MS).await?),
            uptime_7d: percent(store.uptime_percent(c.id, now - 7 * DAY_MS).await?),
            uptime_30d: percent(store.uptime_percent(c.id, now - 30 * DAY_MS).await?),
        },
        chart: charts::response_times(&recent),
        results,
        incidents,
    };
    Ok(state
        .templates
        .render("uptime_check.html", page)?
        .into_response())
}

/// `POST /uptime/{id}`: changes a check (admins).
async fn edit(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(check_id): Path<i64>,
    Form(form): Form<CheckForm>,
) -> Result<Response, WebError> {
    user.require(Permission::Project)?;
    let policy = state.app.config.uptime.target_policy();
    let now = state.app.clock.now_ms();
    manage::update(&state.app.store, check_id, &form.fields(), &policy, now).await?;
    tracing::info!(
        user_id = user.user.id,
        uptime_check_id = check_id,
        "uptime check changed"
    );
    Ok(Redirect::to(&format!("/uptime/{check_id}")).into_response())
}

/// `POST /uptime/{id}/pause` and `/resume`.
async fn set_paused(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(check_id): Path<i64>,
    paused: bool,
) -> Result<Response, WebError> {
    user.require(Permission::Triage)?;
    let policy = state.app.config.uptime.target_policy();
    let now = state.app.clock.now_ms();
    let mut fields = Map::new();
    fields.insert("is_paused".into(), paused.into());
    manage::update(&state.app.store, check_id, &fields, &policy, now).await?;
    Ok(Redirect::to(&format!("/uptime/{check_id}")).into_response())
}

/// `POST /uptime/{id}/delete` (admins): back to the project's Uptime page.
async fn delete(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(check_id): Path<i64>,
) -> Result<Response, WebError> {
    user.require(Permission::Project)?;
    let c = state.app.store.uptime_check(check_id).await?;
    state.app.store.delete_uptime_check(check_id).await?;
    tracing::info!(
        user_id = user.user.id,
        uptime_check_id = check_id,
        "uptime check deleted"
    );
    Ok(Redirect::to(&format!("/projects/{}/uptime", c.project_id)).into_response())
}

/// The uptime pages' SVG: response times as a sparkline and as a bar chart, bars of failed
/// results marked. Numbers and server-formatted times only (see [`Svg::trusted`]).
pub mod charts {
    use std::fmt::Write as _;

    use crate::store::UptimeResult;
    use crate::timefmt::rfc3339_ms;
    use crate::web::svg::Svg;

    fn bars(results: &[UptimeResult], w: f64, h: f64, class: &str, label: &str) -> String {
        let max = results
            .iter()
            .filter_map(|r| r.outcome.response_ms)
            .max()
            .unwrap_or(0)
            .max(1) as f64;
        let n = results.len().max(1) as f64;
        let bw = w / n;
        let mut s = format!(
            "<svg class=\"{class}\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" \
             role=\"img\" aria-label=\"{label}\">"
        );
        for (i, UptimeResult { outcome: r, .. }) in results.iter().enumerate() {
            let ms = r.response_ms.unwrap_or(0);
            let bh = (ms as f64 / max * (h - 2.0)).max(2.0);
            let state = if r.ok { "up" } else { "down" };
            let _ = write!(
                s,
                "<rect class=\"rt {state}\" x=\"{:.2}\" y=\"{:.2}\" width=\"{:.2}\" \
                 height=\"{:.2}\"><title>{state}, {ms} ms, {}</title></rect>",
                i as f64 * bw + 0.5,
                h - bh,
                (bw - 1.0).max(0.5),
                bh,
                rfc3339_ms(r.checked_ms),
            );
        }
        s.push_str("</svg>");
        s
    }

    /// The response times of `results` (oldest first) as a small sparkline.
    pub fn sparkline(results: &[UptimeResult]) -> Svg {
        let label = format!("response times of the last {} checks", results.len());
        Svg::trusted(bars(results, 120.0, 24.0, "spark uptime-spark", &label))
    }

    /// The response times of `results` (oldest first) as the check page's chart.
    pub fn response_times(results: &[UptimeResult]) -> Svg {
        let max = results
            .iter()
            .filter_map(|r| r.outcome.response_ms)
            .max()
            .unwrap_or(0);
        let label = format!(
            "response times of the last {} checks, slowest {max} ms",
            results.len()
        );
        Svg::trusted(bars(results, 600.0, 140.0, "chart response-times", &label))
    }
}
