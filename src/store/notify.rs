//! Notification storage: channels, rules, fan-out of the outbox, claiming with storm control,
//! and the record of every delivery attempt.
//!
//! Life of a notification (all timestamps epoch ms):
//! 1. Ingest writes an `outbox` row (`new_issue` | `regression`) in the transaction that
//!    creates or reopens the issue (`write.rs`). Frequency alerts are written here by
//!    [`Store::fire_frequency_alerts`], already fanned out.
//! 2. [`Store::fan_out_notifications`] turns each pending outbox row into one
//!    `notification_deliveries` row per active channel of the project (plus the global ones)
//!    and marks the outbox row `dispatched`, or `skipped` (issue ignored) / `suppressed`
//!    (the trigger already fired for this issue within its window).
//! 3. [`Store::claim_deliveries`] locks one channel (`for update skip locked` on PostgreSQL;
//!    SQLite's `BEGIN IMMEDIATE` serializes writers), applies storm control (at most
//!    `max_per_window` single messages per sliding window, the rest folded into digest
//!    carriers) and leases the messages to send (`claimed_until_ms`, `claim_token`), so a
//!    claimer that dies leaves them claimable again once the lease runs out.
//! 4. [`Store::record_delivery`] writes the attempt and moves the delivery to `sent`, back
//!    to `pending` with a later `next_attempt_ms`, or to `failed` (dead letter), and keeps the
//!    channel's health (`consecutive_failures`, `failing_since_ms`).

use std::collections::{BTreeMap, HashSet};

use sqlx::FromRow;

use super::db::{Arg, IdRow, Tx};
use super::{found, Backend, IssueStatus, Store, StoreError};

/// Where a channel sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// One e-mail recipient (`Name <addr>`), over SMTP.
    Email,
    /// One Slack incoming-webhook URL.
    Slack,
}

impl ChannelKind {
    /// The stored name (`"email"`, `"slack"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Email => "email",
            ChannelKind::Slack => "slack",
        }
    }

    fn parse(s: &str) -> Result<ChannelKind, StoreError> {
        match s {
            "email" => Ok(ChannelKind::Email),
            "slack" => Ok(ChannelKind::Slack),
            other => Err(StoreError::Other(format!("corrupt channel kind {other:?}"))),
        }
    }
}

/// What made a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// An event created a new issue.
    NewIssue,
    /// An event reopened a resolved issue.
    Regression,
    /// An issue received more events in a window than its project's frequency rule allows.
    Frequency,
}

impl Trigger {
    /// The stored name (`"new_issue"`, `"regression"`, `"frequency"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::NewIssue => "new_issue",
            Trigger::Regression => "regression",
            Trigger::Frequency => "frequency",
        }
    }

    fn parse(s: &str) -> Result<Trigger, StoreError> {
        match s {
            "new_issue" => Ok(Trigger::NewIssue),
            "regression" => Ok(Trigger::Regression),
            "frequency" => Ok(Trigger::Frequency),
            other => Err(StoreError::Other(format!("corrupt trigger {other:?}"))),
        }
    }
}

/// A notification channel.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Channel {
    /// Channel id.
    pub id: i64,
    /// Owning project; `None` for the global channels of the configuration (admins).
    pub project_id: Option<i64>,
    /// E-mail or Slack.
    pub kind: ChannelKind,
    /// `Name <addr>` for e-mail, the webhook URL for Slack (a credential: show redacted).
    pub target: String,
    /// `"config"` (synced from the configuration) or `"cli"`.
    pub source: String,
    /// False once removed (kept for the history of its deliveries).
    pub active: bool,
    /// Failed attempts since the last success.
    pub consecutive_failures: i64,
    /// Set while the channel is failing (after `failing_after` consecutive failures).
    pub failing_since_ms: Option<i64>,
    /// Last successful send.
    pub last_success_ms: Option<i64>,
    /// Last failed send.
    pub last_failure_ms: Option<i64>,
    /// Error of the last failed send.
    pub last_error: Option<String>,
}

/// A channel with its delivery counts, for `errata notify status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChannelStatus {
    /// The channel.
    pub channel: Channel,
    /// Deliveries waiting (due now or later).
    pub pending: i64,
    /// Deliveries sent (digest carriers count once).
    pub sent: i64,
    /// Dead letters: deliveries that used up their attempts.
    pub failed: i64,
    /// Deliveries carried by a digest.
    pub folded: i64,
}

/// One recorded send attempt.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Attempt {
    /// The delivery attempted.
    pub delivery_id: i64,
    /// Its channel.
    pub channel_id: i64,
    /// When the attempt finished.
    pub at_ms: i64,
    /// Whether the channel accepted the message.
    pub ok: bool,
    /// SMTP reply (`"250 …"`) or HTTP status code, when the peer answered.
    pub status: Option<String>,
    /// Duration of the attempt, milliseconds.
    pub latency_ms: i64,
    /// Error text of a failed attempt.
    pub error: Option<String>,
}

/// A project's frequency alert: fire when an issue receives more than `events` events in
/// `minutes` minutes (at most once per issue per such window).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FrequencyRule {
    /// Threshold: more than this many events.
    pub events: i64,
    /// Window length, minutes.
    pub minutes: i64,
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

