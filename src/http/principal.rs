//! Who is making a request and what they may do: the one place that answers both, for the
//! issue browser's pages and the JSON API.
//!
//! A request proves who it is with an API token (`Authorization: Bearer <token>`, from
//! `errata token create`) or with the browser's session cookie ([`super::session`]); a
//! session-authenticated request that changes state must also pass the CSRF rule
//! ([`super::csrf`]). The result is a [`Principal`], and handlers ask it for a [`Permission`]
//! before they change anything.
//!
//! Two questions, two answers:
//! * **Which projects?** ([`Projects`]) Owners see every project. Other users see the
//!   projects of their teams and the projects of no team (`store::teams`). A token sees the
//!   projects it is limited to (all when none), and no more than its owner sees. A project
//!   outside is answered 404, as if it did not exist, so project ids do not leak; the
//!   routes that name a project, issue or monitor are checked before their handler runs
//!   ([`super::access::guard`]).
//! * **What may it do?** A user by [`Role`] (owner > admin > member > viewer), a token by
//!   its scopes ([`Permission::scope`]: `project:read`, `project:write`, `project:releases`,
//!   `project:admin`, `org:admin`; tokens made before scopes existed are `org:admin`) and
//!   by its owner's role. A refused token is told the scope it lacks (403).
//!
//! A token's use is recorded as its last-used time, written at most once a minute
//! ([`Store::touch_token`]); what a principal changes is recorded in the audit log under
//! [`Principal::actor`].
//!
//! The API takes [`Principal`] as a handler argument (refusals are JSON, via [`ApiError`]);
//! its extractor asks for [`Permission::Read`] on reads and [`Permission::Triage`] on
//! changes. The pages take [`CurrentUser`] (sessions only; `web` renders refusals as pages).

use std::ops::Deref;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::csrf;
use super::session::session_from_headers;
use crate::error::ApiError;
use crate::store::{Actor, ApiToken, Role, Store, StoreError, User};
use crate::AppState;

/// The token scope that allows artifact uploads and the releases API
/// (`errata token create --scope project:releases`, Sentry's scope of the same name).
pub const RELEASES_SCOPE: &str = "project:releases";

/// Every token scope, least powerful first.
pub const SCOPES: [&str; 5] = [
    "project:read",
    "project:write",
    RELEASES_SCOPE,
    "project:admin",
    "org:admin",
];

/// Who is making a request, as proved by its credentials.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A user signed in through the session cookie.
    User(CurrentUser),
    /// A live API token.
    Token(TokenCaller),
}

/// Which projects a principal may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Projects {
    /// Every project.
    All,
    /// These project ids, ascending.
    Only(Vec<i64>),
}

impl Projects {
    /// True when `project_id` is one of them.
    pub fn contains(&self, project_id: i64) -> bool {
        match self {
            Projects::All => true,
            Projects::Only(ids) => ids.binary_search(&project_id).is_ok(),
        }
    }

    /// The projects in both.
    fn and(self, other: Projects) -> Projects {
        match (self, other) {
            (Projects::All, p) | (p, Projects::All) => p,
            (Projects::Only(a), Projects::Only(b)) => {
                Projects::Only(a.into_iter().filter(|id| b.contains(id)).collect())
            }
        }
    }

    /// The projects `user` sees: every one for an owner, else their teams' and those of no
    /// team.
    pub async fn of_user(store: &Store, user: &User) -> Result<Projects, StoreError> {
        if user.role == Role::Owner {
            return Ok(Projects::All);
        }
        Ok(Projects::Only(store.team_visible_projects(user.id).await?))
    }
}

/// A live API token as a caller: the token, what its owner (if any) may do, and the
/// projects it sees. Dereferences to the [`ApiToken`].
#[derive(Debug, Clone)]
pub struct TokenCaller {
    /// The token.
    pub token: ApiToken,
    /// Its owner's role; `None` for tokens of the command line (scopes alone decide).
    pub owner_role: Option<Role>,
    /// The projects it sees: its own list, within its owner's.
    pub projects: Projects,
}

impl Deref for TokenCaller {
    type Target = ApiToken;

    fn deref(&self) -> &ApiToken {
        &self.token
    }
}

