//! Audited changes to accounts: adding and deleting users, their role, passwords, and the
//! one-time password reset links admins make (`password_resets`).
//!
//! Each change and its audit entry (`audit.rs`) are one transaction. Two rules keep the
//! issue browser manageable: the last admin can be neither deleted nor made a member
//! ([`StoreError::Conflict`]), and a password set by any route ends the user's other sessions
//! (a reset ends all of them), so a leaked session does not outlive the password.
//!
//! Reset links are random 256-bit tokens; only their SHA-256 is stored, a link works once
//! and until it expires, and making a new one for a user replaces the older ones.

use serde_json::{json, Value};

use super::accounts::{insert_user, UserRow, USER_COLUMNS};
use super::audit::{self, Actor, AuditAction, AuditTarget, NewAuditEntry};
use super::db::{Executor, IdRow, Tx};
use super::{normalize_email, Backend, Role, Store, StoreError, User};

async fn user_by_id(db: &mut impl Executor, user_id: i64) -> Result<User, StoreError> {
    let sql = format!("select {USER_COLUMNS} from users u where u.user_id = $1");
    Ok(db
        .fetch_one::<UserRow>(&sql, vec![user_id.into()])
        .await?
        .into())
}

/// Refuses a change that would leave no owner: `user` is about to stop being one. On
/// PostgreSQL the owners' rows are locked first, so two such changes cannot both pass.
async fn keep_an_admin(db: &mut impl Executor, user: &User) -> Result<(), StoreError> {
    if user.role != Role::Owner {
        return Ok(());
    }
    let lock = match db.backend() {
        Backend::Postgres => " for update",
        Backend::Sqlite => "",
    };
    let admins = db
        .fetch_ids(
            &format!("select user_id as id from users where role = 'owner'{lock}"),
            vec![],
        )
        .await?;
    if admins.iter().all(|&a| a == user.id) {
        return Err(StoreError::Conflict(format!(
            "{} is the last owner: make another user an owner first",
            user.email
        )));
    }
    Ok(())
}

/// Records `by` doing `action` to `user` at `at_ms` in `tx`, and commits: the last step of
/// every change here.
async fn commit_recorded(
    mut tx: Tx,
    (by, at_ms): (&Actor, i64),
    action: AuditAction,
    user: &User,
    data: Value,
) -> Result<(), StoreError> {
    let entry = NewAuditEntry {
        at_ms,
        by,
        action,
        target: Some(AuditTarget::user(user)),
        data,
    };
    audit::record(&mut tx, &entry).await?;
    tx.commit().await
}

/// Deletes `user_id`'s rows of `table` (sessions, reset links, tokens); returns how many.
async fn delete_of_user(tx: &mut Tx, table: &str, user_id: i64) -> Result<u64, StoreError> {
    tx.execute(
        &format!("delete from {table} where user_id = $1"),
        vec![user_id.into()],
    )
    .await
}

impl Store {
    /// One user. Errors: [`StoreError::NotFound`].
    pub async fn user(&self, user_id: i64) -> Result<User, StoreError> {
        user_by_id(&mut self.db(), user_id).await
    }

    /// Creates a user with an already hashed password and records `by` doing it.
    /// Errors: [`StoreError::Conflict`] when the e-mail is taken.
    pub async fn add_user(
        &self,
        email: &str,
        password_hash: &str,
        role: Role,
        by: &Actor,
        at_ms: i64,
    ) -> Result<User, StoreError> {
        let email = normalize_email(email);
        let mut tx = self.pool.begin_write().await?;
        let id = insert_user(&mut tx, &email, password_hash, role, at_ms).await?;
        let user = user_by_id(&mut tx, id).await?;
        let data = json!({ "role": role.as_str() });
        commit_recorded(tx, (by, at_ms), AuditAction::UserCreate, &user, data).await?;
        Ok(user)
    }