/// A message leased to this worker: one item, or a digest of several.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedDelivery {
    /// Delivery id.
    pub delivery_id: i64,
    /// Attempts made before this one.
    pub attempts: i64,
    /// True for a digest carrier (render `items` as one digest).
    pub is_digest: bool,
    /// Proof of the lease; [`Store::record_delivery`] only updates a delivery still holding it.
    pub claim_token: String,
    /// What to tell, oldest first (one item unless `is_digest`).
    pub items: Vec<NotificationItem>,
}

/// What one claim of one channel decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claim {
    /// The channel as locked (health included).
    pub channel: Option<Channel>,
    /// Messages to send now, leased.
    pub deliveries: Vec<ClaimedDelivery>,
    /// Deliveries folded into new digests.
    pub folded: usize,
    /// New digest carriers.
    pub digests: usize,
    /// Deliveries held back until the next digest may go out.
    pub postponed: usize,
}

/// Storm control and lease parameters of [`Store::claim_deliveries`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StormPolicy {
    /// Most single messages per channel in any `window_ms`.
    pub max_per_window: i64,
    /// Sliding window, ms.
    pub window_ms: i64,
    /// At most one new digest batch per channel per this many ms.
    pub digest_interval_ms: i64,
    /// Most items one digest carries.
    pub max_digest_items: usize,
    /// Lease per claimed message, ms (longer than one send's timeout).
    pub lease_per_message_ms: i64,
    /// Most messages one claim leases; the rest stay due for the next claim (by this or
    /// another process), so one slow claimer does not hold a channel's whole backlog.
    pub max_batch: usize,
}

/// Result of one send, as [`Store::record_delivery`] stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReport {
    /// Whether the channel accepted the message.
    pub ok: bool,
    /// SMTP reply or HTTP status, when the peer answered.
    pub status: Option<String>,
    /// Error text when not ok.
    pub error: Option<String>,
    /// Duration, ms.
    pub latency_ms: i64,
}

/// Retry decisions for a failed send, made by the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// When to try again (backoff with jitter already applied).
    pub next_attempt_ms: i64,
    /// Attempts after which the delivery becomes a dead letter.
    pub max_attempts: i64,
    /// Consecutive failures that mark the channel failing.
    pub failing_after: i64,
    /// How long a failing channel's other deliveries wait for the next probe, ms.
    pub failing_retry_ms: i64,
}

/// What recording an attempt changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recorded {
    /// The delivery became a dead letter.
    pub dead: bool,
    /// The channel is failing after this attempt.
    pub failing: bool,
    /// This success ended a failing period.
    pub recovered: bool,
    /// False when the lease had been lost (the attempt is logged, the delivery untouched).
    pub held_lease: bool,
    /// The channel's consecutive failures after this attempt.
    pub consecutive_failures: i64,
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

const CHANNEL_COLUMNS: &str = "channel_id, project_id, kind, target, source, active, \
    consecutive_failures, failing_since_ms, last_success_ms, last_failure_ms, last_error";

#[derive(Debug, FromRow)]
struct ChannelRow {
    channel_id: i64,
    project_id: Option<i64>,
    kind: String,
    target: String,
    source: String,
    active: bool,
    consecutive_failures: i64,
    failing_since_ms: Option<i64>,
    last_success_ms: Option<i64>,
    last_failure_ms: Option<i64>,
    last_error: Option<String>,
}

impl TryFrom<ChannelRow> for Channel {
    type Error = StoreError;

    fn try_from(r: ChannelRow) -> Result<Self, StoreError> {
        Ok(Channel {
            id: r.channel_id,
            project_id: r.project_id,
            kind: ChannelKind::parse(&r.kind)?,
            target: r.target,
            source: r.source,
            active: r.active,
            consecutive_failures: r.consecutive_failures,
            failing_since_ms: r.failing_since_ms,
            last_success_ms: r.last_success_ms,
            last_failure_ms: r.last_failure_ms,
            last_error: r.last_error,
        })
    }
}

#[derive(Debug, FromRow)]
struct StatusRow {
    #[sqlx(flatten)]
    channel: ChannelRow,
    pending: i64,
    sent: i64,
    failed: i64,
    folded: i64,
}

#[derive(Debug, FromRow)]
struct AttemptRow {
    delivery_id: i64,
    channel_id: i64,
    at_ms: i64,
    ok: bool,
    status: Option<String>,
    latency_ms: i64,
    error: Option<String>,
}

#[derive(Debug, FromRow)]
struct RuleRow {
    project_id: i64,
    frequency_events: i64,
    frequency_minutes: i64,
}

#[derive(Debug, FromRow)]
struct PendingOutboxRow {
    outbox_id: i64,
    kind: String,
    project_id: i64,
    issue_id: i64,
    status: String,
}

#[derive(Debug, FromRow)]
struct ItemRow {
    outbox_id: i64,
    kind: String,
    project_id: i64,
    issue_id: i64,
    event_id: String,
    created_ms: i64,
}

