//! Admin pages: the notification delivery log (per channel: delivery counts, health, recent
//! attempts with status and latency). Users, tokens and the audit log have their own modules
//! (`users.rs`, `tokens.rs`, `audit.rs`).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::auth::CurrentUser;
use super::projects::redact_target;
use super::view::{ago, when, Layout, When};
use super::{WebError, WebState};
use crate::clock::system_now_ms as now_ms;
use crate::store::Attempt;

/// Attempts listed per channel on the delivery log.
pub const ATTEMPTS_PER_CHANNEL: usize = 20;

/// What `deliveries.html` shows.
#[derive(Debug, Serialize)]
struct DeliveriesPage<'a> {
    #[serde(flatten)]
    layout: Layout<'a>,
    channels: Vec<ChannelHealth>,
    /// How many channels are failing.
    failing: usize,
    /// Notifications not yet fanned out to channels.
    pending_outbox: usize,
}

/// One channel on the delivery log: its health, delivery counts and recent attempts.
#[derive(Debug, Serialize)]
struct ChannelHealth {
    id: i64,
    kind: &'static str,
    /// Redacted for display (see [`redact_target`]).
    target: String,
    /// The project's name; `None` for a global channel.
    project: Option<String>,
    failing: bool,
    failing_since: Option<String>,
    consecutive_failures: i64,
    last_success: Option<String>,
    last_error: Option<String>,
    pending: i64,
    sent: i64,
    failed: i64,
    /// Deliveries folded into digests.
    folded: i64,
    attempts: Vec<AttemptRow>,
}

/// One delivery attempt.
#[derive(Debug, Serialize)]
struct AttemptRow {
    delivery_id: i64,
    /// What the delivery told: `new_issue`, `incident_opened`, … or `digest`.
    about: String,
    /// Its issue (a monitor's incident has one too).
    issue_id: i64,
    at: When,
    ok: bool,
    /// HTTP or SMTP status, when the peer answered.
    status: Option<String>,
    latency_ms: i64,
    error: Option<String>,
}

impl AttemptRow {
    fn of(a: &Attempt, now: i64) -> AttemptRow {
        AttemptRow {
            delivery_id: a.delivery_id,
            about: if a.is_digest {
                "digest".to_owned()
            } else {
                a.kind.clone()
            },
            issue_id: a.issue_id,
            at: when(a.at_ms, now),
            ok: a.ok,
            status: a.status.clone(),
            latency_ms: a.latency_ms,
            error: a.error.clone(),
        }
    }
}

/// `GET /admin/deliveries`: the notification delivery log.
pub async fn deliveries(
    State(state): State<WebState>,
    user: CurrentUser,
) -> Result<Response, WebError> {
    user.require_admin()?;
    let store = &state.app.store;
    let now = now_ms();
    let projects = store.list_projects().await?;
    let mut channels = Vec::new();
    for status in store.notification_status().await? {
        let c = &status.channel;
        let attempts = store
            .notification_attempts(c.id, ATTEMPTS_PER_CHANNEL)
            .await?
            .iter()
            .map(|a| AttemptRow::of(a, now))
            .collect();
        let project = c
            .project_id
            .and_then(|id| projects.iter().find(|p| p.id == id))
            .map(|p| p.name.clone());
        channels.push(ChannelHealth {
            id: c.id,
            kind: c.kind.as_str(),
            target: redact_target(c),
            project,
            failing: c.failing_since_ms.is_some(),
            failing_since: c.failing_since_ms.map(|ms| ago(ms, now)),
            consecutive_failures: c.consecutive_failures,
            last_success: c.last_success_ms.map(|ms| ago(ms, now)),
            last_error: c.last_error.clone(),
            pending: status.pending,
            sent: status.sent,
            failed: status.failed,
            folded: status.folded,
            attempts,
        });
    }
    let page = DeliveriesPage {
        layout: Layout::of(&user),
        failing: channels.iter().filter(|c| c.failing).count(),
        channels,
        pending_outbox: store.pending_outbox(1000).await?.len(),
    };
    Ok(state
        .templates
        .render("deliveries.html", page)?
        .into_response())
}
