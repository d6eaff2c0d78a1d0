//! Team triage in the issue browser: the issue page's triage panel (assignee, the condition
//! of its status, grouping hashes with "split off", the timeline with Markdown comments) and
//! its forms, bulk merge and assign on the issue list, the issue's Events page and
//! "My issues".
//!
//! Routes: `POST /issues/{id}/assign` (`assignee` = a user id, `me`, or empty to unassign),
//! `POST /issues/{id}/comments` (`text`), `POST /issues/{id}/comments/{cid}/edit` (`text`),
//! `POST /issues/{id}/comments/{cid}/delete`, `POST /issues/{id}/unmerge` (`hash`, repeated),
//! `GET /issues/{id}/events` (`q`, `cursor`), `GET /my-issues`. The status form
//! (`POST /issues/{id}/status`, in `issues.rs`) takes its condition through
//! [`condition_of`]. Comments are rendered by [`super::markdown`]; everything else is
//! escaped by the templates.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::{Deserialize, Serialize};

use super::auth::{CurrentUser, Permission};
use super::markdown;
use super::search::{self, Assigned};
use super::view::{when, Layout, When};
use super::{urlencode, WebError, WebState};
use crate::store::{
    Activity, AssigneeFilter, CommentError, GroupingHash, Issue, MergeError, Project, Store, User,
};
use crate::triage::{Actor, Condition, DetailsRequest, StatusDetails};

/// Events per page of an issue's Events page.
pub const EVENTS_PAGE: usize = 50;

/// The signed-in user as the author of what they do.
pub fn actor(user: &CurrentUser) -> Actor {
    Actor::user(&user.user)
}

/// The condition fields of the status form: `details` names the condition (`next_release`,
/// `in_release` + `release`, `count` + `count`, `users` + `users`, `minutes` + `minutes`,
/// `regression`); empty or absent for none.
#[derive(Debug, Default, Deserialize)]
pub struct ConditionForm {
    details: Option<String>,
    release: Option<String>,
    count: Option<String>,
    users: Option<String>,
    minutes: Option<String>,
}

fn number(field: &str, value: Option<&str>) -> Result<i64, WebError> {
    value
        .unwrap_or_default()
        .trim()
        .parse()
        .map_err(|_| WebError::BadRequest(format!("{field} must be a whole number")))
}

/// The condition the status form asks for with `status`. Errors: a bad or mismatched
/// condition (400, with the API's message).
pub fn condition_of(
    form: &ConditionForm,
    status: crate::store::IssueStatus,
) -> Result<Option<Condition>, WebError> {
    let mut request = DetailsRequest::default();
    match form.details.as_deref().unwrap_or_default() {
        "" => return Ok(None),
        "next_release" => request.in_next_release = Some(true),
        "in_release" => request.in_release = Some(form.release.clone().unwrap_or_default()),
        "count" => request.ignore_count = Some(number("the count", form.count.as_deref())?),
        "users" => request.ignore_users = Some(number("the user count", form.users.as_deref())?),
        "minutes" => {
            request.ignore_duration_minutes = Some(number("the minutes", form.minutes.as_deref())?);
        }
        "regression" => request.ignore_until_regression = Some(true),
        other => return Err(WebError::BadRequest(format!("unknown condition {other:?}"))),
    }
    request
        .condition(status)
        .map_err(|e| WebError::BadRequest(super::sentence(&e.to_string())))
}

/// A user to assign to, as the assignee menu lists them.
#[derive(Debug, Serialize)]
struct UserOption {
    id: i64,
    email: String,
    selected: bool,
}

/// One timeline entry as the issue page shows it.
#[derive(Debug, Serialize)]
struct Entry {
    id: i64,
    kind: String,
    who: String,
    when: When,
    /// A sentence for everything but comments.
    text: String,
    /// A comment's source (for its edit form) and rendered Markdown.
    source: Option<String>,
    html: Option<minijinja::Value>,
    edited: bool,
    /// The viewer wrote this comment.
    mine: bool,
}

