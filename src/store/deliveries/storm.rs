//! Storm control: how one claim splits a channel's due deliveries into single messages,
//! digests and deliveries held back, from the channel's recent history. Pure; the claim in
//! `mod.rs` reads the history and writes the plan.

/// Storm control and lease parameters of
/// [`Store::claim_deliveries`](crate::store::Store::claim_deliveries).
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

/// The pure part of a claim: which due deliveries are sent as singles, which fold into
/// digests, which wait.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Plan {
    /// Unplanned deliveries that become single messages now.
    pub(super) singles: Vec<i64>,
    /// New digests: carrier and the deliveries folded into it.
    pub(super) digests: Vec<(i64, Vec<i64>)>,
    /// Deliveries held until `postpone_until`.
    pub(super) postponed: Vec<i64>,
    pub(super) postpone_until: i64,
    /// Deliveries to lease and send now.
    pub(super) send: Vec<i64>,
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
}
