//! The outbox (`outbox`): one row per notification to send (`new_issue`, `regression`,
//! `frequency`, `unignored`, `assigned`, and `incident_opened`/`incident_resolved` from
//! `monitor_tx.rs`), written in the transaction that caused it, and its fan-out into one
//! delivery per channel (`notification_deliveries`, see `deliveries/`).
//!
//! Life of a notification (all timestamps epoch ms):
//! 1. The ingest batch writes an `outbox` row ([`insert_outbox`]) in the transaction that
//!    creates or reopens the issue (`batch/`). Frequency alerts are written by
//!    [`Store::fire_rule_alerts`] (`rules.rs`), already fanned out.
//!    Every other row is matched against the project's alert rules at fan-out
//!    (`alert_rules.rs`): each rule whose trigger is the row's kind, whose filters hold for
//!    the issue and its event and which did not fire for the issue within its interval adds
//!    the deliveries of its actions; a row no rule wants is `unmatched`.
//! 2. [`Store::fan_out_notifications`] turns each pending outbox row into one
//!    `notification_deliveries` row per active channel of the project (plus the global ones)
//!    and marks the outbox row `dispatched`, or `skipped` (issue ignored) / `suppressed`
//!    (the trigger already fired for this issue within its window). An `assigned` row goes
//!    only to its user's own e-mail channel (created on first use, `source = 'user'`);
//!    `regression` and `unignored` rows also go to the issue's assignee that way.
//! 3. [`Store::claim_deliveries`] and [`Store::record_delivery`] send them (`deliveries/`).

use std::collections::HashMap;

use super::alert_rules::{apply_actions, rule_fires, AlertRule};
use super::channels::user_channel;
use super::db::{parse_name, skip_locked, Executor, IdRow, Tx};
use super::events::parse_event_id;
use super::{IssueStatus, Store, StoreError};
use crate::clock::MINUTE_MS;
use crate::protocol::EventId;

/// A pending notification.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutboxEntry {
    /// Row id (increasing in commit order per writer).
    pub id: i64,
    /// What happened: never a windowed trigger (`frequency`, `users`, `every_event`), which
    /// are evaluated over new events and written already fanned out.
    pub kind: Trigger,
    /// Project of the issue.
    pub project_id: i64,
    /// The issue.
    pub issue_id: i64,
    /// The event that caused it.
    pub event_id: EventId,
    /// When it was written, epoch ms.
    pub created_ms: i64,
    /// Delivery state (`"pending"`).
    pub state: String,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// Earliest next attempt, epoch ms.
    pub next_attempt_ms: i64,
    /// Error of the last failed attempt.
    pub last_error: Option<String>,
}

/// What made a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// An event created a new issue.
    NewIssue,
    /// An event reopened a resolved issue.
    Regression,
    /// An issue received more events in a window than an alert rule's `frequency` trigger
    /// allows.
    Frequency,
    /// An issue affected more distinct users in a window than an alert rule's `users`
    /// trigger allows.
    Users,
    /// An event of an issue watched by an `every_event` rule (rate limited by the rule).
    EveryEvent,
    /// An ignored issue met its condition (count, users, duration) and is unresolved again.
    Unignored,
    /// The issue was assigned to the recipient by someone else.
    Assigned,
    /// An incident opened: something watched started failing ([`crate::monitors::incident`]).
    IncidentOpened,
    /// An incident resolved: it recovered.
    IncidentResolved,
    /// An uptime check's TLS certificate expires soon (told once per certificate).
    CertificateExpiring,
    /// Someone resolved the issue: PagerDuty channels that were told about it resolve their
    /// incident ([`super::resolutions`]); no other channel hears of it.
    IssueResolved,
}

impl Trigger {
    /// Every trigger.
    pub const ALL: [Trigger; 11] = [
        Trigger::NewIssue,
        Trigger::Regression,
        Trigger::Frequency,
        Trigger::Users,
        Trigger::EveryEvent,
        Trigger::Unignored,
        Trigger::Assigned,
        Trigger::IncidentOpened,
        Trigger::IncidentResolved,
        Trigger::CertificateExpiring,
        Trigger::IssueResolved,
    ];

