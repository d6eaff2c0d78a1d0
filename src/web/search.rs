//! The one search language of Errata: the issue list's search box, the Events page's, and
//! the read API's `query` parameter (`GET /api/v1/projects/{id}/issues`,
//! `GET /api/v1/issues/{id}/events`) parse with [`parse`] and mean the same through
//! [`Search::issue_query`] and [`Search::event_filter`] (README, *Search*).
//!
//! Grammar: whitespace-separated tokens; a token `key:value` (key of letters, digits, `_`,
//! `.`, `-`; value optionally in double quotes) is a term, anything else (or a token wholly
//! in double quotes) is free text. Terms: `level:` (a level name), `release:`,
//! `environment:` (alias `env:`), `is:` (`regressed`, `unresolved`, `resolved`, `ignored`,
//! `assigned`, `unassigned`), `assigned:` (`me` or a user's e-mail), `has:feedback` (issues
//! with user feedback); any other key filters by that tag. Free-text words are joined with single spaces and
//! matched as one case-insensitive substring of the title or culprit.

use crate::protocol::Level;
use crate::store::{EventFilter, IssueQuery, IssueSort, IssueStatus};

/// A parsed search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Search {
    /// Free text, if any.
    pub text: Option<String>,
    /// `level:`.
    pub level: Option<Level>,
    /// `release:`.
    pub release: Option<String>,
    /// `environment:`.
    pub environment: Option<String>,
    /// `is:regressed`.
    pub regressed: bool,
    /// `is:unresolved|resolved|ignored` (overrides the tab).
    pub status: Option<IssueStatus>,
    /// `assigned:me`, `assigned:EMAIL`, `is:assigned`, `is:unassigned`.
    pub assigned: Option<Assigned>,
    /// `has:feedback`.
    pub has_feedback: bool,
    /// Any other `key:value`.
    pub tags: Vec<(String, String)>,
}

/// Whose issues a search asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assigned {
    /// `assigned:me`: the signed-in user.
    Me,
    /// `assigned:EMAIL` (lowercased).
    Email(String),
    /// `is:unassigned`.
    Nobody,
    /// `is:assigned`.
    Anybody,
}

impl Search {
    /// True when the search has a term that only issues have (`is:`, `assigned:`), which an
    /// event list cannot filter by.
    pub fn has_issue_terms(&self) -> bool {
        self.status.is_some() || self.regressed || self.assigned.is_some()
    }

    /// The issue list these terms ask for, in `status` unless an `is:` state overrides it
    /// (the page's tab, the API's `status` parameter). `assigned:` is left to the caller
    /// (`assignee` is `None`): `me` depends on who asks.
    pub fn issue_query(
        &self,
        project_id: i64,
        status: Option<IssueStatus>,
        sort: IssueSort,
        limit: usize,
        cursor: Option<String>,
    ) -> IssueQuery {
        IssueQuery {
            project_id,
            status: self.status.or(status),
            level: self.level,
            release: self.release.clone(),
            environment: self.environment.clone(),
            query: self.text.clone(),
            tags: self.tags.clone(),
            regressed: self.regressed,
            assignee: None,
            has_feedback: self.has_feedback,
            sort,
            limit,
            cursor,
        }
    }

    /// The filter of an issue's events these terms ask for. Errors:
    /// [`SearchError::IssueTermsOnEvents`] for `is:`, `assigned:` and `has:`, which only
    /// issues have.
    pub fn event_filter(self) -> Result<EventFilter, SearchError> {
        if self.has_issue_terms() || self.has_feedback {
            return Err(SearchError::IssueTermsOnEvents);
        }
        Ok(EventFilter {
            text: self.text,
            level: self.level.map(|l| l.as_str().to_owned()),
            release: self.release,
            environment: self.environment,
            tags: self.tags,
        })
    }
}

/// A search that cannot be run; the message is shown above the list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    /// `level:` with an unknown level.
    #[error("unknown level {0:?}: use debug, info, warning, error or fatal")]
    UnknownLevel(String),
    /// `is:` with an unknown state.
    #[error("unknown is:{0}: use is:regressed, is:unresolved, is:resolved, is:ignored, is:assigned or is:unassigned")]
    UnknownIs(String),
    /// `has:` with something other than `feedback`.
    #[error("unknown has:{0}: use has:feedback")]
    UnknownHas(String),
    /// A `"` without its closing quote.
    #[error("a quote is not closed")]
    UnclosedQuote,
    /// `is:`, `assigned:` or `has:` in a search of events.
    #[error(
        "is:, assigned: and has: filter issues; events take text, level:, release:, \
         environment: and tags"
    )]
    IssueTermsOnEvents,
}

