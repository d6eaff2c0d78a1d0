//! The issue list (tabs, search, sort, pages, sparklines, bulk triage) and the issue page
//! (summary, actions, facets, chart, the event with its stack trace, locals, breadcrumbs and
//! context, grouping explanation, raw JSON).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::auth::{safe_next, CurrentUser, Permission};
use super::event_view::event_view;
use super::search::{self, Search};
use super::svg::{self, Range, Svg};
use super::triage::{self as team, Panel};
use super::view::{when, Layout, When};
use super::{urlencode, WebError, WebState};
use crate::clock::{system_now_ms as now_ms, HOUR_MS};
use crate::protocol::EventId;
use crate::store::{Issue, IssueQuery, IssueSort, IssueStatus, Project, StoreError, StoredEvent};
use crate::timefmt::rfc3339_ms;

/// Issues per list page.
pub const PAGE_SIZE: usize = 25;
/// Values shown per tag facet.
pub const FACET_VALUES: usize = 5;
/// Breadcrumbs shown before "show all": the newest, next to the error they led to.
pub const BREADCRUMBS_SHOWN: usize = 10;

fn parse_tab(s: Option<&str>) -> IssueStatus {
    match s {
        Some("resolved") => IssueStatus::Resolved,
        Some("ignored") => IssueStatus::Ignored,
        _ => IssueStatus::Unresolved,
    }
}

fn parse_sort(s: Option<&str>) -> IssueSort {
    match s {
        Some("first_seen") => IssueSort::FirstSeen,
        Some("events") => IssueSort::Count,
        Some("users") => IssueSort::Users,
        _ => IssueSort::LastSeen,
    }
}

fn sort_name(s: IssueSort) -> &'static str {
    match s {
        IssueSort::LastSeen => "last_seen",
        IssueSort::FirstSeen => "first_seen",
        IssueSort::Count => "events",
        IssueSort::Users => "users",
    }
}

/// Query string of the issue list.
#[derive(Debug, Deserialize)]
pub struct ListParams {
    status: Option<String>,
    q: Option<String>,
    sort: Option<String>,
    cursor: Option<String>,
    /// What the bulk action that led here did: `resolved`, `ignored`, `reopened`, `assigned`.
    done: Option<String>,
    /// How many issues it changed.
    n: Option<i64>,
}

/// The sentence of a bulk action's result ("2 issues resolved"), from a fixed set of
/// actions: the query string cannot put words on the page.
fn bulk_result(done: Option<&str>, n: Option<i64>) -> Option<String> {
    let verb = match done? {
        "resolved" => "resolved",
        "ignored" => "ignored",
        "reopened" => "reopened",
        "assigned" => "assigned",
        _ => return None,
    };
    let n = n?.max(0);
    Some(match n {
        0 => format!("No issue {verb}: none of the selected issues could be changed."),
        1 => format!("1 issue {verb}."),
        n => format!("{n} issues {verb}."),
    })
}

/// `back` with the result of a bulk action for [`bulk_result`].
fn with_result(back: &str, done: &str, n: usize) -> String {
    let sep = if back.contains('?') { '&' } else { '?' };
    format!("{back}{sep}done={done}&n={n}")
}

fn list_url(project_id: i64, status: &str, q: &str, sort: &str, cursor: Option<&str>) -> String {
    let mut url = format!("/projects/{project_id}/issues?status={status}");
    if !q.is_empty() {
        url += &format!("&q={}", urlencode(q));
    }
    if sort != "last_seen" {
        url += &format!("&sort={sort}");
    }
    if let Some(c) = cursor {
        url += &format!("&cursor={}", urlencode(c));
    }
    url
}

