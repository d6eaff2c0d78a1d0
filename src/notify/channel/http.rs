//! What every webhook kind shares: the rule for the URL a user gives, showing it without its
//! secret, and posting JSON to it.
//!
//! The rule, for the command line, the web form and the configuration alike: an absolute
//! `https://` URL of at most [`MAX_URL_LEN`] bytes; plain `http://` only where private
//! targets are allowed (an internal deployment, tests), since it would carry the webhook's
//! secret in the clear; and no loopback, private or link-local target unless
//! `notify.allow_private_targets` ([`crate::outbound`]). Sending applies the address rule
//! again to what the name resolves to, follows no redirects, and never puts the URL (a
//! credential) into an error message.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::outbound::{self, TargetPolicy};

use super::super::message::truncate;
use super::super::SendError;
use super::{InvalidTarget, Payload, Transports};

/// Longest webhook URL accepted, bytes.
pub const MAX_URL_LEN: usize = 2048;

/// Checks a webhook URL as entered (see the module docs); returns it trimmed.
pub fn validate_url(input: &str, policy: &TargetPolicy) -> Result<String, InvalidTarget> {
    let input = input.trim();
    if input.is_empty() {
        return Err(InvalidTarget("no webhook URL given".into()));
    }
    if input.len() > MAX_URL_LEN {
        return Err(InvalidTarget(format!(
            "the webhook URL is longer than {MAX_URL_LEN} bytes"
        )));
    }
    let url = url::Url::parse(input).map_err(|e| {
        InvalidTarget(format!(
            "the webhook is not a URL ({e}): give the whole https://… address"
        ))
    })?;
    outbound::check_url(&url, policy)?;
    if url.scheme() != "https" && !policy.allow_private {
        return Err(InvalidTarget(format!(
            "the webhook URL must start with https:// (plain http only with {})",
            policy.setting
        )));
    }
    Ok(input.to_owned())
}

/// A webhook URL without its secret: scheme, host, port and the last four characters of
/// the path (to tell channels apart), `https://hooks.slack.com/…AbCd`. The query (where
/// some services put a token) is never shown.
pub fn redact_url(url: &str) -> String {
    let Ok(u) = url::Url::parse(url) else {
        return "(invalid URL)".to_owned();
    };
    let path: Vec<char> = u.path().chars().collect();
    let tail: String = path[path.len().saturating_sub(4)..].iter().collect();
    let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!(
        "{}://{}{port}/…{tail}",
        u.scheme(),
        u.host_str().unwrap_or("?")
    )
}

/// Posts JSON to webhooks under the private-target rule.
#[derive(Debug, Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
    policy: TargetPolicy,
}

impl WebhookClient {
    /// A client whose every request times out after `timeout`. Errors when the TLS backend
    /// cannot be initialised.
    pub fn new(timeout: Duration, policy: TargetPolicy) -> Result<WebhookClient, SendError> {
        let http = outbound::client(timeout, policy)
            .map_err(|e| SendError::new(None, format!("cannot build HTTP client: {e}")))?;
        Ok(WebhookClient { http, policy })
    }

    /// Posts `payload` as JSON to `url`; `Ok(status)` (e.g. `"200"`) on a 2xx answer.
    /// Errors carry the status and the start of the body, the refusal of a private target,
    /// or the transport error (never the URL).
    pub async fn post_json<T: Serialize + ?Sized>(
        &self,
        url: &str,
        payload: &T,
    ) -> Result<String, SendError> {
        let body = serde_json::to_vec(payload)
            .map_err(|e| SendError::new(None, format!("cannot encode the payload: {e}")))?;
        self.post(url, body, "application/json", &[]).await
    }

