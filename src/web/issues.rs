//! The issue list (tabs, search, sort, pages, sparklines, bulk triage) and the issue page
//! (summary, actions, facets, chart, the event with its stack trace, locals, breadcrumbs and
//! context, grouping explanation, raw JSON).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use minijinja::Value as Tpl;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{safe_next, urlencode, CurrentUser};
use super::event_view::event_view;
use super::search::{self, Search};
use super::svg::{self, Range};
use super::{WebError, WebState};
use crate::protocol::EventId;
use crate::store::{Issue, IssueQuery, IssueSort, IssueStatus, StoredEvent};
use crate::timefmt::{now_ms, rfc3339_ms};

/// Issues per list page.
pub const PAGE_SIZE: usize = 25;
/// Values shown per tag facet.
pub const FACET_VALUES: usize = 5;

/// "3 min ago"-style text of a past epoch-ms time.
pub fn ago(ms: i64, now: i64) -> String {
    let secs = (now - ms).max(0) / 1000;
    match secs {
        0..=59 => "just now".to_owned(),
        60..=3599 => format!("{} min ago", secs / 60),
        3600..=86_399 => format!("{} h ago", secs / 3600),
        86_400..=2_591_999 => plural(secs / 86_400, "day"),
        2_592_000..=31_535_999 => plural(secs / 2_592_000, "month"),
        _ => plural(secs / 31_536_000, "year"),
    }
}

fn plural(n: i64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit} ago")
    } else {
        format!("{n} {unit}s ago")
    }
}

/// `{"text": "3 min ago", "iso": "…"}` for a `<time>` element.
fn when(ms: i64, now: i64) -> Value {
    json!({"text": ago(ms, now), "iso": rfc3339_ms(ms)})
}

fn me(user: &CurrentUser) -> Value {
    json!({"email": user.user.email, "is_admin": user.user.is_admin})
}

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

fn issue_row(issue: &Issue, now: i64, hours: Option<&Vec<(i64, i64)>>) -> Tpl {
    let counts = svg::bucketize(hours.map_or(&[][..], |h| h.as_slice()), now, 3_600_000, 24);
    minijinja::context! {
        id => issue.id,
        title => issue.title,
        culprit => issue.culprit,
        level => issue.level,
        status => issue.status.as_str(),
        regressed => issue.is_regression,
        count => issue.count,
        users => issue.user_count,
        first_seen => Tpl::from_serialize(when(issue.first_seen_ms, now)),
        last_seen => Tpl::from_serialize(when(issue.last_seen_ms, now)),
        // Server-made SVG of numbers only, so it may skip escaping.
        spark => Tpl::from_safe_string(svg::sparkline(&counts)),
    }
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
    let (issues, next_cursor, error) = match search::parse(&q) {
        Ok(s) => {
            let query = browse_query(project_id, tab, sort, &s, p.cursor.clone());
            let page = store.list_issues(&query).await?;
            (page.issues, page.next_cursor, None)
        }
        Err(e) => (Vec::new(), None, Some(e.to_string())),
    };
    let ids: Vec<i64> = issues.iter().map(|i| i.id).collect();
    let hourly = store.hourly_for_issues(&ids, now - 23 * 3_600_000).await?;
    let rows: Vec<Tpl> = issues
        .iter()
        .map(|i| issue_row(i, now, hourly.get(&i.id)))
        .collect();
    let sort_s = sort_name(sort);
    let tabs: Vec<Value> = [
        (IssueStatus::Unresolved, "Unresolved"),
        (IssueStatus::Resolved, "Resolved"),
        (IssueStatus::Ignored, "Ignored"),
    ]
    .iter()
    .map(|(s, label)| {
        json!({
            "label": label,
            "url": list_url(project_id, s.as_str(), &q, sort_s, None),
            "active": *s == tab,
        })
    })
    .collect();
    let sorts: Vec<Value> = [
        ("last_seen", "Last seen"),
        ("first_seen", "First seen"),
        ("events", "Events"),
        ("users", "Users"),
    ]
    .iter()
    .map(|(v, label)| json!({"value": v, "label": label, "selected": *v == sort_s}))
    .collect();
    let here = list_url(project_id, tab.as_str(), &q, sort_s, p.cursor.as_deref());
    let ctx = minijinja::context! {
        me => Tpl::from_serialize(me(&user)),
        csrf => user.csrf,
        project => Tpl::from_serialize(&project),
        tab => tab.as_str(),
        tabs => Tpl::from_serialize(&tabs),
        sorts => Tpl::from_serialize(&sorts),
        sort => sort_s,
        q => q,
        error => error,
        issues => rows,
        here => here,
        next_url => next_cursor.as_deref().map(|c| list_url(project_id, tab.as_str(), &q, sort_s, Some(c))),
        first_url => p.cursor.as_ref().map(|_| list_url(project_id, tab.as_str(), &q, sort_s, None)),
    };
    Ok(state.templates.render("issues.html", ctx)?.into_response())
}