impl TokenCaller {
    /// True when one of the token's scopes allows `permission` (no scopes: `org:admin`).
    pub fn has_scope_for(&self, permission: Permission) -> bool {
        let mut scopes = self.token.scopes.split_whitespace().peekable();
        if scopes.peek().is_none() {
            return true;
        }
        scopes.any(|s| permission.scopes().contains(&s))
    }
}

/// A user signed in through the session cookie, with the session's CSRF token (pages put it
/// in the hidden `csrf` field of their forms) and the projects they see.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    /// Who is signed in.
    pub user: User,
    /// The session's CSRF token.
    pub csrf: String,
    /// The projects they see.
    pub projects: Projects,
}

/// What a handler is about to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read a project's issues, events, releases, monitors (viewers and up;
    /// `project:read`).
    Read,
    /// Change an issue's status, assign, comment, merge (members and up; `project:write`).
    Triage,
    /// Upload source maps, manage releases (members and up; `project:releases`).
    Releases,
    /// A project's settings, channels, monitors, deletion; create projects (admins and up;
    /// `project:admin`).
    Project,
    /// Users, roles, teams, API tokens, the delivery and audit logs, retention (owners;
    /// `org:admin`).
    Admin,
}

impl Permission {
    fn refusal(self) -> &'static str {
        match self {
            Permission::Read => "you may not read this",
            Permission::Triage => "you may not triage these issues (viewers read only)",
            Permission::Releases => "you may not manage releases (viewers read only)",
            Permission::Project => "only admins and owners may change a project's settings",
            Permission::Admin => "only owners may do this",
        }
    }

    /// The least role that may do it.
    pub fn role(self) -> Role {
        match self {
            Permission::Read => Role::Viewer,
            Permission::Triage | Permission::Releases => Role::Member,
            Permission::Project => Role::Admin,
            Permission::Admin => Role::Owner,
        }
    }

    /// The scope a token needs for it (named in refusals).
    pub fn scope(self) -> &'static str {
        self.scopes()[0]
    }

    /// The token scopes that allow it, the narrowest first.
    pub fn scopes(self) -> &'static [&'static str] {
        match self {
            Permission::Read => &[
                "project:read",
                "project:write",
                "project:admin",
                "org:admin",
            ],
            Permission::Triage => &["project:write", "project:admin", "org:admin"],
            Permission::Releases => &[RELEASES_SCOPE, "project:admin", "org:admin"],
            Permission::Project => &["project:admin", "org:admin"],
            Permission::Admin => &["org:admin"],
        }
    }
}

