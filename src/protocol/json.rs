//! Lenient JSON for SDK payloads (sentry-protocol.md 3.1).
//!
//! Python's `json.dumps` writes non-finite floats as the bare tokens `NaN`, `Infinity` and
//! `-Infinity`, which are not JSON. Relay rewrites them for Python clients only; we accept them
//! from every client and map them to `null`, because a dropped float is better than a dropped
//! event.

use serde_json::Value;

/// Parses `bytes` as JSON, accepting `NaN`, `Infinity` and `-Infinity` outside string literals
/// as `null`.
///
/// Well-formed JSON takes the plain serde_json path; only when that fails is the input rewritten
/// (string literals and their escapes are respected, so `"NaN"` stays a string) and parsed again.
///
/// Errors are serde_json's, with its line and column. When the rewritten input still fails, the
/// error's line is exact and so is its column, except that each `NaN` earlier on the same line
/// shifts it right by one (`NaN` becomes the one byte longer `null`; the infinities are padded
/// with spaces to keep their width). If there was nothing to rewrite the original error is
/// returned unchanged.
pub fn parse_lenient(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    match parse(bytes) {
        Ok(value) => Ok(value),
        Err(err) => match rewrite_non_finite(bytes) {
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

/// Replaces the non-finite tokens outside string literals; `None` when there are none.
fn rewrite_non_finite(input: &[u8]) -> Option<Vec<u8>> {
    const TOKENS: [(&[u8], &[u8]); 3] = [
        (b"-Infinity", b"null     "),
        (b"Infinity", b"null    "),
        (b"NaN", b"null"),
    ];

    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut in_string = false;
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        let rest = &input[i..];
        if let Some((token, replacement)) = TOKENS.iter().find(|(t, _)| rest.starts_with(t)) {
            let buf = out.get_or_insert_with(|| Vec::with_capacity(input.len() + 16));
            buf.extend_from_slice(&input[copied..i]);
            buf.extend_from_slice(replacement);
            i += token.len();
            copied = i;
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
    fn other_garbage_still_fails() {
        assert!(parse_lenient(b"{\"a\": nan}").is_err());
        assert!(parse_lenient(b"{\"a\": NaNa}").is_err());
        assert!(parse_lenient(b"").is_err());
    }
}
