//! The Sentry-compatible API that `sentry-cli` (and CI scripts) call, under `/api/0/`
//! (sentry-protocol-more.md section 2; shapes as sentry-cli's `src/api/` reads them).
//!
//! Set `SENTRY_URL` to the server's base URL, `SENTRY_AUTH_TOKEN` to a token (`errata token
//! create --scope project:releases` makes one that can do nothing else), `SENTRY_ORG` to any
//! slug (one organization per server: the slug is accepted as given) and `SENTRY_PROJECT` to
//! a project's name (or numeric id).
//!
//! | route | what |
//! | --- | --- |
//! | `GET /organizations/{org}/chunk-upload/` | upload options (`chunkSize`, `accept`, …) |
//! | `POST /organizations/{org}/chunk-upload/` | chunks, multipart `file`/`file_gzip` named by SHA-1 |
//! | `POST /organizations/{org}/artifactbundle/assemble/` | `{checksum, chunks, projects, version?, dist?}` → `{state, missingChunks, detail?}` |
//! | `POST /organizations/{org}/releases/{version}/assemble/` | the same for sentry-cli 2.x's release bundles |
//! | `GET, POST /projects/{org}/{project}/releases/{version}/files/` | legacy release files (multipart `file`, `name`, `dist`, `header`) |
//! | `DELETE /projects/{org}/{project}/releases/{version}/files/{id}/` | one legacy file |
//! | `GET, POST /organizations/{org}/releases/`, `/projects/{org}/{project}/releases/` | list, create |
//! | `GET, PUT, DELETE /organizations/{org}/releases/{version}/` | read, finalize (`dateReleased`), set `refs`/`commits`, delete |
//! | `GET, POST /organizations/{org}/releases/{version}/deploys/` | deploys |
//! | `GET /organizations/{org}/releases/{version}/commits/`, `…/previous-with-commits/` | commits |
//! | `GET /organizations/{org}/repos/` | `[releases] repositories` |
//!
//! A caller sees only its projects (a token's project limit, a user's teams: `http::principal`):
//! the project routes are checked by the access guard (`http::access`, by `{project}`); the
//! organization routes check every project they name or act on here ([`Uploader`]), so a
//! project outside them is a 404 as if it did not exist, and a version only such projects
//! have is not found. Changes without the scope `project:releases` are 403 naming it.
//!
//! Errors are `{"detail": …}` with the usual statuses; assemble reports a bad bundle as
//! `{"state": "error", "detail": …}` (what sentry-cli prints), leaving nothing stored.

mod releases;
mod uploads;

use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::routing::{delete, get, post};
use axum::Router;

use crate::config::Config;
use crate::error::ApiError;
use crate::http::principal::Principal;
use crate::store::Project;
use crate::AppState;

/// Routes under `/api/0/`; the chunk upload takes bodies up to `[releases]
/// max_request_bytes`.
pub fn router(config: &Config) -> Router<AppState> {
    let org = "/api/0/organizations/{org}";
    let project = "/api/0/projects/{org}/{project}";
    let chunk_limit =
        DefaultBodyLimit::max(config.releases.max_request_bytes.saturating_add(64 * 1024));
    let file_limit =
        DefaultBodyLimit::max(config.releases.max_file_bytes.saturating_add(64 * 1024));
    Router::new()
        .route(
            &format!("{org}/chunk-upload/"),
            get(uploads::chunk_options)
                .post(uploads::upload_chunks)
                .layer(chunk_limit),
        )
        .route(
            &format!("{org}/artifactbundle/assemble/"),
            post(uploads::assemble_bundle),
        )
        .route(
            &format!("{org}/releases/{{version}}/assemble/"),
            post(uploads::assemble_release_bundle),
        )
        .route(
            &format!("{project}/releases/{{version}}/files/"),
            get(uploads::list_files)
                .post(uploads::upload_file)
                .layer(file_limit),
        )
        .route(
            &format!("{project}/releases/{{version}}/files/{{file_id}}/"),
            delete(uploads::delete_file),
        )
        .route(
            &format!("{org}/releases/"),
            get(releases::list).post(releases::create),
        )
        .route(
            &format!("{project}/releases/"),
            get(releases::list_for_project).post(releases::create_for_project),
        )
        .route(
            &format!("{org}/releases/{{version}}/"),
            get(releases::show)
                .put(releases::update)
                .delete(releases::remove),
        )
        .route(
            &format!("{org}/releases/{{version}}/deploys/"),
            get(releases::list_deploys).post(releases::create_deploy),
        )
        .route(
            &format!("{org}/releases/{{version}}/commits/"),
            get(releases::commits),
        )
        .route(
            &format!("{org}/releases/{{version}}/previous-with-commits/"),
            get(releases::previous_with_commits),
        )
        .route(&format!("{org}/repos/"), get(releases::repos))
}