    /// The stored name (`"new_issue"`, `"regression"`, `"frequency"`, `"users"`,
    /// `"every_event"`, `"unignored"`, `"assigned"`, `"incident_opened"`,
    /// `"incident_resolved"`, `"certificate_expiring"`, `"issue_resolved"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::NewIssue => "new_issue",
            Trigger::Regression => "regression",
            Trigger::Frequency => "frequency",
            Trigger::Users => "users",
            Trigger::EveryEvent => "every_event",
            Trigger::Unignored => "unignored",
            Trigger::Assigned => "assigned",
            Trigger::IncidentOpened => crate::monitors::incident::OPENED_KIND,
            Trigger::IncidentResolved => crate::monitors::incident::RESOLVED_KIND,
            Trigger::CertificateExpiring => crate::monitors::uptime::CERTIFICATE_KIND,
            Trigger::IssueResolved => super::resolutions::ISSUE_RESOLVED_KIND,
        }
    }

    /// True for the incident triggers (and the certificate warning), whose messages describe
    /// what is watched, not the issue, and are each told once already (no trigger window).
    pub fn is_incident(self) -> bool {
        matches!(
            self,
            Trigger::IncidentOpened | Trigger::IncidentResolved | Trigger::CertificateExpiring
        )
    }

    fn parse(s: &str) -> Result<Trigger, StoreError> {
        parse_name(&Trigger::ALL, Trigger::as_str, s, "trigger")
    }
}

/// One notification of one issue (an outbox row).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NotificationItem {
    /// Outbox row id.
    pub outbox_id: i64,
    /// What happened.
    pub trigger: Trigger,
    /// Project of the issue.
    pub project_id: i64,
    /// The issue.
    pub issue_id: i64,
    /// The event that caused it (32 hex).
    pub event_id: String,
    /// When it was written.
    pub created_ms: i64,
}

/// Counts of one fan-out round.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FanOut {
    /// Outbox rows turned into deliveries.
    pub dispatched: usize,
    /// Outbox rows dropped: issue ignored, or the trigger fired within its window.
    pub dropped: usize,
    /// Deliveries created.
    pub deliveries: usize,
}

row! {
    struct PeekRow {
        outbox_id: i64,
        project_id: i64,
        issue_id: i64,
        event_id: String,
    }
}

row! {
    struct PendingOutboxRow {
        outbox_id: i64,
        kind: String,
        project_id: i64,
        issue_id: i64,
        status: String,
        user_id: Option<i64>,
        assignee_id: Option<i64>,
        incident_source: Option<String>,
    }
}

row! {
    /// An outbox row as a [`NotificationItem`].
    pub(super) struct ItemRow {
        outbox_id: i64,
        kind: String,
        project_id: i64,
        issue_id: i64,
        event_id: String,
        created_ms: i64,
    }

    try_into |r| {
        Ok(NotificationItem {
            outbox_id,
            trigger: Trigger::parse(&r.kind)?,
            project_id, issue_id, event_id, created_ms,
        })
    }
}

row! {
    struct OutboxRow {
        #[sqlx(flatten)]
        item: ItemRow,
        state: String,
        attempts: i64,
        next_attempt_ms: i64,
        last_error: Option<String>,
    }
}

