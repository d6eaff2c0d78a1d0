//! Uptime checks: Errata requests a URL of yours every interval and tells you when it goes
//! down and when it is back (issue #16; as StatusCake, UptimeRobot, GlitchTip's uptime
//! monitors and Sentry's uptime checks do).
//!
//! * [`config`]: a check's configuration (URL, method, headers, interval, timeout, expected
//!   status, keyword, thresholds, certificate warning) and its validation.
//! * [`manage`]: creating, changing, pausing and deleting checks (API, command line); the
//!   target rule is applied when a check is saved.
//! * [`probe`]: one request (redirects followed hop by hop, each hop under the target rule),
//!   the result classified ([`ErrorClass`]) and described in words, the TLS certificate read.
//! * [`runner`]: the `uptime-checks` maintenance job: claims due checks, runs them with
//!   bounded concurrency and settles each result in one transaction.
//! * [`event`]: the issue events of a down check and of an expiring certificate.
//! * [`notice`]: what the DOWN / UP / certificate messages say.
//! * [`cli`]: `errata uptime add|list|remove`.
//!
//! **Scheduling.** Each check has a due time (`next_check_ms`). A new check is first due at a
//! random point of its first interval, so checks created together spread out; after a run
//! it is due one interval after the time it was due (keeping its phase), or one interval
//! from now after a long stop. A runner *claims* a due check by moving its due time on with
//! a compare-and-set, so with several servers on one PostgreSQL each check runs once per
//! interval, on whichever server claimed it. Time is the server's clock.
//!
//! **Incidents.** Each result is a success or a failure; `failure_threshold` failures in a row
//! open an incident (status `down`), `recovery_threshold` successes in a row resolve it
//! (`up`), through [`super::incident`]: the down check shows as an issue (one per check),
//! and the `incident_opened`/`incident_resolved` outbox rows tell admins through every
//! channel, with the usual retries and storm control.
//!
//! **Certificates.** An `https` check reads the server's leaf certificate. When it expires
//! within `cert_warning_days`, a warning event is recorded on the check's certificate issue
//! and a `certificate_expiring` outbox row written — once per certificate (by SHA-256): a
//! renewed certificate is a new one. With `verify_tls` (the default) a self-signed or expired
//! certificate fails the check as a TLS error; with `verify_tls = false` any certificate is
//! accepted and its expiry is still read (self-signed internal services).
//!
//! **Targets.** Checks go through [`crate::outbound`]: by default loopback, private,
//! link-local and other non-public addresses are refused, when the check is saved (after
//! resolving its host) and on every request and redirect hop (after DNS); the setting
//! `uptime.allow_private_targets` (`ERRATA_UPTIME_ALLOW_PRIVATE_TARGETS`) allows them, except
//! cloud metadata addresses, which are always refused.
//!
//! Metrics: `errata_uptime_checks_total{outcome}` (`up`, or the error class), the histogram
//! `errata_uptime_response_seconds`, and the gauge `errata_uptime_down` (checks with an open
//! incident, read from the database at scrape).

pub mod cli;
pub mod config;
pub mod event;
pub mod manage;
pub mod notice;
pub mod probe;
pub mod runner;

use serde::{Deserialize, Serialize};

pub use config::{CheckConfig, ExpectedStatus, Method};
pub use runner::UptimeRunner;

/// The outbox kind of a certificate-expiry warning.
pub const CERTIFICATE_KIND: &str = "certificate_expiring";

/// `[uptime]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UptimeSettings {
    /// Let checks target loopback, private and link-local addresses (internal deployments,
    /// tests). Cloud metadata addresses stay refused. Default false.
    pub allow_private_targets: bool,
    /// Most requests in flight at once per server. Default 16.
    pub concurrency: usize,
}

impl Default for UptimeSettings {
    fn default() -> Self {
        UptimeSettings {
            allow_private_targets: false,
            concurrency: 16,
        }
    }
}

impl UptimeSettings {
    /// The target rule of checks.
    pub fn target_policy(&self) -> crate::outbound::TargetPolicy {
        crate::outbound::TargetPolicy {
            allow_private: self.allow_private_targets,
            setting: "uptime.allow_private_targets (ERRATA_UPTIME_ALLOW_PRIVATE_TARGETS)",
        }
    }
}

/// A check's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Not enough results yet.
    Unknown,
    /// Up.
    Up,
    /// Down: an incident is open.
    Down,
}

impl CheckStatus {
    /// Every status.
    pub const ALL: [CheckStatus; 3] = [CheckStatus::Unknown, CheckStatus::Up, CheckStatus::Down];

    /// `unknown`, `up`, `down`.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Unknown => "unknown",
            CheckStatus::Up => "up",
            CheckStatus::Down => "down",
        }
    }
}

/// What kind of failure a result was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// No complete answer within the timeout.
    Timeout,
    /// The host name did not resolve.
    Dns,
    /// The connection was refused or broke.
    Connection,
    /// The TLS handshake failed (untrusted, expired or mismatched certificate).
    Tls,
    /// An unexpected status code.
    Status,
    /// The keyword was missing (or present, for `keyword_absent`).
    Keyword,
    /// The target (or a redirect) is an address the target rule refuses.
    Refused,
    /// Anything else (too many redirects, a broken answer).
    Other,
}

impl ErrorClass {
    /// Every class.
    pub const ALL: [ErrorClass; 8] = [
        ErrorClass::Timeout,
        ErrorClass::Dns,
        ErrorClass::Connection,
        ErrorClass::Tls,
        ErrorClass::Status,
        ErrorClass::Keyword,
        ErrorClass::Refused,
        ErrorClass::Other,
    ];

    /// The stored name and metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Timeout => "timeout",
            ErrorClass::Dns => "dns",
            ErrorClass::Connection => "connection",
            ErrorClass::Tls => "tls",
            ErrorClass::Status => "status",
            ErrorClass::Keyword => "keyword",
            ErrorClass::Refused => "refused",
            ErrorClass::Other => "other",
        }
    }
}

/// Describes the uptime metrics once.
pub fn describe_metrics() {
    metrics::describe_counter!(
        "errata_uptime_checks_total",
        "uptime check results, by outcome (up, timeout, dns, connection, tls, status, keyword, refused, other)"
    );
    metrics::describe_histogram!(
        "errata_uptime_response_seconds",
        metrics::Unit::Seconds,
        "response time of uptime checks that got an answer"
    );
    metrics::describe_gauge!("errata_uptime_down", "uptime checks that are down");
}
