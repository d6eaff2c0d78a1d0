//! Teams through the API: who is in which team, and which projects each team has.
//!
//! * `GET /api/v1/teams` → `{"teams": [{"id", "name", "members": [user id], "projects":
//!   [project id], "date_created"}]}` (anyone signed in; project ids outside the caller's
//!   projects are left out).
//! * `POST /api/v1/teams` `{"name"}` → 201 team; `DELETE /api/v1/teams/{id}` → 204 (owners).
//! * `PUT` / `DELETE /api/v1/teams/{id}/members/{user_id}` → 204: owners, and admins who are
//!   in that team.
//! * `PUT` / `DELETE /api/v1/teams/{id}/projects/{project_id}` → 204 (owners).
//!
//! Each change is recorded in the audit log (`team.*`). A project with no team is open to
//! every user; giving it to a team closes it to everyone else but owners.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::http::principal::{Permission, Principal};
use crate::http::ClientIp;
use crate::store::{team_name, StoreError, Team, TeamLink};
use crate::timefmt::rfc3339_ms;
use crate::AppState;

/// Routes of the teams API.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/teams", get(list).post(create))
        .route("/api/v1/teams/{team_id}", axum::routing::delete(remove))
        .route(
            "/api/v1/teams/{team_id}/members/{user_id}",
            put(add_member).delete(remove_member),
        )
        .route(
            "/api/v1/teams/{team_id}/projects/{project_id}",
            put(add_project).delete(remove_project),
        )
}

fn team_json(t: &Team, who: &Principal) -> Value {
    let projects: Vec<i64> = t
        .projects
        .iter()
        .copied()
        .filter(|p| who.projects().contains(*p))
        .collect();
    json!({
        "id": t.id,
        "name": t.name,
        "members": t.members,
        "projects": projects,
        "date_created": rfc3339_ms(t.created_ms),
    })
}

async fn list(State(app): State<AppState>, who: Principal) -> Result<Json<Value>, ApiError> {
    let teams: Vec<Value> = app
        .store
        .list_teams()
        .await?
        .iter()
        .map(|t| team_json(t, &who))
        .collect();
    Ok(Json(json!({ "teams": teams })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTeam {
    name: String,
}

async fn create(
    State(app): State<AppState>,
    who: Principal,
    ClientIp(ip): ClientIp,
    body: Result<Json<NewTeam>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    who.require(Permission::Admin)?;
    let Json(new) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let name = team_name(&new.name)
        .ok_or_else(|| ApiError::bad_request("a team name has 1 to 100 characters"))?;
    let id = app
        .store
        .create_team(name, &who.actor(ip), app.clock.now_ms())
        .await?;
    let team = app.store.team(id).await?;
    Ok((StatusCode::CREATED, Json(team_json(&team, &who))))
}

async fn remove(
    State(app): State<AppState>,
    who: Principal,
    ClientIp(ip): ClientIp,
    Path(team_id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    who.require(Permission::Admin)?;
    app.store
        .delete_team(team_id, &who.actor(ip), app.clock.now_ms())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Owners change any team's members; admins those of their own teams
/// ([`crate::store::Store::may_change_members`]).
async fn may_manage_members(app: &AppState, who: &Principal, team_id: i64) -> Result<(), ApiError> {
    if who.require(Permission::Admin).is_ok() {
        return Ok(());
    }
    who.require(Permission::Project)?;
    let denied =
        || ApiError::forbidden("only owners, and admins of the team, may change its members");
    let user = who.user().ok_or_else(denied)?;
    if app.store.may_change_members(user, team_id).await? {
        Ok(())
    } else {
        app.store.team(team_id).await?;
        Err(denied())
    }
}

async fn change(
    app: &AppState,
    who: &Principal,
    ip: Option<std::net::IpAddr>,
    team_id: i64,
    link: TeamLink,
    add: bool,
) -> Result<StatusCode, ApiError> {
    app.store
        .change_team(team_id, link, add, &who.actor(ip), app.clock.now_ms())
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found("no such team, user or project"),
            e => e.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

async fn add_member(
    State(app): State<AppState>,
    who: Principal,
    ClientIp(ip): ClientIp,
    Path((team_id, user_id)): Path<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    may_manage_members(&app, &who, team_id).await?;
    change(&app, &who, ip, team_id, TeamLink::Member(user_id), true).await
}

async fn remove_member(
    State(app): State<AppState>,
    who: Principal,
    ClientIp(ip): ClientIp,
    Path((team_id, user_id)): Path<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    may_manage_members(&app, &who, team_id).await?;
    change(&app, &who, ip, team_id, TeamLink::Member(user_id), false).await
}

async fn add_project(
    State(app): State<AppState>,
    who: Principal,
    ClientIp(ip): ClientIp,
    Path((team_id, project_id)): Path<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    who.require(Permission::Admin)?;
    change(&app, &who, ip, team_id, TeamLink::Project(project_id), true).await
}

async fn remove_project(
    State(app): State<AppState>,
    who: Principal,
    ClientIp(ip): ClientIp,
    Path((team_id, project_id)): Path<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    who.require(Permission::Admin)?;
    change(
        &app,
        &who,
        ip,
        team_id,
        TeamLink::Project(project_id),
        false,
    )
    .await
}
