//! Deliveries (`notification_deliveries`): one message of one outbox row to one channel,
//! claimed with storm control (`storm.rs`), sent by the notification worker and recorded
//! with every attempt (`attempts.rs`).
//!
//! [`Store::claim_deliveries`] locks one channel (`for update skip locked` on PostgreSQL;
//! SQLite's `BEGIN IMMEDIATE` serializes writers), applies storm control (at most
//! `max_per_window` single messages per sliding window, the rest folded into digest
//! carriers) and leases the messages to send (`claimed_until_ms`, `claim_token`), so a
//! claimer that dies leaves them claimable again once the lease runs out.
//! [`Store::record_delivery`] then writes the attempt and moves the delivery to `sent`, back
//! to `pending` with a later `next_attempt_ms`, or to `failed` (dead letter), and keeps the
//! channel's health (`consecutive_failures`, `failing_since_ms`). E-mail channels first fold
//! what projects with an e-mail digest ask for (`project_digest.rs`).

mod attempts;
mod project_digest;
mod storm;

use std::collections::HashSet;

use super::channels::{ChannelRow, CHANNEL_COLUMNS};
use super::db::{skip_locked, Executor, IdRow, MaxRow};
use super::outbox::{ItemRow, NotificationItem};
use super::{Channel, ChannelKind, Store, StoreError};

pub use attempts::{Attempt, Recorded, RetryPolicy, SendReport};
pub use project_digest::MAX_DIGEST_MINUTES;
pub use storm::StormPolicy;

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

row! {
    struct DueRow {
        delivery_id: i64,
        is_digest: bool,
        planned_ms: Option<i64>,
        attempts: i64,
    }
}

impl Store {
    /// Channels with deliveries due at `now` and not leased.
    pub async fn due_channels(&self, now: i64) -> Result<Vec<i64>, StoreError> {
        self.db()
            .fetch_ids(
                "select distinct channel_id as id from notification_deliveries \
                 where state = 'pending' and next_attempt_ms <= $1 \
                 and (claimed_until_ms is null or claimed_until_ms <= $1) order by 1",
                vec![now.into()],
            )
            .await
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
        let fold = if channel.kind == ChannelKind::Email {
            project_digest::fold_project_digests(&mut tx, channel_id, now).await?
        } else {
            project_digest::ProjectFold::default()
        };
        let mut due = tx
            .fetch_all::<DueRow>(
                "select delivery_id, is_digest, planned_ms, attempts from notification_deliveries \
                 where channel_id = $1 and state = 'pending' and next_attempt_ms <= $2 \
                 and (claimed_until_ms is null or claimed_until_ms <= $2) \
                 order by next_attempt_ms, delivery_id limit 1000",
                vec![channel_id.into(), now.into()],
            )
            .await?;
        due.retain(|d| !fold.removed.contains(&d.delivery_id));
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
            .map(|d| {
                let planned = d.planned_ms.is_some() || d.is_digest;
                (
                    d.delivery_id,
                    planned || fold.planned.contains(&d.delivery_id),
                )
            })
            .collect();
        let plan = storm::plan_claim(
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
        let digest_carriers: HashSet<i64> = plan
            .digests
            .iter()
            .map(|(c, _)| *c)
            .chain(fold.digests.iter().copied())
            .collect();
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
            folded: folded + fold.folded,
            digests: plan.digests.len() + fold.digests.len(),
            postponed: plan.postponed.len() + fold.postponed,
        })
    }

    /// Ends a claimed delivery without sending (its issue was ignored meanwhile).
    pub async fn skip_delivery(&self, delivery: &ClaimedDelivery) -> Result<(), StoreError> {
        self.db()
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
            self.db()
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
}
