//! Roles, teams and who may see which project (`teams`, `team_members`, `project_teams`,
//! `token_projects`; migration 0017).
//!
//! A project that belongs to no team is open to every user (as every project was before
//! teams); one that belongs to teams is seen by their members and by owners only. An API
//! token may further be limited to projects. What a [`Role`] allows is decided in
//! `http::principal`; this module stores the facts. Team changes write their audit entry in
//! the transaction of the change.

use serde_json::json;

use super::audit::{self, Actor, AuditAction, AuditTarget, NewAuditEntry};
use super::db::{Executor, IdRow, Tx};
use super::{Store, StoreError};

/// A user's role, from most to least powerful. Stored by [`Role::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Everything, in every project: users, roles, teams, API tokens, the audit log.
    Owner,
    /// In their teams' projects: settings, channels, monitors, deletion, and triage.
    Admin,
    /// Triage in their teams' projects.
    Member,
    /// Read only.
    Viewer,
}

impl Role {
    /// Every role, most powerful first.
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Member, Role::Viewer];

    /// The stored and wire name: `owner`, `admin`, `member`, `viewer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Viewer => "viewer",
        }
    }

    /// The role named `name` (exactly), if any.
    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// True when this role is `other` or more powerful.
    pub fn at_least(self, other: Role) -> bool {
        self <= other
    }
}

impl serde::Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Longest team name, in characters.
pub const MAX_TEAM_NAME: usize = 100;

/// A team name as given (pages, API, command line): trimmed, 1 to [`MAX_TEAM_NAME`]
/// characters; `None` otherwise.
pub fn team_name(name: &str) -> Option<&str> {
    let name = name.trim();
    (!name.is_empty() && name.chars().count() <= MAX_TEAM_NAME).then_some(name)
}

/// A team with its members' and projects' ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    /// Team id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Creation time, epoch ms.
    pub created_ms: i64,
    /// Member user ids, ascending.
    pub members: Vec<i64>,
    /// Project ids, ascending.
    pub projects: Vec<i64>,
}

row! {
    struct TeamRow {
        team_id: i64,
        name: String,
        created_ms: i64,
    }
}

row! {
    struct PairRow {
        a: i64,
        b: i64,
    }
}

/// Projects open to `$1`'s user: those of no team and those of the user's teams.
const VISIBLE_PROJECTS: &str = "select p.project_id as id from projects p \
    where p.deleted_ms is null and (\
    not exists (select 1 from project_teams pt where pt.project_id = p.project_id) \
    or exists (select 1 from project_teams pt join team_members tm on tm.team_id = pt.team_id \
    where pt.project_id = p.project_id and tm.user_id = $1)) order by p.project_id";

/// True when `user_id` may see `project_id`: an owner, or the project is of no team or of
/// one of the user's teams (`false` for an unknown user).
pub(super) async fn may_see(
    db: &mut impl Executor,
    user_id: i64,
    project_id: i64,
) -> Result<bool, StoreError> {
    let row = db
        .fetch_optional::<IdRow>(
            "select u.user_id as id from users u where u.user_id = $1 and (u.role = 'owner' \
             or not exists (select 1 from project_teams pt where pt.project_id = $2) \
             or exists (select 1 from project_teams pt join team_members tm \
             on tm.team_id = pt.team_id where pt.project_id = $3 and tm.user_id = $4))",
            vec![
                user_id.into(),
                project_id.into(),
                project_id.into(),
                user_id.into(),
            ],
        )
        .await?;
    Ok(row.is_some())
}

async fn team_by_id(db: &mut impl Executor, team_id: i64) -> Result<TeamRow, StoreError> {
    db.fetch_one::<TeamRow>(
        "select team_id, name, created_ms from teams where team_id = $1",
        vec![team_id.into()],
    )
    .await
}