/// Why a request is not let in.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Neither an `Authorization` header nor a live session (401).
    #[error("missing Authorization: Bearer <token>")]
    Missing,
    /// An `Authorization` header of another scheme (401).
    #[error("Authorization must use the Bearer scheme")]
    NotBearer,
    /// An unknown API token (401).
    #[error("invalid API token")]
    InvalidToken,
    /// A token without a scope this needs (named) (403).
    #[error("this token lacks the scope {0}")]
    Scope(&'static str),
    /// A project, issue or monitor outside the principal's projects (404, as if absent).
    #[error("not found")]
    Hidden,
    /// A session-authenticated change without the session's CSRF token (403).
    #[error("a session-authenticated change needs the X-CSRF-Token header")]
    Csrf,
    /// Authenticated, but not allowed to do this (403).
    #[error("{}", .0.refusal())]
    Denied(Permission),
    /// The session or token lookup failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Principal {
    /// Authenticates a request: a bearer token when an `Authorization` header is present (a
    /// wrong one is refused even when a session cookie is there too), else the session cookie
    /// under the CSRF rule. A token's last use is recorded at most once a minute of `app`'s
    /// clock; failing to record it does not fail the request. What it may do is asked later
    /// ([`Principal::require`]). The principal the access guard found is reused.
    pub async fn authenticate(parts: &Parts, app: &AppState) -> Result<Principal, AuthError> {
        if let Some(p) = parts.extensions.get::<Principal>() {
            return Ok(p.clone());
        }
        let store = &app.store;
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return CurrentUser::from_session(parts, store)
                .await?
                .map(Principal::User)
                .ok_or(AuthError::Missing);
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::NotBearer)?;
        let token = store
            .token_by_secret(token)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        let now = app.clock.now_ms();
        let stale = token
            .last_used_ms
            .is_none_or(|t| now.saturating_sub(t) >= crate::store::TOUCH_INTERVAL_MS || t > now);
        if stale {
            if let Err(e) = store.touch_token(token.id, now).await {
                tracing::warn!(token_id = token.id, error = %e, "cannot record the token's use");
            }
        }
        let mut projects = match token.projects.as_slice() {
            [] => Projects::All,
            ids => Projects::Only(ids.to_vec()),
        };
        let mut owner_role = None;
        if let Some(owner) = token.user_id {
            let owner = store.user(owner).await?;
            projects = projects.and(Projects::of_user(store, &owner).await?);
            owner_role = Some(owner.role);
        }
        Ok(Principal::Token(TokenCaller {
            token,
            owner_role,
            projects,
        }))
    }

    /// [`Principal::authenticate`] for the uploads and releases routes: changes need
    /// [`Permission::Releases`]; reads [`Permission::Read`] or that.
    pub async fn authenticate_releases(
        parts: &Parts,
        app: &AppState,
    ) -> Result<Principal, AuthError> {
        let p = Self::authenticate(parts, app).await?;
        let reads = !csrf::changes_state(&parts.method);
        if !(reads && p.require(Permission::Read).is_ok()) {
            p.require(Permission::Releases)?;
        }
        Ok(p)
    }

    /// The projects this principal sees.
    pub fn projects(&self) -> &Projects {
        match self {
            Principal::User(u) => &u.projects,
            Principal::Token(t) => &t.projects,
        }
    }

    /// `Ok` when this principal sees `project_id`, else [`AuthError::Hidden`].
    pub fn see(&self, project_id: i64) -> Result<(), AuthError> {
        if self.projects().contains(project_id) {
            Ok(())
        } else {
            Err(AuthError::Hidden)
        }
    }

    /// Who this is in the audit log, seen from `ip`.
    pub fn actor(&self, ip: Option<std::net::IpAddr>) -> Actor {
        match self {
            Principal::User(u) => Actor::user(&u.user),
            Principal::Token(t) => Actor::token(t.id, &t.name),
        }
        .from_ip(ip)
    }

    /// The signed-in user, when this is a session.
    pub fn user(&self) -> Option<&User> {
        match self {
            Principal::User(u) => Some(&u.user),
            Principal::Token(_) => None,
        }
    }

    /// `Ok` when this principal may do `permission`: a user by role, a token by scope
    /// ([`AuthError::Scope`] naming the one it lacks) and by its owner's role; else
    /// [`AuthError::Denied`].
    pub fn require(&self, permission: Permission) -> Result<(), AuthError> {
        match self {
            Principal::User(user) => user.require(permission),
            Principal::Token(t) => {
                if !t.has_scope_for(permission) {
                    return Err(AuthError::Scope(permission.scope()));
                }
                match t.owner_role {
                    Some(role) if !role.at_least(permission.role()) => {
                        Err(AuthError::Denied(permission))
                    }
                    _ => Ok(()),
                }
            }
        }
    }
}

impl CurrentUser {
    /// The user of the request's live session, `None` without one. A request that changes
    /// state must carry the session's CSRF token ([`csrf::session_request_ok`]), else
    /// [`AuthError::Csrf`].
    pub async fn from_session(
        parts: &Parts,
        store: &Store,
    ) -> Result<Option<CurrentUser>, AuthError> {
        let Some(session) = session_from_headers(&parts.headers, store).await? else {
            return Ok(None);
        };
        if !csrf::session_request_ok(parts, &session.csrf_token) {
            return Err(AuthError::Csrf);
        }
        let projects = Projects::of_user(store, &session.user).await?;
        Ok(Some(CurrentUser {
            user: session.user,
            csrf: session.csrf_token,
            projects,
        }))
    }

    /// `Ok` when this user's role allows `permission`, else [`AuthError::Denied`].
    pub fn require(&self, permission: Permission) -> Result<(), AuthError> {
        if self.user.role.at_least(permission.role()) {
            Ok(())
        } else {
            Err(AuthError::Denied(permission))
        }
    }

    /// [`CurrentUser::require`] of [`Permission::Admin`].
    pub fn require_admin(&self) -> Result<(), AuthError> {
        self.require(Permission::Admin)
    }

