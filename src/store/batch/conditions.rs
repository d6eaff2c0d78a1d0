//! Phase 3's triage conditions: which of the issues a batch touches it reopens (a resolved
//! issue regresses unless its release condition holds; an ignore ends when its event or
//! user count is met, or at its next event when ignored until regression), and their
//! timeline entries by Errata. The rules are `crate::triage::details`; this module feeds them
//! the batch's facts.
//!
//! Cost on the hot path: the condition is read with the issue's row under the lock phase 3
//! already takes (`status_details` in `aggregate::IssueState`), so issues without one cost
//! a null check. Only a batch that brings an event of a release to an issue resolved in a
//! release, where the two releases have no common semantic version, makes one more query:
//! the first-seen times of those releases in the project (`issues/triage.rs`).

use std::collections::{BTreeSet, HashMap};

use serde_json::json;

use super::aggregate::{Facts, IssueDelta, IssueState};
use crate::store::activity::{insert_activity, NewActivity};
use crate::store::db::Executor;
use crate::store::issues::{parse_details, project_releases};
use crate::store::{IssueStatus, StoreError};
use crate::triage::details::{evaluate as evaluate_rules, first_seen_needed, BatchFacts};
use crate::triage::{Actor, Reopen};

/// An issue the batch reopens, and why.
pub(super) struct Reopened {
    pub issue_id: i64,
    pub reopen: Reopen,
}

/// First-seen times (epoch ms) per project and release, counting this batch's events.
pub(super) type FirstSeen = HashMap<i64, HashMap<String, i64>>;

fn batch_facts<'a>(
    d: &IssueDelta<'a>,
    newest_release: Option<&'a str>,
    events_after: i64,
    users_after: i64,
) -> BatchFacts<'a> {
    BatchFacts {
        releases: d.releases.iter().copied().collect(),
        newest_release,
        events_after,
        users_after,
    }
}

/// The first-seen times the batch's release conditions need (see the module docs): empty,
/// without a query, unless some touched issue is resolved in a release and gets an event of
/// a release that does not compare with it by version.
pub(super) async fn release_first_seen(
    tx: &mut impl Executor,
    facts: &[Facts<'_>],
    deltas: &std::collections::BTreeMap<i64, IssueDelta<'_>>,
    states: &HashMap<i64, IssueState>,
) -> Result<FirstSeen, StoreError> {
    let mut needed: HashMap<i64, BTreeSet<String>> = HashMap::new();
    for (issue_id, d) in deltas {
        let Some(state) = states.get(issue_id) else {
            continue;
        };
        let Some(details) = parse_details(*issue_id, state.status_details.as_deref()) else {
            continue;
        };
        let wanted = first_seen_needed(Some(&details), &batch_facts(d, None, 0, 0));
        if !wanted.is_empty() {
            let project = facts[d.first].project_id;
            let set = needed.entry(project).or_default();
            set.extend(wanted.into_iter().map(str::to_owned));
        }
    }
    let mut out = FirstSeen::new();
    for (project, names) in needed {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let seen = out.entry(project).or_default();
        seen.extend(project_releases(tx, project, Some(&names)).await?);
        for f in facts.iter().filter(|f| f.project_id == project) {
            if let Some(r) = f.release.filter(|r| names.contains(r)) {
                let t = seen.entry(r.to_owned()).or_insert(f.timestamp_ms);
                *t = (*t).min(f.timestamp_ms);
            }
        }
    }
    Ok(out)
}

/// Whether the batch reopens issue `issue_id` (in `status`, with the stored `details`), given
/// what the batch adds to it. Issues without a condition: a resolved one regresses, others
/// stay as they are.
#[allow(clippy::too_many_arguments)]
pub(super) fn evaluate(
    issue_id: i64,
    status: &str,
    details: Option<&str>,
    d: &IssueDelta<'_>,
    newest_release: Option<&str>,
    events_after: i64,
    users_after: i64,
    first_seen: &FirstSeen,
    project_id: i64,
) -> Option<Reopen> {
    let status = match status {
        "resolved" => IssueStatus::Resolved,
        "ignored" if details.is_some() => IssueStatus::Ignored,
        _ => return None,
    };
    let details = parse_details(issue_id, details);
    let seen = first_seen.get(&project_id);
    evaluate_rules(
        status,
        details.as_ref(),
        &batch_facts(d, newest_release, events_after, users_after),
        |r| seen.and_then(|s| s.get(r)).copied(),
    )
}

/// The timeline entries of reopened issues, by Errata: `regression` (with the release of
/// the event) or `set_status` (an ignore that ended, with its reason).
pub(super) async fn record(
    tx: &mut impl Executor,
    reopened: &[Reopened],
    now: i64,
) -> Result<(), StoreError> {
    if reopened.is_empty() {
        return Ok(());
    }
    let errata = Actor::system();
    let rows: Vec<NewActivity<'_>> = reopened
        .iter()
        .map(|r| {
            let (kind, data) = match &r.reopen {
                Reopen::Regression { release } => ("regression", json!({ "release": release })),
                Reopen::Unignored { reason } => (
                    "set_status",
                    json!({ "status": "unresolved", "reason": reason }),
                ),
            };
            NewActivity {
                issue_id: r.issue_id,
                kind,
                actor: &errata,
                data,
                body: None,
            }
        })
        .collect();
    insert_activity(tx, &rows, now).await?;
    Ok(())
}