/// A grouping hash as the issue page lists it.
#[derive(Debug, Serialize)]
struct HashRow {
    hash: String,
    version: String,
    events: i64,
}

/// The issue page's triage panel (`issue_triage.html`, `issue_activity.html`).
#[derive(Debug, Serialize)]
pub struct Panel {
    assignee: Option<String>,
    users: Vec<UserOption>,
    /// The condition of the status, as a phrase (`until 100 more events (at 250)`).
    condition: Option<String>,
    activity: Vec<Entry>,
    hashes: Vec<HashRow>,
    events_url: String,
}

fn sentence_of(a: &Activity, issue_id: i64) -> String {
    let s = |key: &str| a.data.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    match a.kind.as_str() {
        "first_seen" => match s("release") {
            Some(r) => format!("first seen, in release {r}"),
            None => "first seen".to_owned(),
        },
        "regression" => match s("release") {
            Some(r) => format!("regressed: an event of release {r} reopened it"),
            None => "regressed: a new event reopened it".to_owned(),
        },
        "set_status" => {
            let status = s("status").unwrap_or_default();
            let details = a
                .data
                .get("status_details")
                .and_then(|d| d.as_object())
                .filter(|d| !d.is_empty())
                .map(|d| {
                    d.iter()
                        .map(|(k, v)| {
                            format!("{k}: {}", v.as_str().map_or(v.to_string(), str::to_owned))
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                });
            match (s("reason"), details) {
                (Some(reason), _) => format!("set it to {status}: its ignore ran out ({reason})"),
                (None, Some(d)) => format!("set it to {status} ({d})"),
                (None, None) => format!("set it to {status}"),
            }
        }
        "assigned" => format!("assigned it to {}", s("assignee").unwrap_or_default()),
        "unassigned" => "unassigned it".to_owned(),
        "merge" => {
            let ids: Vec<String> = a
                .data
                .get("issue_ids")
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_i64())
                .map(|id| format!("#{id}"))
                .collect();
            format!("merged {} into this issue", ids.join(", "))
        }
        "unmerge" => {
            let n = a
                .data
                .get("hashes")
                .and_then(|v| v.as_array())
                .map_or(0, Vec::len);
            match (
                a.data.get("issue_id").and_then(|v| v.as_i64()),
                a.data.get("from_issue_id").and_then(|v| v.as_i64()),
            ) {
                (Some(new), _) if new != issue_id => {
                    format!("split {n} grouping hash(es) off into #{new}")
                }
                (_, Some(from)) => format!("split this issue off #{from} ({n} hash(es))"),
                _ => "split grouping hashes off".to_owned(),
            }
        }
        "comment" => "commented".to_owned(),
        other => other.replace('_', " "),
    }
}

/// The panel of `issue` for `user` at `now`.
pub async fn panel(
    store: &Store,
    issue: &Issue,
    user: &CurrentUser,
    now: i64,
) -> Result<Panel, WebError> {
    let users: Vec<User> = store.list_users().await?;
    let me = actor(user);
    let activity = store
        .issue_activity(issue.id)
        .await?
        .into_iter()
        .map(|a| Entry {
            id: a.id,
            kind: a.kind.clone(),
            who: a.actor_name.clone(),
            when: when(a.created_ms, now),
            text: sentence_of(&a, issue.id),
            html: a
                .body
                .as_deref()
                .map(|b| minijinja::Value::from_safe_string(markdown::render(b))),
            source: a.body.clone(),
            edited: a.edited_ms.is_some(),
            mine: a.kind == "comment" && a.authored_by(&me),
        })
        .collect();
    let hashes = store
        .issue_hashes(issue.id)
        .await?
        .into_iter()
        .map(|h: GroupingHash| HashRow {
            hash: h.hash,
            version: h.grouping_version,
            events: h.event_count,
        })
        .collect();
    Ok(Panel {
        assignee: issue.assignee.as_ref().map(|a| a.email.clone()),
        users: users
            .into_iter()
            .map(|u| UserOption {
                selected: issue.assignee.as_ref().is_some_and(|a| a.id == u.id),
                id: u.id,
                email: u.email,
            })
            .collect(),
        condition: issue.status_details.as_ref().map(StatusDetails::describe),
        activity,
        hashes,
        events_url: format!("/issues/{}/events", issue.id),
    })
}

/// The assignee a form names: a user id, `me`, or empty for nobody.
fn assignee_of(value: &str, user: &CurrentUser) -> Result<Option<i64>, WebError> {
    match value.trim() {
        "" => Ok(None),
        "me" => Ok(Some(user.user.id)),
        id => id
            .parse()
            .map(Some)
            .map_err(|_| WebError::BadRequest(format!("{id:?} is not a user"))),
    }
}

/// Assigns issue `issue_id` to the user a form names (see [`assignee_of`]). Errors: an
/// unknown user or issue.
pub async fn assign_to(
    state: &WebState,
    user: &CurrentUser,
    issue_id: i64,
    value: &str,
) -> Result<(), WebError> {
    user.require(Permission::Triage)?;
    let assignee = assignee_of(value, user)?;
    let now = state.app.clock.now_ms();
    state
        .app
        .store
        .assign_issue(issue_id, assignee, &actor(user), now)
        .await?;
    Ok(())
}

/// Fields of the assign form.
#[derive(Debug, Deserialize)]
pub struct AssignForm {
    assignee: String,
}

fn back_to(issue_id: i64, anchor: &str) -> Response {
    Redirect::to(&format!("/issues/{issue_id}{anchor}")).into_response()
}

/// `POST /issues/{id}/assign`.
pub async fn assign(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(issue_id): Path<i64>,
    Form(form): Form<AssignForm>,
) -> Result<Response, WebError> {
    assign_to(&state, &user, issue_id, &form.assignee).await?;
    Ok(back_to(issue_id, "#triage"))
}

/// Fields of the comment forms.
#[derive(Debug, Deserialize)]
pub struct CommentForm {
    text: String,
}

fn comment_error(e: CommentError) -> WebError {
    match e {
        CommentError::BadText => WebError::BadRequest(super::sentence(&e.to_string())),
        CommentError::NotAuthor => WebError::Forbidden(super::sentence(&e.to_string())),
        CommentError::Store(e) => e.into(),
    }
}

/// What a comment form asks for.
enum CommentAction<'a> {
    Add(&'a str),
    Edit(i64, &'a str),
    Delete(i64),
}

/// Runs a comment form's action as the signed-in user and goes back to the timeline.
async fn comment_action(
    state: &WebState,
    user: &CurrentUser,
    issue_id: i64,
    action: CommentAction<'_>,
) -> Result<Response, WebError> {
    user.require(Permission::Triage)?;
    let (store, who, now) = (&state.app.store, actor(user), state.app.clock.now_ms());
    match action {
        CommentAction::Add(text) => store.add_comment(issue_id, &who, text, now).await.map(drop),
        CommentAction::Edit(id, text) => store
            .edit_comment(issue_id, id, &who, text, now)
            .await
            .map(drop),
        CommentAction::Delete(id) => store.delete_comment(issue_id, id, &who).await,
    }
    .map_err(comment_error)?;
    Ok(back_to(issue_id, "#activity"))
}

/// `POST /issues/{id}/comments`.
pub async fn comment(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(issue_id): Path<i64>,
    Form(form): Form<CommentForm>,
) -> Result<Response, WebError> {
    comment_action(&state, &user, issue_id, CommentAction::Add(&form.text)).await
}

/// `POST /issues/{id}/comments/{comment_id}/edit`.
pub async fn edit_comment(
    State(state): State<WebState>,
    user: CurrentUser,
    Path((issue_id, comment_id)): Path<(i64, i64)>,
    Form(form): Form<CommentForm>,
) -> Result<Response, WebError> {
    let action = CommentAction::Edit(comment_id, &form.text);
    comment_action(&state, &user, issue_id, action).await
}

/// `POST /issues/{id}/comments/{comment_id}/delete`.
pub async fn delete_comment(
    State(state): State<WebState>,
    user: CurrentUser,
    Path((issue_id, comment_id)): Path<(i64, i64)>,
) -> Result<Response, WebError> {
    comment_action(&state, &user, issue_id, CommentAction::Delete(comment_id)).await
}

fn merge_error(e: MergeError) -> WebError {
    match e {
        MergeError::Store(e) => e.into(),
        other => WebError::BadRequest(super::sentence(&other.to_string())),
    }
}

/// Merges issues of the list's bulk form; returns where to go: the surviving issue.
pub async fn merge(
    state: &WebState,
    user: &CurrentUser,
    project_id: i64,
    ids: &[i64],
) -> Result<Response, WebError> {
    user.require(Permission::Triage)?;
    let now = state.app.clock.now_ms();
    let survivor = state
        .app
        .store
        .merge_issues(project_id, ids, &actor(user), now)
        .await
        .map_err(merge_error)?;
    tracing::info!(user_id = user.user.id, by = %user.user.email, project_id, survivor, merged = ?ids, "issues merged");
    Ok(back_to(survivor, ""))
}

/// `POST /issues/{id}/unmerge`: `hash` (repeated) → the new issue.
pub async fn unmerge(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(issue_id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<Response, WebError> {
    user.require(Permission::Triage)?;
    let hashes: Vec<String> = url::form_urlencoded::parse(&body)
        .filter(|(k, _)| k == "hash")
        .map(|(_, v)| v.into_owned())
        .collect();
    let now = state.app.clock.now_ms();
    let new_issue = state
        .app
        .store
        .unmerge_hashes(issue_id, &hashes, &actor(&user), now)
        .await
        .map_err(merge_error)?;
    tracing::info!(
        user_id = user.user.id, by = %user.user.email,
        issue_id,
        new_issue,
        "grouping hashes split off"
    );
    Ok(back_to(new_issue, ""))
}

/// Query string of the Events page.
#[derive(Debug, Deserialize)]
pub struct EventsParams {
    q: Option<String>,
    cursor: Option<String>,
}

/// A row of the Events page.
#[derive(Debug, Serialize)]
struct EventRow {
    url: String,
    id: String,
    time: When,
    level: String,
    release: Option<String>,
    environment: Option<String>,
    user: Option<String>,
    message: Option<String>,
    title: String,
    /// The first few tags, `key=value`.
    tags: Vec<String>,
    more_tags: usize,
}

/// What `issue_events.html` shows.
#[derive(Debug, Serialize)]
struct EventsPage<'a> {
    #[serde(flatten)]
    layout: Layout<'a>,
    project: &'a Project,
    issue_id: i64,
    title: &'a str,
    q: &'a str,
    error: Option<String>,
    events: Vec<EventRow>,
    next_url: Option<String>,
    first_url: Option<String>,
}

/// Tags shown per row of the Events page.
const ROW_TAGS: usize = 4;

/// `GET /issues/{id}/events`: the issue's events, newest first, with the search terms of the
/// issue list (`is:` and `assigned:` excepted).
pub async fn events(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(issue_id): Path<i64>,
    Query(p): Query<EventsParams>,
) -> Result<Response, WebError> {
    let store = &state.app.store;
    let issue = store.issue(issue_id).await?;
    let project = store.project(issue.project_id).await?;
    let q = p.q.unwrap_or_default();
    let now = state.app.clock.now_ms();
    let filter = search::parse(&q)
        .and_then(search::Search::event_filter)
        .map_err(|e| super::sentence(&e.to_string()));
    let (rows, next, error) = match filter {
        Ok(filter) => {
            let page = store
                .search_issue_events(issue_id, &filter, EVENTS_PAGE, p.cursor.as_deref())
                .await?;
            (page.events, page.next_cursor, None)
        }
        Err(e) => (Vec::new(), None, Some(e)),
    };
    let url = |cursor: Option<&str>| {
        let mut u = format!("/issues/{issue_id}/events?q={}", urlencode(&q));
        if let Some(c) = cursor {
            u += &format!("&cursor={}", urlencode(c));
        }
        u
    };
    let events = rows
        .into_iter()
        .map(|e| {
            let id = e.summary.event_id.simple().to_string();
            EventRow {
                url: format!("/issues/{issue_id}?event={id}"),
                time: when(e.summary.timestamp_ms, now),
                level: e.summary.level,
                release: e.summary.release,
                environment: e.summary.environment,
                user: e.user,
                message: e.message,
                title: e.summary.title,
                more_tags: e.tags.len().saturating_sub(ROW_TAGS),
                tags: e
                    .tags
                    .iter()
                    .take(ROW_TAGS)
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect(),
                id,
            }
        })
        .collect();
    let page = EventsPage {
        layout: Layout::of(&user),
        project: &project,
        issue_id,
        title: &issue.title,
        q: &q,
        error,
        events,
        next_url: next.as_deref().map(|c| url(Some(c))),
        first_url: p.cursor.as_ref().map(|_| url(None)),
    };
    Ok(state
        .templates
        .render("issue_events.html", page)?
        .into_response())
}

/// A row of "My issues".
#[derive(Debug, Serialize)]
struct MineRow {
    id: i64,
    title: String,
    level: String,
    project: String,
    count: i64,
    last_seen: When,
    regressed: bool,
}

/// What `my_issues.html` shows.
#[derive(Debug, Serialize)]
struct MinePage<'a> {
    #[serde(flatten)]
    layout: Layout<'a>,
    issues: Vec<MineRow>,
}

/// "My issues" lists this many, most recently seen first.
const MINE_LIMIT: usize = 100;

/// `GET /my-issues`: the unresolved issues assigned to the signed-in user, of every project.
pub async fn mine(State(state): State<WebState>, user: CurrentUser) -> Result<Response, WebError> {
    let store = &state.app.store;
    let now = state.app.clock.now_ms();
    let projects = store.list_projects().await?;
    let issues = store
        .assigned_issues(user.user.id, MINE_LIMIT)
        .await?
        .into_iter()
        .filter(|i| user.projects.contains(i.project_id))
        .map(|i| MineRow {
            project: projects
                .iter()
                .find(|p| p.id == i.project_id)
                .map(|p| p.name.clone())
                .unwrap_or_default(),
            id: i.id,
            title: i.title,
            level: i.level,
            count: i.count,
            last_seen: when(i.last_seen_ms, now),
            regressed: i.is_regression,
        })
        .collect();
    let page = MinePage {
        layout: Layout::of(&user),
        issues,
    };
    Ok(state
        .templates
        .render("my_issues.html", page)?
        .into_response())
}

/// The issue list's `assigned:` / `is:assigned` / `is:unassigned` term as a store filter;
/// an unknown e-mail matches nobody's issues (user id 0 is never issued).
pub async fn assignee_filter(
    store: &Store,
    user: &CurrentUser,
    assigned: Option<&Assigned>,
) -> Result<Option<AssigneeFilter>, WebError> {
    Ok(match assigned {
        None => None,
        Some(Assigned::Me) => Some(AssigneeFilter::User(user.user.id)),
        Some(Assigned::Nobody) => Some(AssigneeFilter::Nobody),
        Some(Assigned::Anybody) => Some(AssigneeFilter::Anybody),
        Some(Assigned::Email(email)) => {
            let users = store.list_users().await?;
            let id = users.iter().find(|u| u.email == *email).map_or(0, |u| u.id);
            Some(AssigneeFilter::User(id))
        }
    })
}