    /// Posts `body` with `content_type` and extra `headers` to `url` (its `#fragment`, where
    /// a channel may keep a secret, is never sent); answers and errors as
    /// [`WebhookClient::post_json`].
    pub async fn post(
        &self,
        url: &str,
        body: Vec<u8>,
        content_type: &str,
        headers: &[(&str, String)],
    ) -> Result<String, SendError> {
        // IP-literal hosts never reach the resolver, so the rule is checked here too.
        let mut parsed = url::Url::parse(url)
            .map_err(|e| SendError::new(None, format!("invalid webhook URL: {e}")))?;
        parsed.set_fragment(None);
        outbound::check_url(&parsed, &self.policy)
            .map_err(|e| SendError::new(None, format!("webhook refused: {e}")))?;
        let mut request = self
            .http
            .post(parsed)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        let started = Instant::now();
        let res = request.send().await.map_err(|e| {
            // reqwest's error text includes the URL, which holds the webhook's secret.
            let e = e.without_url();
            let mut text = format!("webhook request failed: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            SendError::new(None, text)
        })?;
        let status = res.status();
        let body = res.text().await.unwrap_or_default();
        tracing::debug!(
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "webhook answered"
        );
        if status.is_success() {
            Ok(status.as_u16().to_string())
        } else {
            Err(SendError::new(
                Some(status.as_u16().to_string()),
                format!("webhook answered {status}: {}", truncate(body.trim(), 200)),
            ))
        }
    }
}

/// A JSON body posted to the target webhook: the payload of every webhook kind that needs
/// nothing but a POST (Slack now).
impl Payload for serde_json::Value {
    async fn send(&self, transports: &Transports, target: &str) -> Result<String, SendError> {
        transports.webhooks.post_json(target, self).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLOSED: TargetPolicy = TargetPolicy {
        allow_private: false,
        setting: "notify.allow_private_targets",
    };
    use super::super::tests_support::OPEN;

    #[test]
    fn one_rule_for_webhook_urls() {
        let ok = "https://hooks.slack.com/services/T0/B0/secret";
        assert_eq!(
            validate_url(&format!("  {ok}\n"), &CLOSED),
            Ok(ok.to_owned())
        );
        for (input, needle) in [
            ("", "no webhook URL"),
            ("hooks.slack.com/services/x", "not a URL"),
            (
                "http://hooks.slack.com/services/x",
                "must start with https://",
            ),
            ("ftp://example.com/x", "http:// or https://"),
            ("https://127.0.0.1/hook", "loopback"),
            ("https://10.0.0.8/hook", "private"),
            ("https://169.254.169.254/latest", "cloud metadata"),
            ("https://169.254.1.1/hook", "link-local"),
            ("https://localhost:8080/hook", "loopback"),
        ] {
            let err = validate_url(input, &CLOSED).expect_err(input).to_string();
            assert!(err.contains(needle), "{input}: {err}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(validate_url(&long, &CLOSED).is_err());
        // Internal deployments and tests: loopback and plain http.
        assert!(validate_url("http://127.0.0.1:9/hook", &OPEN).is_ok());
        assert!(validate_url("ftp://127.0.0.1/x", &OPEN).is_err());
    }

    #[test]
    fn redaction_keeps_host_and_a_short_tail() {
        assert_eq!(
            redact_url("https://hooks.slack.com/services/T0/B0/secretAbCd"),
            "https://hooks.slack.com/…AbCd"
        );
        assert_eq!(
            redact_url("http://127.0.0.1:8080/x?token=s3cret"),
            "http://127.0.0.1:8080/…/x"
        );
        assert_eq!(redact_url("not a url"), "(invalid URL)");
    }

    #[tokio::test]
    async fn posting_to_a_private_target_is_refused_without_a_request() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!(
            "http://{}/hook/secret",
            listener.local_addr().expect("addr")
        );
        let client = WebhookClient::new(Duration::from_secs(5), CLOSED).expect("client");
        let err = client
            .post_json(&url, &serde_json::json!({}))
            .await
            .expect_err("refused");
        assert!(err.message.contains("loopback"), "{err}");
        assert!(!err.message.contains("secret"), "{err}");
        listener.set_nonblocking(true).expect("nonblocking");
        assert!(listener.accept().is_err(), "nothing connected");
    }
}