/// A caller of these routes: a full API token, a session, or a token with the scope
/// `project:releases`; it acts only on the projects it sees.
pub struct Uploader(Principal);

impl FromRequestParts<AppState> for Uploader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        Ok(Uploader(
            Principal::authenticate_releases(parts, app).await?,
        ))
    }
}

impl Uploader {
    /// True when the caller sees project `project_id`.
    pub(crate) fn sees(&self, project_id: i64) -> bool {
        self.0.see(project_id).is_ok()
    }

    /// [`project_named`] among the caller's projects: one it does not see is a 404 as if it
    /// did not exist.
    pub(crate) async fn project(&self, app: &AppState, name: &str) -> Result<Project, ApiError> {
        let project = project_named(app, name).await?;
        if self.sees(project.id) {
            Ok(project)
        } else {
            Err(no_such_project(name))
        }
    }
}

/// The project a `SENTRY_PROJECT` names: by name (the oldest of that name), else by numeric
/// id. 404 naming it otherwise.
pub(crate) async fn project_named(app: &AppState, name: &str) -> Result<Project, ApiError> {
    let projects = app.store.list_projects().await?;
    let by_name = projects
        .iter()
        .filter(|p| p.name == name)
        .min_by_key(|p| p.id);
    let by_id = || {
        name.parse::<i64>()
            .ok()
            .and_then(|id| projects.iter().find(|p| p.id == id))
    };
    by_name
        .or_else(by_id)
        .cloned()
        .ok_or_else(|| no_such_project(name))
}

fn no_such_project(name: &str) -> ApiError {
    ApiError::not_found(format!(
        "project {name:?} does not exist (SENTRY_PROJECT is a project's name)"
    ))
}

/// The projects of a request's `projects` list, in order, each seen by `who`; at least one.
pub(crate) async fn projects_named(
    app: &AppState,
    who: &Uploader,
    names: &[String],
) -> Result<Vec<Project>, ApiError> {
    if names.is_empty() {
        return Err(ApiError::bad_request(
            "projects: name at least one project (SENTRY_PROJECT)",
        ));
    }
    let mut out: Vec<Project> = Vec::with_capacity(names.len());
    for name in names {
        let p = who.project(app, name).await?;
        if !out.iter().any(|q| q.id == p.id) {
            out.push(p);
        }
    }
    Ok(out)
}

/// A Sentry API time (RFC 3339 with milliseconds).
pub(crate) fn api_time(ms: i64) -> String {
    crate::timefmt::rfc3339_ms(ms)
}

/// Parses an RFC 3339 time of a request body into epoch ms; 400 naming the field otherwise.
pub(crate) fn parse_time(field: &str, s: &str) -> Result<i64, ApiError> {
    crate::normalize::parse_rfc3339(s)
        .map(|us| us.div_euclid(1000))
        .ok_or_else(|| ApiError::bad_request(format!("{field}: {s:?} is not an RFC 3339 time")))
}
