//! Discarded grouping hashes (`discarded_groupings`): "delete and discard future events" of
//! an issue records every grouping of the issue here; ingestion drops events whose hash is
//! listed (from an in-memory copy, `src/retention/policies.rs`), and removing the row undoes
//! it.

use crate::store::db::Executor;
use crate::store::{Store, StoreError};

/// A grouping hash whose events are dropped at ingest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DiscardedGrouping {
    /// The project.
    pub project_id: i64,
    /// Grouping rules version (`"v1"`).
    pub grouping_version: String,
    /// Grouping hash (64 hex).
    pub hash: String,
    /// Title of the issue that was deleted.
    pub issue_title: String,
    /// When it was discarded (epoch ms).
    pub discarded_ms: i64,
}

row! {
    struct DiscardedRow {
        project_id: i64,
        grouping_version: String,
        hash: String,
        issue_title: String,
        discarded_ms: i64,
    }
}

impl From<DiscardedRow> for DiscardedGrouping {
    fn from(r: DiscardedRow) -> Self {
        DiscardedGrouping {
            project_id: r.project_id,
            grouping_version: r.grouping_version,
            hash: r.hash,
            issue_title: r.issue_title,
            discarded_ms: r.discarded_ms,
        }
    }
}

impl Store {
    /// Records every grouping hash of an issue as discarded (the issue itself is deleted
    /// afterwards, in batches: [`crate::retention::discard_issue`]). Returns how many hashes
    /// were recorded. Errors: [`StoreError::NotFound`] for an unknown issue.
    pub async fn discard_issue_groupings(
        &self,
        issue_id: i64,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        self.issue(issue_id).await?;
        self.db()
            .execute(
                "insert into discarded_groupings \
                 (project_id, grouping_version, hash, issue_title, discarded_ms) \
                 select g.project_id, g.grouping_version, g.hash, i.title, $2 \
                 from groupings g join issues i on i.issue_id = g.issue_id \
                 where g.issue_id = $1 \
                 on conflict (project_id, grouping_version, hash) do nothing",
                vec![issue_id.into(), now_ms.into()],
            )
            .await
    }

    /// Every discarded hash, of one project or all, newest first.
    pub async fn discarded_groupings(
        &self,
        project_id: Option<i64>,
    ) -> Result<Vec<DiscardedGrouping>, StoreError> {
        let (filter, args) = match project_id {
            Some(id) => (" where project_id = $1", vec![id.into()]),
            None => ("", vec![]),
        };
        let sql = format!(
            "select project_id, grouping_version, hash, issue_title, discarded_ms \
             from discarded_groupings{filter} order by discarded_ms desc, hash"
        );
        let rows = self.db().fetch_all::<DiscardedRow>(&sql, args).await?;
        Ok(rows.into_iter().map(DiscardedGrouping::from).collect())
    }

    /// Undoes a discard: events with this hash are stored again (into a new issue).
    /// Errors: [`StoreError::NotFound`] when the hash was not discarded in the project.
    pub async fn undiscard_grouping(&self, project_id: i64, hash: &str) -> Result<(), StoreError> {
        self.db()
            .execute_one(
                "delete from discarded_groupings where project_id = $1 and hash = $2",
                vec![project_id.into(), hash.into()],
            )
            .await
    }
}
