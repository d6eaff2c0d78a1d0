//! Accounts of the issue browser: users, browser sessions and one-time setup links.
//!
//! Secrets never reach the database in the clear: passwords arrive already hashed (argon2
//! PHC strings, made by the web layer), session cookies and setup tokens are stored as their
//! hex SHA-256 ([`secret_hash`](super::secret_hash)). E-mail addresses are stored lowercased
//! and trimmed, so sign-in is case-insensitive.

use super::audit::{self, Actor, AuditAction, AuditTarget, NewAuditEntry};
use super::db::{Executor, IdRow};
use super::{now_ms, Role, Store, StoreError};

/// A user of the issue browser.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    /// User id.
    pub id: i64,
    /// Sign-in e-mail, lowercased.
    pub email: String,
    /// True for owners ([`Role::Owner`]): they see the admin pages and may manage users.
    pub is_admin: bool,
    /// What they may do, and where ([`Role`]).
    pub role: Role,
    /// Creation time, epoch ms.
    pub created_ms: i64,
    /// Last successful sign-in, epoch ms.
    pub last_login_ms: Option<i64>,
}

/// A live session: who is signed in and the CSRF token their forms must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The signed-in user.
    pub user: User,
    /// Per-session CSRF token (random, 32 hex).
    pub csrf_token: String,
    /// When the session ends, epoch ms.
    pub expires_ms: i64,
}

/// A live session as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Its id: the first 16 hex characters of the SHA-256 of its cookie.
    pub id: String,
    /// When it began (sign-in), epoch ms.
    pub created_ms: i64,
    /// When it ends, epoch ms.
    pub expires_ms: i64,
}

row! {
    struct SessionInfoRow {
        id: String,
        created_ms: i64,
        expires_ms: i64,
    }
}

/// Length of a session's listed id ([`SessionInfo::id`]).
pub const SESSION_ID_LEN: usize = 16;

row! {
    pub(super) struct UserRow {
        user_id: i64,
        email: String,
        role: String,
        created_ms: i64,
        last_login_ms: Option<i64>,
    }
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        // A role this build does not know reads as the least powerful one.
        let role = Role::from_name(&r.role).unwrap_or(Role::Viewer);
        User {
            id: r.user_id,
            email: r.email,
            is_admin: role == Role::Owner,
            role,
            created_ms: r.created_ms,
            last_login_ms: r.last_login_ms,
        }
    }
}

row! {
    struct UserWithHashRow {
        #[sqlx(flatten)]
        user: UserRow,
        password_hash: String,
    }
}

row! {
    struct SessionRow {
        #[sqlx(flatten)]
        user: UserRow,
        csrf_token: String,
        expires_ms: i64,
    }
}

pub(super) const USER_COLUMNS: &str = "u.user_id, u.email, u.role, u.created_ms, u.last_login_ms";

/// The stored form of an e-mail address: trimmed and lowercased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Inserts a user (`email` already normalized) with `role`, created at `at_ms`; returns
/// their id. Errors: [`StoreError::Conflict`] when the e-mail is taken.
pub(super) async fn insert_user(
    db: &mut impl Executor,
    email: &str,
    password_hash: &str,
    role: Role,
    at_ms: i64,
) -> Result<i64, StoreError> {
    Ok(db
        .fetch_one::<IdRow>(
            "insert into users (email, password_hash, is_admin, role, created_ms) \
             values ($1, $2, $3, $4, $5) returning user_id as id",
            vec![
                email.into(),
                password_hash.into(),
                (role == Role::Owner).into(),
                role.as_str().into(),
                at_ms.into(),
            ],
        )
        .await?
        .id)
}

impl Store {
    /// Creates a user with an already hashed password, without an audit entry (tests and
    /// seeding; the pages and the command line use [`Store::add_user`]): an owner when
    /// `is_admin`, else a member. Errors: [`StoreError::Conflict`] when the e-mail is taken.
    pub async fn create_user(
        &self,
        email: &str,
        password_hash: &str,
        is_admin: bool,
    ) -> Result<User, StoreError> {
        let role = if is_admin { Role::Owner } else { Role::Member };
        self.create_user_with_role(email, password_hash, role).await
    }

