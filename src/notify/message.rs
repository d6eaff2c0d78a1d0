//! The facts of one notification and their rendering as an e-mail (subject, text, HTML).
//!
//! [`IssueFacts`] is gathered once per issue by the worker (issue counters, the triggering
//! event's environment, release and stack) and rendered per channel: here for e-mail, in
//! `slack.rs` for Block Kit.

use std::fmt::Write as _;

use serde_json::Value;

use crate::store::{FrequencyRule, Trigger};
use crate::timefmt::rfc3339_ms;
// Mail bodies and the issue browser's pages escape HTML by the same rule.
pub use crate::web::escape_html;

/// Most frames listed in a message.
const MAX_FRAMES: usize = 5;
/// Longest title kept in a subject line, characters.
const MAX_SUBJECT_TITLE: usize = 150;

/// One stack frame as shown in a message: `function` at `location`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Function name (`"?"` when unknown).
    pub function: String,
    /// `module`, else `filename`, with `:lineno` when known.
    pub location: String,
}

/// Everything a notification about one issue says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueFacts {
    /// Why it is sent.
    pub trigger: Trigger,
    /// Project name.
    pub project: String,
    /// Issue id.
    pub issue_id: i64,
    /// Issue title (`ZeroDivisionError: division by zero`).
    pub title: String,
    /// Culprit (usually the crashing function or transaction).
    pub culprit: Option<String>,
    /// Level name of the newest event (`error`, `fatal`, …).
    pub level: String,
    /// Environment of the triggering event.
    pub environment: Option<String>,
    /// Release of the triggering event, else the issue's last release.
    pub release: Option<String>,
    /// First event, epoch ms.
    pub first_seen_ms: i64,
    /// Last event, epoch ms.
    pub last_seen_ms: i64,
    /// Events so far.
    pub count: i64,
    /// Distinct users affected.
    pub user_count: i64,
    /// Top frames of the triggering event, innermost first (in-app ones when there are).
    pub frames: Vec<Frame>,
    /// The issue in the browser: `{base_url}/issues/{issue_id}`.
    pub link: String,
    /// The rule that fired, for frequency alerts.
    pub rule: Option<FrequencyRule>,
}

/// A rendered e-mail: subject and the two alternative bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailContent {
    /// Subject line.
    pub subject: String,
    /// `text/plain` body.
    pub text: String,
    /// `text/html` body.
    pub html: String,
}

/// `New issue`, `Regression`, `Spike`: the label in subjects and headers.
pub fn trigger_label(trigger: Trigger) -> &'static str {
    match trigger {
        Trigger::NewIssue => "New issue",
        Trigger::Regression => "Regression",
        Trigger::Frequency => "Spike",
    }
}

/// The link to an issue in the browser.
pub fn issue_link(base_url: &str, issue_id: i64) -> String {
    format!("{}/issues/{issue_id}", base_url.trim_end_matches('/'))
}

/// The top frames of an event payload (normalized JSON): from the last exception with a
/// stack trace, else the first thread with one, else the top-level `stacktrace`; innermost
/// first; in-app frames only when there are any; at most five.
pub fn top_frames(event: &Value) -> Vec<Frame> {
    let values = |key: &str| -> Vec<Value> {
        match event.get(key) {
            Some(Value::Object(o)) => o
                .get("values")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            Some(Value::Array(a)) => a.clone(),
            _ => Vec::new(),
        }
    };
    let frames_of = |holder: &Value| -> Option<Vec<Value>> {
        holder
            .get("stacktrace")
            .and_then(|s| s.get("frames"))
            .and_then(Value::as_array)
            .filter(|f| !f.is_empty())
            .cloned()
    };
    let frames = values("exception")
        .iter()
        .rev()
        .find_map(frames_of)
        .or_else(|| values("threads").iter().find_map(frames_of))
        .or_else(|| frames_of(event))
        .unwrap_or_default();
    let in_app: Vec<&Value> = frames
        .iter()
        .filter(|f| f.get("in_app").and_then(Value::as_bool) == Some(true))
        .collect();
    let chosen: Vec<&Value> = if in_app.is_empty() {
        frames.iter().collect()
    } else {
        in_app
    };
    chosen
        .into_iter()
        .rev()
        .take(MAX_FRAMES)
        .map(|f| {
            let text = |k: &str| f.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
            let place = text("module")
                .or_else(|| text("filename"))
                .or_else(|| text("abs_path"))
                .unwrap_or("?");
            let location = match f.get("lineno").and_then(Value::as_i64) {
                Some(line) => format!("{place}:{line}"),
                None => place.to_owned(),
            };
            Frame {
                function: text("function").unwrap_or("?").to_owned(),
                location,
            }
        })
        .collect()
}