/// The store query for a tab, sort and parsed search.
pub fn browse_query(
    project_id: i64,
    tab: IssueStatus,
    sort: IssueSort,
    s: &Search,
    cursor: Option<String>,
) -> IssueQuery {
    IssueQuery {
        project_id,
        status: Some(s.status.unwrap_or(tab)),
        level: s.level,
        release: s.release.clone(),
        environment: s.environment.clone(),
        query: s.text.clone(),
        tags: s.tags.clone(),
        regressed: s.regressed,
        sort,
        limit: PAGE_SIZE,
        cursor,
    }
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
/// unresolve`, `back=<list url>`.
pub async fn bulk(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(project_id): Path<i64>,
    body: Bytes,
) -> Result<Response, WebError> {
    let mut ids = Vec::new();
    let mut action = None;
    let mut back = None;
    for (k, v) in url::form_urlencoded::parse(&body) {
        match k.as_ref() {
            "issue" => ids.push(
                v.parse::<i64>()
                    .map_err(|_| WebError::BadRequest(format!("{v:?} is not an issue id")))?,
            ),
            "action" => action = Some(v.into_owned()),
            "back" => back = Some(v.into_owned()),
            _ => {}
        }
    }
    let status = action
        .as_deref()
        .and_then(parse_action)
        .ok_or_else(|| WebError::BadRequest("choose resolve, ignore or unresolve".into()))?;
    let changed = state
        .app
        .store
        .set_issues_status(project_id, &ids, status)
        .await?;
    tracing::info!(
        user_id = user.user.id,
        project_id,
        changed,
        status = status.as_str(),
        "bulk triage"
    );
    let fallback = format!("/projects/{project_id}/issues");
    let back = back
        .as_deref()
        .map(|b| safe_next(Some(b)))
        .filter(|b| b != "/")
        .unwrap_or(fallback);
    Ok(Redirect::to(&back).into_response())
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
            if ev.issue_id != issue.id {
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

/// `GET /issues/{id}`: the issue with its latest (or `?event=`) event.
pub async fn show(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(issue_id): Path<i64>,
    Query(p): Query<ShowParams>,
) -> Result<Response, WebError> {
    let store = &state.app.store;
    let now = now_ms();
    let issue = store.issue(issue_id).await?;
    let project = store.project(issue.project_id).await?;
    let event = load_event(&state, &issue, p.event.as_deref()).await?;
    let range = match p.range.as_deref() {
        Some("30d") => Range::Month,
        _ => Range::Day,
    };
    let facets = store.issue_tag_facets(issue_id, FACET_VALUES).await?;
    let hours = store.issue_hourly(issue_id, now - range.span_ms()).await?;
    let (width, n) = range.buckets();
    let chart = svg::chart(&svg::bucketize(&hours, now, width, n), range);
    let total = issue.count.max(1);
    let mut releases = Vec::new();
    let facets: Vec<Value> = facets
        .into_iter()
        .map(|(key, values)| {
            let shown: i64 = values.iter().map(|(_, c)| c).sum();
            if key == "release" {
                releases = values.iter().map(|(v, _)| v.clone()).collect();
            }
            let values: Vec<Value> = values
                .into_iter()
                .map(|(value, count)| {
                    json!({"value": value, "count": count, "pct": (count * 100 + total / 2) / total})
                })
                .collect();
            json!({"key": key, "values": values, "other_pct": ((total - shown).max(0) * 100) / total})
        })
        .collect();
    let (event_ctx, nav, grouping) = match &event {
        Some(ev) => {
            let nav = store.event_neighbors(ev.project_id, &ev.event_id).await?;
            let link = |id: &EventId| format!("/issues/{issue_id}?event={}", id.simple());
            (
                Some(json!({
                    "id": ev.event_id.simple().to_string(),
                    "time": when(ev.timestamp_ms, now),
                    "received": rfc3339_ms(ev.received_ms),
                    "level": ev.level,
                    "platform": ev.platform,
                    "release": ev.release,
                    "environment": ev.environment,
                    "title": ev.title,
                    "view": event_view(&ev.payload),
                    "json_url": format!("/issues/{issue_id}/events/{}/json", ev.event_id.simple()),
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
    let ctx = minijinja::context! {
        me => Tpl::from_serialize(me(&user)),
        csrf => user.csrf,
        project => Tpl::from_serialize(&project),
        issue => Tpl::from_serialize(json!({
            "id": issue.id,
            "title": issue.title,
            "culprit": issue.culprit,
            "level": issue.level,
            "status": issue.status.as_str(),
            "regressed": issue.is_regression,
            "count": issue.count,
            "users": issue.user_count,
            "first_seen": when(issue.first_seen_ms, now),
            "last_seen": when(issue.last_seen_ms, now),
            "last_release": issue.last_release,
            "environments": issue.environments,
            "fingerprint": issue.fingerprint,
            "grouping_kind": issue.grouping_kind,
        })),
        releases => releases,
        facets => Tpl::from_serialize(&facets),
        chart => Tpl::from_safe_string(chart),
        range => if range == Range::Month { "30d" } else { "24h" },
        range_day_url => range_url("24h"),
        range_month_url => range_url("30d"),
        event => Tpl::from_serialize(&event_ctx),
        nav => Tpl::from_serialize(&nav),
        grouping => Tpl::from_serialize(&grouping),
        list_url => format!("/projects/{}/issues", project.id),
    };
    Ok(state.templates.render("issue.html", ctx)?.into_response())
}

/// Fields of the status form.
#[derive(Debug, Deserialize)]
pub struct StatusForm {
    status: String,
}

/// `POST /issues/{id}/status`: resolve, ignore or reopen.
pub async fn set_status(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(issue_id): Path<i64>,
    Form(form): Form<StatusForm>,
) -> Result<Response, WebError> {
    let status = parse_action(&form.status)
        .ok_or_else(|| WebError::BadRequest(format!("unknown status {:?}", form.status)))?;
    state.app.store.set_issue_status(issue_id, status).await?;
    tracing::info!(
        user_id = user.user.id,
        issue_id,
        status = status.as_str(),
        "issue triaged"
    );
    Ok(Redirect::to(&format!("/issues/{issue_id}")).into_response())
}

/// `POST /issues/{id}/delete`: deletes the issue and its events.
pub async fn delete(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(issue_id): Path<i64>,
) -> Result<Response, WebError> {
    let issue = state.app.store.issue(issue_id).await?;
    state.app.store.delete_issue(issue_id).await?;
    tracing::info!(user_id = user.user.id, issue_id, "issue deleted");
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
        "event_id": ev.event_id.simple().to_string(),
        "issue_id": ev.issue_id,
        "project_id": ev.project_id,
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
        ev.event_id.simple()
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
    fn relative_times() {
        let now = 1_000_000_000_000;
        assert_eq!(ago(now - 5_000, now), "just now");
        assert_eq!(ago(now - 5 * 60_000, now), "5 min ago");
        assert_eq!(ago(now - 3 * 3_600_000, now), "3 h ago");
        assert_eq!(ago(now - 86_400_000, now), "1 day ago");
        assert_eq!(ago(now - 3 * 86_400_000, now), "3 days ago");
        assert_eq!(
            ago(now + 5_000, now),
            "just now",
            "clock skew is not negative"
        );
    }

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
