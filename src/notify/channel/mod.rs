//! Notification channels: one module per kind behind one trait.
//!
//! A [`Driver`] is everything Errata knows about one kind of channel: how to validate what a
//! user enters for it (a recipient list, a webhook URL), how to show a stored target without
//! its secrets, how to render each [`Message`] (an issue, a digest, the test message) into
//! the kind's payload, and how to send that payload with the shared [`Transports`]. The
//! command line, the web form and the configuration all validate through [`add`] /
//! [`AnyDriver::validate`], so one rule holds everywhere; the worker renders and sends
//! through [`AnyDriver::deliver`]; every listing redacts through [`redact`].
//!
//! Kinds: [`email`] (one recipient per channel, SMTP), [`slack`] (an incoming webhook,
//! Block Kit), [`webhook`] (generic, signed JSON), [`discord`], [`teams`] (Adaptive Card),
//! [`pagerduty`] (Events API v2) and [`ntfy`] (HTTP push); the chat and push kinds render a
//! neutral [`card`]. Adding a kind is one module here and one line in [`DRIVERS`] (and, while the
//! store keeps channel kinds in a closed enum, its name in `store::ChannelKind`). Webhook
//! kinds share [`http`]: the URL rule (https; no private or loopback targets unless
//! `notify.allow_private_targets`), redaction, and a client that only connects to allowed
//! addresses.

pub mod card;
pub mod discord;
pub mod email;
pub mod http;
pub mod ntfy;
pub mod pagerduty;
pub mod slack;
pub mod teams;
pub mod webhook;

use futures::future::BoxFuture;
use serde::Serialize;

use crate::outbound::{TargetError, TargetPolicy};
use crate::store::{Channel, ChannelKind, Store, StoreError};

use super::digest::DigestGroup;
use super::message::IssueFacts;
use super::recipients::ParseRecipientError;
use super::settings::NotifyConfig;
use super::SendError;
use crate::monitors::incident::IncidentFacts;

/// Every channel kind, one line each.
pub static DRIVERS: &[&dyn AnyDriver] = &[
    &email::Email,
    &slack::Slack,
    &webhook::Webhook,
    &discord::Discord,
    &teams::Teams,
    &pagerduty::PagerDuty,
    &ntfy::Ntfy,
];

/// What a channel is asked to tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// One issue: new, regressed, or over its frequency rule.
    Issue(Box<IssueFacts>),
    /// Something watched started failing or recovered (a cron monitor's incident).
    Incident(Box<IncidentFacts>),
    /// Several issues folded by storm control, grouped by project and trigger.
    Digest(Vec<DigestGroup>),
    /// `errata notify test`: proves the channel works; links to the server.
    Test {
        /// The server's public base URL.
        base_url: String,
    },
}

/// User input a channel kind does not accept; the message says what is wrong and is shown
/// as is by the command line and the web form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidTarget(pub String);

impl From<TargetError> for InvalidTarget {
    fn from(e: TargetError) -> Self {
        InvalidTarget(e.to_string())
    }
}

impl From<ParseRecipientError> for InvalidTarget {
    fn from(e: ParseRecipientError) -> Self {
        InvalidTarget(e.to_string())
    }
}

/// One kind of channel. Implemented by a unit struct per kind module; the registry holds
/// it as [`AnyDriver`].
pub trait Driver: Send + Sync + 'static {
    /// The stored kind.
    const KIND: ChannelKind;
    /// What [`Driver::render`] makes; it knows how it is sent.
    type Payload: Payload;

    /// Checks what a user entered and returns the canonical targets to store, one channel
    /// each (at least one). Errors say what is wrong, including that nothing was given.
    /// By default: one webhook URL, under the outbound target rule ([`http::validate_url`]).
    fn validate(&self, input: &str, policy: &TargetPolicy) -> Result<Vec<String>, InvalidTarget> {
        Ok(vec![http::validate_url(input, policy)?])
    }

    /// A stored target as shown to people: secrets (webhook paths, tokens) left out. By
    /// default a webhook URL's path and query ([`http::redact_url`]).
    fn redact(&self, target: &str) -> String {
        http::redact_url(target)
    }

    /// The payload that tells `message`.
    fn render(&self, message: &Message) -> Self::Payload;
}

/// A rendered message and how it travels: [`email::MailContent`] over SMTP, a JSON value
/// posted to a webhook ([`http`]). Kinds that share a transport share its payload type.
pub trait Payload: Serialize + Send + Sync {
    /// Sends the payload to `target`; `Ok` carries the peer's answer (`"250 …"`, `"200"`).
    fn send(
        &self,
        transports: &Transports,
        target: &str,
    ) -> impl std::future::Future<Output = Result<String, SendError>> + Send;
}

/// A [`Driver`] as the registry holds it (object-safe; implemented for every driver).
pub trait AnyDriver: Send + Sync {
    /// The stored kind.
    fn kind(&self) -> ChannelKind;
    /// [`Driver::validate`].
    fn validate(&self, input: &str, policy: &TargetPolicy) -> Result<Vec<String>, InvalidTarget>;
    /// [`Driver::redact`].
    fn redact(&self, target: &str) -> String;
    /// [`Driver::render`], as JSON (a preview of what would be sent).
    fn render_json(&self, message: &Message) -> serde_json::Value;
    /// Renders `message` and sends it to `target`.
    fn deliver<'a>(
        &'a self,
        transports: &'a Transports,
        target: &'a str,
        message: &'a Message,
    ) -> BoxFuture<'a, Result<String, SendError>>;
}

