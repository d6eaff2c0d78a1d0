//! Message / exception-value normalization (sentry-protocol.md 7.4.5).
//!
//! Variable parts of a message (numbers, ids, addresses, dates, …) are replaced by placeholders
//! so that `timeout after 3012 ms` and `timeout after 45 ms` group together. The placeholder
//! patterns are applied leftmost-first, as one alternation (the `regex` crate's semantics, which
//! is also what the backtracking reference in `reference_grouping.py` does); candidates that
//! need a semantic check (IP octets, IPv6 syntax, hex ids) are validated per match, and one that
//! fails keeps its original text.

use std::borrow::Cow;
use std::net::Ipv6Addr;
use std::sync::LazyLock;

use regex::Regex;
use regex_automata::meta;
use regex_automata::nfa::thompson::WhichCaptures;

/// The placeholder kinds, in match priority at a given position: each kind's pattern and its
/// placeholder text.
///
/// The patterns are searched as one multi-pattern regex with leftmost-first semantics
/// (regex-automata's `meta::Builder::build_many`), which is the same as one alternation of them
/// in this order: the leftmost match wins, and at one position the earlier pattern. The pattern
/// id of a match names its kind, so no capture group is resolved per match.
const KINDS: &[(Kind, &str, &str)] = &[
    (
        Kind::Plain,
        r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+",
        "<email>",
    ),
    (
        Kind::Plain,
        r#"\b(?:https?|wss?|ftp|file)://[^\s"'<>]+"#,
        "<url>",
    ),
    (
        Kind::Plain,
        r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
        "<uuid>",
    ),
    (Kind::Ipv4, r"\b(?:\d{1,3}\.){3}\d{1,3}\b", "<ip>"),
    (
        Kind::Ipv6,
        r"\b[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7}\b",
        "<ip>",
    ),
    (Kind::Sha, r"\b[0-9a-fA-F]{32,64}\b", "<sha>"),
    (
        Kind::Plain,
        r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?",
        "<date>",
    ),
    (Kind::Plain, r"\b\d{1,2}:\d{2}:\d{2}(?:\.\d+)?\b", "<time>"),
    (Kind::Plain, r"\b0[xX][0-9a-fA-F]+\b", "<hex>"),
    (
        Kind::Plain,
        r"\b\d+(?:\.\d+)?(?:ns|us|ms|s|m|h)\b",
        "<duration>",
    ),
    (Kind::Plain, r"\b\d+\.\d+\b", "<float>"),
    (Kind::Plain, r"\b\d+\b", "<int>"),
    (Kind::HexId, r"\b[0-9a-fA-F]{8,}\b", "<hexid>"),
];

/// What a candidate must pass besides its pattern (see [`accept`]).
#[derive(Clone, Copy)]
enum Kind {
    Ipv4,
    Ipv6,
    Sha,
    HexId,
    /// No check beyond the pattern.
    Plain,
}

/// [`KINDS`]' patterns as one leftmost-first multi-pattern regex without capture groups.
static PARAM_RE: LazyLock<meta::Regex> = LazyLock::new(|| {
    let patterns: Vec<&str> = KINDS.iter().map(|&(_, pattern, _)| pattern).collect();
    meta::Regex::builder()
        .configure(meta::Config::new().which_captures(WhichCaptures::Implicit))
        .build_many(&patterns)
        .expect("the placeholder patterns are valid literal regexes")
});

/// `key=<quoted or boolean>` values; the key survives, the value becomes `<val>`.
static KV_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"=(?:'[^']*'|"[^"]*"|true\b|false\b|True\b|False\b)"#)
        .expect("the key=value pattern is a valid literal regex")
});

