//! The `[notify]` configuration section: recipients, SMTP, and the delivery worker's pacing.
//!
//! Lives beside the code it configures; [`crate::config::Config`] embeds it as `notify`, and
//! `ERRATA_ADMINS` / `ERRATA_SMTP_*` override it (see `config::Overrides`).
//!
//! ```toml
//! [notify]
//! admins = "Jose <jose@example.com>, Adin <adin@example.com>"
//! slack_webhooks = ["https://hooks.slack.com/services/T000/B000/XXXX"]
//! max_per_window = 10
//! window_secs = 300
//!
//! [notify.smtp]
//! host = "smtp.example.com"
//! port = 587
//! tls = "starttls"
//! username = "errata"
//! password = "…"
//! from = "Errata <errata@example.com>"
//! ```

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// Notification settings. Every field has a documented default, so an absent section means
/// "no global recipients, worker running with the default pacing".
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// Run the delivery worker inside `errata serve`. Default true. With several server
    /// processes on one PostgreSQL every one may run it: claims never overlap.
    pub enabled: bool,
    /// Global recipients of every project's notifications, in the familiar form
    /// `Jose <jose@example.com>, Adin <adin@example.com>` (bare addresses work too).
    /// Env `ERRATA_ADMINS`. Default empty.
    pub admins: String,
    /// Global Slack incoming-webhook URLs (every project). Default empty.
    pub slack_webhooks: Vec<String>,
    /// Let webhooks target loopback, private, link-local and other non-public addresses,
    /// and use plain `http://` (internal deployments, tests). Env
    /// `ERRATA_NOTIFY_ALLOW_PRIVATE_TARGETS`. Default false: such targets are refused when
    /// a channel is added and when a message is sent (see `crate::outbound`).
    pub allow_private_targets: bool,
    /// The SMTP relay for e-mail.
    pub smtp: SmtpConfig,
    /// How often the worker looks for work when its last round found none, milliseconds
    /// (real time, also under a test's manual clock). Default 1000.
    pub poll_interval_ms: u64,
    /// Storm control: most single messages per channel per window; the rest are folded into
    /// digests. Default 10.
    pub max_per_window: u32,
    /// Storm control window, seconds (sliding). Default 300.
    pub window_secs: u64,
    /// Once the window's single messages are used up, at most one digest per this many
    /// seconds per channel collects what is due. Default 60.
    pub digest_interval_secs: u64,
    /// Most issues one digest names; more make several digests. Default 100.
    pub max_digest_items: u32,
    /// A regression notifies at most once per issue per this many seconds. Default 3600.
    pub regression_window_secs: u64,
    /// First retry delay after a failed send, milliseconds; doubles per attempt (with
    /// jitter). Default 10000.
    pub retry_base_ms: u64,
    /// Longest retry delay, milliseconds. Default 3600000 (one hour).
    pub retry_max_ms: u64,
    /// Attempts before a delivery becomes a dead letter (`failed`). Default 10.
    pub max_attempts: u32,
    /// Consecutive failures after which a channel is marked failing. Default 5.
    pub failing_after: u32,
    /// A failing channel is probed with one message at most this often, milliseconds,
    /// instead of retrying everything in a hot loop. Default 300000 (five minutes).
    pub failing_retry_ms: u64,
    /// Timeout of one send (SMTP conversation or webhook request), seconds. Default 30.
    pub send_timeout_secs: u64,
    /// Where PagerDuty channels send events (Events API v2). Default
    /// `https://events.pagerduty.com/v2/enqueue`; a test or a proxy may point elsewhere
    /// (under the private-target rule like every webhook).
    pub pagerduty_events_url: String,
}

