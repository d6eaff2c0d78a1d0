//! ntfy-style HTTP push: a channel is a topic URL (`https://ntfy.sh/errata-alerts`, or a
//! self-hosted server), validated by the webhook rule of [`super::http`] plus one path
//! segment of letters, digits, `-` and `_` (ntfy's topic rule).
//!
//! Sent as ntfy's "publish as JSON" to the server's root: `{"topic", "title", "message",
//! "click", "priority" (4 for errors, 3 otherwise), "tags": ["rotating_light"] |
//! ["white_check_mark"]}`. ntfy shows `message` as plain text (no `markdown` flag), so event
//! data needs no escaping. The topic name is the secret of a public server: shown as its
//! last four characters.

use serde_json::{json, Value};

use crate::outbound::TargetPolicy;
use crate::store::ChannelKind;

use super::super::message::truncate;
use super::super::SendError;
use super::card::card;
use super::{http, Driver, InvalidTarget, Message, Payload, Transports};

/// The ntfy channel kind.
pub struct Ntfy;

/// A JSON message without its topic (added at send time from the channel's target).
#[derive(Debug, serde::Serialize)]
pub struct NtfyMessage(pub Value);

/// The server root and topic of a topic URL.
fn split(target: &str) -> Option<(String, String)> {
    let url = url::Url::parse(target).ok()?;
    let topic = url.path().trim_matches('/').to_owned();
    let mut root = url;
    root.set_path("/");
    root.set_query(None);
    Some((root.to_string(), topic))
}

impl Driver for Ntfy {
    const KIND: ChannelKind = ChannelKind::Ntfy;
    type Payload = NtfyMessage;

    fn validate(&self, input: &str, policy: &TargetPolicy) -> Result<Vec<String>, InvalidTarget> {
        let url = http::validate_url(input, policy)?;
        let topic_ok = split(&url).is_some_and(|(_, t)| {
            (1..=64).contains(&t.len())
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
        if !topic_ok {
            return Err(InvalidTarget(
                "give the topic's URL, https://ntfy.sh/TOPIC (a topic is 1 to 64 letters, \
                 digits, - and _)"
                    .into(),
            ));
        }
        Ok(vec![url])
    }

    fn redact(&self, target: &str) -> String {
        http::redact_url(target)
    }

    fn render(&self, message: &Message) -> NtfyMessage {
        let c = card(message);
        let mut text = c.text.clone();
        for (label, value) in &c.fields {
            text.push_str(&format!("\n{label}: {value}"));
        }
        if !c.frames.is_empty() {
            text.push_str("\n\n");
            text.push_str(&c.frames.join("\n"));
        }
        let mut m = json!({
            "title": truncate(&c.subject, 250),
            "message": truncate(&text, 4000),
            "priority": if c.severity == "info" || c.severity == "warning" { 3 } else { 4 },
            "tags": [if c.severity == "info" { "white_check_mark" } else { "rotating_light" }],
        });
        if let Some(link) = &c.link {
            m["click"] = json!(link);
        }
        NtfyMessage(m)
    }
}

impl Payload for NtfyMessage {
    async fn send(&self, transports: &Transports, target: &str) -> Result<String, SendError> {
        let (root, topic) =
            split(target).ok_or_else(|| SendError::new(None, "invalid ntfy topic URL"))?;
        let mut m = self.0.clone();
        m["topic"] = Value::String(topic);
        transports.webhooks.post_json(&root, &m).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::message::tests::facts;

    use super::super::tests_support::OPEN;

    #[test]
    fn topics_are_one_segment_and_messages_are_plain() {
        assert!(Ntfy
            .validate("https://ntfy.sh/errata-alerts", &OPEN)
            .is_ok());
        assert!(Ntfy.validate("https://ntfy.sh/", &OPEN).is_err());
        assert!(Ntfy.validate("https://ntfy.sh/a/b", &OPEN).is_err());
        assert_eq!(
            split("http://127.0.0.1:9/errata_x").unwrap(),
            ("http://127.0.0.1:9/".to_owned(), "errata_x".to_owned())
        );
        let m = Ntfy.render(&Message::Issue(Box::new(facts()))).0;
        assert_eq!(m["click"], "http://errors.example.com/issues/42");
        assert_eq!(m["priority"], 4);
        assert!(m["message"]
            .as_str()
            .unwrap()
            .contains("Release: shop@1.2.3"));
    }
}
