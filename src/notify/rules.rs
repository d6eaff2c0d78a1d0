//! Triggers: who is told about what, and the frequency rule's evaluation.
//!
//! * **New issue** and **regression** are decided by ingest (an `outbox` row in the issue's
//!   transaction); a regression notifies at most once per issue per
//!   `regression_window_secs`, and ignored issues never notify (both enforced at fan-out).
//! * **Frequency** ("more than N events in M minutes", per project, off by default) is
//!   evaluated here by the worker over the events stored since its last look.

use crate::store::{ChannelKind, Store, StoreError};

use super::channel::{email::Email, slack::Slack, AnyDriver};
use super::settings::NotifyConfig;
use super::NotifyError;

/// Events examined again when a worker starts, so a spike in progress at a restart is seen.
const STARTUP_LOOKBACK_EVENTS: i64 = 1000;

/// The global channels the configuration asks for: one e-mail channel per admin (canonical
/// `Name <addr>` form) and one Slack channel per global webhook, validated by their kinds'
/// rules like any channel a user adds. Errors name the setting that is not valid.
pub fn config_channels(config: &NotifyConfig) -> Result<Vec<(ChannelKind, String)>, NotifyError> {
    let policy = config.target_policy();
    let configured = |driver: &dyn AnyDriver, input: &str, setting: &'static str| {
        let kind = driver.kind();
        match driver.validate(input, &policy) {
            Ok(targets) => Ok(targets.into_iter().map(move |t| (kind, t))),
            Err(source) => Err(NotifyError::Setting { setting, source }),
        }
    };
    let mut out: Vec<(ChannelKind, String)> = Vec::new();
    if !config.admins.trim().is_empty() {
        out.extend(configured(
            &Email,
            &config.admins,
            "notify.admins / ERRATA_ADMINS",
        )?);
    }
    for url in config
        .slack_webhooks
        .iter()
        .filter(|u| !u.trim().is_empty())
    {
        out.extend(configured(&Slack, url, "notify.slack_webhooks")?);
    }
    out.dedup();
    Ok(out)
}

/// Where frequency evaluation continues: the last `event_pk` examined.
#[derive(Debug, Default)]
pub struct FrequencyWatch {
    after_pk: Option<i64>,
}

impl FrequencyWatch {
    /// Evaluates every project's windowed rule triggers (frequency, users, every event)
    /// over the events stored since the last call (on the first call, the newest
    /// [`STARTUP_LOOKBACK_EVENTS`]); returns the alerts written. Without such rules it only
    /// advances.
    pub async fn evaluate(&mut self, store: &Store, now: i64) -> Result<usize, StoreError> {
        let after = match self.after_pk {
            Some(pk) => pk,
            None => (store.max_event_pk().await? - STARTUP_LOOKBACK_EVENTS).max(0),
        };
        let rules = store.enabled_alert_rules().await?;
        let (fired, next) = store.fire_rule_alerts(&rules, after, now).await?;
        self.after_pk = Some(next);
        Ok(fired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admins_and_webhooks_become_global_channels() {
        let config = NotifyConfig {
            admins: "Jose <jose@example.com>, adin@example.com".into(),
            slack_webhooks: vec![" https://hooks.example/x ".into(), String::new()],
            ..NotifyConfig::default()
        };
        assert_eq!(
            config_channels(&config).unwrap(),
            vec![
                (ChannelKind::Email, "Jose <jose@example.com>".to_owned()),
                (ChannelKind::Email, "adin@example.com".to_owned()),
                (ChannelKind::Slack, "https://hooks.example/x".to_owned()),
            ]
        );
        // Global webhooks follow the same rule as a project's.
        let private = NotifyConfig {
            slack_webhooks: vec!["http://127.0.0.1:9/hook".into()],
            ..NotifyConfig::default()
        };
        let bad_admins = NotifyConfig {
            admins: "Jose".into(),
            ..NotifyConfig::default()
        };
        for (config, start) in [
            (&bad_admins, "invalid notify.admins / ERRATA_ADMINS: "),
            (
                &private,
                "invalid notify.slack_webhooks: 127.0.0.1 is a loopback address",
            ),
        ] {
            let err = config_channels(config).unwrap_err().to_string();
            assert!(err.starts_with(start), "{err}");
        }
        let allowed = NotifyConfig {
            allow_private_targets: true,
            ..private
        };
        assert_eq!(config_channels(&allowed).unwrap().len(), 1);
    }
}
