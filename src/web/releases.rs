//! The Releases page of a project (`/projects/{id}/releases`): every release, newest first,
//! whether the releases API created it or it was only seen on events, with its first and last
//! event, event count, new issues, deploys per environment, commits and uploaded artifacts
//! (source maps and minified files with their sizes); then the artifacts uploaded without a
//! release (debug-ID bundles). Also the release summary of the issue page.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::auth::CurrentUser;
use super::view::{when, Layout, When};
use super::{urlencode, WebError, WebState};
use crate::clock::system_now_ms as now_ms;
use crate::store::{ArtifactRef, Deploy, Project, Store, StoreError};

/// Releases shown on the page.
pub const PAGE_RELEASES: usize = 50;

/// What `releases.html` shows.
#[derive(Debug, Serialize)]
struct ReleasesPage<'a> {
    #[serde(flatten)]
    layout: Layout<'a>,
    project: &'a Project,
    releases: Vec<ReleaseView>,
    /// Artifacts uploaded without a release.
    unreleased: ArtifactsView,
}

/// One release.
#[derive(Debug, Serialize)]
struct ReleaseView {
    version: String,
    /// Anchor id of the release on the page.
    anchor: String,
    created: When,
    /// Finalized (`dateReleased`), if it was.
    released: Option<When>,
    first_event: Option<When>,
    last_event: Option<When>,
    events: i64,
    new_issues: i64,
    /// Up to ten of the new issues: `(id, title)`.
    new_issue_list: Vec<(i64, String)>,
    /// The issue list searched for this release.
    issues_url: String,
    /// Latest deploy per environment.
    deploys: Vec<DeployView>,
    /// `repository@id` of each commit.
    commits: Vec<String>,
    artifacts: ArtifactsView,
    /// Created by the API (else only seen on events).
    from_api: bool,
}

/// A deploy: environment and when.
#[derive(Debug, Clone, Serialize)]
pub struct DeployView {
    /// Where.
    pub environment: String,
    /// Its name, if any.
    pub name: Option<String>,
    /// When it finished.
    pub at: When,
}

/// Artifacts of a release, with their total size.
#[derive(Debug, Serialize, Default)]
struct ArtifactsView {
    files: Vec<ArtifactView>,
    total: String,
}

#[derive(Debug, Serialize)]
struct ArtifactView {
    url: String,
    kind: String,
    debug_id: Option<String>,
    size: String,
    uploaded: When,
}

