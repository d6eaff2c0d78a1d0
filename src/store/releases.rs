//! Releases and deploys (`releases`, `deploys`), as the releases API of `sentry-cli` creates
//! them, plus what the events say about each release: first and last event, event count and
//! new issues, read from `issue_tags` (the `release` tag every event carries), so ingestion
//! does no extra work for releases.

use std::collections::BTreeMap;

use serde_json::Value;

use super::db::{placeholders, Arg, Executor, IdRow};
use super::{now_ms, Store, StoreError};

/// A release created through the API.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Release {
    /// Row id.
    pub id: i64,
    /// Its project.
    pub project_id: i64,
    /// The version string (`shop@1.2.3`).
    pub version: String,
    /// A URL the CLI may give.
    pub url: Option<String>,
    /// Creation, epoch ms.
    pub created_ms: i64,
    /// `dateReleased` (finalize), epoch ms; `None` while open.
    pub released_ms: Option<i64>,
    /// Commits as set by `set-commits`: `[{repository, id, previousId?, message?, …}]`.
    pub commits: Value,
}

row! {
    struct ReleaseRow {
        release_id: i64,
        project_id: i64,
        version: String,
        url: Option<String>,
        created_ms: i64,
        released_ms: Option<i64>,
        commits: String,
    }
}

impl From<ReleaseRow> for Release {
    fn from(r: ReleaseRow) -> Self {
        Release {
            id: r.release_id,
            project_id: r.project_id,
            version: r.version,
            url: r.url,
            created_ms: r.created_ms,
            released_ms: r.released_ms,
            // Written by this module from a JSON value; anything else reads as no commits.
            commits: serde_json::from_str(&r.commits).unwrap_or(Value::Array(Vec::new())),
        }
    }
}

const RELEASE_COLUMNS: &str =
    "release_id, project_id, version, url, created_ms, released_ms, commits";

/// Changes to a release; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct ReleaseUpdate {
    /// New URL.
    pub url: Option<String>,
    /// Finalize at this time (epoch ms).
    pub released_ms: Option<i64>,
    /// Replace the commits.
    pub commits: Option<Value>,
}

/// A deploy of a release to an environment.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Deploy {
    /// Row id.
    pub id: i64,
    /// The release deployed.
    pub release_id: i64,
    /// Where (`production`).
    pub environment: String,
    /// Optional name.
    pub name: Option<String>,
    /// Optional URL.
    pub url: Option<String>,
    /// `dateStarted`, epoch ms.
    pub started_ms: Option<i64>,
    /// `dateFinished`, epoch ms (creation time when not given).
    pub finished_ms: i64,
}

row! {
    struct DeployRow {
        deploy_id: i64,
        release_id: i64,
        environment: String,
        name: Option<String>,
        url: Option<String>,
        started_ms: Option<i64>,
        finished_ms: i64,
    }
}

impl From<DeployRow> for Deploy {
    fn from(r: DeployRow) -> Self {
        Deploy {
            id: r.deploy_id,
            release_id: r.release_id,
            environment: r.environment,
            name: r.name,
            url: r.url,
            started_ms: r.started_ms,
            finished_ms: r.finished_ms,
        }
    }
}

const DEPLOY_COLUMNS: &str =
    "deploy_id, release_id, environment, name, url, started_ms, finished_ms";

/// What the events say about a release.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReleaseStats {
    /// First event of the release, epoch ms.
    pub first_event_ms: Option<i64>,
    /// Last event, epoch ms.
    pub last_event_ms: Option<i64>,
    /// Events counted.
    pub events: i64,
    /// Issues whose first event carried this release.
    pub new_issues: i64,
}

row! {
    struct StatsRow {
        version: String,
        first_ms: Option<i64>,
        last_ms: Option<i64>,
        events: Option<i64>,
        new_issues: Option<i64>,
    }
}

/// The per-release aggregate over `issue_tags` of one project; `{filter}` narrows the
/// versions.
const STATS_SQL: &str = "select t.value as version, min(t.first_seen_ms) as first_ms, \
    max(t.last_seen_ms) as last_ms, cast(sum(t.count) as bigint) as events, \
    cast(sum(case when t.first_seen_ms <= i.first_seen_ms then 1 else 0 end) as bigint) \
    as new_issues \
    from issue_tags t join issues i on i.issue_id = t.issue_id \
    where t.key = 'release' and i.project_id = $1 {filter} group by t.value";

/// A release as the Releases page and `sentry-cli releases list` show it: the API's row, if
/// any, and the events' numbers.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReleaseSummary {
    /// The version.
    pub version: String,
    /// The API's row; `None` for a release seen only on events.
    pub release: Option<Release>,
    /// What the events say.
    pub stats: ReleaseStats,
}

