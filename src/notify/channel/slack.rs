//! Slack incoming webhooks with Block Kit.
//!
//! A channel is one webhook URL (`https://hooks.slack.com/services/…`, or any
//! Slack-compatible endpoint), validated and redacted by the webhook rule of [`super::http`].
//!
//! Payload shape: `{"text": <fallback>, "attachments": [{"color": <level colour>, "blocks":
//! [...]}]}`. Block Kit has no colour of its own, so the blocks ride in one attachment whose
//! `color` is the level's; `text` is what notifications and old clients show. Blocks: a
//! `header` (plain text, ≤150 chars), a `section` with the linked title and culprit, a
//! `section` of `fields` (≤10, the facts), the top frames, and an `actions` block with a
//! button linking to the issue.
//!
//! Event data is attacker-controlled: `<!channel>`, `<@U123>` or `<http://evil|Log in>` in a
//! title must arrive as text, not as a mention or a link. Slack parses the top-level `text`
//! (what notifications and old clients show) and every `mrkdwn` text object for its
//! `<…>` markup, so event data entering either is escaped (`&`, `<`, `>` → `&amp;`, `&lt;`,
//! `&gt;`, Slack's formatting rules); `plain_text` objects (the header) are not parsed and
//! carry the text as it is.
//!
//! A webhook answers `200 ok`; anything else is a failure carrying the status and body
//! (`invalid_blocks`, `no_service`, …).

use serde_json::{json, Value};

use crate::store::ChannelKind;

use super::super::digest::{self, DigestEntry, DigestGroup};
use super::super::message::{level_colour, one_line, trigger_label, truncate, IssueFacts};
use super::{Driver, Message};
use crate::monitors::incident::{IncidentFacts, IncidentState};

/// The Slack channel kind.
pub struct Slack;

impl Driver for Slack {
    const KIND: ChannelKind = ChannelKind::Slack;
    type Payload = Value;

    fn render(&self, message: &Message) -> Value {
        match message {
            Message::Issue(facts) => issue_payload(facts),
            Message::Incident(facts) => incident_payload(facts),
            Message::Digest(groups) => digest_payload(groups, &digest::subject(groups)),
            Message::Test { base_url } => test_payload(base_url),
        }
    }
}

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
        "text": escape(&f.subject()),
        "attachments": [{"color": level_colour(&f.level), "blocks": blocks}],
    })
}

/// The Block Kit message about an incident: a header with its label, the summary linked to
/// what failed, the facts, and buttons to it and to its issue.
pub fn incident_payload(f: &IncidentFacts) -> Value {
    let summary = f.summary.replace('`', "");
    let colour = match f.state {
        IncidentState::Opened => level_colour("error"),
        IncidentState::Resolved => "#2f9e44",
        IncidentState::Warning => level_colour("warning"),
    };
    let mut buttons = vec![json!({"type": "button", "style": "primary", "url": f.link,
        "text": {"type": "plain_text", "text": format!("Open {}", f.what)}})];
    if let Some(issue) = &f.issue_link {
        buttons.push(json!({"type": "button", "url": issue,
            "text": {"type": "plain_text", "text": "Open issue"}}));
    }
    let blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text",
            "text": truncate(&one_line(&format!("{}: {summary}", f.label())), MAX_HEADER)}}),
        json!({"type": "section", "text": {"type": "mrkdwn",
            "text": truncate(&format!("*{}*", link(&f.link, &summary)), MAX_SECTION)}}),
        json!({"type": "section", "fields": f.fields.iter().take(10).map(|(label, value)| json!({
            "type": "mrkdwn",
            "text": truncate(&format!("*{}*\n{}", escape(label), escape(value)), 1900)
        })).collect::<Vec<_>>()}),
        json!({"type": "actions", "elements": buttons}),
    ];
    json!({
        "text": f.subject(),
        "attachments": [{"color": colour, "blocks": blocks}],
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
        "text": escape(subject),
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
        assert!(
            p["text"]
                .as_str()
                .unwrap()
                .ends_with("New issue: a &lt;b&gt; &amp; c"),
            "the top-level text is parsed by Slack too: {}",
            p["text"]
        );
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
    fn the_driver_validates_redacts_and_renders() {
        let policy = crate::outbound::TargetPolicy {
            allow_private: false,
            setting: "notify.allow_private_targets",
        };
        let url = "https://hooks.slack.com/services/T0/B0/secretAbCd";
        assert_eq!(Slack.validate(url, &policy).unwrap(), [url]);
        assert!(Slack.validate("https://10.0.0.1/hook", &policy).is_err());
        assert_eq!(Slack.redact(url), "https://hooks.slack.com/…AbCd");
        let test = Slack.render(&Message::Test {
            base_url: "http://errata.test".into(),
        });
        assert_eq!(test["text"], "[errata] Test notification");
        let spike = Slack.render(&Message::Issue(Box::new(IssueFacts {
            trigger: Trigger::Frequency,
            ..facts()
        })));
        assert_eq!(
            spike["attachments"][0]["blocks"][0]["text"]["text"],
            "Spike: ZeroDivisionError: division by zero"
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
}
