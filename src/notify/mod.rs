//! Notifications: admins hear about new issues, regressions and spikes by e-mail and Slack,
//! without storms and without losses.
//!
//! * **Never lost.** Ingest writes an `outbox` row in the transaction that creates or
//!   reopens an issue; the [`worker`] fans it out into one delivery per channel, sends, and
//!   records every attempt. A crash between commit and send delays the message, never drops
//!   it; leases bring back what a dead worker had claimed.
//! * **Never twice.** Claims lock the channel row (`for update skip locked` on PostgreSQL,
//!   `BEGIN IMMEDIATE` on SQLite), so several server processes on one database split the
//!   work; a delivery is only marked by the worker holding its lease.
//! * **No storms.** Per channel at most `max_per_window` single messages per sliding window;
//!   the rest are folded into [`digest`]s that name every issue.
//! * **Retries.** Exponential backoff with jitter up to `max_attempts` (then a dead letter);
//!   a channel with `failing_after` consecutive failures is marked failing (shown in
//!   `/metrics` as `errata_notification_channels_failing` and in `errata notify status`),
//!   probed once per `failing_retry_ms`, and recovers on its next success.
//!
//! Modules: [`channel`] holds one module per channel kind (e-mail, Slack) behind one
//! trait that validates targets, redacts them, renders and sends; [`recipients`] parses
//! `Name <addr>, …`; [`rules`] decides triggers; [`message`] gathers the facts of an issue;
//! [`digest`] folds storms; [`worker`] runs it all as the `notify` job of the maintenance
//! runner ([`crate::jobs`]); [`cli`] is `errata notify …`.

pub mod channel;
pub mod cli;
pub mod digest;
pub mod email_digest;
pub mod message;
pub mod recipients;
pub mod rules;
pub mod settings;
pub mod worker;

pub use settings::{NotifyConfig, Secret, SmtpConfig, SmtpTls};
pub use worker::{Notifier, Outcome};

use crate::store::StoreError;

/// A send that did not go through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// SMTP reply code or HTTP status, when the peer answered.
    pub status: Option<String>,
    /// What went wrong (never contains the SMTP password or a webhook URL).
    pub message: String,
}

impl SendError {
    /// A failure with an optional peer status.
    pub fn new(status: Option<String>, message: impl Into<String>) -> SendError {
        SendError {
            status,
            message: message.into(),
        }
    }
}

/// Errors of the notification worker and commands.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A configured channel (admins, global webhooks) is not valid for its kind.
    #[error("invalid {setting}: {source}")]
    Setting {
        /// The setting, as the user knows it (`notify.admins / ERRATA_ADMINS`).
        setting: &'static str,
        /// What is wrong with it.
        source: channel::InvalidTarget,
    },
    /// A channel target given to a command is not valid for its kind.
    #[error(transparent)]
    Invalid(#[from] channel::InvalidTarget),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The HTTP client for webhooks could not be built.
    #[error("cannot start the webhook client: {0}")]
    Client(SendError),
    /// A command was given something it cannot use (unknown project, bad value).
    #[error("{0}")]
    Usage(String),
    /// `errata notify test`: some channels did not accept the test message.
    #[error("{failed} of {total} channels failed the test")]
    TestFailed {
        /// Channels that failed.
        failed: usize,
        /// Channels tried.
        total: usize,
    },
}
