//! The per-project e-mail digest (`projects.email_digest_minutes`): at most one e-mail per
//! N minutes per e-mail channel about one project. The first notification goes out at once;
//! those due within N minutes of the last mail about the project are held back and leave
//! together as one digest when the N minutes are over. Runs in the claim of an e-mail
//! channel before storm control (`storm.rs`), which then sends the digests it made as
//! already planned; other channel kinds are not affected.

use std::collections::{BTreeMap, HashSet};

use super::super::db::{Executor, MaxRow, Tx};
use super::super::{Store, StoreError};
use crate::clock::MINUTE_MS;

/// Longest digest interval, minutes (one week).
pub const MAX_DIGEST_MINUTES: i64 = 10_080;

/// What the digest step decided for one claim.
#[derive(Debug, Default)]
pub(super) struct ProjectFold {
    /// Deliveries taken out of this claim: folded into a carrier or held back.
    pub(super) removed: HashSet<i64>,
    /// Deliveries to send now as already planned (single mails and digest carriers).
    pub(super) planned: HashSet<i64>,
    /// The carriers among them (rendered as digests).
    pub(super) digests: HashSet<i64>,
    /// Deliveries folded into carriers.
    pub(super) folded: usize,
    /// Deliveries held back.
    pub(super) postponed: usize,
}

/// What happens to one project's due deliveries.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Wait until this time (the last mail was less than the interval ago).
    Hold(i64),
    /// Send the first now, carrying the others (a digest when there are any).
    Send(i64, Vec<i64>),
}

/// The pure rule: `ids` are the project's due, unplanned deliveries in due order, `last_ms`
/// when the channel last mailed about the project, `interval_ms` the project's setting.
fn step(ids: &[i64], last_ms: Option<i64>, interval_ms: i64, now: i64) -> Option<Step> {
    let (&first, rest) = ids.split_first()?;
    match last_ms.map(|t| t.saturating_add(interval_ms)) {
        Some(next) if next > now => Some(Step::Hold(next)),
        _ => Some(Step::Send(first, rest.to_vec())),
    }
}

row! {
    struct DigestDueRow {
        delivery_id: i64,
        project_id: i64,
        minutes: i64,
    }
}

/// Applies the per-project digest to e-mail channel `channel_id`'s due deliveries at `now`
/// inside the claim's transaction.
pub(super) async fn fold_project_digests(
    tx: &mut Tx,
    channel_id: i64,
    now: i64,
) -> Result<ProjectFold, StoreError> {
    let due = tx
        .fetch_all::<DigestDueRow>(
            "select d.delivery_id, o.project_id, p.email_digest_minutes as minutes \
             from notification_deliveries d join outbox o on o.outbox_id = d.outbox_id \
             join projects p on p.project_id = o.project_id \
             where d.channel_id = $1 and d.state = 'pending' and d.next_attempt_ms <= $2 \
             and (d.claimed_until_ms is null or d.claimed_until_ms <= $2) \
             and d.planned_ms is null and not d.is_digest and p.email_digest_minutes > 0 \
             order by d.next_attempt_ms, d.delivery_id limit 1000",
            vec![channel_id.into(), now.into()],
        )
        .await?;
    let mut projects: BTreeMap<(i64, i64), Vec<i64>> = BTreeMap::new();
    for d in due {
        projects
            .entry((d.project_id, d.minutes))
            .or_default()
            .push(d.delivery_id);
    }
    let mut fold = ProjectFold::default();
    for ((project_id, minutes), ids) in projects {
        let last = tx
            .fetch_one::<MaxRow>(
                "select max(d.planned_ms) as value from notification_deliveries d \
                 join outbox o on o.outbox_id = d.outbox_id \
                 where d.channel_id = $1 and o.project_id = $2",
                vec![channel_id.into(), project_id.into()],
            )
            .await?
            .value;
        match step(&ids, last, minutes.saturating_mul(MINUTE_MS), now) {
            None => {}
            Some(Step::Hold(until)) => {
                for &id in &ids {
                    tx.execute(
                        "update notification_deliveries set next_attempt_ms = $2 \
                         where delivery_id = $1",
                        vec![id.into(), until.into()],
                    )
                    .await?;
                }
                fold.postponed += ids.len();
                fold.removed.extend(ids);
            }
            Some(Step::Send(carrier, rest)) => {
                tx.execute(
                    "update notification_deliveries set planned_ms = $2, is_digest = $3 \
                     where delivery_id = $1",
                    vec![carrier.into(), now.into(), (!rest.is_empty()).into()],
                )
                .await?;
                for &id in &rest {
                    tx.execute(
                        "update notification_deliveries set state = 'folded', folded_into = $2 \
                         where delivery_id = $1",
                        vec![id.into(), carrier.into()],
                    )
                    .await?;
                }
                if !rest.is_empty() {
                    fold.digests.insert(carrier);
                }
                fold.planned.insert(carrier);
                fold.folded += rest.len();
                fold.removed.extend(rest);
            }
        }
    }
    Ok(fold)
}

impl Store {
    /// Project `project_id`'s e-mail digest interval in minutes (`None`: no digest).
    /// Errors: [`StoreError::NotFound`].
    pub async fn project_email_digest(&self, project_id: i64) -> Result<Option<i64>, StoreError> {
        Ok(self
            .db()
            .fetch_one::<MaxRow>(
                "select email_digest_minutes as value from projects where project_id = $1",
                vec![project_id.into()],
            )
            .await?
            .value
            .filter(|&m| m > 0))
    }

    /// Sets project `project_id`'s e-mail digest interval (`None` or 0: every notification
    /// by itself). Values above [`MAX_DIGEST_MINUTES`] or below 0 are the caller's to refuse.
    /// Errors: [`StoreError::NotFound`].
    pub async fn set_project_email_digest(
        &self,
        project_id: i64,
        minutes: Option<i64>,
    ) -> Result<(), StoreError> {
        self.db()
            .execute_one(
                "update projects set email_digest_minutes = $1 where project_id = $2",
                vec![minutes.filter(|&m| m > 0).into(), project_id.into()],
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_goes_at_once_the_rest_wait_for_one_digest() {
        let ten = 10 * MINUTE_MS;
        assert_eq!(step(&[1], None, ten, 0), Some(Step::Send(1, vec![])));
        assert_eq!(
            step(&[2, 3], Some(0), ten, MINUTE_MS),
            Some(Step::Hold(ten))
        );
        assert_eq!(
            step(&[2, 3], Some(0), ten, ten),
            Some(Step::Send(2, vec![3]))
        );
        assert_eq!(step(&[], None, ten, 0), None);
    }
}