    /// Deletes a user with their sessions, reset links and API tokens, and records `by`
    /// doing it; returns the user as they were.
    /// Errors: [`StoreError::NotFound`]; [`StoreError::Conflict`] for the last admin.
    pub async fn delete_user(
        &self,
        user_id: i64,
        by: &Actor,
        at_ms: i64,
    ) -> Result<User, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let user = user_by_id(&mut tx, user_id).await?;
        keep_an_admin(&mut tx, &user).await?;
        let tokens = delete_of_user(&mut tx, "api_tokens", user_id).await?;
        delete_of_user(&mut tx, "sessions", user_id).await?;
        delete_of_user(&mut tx, "password_resets", user_id).await?;
        tx.execute_one("delete from users where user_id = $1", vec![user_id.into()])
            .await?;
        let data = json!({ "role": user.role.as_str(), "tokens_revoked": tokens });
        commit_recorded(tx, (by, at_ms), AuditAction::UserDelete, &user, data).await?;
        Ok(user)
    }

    /// Gives a user `role` and records `by` doing it (nothing is recorded when the role
    /// does not change); returns the updated user.
    /// Errors: [`StoreError::NotFound`]; [`StoreError::Conflict`] for the last owner.
    pub async fn set_user_role(
        &self,
        user_id: i64,
        role: Role,
        by: &Actor,
        at_ms: i64,
    ) -> Result<User, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let user = user_by_id(&mut tx, user_id).await?;
        if user.role == role {
            return Ok(user);
        }
        if role != Role::Owner {
            keep_an_admin(&mut tx, &user).await?;
        }
        tx.execute_one(
            "update users set is_admin = $2, role = $3 where user_id = $1",
            vec![
                user_id.into(),
                (role == Role::Owner).into(),
                role.as_str().into(),
            ],
        )
        .await?;
        let updated = user_by_id(&mut tx, user_id).await?;
        let data = json!({ "from": user.role.as_str(), "to": role.as_str() });
        commit_recorded(tx, (by, at_ms), AuditAction::UserRole, &user, data).await?;
        Ok(updated)
    }

    /// A user changing their own password (already checked against the old one): sets the
    /// new hash, ends every other session of theirs (all but `keep_session_hash`), spends
    /// their reset links and records it. Errors: [`StoreError::NotFound`].
    pub async fn change_password(
        &self,
        user_id: i64,
        password_hash: &str,
        keep_session_hash: &str,
        by: &Actor,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let user = user_by_id(&mut tx, user_id).await?;
        tx.execute_one(
            "update users set password_hash = $2 where user_id = $1",
            vec![user_id.into(), password_hash.into()],
        )
        .await?;
        let ended = tx
            .execute(
                "delete from sessions where user_id = $1 and session_hash <> $2",
                vec![user_id.into(), keep_session_hash.into()],
            )
            .await?;
        delete_of_user(&mut tx, "password_resets", user_id).await?;
        let data = json!({ "sessions_ended": ended });
        commit_recorded(tx, (by, at_ms), AuditAction::PasswordChange, &user, data).await
    }

    /// Stores a one-time reset link (its hash) for a user, valid until `expires_ms`,
    /// replacing their earlier links, and records `by` making it; returns the user.
    /// Errors: [`StoreError::NotFound`].
    pub async fn create_password_reset(
        &self,
        user_id: i64,
        token_hash: &str,
        expires_ms: i64,
        by: &Actor,
        at_ms: i64,
    ) -> Result<User, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let user = user_by_id(&mut tx, user_id).await?;
        delete_of_user(&mut tx, "password_resets", user_id).await?;
        tx.execute(
            "insert into password_resets (token_hash, user_id, created_ms, expires_ms) \
             values ($1, $2, $3, $4)",
            vec![
                token_hash.into(),
                user_id.into(),
                at_ms.into(),
                expires_ms.into(),
            ],
        )
        .await?;
        let data = json!({ "expires": crate::timefmt::rfc3339_ms(expires_ms) });
        commit_recorded(tx, (by, at_ms), AuditAction::PasswordResetLink, &user, data).await?;
        Ok(user)
    }

    /// The user an unexpired reset link (by its hash) is for, if any; does not spend it.
    pub async fn password_reset_user(
        &self,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<Option<User>, StoreError> {
        let row = self
            .db()
            .fetch_optional::<IdRow>(
                "select user_id as id from password_resets \
                 where token_hash = $1 and expires_ms > $2",
                vec![token_hash.into(), now_ms.into()],
            )
            .await?;
        match row {
            Some(r) => Ok(Some(self.user(r.id).await?)),
            None => Ok(None),
        }
    }

    /// Sets a new password through a reset link, in one transaction: the link must be
    /// unexpired; it and every other link of the user are spent, every session of the user
    /// ends, and the reset is recorded as done by the user from `ip`. Returns the user.
    /// Errors: [`StoreError::NotFound`] for an unknown, spent or expired link.
    pub async fn reset_password(
        &self,
        token_hash: &str,
        password_hash: &str,
        ip: Option<std::net::IpAddr>,
        now_ms: i64,
    ) -> Result<User, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let user_id = tx
            .fetch_one::<IdRow>(
                "select user_id as id from password_resets \
                 where token_hash = $1 and expires_ms > $2",
                vec![token_hash.into(), now_ms.into()],
            )
            .await?
            .id;
        let user = user_by_id(&mut tx, user_id).await?;
        tx.execute_one(
            "update users set password_hash = $2 where user_id = $1",
            vec![user_id.into(), password_hash.into()],
        )
        .await?;
        let ended = delete_of_user(&mut tx, "sessions", user_id).await?;
        delete_of_user(&mut tx, "password_resets", user_id).await?;
        let by = Actor::user(&user).from_ip(ip);
        let data = json!({ "sessions_ended": ended });
        commit_recorded(tx, (&by, now_ms), AuditAction::PasswordReset, &user, data).await?;
        Ok(user)
    }
}
