//! The teams page (`/admin/teams`): for owners, every team with its members and projects; a
//! form that creates a team, and per team: delete it, add or remove a member, give it a
//! project or take one away. Admins see the teams they belong to and add or remove their
//! members (as the API lets them); the rest is for owners. A project given to a team is seen only by its members (and
//! owners); a project of no team by everyone. Every change goes through the store, which
//! records it in the audit log (`team.*`) in the same transaction.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::{Deserialize, Serialize};

use super::auth::CurrentUser;
use super::auth::Permission;
use super::view::Layout;
use super::{WebError, WebState};
use crate::http::ClientIp;
use crate::store::{team_name, Actor, StoreError, TeamLink, MAX_TEAM_NAME};

/// What `teams.html` shows.
#[derive(Debug, Serialize)]
struct TeamsPage<'a> {
    #[serde(flatten)]
    layout: Layout<'a>,
    teams: Vec<TeamRow>,
    /// Why the last form was refused.
    error: Option<String>,
    /// Longest team name (the form's `maxlength`).
    max_name: usize,
    /// An owner: every team, and the create, delete and project forms.
    owner: bool,
}

/// A team, with what may be added to it.
#[derive(Debug, Serialize)]
struct TeamRow {
    id: i64,
    name: String,
    /// Members (id, e-mail).
    members: Vec<Named>,
    /// Users not in the team, for the add-member form.
    others: Vec<Named>,
    /// The team's projects (id, name).
    projects: Vec<Named>,
    /// Projects not the team's, for the add-project form.
    other_projects: Vec<Named>,
}

/// An id and what the page shows for it.
#[derive(Debug, Clone, Serialize)]
struct Named {
    id: i64,
    name: String,
}

async fn render_teams(
    state: &WebState,
    user: &CurrentUser,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, WebError> {
    let store = &state.app.store;
    let users: Vec<Named> = store
        .list_users()
        .await?
        .into_iter()
        .map(|u| Named {
            id: u.id,
            name: u.email,
        })
        .collect();
    let projects: Vec<Named> = store
        .list_projects()
        .await?
        .into_iter()
        .map(|p| Named {
            id: p.id,
            name: p.name,
        })
        .collect();
    let split = |all: &[Named], ids: &[i64]| -> (Vec<Named>, Vec<Named>) {
        all.iter().cloned().partition(|n| ids.contains(&n.id))
    };
    let owner = user.require_admin().is_ok();
    let mine = if owner {
        Vec::new()
    } else {
        store.user_teams(user.user.id).await?
    };
    let teams = store
        .list_teams()
        .await?
        .into_iter()
        .filter(|t| owner || mine.contains(&t.id))
        .map(|t| {
            let (members, others) = split(&users, &t.members);
            let (projects, other_projects) = split(&projects, &t.projects);
            TeamRow {
                id: t.id,
                name: t.name,
                members,
                others,
                projects,
                other_projects,
            }
        })
        .collect();
    let page = TeamsPage {
        layout: Layout::of(user),
        teams,
        error,
        max_name: MAX_TEAM_NAME,
        owner,
    };
    Ok((status, state.templates.render("teams.html", page)?).into_response())
}

fn back() -> Response {
    Redirect::to("/admin/teams").into_response()
}

/// `GET /admin/teams`: owners and admins.
pub async fn teams(State(state): State<WebState>, user: CurrentUser) -> Result<Response, WebError> {
    user.require(Permission::Project)?;
    render_teams(&state, &user, StatusCode::OK, None).await
}

/// Fields of the new-team form.
#[derive(Debug, Deserialize)]
pub struct NewTeamForm {
    name: String,
}

/// `POST /admin/teams`: creates a team; a name taken or out of bounds is shown (409, 400).
pub async fn create(
    State(state): State<WebState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Form(form): Form<NewTeamForm>,
) -> Result<Response, WebError> {
    user.require_admin()?;
    let Some(name) = team_name(&form.name) else {
        let why = format!("A team name has 1 to {MAX_TEAM_NAME} characters.");
        return render_teams(&state, &user, StatusCode::BAD_REQUEST, Some(why)).await;
    };
    let by = Actor::user(&user.user).from_ip(ip);
    match state
        .app
        .store
        .create_team(name, &by, state.app.clock.now_ms())
        .await
    {
        Ok(id) => {
            tracing::info!(user_id = user.user.id, team_id = id, "team created");
            Ok(back())
        }
        Err(StoreError::Conflict(_)) => {
            let why = format!("There is a team named “{name}” already.");
            render_teams(&state, &user, StatusCode::CONFLICT, Some(why)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /admin/teams/{team_id}/delete`: its projects stay (open to all when it was their
/// last team).
pub async fn delete(
    State(state): State<WebState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Path(team_id): Path<i64>,
) -> Result<Response, WebError> {
    user.require_admin()?;
    let by = Actor::user(&user.user).from_ip(ip);
    let now = state.app.clock.now_ms();
    state.app.store.delete_team(team_id, &by, now).await?;
    tracing::info!(user_id = user.user.id, team_id, "team deleted");
    Ok(back())
}

/// Fields of the member and project forms: whom or which, and whether to add or remove.
#[derive(Debug, Deserialize)]
pub struct LinkForm {
    /// The user's or project's id.
    id: i64,
    /// `add` or `remove`.
    op: LinkOp,
}

/// What a [`LinkForm`] does.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum LinkOp {
    Add,
    Remove,
}

/// `POST /admin/teams/{team_id}/members` (`id` a user) and `…/projects` (`id` a project).
pub async fn link(
    State(state): State<WebState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Path((team_id, what)): Path<(i64, String)>,
    Form(form): Form<LinkForm>,
) -> Result<Response, WebError> {
    let link = match what.as_str() {
        "members" => TeamLink::Member(form.id),
        "projects" => TeamLink::Project(form.id),
        _ => return Err(WebError::NotFound),
    };
    match link {
        TeamLink::Member(_)
            if state
                .app
                .store
                .may_change_members(&user.user, team_id)
                .await? => {}
        _ => user.require_admin()?,
    }
    let add = matches!(form.op, LinkOp::Add);
    let by = Actor::user(&user.user).from_ip(ip);
    let now = state.app.clock.now_ms();
    let changed = state
        .app
        .store
        .change_team(team_id, link, add, &by, now)
        .await?;
    tracing::info!(
        user_id = user.user.id,
        team_id,
        ?link,
        add,
        changed,
        "team changed"
    );
    Ok(back())
}
