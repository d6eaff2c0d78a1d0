//! The audit log (`audit_log`): who did what to accounts and access, from where, and when.
//!
//! An entry names an [`AuditAction`] (stored by its dotted name, `token.revoke`), the
//! [`Actor`] (`crate::actor`, shared with the issue timeline) who did it (a signed-in user, an API token, the command line on the server's
//! machine, or Errata itself) with the client address of the request, an optional
//! [`AuditTarget`] (the user or token acted on) and a JSON object of details. Actor and target
//! are copied as they were, not referenced, so entries outlive the users and tokens they
//! name. Entries are only ever appended.
//!
//! Changes that are audited write their entry ([`NewAuditEntry`]) with [`record`] in the
//! transaction that makes the change (`tokens.rs`, `account_changes.rs`): a change without
//! its entry is never committed. Events that change nothing else (a failed sign-in) use
//! [`Store::record_audit`]. Readers page newest first ([`Store::audit_log`]); one entry's JSON
//! ([`AuditEntry::to_json`]) is the shape of the API and of one line of a JSON-lines export.
//!
//! Extending it (sign-ins, teams, project deletion: issue #19) is a new [`AuditAction`]
//! variant with its name, and a [`record`] call in the transaction of the change.

use serde_json::{json, Value};

use super::db::{arg, next_page, page_limit, parse_name, Arg, Executor, IdRow};
pub use crate::actor::{Actor, ActorKind};

use super::{Store, StoreError, User};
use crate::timefmt::rfc3339_ms;

/// What was done. Stored and shown by [`AuditAction::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// An API token was created (`token.create`).
    TokenCreate,
    /// An API token was revoked (`token.revoke`).
    TokenRevoke,
    /// A user was created (`user.create`).
    UserCreate,
    /// A user was deleted, with their sessions and tokens (`user.delete`).
    UserDelete,
    /// A user's role changed (`user.role`; data `{"from", "to"}`).
    UserRole,
    /// A user changed their own password (`user.password_change`).
    PasswordChange,
    /// An admin made a one-time password reset link for a user
    /// (`user.password_reset_link`; data `{"expires"}`).
    PasswordResetLink,
    /// A user set a new password through a reset link (`user.password_reset`).
    PasswordReset,
    /// A team was created (`team.create`).
    TeamCreate,
    /// A team was deleted (`team.delete`).
    TeamDelete,
    /// A user joined a team (`team.member_add`; data `{"user"}`).
    TeamMemberAdd,
    /// A user left a team (`team.member_remove`; data `{"user"}`).
    TeamMemberRemove,
    /// A project was given to a team (`team.project_add`; data `{"project"}`).
    TeamProjectAdd,
    /// A project was taken from a team (`team.project_remove`; data `{"project"}`).
    TeamProjectRemove,
    /// A project was deleted (`project.delete`).
    ProjectDelete,
    /// A user signed in through single sign-on (`user.sign_in`; data `{"provider"}`).
    SignIn,
    /// A single sign-on was refused (`user.sign_in_failed`; data `{"provider", "reason",
    /// "email"?}`).
    SignInFailed,
}

impl AuditAction {
    /// Every action, in the order the audit page lists them in its filter.
    pub const ALL: [AuditAction; 17] = [
        AuditAction::TokenCreate,
        AuditAction::TokenRevoke,
        AuditAction::UserCreate,
        AuditAction::UserDelete,
        AuditAction::UserRole,
        AuditAction::PasswordChange,
        AuditAction::PasswordResetLink,
        AuditAction::PasswordReset,
        AuditAction::TeamCreate,
        AuditAction::TeamDelete,
        AuditAction::TeamMemberAdd,
        AuditAction::TeamMemberRemove,
        AuditAction::TeamProjectAdd,
        AuditAction::TeamProjectRemove,
        AuditAction::ProjectDelete,
        AuditAction::SignIn,
        AuditAction::SignInFailed,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::TokenCreate => "token.create",
            AuditAction::TokenRevoke => "token.revoke",
            AuditAction::UserCreate => "user.create",
            AuditAction::UserDelete => "user.delete",
            AuditAction::UserRole => "user.role",
            AuditAction::PasswordChange => "user.password_change",
            AuditAction::PasswordResetLink => "user.password_reset_link",
            AuditAction::PasswordReset => "user.password_reset",
            AuditAction::TeamCreate => "team.create",
            AuditAction::TeamDelete => "team.delete",
            AuditAction::TeamMemberAdd => "team.member_add",
            AuditAction::TeamMemberRemove => "team.member_remove",
            AuditAction::TeamProjectAdd => "team.project_add",
            AuditAction::TeamProjectRemove => "team.project_remove",
            AuditAction::ProjectDelete => "project.delete",
            AuditAction::SignIn => "user.sign_in",
            AuditAction::SignInFailed => "user.sign_in_failed",
        }
    }

    /// The action named `name`, if any.
    pub fn from_name(name: &str) -> Option<AuditAction> {
        AuditAction::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

/// What an action was done to: `kind` (`user`, `token`), its id and label as they were.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditTarget {
    /// `user`, `token`, `team` or `project`.
    pub kind: String,
    /// Its id.
    pub id: Option<i64>,
    /// The user's e-mail, the token's name.
    pub label: String,
}