impl TryFrom<ItemRow> for NotificationItem {
    type Error = StoreError;

    fn try_from(r: ItemRow) -> Result<Self, StoreError> {
        Ok(NotificationItem {
            outbox_id: r.outbox_id,
            trigger: Trigger::parse(&r.kind)?,
            project_id: r.project_id,
            issue_id: r.issue_id,
            event_id: r.event_id,
            created_ms: r.created_ms,
        })
    }
}

#[derive(Debug, FromRow)]
struct DueRow {
    delivery_id: i64,
    is_digest: bool,
    planned_ms: Option<i64>,
    attempts: i64,
}

#[derive(Debug, FromRow)]
struct MaxRow {
    value: Option<i64>,
}

#[derive(Debug, FromRow)]
struct CandidateRow {
    issue_id: i64,
    project_id: i64,
}

#[derive(Debug, FromRow)]
struct HealthRow {
    consecutive_failures: i64,
    failing_since_ms: Option<i64>,
}

#[derive(Debug, FromRow)]
struct LatestEventRow {
    event_id: String,
    received_ms: i64,
}

/// `<project_id or global>|<kind>|<target>`: the unique key of a channel.
fn channel_key(project_id: Option<i64>, kind: ChannelKind, target: &str) -> String {
    let scope = project_id.map_or_else(|| "global".to_owned(), |p| p.to_string());
    format!("{scope}|{}|{target}", kind.as_str())
}

/// `for update skip locked` on PostgreSQL; nothing on SQLite, where `BEGIN IMMEDIATE` already
/// gives the transaction the only write lock.
fn skip_locked(backend: Backend, of: &str) -> String {
    match backend {
        Backend::Postgres if of.is_empty() => " for update skip locked".to_owned(),
        Backend::Postgres => format!(" for update of {of} skip locked"),
        Backend::Sqlite => String::new(),
    }
}

/// The pure part of a claim: which due deliveries are sent as singles, which fold into
/// digests, which wait.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Plan {
    /// Unplanned deliveries that become single messages now.
    singles: Vec<i64>,
    /// New digests: carrier and the deliveries folded into it.
    digests: Vec<(i64, Vec<i64>)>,
    /// Deliveries held until `postpone_until`.
    postponed: Vec<i64>,
    postpone_until: i64,
    /// Deliveries to lease and send now.
    send: Vec<i64>,
}

/// Plans a claim. `due` is `(delivery_id, already planned)` in due order; `window_singles`
/// counts single messages planned in the current window; `last_digest_ms` is the newest
/// digest carrier's planning time. A failing channel sends only one message (a probe).
pub(super) fn plan_claim(
    due: &[(i64, bool)],
    window_singles: i64,
    last_digest_ms: Option<i64>,
    now: i64,
    policy: &StormPolicy,
    failing: bool,
) -> Plan {
    let mut plan = Plan::default();
    let mut budget = (policy.max_per_window - window_singles).max(0);
    let mut overflow = Vec::new();
    for &(id, planned) in due {
        if planned {
            plan.send.push(id);
        } else if budget > 0 {
            budget -= 1;
            plan.singles.push(id);
            plan.send.push(id);
        } else {
            overflow.push(id);
        }
    }
    if !overflow.is_empty() {
        let next_digest = last_digest_ms.map_or(i64::MIN, |t| t + policy.digest_interval_ms);
        if next_digest <= now {
            for chunk in overflow.chunks(policy.max_digest_items.max(1)) {
                plan.digests.push((chunk[0], chunk[1..].to_vec()));
                plan.send.push(chunk[0]);
            }
        } else {
            plan.postponed = overflow;
            plan.postpone_until = next_digest;
        }
    }
    plan.send
        .truncate(if failing { 1 } else { policy.max_batch.max(1) });
    plan
}

impl Store {
    /// Makes the global channels exactly `wanted` (`(kind, target)` from the configuration):
    /// adds or reactivates them, deactivates global channels no longer configured (their
    /// pending deliveries become `skipped`). Safe to run concurrently from several processes.
    pub async fn sync_config_channels(
        &self,
        wanted: &[(ChannelKind, String)],
    ) -> Result<(), StoreError> {
        let now = super::now_ms();
        let mut tx = self.pool.begin_write().await?;
        let mut keys = HashSet::new();
        for (kind, target) in wanted {
            let key = channel_key(None, *kind, target);
            tx.execute(
                "insert into notification_channels (project_id, kind, target, source, \
                 channel_key, active, consecutive_failures, created_ms) \
                 values (null, $1, $2, 'config', $3, true, 0, $4) \
                 on conflict (channel_key) do update set active = true",
                vec![
                    kind.as_str().into(),
                    target.as_str().into(),
                    key.clone().into(),
                    now.into(),
                ],
            )
            .await?;
            keys.insert(key);
        }
        let existing = tx
            .fetch_all::<ChannelRow>(
                &format!(
                    "select {CHANNEL_COLUMNS} from notification_channels \
                     where project_id is null and active order by channel_id"
                ),
                vec![],
            )
            .await?;
        for row in existing {
            let kind = ChannelKind::parse(&row.kind)?;
            if !keys.contains(&channel_key(None, kind, &row.target)) {
                deactivate(
                    &mut tx,
                    row.channel_id,
                    "channel removed from configuration",
                )
                .await?;
            }
        }
        tx.commit().await
    }

