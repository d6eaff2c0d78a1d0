//! Slack incoming webhooks with Block Kit.
//!
//! Payload shape: `{"text": <fallback>, "attachments": [{"color": <level colour>, "blocks":
//! [...]}]}`. Block Kit has no colour of its own, so the blocks ride in one attachment whose
//! `color` is the level's; `text` is what notifications and old clients show. Blocks: a
//! `header` (plain text, ≤150 chars), a `section` with the linked title and culprit, a
//! `section` of `fields` (≤10, the facts), the top frames, and an `actions` block with a
//! button linking to the issue. Text in `mrkdwn` escapes `&`, `<`, `>` as Slack requires.
//!
//! A webhook answers `200 ok`; anything else is a failure carrying the status and body
//! (`invalid_blocks`, `no_service`, …).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::digest::{DigestEntry, DigestGroup};
use super::message::{level_colour, one_line, trigger_label, truncate, IssueFacts};
use super::SendError;

/// Longest `header` text Block Kit accepts.
const MAX_HEADER: usize = 150;
/// Longest `section` text Block Kit accepts is 3000; stay below it.
const MAX_SECTION: usize = 2900;
/// Block Kit accepts 50 blocks per message; digests stop listing before that.
const MAX_BLOCKS: usize = 45;

/// Escapes text for Slack `mrkdwn` (only `&`, `<`, `>` are special).
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A link in `mrkdwn`: `<url|label>`.
fn link(url: &str, label: &str) -> String {
    format!(
        "<{}|{}>",
        url.replace('|', "%7C"),
        escape(&one_line(label)).replace('|', "¦")
    )
}

/// Shows a webhook URL without its secret path: `https://hooks.slack.com/…/AbCd`.
pub fn redact_webhook(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => {
            let path = u.path();
            let tail: String = path
                .chars()
                .rev()
                .take(4)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!(
                "{}://{}{port}/…{tail}",
                u.scheme(),
                u.host_str().unwrap_or("?")
            )
        }
        Err(_) => "<invalid URL>".to_owned(),
    }
}

/// The Block Kit message about one issue.
pub fn issue_payload(f: &IssueFacts) -> Value {
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text",
            "text": truncate(&one_line(&format!("{}: {}", trigger_label(f.trigger), f.title)), MAX_HEADER)}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&format!(
            "*{}*\n{}{}",
            link(&f.link, &f.title),
            escape(&f.headline()),
            f.culprit.as_deref().map(|c| format!("\n`{}`", escape(&one_line(c)))).unwrap_or_default()
        ), MAX_SECTION)}}),
        json!({"type": "section", "fields": f.fields().into_iter().map(|(label, value)| json!({
            "type": "mrkdwn", "text": truncate(&format!("*{label}*\n{}", escape(&value)), 1900)
        })).collect::<Vec<_>>()}),
    ];
    if !f.frames.is_empty() {
        let lines: Vec<String> = f
            .frames
            .iter()
            .map(|fr| format!("{} at {}", fr.function, fr.location))
            .collect();
        blocks.push(
            json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(
            &format!("*Top frames*\n```{}```", escape(&lines.join("\n"))), MAX_SECTION)}}),
        );
    }
    blocks.push(button(&f.link));
    json!({
        "text": f.subject(),
        "attachments": [{"color": level_colour(&f.level), "blocks": blocks}],
    })
}

/// The Block Kit digest: per group a summary, the most frequent issues, then every other
/// issue (split over sections to respect Block Kit's limits).
pub fn digest_payload(groups: &[DigestGroup], subject: &str) -> Value {
    let total: usize = groups.iter().map(|g| g.entries.len()).sum();
    let mut blocks = vec![json!({"type": "header", "text": {"type": "plain_text",
        "text": truncate(&format!("Digest: {total} notifications"), MAX_HEADER)}})];
    let line = |e: &DigestEntry| {
        format!(
            "• {} ({} events)",
            link(
                &e.link,
                &format!("#{} {}", e.issue_id, truncate(&e.title, 120))
            ),
            e.count
        )
    };
    let mut omitted = 0;
    for g in groups {
        let (top, rest) = g.split_top();
        let mut lines = vec![format!(
            "*{}, the {} most frequent:*",
            escape(&g.summary()),
            top.len()
        )];
        lines.extend(top.iter().map(line));
        if !rest.is_empty() {
            lines.push("*Also:*".to_owned());
            lines.extend(rest.iter().map(line));
        }
        for text in pack(lines, MAX_SECTION) {
            if blocks.len() >= MAX_BLOCKS {
                omitted += text.lines().count();
                continue;
            }
            blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}));
        }
    }
    let mut context = "Folded into one digest: more notifications were due than this channel's \
                       limit allows."
        .to_owned();
    if omitted > 0 {
        context.push_str(&format!(" {omitted} more lines did not fit."));
    }
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]}));
    json!({
        "text": subject,
        "attachments": [{"color": level_colour("error"), "blocks": blocks}],
    })
}