/// Splits into tokens, keeping quoted runs together; returns `(token, was_fully_quoted)`.
fn tokens(input: &str) -> Result<Vec<(String, bool)>, SearchError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quote = false;
    let mut quoted_from_start = false;
    let mut any = false;
    for c in input.chars() {
        match c {
            '"' => {
                if !in_quote && !any {
                    quoted_from_start = true;
                }
                in_quote = !in_quote;
                any = true;
            }
            c if c.is_whitespace() && !in_quote => {
                if any {
                    out.push((std::mem::take(&mut cur), quoted_from_start));
                }
                any = false;
                quoted_from_start = false;
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if in_quote {
        return Err(SearchError::UnclosedQuote);
    }
    if any {
        out.push((cur, quoted_from_start));
    }
    Ok(out)
}

fn is_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Parses the search box.
pub fn parse(input: &str) -> Result<Search, SearchError> {
    let mut s = Search::default();
    let mut words: Vec<String> = Vec::new();
    for (token, quoted) in tokens(input)? {
        let term = if quoted { None } else { token.split_once(':') };
        match term {
            Some((key, value)) if is_key(key) && !value.is_empty() => {
                match key.to_ascii_lowercase().as_str() {
                    "level" => {
                        s.level = Some(
                            Level::from_name(value)
                                .ok_or_else(|| SearchError::UnknownLevel(value.to_owned()))?,
                        );
                    }
                    "release" => s.release = Some(value.to_owned()),
                    "environment" | "env" => s.environment = Some(value.to_owned()),
                    "assigned" => {
                        s.assigned = Some(if value.eq_ignore_ascii_case("me") {
                            Assigned::Me
                        } else {
                            Assigned::Email(crate::store::normalize_email(value))
                        });
                    }
                    "is" => match value.to_ascii_lowercase().as_str() {
                        "regressed" => s.regressed = true,
                        "unresolved" => s.status = Some(IssueStatus::Unresolved),
                        "resolved" => s.status = Some(IssueStatus::Resolved),
                        "ignored" => s.status = Some(IssueStatus::Ignored),
                        "assigned" => s.assigned = Some(Assigned::Anybody),
                        "unassigned" => s.assigned = Some(Assigned::Nobody),
                        other => return Err(SearchError::UnknownIs(other.to_owned())),
                    },
                    "has" => match value.to_ascii_lowercase().as_str() {
                        "feedback" => s.has_feedback = true,
                        other => return Err(SearchError::UnknownHas(other.to_owned())),
                    },
                    _ => s.tags.push((key.to_owned(), value.to_owned())),
                }
            }
            _ => words.push(token),
        }
    }
    let text = words.join(" ");
    s.text = (!text.trim().is_empty()).then(|| text.trim().to_owned());
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_and_terms() {
        let s = parse(
            "  KeyError  level:error release:1.2.0 env:prod browser:Firefox is:regressed cart ",
        )
        .unwrap();
        assert_eq!(s.text.as_deref(), Some("KeyError cart"));
        assert_eq!(s.level, Some(Level::Error));
        assert_eq!(s.release.as_deref(), Some("1.2.0"));
        assert_eq!(s.environment.as_deref(), Some("prod"));
        assert!(s.regressed);
        assert_eq!(s.tags, vec![("browser".to_owned(), "Firefox".to_owned())]);
    }

    #[test]
    fn quotes_group_words() {
        let s = parse(r#"release:"my app 1.0" "a:b c""#).unwrap();
        assert_eq!(s.release.as_deref(), Some("my app 1.0"));
        assert_eq!(s.text.as_deref(), Some("a:b c"));
        assert_eq!(parse(r#"x "open"#), Err(SearchError::UnclosedQuote));
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(matches!(
            parse("level:loud"),
            Err(SearchError::UnknownLevel(_))
        ));
        assert!(matches!(parse("is:open"), Err(SearchError::UnknownIs(_))));
        assert!(matches!(
            parse("has:attachment"),
            Err(SearchError::UnknownHas(_))
        ));
        assert!(parse("boom has:Feedback").unwrap().has_feedback);
        assert_eq!(
            parse("is:resolved").unwrap().status,
            Some(IssueStatus::Resolved)
        );
    }

    #[test]
    fn assignee_terms() {
        assert_eq!(parse("assigned:me").unwrap().assigned, Some(Assigned::Me));
        assert_eq!(
            parse("assigned:Jo@Example.com").unwrap().assigned,
            Some(Assigned::Email("jo@example.com".into()))
        );
        assert_eq!(
            parse("is:unassigned").unwrap().assigned,
            Some(Assigned::Nobody)
        );
        assert!(parse("is:assigned").unwrap().has_issue_terms());
        assert!(!parse("level:error boom").unwrap().has_issue_terms());
    }

    #[test]
    fn one_meaning_for_issue_lists_and_event_lists() {
        let s = parse("boom level:warning is:resolved browser:Firefox").unwrap();
        let q = s.issue_query(7, Some(IssueStatus::Unresolved), IssueSort::Count, 25, None);
        assert_eq!(
            q.status,
            Some(IssueStatus::Resolved),
            "is: wins over the tab"
        );
        assert_eq!(
            (q.project_id, q.level, q.limit),
            (7, Some(Level::Warning), 25)
        );
        assert_eq!(q.query.as_deref(), Some("boom"));
        let q = parse("boom")
            .unwrap()
            .issue_query(7, None, IssueSort::Count, 25, None);
        assert_eq!(q.status, None, "no tab, no state: every state");
        for issue_only in ["is:resolved", "assigned:me", "has:feedback"] {
            assert_eq!(
                parse(issue_only).unwrap().event_filter(),
                Err(SearchError::IssueTermsOnEvents),
                "{issue_only}"
            );
        }
        let f = parse("env:prod boom").unwrap().event_filter().unwrap();
        assert_eq!(
            (f.environment.as_deref(), f.text.as_deref()),
            (Some("prod"), Some("boom"))
        );
    }

    #[test]
    fn colons_that_are_not_terms_stay_text() {
        let s = parse("Error: boom :x").unwrap();
        assert_eq!(s.text.as_deref(), Some("Error: boom :x"));
        assert_eq!(parse("").unwrap(), Search::default());
    }
}