    /// Adds (or reactivates) a project's channel. Errors: [`StoreError::NotFound`] for an
    /// unknown project.
    pub async fn add_channel(
        &self,
        project_id: i64,
        kind: ChannelKind,
        target: &str,
    ) -> Result<Channel, StoreError> {
        self.project(project_id).await?;
        let key = channel_key(Some(project_id), kind, target);
        self.pool
            .execute(
                "insert into notification_channels (project_id, kind, target, source, \
                 channel_key, active, consecutive_failures, created_ms) \
                 values ($1, $2, $3, 'cli', $4, true, 0, $5) \
                 on conflict (channel_key) do update set active = true",
                vec![
                    project_id.into(),
                    kind.as_str().into(),
                    target.into(),
                    key.clone().into(),
                    super::now_ms().into(),
                ],
            )
            .await?;
        self.pool
            .fetch_one::<ChannelRow>(
                &format!(
                    "select {CHANNEL_COLUMNS} from notification_channels where channel_key = $1"
                ),
                vec![key.into()],
            )
            .await?
            .try_into()
    }

    /// Removes a channel: it stops receiving, its pending deliveries become `skipped`, its
    /// history stays. Errors: [`StoreError::NotFound`].
    pub async fn remove_channel(&self, channel_id: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let n = deactivate(&mut tx, channel_id, "channel removed").await?;
        tx.commit().await?;
        found(n)
    }

    /// Active channels, global ones first, then by project and id.
    pub async fn channels(&self) -> Result<Vec<Channel>, StoreError> {
        self.pool
            .fetch_all::<ChannelRow>(
                &format!(
                    "select {CHANNEL_COLUMNS} from notification_channels where active \
                     order by project_id is not null, project_id, channel_id"
                ),
                vec![],
            )
            .await?
            .into_iter()
            .map(Channel::try_from)
            .collect()
    }

    /// Active channels with their delivery counts, ordered like [`Store::channels`].
    pub async fn notification_status(&self) -> Result<Vec<ChannelStatus>, StoreError> {
        let count = |state: &str| {
            format!(
                "(select count(*) from notification_deliveries d \
                 where d.channel_id = c.channel_id and d.state = '{state}') as {state}"
            )
        };
        let sql = format!(
            "select {CHANNEL_COLUMNS}, {}, {}, {}, {} from notification_channels c \
             where active order by project_id is not null, project_id, channel_id",
            count("pending"),
            count("sent"),
            count("failed"),
            count("folded"),
        );
        self.pool
            .fetch_all::<StatusRow>(&sql, vec![])
            .await?
            .into_iter()
            .map(|r| {
                Ok(ChannelStatus {
                    channel: r.channel.try_into()?,
                    pending: r.pending,
                    sent: r.sent,
                    failed: r.failed,
                    folded: r.folded,
                })
            })
            .collect()
    }

