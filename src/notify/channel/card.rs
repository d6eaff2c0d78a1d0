//! One neutral summary of a [`Message`] for the chat and push kinds (Discord, Teams, ntfy,
//! PagerDuty): a title, a sentence, labelled facts, the top frames and a link. Each kind
//! renders the card in its own markup and escapes event data by its own rules; e-mail and
//! Slack render the message directly.

use super::super::digest;
use super::super::message::{level_colour, one_line, trigger_label, truncate};
use super::Message;
use crate::monitors::incident::IncidentState;

/// Most digest lines listed in a card.
const MAX_DIGEST_LINES: usize = 25;

/// What a chat message says, before markup. All text is raw (unescaped) event data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    /// `[checkout] New issue: ZeroDivisionError: …` (one line).
    pub subject: String,
    /// `New issue: ZeroDivisionError: …` (one line, without the project).
    pub title: String,
    /// One sentence on why it is sent (may be several lines for digests).
    pub text: String,
    /// Labelled facts in display order.
    pub fields: Vec<(String, String)>,
    /// Top frames, `function at location`, innermost first.
    pub frames: Vec<String>,
    /// Where to look: the issue, the monitor, the server.
    pub link: Option<String>,
    /// `#rrggbb` of the level or state.
    pub colour: &'static str,
    /// Severity for paging: `critical`, `error`, `warning`, `info`.
    pub severity: &'static str,
}

/// The card of `message`.
pub fn card(message: &Message) -> Card {
    match message {
        Message::Issue(f) => Card {
            subject: one_line(&f.subject()),
            title: truncate(
                &one_line(&format!("{}: {}", trigger_label(f.trigger), f.title)),
                250,
            ),
            text: match &f.culprit {
                Some(c) => format!("{}\n{}", f.headline(), one_line(c)),
                None => f.headline(),
            },
            fields: f
                .fields()
                .into_iter()
                .map(|(l, v)| (l.to_owned(), v))
                .collect(),
            frames: f
                .frames
                .iter()
                .map(|fr| format!("{} at {}", fr.function, fr.location))
                .collect(),
            link: Some(f.link.clone()),
            colour: level_colour(&f.level),
            severity: match f.level.as_str() {
                "fatal" => "critical",
                "warning" => "warning",
                "info" | "debug" => "info",
                _ => "error",
            },
        },
        Message::Incident(f) => Card {
            subject: f.subject(),
            title: truncate(&one_line(&format!("{}: {}", f.label(), f.summary)), 250),
            text: f.summary.clone(),
            fields: f.fields.clone(),
            frames: Vec::new(),
            link: Some(f.link.clone()),
            colour: match f.state {
                IncidentState::Opened => level_colour("error"),
                IncidentState::Resolved => "#2f9e44",
                IncidentState::Warning => level_colour("warning"),
            },
            severity: match f.state {
                IncidentState::Opened => "error",
                IncidentState::Resolved => "info",
                IncidentState::Warning => "warning",
            },
        },
        Message::Digest(groups) => {
            let subject = digest::subject(groups);
            let mut lines = Vec::new();
            for g in groups {
                lines.push(g.summary());
                lines.extend(g.entries.iter().map(|e| {
                    format!(
                        "#{} {} ({} events) {}",
                        e.issue_id,
                        truncate(&one_line(&e.title), digest::MAX_TITLE),
                        e.count,
                        e.link
                    )
                }));
            }
            let total = lines.len();
            if total > MAX_DIGEST_LINES {
                lines.truncate(MAX_DIGEST_LINES);
                lines.push(format!("… and {} more", total - MAX_DIGEST_LINES));
            }
            Card {
                title: subject.clone(),
                subject,
                text: lines.join("\n"),
                fields: Vec::new(),
                frames: Vec::new(),
                link: None,
                colour: level_colour("error"),
                severity: "error",
            }
        }
        Message::Test { base_url } => Card {
            subject: "[errata] Test notification".into(),
            title: "Test notification".into(),
            text: format!(
                "Test notification from Errata at {base_url}. If you can read it, this channel works."
            ),
            fields: Vec::new(),
            frames: Vec::new(),
            link: Some(base_url.clone()),
            colour: level_colour("info"),
            severity: "info",
        },
    }
}

/// Escapes Markdown (Discord, Teams) so event data is shown as text: no links, emphasis,
/// headings, code spans, or mentions (`@everyone`, `<@id>`) are formed from it.
pub fn escape_markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '*'
                | '_'
                | '`'
                | '~'
                | '|'
                | '['
                | ']'
                | '('
                | ')'
                | '<'
                | '>'
                | '#'
                | '-'
                | '+'
                | '!'
                | '{'
                | '}'
        ) {
            out.push('\\');
            out.push(c);
        } else if c == '@' {
            // A zero-width space after `@` keeps `@everyone` and `@here` from pinging.
            out.push_str("@\u{200b}");
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::message::tests::facts;

    #[test]
    fn markdown_from_event_data_is_inert() {
        let s = escape_markdown("[Log in](http://evil.example) @everyone <@123> **x**");
        assert_eq!(
            s,
            "\\[Log in\\]\\(http://evil.example\\) @\u{200b}everyone \\<@\u{200b}123\\> \\*\\*x\\*\\*"
        );
    }

    #[test]
    fn an_issue_card_carries_the_facts() {
        let c = card(&Message::Issue(Box::new(facts())));
        assert_eq!(
            c.subject,
            "[checkout] New issue: ZeroDivisionError: division by zero"
        );
        assert_eq!(
            c.link.as_deref(),
            Some("http://errors.example.com/issues/42")
        );
        assert!(c
            .fields
            .iter()
            .any(|(l, v)| l == "Release" && v == "shop@1.2.3"));
        assert_eq!(c.frames, ["charge at app.views:10"]);
        assert_eq!(c.severity, "error");
    }
}