/// The message `errata notify test` sends.
pub fn test_payload(base_url: &str) -> Value {
    json!({
        "text": "[errata] Test notification",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": format!(
                "*Test notification* from Errata at {}. If you can read it, this channel works.",
                link(base_url, base_url))}}
        ],
    })
}

fn button(url: &str) -> Value {
    json!({"type": "actions", "elements": [{
        "type": "button", "style": "primary", "url": url,
        "text": {"type": "plain_text", "text": "Open issue"},
    }]})
}

/// Joins lines into texts of at most `max` characters each (a longer line is cut).
fn pack(lines: Vec<String>, max: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    for l in lines {
        let l = truncate(&l, max);
        if !cur.is_empty() && cur.chars().count() + 1 + l.chars().count() > max {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push('\n');
        }
        cur.push_str(&l);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Posts Block Kit payloads to incoming webhooks.
#[derive(Debug, Clone)]
pub struct SlackClient {
    http: reqwest::Client,
}

impl SlackClient {
    /// A client whose every request times out after `timeout`. Errors when the TLS backend
    /// cannot be initialised.
    pub fn new(timeout: Duration) -> Result<SlackClient, SendError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("errata/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SendError::new(None, format!("cannot build HTTP client: {e}")))?;
        Ok(SlackClient { http })
    }

    /// Posts `payload` to `url`; `Ok(status)` (e.g. `"200"`) on a 2xx answer. Errors carry
    /// the status and the start of the body, or the transport error.
    pub async fn post(&self, url: &str, payload: &Value) -> Result<String, SendError> {
        let started = Instant::now();
        let res = self
            .http
            .post(url)
            .json(payload)
            .send()
            .await
            .map_err(|e| {
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
            "slack webhook answered"
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::digest::group;
    use crate::notify::message::tests::facts;
    use crate::store::Trigger;

    #[test]
    fn issue_payload_is_block_kit_with_colour_and_button() {
        let mut f = facts();
        f.title = "a <b> & c".into();
        let p = issue_payload(&f);
        assert_eq!(p["attachments"][0]["color"], "#e03e2f");
        let blocks = p["attachments"][0]["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(blocks[0]["text"]["text"], "New issue: a <b> & c");
        let title = blocks[1]["text"]["text"].as_str().unwrap();
        assert!(
            title.contains("<http://errors.example.com/issues/42|a &lt;b&gt; &amp; c>"),
            "{title}"
        );
        assert_eq!(blocks[2]["fields"].as_array().unwrap().len(), 8);
        let last = blocks.last().unwrap();
        assert_eq!(
            last["elements"][0]["url"],
            "http://errors.example.com/issues/42"
        );
    }

    #[test]
    fn digest_lists_every_issue_within_block_limits() {
        let entries = (1..=190)
            .map(|i| DigestEntry {
                trigger: Trigger::NewIssue,
                project: "checkout".into(),
                issue_id: i,
                title: "x".repeat(60),
                count: i,
                link: format!("http://e/issues/{i}"),
            })
            .collect();
        let groups = group(entries);
        let p = digest_payload(&groups, "s");
        let blocks = p["attachments"][0]["blocks"].as_array().unwrap();
        assert!(blocks.len() <= 50);
        let all = p.to_string();
        for i in 1..=190 {
            assert!(all.contains(&format!("http://e/issues/{i}|")), "#{i}");
        }
        for b in blocks {
            if let Some(t) = b["text"]["text"].as_str() {
                assert!(t.chars().count() <= 3000);
            }
        }
    }

    #[test]
    fn webhook_urls_are_redacted() {
        assert_eq!(
            redact_webhook("https://hooks.slack.com/services/T0/B0/secretAbCd"),
            "https://hooks.slack.com/…AbCd"
        );
    }
}