/// Truncates to `max` characters, marking the cut with `…`.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

impl IssueFacts {
    /// `[checkout] New issue: ZeroDivisionError: division by zero`.
    pub fn subject(&self) -> String {
        let title = truncate(&one_line(&self.title), MAX_SUBJECT_TITLE);
        let mut s = format!(
            "[{}] {}: {title}",
            one_line(&self.project),
            trigger_label(self.trigger)
        );
        if let Some(rule) = self.rule {
            let _ = write!(
                s,
                " (more than {} events in {} min)",
                rule.events, rule.minutes
            );
        }
        s
    }

    /// One sentence on why this is sent.
    pub fn headline(&self) -> String {
        match (self.trigger, self.rule) {
            (Trigger::NewIssue, _) => format!("New issue in {}", self.project),
            (Trigger::Regression, _) => {
                format!(
                    "Regression in {}: a resolved issue occurred again",
                    self.project
                )
            }
            (Trigger::Frequency, Some(r)) => format!(
                "Spike in {}: more than {} events in {} minutes",
                self.project, r.events, r.minutes
            ),
            (Trigger::Frequency, None) => format!("Spike in {}", self.project),
        }
    }

    /// The labelled facts, in display order: `(label, value)`.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "–".to_owned());
        vec![
            ("Project", self.project.clone()),
            ("Environment", or_none(&self.environment)),
            ("Release", or_none(&self.release)),
            ("Level", self.level.clone()),
            ("First seen", rfc3339_ms(self.first_seen_ms)),
            ("Last seen", rfc3339_ms(self.last_seen_ms)),
            ("Events", self.count.to_string()),
            ("Users", self.user_count.to_string()),
        ]
    }

    /// The e-mail: subject, plain text and HTML, both with every fact and the link.
    pub fn email(&self) -> MailContent {
        let mut text = format!("{}\n\n{}\n", self.headline(), self.title);
        if let Some(c) = &self.culprit {
            let _ = writeln!(text, "in {c}");
        }
        text.push('\n');
        for (label, value) in self.fields() {
            let _ = writeln!(text, "{:<13}{value}", format!("{label}:"));
        }
        if !self.frames.is_empty() {
            text.push_str("\nTop frames:\n");
            for f in &self.frames {
                let _ = writeln!(text, "  {} at {}", f.function, f.location);
            }
        }
        let _ = write!(text, "\nOpen the issue: {}\n", self.link);

        let e = escape_html;
        let mut html = format!(
            "<!DOCTYPE html><html><body style=\"font-family:sans-serif\">\
             <p style=\"color:{}\"><strong>{}</strong></p>\
             <h2 style=\"margin:0\"><a href=\"{}\">{}</a></h2>",
            level_colour(&self.level),
            e(&self.headline()),
            e(&self.link),
            e(&self.title)
        );
        if let Some(c) = &self.culprit {
            let _ = write!(html, "<p><code>{}</code></p>", e(c));
        }
        html.push_str("<table cellpadding=\"3\">");
        for (label, value) in self.fields() {
            let _ = write!(
                html,
                "<tr><th align=\"left\">{label}</th><td>{}</td></tr>",
                e(&value)
            );
        }
        html.push_str("</table>");
        if !self.frames.is_empty() {
            html.push_str("<p><strong>Top frames</strong></p><ol>");
            for f in &self.frames {
                let _ = write!(
                    html,
                    "<li><code>{}</code> at <code>{}</code></li>",
                    e(&f.function),
                    e(&f.location)
                );
            }
            html.push_str("</ol>");
        }
        let _ = write!(
            html,
            "<p><a href=\"{0}\">Open the issue</a> ({0})</p></body></html>",
            e(&self.link)
        );
        MailContent {
            subject: self.subject(),
            text,
            html,
        }
    }
}