async fn commit_team_change(
    mut tx: Tx,
    (by, at_ms): (&Actor, i64),
    action: AuditAction,
    team: &TeamRow,
    data: serde_json::Value,
) -> Result<(), StoreError> {
    let entry = NewAuditEntry {
        at_ms,
        by,
        action,
        target: Some(AuditTarget::team(team.team_id, &team.name)),
        data,
    };
    audit::record(&mut tx, &entry).await?;
    tx.commit().await
}

/// Which link between a team and something a change adds or removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeamLink {
    /// A user, by id.
    Member(i64),
    /// A project, by id.
    Project(i64),
}

impl Store {
    /// The ids of the projects `user_id` sees through teams (owners see every project;
    /// that is decided by the caller), ascending.
    pub async fn team_visible_projects(&self, user_id: i64) -> Result<Vec<i64>, StoreError> {
        self.db()
            .fetch_ids(VISIBLE_PROJECTS, vec![user_id.into()])
            .await
    }

    /// True when `user_id` may see `project_id` through teams (see
    /// [`Store::team_visible_projects`]).
    pub async fn user_sees_project(
        &self,
        user_id: i64,
        project_id: i64,
    ) -> Result<bool, StoreError> {
        Ok(self
            .team_visible_projects(user_id)
            .await?
            .contains(&project_id))
    }

    /// The projects an API token is limited to (empty: not limited), ascending.
    pub async fn token_projects(&self, token_id: i64) -> Result<Vec<i64>, StoreError> {
        super::tokens::projects_of(&mut self.db(), token_id).await
    }

    /// Every team with its members and projects, by name.
    pub async fn list_teams(&self) -> Result<Vec<Team>, StoreError> {
        let mut db = self.db();
        let teams = db
            .fetch_all::<TeamRow>(
                "select team_id, name, created_ms from teams order by name",
                vec![],
            )
            .await?;
        let members = db
            .fetch_all::<PairRow>(
                "select team_id as a, user_id as b from team_members order by user_id",
                vec![],
            )
            .await?;
        let projects = db
            .fetch_all::<PairRow>(
                "select team_id as a, project_id as b from project_teams order by project_id",
                vec![],
            )
            .await?;
        let of = |rows: &[PairRow], team: i64| -> Vec<i64> {
            rows.iter().filter(|r| r.a == team).map(|r| r.b).collect()
        };
        Ok(teams
            .into_iter()
            .map(|t| Team {
                members: of(&members, t.team_id),
                projects: of(&projects, t.team_id),
                id: t.team_id,
                name: t.name,
                created_ms: t.created_ms,
            })
            .collect())
    }

    /// One team. Errors: [`StoreError::NotFound`].
    pub async fn team(&self, team_id: i64) -> Result<Team, StoreError> {
        self.list_teams()
            .await?
            .into_iter()
            .find(|t| t.id == team_id)
            .ok_or(StoreError::NotFound)
    }

    /// Whether `user` may add and remove members of team `team_id`: owners of any team,
    /// admins of the teams they belong to (issue #19: an admin manages "members of their
    /// teams").
    pub async fn may_change_members(
        &self,
        user: &super::User,
        team_id: i64,
    ) -> Result<bool, StoreError> {
        Ok(match user.role {
            Role::Owner => true,
            Role::Admin => self.user_teams(user.id).await?.contains(&team_id),
            Role::Member | Role::Viewer => false,
        })
    }

    /// The ids of `user_id`'s teams, ascending.
    pub async fn user_teams(&self, user_id: i64) -> Result<Vec<i64>, StoreError> {
        self.db()
            .fetch_ids(
                "select team_id as id from team_members where user_id = $1 order by team_id",
                vec![user_id.into()],
            )
            .await
    }

