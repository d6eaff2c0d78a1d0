//! Message / exception-value normalization (sentry-protocol.md 7.4.5).
//!
//! Variable parts of a message (numbers, ids, addresses, dates, …) are replaced by placeholders
//! so that `timeout after 3012 ms` and `timeout after 45 ms` group together. One regex
//! alternation is applied leftmost-first (the `regex` crate's semantics, which is also what the
//! backtracking reference in `reference_grouping.py` does); candidates that need a semantic
//! check (IP octets, IPv6 syntax, hex ids) are validated in the `replace_all` closure, which
//! hands back the original text when the check fails.

use std::borrow::Cow;
use std::net::Ipv6Addr;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// The placeholder alternation. Group order is match priority at a given position.
static PARAM_RE: LazyLock<Regex> = LazyLock::new(|| {
    let pattern = concat!(
        r"(?P<email>[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)",
        r#"|(?P<url>\b(?:https?|wss?|ftp|file)://[^\s"'<>]+)"#,
        r"|(?P<uuid>\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b)",
        r"|(?P<ipv4>\b(?:\d{1,3}\.){3}\d{1,3}\b)",
        r"|(?P<ipv6>\b[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7}\b)",
        r"|(?P<sha>\b[0-9a-fA-F]{32,64}\b)",
        r"|(?P<date>\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?)",
        r"|(?P<time>\b\d{1,2}:\d{2}:\d{2}(?:\.\d+)?\b)",
        r"|(?P<hex>\b0[xX][0-9a-fA-F]+\b)",
        r"|(?P<duration>\b\d+(?:\.\d+)?(?:ns|us|ms|s|m|h)\b)",
        r"|(?P<float>\b\d+\.\d+\b)",
        r"|(?P<int>\b\d+\b)",
        r"|(?P<hexid>\b[0-9a-fA-F]{8,}\b)",
    );
    Regex::new(pattern).expect("the placeholder pattern is a valid literal regex")
});

/// `key=<quoted or boolean>` values; the key survives, the value becomes `<val>`.
static KV_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"=(?:'[^']*'|"[^"]*"|true\b|false\b|True\b|False\b)"#)
        .expect("the key=value pattern is a valid literal regex")
});

/// Group names of [`PARAM_RE`] with their placeholder text, in pattern order.
const KINDS: &[(&str, &str)] = &[
    ("email", "<email>"),
    ("url", "<url>"),
    ("uuid", "<uuid>"),
    ("ipv4", "<ip>"),
    ("ipv6", "<ip>"),
    ("sha", "<sha>"),
    ("date", "<date>"),
    ("time", "<time>"),
    ("hex", "<hex>"),
    ("duration", "<duration>"),
    ("float", "<float>"),
    ("int", "<int>"),
    ("hexid", "<hexid>"),
];

/// Normalizes a message or exception value for grouping (7.4.5): first two non-empty lines
/// (`...` appended when more existed), `=<val>` for quoted/boolean values after `=`, then the
/// placeholder alternation.
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
    PARAM_RE.replace_all(&out, replace_param).into_owned()
}

/// The `replace_all` closure: the placeholder of the matched kind, or the original text when
/// the candidate fails its semantic check.
fn replace_param(caps: &Captures<'_>) -> String {
    for &(name, placeholder) in KINDS {
        if let Some(m) = caps.name(name) {
            let text = m.as_str();
            return if accept(name, text) {
                placeholder.to_owned()
            } else {
                text.to_owned()
            };
        }
    }
    // Unreachable in practice (every alternative is a named group); keep the text.
    caps.get(0)
        .map_or_else(String::new, |m| m.as_str().to_owned())
}

/// Semantic checks the regex cannot express without look-around.
fn accept(kind: &str, text: &str) -> bool {
    match kind {
        "ipv4" => text
            .split('.')
            .all(|octet| octet.parse::<u32>().is_ok_and(|n| n <= 255)),
        // `::` alone parses as an address but is a Rust path separator (`Result::unwrap`);
        // requiring a digit also rejects paths like `add::be`.
        "ipv6" => text.parse::<Ipv6Addr>().is_ok() && text.chars().any(|c| c.is_ascii_digit()),
        "sha" => matches!(text.len(), 32 | 40 | 64) && text.chars().any(|c| c.is_ascii_digit()),
        "hexid" => {
            text.chars().any(|c| c.is_ascii_digit()) && text.chars().any(|c| c.is_alphabetic())
        }
        _ => true,
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

    #[test]
    fn hostnames_are_kept() {
        assert_eq!(
            n("connect db.internal failed"),
            "connect db.internal failed"
        );
    }
}
