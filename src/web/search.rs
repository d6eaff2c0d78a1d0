//! The issue list's search box: free text plus `key:value` terms.
//!
//! Grammar: whitespace-separated tokens; a token `key:value` (key of letters, digits, `_`,
//! `.`, `-`; value optionally in double quotes) is a term, anything else (or a token wholly
//! in double quotes) is free text. Terms: `level:` (a level name), `release:`,
//! `environment:` (alias `env:`), `is:` (`regressed`, `unresolved`, `resolved`, `ignored`);
//! any other key filters by that tag. Free-text words are joined with single spaces and
//! matched as one case-insensitive substring of the title or culprit.

use crate::protocol::Level;
use crate::store::IssueStatus;

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
    /// Any other `key:value`.
    pub tags: Vec<(String, String)>,
}

/// A search that cannot be run; the message is shown above the list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    /// `level:` with an unknown level.
    #[error("unknown level {0:?}: use debug, info, warning, error or fatal")]
    UnknownLevel(String),
    /// `is:` with an unknown state.
    #[error("unknown is:{0}: use is:regressed, is:unresolved, is:resolved or is:ignored")]
    UnknownIs(String),
    /// A `"` without its closing quote.
    #[error("a quote is not closed")]
    UnclosedQuote,
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
                    "is" => match value.to_ascii_lowercase().as_str() {
                        "regressed" => s.regressed = true,
                        "unresolved" => s.status = Some(IssueStatus::Unresolved),
                        "resolved" => s.status = Some(IssueStatus::Resolved),
                        "ignored" => s.status = Some(IssueStatus::Ignored),
                        other => return Err(SearchError::UnknownIs(other.to_owned())),
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
        assert_eq!(
            parse("is:resolved").unwrap().status,
            Some(IssueStatus::Resolved)
        );
    }

    #[test]
    fn colons_that_are_not_terms_stay_text() {
        let s = parse("Error: boom :x").unwrap();
        assert_eq!(s.text.as_deref(), Some("Error: boom :x"));
        assert_eq!(parse("").unwrap(), Search::default());
    }
}