/// The colour of a level (hex `#rrggbb`), as Sentry shows it.
pub fn level_colour(level: &str) -> &'static str {
    match level {
        "fatal" => "#8b0000",
        "error" => "#e03e2f",
        "warning" => "#f2b712",
        "info" => "#2788ce",
        "debug" => "#8d8d8d",
        _ => "#e03e2f",
    }
}

/// Replaces line breaks (which would end a header or a Slack header block) with spaces.
pub fn one_line(s: &str) -> String {
    s.split(['\r', '\n']).collect::<Vec<_>>().join(" ")
}

/// The message `errata notify test` sends.
pub fn test_mail(base_url: &str) -> MailContent {
    let text = format!(
        "This is a test notification from Errata at {base_url}.\n\
         If you can read it, this channel works.\n"
    );
    let html = format!(
        "<!DOCTYPE html><html><body><p>This is a test notification from Errata at \
         <a href=\"{0}\">{0}</a>.</p><p>If you can read it, this channel works.</p></body></html>",
        escape_html(base_url)
    );
    MailContent {
        subject: "[errata] Test notification".to_owned(),
        text,
        html,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn facts() -> IssueFacts {
        IssueFacts {
            trigger: Trigger::NewIssue,
            project: "checkout".into(),
            issue_id: 42,
            title: "ZeroDivisionError: division by zero".into(),
            culprit: Some("app.views in charge".into()),
            level: "error".into(),
            environment: Some("production".into()),
            release: Some("shop@1.2.3".into()),
            first_seen_ms: 1_700_000_000_000,
            last_seen_ms: 1_700_000_060_000,
            count: 3,
            user_count: 2,
            frames: vec![Frame {
                function: "charge".into(),
                location: "app.views:10".into(),
            }],
            link: issue_link("http://errors.example.com/", 42),
            rule: None,
        }
    }

    #[test]
    fn subject_and_both_bodies_carry_the_facts() {
        let mut f = facts();
        f.title = "bad <b>&</b>\nsecond line".into();
        let m = f.email();
        assert_eq!(m.subject, "[checkout] New issue: bad <b>&</b> second line");
        for needle in [
            "production",
            "shop@1.2.3",
            "charge at app.views:10",
            "http://errors.example.com/issues/42",
            "Users:       2",
        ] {
            assert!(m.text.contains(needle), "text lacks {needle}: {}", m.text);
        }
        assert!(
            m.html.contains("bad &lt;b&gt;&amp;&lt;/b&gt;"),
            "{}",
            m.html
        );
        assert!(m
            .html
            .contains("href=\"http://errors.example.com/issues/42\""));
        assert!(!m.html.contains("<b>&"));
    }

    #[test]
    fn frequency_subject_names_the_rule() {
        let mut f = facts();
        f.trigger = Trigger::Frequency;
        f.rule = Some(FrequencyRule {
            events: 100,
            minutes: 5,
        });
        assert_eq!(
            f.subject(),
            "[checkout] Spike: ZeroDivisionError: division by zero (more than 100 events in 5 min)"
        );
    }

    #[test]
    fn frames_are_in_app_innermost_first() {
        let event = json!({"exception": {"values": [
            {"type": "A", "stacktrace": {"frames": [{"function": "lost"}]}},
            {"type": "B", "stacktrace": {"frames": [
                {"function": "main", "module": "app", "lineno": 1, "in_app": true},
                {"function": "lib", "filename": "lib.py", "in_app": false},
                {"function": "charge", "module": "app.views", "lineno": 10, "in_app": true}
            ]}}
        ]}});
        let frames = top_frames(&event);
        let names: Vec<&str> = frames.iter().map(|f| f.function.as_str()).collect();
        assert_eq!(names, ["charge", "main"]);
        assert_eq!(frames[0].location, "app.views:10");
        let plain = json!({"stacktrace": {"frames": [{"function": "f", "filename": "x.rs"}]}});
        assert_eq!(top_frames(&plain)[0].location, "x.rs");
        assert!(top_frames(&json!({})).is_empty());
    }
}
