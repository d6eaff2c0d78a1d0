//! Lenient JSON for SDK payloads (sentry-protocol.md 3.1).
//!
//! Python's `json.dumps` writes non-finite floats as the bare tokens `NaN`, `Infinity` and
//! `-Infinity`, which are not JSON. Relay rewrites them for Python clients only; we accept them
//! from every client and map them to `null`, because a dropped float is better than a dropped
//! event.
//!
//! `JSON.stringify` of a string cut inside a surrogate pair (an emoji truncated by an SDK)
//! writes a lone surrogate escape such as `"\ud83d"`, which names no Unicode scalar value, and
//! serde_json refuses the whole document. Sentry accepts such events; we replace each lone
//! surrogate escape with `\ufffd` (U+FFFD REPLACEMENT CHARACTER, what `String::from_utf16_lossy`
//! does) and keep the event.

use serde_json::Value;

/// Parses `bytes` as JSON, accepting `NaN`, `Infinity` and `-Infinity` outside string literals
/// as `null`, and lone UTF-16 surrogate escapes (`\ud83d` without its pair) inside them as
/// U+FFFD.
///
/// Well-formed JSON takes the plain serde_json path; only when that fails is the input rewritten
/// (string literals and their escapes are respected, so `"NaN"` stays a string) and parsed again,
/// so valid payloads pay nothing for either repair.
///
/// Errors are serde_json's, with its line and column. When the rewritten input still fails, the
/// error's line is exact and so is its column, except that each `NaN` earlier on the same line
/// shifts it right by one (`NaN` becomes the one byte longer `null`; the infinities are padded
/// with spaces to keep their width). If there was nothing to rewrite the original error is
/// returned unchanged.
pub fn parse_lenient(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    match parse(bytes) {
        Ok(value) => Ok(value),
        Err(err) => match rewrite_lenient(bytes) {
            Some(rewritten) => parse(&rewritten),
            None => Err(err),
        },
    }
}

/// serde_json checks the UTF-8 of every string it reads from a byte slice; one pass over the
/// whole input is several times cheaper, and then the `str` reader skips those checks.
/// Invalid UTF-8 takes the slice reader, whose error says where.
fn parse(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
}

/// The escape every lone surrogate becomes: as long as the `\uXXXX` it replaces, so error
/// columns stay exact.
const REPLACEMENT_ESCAPE: &[u8; 6] = b"\\ufffd";

/// The code unit of a `\uXXXX` escape starting at `at` (which holds the backslash).
fn escape_unit(input: &[u8], at: usize) -> Option<u16> {
    let hex = input.get(at..at + 6)?;
    if hex[1] != b'u' {
        return None;
    }
    let text = std::str::from_utf8(&hex[2..]).ok()?;
    u16::from_str_radix(text, 16).ok()
}

