//! Creating, changing, pausing and deleting monitors: the one path of the API and the pages.
//!
//! Input is a JSON object with any of `slug` (lowercase letters, digits, `-`, `_`; at most
//! 50 characters), `name` (at most 100 characters; default the slug), `schedule`,
//! `checkin_margin`, `max_runtime`, `timezone`, `failure_issue_threshold`,
//! `recovery_threshold` ([`MonitorConfig`]) and `is_paused`. A create needs `slug` and
//! `schedule`; an update changes only what it names. A changed schedule (or a resume) moves
//! every environment's next expected check-in at once; a resumed monitor expects its next
//! check-in from the time it was resumed, so a pause does not end in a burst of missed ones.

use serde_json::{Map, Value};

use super::checkin::{slugify, MAX_SLUG};
use super::config::{ConfigError, MonitorConfig};
use super::process::expect_next;
use crate::store::{Monitor, Store, StoreError};

/// Longest monitor name, characters.
pub const MAX_NAME: usize = 100;

/// Why a monitor was not created or changed.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    /// The input is not valid (400); the message says what is wrong.
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    /// The database failed, the monitor does not exist ([`StoreError::NotFound`]) or the
    /// slug is taken ([`StoreError::Conflict`]).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A slug as a person typed it: must already be a slug. Errors say what a slug is.
pub fn validate_slug(v: &Value) -> Result<String, ConfigError> {
    let s = v.as_str().unwrap_or_default().trim();
    if s.is_empty() || s.chars().count() > MAX_SLUG || slugify(s) != s {
        return Err(ConfigError(format!(
            "slug must be 1 to {MAX_SLUG} lowercase letters, digits, '-' or '_' (like \
             nightly-backup)"
        )));
    }
    Ok(s.to_owned())
}

/// A display name: trimmed, 1 to 100 characters.
pub fn validate_name(v: &Value) -> Result<String, ConfigError> {
    let s = v.as_str().unwrap_or_default().trim();
    if s.is_empty() || s.chars().count() > MAX_NAME {
        return Err(ConfigError(format!(
            "name must have 1 to {MAX_NAME} characters"
        )));
    }
    Ok(s.to_owned())
}

fn paused(fields: &Map<String, Value>) -> Result<Option<bool>, ConfigError> {
    match fields.get("is_paused") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(ConfigError(format!(
            "is_paused must be true or false, not {v}"
        ))),
    }
}

/// Creates a monitor of `project_id` from `fields` at `now`.
pub async fn create(
    store: &Store,
    project_id: i64,
    fields: &Map<String, Value>,
    now: i64,
) -> Result<Monitor, ManageError> {
    let slug = validate_slug(fields.get("slug").unwrap_or(&Value::Null))?;
    let name = match fields.get("name") {
        None | Some(Value::Null) => slug.clone(),
        Some(v) => validate_name(v)?,
    };
    let config = MonitorConfig::from_json(&Value::Object(fields.clone()))?;
    let is_paused = paused(fields)?.unwrap_or(false);
    Ok(store
        .create_monitor(project_id, &slug, &name, &config, is_paused, now)
        .await?)
}

/// Changes the fields named in `fields` of a monitor at `now`, and returns it as saved.
pub async fn update(
    store: &Store,
    monitor_id: i64,
    fields: &Map<String, Value>,
    now: i64,
) -> Result<Monitor, ManageError> {
    let mut tx = store.begin_monitor_tx().await?;
    let mut m = tx.monitor(monitor_id, true).await?;
    let before = m.clone();
    if let Some(v) = fields.get("slug") {
        m.slug = validate_slug(v)?;
    }
    if let Some(v) = fields.get("name") {
        m.name = validate_name(v)?;
    }
    m.config = m.config.patched(fields)?;
    if let Some(p) = paused(fields)? {
        m.is_paused = p;
    }
    if m == before {
        return Ok(m);
    }
    tx.update_monitor(&m, now).await?;
    let resumed = before.is_paused && !m.is_paused;
    if resumed || m.config != before.config {
        for mut env in tx.lock_environments(m.id).await? {
            let Some(last) = env.last_checkin_ms else {
                continue;
            };
            expect_next(&m, &mut env, if resumed { now.max(last) } else { last });
            tx.save_environment(&env).await?;
        }
    }
    tx.commit().await?;
    Ok(m)
}

/// Pauses or resumes a monitor (see [`update`]).
pub async fn set_paused(
    store: &Store,
    monitor_id: i64,
    is_paused: bool,
    now: i64,
) -> Result<Monitor, ManageError> {
    let mut fields = Map::new();
    fields.insert("is_paused".into(), Value::Bool(is_paused));
    update(store, monitor_id, &fields, now).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn slugs_and_names_are_checked() {
        assert_eq!(
            validate_slug(&json!("nightly-backup")).unwrap(),
            "nightly-backup"
        );
        for bad in [
            json!(""),
            json!("Nightly"),
            json!("a b"),
            json!("x".repeat(51)),
            json!(5),
        ] {
            assert!(validate_slug(&bad).is_err(), "{bad}");
        }
        assert_eq!(validate_name(&json!("  Backup ")).unwrap(), "Backup");
        assert!(validate_name(&json!("n".repeat(101))).is_err());
        assert!(paused(json!({"is_paused": "yes"}).as_object().unwrap()).is_err());
    }
}