    /// The newest `limit` attempts of a channel, newest first.
    pub async fn notification_attempts(
        &self,
        channel_id: i64,
        limit: usize,
    ) -> Result<Vec<Attempt>, StoreError> {
        let limit = i64::try_from(limit.clamp(1, 10_000)).unwrap_or(10_000);
        let rows = self
            .pool
            .fetch_all::<AttemptRow>(
                "select delivery_id, channel_id, at_ms, ok, status, latency_ms, error \
                 from notification_attempts where channel_id = $1 \
                 order by attempt_id desc limit $2",
                vec![channel_id.into(), limit.into()],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| Attempt {
                delivery_id: r.delivery_id,
                channel_id: r.channel_id,
                at_ms: r.at_ms,
                ok: r.ok,
                status: r.status,
                latency_ms: r.latency_ms,
                error: r.error,
            })
            .collect())
    }

    /// Sets (`Some`) or removes (`None`) a project's frequency rule. Errors:
    /// [`StoreError::NotFound`] for an unknown project.
    pub async fn set_frequency_rule(
        &self,
        project_id: i64,
        rule: Option<FrequencyRule>,
    ) -> Result<(), StoreError> {
        self.project(project_id).await?;
        match rule {
            Some(r) => {
                self.pool
                    .execute(
                        "insert into notification_rules (project_id, frequency_events, \
                         frequency_minutes, updated_ms) values ($1, $2, $3, $4) \
                         on conflict (project_id) do update set \
                         frequency_events = excluded.frequency_events, \
                         frequency_minutes = excluded.frequency_minutes, \
                         updated_ms = excluded.updated_ms",
                        vec![
                            project_id.into(),
                            r.events.into(),
                            r.minutes.into(),
                            super::now_ms().into(),
                        ],
                    )
                    .await?;
            }
            None => {
                self.pool
                    .execute(
                        "delete from notification_rules where project_id = $1",
                        vec![project_id.into()],
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// Every project's frequency rule, by project id.
    pub async fn frequency_rules(&self) -> Result<BTreeMap<i64, FrequencyRule>, StoreError> {
        let rows = self
            .pool
            .fetch_all::<RuleRow>(
                "select project_id, frequency_events, frequency_minutes from notification_rules",
                vec![],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                (
                    r.project_id,
                    FrequencyRule {
                        events: r.frequency_events,
                        minutes: r.frequency_minutes,
                    },
                )
            })
            .collect())
    }

    /// Fans up to `limit` pending outbox rows out into deliveries (one per active channel of
    /// the issue's project and per global channel) in one transaction.
    ///
    /// Rows of ignored issues are `skipped`; a trigger that already fired for the issue less
    /// than `window_ms` ago is `suppressed`. On PostgreSQL rows locked by another process are
    /// skipped, so concurrent workers split the outbox.
    pub async fn fan_out_notifications(
        &self,
        limit: usize,
        now: i64,
        window_ms: i64,
    ) -> Result<FanOut, StoreError> {
        let limit = i64::try_from(limit.clamp(1, 1000)).unwrap_or(1000);
        let mut tx = self.pool.begin_write().await?;
        let sql = format!(
            "select o.outbox_id, o.kind, o.project_id, o.issue_id, i.status \
             from outbox o join issues i on i.issue_id = o.issue_id \
             where o.state = 'pending' order by o.outbox_id limit $1{}",
            skip_locked(tx.backend(), "o")
        );
        let rows = tx
            .fetch_all::<PendingOutboxRow>(&sql, vec![limit.into()])
            .await?;
        let mut out = FanOut::default();
        for row in rows {
            let state = if row.status == IssueStatus::Ignored.as_str() {
                "skipped"
            } else if !fire_trigger(&mut tx, row.issue_id, &row.kind, now, now - window_ms).await? {
                "suppressed"
            } else {
                out.deliveries +=
                    insert_deliveries(&mut tx, row.outbox_id, row.project_id, now).await?;
                "dispatched"
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

    /// The newest `event_pk`: where frequency evaluation starts.
    pub async fn max_event_pk(&self) -> Result<i64, StoreError> {
        let row = self
            .pool
            .fetch_one::<MaxRow>("select max(event_pk) as value from events", vec![])
            .await?;
        Ok(row.value.unwrap_or(0))
    }

    /// Evaluates the frequency rules for issues that received events with `event_pk` in
    /// `(after_pk, after_pk + 10000]`, and writes a `frequency` notification (outbox row plus
    /// its deliveries, one transaction) for each issue over its threshold whose alert did not
    /// fire within the rule's window. Ignored issues never fire. Returns the alerts written
    /// and the `event_pk` to continue after.
    ///
    /// "More than N events in M minutes" is read from the issue's newest N+1 events (by
    /// insertion order): the alert fires when the oldest of them was received within the
    /// window. An event committed late with a lower `event_pk` than one already examined is
    /// not a candidate itself; the issue's next event makes it one again.
    pub async fn fire_frequency_alerts(
        &self,
        rules: &BTreeMap<i64, FrequencyRule>,
        after_pk: i64,
        now: i64,
    ) -> Result<(usize, i64), StoreError> {
        const SCAN: i64 = 10_000;
        let upto = self
            .max_event_pk()
            .await?
            .min(after_pk.saturating_add(SCAN));
        if upto <= after_pk || rules.is_empty() {
            return Ok((0, upto.max(after_pk)));
        }
        let candidates = self
            .pool
            .fetch_all::<CandidateRow>(
                "select distinct issue_id, project_id from events \
                 where event_pk > $1 and event_pk <= $2",
                vec![after_pk.into(), upto.into()],
            )
            .await?;
        let mut fired = 0;
        for c in candidates {
            let Some(rule) = rules.get(&c.project_id) else {
                continue;
            };
            let window_ms = rule.minutes.saturating_mul(60_000);
            let oldest = self
                .pool
                .fetch_optional::<LatestEventRow>(
                    "select event_id, received_ms from events where issue_id = $1 \
                     order by event_pk desc limit 1 offset $2",
                    vec![c.issue_id.into(), rule.events.max(0).into()],
                )
                .await?;
            if oldest.is_none_or(|o| o.received_ms < now - window_ms) {
                continue;
            }
            if self.issue(c.issue_id).await?.status == IssueStatus::Ignored {
                continue;
            }
            let latest = self
                .pool
                .fetch_one::<LatestEventRow>(
                    "select event_id, received_ms from events where issue_id = $1 \
                     order by event_pk desc limit 1",
                    vec![c.issue_id.into()],
                )
                .await?;
            let mut tx = self.pool.begin_write().await?;
            let kind = Trigger::Frequency.as_str();
            if fire_trigger(&mut tx, c.issue_id, kind, now, now - window_ms).await? {
                let outbox_id = tx
                    .fetch_one::<IdRow>(
                        "insert into outbox (kind, project_id, issue_id, event_id, created_ms, \
                         state, attempts, next_attempt_ms, last_error) \
                         values ($1, $2, $3, $4, $5, 'dispatched', 0, $5, null) \
                         returning outbox_id as id",
                        vec![
                            kind.into(),
                            c.project_id.into(),
                            c.issue_id.into(),
                            latest.event_id.into(),
                            now.into(),
                        ],
                    )
                    .await?
                    .id;
                insert_deliveries(&mut tx, outbox_id, c.project_id, now).await?;
                fired += 1;
            }
            tx.commit().await?;
        }
        Ok((fired, upto))
    }

    /// Channels with deliveries due at `now` and not leased.
    pub async fn due_channels(&self, now: i64) -> Result<Vec<i64>, StoreError> {
        let rows = self
            .pool
            .fetch_all::<IdRow>(
                "select distinct channel_id as id from notification_deliveries \
                 where state = 'pending' and next_attempt_ms <= $1 \
                 and (claimed_until_ms is null or claimed_until_ms <= $1) order by 1",
                vec![now.into()],
            )
            .await?;
        Ok(rows.into_iter().map(|r| r.id).collect())
    }

    /// Claims what one channel should send now, applying storm control (see
    /// [`StormPolicy`] and the module docs). Returns an empty [`Claim`] when another process
    /// holds the channel, the channel is inactive, or nothing is due.
    pub async fn claim_deliveries(
        &self,
        channel_id: i64,
        now: i64,
        policy: &StormPolicy,
    ) -> Result<Claim, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let sql = format!(
            "select {CHANNEL_COLUMNS} from notification_channels \
             where channel_id = $1 and active{}",
            skip_locked(tx.backend(), "")
        );
        let Some(channel) = tx
            .fetch_optional::<ChannelRow>(&sql, vec![channel_id.into()])
            .await?
        else {
            return Ok(Claim::default());
        };
        let channel = Channel::try_from(channel)?;
        let due = tx
            .fetch_all::<DueRow>(
                "select delivery_id, is_digest, planned_ms, attempts from notification_deliveries \
                 where channel_id = $1 and state = 'pending' and next_attempt_ms <= $2 \
                 and (claimed_until_ms is null or claimed_until_ms <= $2) \
                 order by next_attempt_ms, delivery_id limit 1000",
                vec![channel_id.into(), now.into()],
            )
            .await?;
        if due.is_empty() {
            return Ok(Claim {
                channel: Some(channel),
                ..Claim::default()
            });
        }
        let window_singles = tx
            .fetch_one::<IdRow>(
                "select count(*) as id from notification_deliveries where channel_id = $1 \
                 and not is_digest and planned_ms > $2",
                vec![channel_id.into(), (now - policy.window_ms).into()],
            )
            .await?
            .id;
        let last_digest = tx
            .fetch_one::<MaxRow>(
                "select max(planned_ms) as value from notification_deliveries \
                 where channel_id = $1 and is_digest",
                vec![channel_id.into()],
            )
            .await?
            .value;
        let flags: Vec<(i64, bool)> = due
            .iter()
            .map(|d| (d.delivery_id, d.planned_ms.is_some() || d.is_digest))
            .collect();
        let plan = plan_claim(
            &flags,
            window_singles,
            last_digest,
            now,
            policy,
            channel.failing_since_ms.is_some(),
        );
        for &id in &plan.singles {
            tx.execute(
                "update notification_deliveries set planned_ms = $2 where delivery_id = $1",
                vec![id.into(), now.into()],
            )
            .await?;
        }
        let mut folded = 0;
        for (carrier, rest) in &plan.digests {
            tx.execute(
                "update notification_deliveries set planned_ms = $2, is_digest = true \
                 where delivery_id = $1",
                vec![(*carrier).into(), now.into()],
            )
            .await?;
            for &id in rest {
                tx.execute(
                    "update notification_deliveries set state = 'folded', folded_into = $2 \
                     where delivery_id = $1",
                    vec![id.into(), (*carrier).into()],
                )
                .await?;
            }
            folded += rest.len();
        }
        for &id in &plan.postponed {
            tx.execute(
                "update notification_deliveries set next_attempt_ms = $2 where delivery_id = $1",
                vec![id.into(), plan.postpone_until.into()],
            )
            .await?;
        }
        let token = hex::encode(rand::random::<[u8; 16]>());
        let sends = i64::try_from(plan.send.len()).unwrap_or(i64::MAX);
        let lease_until = now.saturating_add(policy.lease_per_message_ms.saturating_mul(sends));
        let digest_carriers: HashSet<i64> = plan.digests.iter().map(|(c, _)| *c).collect();
        let mut deliveries = Vec::with_capacity(plan.send.len());
        for &id in &plan.send {
            tx.execute(
                "update notification_deliveries set claimed_until_ms = $2, claim_token = $3 \
                 where delivery_id = $1",
                vec![id.into(), lease_until.into(), token.as_str().into()],
            )
            .await?;
            let items = tx
                .fetch_all::<ItemRow>(
                    "select o.outbox_id, o.kind, o.project_id, o.issue_id, o.event_id, \
                     o.created_ms from notification_deliveries d \
                     join outbox o on o.outbox_id = d.outbox_id \
                     where d.delivery_id = $1 or d.folded_into = $1 order by o.outbox_id",
                    vec![id.into()],
                )
                .await?
                .into_iter()
                .map(NotificationItem::try_from)
                .collect::<Result<Vec<_>, _>>()?;
            let row = due.iter().find(|d| d.delivery_id == id);
            deliveries.push(ClaimedDelivery {
                delivery_id: id,
                attempts: row.map_or(0, |d| d.attempts),
                is_digest: digest_carriers.contains(&id) || row.is_some_and(|d| d.is_digest),
                claim_token: token.clone(),
                items,
            });
        }
        tx.commit().await?;
        Ok(Claim {
            channel: Some(channel),
            deliveries,
            folded,
            digests: plan.digests.len(),
            postponed: plan.postponed.len(),
        })
    }

    /// Records one attempt of a claimed delivery and its consequences: `sent`; or back to
    /// `pending` at `retry.next_attempt_ms`; or `failed` once `retry.max_attempts` are used.
    /// The channel's health follows: a success clears it (and releases deliveries held back
    /// while it was failing); a failure counts, and at `retry.failing_after` consecutive
    /// failures marks it failing and holds its other deliveries for `retry.failing_retry_ms`.
    pub async fn record_delivery(
        &self,
        channel_id: i64,
        delivery: &ClaimedDelivery,
        report: &SendReport,
        retry: &RetryPolicy,
        now: i64,
    ) -> Result<Recorded, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        tx.execute(
            "insert into notification_attempts (delivery_id, channel_id, at_ms, ok, status, \
             latency_ms, error) values ($1, $2, $3, $4, $5, $6, $7)",
            vec![
                delivery.delivery_id.into(),
                channel_id.into(),
                now.into(),
                report.ok.into(),
                report.status.clone().into(),
                report.latency_ms.into(),
                report.error.clone().into(),
            ],
        )
        .await?;
        let mut out = Recorded::default();
        let token = delivery.claim_token.as_str();
        if report.ok {
            out.held_lease = tx
                .execute(
                    "update notification_deliveries set state = 'sent', \
                     attempts = attempts + 1, sent_ms = $2, claimed_until_ms = null, \
                     claim_token = null, last_error = null \
                     where delivery_id = $1 and claim_token = $3",
                    vec![delivery.delivery_id.into(), now.into(), token.into()],
                )
                .await?
                > 0;
            let was = tx
                .fetch_one::<HealthRow>(
                    "select consecutive_failures, failing_since_ms from notification_channels \
                     where channel_id = $1",
                    vec![channel_id.into()],
                )
                .await?;
            tx.execute(
                "update notification_channels set consecutive_failures = 0, \
                 failing_since_ms = null, last_success_ms = $2 where channel_id = $1",
                vec![channel_id.into(), now.into()],
            )
            .await?;
            if was.failing_since_ms.is_some() {
                out.recovered = true;
                tx.execute(
                    "update notification_deliveries set next_attempt_ms = $2 \
                     where channel_id = $1 and state = 'pending' and next_attempt_ms > $2",
                    vec![channel_id.into(), now.into()],
                )
                .await?;
            }
        } else {
            out.dead = delivery.attempts + 1 >= retry.max_attempts;
            let state = if out.dead { "failed" } else { "pending" };
            out.held_lease = tx
                .execute(
                    "update notification_deliveries set state = $2, attempts = attempts + 1, \
                     next_attempt_ms = $3, claimed_until_ms = null, claim_token = null, \
                     last_error = $4 where delivery_id = $1 and claim_token = $5",
                    vec![
                        delivery.delivery_id.into(),
                        state.into(),
                        retry.next_attempt_ms.into(),
                        report.error.clone().into(),
                        token.into(),
                    ],
                )
                .await?
                > 0;
            let health = tx
                .fetch_one::<HealthRow>(
                    "update notification_channels set \
                     consecutive_failures = consecutive_failures + 1, last_failure_ms = $2, \
                     last_error = $3, failing_since_ms = case \
                       when consecutive_failures + 1 >= $4 then coalesce(failing_since_ms, $2) \
                       else failing_since_ms end \
                     where channel_id = $1 returning consecutive_failures, failing_since_ms",
                    vec![
                        channel_id.into(),
                        now.into(),
                        report.error.clone().into(),
                        retry.failing_after.into(),
                    ],
                )
                .await?;
            out.failing = health.failing_since_ms.is_some();
            if out.failing {
                // One probe per interval instead of every due delivery failing in turn.
                let hold = now.saturating_add(retry.failing_retry_ms);
                tx.execute(
                    "update notification_deliveries set next_attempt_ms = $2 \
                     where channel_id = $1 and state = 'pending' and next_attempt_ms < $2 \
                     and (claimed_until_ms is null or claimed_until_ms <= $3)",
                    vec![channel_id.into(), hold.into(), now.into()],
                )
                .await?;
            }
            out.consecutive_failures = health.consecutive_failures;
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Ends a claimed delivery without sending (its issue was ignored meanwhile).
    pub async fn skip_delivery(&self, delivery: &ClaimedDelivery) -> Result<(), StoreError> {
        self.pool
            .execute(
                "update notification_deliveries set state = 'skipped', claimed_until_ms = null, \
                 claim_token = null, last_error = 'issue ignored' \
                 where delivery_id = $1 and claim_token = $2",
                vec![
                    delivery.delivery_id.into(),
                    delivery.claim_token.as_str().into(),
                ],
            )
            .await?;
        Ok(())
    }

    /// Gives back claimed deliveries unsent (their channel just started failing): the lease
    /// ends and they wait until `next_attempt_ms`. Attempts are not counted.
    pub async fn release_deliveries(
        &self,
        deliveries: &[ClaimedDelivery],
        next_attempt_ms: i64,
    ) -> Result<(), StoreError> {
        for d in deliveries {
            self.pool
                .execute(
                    "update notification_deliveries set claimed_until_ms = null, \
                     claim_token = null, next_attempt_ms = $3 \
                     where delivery_id = $1 and claim_token = $2",
                    vec![
                        d.delivery_id.into(),
                        d.claim_token.as_str().into(),
                        next_attempt_ms.into(),
                    ],
                )
                .await?;
        }
        Ok(())
    }

    /// Number of active channels currently failing.
    pub async fn failing_channel_count(&self) -> Result<i64, StoreError> {
        Ok(self
            .pool
            .fetch_one::<IdRow>(
                "select count(*) as id from notification_channels \
                 where active and failing_since_ms is not null",
                vec![],
            )
            .await?
            .id)
    }
}

/// Records that `kind` fired for `issue_id` at `now` unless it already fired after `cutoff`;
/// true when it fires. Atomic per row on both backends (an upsert with a condition).
async fn fire_trigger(
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
async fn insert_deliveries(
    tx: &mut Tx,
    outbox_id: i64,
    project_id: i64,
    now: i64,
) -> Result<usize, StoreError> {
    let n = tx
        .execute(
            "insert into notification_deliveries (outbox_id, channel_id, state, is_digest, \
             attempts, next_attempt_ms, created_ms) \
             select $1, channel_id, 'pending', false, 0, $2, $2 from notification_channels \
             where active and (project_id is null or project_id = $3) \
             on conflict (outbox_id, channel_id) do nothing",
            vec![outbox_id.into(), now.into(), project_id.into()],
        )
        .await?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// Deactivates a channel and skips its pending deliveries; returns rows changed (0 = none).
async fn deactivate(tx: &mut Tx, channel_id: i64, reason: &str) -> Result<u64, StoreError> {
    let n = tx
        .execute(
            "update notification_channels set active = false where channel_id = $1",
            vec![channel_id.into()],
        )
        .await?;
    tx.execute(
        "update notification_deliveries set state = 'skipped', last_error = $2 \
         where channel_id = $1 and state = 'pending'",
        vec![channel_id.into(), Arg::from(reason)],
    )
    .await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: StormPolicy = StormPolicy {
        max_per_window: 3,
        window_ms: 300_000,
        digest_interval_ms: 60_000,
        max_digest_items: 4,
        lease_per_message_ms: 60_000,
        max_batch: 4,
    };

    fn fresh(ids: std::ops::Range<i64>) -> Vec<(i64, bool)> {
        ids.map(|i| (i, false)).collect()
    }

    #[test]
    fn singles_up_to_budget_then_digests() {
        let plan = plan_claim(&fresh(1..11), 0, None, 1000, &POLICY, false);
        assert_eq!(plan.singles, vec![1, 2, 3]);
        assert_eq!(plan.digests, vec![(4, vec![5, 6, 7]), (8, vec![9, 10])]);
        assert_eq!(plan.send, vec![1, 2, 3, 4], "at most max_batch per claim");
        assert!(plan.postponed.is_empty());
    }

    #[test]
    fn window_used_up_and_recent_digest_postpone() {
        let plan = plan_claim(&fresh(1..3), 3, Some(990), 1000, &POLICY, false);
        assert!(plan.singles.is_empty() && plan.send.is_empty());
        assert_eq!(plan.postponed, vec![1, 2]);
        assert_eq!(plan.postpone_until, 60_990);
        // Once the digest interval passed, they go out as one digest.
        let plan = plan_claim(&fresh(1..3), 3, Some(990), 61_000, &POLICY, false);
        assert_eq!(plan.digests, vec![(1, vec![2])]);
    }

    #[test]
    fn retries_are_sent_without_budget_and_failing_sends_one_probe() {
        let due = vec![(7, true), (8, false), (9, false)];
        let plan = plan_claim(&due, 3, None, 1000, &POLICY, false);
        assert_eq!(plan.send, vec![7, 8]);
        assert_eq!(plan.digests, vec![(8, vec![9])]);
        let plan = plan_claim(&due, 0, None, 1000, &POLICY, true);
        assert_eq!(plan.send, vec![7]);
        assert_eq!(plan.singles, vec![8, 9]);
    }

    #[test]
    fn channel_keys_separate_scopes() {
        assert_eq!(
            channel_key(None, ChannelKind::Email, "a@x"),
            "global|email|a@x"
        );
        assert_eq!(channel_key(Some(3), ChannelKind::Slack, "u"), "3|slack|u");
    }
}
