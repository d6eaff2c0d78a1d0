//! Digests: many notifications folded into one message when a channel's storm budget is used
//! up ("37 new issues in checkout, the 5 most frequent: …").
//!
//! A digest names every issue it carries (so nothing is lost by folding): per project and
//! trigger, a summary line, the most frequent issues with their counts, then every other
//! issue with its link. Each channel kind renders the groups (see [`super::channel`]).

use std::collections::BTreeMap;

use crate::store::Trigger;

use super::message::{one_line, truncate};

/// How many issues per group are listed as "most frequent".
pub const TOP: usize = 5;
/// Longest title shown per line, characters.
pub const MAX_TITLE: usize = 120;

/// One issue in a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestEntry {
    /// Why it is included.
    pub trigger: Trigger,
    /// Project name.
    pub project: String,
    /// Issue id.
    pub issue_id: i64,
    /// Issue title.
    pub title: String,
    /// Events so far.
    pub count: i64,
    /// The issue in the browser.
    pub link: String,
}

/// Entries of one project and trigger, most frequent first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestGroup {
    /// Project name.
    pub project: String,
    /// Trigger.
    pub trigger: Trigger,
    /// Entries, by count descending then issue id.
    pub entries: Vec<DigestEntry>,
}

impl DigestGroup {
    /// `37 new issues in checkout` / `1 regression in api`.
    pub fn summary(&self) -> String {
        let n = self.entries.len();
        let noun = match (self.trigger, n) {
            (Trigger::NewIssue, 1) => "new issue",
            (Trigger::NewIssue, _) => "new issues",
            (Trigger::Regression, 1) => "regression",
            (Trigger::Regression, _) => "regressions",
            (Trigger::Frequency, 1) => "spike",
            (Trigger::Frequency, _) => "spikes",
            (Trigger::Users, 1) => "issue affecting many users",
            (Trigger::Users, _) => "issues affecting many users",
            (Trigger::EveryEvent, 1) => "new event",
            (Trigger::EveryEvent, _) => "new events",
            (Trigger::Unignored, 1) => "unignored issue",
            (Trigger::Unignored, _) => "unignored issues",
            (Trigger::Assigned, 1) => "issue assigned to you",
            (Trigger::Assigned, _) => "issues assigned to you",
            (Trigger::IncidentOpened, 1) => "failing monitor",
            (Trigger::IncidentOpened, _) => "failing monitors",
            (Trigger::IncidentResolved, 1) => "recovered monitor",
            (Trigger::IncidentResolved, _) => "recovered monitors",
            (Trigger::CertificateExpiring, 1) => "certificate expiring",
            (Trigger::CertificateExpiring, _) => "certificates expiring",
            (Trigger::IssueResolved, 1) => "resolved issue",
            (Trigger::IssueResolved, _) => "resolved issues",
        };
        format!("{n} {noun} in {}", self.project)
    }

    /// The most frequent entries (at most [`TOP`]) and the rest.
    pub fn split_top(&self) -> (&[DigestEntry], &[DigestEntry]) {
        self.entries.split_at(self.entries.len().min(TOP))
    }
}

/// Groups entries by project and trigger (new issues, regressions, spikes), each most
/// frequent first; groups ordered by size, largest first.
pub fn group(entries: Vec<DigestEntry>) -> Vec<DigestGroup> {
    let mut map: BTreeMap<(String, Trigger), Vec<DigestEntry>> = BTreeMap::new();
    for e in entries {
        map.entry((e.project.clone(), e.trigger))
            .or_default()
            .push(e);
    }
    let mut groups: Vec<DigestGroup> = map
        .into_iter()
        .map(|((project, trigger), mut entries)| {
            entries.sort_by(|a, b| b.count.cmp(&a.count).then(a.issue_id.cmp(&b.issue_id)));
            DigestGroup {
                project,
                trigger,
                entries,
            }
        })
        .collect();
    groups.sort_by_key(|g| std::cmp::Reverse(g.entries.len()));
    groups
}

/// `[checkout] 37 new issues` for one group; `[errata] 52 notifications: 37 new issues in
/// checkout, 15 regressions in api` for several.
pub fn subject(groups: &[DigestGroup]) -> String {
    match groups {
        [g] => {
            let summary = g.summary();
            let tail = summary
                .strip_suffix(&format!(" in {}", g.project))
                .unwrap_or(&summary);
            format!("[{}] {tail}", one_line(&g.project))
        }
        _ => {
            let total: usize = groups.iter().map(|g| g.entries.len()).sum();
            let parts: Vec<String> = groups.iter().map(DigestGroup::summary).collect();
            truncate(
                &one_line(&format!(
                    "[errata] {total} notifications: {}",
                    parts.join(", ")
                )),
                250,
            )
        }
    }
}

/// One text line per entry: `#12 Title (340 events) link`.
pub fn entry_line(e: &DigestEntry) -> String {
    format!(
        "#{} {} ({} events) {}",
        e.issue_id,
        truncate(&one_line(&e.title), MAX_TITLE),
        e.count,
        e.link
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn entry(project: &str, trigger: Trigger, id: i64, count: i64) -> DigestEntry {
        DigestEntry {
            trigger,
            project: project.into(),
            issue_id: id,
            title: format!("Error {id}"),
            count,
            link: format!("http://e/issues/{id}"),
        }
    }

    #[test]
    fn several_groups_in_one_subject() {
        let groups = group(vec![
            entry("api", Trigger::Regression, 1, 1),
            entry("checkout", Trigger::NewIssue, 2, 1),
            entry("checkout", Trigger::NewIssue, 3, 1),
        ]);
        assert_eq!(
            subject(&groups),
            "[errata] 3 notifications: 2 new issues in checkout, 1 regression in api"
        );
    }
}
