//! API tokens (`api_tokens`), and the one way secrets are stored: their hex SHA-256
//! ([`secret_hash`]), never the plaintext.
//!
//! A token is `errata_` + 40 lowercase hex, shown once when it is made. The table keeps its
//! hash, a name, the user who made it on the admin page (tokens of the command line have
//! none; deleting that user revokes theirs), its last four characters (to tell tokens apart
//! in lists) and when it was last used, written at most once a minute per token
//! ([`TOUCH_INTERVAL_MS`]) so that API traffic does not turn into writes. Creating and
//! revoking a token through [`Store::add_token`] and [`Store::revoke_token`] writes an
//! audit entry in the same transaction.

use serde_json::json;
use sha2::{Digest, Sha256};

use super::audit::{self, Actor, AuditAction, AuditTarget, NewAuditEntry};
use super::db::{Executor, IdRow};
use super::{now_ms, Store, StoreError};
use crate::clock::MINUTE_MS;

/// Hex SHA-256 of a secret (API token, session cookie, setup token), the only form stored.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A token's `last_used_ms` is written when it is older than this (one minute).
pub const TOUCH_INTERVAL_MS: i64 = MINUTE_MS;

/// An API token as listed; its plaintext is never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Token id.
    pub id: i64,
    /// The name given when it was made.
    pub name: String,
    /// The user who made it on the admin page; `None` for the command line's.
    pub user_id: Option<i64>,
    /// That user's e-mail.
    pub user_email: Option<String>,
    /// The token's last four characters; `None` for tokens made before they were kept.
    pub hint: Option<String>,
    /// Creation time, epoch ms.
    pub created_ms: i64,
    /// Last request made with it, epoch ms (to the minute).
    pub last_used_ms: Option<i64>,
    /// What it may do: space-separated scopes (`project:read`, `project:write`,
    /// `project:releases`, `project:admin`, `org:admin`); empty (never written since
    /// migration 0017): `org:admin`.
    pub scopes: String,
    /// The projects it is limited to, ascending; empty: every project its owner may see.
    pub projects: Vec<i64>,
}

/// A token just made: the listing and the plaintext, to be shown once.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// The stored token.
    pub token: ApiToken,
    /// `errata_` + 40 lowercase hex.
    pub secret: String,
}

row! {
    struct TokenRow {
        token_id: i64,
        name: String,
        user_id: Option<i64>,
        user_email: Option<String>,
        token_hint: Option<String>,
        created_ms: i64,
        last_used_ms: Option<i64>,
        scopes: String,
    }
}

impl From<TokenRow> for ApiToken {
    fn from(r: TokenRow) -> Self {
        ApiToken {
            id: r.token_id,
            name: r.name,
            user_id: r.user_id,
            user_email: r.user_email,
            hint: r.token_hint,
            created_ms: r.created_ms,
            last_used_ms: r.last_used_ms,
            scopes: r.scopes,
            projects: Vec::new(),
        }
    }
}

const TOKEN_SELECT: &str = "select t.token_id, t.name, t.user_id, u.email as user_email, \
    t.token_hint, t.created_ms, t.last_used_ms, t.scopes \
    from api_tokens t left join users u on u.user_id = t.user_id";

/// A fresh token and its hint.
fn new_secret() -> (String, String) {
    let secret = format!("errata_{}", hex::encode(rand::random::<[u8; 20]>()));
    let hint = secret[secret.len() - 4..].to_owned();
    (secret, hint)
}

/// Inserts a token; returns its id.
async fn insert_token(
    db: &mut impl Executor,
    secret: &str,
    hint: &str,
    name: &str,
    user_id: Option<i64>,
    scopes: &str,
    at_ms: i64,
) -> Result<i64, StoreError> {
    Ok(db
        .fetch_one::<IdRow>(
            "insert into api_tokens (token_hash, name, user_id, token_hint, created_ms, scopes) \
             values ($1, $2, $3, $4, $5, $6) returning token_id as id",
            vec![
                secret_hash(secret).into(),
                name.into(),
                user_id.into(),
                hint.into(),
                at_ms.into(),
                scopes.into(),
            ],
        )
        .await?
        .id)
}

impl Store {
    /// Creates an API token without an owner or an audit entry (test and seeding set-ups)
    /// and returns its plaintext, which is shown once: only its SHA-256 is stored.
    pub async fn create_token(&self, name: &str) -> Result<String, StoreError> {
        self.create_scoped_token(name, "").await
    }

    /// [`Store::create_token`] for a token limited to `scopes` (space-separated, e.g.
    /// `project:releases`; empty: everything).
    pub async fn create_scoped_token(
        &self,
        name: &str,
        scopes: &str,
    ) -> Result<String, StoreError> {
        let (secret, hint) = new_secret();
        let mut db = self.db();
        insert_token(&mut db, &secret, &hint, name, None, scopes, now_ms()).await?;
        Ok(secret)
    }

