//! Generic webhooks: a versioned JSON body, signed with a per-channel secret.
//!
//! **Input** (command line, web form): `URL [SECRET]`, the URL under the webhook rule of
//! [`super::http`], the secret 16 to 200 printable ASCII characters; without one a random
//! secret is made (shown once by the command). The stored target is
//! `URL#errata-secret=SECRET`: a fragment is never sent, and redaction shows neither.
//!
//! **Request**: `POST URL`, `Content-Type: application/json`, and
//! * `X-Errata-Timestamp`: Unix seconds when it was signed;
//! * `X-Errata-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`: a
//!   receiver recomputes it over the raw body and rejects a mismatch, and a timestamp more
//!   than a few minutes old (replay);
//! * `X-Errata-Event`: the `trigger`.
//!
//! **Body** ([`SCHEMA_VERSION`] 1): `{"version": 1, "trigger": "new_issue" | "regression" |
//! "unignored" | "frequency" | "users" | "every_event" | "assigned" | "monitor_failing" |
//! "monitor_recovering" | "digest" | "test", "project": {"id", "name"}, "issue": {"id",
//! "title", "culprit", "level", "count", "user_count", "first_seen", "last_seen",
//! "environment", "release", "url", "frames": ["fn at file:line"…]}}`; an incident has
//! `"monitor": {"state": "failing" | "recovered", "summary", "url", "issue_url", "fields":
//! {label: value}}` instead of `issue`; a digest `"issues": [{"id", "title", "count", "url",
//! "trigger", "project"}]`; the test message `"url"` (the server). Receivers must ignore
//! fields they do not know; a change that removes or renames one bumps `version`.

use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::monitors::incident::IncidentState;
use crate::outbound::TargetPolicy;
use crate::store::ChannelKind;
use crate::timefmt::rfc3339_ms;

use super::super::SendError;
use super::{http, Driver, InvalidTarget, Message, Payload, Transports};

/// The version of the body's schema.
pub const SCHEMA_VERSION: u32 = 1;
/// Where the secret is kept in a stored target.
const SECRET_MARK: &str = "#errata-secret=";
/// Accepted secret lengths, characters.
const SECRET_LEN: std::ops::RangeInclusive<usize> = 16..=200;

/// The generic webhook channel kind.
pub struct Webhook;

/// A body and the trigger it tells, signed at send time.
#[derive(Debug, Serialize)]
pub struct Signed {
    /// The JSON body.
    pub body: Value,
}

/// `sha256=<hex>` of HMAC-SHA256 with `secret` over `"<timestamp>.<body>"`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The URL and secret of a stored target.
pub fn split_target(target: &str) -> (&str, &str) {
    match target.rsplit_once(SECRET_MARK) {
        Some((url, secret)) => (url, secret),
        None => (target, ""),
    }
}

impl Driver for Webhook {
    const KIND: ChannelKind = ChannelKind::Webhook;
    type Payload = Signed;

    fn validate(&self, input: &str, policy: &TargetPolicy) -> Result<Vec<String>, InvalidTarget> {
        let mut parts = input.split_whitespace();
        let url = http::validate_url(parts.next().unwrap_or(""), policy)?;
        if url.contains('#') {
            return Err(InvalidTarget(
                "the webhook URL must not have a #fragment".into(),
            ));
        }
        let secret = match parts.next() {
            Some(s) => s.to_owned(),
            None => hex::encode(rand::random::<[u8; 16]>()),
        };
        if parts.next().is_some() {
            return Err(InvalidTarget(
                "give the webhook URL, then optionally its secret, and nothing else".into(),
            ));
        }
        if !SECRET_LEN.contains(&secret.chars().count())
            || !secret.chars().all(|c| c.is_ascii_graphic())
        {
            return Err(InvalidTarget(format!(
                "the secret must be {} to {} printable ASCII characters without spaces",
                SECRET_LEN.start(),
                SECRET_LEN.end()
            )));
        }
        Ok(vec![format!("{url}{SECRET_MARK}{secret}")])
    }

    fn redact(&self, target: &str) -> String {
        format!("{} (signed)", http::redact_url(split_target(target).0))
    }

    fn render(&self, message: &Message) -> Signed {
        Signed {
            body: body(message),
        }
    }
}

