//! `server_settings`: facts a running server records for the command line, one row per
//! name. Today only [`BASE_URL`]: `errata serve` writes the public base URL it runs with, so
//! that `errata project list` on the same database prints DSNs that reach it.

use super::db::Executor;
use super::{Store, StoreError};

/// The name of the public base URL `errata serve` runs with (`http(s)://host[:port][/path]`,
/// no trailing slash).
pub const BASE_URL: &str = "base_url";

row! {
    struct ValueRow {
        value: String,
    }
}

impl Store {
    /// Records `value` under `name` at `now_ms` (epoch ms), replacing an older value.
    pub async fn set_server_setting(
        &self,
        name: &str,
        value: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.db()
            .execute(
                "insert into server_settings (name, value, updated_ms) values ($1, $2, $3) \
                 on conflict (name) do update set value = excluded.value, \
                 updated_ms = excluded.updated_ms",
                vec![name.into(), value.into(), now_ms.into()],
            )
            .await?;
        Ok(())
    }

    /// The value recorded under `name`, `None` when none was.
    pub async fn server_setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .db()
            .fetch_optional::<ValueRow>(
                "select value from server_settings where name = $1",
                vec![name.into()],
            )
            .await?
            .map(|r| r.value))
    }
}