/// SMTP relay settings (lettre). Without a `host`, e-mail channels fail with a clear error.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// Relay host name. Env `ERRATA_SMTP_HOST`. Default none (e-mail disabled).
    pub host: Option<String>,
    /// Relay port. Env `ERRATA_SMTP_PORT`. Default: 25 for `none`, 587 for `starttls`, 465
    /// for `tls`.
    pub port: Option<u16>,
    /// Transport security. Env `ERRATA_SMTP_TLS`. Default `starttls`.
    pub tls: SmtpTls,
    /// Login user; no authentication when absent. Env `ERRATA_SMTP_USERNAME`.
    pub username: Option<String>,
    /// Login password (never logged or printed). Env `ERRATA_SMTP_PASSWORD`.
    pub password: Option<Secret>,
    /// Sender mailbox. Env `ERRATA_SMTP_FROM`. Default `Errata <errata@localhost>`.
    pub from: String,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text (a relay on localhost or a test listener only).
    None,
    /// Plain connection upgraded with `STARTTLS` (required, not opportunistic).
    #[default]
    Starttls,
    /// TLS from the first byte ("SMTPS", usually port 465).
    Tls,
}

/// A secret string: `Debug` and `Display` print `***`, never the value.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("from", &self.from)
            .finish()
    }
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            admins: String::new(),
            slack_webhooks: Vec::new(),
            allow_private_targets: false,
            smtp: SmtpConfig::default(),
            poll_interval_ms: 1000,
            max_per_window: 10,
            window_secs: 300,
            digest_interval_secs: 60,
            max_digest_items: 100,
            regression_window_secs: 3600,
            retry_base_ms: 10_000,
            retry_max_ms: 3_600_000,
            max_attempts: 10,
            failing_after: 5,
            failing_retry_ms: 300_000,
            send_timeout_secs: 30,
            pagerduty_events_url: "https://events.pagerduty.com/v2/enqueue".into(),
        }
    }
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: None,
            port: None,
            tls: SmtpTls::Starttls,
            username: None,
            password: None,
            from: "Errata <errata@localhost>".into(),
        }
    }
}

impl SmtpConfig {
    /// The port in force: the configured one, else the usual one for the TLS mode.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
        })
    }
}

impl NotifyConfig {
    /// Applies the `ERRATA_ADMINS` / `ERRATA_SMTP_*` / `ERRATA_NOTIFY_*` overrides
    /// (environment or flags).
    pub fn apply(&mut self, o: &crate::config::Overrides) {
        if let Some(v) = &o.admins {
            self.admins.clone_from(v);
        }
        if let Some(v) = &o.smtp_host {
            self.smtp.host = Some(v.clone());
        }
        if let Some(v) = o.smtp_port {
            self.smtp.port = Some(v);
        }
        if let Some(v) = o.smtp_tls {
            self.smtp.tls = v;
        }
        if let Some(v) = &o.smtp_username {
            self.smtp.username = Some(v.clone());
        }
        if let Some(v) = &o.smtp_password {
            self.smtp.password = Some(v.clone());
        }
        if let Some(v) = &o.smtp_from {
            self.smtp.from.clone_from(v);
        }
        if let Some(v) = o.notify_allow_private_targets {
            self.allow_private_targets = v;
        }
    }

    /// The private-target rule of channels' webhooks.
    pub fn target_policy(&self) -> crate::outbound::TargetPolicy {
        crate::outbound::TargetPolicy {
            allow_private: self.allow_private_targets,
            setting: "notify.allow_private_targets (ERRATA_NOTIFY_ALLOW_PRIVATE_TARGETS)",
        }
    }

    /// Timeout of one send.
    pub fn send_timeout(&self) -> Duration {
        Duration::from_secs(self.send_timeout_secs.max(1))
    }

    /// Interval of the worker's poll for work (the `notify` job's schedule).
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_never_in_debug() {
        let c = SmtpConfig {
            password: Some(Secret::new("hunter2")),
            ..SmtpConfig::default()
        };
        let shown = format!("{c:?} {}", Secret::new("hunter2"));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("***"));
    }

    #[test]
    fn parses_a_toml_section() {
        let c: NotifyConfig = toml::from_str(
            "admins = \"A <a@x.org>\"\nmax_per_window = 3\n[smtp]\nhost = \"h\"\ntls = \"tls\"\npassword = \"p\"\n",
        )
        .unwrap();
        assert_eq!(c.max_per_window, 3);
        assert_eq!(c.smtp.tls, SmtpTls::Tls);
        assert_eq!(c.smtp.port(), 465);
        assert_eq!(c.smtp.password.as_ref().map(Secret::expose), Some("p"));
        assert_eq!(c.window_secs, 300);
    }
}
