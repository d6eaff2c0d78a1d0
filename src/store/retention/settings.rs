//! Per-project lifecycle settings (`projects.retention_days`, `max_events_per_issue`,
//! `rate_limit_per_minute`) and the mark that starts a project's deletion
//! (`projects.deleted_ms`).

use crate::store::db::Executor;
use crate::store::{Store, StoreError};

row! {
    /// A project's lifecycle settings; `None` means the configuration's value (or no limit).
    /// Read straight from `projects` (it is its own row type: the columns are the fields).
    #[derive(Clone, PartialEq, Eq, serde::Serialize)]
    pub struct ProjectLimits {
        /// The project.
        pub project_id: i64,
        /// Its name.
        pub name: String,
        /// Days an event is kept after it was received.
        pub retention_days: Option<i64>,
        /// Most events kept per issue.
        pub max_events_per_issue: Option<i64>,
        /// Most events accepted per minute (per server, see `src/retention/quota.rs`).
        pub rate_limit_per_minute: Option<i64>,
        /// When its deletion started (epoch ms); such a project takes no events and is
        /// finished off by the next retention pass.
        pub deleted_ms: Option<i64>,
    }
}

/// One of the settings of [`ProjectLimits`], for [`Store::set_project_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `retention_days`.
    RetentionDays,
    /// `max_events_per_issue`.
    MaxEventsPerIssue,
    /// `rate_limit_per_minute`.
    RateLimitPerMinute,
}

impl Limit {
    fn column(self) -> &'static str {
        match self {
            Limit::RetentionDays => "retention_days",
            Limit::MaxEventsPerIssue => "max_events_per_issue",
            Limit::RateLimitPerMinute => "rate_limit_per_minute",
        }
    }
}

const LIMITS_SELECT: &str = "select project_id, name, retention_days, max_events_per_issue, \
    rate_limit_per_minute, deleted_ms from projects";

impl Store {
    /// The settings of every project, deleted ones included, by id.
    pub async fn project_limits(&self) -> Result<Vec<ProjectLimits>, StoreError> {
        let sql = format!("{LIMITS_SELECT} order by project_id");
        self.db().fetch_all(&sql, vec![]).await
    }

    /// The settings of one project. Errors: [`StoreError::NotFound`].
    pub async fn project_limit(&self, project_id: i64) -> Result<ProjectLimits, StoreError> {
        let sql = format!("{LIMITS_SELECT} where project_id = $1");
        self.db().fetch_one(&sql, vec![project_id.into()]).await
    }

    /// Sets one setting of a project (`None`: back to the configuration's value). Values are
    /// checked by the caller (`src/retention/settings.rs`). Errors: [`StoreError::NotFound`].
    pub async fn set_project_limit(
        &self,
        project_id: i64,
        limit: Limit,
        value: Option<i64>,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "update projects set {} = $1 where project_id = $2",
            limit.column()
        );
        self.db()
            .execute_one(&sql, vec![value.into(), project_id.into()])
            .await
    }

    /// Starts deleting a project: it is disabled (its keys are refused at once on this
    /// server, within the key cache's lifetime on others) and hidden from lists; the deletion
    /// itself runs in batches ([`crate::retention::delete_project`]). Keeps the first mark's
    /// time when called again. Errors: [`StoreError::NotFound`].
    pub async fn mark_project_deleted(
        &self,
        project_id: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.db()
            .execute_one(
                "update projects set active = false, deleted_ms = coalesce(deleted_ms, $1) \
                 where project_id = $2",
                vec![now_ms.into(), project_id.into()],
            )
            .await
    }
}