/// Bytes as `12.3 KiB`.
pub fn human_bytes(n: i64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

fn artifacts_view(files: &[ArtifactRef], now: i64) -> ArtifactsView {
    ArtifactsView {
        files: files
            .iter()
            .map(|f| ArtifactView {
                url: f.url.clone().unwrap_or_else(|| "(no URL)".to_owned()),
                kind: f.kind.replace('_', " "),
                debug_id: f.debug_id.clone(),
                size: human_bytes(f.size),
                uploaded: when(f.created_ms, now),
            })
            .collect(),
        total: human_bytes(files.iter().map(|f| f.size).sum()),
    }
}

/// The newest deploy of each environment, newest first (`deploys` come newest first).
pub fn latest_per_environment(deploys: &[Deploy], now: i64) -> Vec<DeployView> {
    let mut out: Vec<DeployView> = Vec::new();
    for d in deploys {
        if !out.iter().any(|o| o.environment == d.environment) {
            out.push(DeployView {
                environment: d.environment.clone(),
                name: d.name.clone(),
                at: when(d.finished_ms, now),
            });
        }
    }
    out
}

/// `GET /projects/{id}/releases`.
pub async fn list(
    State(state): State<WebState>,
    user: CurrentUser,
    Path(project_id): Path<i64>,
) -> Result<Response, WebError> {
    let store = &state.app.store;
    let project = store.project(project_id).await?;
    let now = now_ms();
    let mut releases = Vec::new();
    for (i, s) in store
        .list_releases(project_id, PAGE_RELEASES)
        .await?
        .into_iter()
        .enumerate()
    {
        let deploys = match &s.release {
            Some(r) => store.deploys(&[r.id]).await?,
            None => Vec::new(),
        };
        let artifacts = store
            .release_artifacts(project_id, Some(&s.version))
            .await?;
        let new_issue_list = if s.stats.new_issues > 0 {
            store.release_new_issues(project_id, &s.version, 10).await?
        } else {
            Vec::new()
        };
        let commits = s
            .release
            .as_ref()
            .and_then(|r| r.commits.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|c| {
                let repo = c["repository"].as_str().unwrap_or("?");
                let id = c["id"].as_str().unwrap_or("?");
                format!("{repo}@{id}")
            })
            .collect();
        releases.push(ReleaseView {
            anchor: format!("release-{i}"),
            created: when(s.created_ms(), now),
            released: s
                .release
                .as_ref()
                .and_then(|r| r.released_ms)
                .map(|ms| when(ms, now)),
            first_event: s.stats.first_event_ms.map(|ms| when(ms, now)),
            last_event: s.stats.last_event_ms.map(|ms| when(ms, now)),
            events: s.stats.events,
            new_issues: s.stats.new_issues,
            new_issue_list,
            issues_url: format!(
                "/projects/{project_id}/issues?q={}",
                urlencode(&format!("release:\"{}\"", s.version))
            ),
            deploys: latest_per_environment(&deploys, now),
            commits,
            artifacts: artifacts_view(&artifacts, now),
            from_api: s.release.is_some(),
            version: s.version,
        });
    }
    let unreleased = store.release_artifacts(project_id, None).await?;
    let page = ReleasesPage {
        layout: Layout::of(&user),
        project: &project,
        releases,
        unreleased: artifacts_view(&unreleased, now),
    };
    Ok(state
        .templates
        .render("releases.html", page)?
        .into_response())
}

/// The issue page's release summary: the releases the issue was first and last seen in,
/// each with its latest deploy per environment.
#[derive(Debug, Serialize)]
pub struct IssueReleases {
    /// First seen in.
    pub first: Option<ReleaseDeploys>,
    /// Last seen in (absent when the same as the first).
    pub last: Option<ReleaseDeploys>,
    /// The project's Releases page.
    pub url: String,
}

/// A release and its deploys.
#[derive(Debug, Serialize)]
pub struct ReleaseDeploys {
    /// The version.
    pub version: String,
    /// Latest deploy per environment.
    pub deploys: Vec<DeployView>,
}

/// [`IssueReleases`] of an issue; `None` when its events carry no release.
pub async fn issue_releases(
    store: &Store,
    project_id: i64,
    issue_id: i64,
) -> Result<Option<IssueReleases>, StoreError> {
    let (first, last) = store.issue_release_span(issue_id).await?;
    if first.is_none() {
        return Ok(None);
    }
    let now = now_ms();
    let mut out = Vec::new();
    for version in [first.clone(), last.filter(|l| Some(l) != first.as_ref())] {
        out.push(match version {
            Some(version) => {
                let deploys = match store.release(project_id, &version).await {
                    Ok(r) => store.deploys(&[r.id]).await?,
                    Err(StoreError::NotFound) => Vec::new(),
                    Err(e) => return Err(e),
                };
                Some(ReleaseDeploys {
                    deploys: latest_per_environment(&deploys, now),
                    version,
                })
            }
            None => None,
        });
    }
    let last = out.pop().flatten();
    let first = out.pop().flatten();
    Ok(Some(IssueReleases {
        first,
        last,
        url: format!("/projects/{project_id}/releases"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(2048), "2.0 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 + 1), "3.0 MiB");
    }

    #[test]
    fn latest_deploy_per_environment() {
        let d = |id, env: &str, at| Deploy {
            id,
            release_id: 1,
            environment: env.to_owned(),
            name: None,
            url: None,
            started_ms: None,
            finished_ms: at,
        };
        let list = latest_per_environment(
            &[d(3, "prod", 30), d(2, "staging", 20), d(1, "prod", 10)],
            40,
        );
        let envs: Vec<&str> = list.iter().map(|d| d.environment.as_str()).collect();
        assert_eq!(envs, ["prod", "staging"]);
        assert_eq!(list[0].at.iso, crate::timefmt::rfc3339_ms(30));
    }
}