    /// [`Store::create_user`] with any [`Role`].
    pub async fn create_user_with_role(
        &self,
        email: &str,
        password_hash: &str,
        role: Role,
    ) -> Result<User, StoreError> {
        let email = normalize_email(email);
        let now = now_ms();
        let id = insert_user(&mut self.db(), &email, password_hash, role, now).await?;
        Ok(User {
            id,
            email,
            is_admin: role == Role::Owner,
            role,
            created_ms: now,
            last_login_ms: None,
        })
    }

    /// The user with this e-mail (any case) and their password hash, if any.
    pub async fn user_with_password(
        &self,
        email: &str,
    ) -> Result<Option<(User, String)>, StoreError> {
        let sql = format!("select {USER_COLUMNS}, u.password_hash from users u where u.email = $1");
        let row = self
            .db()
            .fetch_optional::<UserWithHashRow>(&sql, vec![normalize_email(email).into()])
            .await?;
        Ok(row.map(|r| (r.user.into(), r.password_hash)))
    }

    /// Every user, oldest first.
    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let sql = format!("select {USER_COLUMNS} from users u order by u.user_id");
        let rows = self.db().fetch_all::<UserRow>(&sql, vec![]).await?;
        Ok(rows.into_iter().map(User::from).collect())
    }

    /// Number of users (0 means the first admin still has to be created).
    pub async fn user_count(&self) -> Result<i64, StoreError> {
        Ok(self
            .db()
            .fetch_one::<IdRow>("select count(*) as id from users", vec![])
            .await?
            .id)
    }

    /// Replaces a user's password hash. Errors: [`StoreError::NotFound`].
    pub async fn set_password(&self, user_id: i64, password_hash: &str) -> Result<(), StoreError> {
        self.db()
            .execute_one(
                "update users set password_hash = $1 where user_id = $2",
                vec![password_hash.into(), user_id.into()],
            )
            .await
    }

    /// Records a session for `user_id` under the hash of its cookie value, and the user's
    /// sign-in time; expired sessions of everyone are purged on the way.
    pub async fn create_session(
        &self,
        user_id: i64,
        session_hash: &str,
        csrf_token: &str,
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin_write().await?;
        tx.execute(
            "delete from sessions where expires_ms <= $1",
            vec![now.into()],
        )
        .await?;
        tx.execute(
            "insert into sessions (session_hash, user_id, csrf_token, created_ms, expires_ms) \
             values ($1, $2, $3, $4, $5)",
            vec![
                session_hash.into(),
                user_id.into(),
                csrf_token.into(),
                now.into(),
                expires_ms.into(),
            ],
        )
        .await?;
        tx.execute(
            "update users set last_login_ms = $1 where user_id = $2",
            vec![now.into(), user_id.into()],
        )
        .await?;
        tx.commit().await
    }

    /// The unexpired session stored under `session_hash`, with its user.
    pub async fn session(&self, session_hash: &str) -> Result<Option<Session>, StoreError> {
        let sql = format!(
            "select {USER_COLUMNS}, s.csrf_token, s.expires_ms from sessions s \
             join users u on u.user_id = s.user_id \
             where s.session_hash = $1 and s.expires_ms > $2"
        );
        let row = self
            .db()
            .fetch_optional::<SessionRow>(&sql, vec![session_hash.into(), now_ms().into()])
            .await?;
        Ok(row.map(|r| Session {
            user: r.user.into(),
            csrf_token: r.csrf_token,
            expires_ms: r.expires_ms,
        }))
    }

    /// `user_id`'s unexpired sessions (at `now_ms`), newest first.
    pub async fn list_sessions(
        &self,
        user_id: i64,
        now_ms: i64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let rows = self
            .db()
            .fetch_all::<SessionInfoRow>(
                "select substr(session_hash, 1, 16) as id, created_ms, expires_ms \
                 from sessions where user_id = $1 and expires_ms > $2 \
                 order by created_ms desc, session_hash",
                vec![user_id.into(), now_ms.into()],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| SessionInfo {
                id: r.id,
                created_ms: r.created_ms,
                expires_ms: r.expires_ms,
            })
            .collect())
    }

    /// Ends `user_id`'s session whose listed id is `id`.
    /// Errors: [`StoreError::NotFound`] when they have none such.
    pub async fn revoke_session(&self, user_id: i64, id: &str) -> Result<(), StoreError> {
        if id.len() != SESSION_ID_LEN || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::NotFound);
        }
        let n = self
            .db()
            .execute(
                "delete from sessions where user_id = $1 and substr(session_hash, 1, 16) = $2",
                vec![user_id.into(), id.to_ascii_lowercase().into()],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Ends a session (sign-out). Unknown hashes are ignored.
    pub async fn delete_session(&self, session_hash: &str) -> Result<(), StoreError> {
        self.db()
            .execute(
                "delete from sessions where session_hash = $1",
                vec![session_hash.into()],
            )
            .await?;
        Ok(())
    }

    /// Stores a one-time setup token (its hash) valid until `expires_ms`.
    pub async fn create_setup_token(
        &self,
        token_hash: &str,
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        self.db()
            .execute(
                "insert into setup_tokens (token_hash, created_ms, expires_ms) values ($1, $2, $3)",
                vec![token_hash.into(), now_ms().into(), expires_ms.into()],
            )
            .await?;
        Ok(())
    }

    /// True when an unexpired setup token with this hash exists (does not consume it).
    pub async fn setup_token_valid(&self, token_hash: &str) -> Result<bool, StoreError> {
        let row = self
            .db()
            .fetch_optional::<IdRow>(
                "select cast(1 as bigint) as id from setup_tokens \
                 where token_hash = $1 and expires_ms > $2",
                vec![token_hash.into(), now_ms().into()],
            )
            .await?;
        Ok(row.is_some())
    }

    /// Creates the first admin with a setup token, in one transaction: the token must be
    /// valid and no user may exist yet; every setup token is then spent, and the creation
    /// is recorded in the audit log as done by Errata.
    /// Errors: [`StoreError::NotFound`] for an unknown or expired token,
    /// [`StoreError::Conflict`] when a user already exists.
    pub async fn create_first_admin(
        &self,
        token_hash: &str,
        email: &str,
        password_hash: &str,
    ) -> Result<User, StoreError> {
        let now = now_ms();
        let email = normalize_email(email);
        let mut tx = self.pool.begin_write().await?;
        let valid = tx
            .fetch_optional::<IdRow>(
                "select cast(1 as bigint) as id from setup_tokens \
                 where token_hash = $1 and expires_ms > $2",
                vec![token_hash.into(), now.into()],
            )
            .await?;
        if valid.is_none() {
            return Err(StoreError::NotFound);
        }
        let users = tx
            .fetch_one::<IdRow>("select count(*) as id from users", vec![])
            .await?
            .id;
        if users > 0 {
            return Err(StoreError::Conflict("a user already exists".into()));
        }
        let id = insert_user(&mut tx, &email, password_hash, Role::Owner, now).await?;
        tx.execute("delete from setup_tokens", vec![]).await?;
        let user = User {
            id,
            email,
            is_admin: true,
            role: Role::Owner,
            created_ms: now,
            last_login_ms: None,
        };
        let entry = NewAuditEntry {
            at_ms: now,
            by: &Actor::system(),
            action: AuditAction::UserCreate,
            target: Some(AuditTarget::user(&user)),
            data: serde_json::json!({ "role": Role::Owner.as_str(), "through": "setup link" }),
        };
        audit::record(&mut tx, &entry).await?;
        tx.commit().await?;
        Ok(user)
    }
}
