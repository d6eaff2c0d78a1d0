//! The audit log page (`/admin/audit`, admins only): who did what to accounts and tokens,
//! from where and when, newest first, filtered by action, 50 per page.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::auth::CurrentUser;
use super::view::{when, Layout, When};
use super::{urlencode, WebError, WebState};
use crate::store::{AuditAction, AuditEntry, AuditQuery};

/// Entries per page.
pub const PAGE_SIZE: usize = 50;

/// Query string of the page.
#[derive(Debug, Deserialize)]
pub struct AuditParams {
    action: Option<String>,
    cursor: Option<String>,
}

/// What `audit.html` shows.
#[derive(Debug, Serialize)]
struct AuditPage<'a> {
    #[serde(flatten)]
    layout: Layout<'a>,
    entries: Vec<EntryRow>,
    /// The filter's options; `action` is the one chosen (`""`: all).
    actions: Vec<&'static str>,
    action: &'a str,
    next_url: Option<String>,
    first_url: Option<String>,
}

/// One row of the log.
#[derive(Debug, Serialize)]
struct EntryRow {
    at: When,
    action: &'static str,
    /// `user`, `token`, `cli`, `system`.
    actor_kind: &'static str,
    actor: String,
    ip: Option<String>,
    target: Option<String>,
    /// The details as compact JSON (`{}` shown as nothing).
    data: Option<String>,
}

impl EntryRow {
    fn of(e: &AuditEntry, now: i64) -> EntryRow {
        let data = Some(e.data.to_string()).filter(|d| d != "{}" && d != "null");
        EntryRow {
            at: when(e.created_ms, now),
            action: e.action.as_str(),
            actor_kind: e.actor.kind.as_str(),
            actor: e.actor.label.clone(),
            ip: e.actor.ip.clone(),
            target: e.target.as_ref().map(|t| format!("{} {}", t.kind, t.label)),
            data,
        }
    }
}

/// `GET /admin/audit`.
pub async fn audit(
    State(state): State<WebState>,
    user: CurrentUser,
    Query(p): Query<AuditParams>,
) -> Result<Response, WebError> {
    user.require_admin()?;
    let chosen = p.action.as_deref().filter(|a| !a.is_empty());
    let action = match chosen {
        None => None,
        Some(a) => Some(
            AuditAction::from_name(a)
                .ok_or_else(|| WebError::BadRequest(format!("unknown action {a:?}")))?,
        ),
    };
    let page = state
        .app
        .store
        .audit_log(&AuditQuery {
            action,
            limit: PAGE_SIZE,
            cursor: p.cursor.clone(),
        })
        .await?;
    let now = state.app.clock.now_ms();
    let url = |cursor: Option<&str>| {
        let mut u = "/admin/audit?".to_owned();
        if let Some(a) = action {
            u += &format!("action={}&", a.as_str());
        }
        if let Some(c) = cursor {
            u += &format!("cursor={}", urlencode(c));
        }
        u.trim_end_matches(['&', '?']).to_owned()
    };
    let view = AuditPage {
        layout: Layout::of(&user),
        entries: page.entries.iter().map(|e| EntryRow::of(e, now)).collect(),
        actions: AuditAction::ALL.iter().map(|a| a.as_str()).collect(),
        action: action.map_or("", AuditAction::as_str),
        next_url: page.next_cursor.as_deref().map(|c| url(Some(c))),
        first_url: p.cursor.as_ref().map(|_| url(None)),
    };
    Ok(state.templates.render("audit.html", view)?.into_response())
}