/// Normalizes a message or exception value for grouping (7.4.5): first two non-empty lines
/// (`...` appended when more existed), `=<val>` for quoted/boolean values after `=`, then the
/// placeholder patterns.
pub fn normalize_message(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len().min(1024));
    let mut more = false;
    for (kept, line) in split_lines(msg)
        .filter(|l| !l.trim().is_empty())
        .enumerate()
    {
        if kept == 2 {
            more = true;
            break;
        }
        if kept > 0 {
            out.push('\n');
        }
        out.push_str(line);
    }
    if more {
        out.push_str("...");
    }
    let out = match KV_RE.replace_all(&out, "=<val>") {
        Cow::Borrowed(_) => out,
        Cow::Owned(s) => s,
    };
    replace_params(&out)
}

/// Replaces every placeholder candidate that passes its check; a candidate that fails keeps
/// its text (and, as in an alternation, hides any later kind matching at its position).
fn replace_params(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for m in PARAM_RE.find_iter(text) {
        let (kind, _, placeholder) = KINDS[m.pattern().as_usize()];
        let candidate = &text[m.range()];
        if accept(kind, candidate) {
            out.push_str(&text[copied..m.start()]);
            out.push_str(placeholder);
            copied = m.end();
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// Semantic checks the regex cannot express without look-around.
fn accept(kind: Kind, text: &str) -> bool {
    match kind {
        Kind::Ipv4 => text
            .split('.')
            .all(|octet| octet.parse::<u32>().is_ok_and(|n| n <= 255)),
        // `::` alone parses as an address but is a Rust path separator (`Result::unwrap`);
        // requiring a digit also rejects paths like `add::be`.
        Kind::Ipv6 => text.parse::<Ipv6Addr>().is_ok() && text.chars().any(|c| c.is_ascii_digit()),
        Kind::Sha => matches!(text.len(), 32 | 40 | 64) && text.chars().any(|c| c.is_ascii_digit()),
        Kind::HexId => {
            text.chars().any(|c| c.is_ascii_digit()) && text.chars().any(|c| c.is_alphabetic())
        }
        Kind::Plain => true,
    }
}

/// Splits like Python's `str.splitlines()` (which the reference uses): `\n`, `\r\n`, `\r`,
/// vertical tab, form feed, the ASCII separators 0x1C–0x1E, NEL, LS and PS.
fn split_lines(s: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let cur = rest?;
        if cur.is_empty() {
            rest = None;
            return None;
        }
        match cur.char_indices().find(|&(_, c)| is_line_break(c)) {
            Some((i, c)) => {
                let mut next = i + c.len_utf8();
                if c == '\r' && cur[next..].starts_with('\n') {
                    next += 1;
                }
                rest = Some(&cur[next..]);
                Some(&cur[..i])
            }
            None => {
                rest = None;
                Some(cur)
            }
        }
    })
}

fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r'
            | '\u{0b}'
            | '\u{0c}'
            | '\u{1c}'
            | '\u{1d}'
            | '\u{1e}'
            | '\u{85}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

#[cfg(test)]
mod tests {
    use super::normalize_message as n;

    #[test]
    fn table_rows() {
        assert_eq!(n("mail bob@example.com now"), "mail <email> now");
        assert_eq!(n("GET https://x.example/a?b=1 failed"), "GET <url> failed");
        assert_eq!(
            n("req 0b7f3c2e-1a2b-4c3d-8e9f-0123456789ab done"),
            "req <uuid> done"
        );
        assert_eq!(n("from 10.0.0.1 to 999.1.1.1"), "from <ip> to 999.1.1.1");
        assert_eq!(n("peer fe80::1 gone"), "peer <ip> gone");
        assert_eq!(
            n("commit 3f786850e387550fdab836ed7e6dc881de23001b"),
            "commit <sha>"
        );
        assert_eq!(n("on 2024-01-31T12:00:00Z"), "on <date>");
        assert_eq!(n("on 2024-01-31 12:00"), "on <date>");
        // The `<time>` row is shadowed: the IPv6 candidate (an earlier alternative) matches
        // `12:30:45` at the same position, fails validation and keeps the text, exactly as in
        // reference_grouping.py. Kept for hash parity with the reference.
        assert_eq!(n("at 12:30:45.5 sharp"), "at 12:30:45.<int> sharp");
        assert_eq!(n("addr 0x7f3a2c10"), "addr <hex>");
        assert_eq!(n("took 250ms"), "took <duration>");
        assert_eq!(n("ratio 0.75"), "ratio <float>");
        assert_eq!(n("got 42 rows"), "got <int> rows");
        assert_eq!(n("id deadbeef12 x"), "id <hexid> x");
        // Only letters, or only digits long enough for <int>, are not hex ids.
        assert_eq!(n("word deadbeefcafe"), "word deadbeefcafe");
    }

    #[test]
    fn sentry_regex_fixes() {
        assert_eq!(
            n("called `Result::unwrap()` on an `Err` value: Os { code: 2 }"),
            "called `Result::unwrap()` on an `Err` value: Os { code: <int> }"
        );
        assert_eq!(n("timed out after 30s"), "timed out after <duration>");
        assert_eq!(n("login user=bob@x.com"), "login user=<email>");
    }

    #[test]
    fn key_value_and_lines() {
        assert_eq!(
            n("flag=true name='x y' q=\"z\""),
            "flag=<val> name=<val> q=<val>"
        );
        assert_eq!(n("a\n\n  \nb\nc"), "a\nb...");
        assert_eq!(n("a\r\nb"), "a\nb");
    }

    #[test]
    fn spec_example() {
        assert_eq!(
            n("Upstream timeout after 3012 ms for request 0b7f3c2e-1a2b-4c3d-8e9f-0123456789ab at 0x7f3a2c10"),
            "Upstream timeout after <int> ms for request <uuid> at <hex>"
        );
    }

    /// The multi-pattern search must decide exactly as one alternation of the same patterns
    /// (the form the reference uses): checked against the `regex` crate's alternation with a
    /// group per kind over every string of up to three fragments that make kinds overlap.
    #[test]
    fn multi_pattern_search_equals_the_alternation() {
        let alternation = super::KINDS
            .iter()
            .map(|(_, pattern, _)| format!("({pattern})"))
            .collect::<Vec<_>>()
            .join("|");
        let alternation = regex::Regex::new(&alternation).expect("valid");
        let by_alternation = |text: &str| {
            alternation
                .replace_all(text, |caps: &regex::Captures<'_>| {
                    let (i, m) = (1..caps.len())
                        .find_map(|i| caps.get(i).map(|m| (i - 1, m)))
                        .expect("every alternative is a group");
                    let (kind, _, placeholder) = super::KINDS[i];
                    if super::accept(kind, m.as_str()) {
                        placeholder.to_owned()
                    } else {
                        m.as_str().to_owned()
                    }
                })
                .into_owned()
        };
        let fragments = [
            "1",
            "123",
            "2024-01-31",
            "T12:00",
            ":",
            "::",
            ".",
            "0x",
            "ff",
            "deadbeef",
            "Z",
            "+01:00",
            " ",
            "ms",
            "@",
            "x.com",
            "http://",
            "é",
            "٣",
            "-",
            "fe80",
            "10.0.0.1",
            "0b7f3c2e-1a2b-4c3d-8e9f-0123456789ab",
            "3f786850e387550fdab836ed7e6dc881de23001b",
        ];
        let mut checked = 0;
        for a in fragments {
            for b in fragments {
                for c in fragments {
                    for text in [format!("{a}{b}"), format!("{a}{b}{c}")] {
                        assert_eq!(
                            super::replace_params(&text),
                            by_alternation(&text),
                            "{text:?}"
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 2 * fragments.len().pow(3));
    }

    #[test]
    fn hostnames_are_kept() {
        assert_eq!(
            n("connect db.internal failed"),
            "connect db.internal failed"
        );
    }
}