impl Store {
    /// Up to `limit` (clamped to 1..=1000) outbox rows in state `pending`, oldest first,
    /// without claiming them.
    pub async fn pending_outbox(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let limit = i64::try_from(limit.clamp(1, 1000)).unwrap_or(1000);
        let rows = self
            .db()
            .fetch_all::<OutboxRow>(
                "select outbox_id, kind, project_id, issue_id, event_id, created_ms, state, \
                 attempts, next_attempt_ms, last_error from outbox where state = 'pending' \
                 order by outbox_id limit $1",
                vec![limit.into()],
            )
            .await?;
        rows.into_iter()
            .map(|r| {
                let item = r.item;
                let kind = Trigger::parse(&item.kind)?;
                if matches!(
                    kind,
                    Trigger::Frequency | Trigger::Users | Trigger::EveryEvent
                ) {
                    return Err(StoreError::Other(format!(
                        "corrupt outbox kind {:?}: rule alerts are never pending",
                        kind.as_str()
                    )));
                }
                Ok(OutboxEntry {
                    id: item.outbox_id,
                    kind,
                    project_id: item.project_id,
                    issue_id: item.issue_id,
                    event_id: parse_event_id(&item.event_id)?,
                    created_ms: item.created_ms,
                    state: r.state,
                    attempts: r.attempts,
                    next_attempt_ms: r.next_attempt_ms,
                    last_error: r.last_error,
                })
            })
            .collect()
    }