/// What `issues.html` shows: one page of a project's issues.
#[derive(Debug, Serialize)]
struct IssuesPage<'a> {
    #[serde(flatten)]
    layout: Layout<'a>,
    project: &'a Project,
    /// The status tab: `unresolved`, `resolved` or `ignored`.
    tab: &'static str,
    tabs: Vec<Tab>,
    sorts: Vec<SortOption>,
    /// The sort's name in URLs (`last_seen`, `first_seen`, `events`, `users`).
    sort: &'static str,
    /// The search as typed.
    q: &'a str,
    /// Why the search could not be run.
    error: Option<String>,
    /// How many issues of the tab match the search (every page); `None` when it failed.
    matched: Option<i64>,
    /// What the bulk action that led here did ("2 issues resolved.").
    done: Option<String>,
    issues: Vec<IssueRow<'a>>,
    /// Users for the bulk "assign to" menu: `(id, e-mail)`.
    users: Vec<(i64, String)>,
    /// This page's URL (bulk actions come back to it).
    here: String,
    next_url: Option<String>,
    /// Set on every page but the first.
    first_url: Option<String>,
}

/// A status tab of the issue list.
#[derive(Debug, Serialize)]
struct Tab {
    label: &'static str,
    url: String,
    active: bool,
}

/// An option of the sort menu.
#[derive(Debug, Serialize)]
struct SortOption {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

/// What the issue list and the issue page both show of an issue.
#[derive(Debug, Serialize)]
struct IssueHead<'a> {
    id: i64,
    title: &'a str,
    culprit: Option<&'a str>,
    level: &'a str,
    status: &'static str,
    regressed: bool,
    /// Events.
    count: i64,
    /// Distinct users.
    users: i64,
    first_seen: When,
    last_seen: When,
    /// The assignee's e-mail.
    assignee: Option<&'a str>,
}

impl<'a> IssueHead<'a> {
    fn of(issue: &'a Issue, now: i64) -> IssueHead<'a> {
        IssueHead {
            id: issue.id,
            title: &issue.title,
            culprit: issue.culprit.as_deref(),
            level: &issue.level,
            status: issue.status.as_str(),
            regressed: issue.is_regression,
            count: issue.count,
            users: issue.user_count,
            first_seen: when(issue.first_seen_ms, now),
            last_seen: when(issue.last_seen_ms, now),
            assignee: issue.assignee.as_ref().map(|a| a.email.as_str()),
        }
    }
}

/// A row of the issue list: the issue, its 24-hour sparkline and how much user feedback it
/// has.
#[derive(Debug, Serialize)]
struct IssueRow<'a> {
    #[serde(flatten)]
    head: IssueHead<'a>,
    spark: Svg,
    feedback: i64,
}

/// `GET /projects/{id}/issues`: one page of a project's issues.
pub async fn list(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(project_id): Path<i64>,
    Query(p): Query<ListParams>,
) -> Result<Response, WebError> {
    let store = &state.app.store;
    let project = store.project(project_id).await?;
    let tab = parse_tab(p.status.as_deref());
    let sort = parse_sort(p.sort.as_deref());
    let q = p.q.unwrap_or_default();
    let now = now_ms();
    let (issues, next_cursor, matched, error) = match search::parse(&q) {
        Ok(s) => {
            let mut query = browse_query(project_id, tab, sort, &s, p.cursor.clone());
            query.assignee = team::assignee_filter(store, &user, s.assigned.as_ref()).await?;
            let page = store.list_issues(&query).await?;
            let matched = store.count_issues(&query).await?;
            (page.issues, page.next_cursor, Some(matched), None)
        }
        Err(e) => (Vec::new(), None, None, Some(e.to_string())),
    };
    let ids: Vec<i64> = issues.iter().map(|i| i.id).collect();
    let hourly = store.hourly_for_issues(&ids, now - 23 * HOUR_MS).await?;
    let feedback = store.feedback_counts(&ids).await?;
    let sort_s = sort_name(sort);
    let url = |status: IssueStatus, cursor: Option<&str>| {
        list_url(project_id, status.as_str(), &q, sort_s, cursor)
    };
    let tabs = [
        (IssueStatus::Unresolved, "Unresolved"),
        (IssueStatus::Resolved, "Resolved"),
        (IssueStatus::Ignored, "Ignored"),
    ]
    .into_iter()
    .map(|(s, label)| Tab {
        label,
        url: url(s, None),
        active: s == tab,
    })
    .collect();
    let sorts = [
        ("last_seen", "Last seen"),
        ("first_seen", "First seen"),
        ("events", "Events"),
        ("users", "Users"),
    ]
    .into_iter()
    .map(|(value, label)| SortOption {
        value,
        label,
        selected: value == sort_s,
    })
    .collect();
    let rows = issues
        .iter()
        .map(|i| {
            let hours = hourly.get(&i.id).map_or(&[][..], |h| h.as_slice());
            IssueRow {
                head: IssueHead::of(i, now),
                spark: svg::sparkline(&svg::bucketize(hours, now, HOUR_MS, 24)),
                feedback: feedback.get(&i.id).copied().unwrap_or(0),
            }
        })
        .collect();
    let page = IssuesPage {
        layout: Layout::of(&user),
        project: &project,
        tab: tab.as_str(),
        tabs,
        sorts,
        sort: sort_s,
        q: &q,
        error,
        matched,
        done: bulk_result(p.done.as_deref(), p.n),
        issues: rows,
        users: store
            .list_users()
            .await?
            .into_iter()
            .map(|u| (u.id, u.email))
            .collect(),
        here: url(tab, p.cursor.as_deref()),
        next_url: next_cursor.as_deref().map(|c| url(tab, Some(c))),
        first_url: p.cursor.as_ref().map(|_| url(tab, None)),
    };
    Ok(state.templates.render("issues.html", page)?.into_response())
}

