//! The releases API of CI pipelines: `sentry-cli releases new|finalize|list|delete|
//! set-commits`, `sentry-cli deploys new|list` (sentry-cli `src/api/mod.rs`: `NewRelease`,
//! `UpdatedRelease`, `ReleaseInfo`, `Deploy`, `Repo`).
//!
//! A Sentry release belongs to an organization and lists projects; here each project has its
//! own row of the same version, and the organization routes act on every project that has
//! the version.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::uploads::parse_json;
use super::{api_time, parse_time, projects_named, Uploader};
use crate::error::ApiError;
use crate::store::{Deploy, Project, Release, ReleaseStats, ReleaseUpdate, StoreError};
use crate::AppState;

/// Most commits kept per release.
pub const MAX_COMMITS: usize = 1000;

/// Body of `POST …/releases/`.
#[derive(Debug, Deserialize)]
pub struct NewRelease {
    version: String,
    #[serde(default)]
    projects: Vec<Value>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default, rename = "dateReleased")]
    date_released: Option<String>,
}

/// Body of `PUT …/releases/{version}/`.
#[derive(Debug, Deserialize)]
pub struct UpdatedRelease {
    #[serde(default)]
    url: Option<String>,
    #[serde(default, rename = "dateReleased")]
    date_released: Option<String>,
    #[serde(default)]
    refs: Option<Vec<Ref>>,
    #[serde(default)]
    commits: Option<Vec<Value>>,
}

/// A head commit of `set-commits --commit REPO@[PREV..]SHA`.
#[derive(Debug, Deserialize)]
pub struct Ref {
    repository: String,
    commit: String,
    #[serde(default, rename = "previousCommit")]
    previous_commit: Option<String>,
}

/// Body of `POST …/deploys/`.
#[derive(Debug, Deserialize)]
pub struct NewDeploy {
    environment: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default, rename = "dateStarted")]
    date_started: Option<String>,
    #[serde(default, rename = "dateFinished")]
    date_finished: Option<String>,
    #[serde(default)]
    projects: Option<Vec<String>>,
}

/// `?project=` of the organization's release list.
#[derive(Debug, Deserialize)]
pub struct ListParams {
    project: Option<String>,
}

/// A release as sentry-cli reads it (`ReleaseInfo`): the rows of one version across projects.
fn release_json(rows: &[(Release, &Project)], stats: ReleaseStats, deploys: &[Deploy]) -> Value {
    let Some((first, _)) = rows.first() else {
        return Value::Null;
    };
    let commits = first.commits.as_array().map(Vec::as_slice).unwrap_or(&[]);
    let last_deploy = deploys.first().map(deploy_json);
    json!({
        "version": first.version,
        "shortVersion": first.version,
        "ref": Value::Null,
        "url": first.url,
        "status": "open",
        "dateCreated": api_time(rows.iter().map(|(r, _)| r.created_ms).min().unwrap_or(0)),
        "dateReleased": first.released_ms.map(api_time),
        "firstEvent": stats.first_event_ms.map(api_time),
        "lastEvent": stats.last_event_ms.map(api_time),
        "newGroups": stats.new_issues,
        "commitCount": commits.len(),
        "lastCommit": commits.last(),
        "deployCount": deploys.len(),
        "lastDeploy": last_deploy,
        "projects": rows.iter().map(|(_, p)| json!({"id": p.id, "slug": p.name, "name": p.name})).collect::<Vec<_>>(),
    })
}

fn deploy_json(d: &Deploy) -> Value {
    json!({
        "id": d.id.to_string(),
        "environment": d.environment,
        "name": d.name,
        "url": d.url,
        "dateStarted": d.started_ms.map(api_time),
        "dateFinished": api_time(d.finished_ms),
    })
}

/// The rows of `version` in the projects `who` sees; 404 when none of them has it (a version
/// only other projects have does not exist for this caller).
async fn visible_rows(
    app: &AppState,
    who: &Uploader,
    version: &str,
) -> Result<Vec<Release>, ApiError> {
    let rows: Vec<Release> = app
        .store
        .releases_named(version)
        .await?
        .into_iter()
        .filter(|r| who.sees(r.project_id))
        .collect();
    if rows.is_empty() {
        return Err(ApiError::not_found(format!(
            "release {version:?} does not exist"
        )));
    }
    Ok(rows)
}