impl AuditTarget {
    /// A user.
    pub fn user(user: &User) -> AuditTarget {
        AuditTarget {
            kind: "user".to_owned(),
            id: Some(user.id),
            label: user.email.clone(),
        }
    }

    /// An API token.
    pub fn token(id: i64, name: &str) -> AuditTarget {
        AuditTarget {
            kind: "token".to_owned(),
            id: Some(id),
            label: name.to_owned(),
        }
    }

    /// A project.
    pub fn project(id: i64, name: &str) -> AuditTarget {
        AuditTarget {
            kind: "project".to_owned(),
            id: Some(id),
            label: name.to_owned(),
        }
    }

    /// A team.
    pub fn team(id: i64, name: &str) -> AuditTarget {
        AuditTarget {
            kind: "team".to_owned(),
            id: Some(id),
            label: name.to_owned(),
        }
    }
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// Entry id (increasing).
    pub id: i64,
    /// When, epoch ms.
    pub created_ms: i64,
    /// Who, from where.
    pub actor: Actor,
    /// What.
    pub action: AuditAction,
    /// To whom or what.
    pub target: Option<AuditTarget>,
    /// Details (a JSON object).
    pub data: Value,
}

impl AuditEntry {
    /// The entry as JSON, the API's and the JSON-lines export's shape:
    /// `{"id", "date_created" (RFC 3339), "action", "actor": {"kind", "id", "label"}, "ip",
    /// "target": {"kind", "id", "label"} | null, "data": {…}}`.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "date_created": rfc3339_ms(self.created_ms),
            "action": self.action.as_str(),
            "actor": {
                "kind": self.actor.kind.as_str(),
                "id": self.actor.id,
                "label": self.actor.label,
            },
            "ip": self.actor.ip,
            "target": self.target.as_ref().map(|t| json!({
                "kind": t.kind,
                "id": t.id,
                "label": t.label,
            })),
            "data": self.data,
        })
    }
}

/// Filter and page of [`Store::audit_log`].
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only entries of this action.
    pub action: Option<AuditAction>,
    /// Page size; clamped to 1..=100.
    pub limit: usize,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of the audit log, newest first.
#[derive(Debug, Clone)]
pub struct AuditPage {
    /// The entries, newest first.
    pub entries: Vec<AuditEntry>,
    /// Cursor of the next (older) page; `None` on the last page.
    pub next_cursor: Option<String>,
}

const AUDIT_COLUMNS: &str = "audit_id, created_ms, actor_kind, actor_id, actor_label, ip, \
    action, target_kind, target_id, target_label, data";

row! {
    struct AuditRow {
        audit_id: i64,
        created_ms: i64,
        actor_kind: String,
        actor_id: Option<i64>,
        actor_label: String,
        ip: Option<String>,
        action: String,
        target_kind: Option<String>,
        target_id: Option<i64>,
        target_label: Option<String>,
        data: String,
    }

    try_into |r| {
        let kinds = [
            ActorKind::User,
            ActorKind::Token,
            ActorKind::Cli,
            ActorKind::System,
        ];
        Ok(AuditEntry {
            id: r.audit_id,
            created_ms,
            actor: Actor {
                kind: parse_name(&kinds, ActorKind::as_str, &r.actor_kind, "audit actor")?,
                id: r.actor_id,
                label: r.actor_label,
                ip: r.ip,
            },
            action: AuditAction::from_name(&r.action).ok_or_else(|| {
                StoreError::Other(format!("corrupt audit action {:?}", r.action))
            })?,
            target: r.target_kind.map(|kind| AuditTarget {
                kind,
                id: r.target_id,
                label: r.target_label.unwrap_or_default(),
            }),
            data: serde_json::from_str(&r.data).map_err(|e| {
                StoreError::Other(format!("corrupt data of audit entry {}: {e}", r.audit_id))
            })?,
        })
    }
}

