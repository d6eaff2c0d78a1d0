//! User feedback in the issue browser: a project's Feedback page (`/projects/{id}/feedback`,
//! optionally `?issue=` for one issue's, newest first, 25 per page) and the feedback section
//! of the issue page ([`issue_section`], rendered by `issue_feedback.html`). Both list
//! entries with `feedback_list.html`.
//!
//! Everything in feedback was typed by whoever used the application: it is shown as escaped
//! text, and its page URL is never made a link. Links go only to our own issue and event
//! pages, built from ids.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::auth::CurrentUser;
use super::view::{when, Layout, When};
use super::{urlencode, WebError, WebState};
use crate::store::{Feedback, FeedbackQuery, Issue, Project, Store, StoreError};

/// Entries per page of the Feedback page.
pub const PAGE_SIZE: usize = 25;
/// Entries shown on the issue page (the rest are a link away).
pub const ON_ISSUE_PAGE: usize = 10;

/// One piece of feedback as the pages show it.
#[derive(Debug, Serialize)]
pub struct FeedbackRow {
    id: i64,
    name: String,
    email: String,
    message: String,
    /// `feedback` or `user_report`.
    kind: &'static str,
    /// The page it was written on, as text.
    url: Option<String>,
    at: When,
    /// The event it is about (32 hex).
    event_id: Option<String>,
    /// The event on its issue page, once the event is stored.
    event_url: Option<String>,
    issue_id: Option<i64>,
    /// The issue's title (Feedback page only).
    issue_title: Option<String>,
}

impl FeedbackRow {
    fn of(f: Feedback, now: i64, issue_title: Option<String>) -> FeedbackRow {
        let event_url = match (f.issue_id, &f.event_id) {
            (Some(issue), Some(event)) => Some(format!("/issues/{issue}?event={event}")),
            _ => None,
        };
        FeedbackRow {
            id: f.id,
            name: f.name,
            email: f.email,
            message: f.message,
            kind: f.kind.as_str(),
            url: f.url,
            at: when(f.created_ms, now),
            event_id: f.event_id,
            event_url,
            issue_id: f.issue_id,
            issue_title,
        }
    }
}

/// The issue page's feedback section.
#[derive(Debug, Serialize)]
pub struct FeedbackSection {
    /// The newest entries.
    items: Vec<FeedbackRow>,
    /// How many the issue has.
    total: i64,
    /// Every entry of the issue, on the Feedback page.
    all_url: String,
}

/// The feedback section of `issue`'s page: its [`ON_ISSUE_PAGE`] newest entries and count.
pub async fn issue_section(
    store: &Store,
    issue: &Issue,
    now: i64,
) -> Result<FeedbackSection, StoreError> {
    let page = store
        .list_feedback(&FeedbackQuery {
            issue_id: Some(issue.id),
            limit: ON_ISSUE_PAGE,
            ..FeedbackQuery::default()
        })
        .await?;
    let total = store
        .feedback_counts(&[issue.id])
        .await?
        .get(&issue.id)
        .copied()
        .unwrap_or(0);
    Ok(FeedbackSection {
        items: page
            .feedback
            .into_iter()
            .map(|f| FeedbackRow::of(f, now, None))
            .collect(),
        total,
        all_url: format!("/projects/{}/feedback?issue={}", issue.project_id, issue.id),
    })
}

/// Query string of the Feedback page.
#[derive(Debug, Deserialize)]
pub struct FeedbackParams {
    issue: Option<i64>,
    cursor: Option<String>,
}

/// What `feedback.html` shows.
#[derive(Debug, Serialize)]
struct FeedbackPage<'a> {
    #[serde(flatten)]
    layout: Layout<'a>,
    project: &'a Project,
    /// The issue the list is narrowed to.
    issue: Option<IssueRef>,
    feedback: Vec<FeedbackRow>,
    /// Issue links on each entry.
    show_issue: bool,
    next_url: Option<String>,
    first_url: Option<String>,
}

/// An issue named on the page.
#[derive(Debug, Serialize)]
struct IssueRef {
    id: i64,
    title: String,
}

/// `GET /projects/{id}/feedback`: a project's feedback, newest first.
pub async fn list(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(project_id): Path<i64>,
    Query(p): Query<FeedbackParams>,
) -> Result<Response, WebError> {
    let store = &state.app.store;
    let project = store.project(project_id).await?;
    let issue = match p.issue {
        Some(id) => {
            let issue = store.issue(id).await?;
            if issue.project_id != project_id {
                return Err(WebError::NotFound);
            }
            Some(IssueRef {
                id,
                title: issue.title,
            })
        }
        None => None,
    };
    let page = store
        .list_feedback(&FeedbackQuery {
            project_id: Some(project_id),
            issue_id: p.issue,
            limit: PAGE_SIZE,
            cursor: p.cursor.clone(),
        })
        .await?;
    let mut titles: HashMap<i64, Option<String>> = HashMap::new();
    for id in page.feedback.iter().filter_map(|f| f.issue_id) {
        if let std::collections::hash_map::Entry::Vacant(slot) = titles.entry(id) {
            slot.insert(match store.issue(id).await {
                Ok(i) => Some(i.title),
                Err(StoreError::NotFound) => None,
                Err(e) => return Err(e.into()),
            });
        }
    }
    let now = state.app.clock.now_ms();
    let url = |cursor: Option<&str>| {
        let mut u = format!("/projects/{project_id}/feedback");
        let mut sep = '?';
        if let Some(i) = p.issue {
            u += &format!("{sep}issue={i}");
            sep = '&';
        }
        if let Some(c) = cursor {
            u += &format!("{sep}cursor={}", urlencode(c));
        }
        u
    };
    let view = FeedbackPage {
        layout: Layout::of(&user),
        project: &project,
        show_issue: issue.is_none(),
        issue,
        feedback: page
            .feedback
            .into_iter()
            .map(|f| {
                let title = f.issue_id.and_then(|i| titles.get(&i).cloned().flatten());
                FeedbackRow::of(f, now, title)
            })
            .collect(),
        next_url: page.next_cursor.as_deref().map(|c| url(Some(c))),
        first_url: p.cursor.as_ref().map(|_| url(None)),
    };
    Ok(state
        .templates
        .render("feedback.html", view)?
        .into_response())
}