/// The version's rows (in the projects `who` sees) with their projects, its events' numbers
/// summed over them, and its deploys; 404 when no such project has the version.
async fn load_release(
    app: &AppState,
    who: &Uploader,
    version: &str,
    only: Option<i64>,
) -> Result<(Vec<(Release, Project)>, ReleaseStats, Vec<Deploy>), ApiError> {
    let projects = app.store.list_projects().await?;
    let rows: Vec<(Release, Project)> = visible_rows(app, who, version)
        .await?
        .into_iter()
        .filter(|r| only.is_none_or(|p| p == r.project_id))
        .filter_map(|r| {
            let p = projects.iter().find(|p| p.id == r.project_id)?.clone();
            Some((r, p))
        })
        .collect();
    if rows.is_empty() {
        return Err(ApiError::not_found(format!(
            "release {version:?} does not exist"
        )));
    }
    let mut stats = ReleaseStats::default();
    for (r, _) in &rows {
        if let Some(s) = app
            .store
            .release_stats(r.project_id, &[version])
            .await?
            .remove(version)
        {
            stats = merge(stats, s);
        }
    }
    let ids: Vec<i64> = rows.iter().map(|(r, _)| r.id).collect();
    let deploys = app.store.deploys(&ids).await?;
    Ok((rows, stats, deploys))
}

fn merge(a: ReleaseStats, b: ReleaseStats) -> ReleaseStats {
    ReleaseStats {
        first_event_ms: a.first_event_ms.into_iter().chain(b.first_event_ms).min(),
        last_event_ms: a.last_event_ms.into_iter().chain(b.last_event_ms).max(),
        events: a.events + b.events,
        new_issues: a.new_issues + b.new_issues,
    }
}

async fn release_answer(
    app: &AppState,
    who: &Uploader,
    version: &str,
    only: Option<i64>,
) -> Result<Value, ApiError> {
    let (rows, stats, deploys) = load_release(app, who, version, only).await?;
    let refs: Vec<(Release, &Project)> = rows.iter().map(|(r, p)| (r.clone(), p)).collect();
    Ok(release_json(&refs, stats, &deploys))
}

/// A project name from the `projects` list, which sentry-cli sends as slugs (strings) or
/// ids.
fn project_key(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

async fn create_in(
    app: &AppState,
    who: &Uploader,
    body: &[u8],
    forced: Option<Project>,
) -> Result<Response, ApiError> {
    let req: NewRelease = parse_json(body)?;
    let version = req.version.trim();
    if version.is_empty() || version.len() > 200 || version.contains(['\n', '\r']) {
        return Err(ApiError::bad_request(
            "version: give a release version of 1 to 200 characters on one line",
        ));
    }
    let projects = match forced {
        Some(p) => vec![p],
        None => {
            let names: Vec<String> = req.projects.iter().filter_map(project_key).collect();
            projects_named(app, who, &names).await?
        }
    };
    let released = req
        .date_released
        .as_deref()
        .map(|t| parse_time("dateReleased", t))
        .transpose()?;
    let mut created = false;
    for p in &projects {
        let (_, new) = app
            .store
            .create_release(p.id, version, req.url.as_deref(), released)
            .await?;
        created |= new;
    }
    let only = (projects.len() == 1).then(|| projects[0].id);
    let body = release_answer(app, who, version, only).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(body)).into_response())
}

/// `POST /api/0/organizations/{org}/releases/`: `{version, projects, url?, dateReleased?}`;
/// 201 when created, 200 when every project had it.
pub async fn create(
    State(app): State<AppState>,
    who: Uploader,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    create_in(&app, &who, &body, None).await
}