    /// Fans up to `limit` pending outbox rows out into deliveries (one per active channel of
    /// the issue's project and per global channel) in one transaction.
    ///
    /// Rows of ignored issues are `skipped`; a trigger that already fired for the issue less
    /// than `window_ms` ago is `suppressed` (not incident rows: each incident is told once
    /// already). On PostgreSQL rows locked by another process are skipped, so concurrent
    /// workers split the outbox.
    pub async fn fan_out_notifications(
        &self,
        limit: usize,
        now: i64,
        window_ms: i64,
    ) -> Result<FanOut, StoreError> {
        let limit = i64::try_from(limit.clamp(1, 1000)).unwrap_or(1000);
        // The rules and what their filters look at are read before the write transaction
        // (which holds SQLite's writer); rows written in between wait for the next round.
        let peek = self
            .db()
            .fetch_all::<PeekRow>(
                "select outbox_id, project_id, issue_id, event_id from outbox \
                 where state = 'pending' order by outbox_id limit $1",
                vec![limit.into()],
            )
            .await?;
        let mut subjects = HashMap::new();
        for p in peek {
            if let Some(s) = self
                .rule_subject(p.project_id, p.issue_id, &p.event_id)
                .await?
            {
                subjects.insert(p.outbox_id, s);
            }
        }
        let mut rules: HashMap<i64, Vec<AlertRule>> = HashMap::new();
        for rule in self.enabled_alert_rules().await? {
            rules.entry(rule.project_id).or_default().push(rule);
        }
        let mut tx = self.pool.begin_write().await?;
        let sql = format!(
            "select o.outbox_id, o.kind, o.project_id, o.issue_id, i.status, o.user_id, \
             i.assignee_id, (select n.source from incidents n where n.project_id = o.project_id \
             and n.event_id = o.event_id order by n.incident_id desc limit 1) as incident_source \
             from outbox o join issues i on i.issue_id = o.issue_id \
             where o.state = 'pending' order by o.outbox_id limit $1{}",
            skip_locked(tx.backend(), "o")
        );
        let rows = tx
            .fetch_all::<PendingOutboxRow>(&sql, vec![limit.into()])
            .await?;
        let mut out = FanOut::default();
        for row in rows {
            let Some(subject) = subjects.get(&row.outbox_id) else {
                continue;
            };
            let incident = Trigger::parse(&row.kind).is_ok_and(Trigger::is_incident)
                || row.kind.starts_with("uptime_");
            let rule_kind = rule_kind(&row.kind, row.incident_source.as_deref());
            let state = if row.status == IssueStatus::Ignored.as_str() {
                "skipped"
            } else if row.kind == Trigger::Assigned.as_str() {
                // Each assignment is told once, to its user only: no rules, no window.
                match row.user_id {
                    Some(user_id) => {
                        let n = insert_user_delivery(&mut tx, row.outbox_id, user_id, now).await?;
                        out.deliveries += n;
                        if n > 0 {
                            "dispatched"
                        } else {
                            "skipped"
                        }
                    }
                    None => "skipped",
                }
            } else if row.kind == Trigger::IssueResolved.as_str() {
                // No rules, no window: it follows the triggers PagerDuty already got.
                let n = super::resolutions::fan_out_resolved(&mut tx, row.outbox_id, now).await?;
                out.deliveries += n;
                if n > 0 {
                    "dispatched"
                } else {
                    "unmatched"
                }
            } else if !incident
                && !fire_trigger(&mut tx, row.issue_id, &row.kind, now, now - window_ms).await?
            {
                "suppressed"
            } else {
                let mut matched = false;
                for rule in rules.get(&row.project_id).into_iter().flatten() {
                    let spec = &rule.spec;
                    if !spec.triggers.iter().any(|t| t.matches_kind(rule_kind))
                        || !spec.filters.matches(subject)
                    {
                        continue;
                    }
                    let interval = spec.interval_minutes.saturating_mul(MINUTE_MS);
                    if !rule_fires(&mut tx, rule.id, row.issue_id, interval, now).await? {
                        continue;
                    }
                    matched = true;
                    // The assignee hears when their issue comes back, not about a new
                    // issue nobody has looked at yet, nor about a monitor's incident.
                    let reopened = [Trigger::Regression, Trigger::Unignored]
                        .iter()
                        .any(|t| t.as_str() == row.kind);
                    out.deliveries += apply_actions(
                        &mut tx,
                        &spec.actions,
                        row.outbox_id,
                        row.project_id,
                        row.assignee_id.filter(|_| reopened),
                        now,
                    )
                    .await?;
                }
                if matched {
                    "dispatched"
                } else {
                    "unmatched"
                }
            };
            if state == "dispatched" {
                out.dispatched += 1;
            } else {
                out.dropped += 1;
            }
            tx.execute(
                "update outbox set state = $2 where outbox_id = $1",
                vec![row.outbox_id.into(), state.into()],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(out)
    }
}

/// One `outbox` row: `kind` (`new_issue` | `regression` | `unignored`) of `issue_id`, caused by
/// `event_id`.
pub(super) async fn insert_outbox(
    tx: &mut impl Executor,
    kind: &str,
    project_id: i64,
    issue_id: i64,
    event_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    insert_outbox_for(tx, kind, project_id, issue_id, event_id, None, now).await
}

/// [`insert_outbox`] with a recipient: a row for one user (`assigned`) when `user_id` is set.
pub(super) async fn insert_outbox_for(
    tx: &mut impl Executor,
    kind: &str,
    project_id: i64,
    issue_id: i64,
    event_id: &str,
    user_id: Option<i64>,
    now: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "insert into outbox (kind, project_id, issue_id, event_id, created_ms, state, \
         attempts, next_attempt_ms, last_error, user_id) \
         values ($1, $2, $3, $4, $5, 'pending', 0, $5, null, $6)",
        vec![
            kind.into(),
            project_id.into(),
            issue_id.into(),
            event_id.into(),
            now.into(),
            user_id.into(),
        ],
    )
    .await?;
    Ok(())
}

/// Records that `kind` fired for `issue_id` at `now` unless it already fired after `cutoff`;
/// true when it fires. Atomic per row on both backends (an upsert with a condition).
pub(super) async fn fire_trigger(
    tx: &mut Tx,
    issue_id: i64,
    kind: &str,
    now: i64,
    cutoff: i64,
) -> Result<bool, StoreError> {
    let row = tx
        .fetch_optional::<IdRow>(
            "insert into notification_triggers (issue_id, kind, last_fired_ms) \
             values ($1, $2, $3) on conflict (issue_id, kind) do update \
             set last_fired_ms = excluded.last_fired_ms \
             where notification_triggers.last_fired_ms <= $4 returning issue_id as id",
            vec![issue_id.into(), kind.into(), now.into(), cutoff.into()],
        )
        .await?;
    Ok(row.is_some())
}

/// One pending delivery per active channel of `project_id` (and per global channel).
pub(super) async fn insert_deliveries(
    tx: &mut Tx,
    outbox_id: i64,
    project_id: i64,
    now: i64,
) -> Result<usize, StoreError> {
    insert_channel_deliveries(tx, outbox_id, project_id, None, now).await
}

/// One pending delivery to channel `channel_id` if it is an active channel of `project_id`
/// or a global one (0 otherwise: removed since the rule was saved).
pub(super) async fn insert_channel_delivery(
    tx: &mut Tx,
    outbox_id: i64,
    project_id: i64,
    channel_id: i64,
    now: i64,
) -> Result<usize, StoreError> {
    insert_channel_deliveries(tx, outbox_id, project_id, Some(channel_id), now).await
}

/// One pending delivery per active channel of `project_id` or global channel (`only`: that
/// channel alone, if it is one of them); returns how many were new.
async fn insert_channel_deliveries(
    tx: &mut Tx,
    outbox_id: i64,
    project_id: i64,
    only: Option<i64>,
    now: i64,
) -> Result<usize, StoreError> {
    let mut args = vec![outbox_id.into(), now.into(), project_id.into()];
    let only_sql = match only {
        Some(channel_id) => {
            args.push(channel_id.into());
            " and channel_id = $4"
        }
        None => "",
    };
    let n = tx
        .execute(
            &format!(
                "insert into notification_deliveries (outbox_id, channel_id, state, is_digest, \
                 attempts, next_attempt_ms, created_ms) \
                 select $1, channel_id, 'pending', false, 0, $2, $2 from notification_channels \
                 where active and source <> 'user' and (project_id is null or project_id = $3)\
                 {only_sql} on conflict (outbox_id, channel_id) do nothing"
            ),
            args,
        )
        .await?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// One pending delivery to `user_id`'s own e-mail channel (0 when the user is gone).
pub(super) async fn insert_user_delivery(
    tx: &mut Tx,
    outbox_id: i64,
    user_id: i64,
    now: i64,
) -> Result<usize, StoreError> {
    let Some(channel_id) = user_channel(tx, user_id, now).await? else {
        return Ok(0);
    };
    // A user who muted the issue hears nothing about it.
    let n = tx
        .execute(
            "insert into notification_deliveries (outbox_id, channel_id, state, is_digest, \
             attempts, next_attempt_ms, created_ms) select $1, $2, 'pending', false, 0, $3, $3 \
             where not exists (select 1 from issue_mutes m join outbox o \
             on o.issue_id = m.issue_id where o.outbox_id = $1 and m.user_id = $4) \
             on conflict (outbox_id, channel_id) do nothing",
            vec![
                outbox_id.into(),
                channel_id.into(),
                now.into(),
                user_id.into(),
            ],
        )
        .await?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// The kind alert rules see for an outbox row: incidents of uptime checks are
/// `uptime_down`/`uptime_up` (cron monitors' stay `incident_opened`/`incident_resolved`), and
/// an expiring certificate is an uptime check's warning, told to whoever hears of it going
/// down. `source` is the incident's `incidents.source`, for the incident kinds.
fn rule_kind<'k>(kind: &'k str, source: Option<&str>) -> &'k str {
    use super::alert_rules::{UPTIME_DOWN_KIND, UPTIME_UP_KIND};
    use crate::monitors::incident::{IncidentSource, OPENED_KIND, RESOLVED_KIND};
    let uptime = source == Some(IncidentSource::Uptime.as_str());
    match kind {
        OPENED_KIND if uptime => UPTIME_DOWN_KIND,
        RESOLVED_KIND if uptime => UPTIME_UP_KIND,
        crate::monitors::uptime::CERTIFICATE_KIND => UPTIME_DOWN_KIND,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::rule_kind;

    #[test]
    fn rules_see_uptime_incidents_as_uptime_kinds() {
        assert_eq!(rule_kind("incident_opened", Some("uptime")), "uptime_down");
        assert_eq!(rule_kind("incident_resolved", Some("uptime")), "uptime_up");
        assert_eq!(
            rule_kind("incident_opened", Some("cron")),
            "incident_opened"
        );
        assert_eq!(rule_kind("certificate_expiring", None), "uptime_down");
        assert_eq!(rule_kind("new_issue", None), "new_issue");
    }
}