impl ReleaseSummary {
    /// When the release was first known: its creation, else its first event.
    pub fn created_ms(&self) -> i64 {
        self.release
            .as_ref()
            .map(|r| r.created_ms)
            .or(self.stats.first_event_ms)
            .unwrap_or(0)
    }
}

impl Store {
    /// Creates the release `version` of a project, or returns the existing one. The flag
    /// tells whether it was created.
    pub async fn create_release(
        &self,
        project_id: i64,
        version: &str,
        url: Option<&str>,
        released_ms: Option<i64>,
    ) -> Result<(Release, bool), StoreError> {
        let created: Option<IdRow> = self
            .db()
            .fetch_optional(
                "insert into releases (project_id, version, url, created_ms, released_ms) \
                 values ($1, $2, $3, $4, $5) on conflict (project_id, version) do nothing \
                 returning release_id as id",
                vec![
                    project_id.into(),
                    version.into(),
                    url.into(),
                    now_ms().into(),
                    released_ms.into(),
                ],
            )
            .await?;
        Ok((self.release(project_id, version).await?, created.is_some()))
    }

    /// The release `version` of a project; [`StoreError::NotFound`] when the API never
    /// created it.
    pub async fn release(&self, project_id: i64, version: &str) -> Result<Release, StoreError> {
        let row: ReleaseRow = self
            .db()
            .fetch_one(
                &format!(
                    "select {RELEASE_COLUMNS} from releases where project_id = $1 and version = $2"
                ),
                vec![project_id.into(), version.into()],
            )
            .await?;
        Ok(row.into())
    }

    /// The release `version` in every project that has it, by project id.
    pub async fn releases_named(&self, version: &str) -> Result<Vec<Release>, StoreError> {
        let rows: Vec<ReleaseRow> = self
            .db()
            .fetch_all(
                &format!(
                    "select {RELEASE_COLUMNS} from releases where version = $1 order by project_id"
                ),
                vec![version.into()],
            )
            .await?;
        Ok(rows.into_iter().map(Release::from).collect())
    }

    /// Applies `update` to a release; [`StoreError::NotFound`] when it does not exist.
    pub async fn update_release(
        &self,
        project_id: i64,
        version: &str,
        update: &ReleaseUpdate,
    ) -> Result<Release, StoreError> {
        let commits = update.commits.as_ref().map(Value::to_string);
        self.db()
            .execute_one(
                "update releases set url = coalesce($3, url), \
                 released_ms = coalesce($4, released_ms), commits = coalesce($5, commits) \
                 where project_id = $1 and version = $2",
                vec![
                    project_id.into(),
                    version.into(),
                    update.url.as_deref().into(),
                    update.released_ms.into(),
                    commits.into(),
                ],
            )
            .await?;
        self.release(project_id, version).await
    }

    /// Deletes a release and its deploys; its artifacts are left to
    /// [`Store::purge_artifacts`]. [`StoreError::NotFound`] when it does not exist.
    pub async fn delete_release(&self, project_id: i64, version: &str) -> Result<(), StoreError> {
        let release = self.release(project_id, version).await?;
        let mut tx = self.pool.begin_write().await?;
        tx.execute(
            "delete from deploys where release_id = $1",
            vec![release.id.into()],
        )
        .await?;
        tx.execute_one(
            "delete from releases where release_id = $1",
            vec![release.id.into()],
        )
        .await?;
        tx.commit().await
    }

    /// Records a deploy of a release.
    pub async fn create_deploy(
        &self,
        release_id: i64,
        environment: &str,
        name: Option<&str>,
        url: Option<&str>,
        started_ms: Option<i64>,
        finished_ms: Option<i64>,
    ) -> Result<Deploy, StoreError> {
        let row: DeployRow = self
            .db()
            .fetch_one(
                &format!(
                    "insert into deploys (release_id, environment, name, url, started_ms, \
                     finished_ms) values ($1, $2, $3, $4, $5, $6) returning {DEPLOY_COLUMNS}"
                ),
                vec![
                    release_id.into(),
                    environment.into(),
                    name.into(),
                    url.into(),
                    started_ms.into(),
                    finished_ms.unwrap_or_else(now_ms).into(),
                ],
            )
            .await?;
        Ok(row.into())
    }