impl<D: Driver> AnyDriver for D {
    fn kind(&self) -> ChannelKind {
        D::KIND
    }

    fn validate(&self, input: &str, policy: &TargetPolicy) -> Result<Vec<String>, InvalidTarget> {
        Driver::validate(self, input, policy)
    }

    fn redact(&self, target: &str) -> String {
        Driver::redact(self, target)
    }

    fn render_json(&self, message: &Message) -> serde_json::Value {
        serde_json::to_value(self.render(message)).unwrap_or_default()
    }

    fn deliver<'a>(
        &'a self,
        transports: &'a Transports,
        target: &'a str,
        message: &'a Message,
    ) -> BoxFuture<'a, Result<String, SendError>> {
        Box::pin(async move { self.render(message).send(transports, target).await })
    }
}

/// The driver of a stored kind.
pub fn driver(kind: ChannelKind) -> Option<&'static dyn AnyDriver> {
    DRIVERS.iter().copied().find(|d| d.kind() == kind)
}

/// The driver named `name` (`email`, `slack`: the stored names). Errors list the kinds.
pub fn driver_named(name: &str) -> Result<&'static dyn AnyDriver, InvalidTarget> {
    DRIVERS
        .iter()
        .copied()
        .find(|d| d.kind().as_str() == name)
        .ok_or_else(|| {
            let known: Vec<&str> = DRIVERS.iter().map(|d| d.kind().as_str()).collect();
            InvalidTarget(format!(
                "unknown channel kind {name:?}: use one of {}",
                known.join(", ")
            ))
        })
}

/// A channel's target as shown to people (see [`Driver::redact`]).
pub fn redact(channel: &Channel) -> String {
    match driver(channel.kind) {
        Some(d) => d.redact(&channel.target),
        None => "(hidden)".to_owned(),
    }
}

/// Why [`add`] added nothing.
#[derive(Debug, thiserror::Error)]
pub enum AddChannelError {
    /// The input is not valid for the kind (shown to the user).
    #[error(transparent)]
    Invalid(#[from] InvalidTarget),
    /// The database failed, or the project does not exist ([`StoreError::NotFound`]).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Validates `input` for the kind named `kind` and adds one channel of `project_id` per
/// target (re-activating one removed before): the one path of the command line and the web
/// form. Errors: invalid input (nothing is added), an unknown project, the database.
pub async fn add(
    store: &Store,
    project_id: i64,
    kind: &str,
    input: &str,
    policy: &TargetPolicy,
) -> Result<Vec<Channel>, AddChannelError> {
    let driver = driver_named(kind)?;
    let targets = driver.validate(input, policy)?;
    let mut added = Vec::with_capacity(targets.len());
    for target in targets {
        added.push(
            store
                .add_channel(project_id, driver.kind(), &target)
                .await?,
        );
    }
    Ok(added)
}

/// What the drivers send with: the SMTP relay and the webhook client. Built once per worker.
#[derive(Debug)]
pub struct Transports {
    /// E-mail.
    pub mailer: email::Mailer,
    /// Webhook kinds.
    pub webhooks: http::WebhookClient,
    /// PagerDuty's Events API v2 endpoint (`notify.pagerduty_events_url`).
    pub pagerduty_url: String,
}

impl Transports {
    /// Both transports from `[notify]`. Errors when the HTTP client cannot be built.
    pub fn new(config: &NotifyConfig) -> Result<Transports, SendError> {
        Ok(Transports {
            mailer: email::Mailer::new(&config.smtp, config.send_timeout()),
            webhooks: http::WebhookClient::new(config.send_timeout(), config.target_policy())?,
            pagerduty_url: config.pagerduty_events_url.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stored_kind_has_one_driver() {
        for kind in ChannelKind::ALL {
            let d = driver(kind).expect("a driver");
            assert_eq!(d.kind(), kind);
            assert_eq!(driver_named(kind.as_str()).expect("by name").kind(), kind);
        }
        assert_eq!(DRIVERS.len(), ChannelKind::ALL.len());
        let err = driver_named("fax").err().expect("unknown");
        assert_eq!(
            err.to_string(),
            "unknown channel kind \"fax\": use one of email, slack, webhook, discord, teams, \
             pagerduty, ntfy"
        );
    }

    #[test]
    fn previews_and_redaction_go_through_the_registry() {
        let test = Message::Test {
            base_url: "http://errata.test".into(),
        };
        let preview = |kind| driver(kind).expect("driver").render_json(&test);
        assert_eq!(
            preview(ChannelKind::Email)["subject"],
            "[errata] Test notification"
        );
        assert!(preview(ChannelKind::Email)["html"]
            .as_str()
            .is_some_and(|h| h.contains("href=\"http://errata.test\"")));
        assert_eq!(
            preview(ChannelKind::Slack)["text"],
            "[errata] Test notification"
        );
        let shown = |kind, target| driver(kind).expect("driver").redact(target);
        assert_eq!(
            shown(ChannelKind::Slack, "https://hooks.slack.com/T/B/s3cretXYZW"),
            "https://hooks.slack.com/…XYZW"
        );
        assert_eq!(
            shown(ChannelKind::Email, "Jo <jo@example.com>"),
            "Jo <jo@example.com>"
        );
    }
}

/// What the channel kinds' unit tests share.
#[cfg(test)]
pub(crate) mod tests_support {
    use crate::outbound::TargetPolicy;

    /// A target policy that allows private addresses (the tests' listeners are on loopback).
    pub(crate) const OPEN: TargetPolicy = TargetPolicy {
        allow_private: true,
        setting: "notify.allow_private_targets",
    };
}