    /// Creates an API token owned by `user_id` (or by nobody), limited to `scopes`
    /// (space-separated) and to `projects` (empty: not limited), and records `by` doing it
    /// in the audit log, in one transaction. The plaintext in the answer is shown once.
    /// Errors: [`StoreError::NotFound`] for an unknown project.
    pub async fn add_token(
        &self,
        name: &str,
        user_id: Option<i64>,
        scopes: &str,
        projects: &[i64],
        by: &Actor,
        at_ms: i64,
    ) -> Result<NewToken, StoreError> {
        let (secret, hint) = new_secret();
        let mut tx = self.pool.begin_write().await?;
        let id = insert_token(&mut tx, &secret, &hint, name, user_id, scopes, at_ms).await?;
        for project in projects {
            tx.fetch_one::<IdRow>(
                "select project_id as id from projects where project_id = $1 \
                 and deleted_ms is null",
                vec![(*project).into()],
            )
            .await?;
            tx.execute(
                "insert into token_projects (token_id, project_id) values ($1, $2) \
                 on conflict do nothing",
                vec![id.into(), (*project).into()],
            )
            .await?;
        }
        let entry = NewAuditEntry {
            at_ms,
            by,
            action: AuditAction::TokenCreate,
            target: Some(AuditTarget::token(id, name)),
            data: json!({ "hint": hint, "scopes": scopes, "projects": projects }),
        };
        audit::record(&mut tx, &entry).await?;
        let token = fetch_token(&mut tx, id).await?;
        tx.commit().await?;
        Ok(NewToken { token, secret })
    }

    /// Every API token, oldest first.
    pub async fn list_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let sql = format!("{TOKEN_SELECT} order by t.token_id");
        let mut db = self.db();
        let rows = db.fetch_all::<TokenRow>(&sql, vec![]).await?;
        let links = db
            .fetch_all::<TokenProjectRow>(
                "select token_id, project_id from token_projects order by project_id",
                vec![],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let mut t = ApiToken::from(r);
                t.projects = links
                    .iter()
                    .filter(|l| l.token_id == t.id)
                    .map(|l| l.project_id)
                    .collect();
                t
            })
            .collect())
    }

    /// One API token. Errors: [`StoreError::NotFound`].
    pub async fn token(&self, token_id: i64) -> Result<ApiToken, StoreError> {
        fetch_token(&mut self.db(), token_id).await
    }

    /// The token whose plaintext is `secret`, if it exists (not revoked).
    pub async fn token_by_secret(&self, secret: &str) -> Result<Option<ApiToken>, StoreError> {
        let sql = format!("{TOKEN_SELECT} where t.token_hash = $1");
        let mut db = self.db();
        let row = db
            .fetch_optional::<TokenRow>(&sql, vec![secret_hash(secret).into()])
            .await?;
        match row {
            Some(r) => {
                let mut token = ApiToken::from(r);
                token.projects = projects_of(&mut db, token.id).await?;
                Ok(Some(token))
            }
            None => Ok(None),
        }
    }

    /// True when `token` is a live token.
    pub async fn token_valid(&self, token: &str) -> Result<bool, StoreError> {
        Ok(self.token_by_secret(token).await?.is_some())
    }

    /// Records a use of the token at `now_ms` when its last recorded use is
    /// [`TOUCH_INTERVAL_MS`] or more before (or there is none); returns whether it wrote.
    /// The condition is in the statement, so servers sharing a database write once too.
    pub async fn touch_token(&self, token_id: i64, now_ms: i64) -> Result<bool, StoreError> {
        let changed = self
            .db()
            .execute(
                "update api_tokens set last_used_ms = $2 where token_id = $1 \
                 and (last_used_ms is null or last_used_ms <= $3 or last_used_ms > $2)",
                vec![
                    token_id.into(),
                    now_ms.into(),
                    now_ms.saturating_sub(TOUCH_INTERVAL_MS).into(),
                ],
            )
            .await?;
        Ok(changed > 0)
    }

    /// Revokes (deletes) a token and records `by` doing it, in one transaction; returns the
    /// token as it was. Requests with it are refused from then on.
    /// Errors: [`StoreError::NotFound`].
    pub async fn revoke_token(
        &self,
        token_id: i64,
        by: &Actor,
        at_ms: i64,
    ) -> Result<ApiToken, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let token = fetch_token(&mut tx, token_id).await?;
        tx.execute_one(
            "delete from api_tokens where token_id = $1",
            vec![token_id.into()],
        )
        .await?;
        let entry = NewAuditEntry {
            at_ms,
            by,
            action: AuditAction::TokenRevoke,
            target: Some(AuditTarget::token(token.id, &token.name)),
            data: json!({ "hint": token.hint }),
        };
        audit::record(&mut tx, &entry).await?;
        tx.commit().await?;
        Ok(token)
    }
}

async fn fetch_token(db: &mut impl Executor, token_id: i64) -> Result<ApiToken, StoreError> {
    let sql = format!("{TOKEN_SELECT} where t.token_id = $1");
    let mut token = ApiToken::from(
        db.fetch_one::<TokenRow>(&sql, vec![token_id.into()])
            .await?,
    );
    token.projects = projects_of(db, token_id).await?;
    Ok(token)
}

row! {
    struct TokenProjectRow {
        token_id: i64,
        project_id: i64,
    }
}

/// The projects token `token_id` is limited to (empty: not limited), ascending.
pub(super) async fn projects_of(
    db: &mut impl Executor,
    token_id: i64,
) -> Result<Vec<i64>, StoreError> {
    db.fetch_ids(
        "select project_id as id from token_projects where token_id = $1 \
         order by project_id",
        vec![token_id.into()],
    )
    .await
}