    /// The deploys of releases, newest first.
    pub async fn deploys(&self, release_ids: &[i64]) -> Result<Vec<Deploy>, StoreError> {
        if release_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "select {DEPLOY_COLUMNS} from deploys where release_id in ({}) \
             order by finished_ms desc, deploy_id desc limit 500",
            placeholders(1, release_ids.len())
        );
        let args = release_ids.iter().map(|&id| Arg::from(id)).collect();
        let rows: Vec<DeployRow> = self.db().fetch_all(&sql, args).await?;
        Ok(rows.into_iter().map(Deploy::from).collect())
    }

    /// A project's releases, newest first (by creation, else first event): those the API
    /// created and those only seen on events, each with its events' numbers. At most
    /// `limit` (1–500).
    pub async fn list_releases(
        &self,
        project_id: i64,
        limit: usize,
    ) -> Result<Vec<ReleaseSummary>, StoreError> {
        let limit = i64::try_from(limit.clamp(1, 500)).unwrap_or(500);
        let rows: Vec<ReleaseRow> = self
            .db()
            .fetch_all(
                &format!(
                    "select {RELEASE_COLUMNS} from releases where project_id = $1 \
                     order by created_ms desc, release_id desc limit $2"
                ),
                vec![project_id.into(), limit.into()],
            )
            .await?;
        let sql = STATS_SQL.replace("{filter}", "") + " order by last_ms desc limit $2";
        let stats: Vec<StatsRow> = self
            .db()
            .fetch_all(&sql, vec![project_id.into(), limit.into()])
            .await?;
        let mut by_version: BTreeMap<String, ReleaseSummary> = BTreeMap::new();
        for r in rows {
            let release = Release::from(r);
            by_version.insert(
                release.version.clone(),
                ReleaseSummary {
                    version: release.version.clone(),
                    release: Some(release),
                    stats: ReleaseStats::default(),
                },
            );
        }
        for s in stats {
            let entry = by_version
                .entry(s.version.clone())
                .or_insert_with(|| ReleaseSummary {
                    version: s.version.clone(),
                    release: None,
                    stats: ReleaseStats::default(),
                });
            entry.stats = stats_of(&s);
        }
        let mut out: Vec<ReleaseSummary> = by_version.into_values().collect();
        out.sort_by_key(|s| std::cmp::Reverse(s.created_ms()));
        out.truncate(usize::try_from(limit).unwrap_or(500));
        Ok(out)
    }

    /// What the events say about `versions` of a project (versions without events are
    /// absent).
    pub async fn release_stats(
        &self,
        project_id: i64,
        versions: &[&str],
    ) -> Result<BTreeMap<String, ReleaseStats>, StoreError> {
        if versions.is_empty() {
            return Ok(BTreeMap::new());
        }
        let filter = format!("and t.value in ({})", placeholders(2, versions.len()));
        let sql = STATS_SQL.replace("{filter}", &filter);
        let mut args: Vec<Arg<'_>> = vec![project_id.into()];
        args.extend(versions.iter().map(|&v| Arg::from(v)));
        let rows: Vec<StatsRow> = self.db().fetch_all(&sql, args).await?;
        Ok(rows
            .iter()
            .map(|s| (s.version.clone(), stats_of(s)))
            .collect())
    }

    /// Ids and titles of the issues whose first event carried `version`, newest first.
    pub async fn release_new_issues(
        &self,
        project_id: i64,
        version: &str,
        limit: usize,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let limit = i64::try_from(limit.clamp(1, 100)).unwrap_or(100);
        let rows: Vec<IssueTitleRow> = self
            .db()
            .fetch_all(
                "select i.issue_id, i.title from issue_tags t \
                 join issues i on i.issue_id = t.issue_id \
                 where t.key = 'release' and t.value = $2 and i.project_id = $1 \
                 and t.first_seen_ms <= i.first_seen_ms \
                 order by i.first_seen_ms desc, i.issue_id desc limit $3",
                vec![project_id.into(), version.into(), limit.into()],
            )
            .await?;
        Ok(rows.into_iter().map(|r| (r.issue_id, r.title)).collect())
    }

    /// The releases an issue was first and last seen in: `(first, last)`, from its
    /// `release` tags.
    pub async fn issue_release_span(
        &self,
        issue_id: i64,
    ) -> Result<(Option<String>, Option<String>), StoreError> {
        let rows: Vec<TagValueRow> = self
            .db()
            .fetch_all(
                "select value, first_seen_ms, last_seen_ms from issue_tags \
                 where issue_id = $1 and key = 'release'",
                vec![issue_id.into()],
            )
            .await?;
        let first = rows.iter().min_by_key(|r| r.first_seen_ms);
        let last = rows.iter().max_by_key(|r| r.last_seen_ms);
        Ok((
            first.map(|r| r.value.clone()),
            last.map(|r| r.value.clone()),
        ))
    }
}

row! {
    struct IssueTitleRow {
        issue_id: i64,
        title: String,
    }
}

row! {
    struct TagValueRow {
        value: String,
        first_seen_ms: i64,
        last_seen_ms: i64,
    }
}

fn stats_of(s: &StatsRow) -> ReleaseStats {
    ReleaseStats {
        first_event_ms: s.first_ms,
        last_event_ms: s.last_ms,
        events: s.events.unwrap_or(0),
        new_issues: s.new_issues.unwrap_or(0),
    }
}