/// An entry to append: what `by` did at `at_ms`, to whom, with details.
#[derive(Debug, Clone)]
pub struct NewAuditEntry<'a> {
    /// When, epoch ms.
    pub at_ms: i64,
    /// Who, from where.
    pub by: &'a Actor,
    /// What.
    pub action: AuditAction,
    /// To whom or what.
    pub target: Option<AuditTarget>,
    /// Details (a JSON object).
    pub data: Value,
}

/// Appends `entry` in the transaction (or on the executor) `db`: audited changes call it in
/// the transaction that makes the change. Returns the entry's id.
pub(super) async fn record(
    db: &mut impl Executor,
    entry: &NewAuditEntry<'_>,
) -> Result<i64, StoreError> {
    let (by, target) = (entry.by, entry.target.as_ref());
    let row = db
        .fetch_one::<IdRow>(
            "insert into audit_log (created_ms, actor_kind, actor_id, actor_label, ip, action, \
             target_kind, target_id, target_label, data) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) returning audit_id as id",
            vec![
                entry.at_ms.into(),
                by.kind.as_str().into(),
                by.id.into(),
                by.label.as_str().into(),
                by.ip.as_deref().into(),
                entry.action.as_str().into(),
                target.map(|t| t.kind.as_str()).into(),
                target.and_then(|t| t.id).into(),
                target.map(|t| t.label.as_str()).into(),
                entry.data.to_string().into(),
            ],
        )
        .await?;
    Ok(row.id)
}

impl Store {
    /// Appends one entry on its own, for what changes nothing else in the database (a
    /// failed sign-in). Returns its id.
    pub async fn record_audit(&self, entry: &NewAuditEntry<'_>) -> Result<i64, StoreError> {
        record(&mut self.db(), entry).await
    }

    /// One page of the audit log, newest first. Cursors are the last entry's id.
    /// Errors: [`StoreError::InvalidCursor`] for a cursor that is not one.
    pub async fn audit_log(&self, q: &AuditQuery) -> Result<AuditPage, StoreError> {
        let mut args: Vec<Arg<'_>> = Vec::new();
        let mut sql = format!("select {AUDIT_COLUMNS} from audit_log where 1 = 1");
        if let Some(action) = q.action {
            sql += &format!(" and action = {}", arg(&mut args, action.as_str()));
        }
        if let Some(cursor) = q.cursor.as_deref() {
            let before: i64 = cursor.parse().map_err(|_| {
                StoreError::InvalidCursor(format!("{cursor:?} is not a cursor of the audit log"))
            })?;
            sql += &format!(" and audit_id < {}", arg(&mut args, before));
        }
        let limit = page_limit(q.limit);
        sql += &format!(
            " order by audit_id desc limit {}",
            arg(&mut args, limit + 1)
        );
        let rows = self.db().fetch_all::<AuditRow>(&sql, args).await?;
        let mut entries = rows
            .into_iter()
            .map(AuditEntry::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = next_page(&mut entries, limit).map(|last| last.id.to_string());
        Ok(AuditPage {
            entries,
            next_cursor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_round_trip() {
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::from_name(a.as_str()), Some(a));
        }
        assert_eq!(AuditAction::from_name("user.sign_out"), None);
    }

    #[test]
    fn entries_serialize_with_their_actor_and_target() {
        let e = AuditEntry {
            id: 3,
            created_ms: 0,
            actor: Actor::cli().from_ip("127.0.0.1".parse().ok()),
            action: AuditAction::TokenRevoke,
            target: Some(AuditTarget::token(7, "deploy")),
            data: json!({}),
        };
        let v = e.to_json();
        assert_eq!(v["action"], "token.revoke");
        assert_eq!(v["actor"]["kind"], "cli");
        assert_eq!(v["ip"], "127.0.0.1");
        assert_eq!(v["target"]["label"], "deploy");
        assert_eq!(v["date_created"], "1970-01-01T00:00:00Z");
    }
}
