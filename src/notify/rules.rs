//! Triggers: who is told about what, and the frequency rule's evaluation.
//!
//! * **New issue** and **regression** are decided by ingest (an `outbox` row in the issue's
//!   transaction); a regression notifies at most once per issue per
//!   `regression_window_secs`, and ignored issues never notify (both enforced at fan-out).
//! * **Frequency** ("more than N events in M minutes", per project, off by default) is
//!   evaluated here by the worker over the events stored since its last look.

use crate::store::{ChannelKind, Store, StoreError};

use super::recipients::{parse_list, ParseRecipientError};
use super::settings::NotifyConfig;

/// Events examined again when a worker starts, so a spike in progress at a restart is seen.
const STARTUP_LOOKBACK_EVENTS: i64 = 1000;

/// The global channels the configuration asks for: one e-mail channel per admin (canonical
/// `Name <addr>` form) and one Slack channel per global webhook. Errors on the first admin
/// entry that is not a mailbox.
pub fn config_channels(
    config: &NotifyConfig,
) -> Result<Vec<(ChannelKind, String)>, ParseRecipientError> {
    let mut out: Vec<(ChannelKind, String)> = parse_list(&config.admins)?
        .into_iter()
        .map(|r| (ChannelKind::Email, r.to_string()))
        .collect();
    out.extend(
        config
            .slack_webhooks
            .iter()
            .map(|u| u.trim())
            .filter(|u| !u.is_empty())
            .map(|u| (ChannelKind::Slack, u.to_owned())),
    );
    out.dedup();
    Ok(out)
}

/// Where frequency evaluation continues: the last `event_pk` examined.
#[derive(Debug, Default)]
pub struct FrequencyWatch {
    after_pk: Option<i64>,
}

impl FrequencyWatch {
    /// Evaluates every project's frequency rule over the events stored since the last call
    /// (on the first call, the newest [`STARTUP_LOOKBACK_EVENTS`]); returns the alerts
    /// written. Without rules it only advances.
    pub async fn evaluate(&mut self, store: &Store, now: i64) -> Result<usize, StoreError> {
        let after = match self.after_pk {
            Some(pk) => pk,
            None => (store.max_event_pk().await? - STARTUP_LOOKBACK_EVENTS).max(0),
        };
        let rules = store.frequency_rules().await?;
        let (fired, next) = store.fire_frequency_alerts(&rules, after, now).await?;
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
        let bad = NotifyConfig {
            admins: "Jose".into(),
            ..NotifyConfig::default()
        };
        assert!(config_channels(&bad).is_err());
    }
}
