//! Creating, changing, pausing and deleting uptime checks: the one path of the API and the
//! command line. Fields are validated by [`super::config::apply`]; the URL must pass the
//! target rule ([`check_target`]) whenever it is set, so a refused target is a clear error
//! when the check is saved rather than a failing check later (the runner applies the rule
//! again on every request, since DNS answers change).

use std::time::Duration;

use serde_json::{Map, Value};

use super::config::{self, CheckConfig, FieldError};
use crate::clock::SECOND_MS;
use crate::outbound::{self, TargetError, TargetPolicy};
use crate::store::{Store, StoreError, UptimeCheck};

/// How long saving a check waits for its host to resolve.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a check was not saved.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    /// A field is not valid (400).
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The URL targets an address the rule refuses (400).
    #[error("url: {0}")]
    Refused(#[from] TargetError),
    /// The database failed, or the check or project does not exist.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks `url` against `policy`: IP literals and `localhost` names at once, other names
/// after resolving them (refused when every address they resolve to is refused). A name
/// that does not resolve is accepted: the check's results will say so.
pub async fn check_target(url: &str, policy: &TargetPolicy) -> Result<(), ManageError> {
    let parsed = url::Url::parse(url).map_err(|e| FieldError {
        field: "url",
        message: format!("is not a URL ({e})"),
    })?;
    outbound::check_url(&parsed, policy)?;
    let Some(url::Host::Domain(name)) = parsed.host() else {
        return Ok(());
    };
    let port = parsed.port_or_known_default().unwrap_or(80);
    let Ok(Ok(found)) =
        tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((name, port))).await
    else {
        return Ok(());
    };
    let addrs: Vec<std::net::SocketAddr> = found.collect();
    let reasons: Vec<&'static str> = addrs
        .iter()
        .filter_map(|a| outbound::refusal(a.ip(), policy))
        .collect();
    match reasons.first() {
        Some(&reason) if reasons.len() == addrs.len() => {
            Err(ManageError::Refused(TargetError::refused(
                format!("{name} (resolves to {})", addrs[0].ip()),
                reason,
                policy.setting,
            )))
        }
        _ => Ok(()),
    }
}

/// A due time at a random point of the next `interval_seconds` from `now`: checks created or
/// resumed together spread over their interval.
fn spread(now: i64, interval_seconds: i64) -> i64 {
    let interval = interval_seconds.max(1).saturating_mul(SECOND_MS);
    now.saturating_add((rand::random::<f64>() * interval as f64) as i64)
}

/// Creates a check of project `project_id` from `fields` (see [`config`]; `url` required).
pub async fn create(
    store: &Store,
    project_id: i64,
    fields: &Map<String, Value>,
    policy: &TargetPolicy,
    now: i64,
) -> Result<UptimeCheck, ManageError> {
    if !fields.contains_key("url") {
        return Err(FieldError {
            field: "url",
            message: "is required".into(),
        }
        .into());
    }
    store.project(project_id).await?;
    let mut config = CheckConfig::for_url("");
    let paused = config::apply(&mut config, fields)?.unwrap_or(false);
    check_target(&config.url, policy).await?;
    let first = spread(now, config.interval_seconds);
    Ok(store
        .create_uptime_check(project_id, &config, paused, first, now)
        .await?)
}

/// Changes the fields of check `id` that `fields` names (pausing and resuming:
/// `{"is_paused": …}`). A new interval or a resumed check is due anew within its interval.
pub async fn update(
    store: &Store,
    id: i64,
    fields: &Map<String, Value>,
    policy: &TargetPolicy,
    now: i64,
) -> Result<UptimeCheck, ManageError> {
    let check = store.uptime_check(id).await?;
    let mut config = check.config.clone();
    let paused = config::apply(&mut config, fields)?.unwrap_or(check.is_paused);
    if config.url != check.config.url {
        check_target(&config.url, policy).await?;
    }
    let resumed = check.is_paused && !paused;
    let next = (resumed || config.interval_seconds != check.config.interval_seconds)
        .then(|| spread(now, config.interval_seconds.min(60)));
    Ok(store
        .update_uptime_check(id, &config, paused, next, now)
        .await?)
}
