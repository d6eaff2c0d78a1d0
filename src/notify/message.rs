//! The facts of one notification, and the text helpers every channel's rendering shares.
//!
//! [`IssueFacts`] is gathered once per issue by the worker (issue counters, the triggering
//! event's environment, release and stack) and rendered per channel kind in
//! [`super::channel`].

use std::fmt::Write as _;

use serde_json::Value;

use crate::event::{self, EventView};
use crate::store::{FrequencyRule, Trigger};
use crate::timefmt::rfc3339_ms;
// Mail bodies and the issue browser's pages escape HTML by the same rule.
pub use crate::html::escape_html;

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
    /// The frame's source line (`context_line`), trimmed, at most 200 characters.
    pub source: Option<String>,
}

/// Everything a notification about one issue says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueFacts {
    /// Why it is sent.
    pub trigger: Trigger,
    /// Project id.
    pub project_id: i64,
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

/// `New issue`, `Regression`, `Spike`: the label in subjects and headers.
pub fn trigger_label(trigger: Trigger) -> &'static str {
    match trigger {
        Trigger::NewIssue => "New issue",
        Trigger::Regression => "Regression",
        Trigger::Frequency => "Spike",
        Trigger::Users => "Users affected",
        Trigger::EveryEvent => "Event",
        Trigger::Unignored => "Unignored",
        Trigger::Assigned => "Assigned to you",
        Trigger::IncidentOpened => "Failing",
        Trigger::IncidentResolved => "Recovered",
        Trigger::CertificateExpiring => "Certificate expiring",
        Trigger::IssueResolved => "Resolved",
    }
}

/// The link to an issue in the browser.
pub fn issue_link(base_url: &str, issue_id: i64) -> String {
    format!("{}/issues/{issue_id}", base_url.trim_end_matches('/'))
}

/// The top frames of a stored (normalized) event payload: from the last exception with a
/// stack trace, else the first thread with one, else the top-level `stacktrace`; innermost
/// first; in-app frames only when there are any; at most five.
pub fn top_frames(payload: &Value) -> Vec<Frame> {
    let event = EventView::new(payload);
    let has_frames = |st: &event::Stacktrace<'_>| st.frames().next().is_some();
    let Some(stack) = event
        .exceptions()
        .rev()
        .filter_map(|e| e.stacktrace())
        .chain(event.threads().filter_map(|t| t.stacktrace()))
        .chain(event.stacktrace())
        .find(has_frames)
    else {
        return Vec::new();
    };
    let any_in_app = stack.frames().any(|f| f.in_app());
    stack
        .frames()
        .rev()
        .filter(|f| !any_in_app || f.in_app())
        .take(MAX_FRAMES)
        .map(|f| {
            let place = f
                .module()
                .or_else(|| f.filename())
                .or_else(|| f.abs_path())
                .unwrap_or("?");
            Frame {
                function: f.function().unwrap_or("?").to_owned(),
                location: match f.lineno() {
                    Some(line) => format!("{place}:{line}"),
                    None => place.to_owned(),
                },
                source: f
                    .context_line()
                    .map(|l| truncate(&one_line(l.trim()), 200))
                    .filter(|l| !l.is_empty()),
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
            (Trigger::Users, _) => format!(
                "Many users affected in {}: {} so far",
                self.project, self.user_count
            ),
            (Trigger::EveryEvent, _) => format!("New event in {}", self.project),
            (Trigger::Unignored, _) => format!(
                "An ignored issue in {} is back: its ignore condition was met",
                self.project
            ),
            (Trigger::Assigned, _) => format!("An issue in {} was assigned to you", self.project),
            (Trigger::IncidentOpened, _) => format!("Monitor failing in {}", self.project),
            (Trigger::IncidentResolved, _) => format!("Monitor recovered in {}", self.project),
            (Trigger::CertificateExpiring, _) => {
                format!("A certificate expires soon in {}", self.project)
            }
            (Trigger::IssueResolved, _) => format!("An issue in {} was resolved", self.project),
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn facts() -> IssueFacts {
        IssueFacts {
            trigger: Trigger::NewIssue,
            project_id: 7,
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
                source: Some("return 1 / 0".into()),
            }],
            link: issue_link("http://errors.example.com/", 42),
            rule: None,
        }
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