/// The store query for a tab, sort and parsed search.
pub fn browse_query(
    project_id: i64,
    tab: IssueStatus,
    sort: IssueSort,
    s: &Search,
    cursor: Option<String>,
) -> IssueQuery {
    s.issue_query(project_id, Some(tab), sort, PAGE_SIZE, cursor)
}

fn parse_action(action: &str) -> Option<IssueStatus> {
    match action {
        "resolve" | "resolved" => Some(IssueStatus::Resolved),
        "ignore" | "ignored" => Some(IssueStatus::Ignored),
        "unresolve" | "unresolved" | "reopen" => Some(IssueStatus::Unresolved),
        _ => None,
    }
}

/// `POST /projects/{id}/issues/bulk`: `issue=<id>` (repeated), `action=resolve|ignore|
/// unresolve|merge|assign` (`assignee=<user id>|me|` for assign), `back=<list url>`. A merge
/// goes to the surviving issue; the rest come back to the list.
pub async fn bulk(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(project_id): Path<i64>,
    body: Bytes,
) -> Result<Response, WebError> {
    user.require(Permission::Triage)?;
    let mut ids = Vec::new();
    let mut action = None;
    let mut back = None;
    let mut assignee = String::new();
    for (k, v) in url::form_urlencoded::parse(&body) {
        match k.as_ref() {
            "issue" => ids.push(
                v.parse::<i64>()
                    .map_err(|_| WebError::BadRequest(format!("{v:?} is not an issue id")))?,
            ),
            "action" => action = Some(v.into_owned()),
            "back" => back = Some(v.into_owned()),
            "assignee" => assignee = v.into_owned(),
            _ => {}
        }
    }
    let store = &state.app.store;
    let fallback = format!("/projects/{project_id}/issues");
    let back = back
        .as_deref()
        .map(|b| safe_next(Some(b)))
        .filter(|b| b != "/")
        .unwrap_or(fallback);
    match action.as_deref() {
        Some("merge") => return team::merge(&state, &user, project_id, &ids).await,
        Some("assign") => {
            let mut assigned = 0;
            for &id in &ids {
                match store.issue(id).await {
                    Ok(issue) if issue.project_id == project_id => {
                        team::assign_to(&state, &user, id, &assignee).await?;
                        assigned += 1;
                    }
                    Ok(_) | Err(StoreError::NotFound) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            let to = with_result(&back, "assigned", assigned);
            return Ok(Redirect::to(&to).into_response());
        }
        _ => {}
    }
    let status = action.as_deref().and_then(parse_action).ok_or_else(|| {
        WebError::BadRequest("choose resolve, ignore, unresolve, merge or assign".into())
    })?;
    let now = state.app.clock.now_ms();
    let changed = store
        .change_statuses(project_id, &ids, status, None, &team::actor(&user), now)
        .await?;
    tracing::info!(
        user_id = user.user.id, by = %user.user.email,
        project_id,
        changed,
        status = status.as_str(),
        "bulk triage"
    );
    let done = match status {
        IssueStatus::Resolved => "resolved",
        IssueStatus::Ignored => "ignored",
        IssueStatus::Unresolved => "reopened",
    };
    let changed = usize::try_from(changed).unwrap_or(usize::MAX);
    Ok(Redirect::to(&with_result(&back, done, changed)).into_response())
}

/// Query string of the issue page.
#[derive(Debug, Deserialize)]
pub struct ShowParams {
    event: Option<String>,
    range: Option<String>,
}

fn parse_event_id(s: &str) -> Result<EventId, WebError> {
    s.parse()
        .map_err(|_| WebError::BadRequest(format!("{s:?} is not an event id")))
}

async fn load_event(
    state: &WebState,
    issue: &Issue,
    event: Option<&str>,
) -> Result<Option<StoredEvent>, WebError> {
    let store = &state.app.store;
    match event {
        Some(id) => {
            let ev = store.event(issue.project_id, &parse_event_id(id)?).await?;
            if ev.summary.issue_id != issue.id {
                return Err(WebError::NotFound);
            }
            Ok(Some(ev))
        }
        None => match store.latest_event(issue.id).await {
            Ok(ev) => Ok(Some(ev)),
            Err(crate::store::StoreError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        },
    }
}

/// What `issue.html` shows.
#[derive(Debug, Serialize)]
struct IssuePage<'a> {
    #[serde(flatten)]
    layout: Layout<'a>,
    project: &'a Project,
    issue: IssueDetail<'a>,
    /// The most frequent releases of the issue's events.
    releases: Vec<String>,
    /// First and last release with their deploys per environment.
    release_deploys: Option<super::releases::IssueReleases>,
    facets: Vec<Facet>,
    /// Events over time.
    chart: Svg,
    /// The chart's range: `24h` or `30d`.
    range: &'static str,
    range_day_url: String,
    range_month_url: String,
    /// The event shown, with its navigation and grouping (the event view's part of the page).
    event: Option<Value>,
    nav: Option<Value>,
    grouping: Option<Value>,
    list_url: String,
    /// Assignee, condition, grouping hashes and timeline.
    triage: Panel,
    /// What users wrote about the issue (`issue_feedback.html`).
    feedback: super::feedback::FeedbackSection,
    /// The user may delete the issue (the Delete button is shown).
    can_delete: bool,
    /// Breadcrumbs shown before "show all" ([`BREADCRUMBS_SHOWN`]).
    crumbs_shown: usize,
    /// Events still stored (fewer than `issue.count` once retention pruned some).
    stored_events: Option<i64>,
    /// The signed-in user muted the issue for themselves (`notify_prefs`).
    muted: bool,
}

/// The issue page's summary of the issue.
#[derive(Debug, Serialize)]
struct IssueDetail<'a> {
    #[serde(flatten)]
    head: IssueHead<'a>,
    last_release: Option<&'a str>,
    environments: &'a [String],
    fingerprint: &'a str,
    grouping_kind: &'a str,
}

/// A tag's most frequent values, as shares of the issue's events.
#[derive(Debug, Serialize)]
struct Facet {
    key: String,
    values: Vec<FacetValue>,
    /// Percent of events with a value not shown.
    other_pct: i64,
    /// Percent of events without the tag: "(not set)", apart from the other values.
    not_set_pct: i64,
}

/// One value of a [`Facet`].
#[derive(Debug, Serialize)]
struct FacetValue {
    value: String,
    count: i64,
    /// Rounded percent of the issue's events.
    pct: i64,
}

impl Facet {
    /// `values` of `key` (the most frequent), `with_key` events carrying the key, out of
    /// `events`.
    fn of(key: String, values: Vec<(String, i64)>, with_key: i64, events: i64) -> Facet {
        let total = events.max(1);
        let shown: i64 = values.iter().map(|(_, c)| c).sum();
        let pct = |n: i64| (n.max(0) * 100 + total / 2) / total;
        Facet {
            key,
            other_pct: pct(with_key - shown),
            not_set_pct: pct(events - with_key),
            values: values
                .into_iter()
                .map(|(value, count)| FacetValue {
                    value,
                    count,
                    pct: (count * 100 + total / 2) / total,
                })
                .collect(),
        }
    }
}

/// `GET /issues/{id}`: the issue with its latest (or `?event=`) event.
pub async fn show(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(issue_id): Path<i64>,
    Query(p): Query<ShowParams>,
) -> Result<Response, WebError> {
    let store = &state.app.store;
    let now = now_ms();
    let issue = match store.issue(issue_id).await {
        // A merged-away issue lives on in the issue it was merged into.
        Err(StoreError::NotFound) => match store.issue_redirect(issue_id).await? {
            Some(target) => return Ok(Redirect::to(&format!("/issues/{target}")).into_response()),
            None => return Err(WebError::NotFound),
        },
        other => other?,
    };
    let project = store.project(issue.project_id).await?;
    let event = load_event(&state, &issue, p.event.as_deref()).await?;
    let triage = team::panel(store, &issue, &user, state.app.clock.now_ms()).await?;
    let range = match p.range.as_deref() {
        Some("30d") => Range::Month,
        _ => Range::Day,
    };
    let facets = store.issue_tag_facets(issue_id, FACET_VALUES).await?;
    let hours = store.issue_hourly(issue_id, now - range.span_ms()).await?;
    let (width, n) = range.buckets();
    let chart = svg::chart(&svg::bucketize(&hours, now, width, n), range);
    let releases = facets
        .iter()
        .find(|(key, _)| key == "release")
        .map(|(_, values)| values.iter().map(|(v, _)| v.clone()).collect())
        .unwrap_or_default();
    let with_key = store.issue_tag_key_totals(issue_id).await?;
    let facets = facets
        .into_iter()
        .map(|(key, values)| {
            let shown: i64 = values.iter().map(|(_, c)| c).sum();
            let carrying = with_key.get(&key).copied().unwrap_or(shown);
            Facet::of(key, values, carrying, issue.count)
        })
        .collect();
    let (event_ctx, nav, grouping) = match &event {
        Some(ev) => {
            let nav = store
                .event_neighbors(ev.summary.project_id, &ev.summary.event_id)
                .await?;
            let link = |id: &EventId| format!("/issues/{issue_id}?event={}", id.simple());
            (
                Some(json!({
                    "id": ev.summary.event_id.simple().to_string(),
                    "time": when(ev.summary.timestamp_ms, now),
                    "received": rfc3339_ms(ev.summary.received_ms),
                    "level": ev.summary.level,
                    "platform": ev.summary.platform,
                    "release": ev.summary.release,
                    "environment": ev.summary.environment,
                    "title": ev.summary.title,
                    "view": event_view(&ev.payload),
                    "json_url": format!("/issues/{issue_id}/events/{}/json", ev.summary.event_id.simple()),
                })),
                Some(json!({
                    "older": nav.older.as_ref().map(link),
                    "newer": nav.newer.as_ref().map(link),
                    "latest": nav.newer.as_ref().map(|_| format!("/issues/{issue_id}")),
                    "position": nav.position,
                    "total": issue.count,
                })),
                Some(json!({
                    "version": ev.grouping_version,
                    "kind": ev.grouping_kind,
                    "hash": ev.grouping_hash,
                    "values": ev.grouping_values,
                })),
            )
        }
        None => (None, None, None),
    };
    let range_url = |r: &str| match &p.event {
        Some(e) => format!("/issues/{issue_id}?event={}&range={r}", urlencode(e)),
        None => format!("/issues/{issue_id}?range={r}"),
    };
    let page = IssuePage {
        layout: Layout::of(&user),
        project: &project,
        issue: IssueDetail {
            head: IssueHead::of(&issue, now),
            last_release: issue.last_release.as_deref(),
            environments: &issue.environments,
            fingerprint: &issue.fingerprint,
            grouping_kind: &issue.grouping_kind,
        },
        releases,
        release_deploys: super::releases::issue_releases(store, issue.project_id, issue_id).await?,
        facets,
        chart,
        range: if range == Range::Month { "30d" } else { "24h" },
        range_day_url: range_url("24h"),
        range_month_url: range_url("30d"),
        event: event_ctx,
        nav,
        grouping,
        list_url: format!("/projects/{}/issues", project.id),
        triage,
        feedback: super::feedback::issue_section(store, &issue, now).await?,
        can_delete: user
            .require(state.app.config.security.delete_permission())
            .is_ok(),
        crumbs_shown: BREADCRUMBS_SHOWN,
        stored_events: Some(store.issue_stored_events(issue_id).await?),
        muted: store.issue_muted(user.user.id, issue_id).await?,
    };
    Ok(state.templates.render("issue.html", page)?.into_response())
}

/// Fields of the status form: the status and its optional condition.
#[derive(Debug, Deserialize)]
pub struct StatusForm {
    status: String,
    #[serde(flatten)]
    condition: team::ConditionForm,
}

/// `POST /issues/{id}/status`: resolve (optionally in the next release or in a release),
/// ignore (optionally until a count, a number of users, a duration or a regression), reopen.
pub async fn set_status(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(issue_id): Path<i64>,
    Form(form): Form<StatusForm>,
) -> Result<Response, WebError> {
    user.require(Permission::Triage)?;
    let status = parse_action(&form.status)
        .ok_or_else(|| WebError::BadRequest(format!("unknown status {:?}", form.status)))?;
    let condition = team::condition_of(&form.condition, status)?;
    let now = state.app.clock.now_ms();
    state
        .app
        .store
        .change_status(issue_id, status, condition, &team::actor(&user), now)
        .await?;
    tracing::info!(
        user_id = user.user.id, by = %user.user.email,
        issue_id,
        status = status.as_str(),
        "issue triaged"
    );
    Ok(Redirect::to(&format!("/issues/{issue_id}")).into_response())
}

/// `POST /issues/{id}/delete`: deletes the issue and its events (see `SecurityConfig::delete_permission`).
pub async fn delete(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(issue_id): Path<i64>,
) -> Result<Response, WebError> {
    user.require(state.app.config.security.delete_permission())?;
    let issue = state.app.store.issue(issue_id).await?;
    state.app.store.delete_issue(issue_id).await?;
    tracing::info!(user_id = user.user.id, by = %user.user.email, issue_id, "issue deleted");
    Ok(Redirect::to(&format!("/projects/{}/issues", issue.project_id)).into_response())
}

/// `GET /issues/{id}/events/{event_id}/json`: the stored event as a JSON download.
pub async fn raw_json(
    State(state): State<WebState>,
    _user: CurrentUser,
    Path((issue_id, event_id)): Path<(i64, String)>,
) -> Result<Response, WebError> {
    let issue = state.app.store.issue(issue_id).await?;
    let ev = load_event(&state, &issue, Some(&event_id))
        .await?
        .ok_or(WebError::NotFound)?;
    let body = serde_json::to_string_pretty(&json!({
        "event_id": ev.summary.event_id.simple().to_string(),
        "issue_id": ev.summary.issue_id,
        "project_id": ev.summary.project_id,
        "grouping": {
            "version": ev.grouping_version,
            "kind": ev.grouping_kind,
            "hash": ev.grouping_hash,
            "values": ev.grouping_values,
        },
        "event": ev.payload,
    }))
    .map_err(|e| WebError::BadRequest(e.to_string()))?;
    let disposition = format!(
        "attachment; filename=\"event-{}.json\"",
        ev.summary.event_id.simple()
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_maps_to_the_store_query() {
        let s = search::parse("boom level:error is:regressed browser:Firefox").unwrap();
        let q = browse_query(3, IssueStatus::Unresolved, IssueSort::Users, &s, None);
        assert_eq!(q.status, Some(IssueStatus::Unresolved));
        assert_eq!(q.query.as_deref(), Some("boom"));
        assert!(q.regressed);
        assert_eq!(q.tags, vec![("browser".into(), "Firefox".into())]);
        let s = search::parse("is:ignored").unwrap();
        let q = browse_query(3, IssueStatus::Unresolved, IssueSort::Users, &s, None);
        assert_eq!(q.status, Some(IssueStatus::Ignored));
    }

    #[test]
    fn list_urls_keep_the_search() {
        assert_eq!(
            list_url(2, "resolved", "a b&c", "events", Some("c:1:2")),
            "/projects/2/issues?status=resolved&q=a+b%26c&sort=events&cursor=c%3A1%3A2"
        );
    }
}