/// The documented body of `message` (see the module docs).
pub fn body(message: &Message) -> Value {
    match message {
        Message::Issue(f) => json!({
            "version": SCHEMA_VERSION,
            "trigger": f.trigger.as_str(),
            "project": {"id": f.project_id, "name": f.project},
            "issue": {
                "id": f.issue_id,
                "title": f.title,
                "culprit": f.culprit,
                "level": f.level,
                "count": f.count,
                "user_count": f.user_count,
                "first_seen": rfc3339_ms(f.first_seen_ms),
                "last_seen": rfc3339_ms(f.last_seen_ms),
                "environment": f.environment,
                "release": f.release,
                "url": f.link,
                "frames": f.frames.iter().map(|fr| format!("{} at {}", fr.function, fr.location)).collect::<Vec<_>>(),
            },
        }),
        Message::Incident(f) => {
            // Uptime checks' facts name what they link to `check`; cron monitors', `monitor`.
            let uptime = f.what == "check";
            let (trigger, state) = match (f.state, uptime) {
                (IncidentState::Opened, false) => ("monitor_failing", "failing"),
                (IncidentState::Resolved, false) => ("monitor_recovering", "recovered"),
                (IncidentState::Opened, true) => ("uptime_down", "down"),
                (IncidentState::Resolved, true) => ("uptime_up", "up"),
                (IncidentState::Warning, _) => ("certificate_expiring", "warning"),
            };
            let subject_key = if uptime { "check" } else { "monitor" };
            let fields: serde_json::Map<String, Value> = f
                .fields
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            json!({
                "version": SCHEMA_VERSION,
                "trigger": trigger,
                "project": {"name": f.project},
                subject_key: {
                    "state": state,
                    "summary": f.summary,
                    "url": f.link,
                    "issue_url": f.issue_link,
                    "fields": fields,
                },
            })
        }
        Message::Digest(groups) => json!({
            "version": SCHEMA_VERSION,
            "trigger": "digest",
            "summary": super::super::digest::subject(groups),
            "issues": groups.iter().flat_map(|g| g.entries.iter().map(|e| json!({
                "id": e.issue_id,
                "title": e.title,
                "count": e.count,
                "url": e.link,
                "trigger": e.trigger.as_str(),
                "project": e.project,
            }))).collect::<Vec<_>>(),
        }),
        Message::Test { base_url } => json!({
            "version": SCHEMA_VERSION,
            "trigger": "test",
            "url": base_url,
        }),
    }
}

impl Payload for Signed {
    async fn send(&self, transports: &Transports, target: &str) -> Result<String, SendError> {
        let (url, secret) = split_target(target);
        let body = serde_json::to_vec(&self.body)
            .map_err(|e| SendError::new(None, format!("cannot encode the payload: {e}")))?;
        let timestamp = crate::clock::system_now_ms() / 1000;
        let headers = [
            ("X-Errata-Timestamp", timestamp.to_string()),
            ("X-Errata-Signature", signature(secret, timestamp, &body)),
            (
                "X-Errata-Event",
                self.body["trigger"].as_str().unwrap_or("").to_owned(),
            ),
        ];
        transports
            .webhooks
            .post(url, body, "application/json", &headers)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::message::tests::facts;

    use super::super::tests_support::OPEN;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently: Python, hmac.new(secret, b"1700000000.Hello, World!", sha256).
        assert_eq!(
            signature(
                "It's a Secret to Everybody",
                1_700_000_000,
                b"Hello, World!"
            ),
            "sha256=76c83fd0acdf22faed320674fe8e04d528cfe8a17905e720a9611e40677c03b7"
        );
    }

    #[test]
    fn targets_keep_the_secret_out_of_sight() {
        let t = Webhook
            .validate("http://127.0.0.1:9/hook  s3cret-s3cret-s3cret", &OPEN)
            .expect("valid");
        assert_eq!(
            t,
            ["http://127.0.0.1:9/hook#errata-secret=s3cret-s3cret-s3cret"]
        );
        assert_eq!(split_target(&t[0]).1, "s3cret-s3cret-s3cret");
        assert_eq!(Webhook.redact(&t[0]), "http://127.0.0.1:9/…hook (signed)");
        let made = Webhook
            .validate("http://127.0.0.1:9/hook", &OPEN)
            .expect("valid");
        assert_eq!(split_target(&made[0]).1.len(), 32);
        for (input, needle) in [
            ("http://127.0.0.1:9/hook short", "16 to 200"),
            ("http://127.0.0.1:9/hook#x", "#fragment"),
            (
                "http://127.0.0.1:9/hook aaaaaaaaaaaaaaaaaa extra",
                "nothing else",
            ),
            ("", "no webhook URL"),
        ] {
            let e = Webhook.validate(input, &OPEN).expect_err(input).to_string();
            assert!(e.contains(needle), "{input}: {e}");
        }
    }

    #[test]
    fn the_body_has_the_documented_fields() {
        let b = body(&Message::Issue(Box::new(facts())));
        assert_eq!(b["version"], 1);
        assert_eq!(b["trigger"], "new_issue");
        assert_eq!(b["project"]["name"], "checkout");
        assert_eq!(b["issue"]["id"], 42);
        assert_eq!(b["issue"]["url"], "http://errors.example.com/issues/42");
        assert_eq!(b["issue"]["level"], "error");
    }
}