/// `POST /api/0/projects/{org}/{project}/releases/`.
pub async fn create_for_project(
    State(app): State<AppState>,
    who: Uploader,
    Path((_org, project)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let project = who.project(&app, &project).await?;
    create_in(&app, &who, &body, Some(project)).await
}

async fn list_in(
    app: &AppState,
    who: &Uploader,
    project: Option<Project>,
) -> Result<Json<Value>, ApiError> {
    let projects = match project {
        Some(p) => vec![p],
        None => app.store.list_projects().await?,
    };
    let projects = projects.into_iter().filter(|p| who.sees(p.id));
    let mut out: Vec<(i64, Value)> = Vec::new();
    for p in projects {
        for s in app.store.list_releases(p.id, 100).await? {
            let deploys = match &s.release {
                Some(r) => app.store.deploys(&[r.id]).await?,
                None => Vec::new(),
            };
            let release = s.release.clone().unwrap_or_else(|| Release {
                id: 0,
                project_id: p.id,
                version: s.version.clone(),
                url: None,
                created_ms: s.created_ms(),
                released_ms: None,
                commits: Value::Array(Vec::new()),
            });
            out.push((
                s.created_ms(),
                release_json(&[(release, &p)], s.stats, &deploys),
            ));
        }
    }
    out.sort_by_key(|(created, _)| std::cmp::Reverse(*created));
    Ok(Json(Value::Array(
        out.into_iter().map(|(_, v)| v).collect(),
    )))
}

/// `GET /api/0/organizations/{org}/releases/` (`?project=` narrows to one project):
/// newest first, releases seen only on events included.
pub async fn list(
    State(app): State<AppState>,
    who: Uploader,
    Query(p): Query<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let project = match p.project.as_deref() {
        Some(name) => Some(who.project(&app, name).await?),
        None => None,
    };
    list_in(&app, &who, project).await
}

/// `GET /api/0/projects/{org}/{project}/releases/`.
pub async fn list_for_project(
    State(app): State<AppState>,
    who: Uploader,
    Path((_org, project)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let project = who.project(&app, &project).await?;
    list_in(&app, &who, Some(project)).await
}

/// `GET /api/0/organizations/{org}/releases/{version}/`.
pub async fn show(
    State(app): State<AppState>,
    who: Uploader,
    Path((_org, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(release_answer(&app, &who, &version, None).await?))
}

/// `PUT /api/0/organizations/{org}/releases/{version}/`: `dateReleased` finalizes, `refs`
/// (`set-commits --commit`) and `commits` (`set-commits --local`) replace the commits, `url`.
pub async fn update(
    State(app): State<AppState>,
    who: Uploader,
    Path((_org, version)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let req: UpdatedRelease = parse_json(&body)?;
    let released_ms = req
        .date_released
        .as_deref()
        .map(|t| parse_time("dateReleased", t))
        .transpose()?;
    let commits = match (req.refs, req.commits) {
        (Some(refs), _) => Some(refs_to_commits(&app, refs)?),
        (None, Some(commits)) => Some(commits),
        (None, None) => None,
    };
    if commits.as_ref().is_some_and(|c| c.len() > MAX_COMMITS) {
        return Err(ApiError::bad_request(format!(
            "commits: at most {MAX_COMMITS} per release"
        )));
    }
    let update = ReleaseUpdate {
        url: req.url,
        released_ms,
        commits: commits.map(Value::Array),
    };
    for r in &visible_rows(&app, &who, &version).await? {
        app.store
            .update_release(r.project_id, &version, &update)
            .await?;
    }
    Ok(Json(release_answer(&app, &who, &version, None).await?))
}

/// `refs` as stored commits; a repository must be one of `[releases] repositories`.
fn refs_to_commits(app: &AppState, refs: Vec<Ref>) -> Result<Vec<Value>, ApiError> {
    let repos = &app.config.releases.repositories;
    refs.into_iter()
        .map(|r| {
            if !repos.iter().any(|k| k.eq_ignore_ascii_case(&r.repository)) {
                return Err(ApiError::bad_request(format!(
                    "repository {:?} is not one of [releases] repositories",
                    r.repository
                )));
            }
            Ok(json!({"repository": r.repository, "id": r.commit, "previousId": r.previous_commit}))
        })
        .collect()
}

/// `DELETE /api/0/organizations/{org}/releases/{version}/`: every (seen) project's row and deploys;
/// the artifacts go with the next retention pass once older than the retention age.
pub async fn remove(
    State(app): State<AppState>,
    who: Uploader,
    Path((_org, version)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    for r in visible_rows(&app, &who, &version).await? {
        match app.store.delete_release(r.project_id, &version).await {
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/0/organizations/{org}/releases/{version}/deploys/`: `{environment, name?,
/// url?, dateStarted?, dateFinished?, projects?}`, recorded for each project that has the
/// release (or the named ones).
pub async fn create_deploy(
    State(app): State<AppState>,
    who: Uploader,
    Path((_org, version)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let req: NewDeploy = parse_json(&body)?;
    let environment = req.environment.trim();
    if environment.is_empty() || environment.len() > 64 || environment.contains('/') {
        return Err(ApiError::bad_request(
            "environment: 1 to 64 characters, without a slash",
        ));
    }
    let only: Option<Vec<i64>> = match &req.projects {
        Some(names) if !names.is_empty() => Some(
            projects_named(&app, &who, names)
                .await?
                .iter()
                .map(|p| p.id)
                .collect(),
        ),
        _ => None,
    };
    let started = req
        .date_started
        .as_deref()
        .map(|t| parse_time("dateStarted", t))
        .transpose()?;
    let finished = req
        .date_finished
        .as_deref()
        .map(|t| parse_time("dateFinished", t))
        .transpose()?;
    let rows: Vec<Release> = visible_rows(&app, &who, &version)
        .await?
        .into_iter()
        .filter(|r| only.as_ref().is_none_or(|ids| ids.contains(&r.project_id)))
        .collect();
    let mut last = None;
    for r in &rows {
        last = Some(
            app.store
                .create_deploy(
                    r.id,
                    environment,
                    req.name.as_deref(),
                    req.url.as_deref(),
                    started,
                    finished,
                )
                .await?,
        );
    }
    let deploy =
        last.ok_or_else(|| ApiError::not_found(format!("release {version:?} does not exist")))?;
    Ok((StatusCode::CREATED, Json(deploy_json(&deploy))).into_response())
}

/// `GET /api/0/organizations/{org}/releases/{version}/deploys/`, newest first.
pub async fn list_deploys(
    State(app): State<AppState>,
    who: Uploader,
    Path((_org, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (_, _, deploys) = load_release(&app, &who, &version, None).await?;
    Ok(Json(Value::Array(
        deploys.iter().map(deploy_json).collect(),
    )))
}

/// `GET /api/0/organizations/{org}/releases/{version}/commits/`.
pub async fn commits(
    State(app): State<AppState>,
    who: Uploader,
    Path((_org, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (rows, _, _) = load_release(&app, &who, &version, None).await?;
    Ok(Json(
        rows.first()
            .map(|(r, _)| r.commits.clone())
            .unwrap_or(Value::Array(Vec::new())),
    ))
}

/// `GET /api/0/organizations/{org}/releases/{version}/previous-with-commits/`: `{}` (sentry-cli
/// then takes its default commit depth), or the newest older release of the same project
/// with commits.
pub async fn previous_with_commits(
    State(app): State<AppState>,
    who: Uploader,
    Path((_org, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (rows, _, _) = load_release(&app, &who, &version, None).await?;
    let Some((current, project)) = rows.first() else {
        return Ok(Json(json!({})));
    };
    let previous = app
        .store
        .list_releases(current.project_id, 100)
        .await?
        .into_iter()
        .filter_map(|s| s.release)
        .filter(|r| r.created_ms < current.created_ms)
        .find(|r| r.commits.as_array().is_some_and(|c| !c.is_empty()));
    Ok(Json(match previous {
        Some(r) => release_json(&[(r, project)], ReleaseStats::default(), &[]),
        None => json!({}),
    }))
}

/// `GET /api/0/organizations/{org}/repos/`: the configured repositories.
pub async fn repos(State(app): State<AppState>, _who: Uploader) -> Json<Value> {
    let list: Vec<Value> = app
        .config
        .releases
        .repositories
        .iter()
        .enumerate()
        .map(|(i, name)| {
            json!({
                "id": (i + 1).to_string(),
                "name": name,
                "url": Value::Null,
                "provider": {"id": "integrations:errata", "name": "Errata"},
                "status": "active",
                "dateCreated": api_time(0),
            })
        })
        .collect();
    Json(Value::Array(list))
}