    /// Creates a team and records `by` doing it; returns its id.
    /// Errors: [`StoreError::Conflict`] when the name is taken.
    pub async fn create_team(&self, name: &str, by: &Actor, at_ms: i64) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let id = tx
            .fetch_one::<IdRow>(
                "insert into teams (name, created_ms) values ($1, $2) returning team_id as id",
                vec![name.into(), at_ms.into()],
            )
            .await?
            .id;
        let team = team_by_id(&mut tx, id).await?;
        commit_team_change(tx, (by, at_ms), AuditAction::TeamCreate, &team, json!({})).await?;
        Ok(id)
    }

    /// Deletes a team (its projects stay, and are open to all when it was their last team)
    /// and records `by` doing it. Errors: [`StoreError::NotFound`].
    pub async fn delete_team(
        &self,
        team_id: i64,
        by: &Actor,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let team = team_by_id(&mut tx, team_id).await?;
        tx.execute(
            "delete from team_members where team_id = $1",
            vec![team_id.into()],
        )
        .await?;
        tx.execute(
            "delete from project_teams where team_id = $1",
            vec![team_id.into()],
        )
        .await?;
        tx.execute_one("delete from teams where team_id = $1", vec![team_id.into()])
            .await?;
        commit_team_change(tx, (by, at_ms), AuditAction::TeamDelete, &team, json!({})).await
    }

    /// Adds (`add`) or removes a member or project of a team and records `by` doing it;
    /// returns whether anything changed (nothing is recorded otherwise).
    /// Errors: [`StoreError::NotFound`] for an unknown team, user or project.
    pub async fn change_team(
        &self,
        team_id: i64,
        link: TeamLink,
        add: bool,
        by: &Actor,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let team = team_by_id(&mut tx, team_id).await?;
        let (table, column, id, check, label_sql) = match link {
            TeamLink::Member(id) => (
                "team_members",
                "user_id",
                id,
                "select user_id as id from users where user_id = $1",
                "user",
            ),
            TeamLink::Project(id) => (
                "project_teams",
                "project_id",
                id,
                "select project_id as id from projects where project_id = $1 \
                 and deleted_ms is null",
                "project",
            ),
        };
        tx.fetch_one::<IdRow>(check, vec![id.into()]).await?;
        let exists = tx
            .fetch_optional::<IdRow>(
                &format!("select team_id as id from {table} where team_id = $1 and {column} = $2"),
                vec![team_id.into(), id.into()],
            )
            .await?
            .is_some();
        if exists == add {
            return Ok(false);
        }
        let sql = if add {
            format!("insert into {table} (team_id, {column}) values ($1, $2)")
        } else {
            format!("delete from {table} where team_id = $1 and {column} = $2")
        };
        tx.execute_one(&sql, vec![team_id.into(), id.into()])
            .await?;
        let action = match (link, add) {
            (TeamLink::Member(_), true) => AuditAction::TeamMemberAdd,
            (TeamLink::Member(_), false) => AuditAction::TeamMemberRemove,
            (TeamLink::Project(_), true) => AuditAction::TeamProjectAdd,
            (TeamLink::Project(_), false) => AuditAction::TeamProjectRemove,
        };
        let data = json!({ label_sql: id });
        commit_team_change(tx, (by, at_ms), action, &team, data).await?;
        Ok(true)
    }

    /// [`Store::mark_project_deleted`] by `by`, recorded in the audit log in the same
    /// transaction (once: marking a project again records nothing).
    /// Errors: [`StoreError::NotFound`].
    pub async fn delete_project_audited(
        &self,
        project_id: i64,
        by: &Actor,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let project = tx
            .fetch_one::<TeamRow>(
                "select project_id as team_id, name, created_ms from projects \
                 where project_id = $1 and deleted_ms is null",
                vec![project_id.into()],
            )
            .await?;
        tx.execute_one(
            "update projects set active = false, deleted_ms = $1 where project_id = $2",
            vec![at_ms.into(), project_id.into()],
        )
        .await?;
        let entry = NewAuditEntry {
            at_ms,
            by,
            action: AuditAction::ProjectDelete,
            target: Some(AuditTarget::project(project.team_id, &project.name)),
            data: json!({}),
        };
        audit::record(&mut tx, &entry).await?;
        tx.commit().await
    }
}
