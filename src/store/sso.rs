//! Single sign-on attempts in flight (`sso_logins`): what was sent to the provider, kept
//! between the redirect and the callback under the SHA-256 of the state, used once.

use super::db::{Executor, IdRow};
use super::{secret_hash, Store, StoreError};

/// What the callback of a sign-in needs from its start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoLogin {
    /// The provider's `id` in the configuration.
    pub provider: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// The PKCE code verifier.
    pub pkce_verifier: String,
    /// Where to go after signing in (a local path).
    pub next: String,
}

row! {
    struct SsoLoginRow {
        provider: String,
        nonce: String,
        pkce_verifier: String,
        next: String,
        expires_ms: i64,
    }
}

impl Store {
    /// Records a sign-in started at `now_ms` under `state`, valid until `expires_ms`; expired
    /// ones of everyone are purged on the way.
    pub async fn start_sso_login(
        &self,
        state: &str,
        login: &SsoLogin,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_write().await?;
        tx.execute(
            "delete from sso_logins where expires_ms <= $1",
            vec![now_ms.into()],
        )
        .await?;
        tx.execute(
            "insert into sso_logins (state_hash, provider, nonce, pkce_verifier, next, \
             created_ms, expires_ms) values ($1, $2, $3, $4, $5, $6, $7)",
            vec![
                secret_hash(state).into(),
                login.provider.as_str().into(),
                login.nonce.as_str().into(),
                login.pkce_verifier.as_str().into(),
                login.next.as_str().into(),
                now_ms.into(),
                expires_ms.into(),
            ],
        )
        .await?;
        tx.commit().await
    }

    /// Takes (reads and deletes) the unexpired sign-in started under `state`, if any: a state
    /// works once.
    pub async fn take_sso_login(
        &self,
        state: &str,
        now_ms: i64,
    ) -> Result<Option<SsoLogin>, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let hash = secret_hash(state);
        let row = tx
            .fetch_optional::<SsoLoginRow>(
                "select provider, nonce, pkce_verifier, next, expires_ms from sso_logins \
                 where state_hash = $1",
                vec![hash.as_str().into()],
            )
            .await?;
        tx.execute(
            "delete from sso_logins where state_hash = $1",
            vec![hash.as_str().into()],
        )
        .await?;
        tx.commit().await?;
        Ok(row.filter(|r| r.expires_ms > now_ms).map(|r| SsoLogin {
            provider: r.provider,
            nonce: r.nonce,
            pkce_verifier: r.pkce_verifier,
            next: r.next,
        }))
    }

    /// The user with this e-mail (any case), if any.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<super::User>, StoreError> {
        let row = self
            .db()
            .fetch_optional::<IdRow>(
                "select user_id as id from users where email = $1",
                vec![super::normalize_email(email).into()],
            )
            .await?;
        match row {
            Some(r) => Ok(Some(self.user(r.id).await?)),
            None => Ok(None),
        }
    }
}
