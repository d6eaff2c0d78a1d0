//! PagerDuty Events API v2: a channel is one integration's routing key; events go to
//! `notify.pagerduty_events_url` (`https://events.pagerduty.com/v2/enqueue`).
//!
//! * An issue or a failing monitor sends `{"routing_key", "event_action": "trigger",
//!   "dedup_key", "payload": {"summary" (≤1024), "source", "severity" (`critical` for
//!   fatal, `error`, `warning`, `info`), "component", "custom_details": {facts}}, "links":
//!   [{"href", "text"}]}`. The dedup key is `errata-issue-{id}` for an issue and
//!   `errata-monitor-{sha256(monitor URL), 24 hex}` for a monitor, so repeated alerts about
//!   one problem stay one PagerDuty incident.
//! * A recovered monitor sends `{"routing_key", "event_action": "resolve", "dedup_key"}`
//!   with the key of its failure, resolving that incident; a resolved issue (an
//!   `issue_resolved` row, `store::resolutions`) resolves with the issue's key.
//! * Digests trigger one incident per digest (`errata-digest-…`); the test message triggers
//!   and is meant to be resolved by hand.
//!
//! PagerDuty answers `202 Accepted`. The routing key is a credential: shown as its last four
//! characters.

use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::monitors::incident::IncidentState;
use crate::outbound::TargetPolicy;
use crate::store::{ChannelKind, Trigger};

use super::super::message::truncate;
use super::super::SendError;
use super::card::card;
use super::{Driver, InvalidTarget, Message, Payload, Transports};

/// The PagerDuty channel kind.
pub struct PagerDuty;

/// An event without its routing key (added at send time from the channel's target).
#[derive(Debug, Serialize)]
pub struct PagerDutyEvent(pub Value);

/// The dedup key of whatever `message` is about.
pub fn dedup_key(message: &Message) -> String {
    let hashed = |s: &str| hex::encode(&Sha256::digest(s.as_bytes())[..12]);
    match message {
        Message::Issue(f) => format!("errata-issue-{}", f.issue_id),
        Message::Incident(f) => format!("errata-monitor-{}", hashed(&f.link)),
        Message::Digest(groups) => {
            let ids: Vec<String> = groups
                .iter()
                .flat_map(|g| g.entries.iter().map(|e| e.issue_id.to_string()))
                .collect();
            format!("errata-digest-{}", hashed(&ids.join(",")))
        }
        Message::Test { .. } => "errata-test".to_owned(),
    }
}

impl Driver for PagerDuty {
    const KIND: ChannelKind = ChannelKind::PagerDuty;
    type Payload = PagerDutyEvent;

    fn validate(&self, input: &str, _: &TargetPolicy) -> Result<Vec<String>, InvalidTarget> {
        let key = input.trim();
        if key.is_empty() {
            return Err(InvalidTarget("no PagerDuty routing key given".into()));
        }
        if !(20..=64).contains(&key.len()) || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(InvalidTarget(
                "a PagerDuty routing key (integration key) is 32 letters and digits, from the \
                 service's Events API v2 integration"
                    .into(),
            ));
        }
        Ok(vec![key.to_owned()])
    }

    fn redact(&self, target: &str) -> String {
        let tail: String = target
            .chars()
            .skip(target.chars().count().saturating_sub(4))
            .collect();
        format!("routing key …{tail}")
    }

    fn render(&self, message: &Message) -> PagerDutyEvent {
        let key = dedup_key(message);
        let resolved = match message {
            Message::Incident(f) => f.state == IncidentState::Resolved,
            Message::Issue(f) => f.trigger == Trigger::IssueResolved,
            _ => false,
        };
        if resolved {
            return PagerDutyEvent(json!({"event_action": "resolve", "dedup_key": key}));
        }
        let c = card(message);
        let details: serde_json::Map<String, Value> = c
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .chain((!c.frames.is_empty()).then(|| ("Top frames".to_owned(), json!(c.frames))))
            .collect();
        let project = match message {
            Message::Issue(f) => f.project.clone(),
            Message::Incident(f) => f.project.clone(),
            _ => "errata".to_owned(),
        };
        let mut event = json!({
            "event_action": "trigger",
            "dedup_key": key,
            "payload": {
                "summary": truncate(&c.subject, 1024),
                "source": "errata",
                "severity": c.severity,
                "component": project,
                "custom_details": details,
            },
        });
        if let Some(link) = &c.link {
            event["links"] = json!([{"href": link, "text": "Open in Errata"}]);
        }
        PagerDutyEvent(event)
    }
}

impl Payload for PagerDutyEvent {
    async fn send(&self, transports: &Transports, target: &str) -> Result<String, SendError> {
        let mut event = self.0.clone();
        event["routing_key"] = Value::String(target.to_owned());
        transports
            .webhooks
            .post_json(&transports.pagerduty_url, &event)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitors::incident::IncidentFacts;
    use crate::notify::message::tests::facts;
    use crate::notify::message::IssueFacts;

    const OPEN: TargetPolicy = TargetPolicy {
        allow_private: false,
        setting: "notify.allow_private_targets",
    };

    #[test]
    fn keys_are_validated_and_redacted() {
        let key = "R0UT1NGKEY0123456789abcdefABCDEF";
        assert_eq!(
            PagerDuty.validate(&format!(" {key} "), &OPEN).unwrap(),
            [key]
        );
        assert_eq!(PagerDuty.redact(key), "routing key …CDEF");
        assert!(PagerDuty.validate("short", &OPEN).is_err());
        assert!(PagerDuty
            .validate("https://events.pagerduty.com/x", &OPEN)
            .is_err());
    }

    #[test]
    fn failing_triggers_and_recovery_resolves_with_one_key() {
        let issue = PagerDuty.render(&Message::Issue(Box::new(facts()))).0;
        assert_eq!(issue["event_action"], "trigger");
        assert_eq!(issue["dedup_key"], "errata-issue-42");
        assert_eq!(issue["payload"]["severity"], "error");
        assert_eq!(issue["payload"]["source"], "errata");
        let incident = |state| IncidentFacts {
            state,
            label: "FAILING",
            what: "monitor",
            project: "checkout".into(),
            summary: "Cron monitor nightly missed its check-in".into(),
            fields: vec![("Schedule".into(), "0 2 * * *".into())],
            link: "http://e/monitors/7".into(),
            issue_link: None,
        };
        let opened = PagerDuty
            .render(&Message::Incident(Box::new(incident(
                IncidentState::Opened,
            ))))
            .0;
        let resolved = PagerDuty
            .render(&Message::Incident(Box::new(incident(
                IncidentState::Resolved,
            ))))
            .0;
        assert_eq!(opened["event_action"], "trigger");
        assert_eq!(resolved["event_action"], "resolve");
        assert_eq!(opened["dedup_key"], resolved["dedup_key"]);
        assert!(resolved.get("payload").is_none());
    }

    #[test]
    fn a_resolved_issue_resolves_with_the_issues_key() {
        let resolved = PagerDuty
            .render(&Message::Issue(Box::new(IssueFacts {
                trigger: Trigger::IssueResolved,
                ..facts()
            })))
            .0;
        assert_eq!(
            resolved,
            json!({"event_action": "resolve", "dedup_key": "errata-issue-42"})
        );
    }
}
