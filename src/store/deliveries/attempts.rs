//! Delivery attempts (`notification_attempts`): the record of every send, the delivery's
//! next state (sent, retry later, dead letter) and the channel's health.

use super::ClaimedDelivery;
use crate::store::db::Executor;
use crate::store::{Store, StoreError};

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
    /// The issue the delivery is about (for an incident, the monitor's issue; for a digest,
    /// its first issue).
    pub issue_id: i64,
    /// What it tells: the outbox kind (`new_issue`, `incident_opened`, …).
    pub kind: String,
    /// True for a digest carrying several notifications.
    pub is_digest: bool,
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

row! {
    struct AttemptRow {
        delivery_id: i64,
        channel_id: i64,
        at_ms: i64,
        ok: bool,
        status: Option<String>,
        latency_ms: i64,
        error: Option<String>,
        issue_id: i64,
        kind: String,
        is_digest: bool,
    }
}

row! {
    struct HealthRow {
        consecutive_failures: i64,
        failing_since_ms: Option<i64>,
    }
}

impl Store {
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

    /// The newest `limit` attempts of a channel, newest first.
    pub async fn notification_attempts(
        &self,
        channel_id: i64,
        limit: usize,
    ) -> Result<Vec<Attempt>, StoreError> {
        let limit = i64::try_from(limit.clamp(1, 10_000)).unwrap_or(10_000);
        let rows = self
            .db()
            .fetch_all::<AttemptRow>(
                "select a.delivery_id, a.channel_id, a.at_ms, a.ok, a.status, a.latency_ms, \
                 a.error, o.issue_id, o.kind, d.is_digest from notification_attempts a \
                 join notification_deliveries d on d.delivery_id = a.delivery_id \
                 join outbox o on o.outbox_id = d.outbox_id where a.channel_id = $1 \
                 order by a.attempt_id desc limit $2",
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
                issue_id: r.issue_id,
                kind: r.kind,
                is_digest: r.is_digest,
            })
            .collect())
    }
}
