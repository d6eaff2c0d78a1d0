//! Telling PagerDuty that an issue was resolved: an `issue_resolved` outbox row written in
//! the transaction that resolves the issue (page, API, bulk action alike go through
//! [`Store::change_status`](super::Store::change_status)), fanned out only to the PagerDuty
//! channels that were sent a trigger about the issue. The PagerDuty driver renders it as
//! `event_action: resolve` with the issue's dedup key (`errata-issue-{id}`), closing the
//! incident its triggers opened; no other channel kind ever gets such a delivery.
//!
//! A resolve is sent as its own message even in a storm (the delivery is written already
//! planned, so storm control never folds it into a digest): a digest has its own dedup key
//! and could not resolve the issue's incident.

use super::db::{Executor, Tx};
use super::outbox::insert_outbox;
use super::{IssueStatus, StoreError};

/// The outbox kind of a resolved issue.
pub const ISSUE_RESOLVED_KIND: &str = "issue_resolved";

/// An event id for rows of issues whose events are all gone (the row needs one; nothing
/// reads it but the message, which then shows the issue's own facts).
const NO_EVENT: &str = "00000000000000000000000000000000";

row! {
    struct StatusRow {
        status: String,
        event_id: Option<String>,
    }
}

/// Writes an `issue_resolved` outbox row for `issue_id` of `project_id` unless the issue is
/// already resolved. Call inside the resolving transaction, before the status changes.
pub(super) async fn notify_resolved(
    tx: &mut impl Executor,
    issue_id: i64,
    project_id: i64,
    now: i64,
) -> Result<(), StoreError> {
    let row = tx
        .fetch_one::<StatusRow>(
            "select status, (select e.event_id from events e where e.issue_id = i.issue_id \
             order by e.event_pk desc limit 1) as event_id from issues i where i.issue_id = $1",
            vec![issue_id.into()],
        )
        .await?;
    if row.status == IssueStatus::Resolved.as_str() {
        return Ok(());
    }
    let event_id = row.event_id.unwrap_or_else(|| NO_EVENT.to_owned());
    insert_outbox(
        tx,
        ISSUE_RESOLVED_KIND,
        project_id,
        issue_id,
        &event_id,
        now,
    )
    .await
}

/// One delivery of resolved-issue row `outbox_id` per active PagerDuty channel that was sent
/// (or is about to send) a trigger of the same issue as a single message; returns how many.
pub(super) async fn fan_out_resolved(
    tx: &mut Tx,
    outbox_id: i64,
    now: i64,
) -> Result<usize, StoreError> {
    let n = tx
        .execute(
            "insert into notification_deliveries (outbox_id, channel_id, state, is_digest, \
             planned_ms, attempts, next_attempt_ms, created_ms) \
             select $1, c.channel_id, 'pending', false, $2, 0, $2, $2 \
             from notification_channels c where c.active and c.kind = 'pagerduty' \
             and exists (select 1 from notification_deliveries d \
             join outbox o on o.outbox_id = d.outbox_id \
             where d.channel_id = c.channel_id and not d.is_digest \
             and d.state in ('sent', 'pending') \
             and o.kind in ('new_issue', 'regression', 'unignored', 'frequency', 'users', \
             'every_event') \
             and o.issue_id = (select r.issue_id from outbox r where r.outbox_id = $1)) \
             on conflict (outbox_id, channel_id) do nothing",
            vec![outbox_id.into(), now.into()],
        )
        .await?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}