    /// `Ok` when this user sees `project_id`, else [`AuthError::Hidden`].
    pub fn see(&self, project_id: i64) -> Result<(), AuthError> {
        if self.projects.contains(project_id) {
            Ok(())
        } else {
            Err(AuthError::Hidden)
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Missing | AuthError::NotBearer | AuthError::InvalidToken => {
                ApiError::unauthorized(e.to_string())
            }
            AuthError::Csrf | AuthError::Denied(_) | AuthError::Scope(_) => {
                ApiError::forbidden(e.to_string())
            }
            AuthError::Hidden => StoreError::NotFound.into(),
            AuthError::Store(e) => e.into(),
        }
    }
}

/// The API's extractor: add `Principal` as a handler argument. Reads need
/// [`Permission::Read`], changes [`Permission::Triage`] (handlers ask for more).
impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let p = Principal::authenticate(parts, app).await?;
        let least = if csrf::changes_state(&parts.method) {
            Permission::Triage
        } else {
            Permission::Read
        };
        p.require(least)?;
        Ok(p)
    }
}

/// An API caller without the extractor's least permission: for what anyone signed in may do
/// to their own account, viewers too (ending one's own sessions).
#[derive(Debug, Clone)]
pub struct SelfService(pub Principal);

impl FromRequestParts<AppState> for SelfService {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        Ok(SelfService(Principal::authenticate(parts, app).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role) -> CurrentUser {
        CurrentUser {
            user: User {
                id: 1,
                email: "a@example.com".into(),
                is_admin: role == Role::Owner,
                role,
                created_ms: 0,
                last_login_ms: None,
            },
            csrf: String::new(),
            projects: Projects::All,
        }
    }

    fn token(scopes: &str, owner_role: Option<Role>) -> Principal {
        Principal::Token(TokenCaller {
            token: ApiToken {
                id: 1,
                name: "ci".into(),
                user_id: None,
                user_email: None,
                hint: None,
                created_ms: 0,
                last_used_ms: None,
                scopes: scopes.into(),
                projects: vec![],
            },
            owner_role,
            projects: Projects::Only(vec![2, 5]),
        })
    }

    #[test]
    fn roles_allow_in_order() {
        let viewer = user(Role::Viewer);
        assert!(viewer.require(Permission::Read).is_ok());
        assert!(matches!(
            viewer.require(Permission::Triage),
            Err(AuthError::Denied(Permission::Triage))
        ));
        let member = user(Role::Member);
        assert!(member.require(Permission::Triage).is_ok());
        assert!(member.require(Permission::Project).is_err());
        assert!(user(Role::Admin).require(Permission::Project).is_ok());
        assert!(user(Role::Admin).require_admin().is_err());
        assert!(user(Role::Owner).require_admin().is_ok());
    }

    #[test]
    fn tokens_need_a_scope_and_their_owners_role() {
        assert!(token("", None).require(Permission::Admin).is_ok());
        assert!(token("org:admin", None).require(Permission::Admin).is_ok());
        let read = token("project:read", None);
        assert!(read.require(Permission::Read).is_ok());
        assert!(matches!(
            read.require(Permission::Triage),
            Err(AuthError::Scope("project:write"))
        ));
        let releases = token(RELEASES_SCOPE, None);
        assert!(releases.require(Permission::Releases).is_ok());
        assert!(matches!(
            releases.require(Permission::Read),
            Err(AuthError::Scope("project:read"))
        ));
        let capped = token("org:admin", Some(Role::Viewer));
        assert!(capped.require(Permission::Read).is_ok());
        assert!(matches!(
            capped.require(Permission::Triage),
            Err(AuthError::Denied(_))
        ));
        assert!(read.see(5).is_ok() && matches!(read.see(3), Err(AuthError::Hidden)));
    }

    #[test]
    fn project_sets_intersect() {
        let a = Projects::Only(vec![1, 2, 3]);
        assert_eq!(a.clone().and(Projects::All), a);
        assert_eq!(
            a.and(Projects::Only(vec![2, 3, 4])),
            Projects::Only(vec![2, 3])
        );
    }

    #[test]
    fn refusals_map_to_statuses() {
        let status = |e: AuthError| ApiError::from(e).status().as_u16();
        assert_eq!(status(AuthError::Missing), 401);
        assert_eq!(status(AuthError::InvalidToken), 401);
        assert_eq!(status(AuthError::Csrf), 403);
        assert_eq!(status(AuthError::Denied(Permission::Admin)), 403);
        assert_eq!(status(AuthError::Scope(RELEASES_SCOPE)), 403);
        assert_eq!(status(AuthError::Hidden), 404);
    }
}
