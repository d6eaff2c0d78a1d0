//! Projects, their public keys (`projects`, `project_keys`) and their counters.

use std::collections::HashMap;

use super::db::{Arg, Executor, IdRow};
use super::{now_ms, Store, StoreError};

/// A project: events arrive for it under its public key.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Project {
    /// Numeric project id, the last path segment of the DSN.
    pub id: i64,
    /// Human name.
    pub name: String,
    /// The active public key (32 lowercase hex) used as DSN user-info.
    pub public_key: String,
    /// Creation time, epoch milliseconds.
    pub created_ms: i64,
}

/// What a public key authorizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The project the key belongs to.
    pub project_id: i64,
    /// False when the key was disabled.
    pub key_active: bool,
    /// False when the project was disabled.
    pub project_active: bool,
}

/// Counters of one project, from the issue table's denormalized counts (cheap at any size).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProjectStats {
    /// Issues of the project.
    pub issues: i64,
    /// Events stored for those issues.
    pub events: i64,
    /// Issues currently unresolved.
    pub unresolved: i64,
}

row! {
    struct ProjectRow {
        project_id: i64,
        name: String,
        public_key: Option<String>,
        created_ms: i64,
    }
}

impl From<ProjectRow> for Project {
    fn from(r: ProjectRow) -> Self {
        Project {
            id: r.project_id,
            name: r.name,
            public_key: r.public_key.unwrap_or_default(),
            created_ms: r.created_ms,
        }
    }
}

row! {
    struct KeyInfoRow {
        project_id: i64,
        key_active: bool,
        project_active: bool,
    }
}

row! {
    struct StatsRow {
        project_id: i64,
        issues: i64,
        events: i64,
        unresolved: i64,
    }
}

row! {
    struct CountsRow {
        events: i64,
        issues: i64,
    }
}

/// Projects with their preferred key: the oldest active one, else the oldest disabled one.
const PROJECT_SELECT: &str = "select p.project_id, p.name, p.created_ms, \
    (select k.public_key from project_keys k where k.project_id = p.project_id \
     order by k.active desc, k.created_ms, k.public_key limit 1) as public_key \
    from projects p";

impl Store {
    /// Creates a project with a fresh random public key (32 lowercase hex).
    pub async fn create_project(&self, name: &str) -> Result<Project, StoreError> {
        let key = hex::encode(rand::random::<[u8; 16]>());
        self.create_project_with_key(name, &key).await
    }

    /// Creates a project with the given public key (fixtures use `publickey`).
    /// Errors: [`StoreError::Conflict`] when the key is already in use.
    pub async fn create_project_with_key(
        &self,
        name: &str,
        public_key: &str,
    ) -> Result<Project, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin_write().await?;
        let id = tx
            .fetch_one::<IdRow>(
                "insert into projects (name, active, created_ms) values ($1, true, $2) \
                 returning project_id as id",
                vec![name.into(), now.into()],
            )
            .await?
            .id;
        tx.execute(
            "insert into project_keys (public_key, project_id, active, created_ms) \
             values ($1, $2, true, $3)",
            vec![public_key.into(), id.into(), now.into()],
        )
        .await?;
        super::alert_rules::insert_default_rule(&mut tx, id, now).await?;
        tx.commit().await?;
        Ok(Project {
            id,
            name: name.to_owned(),
            public_key: public_key.to_owned(),
            created_ms: now,
        })
    }

    /// All projects, by id (not those being deleted).
    pub async fn list_projects(&self) -> Result<Vec<Project>, StoreError> {
        let sql = format!("{PROJECT_SELECT} where p.deleted_ms is null order by p.project_id");
        let rows = self.db().fetch_all::<ProjectRow>(&sql, vec![]).await?;
        Ok(rows.into_iter().map(Project::from).collect())
    }

    /// One project. Errors: [`StoreError::NotFound`], also for a project being deleted.
    pub async fn project(&self, project_id: i64) -> Result<Project, StoreError> {
        let sql = format!("{PROJECT_SELECT} where p.project_id = $1 and p.deleted_ms is null");
        let row = self
            .db()
            .fetch_one::<ProjectRow>(&sql, vec![project_id.into()])
            .await?;
        Ok(row.into())
    }

    /// What a public key authorizes; `None` for an unknown key (compared exactly).
    pub async fn key_info(&self, public_key: &str) -> Result<Option<KeyInfo>, StoreError> {
        let row = self
            .db()
            .fetch_optional::<KeyInfoRow>(
                "select k.project_id, k.active as key_active, p.active as project_active \
                 from project_keys k join projects p on p.project_id = k.project_id \
                 where k.public_key = $1",
                vec![public_key.into()],
            )
            .await?;
        Ok(row.map(|r| KeyInfo {
            project_id: r.project_id,
            key_active: r.key_active,
            project_active: r.project_active,
        }))
    }

    /// Enables or disables a public key. Errors: [`StoreError::NotFound`].
    pub async fn set_key_active(&self, public_key: &str, active: bool) -> Result<(), StoreError> {
        self.db()
            .execute_one(
                "update project_keys set active = $1 where public_key = $2",
                vec![active.into(), public_key.into()],
            )
            .await
    }

    /// Enables or disables a project (all its keys). Errors: [`StoreError::NotFound`].
    pub async fn set_project_active(
        &self,
        project_id: i64,
        active: bool,
    ) -> Result<(), StoreError> {
        self.db()
            .execute_one(
                "update projects set active = $1 where project_id = $2",
                vec![active.into(), project_id.into()],
            )
            .await
    }

    /// Issue and event counters of every project that has issues.
    pub async fn project_stats(&self) -> Result<HashMap<i64, ProjectStats>, StoreError> {
        let rows = self
            .db()
            .fetch_all::<StatsRow>(
                "select project_id, count(*) as issues, \
                 cast(coalesce(sum(event_count), 0) as bigint) as events, \
                 cast(coalesce(sum(case when status = 'unresolved' then 1 else 0 end), 0) \
                   as bigint) as unresolved \
                 from issues group by project_id",
                vec![],
            )
            .await?;
        let stats = |r: StatsRow| {
            let counters = ProjectStats {
                issues: r.issues,
                events: r.events,
                unresolved: r.unresolved,
            };
            (r.project_id, counters)
        };
        Ok(rows.into_iter().map(stats).collect())
    }

    /// `(events, issues)` stored, for one project or all. Counts rows, so it costs a scan of
    /// the events index: meant for dashboards and tests, not per-request paths.
    pub async fn counts(&self, project_id: Option<i64>) -> Result<(i64, i64), StoreError> {
        let (filter, args) = match project_id {
            Some(id) => (" where project_id = $1", vec![Arg::from(id)]),
            None => ("", vec![]),
        };
        let sql = format!(
            "select (select count(*) from events{filter}) as events, \
             (select count(*) from issues{filter}) as issues"
        );
        let row = self.db().fetch_one::<CountsRow>(&sql, args).await?;
        Ok((row.events, row.issues))
    }
}