/// Replaces the non-finite tokens outside string literals and lone surrogate escapes inside
/// them; `None` when there is nothing to replace.
fn rewrite_lenient(input: &[u8]) -> Option<Vec<u8>> {
    const TOKENS: [(&[u8], &[u8]); 3] = [
        (b"-Infinity", b"null     "),
        (b"Infinity", b"null    "),
        (b"NaN", b"null"),
    ];

    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut in_string = false;
    let mut i = 0;
    let mut replace = |out: &mut Option<Vec<u8>>, at: usize, len: usize, with: &[u8]| {
        let buf = out.get_or_insert_with(|| Vec::with_capacity(input.len() + 16));
        buf.extend_from_slice(&input[copied..at]);
        buf.extend_from_slice(with);
        copied = at + len;
    };
    while i < input.len() {
        let b = input[i];
        if in_string {
            match b {
                b'\\' => match escape_unit(input, i) {
                    Some(0xD800..=0xDBFF)
                        if matches!(escape_unit(input, i + 6), Some(0xDC00..=0xDFFF)) =>
                    {
                        i += 12;
                    }
                    Some(0xD800..=0xDFFF) => {
                        replace(&mut out, i, 6, REPLACEMENT_ESCAPE);
                        i += 6;
                    }
                    _ => i += 2,
                },
                b'"' => {
                    in_string = false;
                    i += 1;
                }
                _ => i += 1,
            }
            continue;
        }
        if b == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        let rest = &input[i..];
        if let Some((token, replacement)) = TOKENS.iter().find(|(t, _)| rest.starts_with(t)) {
            replace(&mut out, i, token.len(), replacement);
            i += token.len();
            continue;
        }
        i += 1;
    }
    let mut buf = out?;
    buf.extend_from_slice(&input[copied..]);
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn valid_json_is_untouched() {
        let v = parse_lenient(br#"{"a":[1,2.5,"x"],"b":null}"#).unwrap();
        assert_eq!(v, json!({"a": [1, 2.5, "x"], "b": null}));
    }

    #[test]
    fn python_non_finite_floats_become_null() {
        let v = parse_lenient(br#"{"a": NaN, "b": [Infinity, -Infinity, 1.5], "c":NaN}"#).unwrap();
        assert_eq!(v, json!({"a": null, "b": [null, null, 1.5], "c": null}));
        assert_eq!(parse_lenient(b"NaN").unwrap(), Value::Null);
        assert_eq!(parse_lenient(b"-Infinity").unwrap(), Value::Null);
    }

    #[test]
    fn tokens_inside_strings_stay_strings() {
        let v = parse_lenient(
            br#"{"s": "NaN", "t": "say \"Infinity\" -Infinity \\", "NaN": NaN, "u": "\\"}"#,
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"s": "NaN", "t": "say \"Infinity\" -Infinity \\", "NaN": null, "u": "\\"})
        );
    }

    #[test]
    fn errors_keep_line_and_column() {
        // Nothing to rewrite: the original error.
        let err = parse_lenient(b"{\n  \"a\": x\n}").unwrap_err();
        assert_eq!((err.line(), err.column()), (2, 8));

        // A real error after an Infinity on the same line: padding keeps the column exact.
        let input = b"{\"a\": Infinity, \"b\": -Infinity, \"c\": x}";
        let err = parse_lenient(input).unwrap_err();
        assert_eq!(err.line(), 1);
        assert_eq!(input[err.column() - 1], b'x');

        // On a later line the position is exact even after NaN.
        let err = parse_lenient(b"{\"a\": NaN,\n \"b\": ]}").unwrap_err();
        assert_eq!((err.line(), err.column()), (2, 7));
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        // What JSON.stringify makes of a string cut inside an emoji.
        let v = parse_lenient(br#"{"message":"emoji \ud83d"}"#).unwrap();
        assert_eq!(v, json!({"message": "emoji \u{fffd}"}));
        let v = parse_lenient(br#"{"a":"\uDE00 x \ud83d\u0041","b":[NaN],"c":"\ud83d\ude00"}"#)
            .unwrap();
        assert_eq!(
            v,
            json!({"a": "\u{fffd} x \u{fffd}A", "b": [null], "c": "😀"})
        );
        // Two high halves in a row: both are lone.
        let v = parse_lenient(br#"["\ud83d\ud83d\ude00"]"#).unwrap();
        assert_eq!(v, json!(["\u{fffd}😀"]));
        // An escaped backslash before `u` is not an escape, and keys are strings too.
        let v = parse_lenient(br#"{"\\ud83d": "\ud800", "k": "\\"}"#).unwrap();
        assert_eq!(v, json!({"\\ud83d": "\u{fffd}", "k": "\\"}));
        // A surrogate at the very end of the input, unterminated: still an error.
        assert!(parse_lenient(br#"{"a":"\ud83d"#).is_err());
    }

    #[test]
    fn other_garbage_still_fails() {
        assert!(parse_lenient(b"{\"a\": nan}").is_err());
        assert!(parse_lenient(b"{\"a\": NaNa}").is_err());
        assert!(parse_lenient(b"").is_err());
    }
}
