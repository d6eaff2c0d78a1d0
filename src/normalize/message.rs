//! Message forms (sentry-protocol.md 5.2): everything ends up in `logentry {message, formatted,
//! params}`.
//!
//! * top-level `message` string → `logentry.formatted` (or kept when `logentry.formatted`
//!   already exists — the object form wins);
//! * top-level `message` object → `logentry` (when there is none);
//! * `formatted` missing but `message` + `params` present → rendered from `%s`/`%d`/`{}`
//!   (and `%(name)s` with object params) for display;
//! * `message` and `formatted` capped at 8192 characters.

use serde_json::{Map, Value};

use super::notes::Notes;
use crate::event::lenient::py_str_owned;

/// Cap for `logentry.message` and `logentry.formatted`, in characters.
pub const MAX_MESSAGE_CHARS: usize = 8192;

/// Normalizes `message` / `logentry` in place.
pub fn normalize(event: &mut Map<String, Value>, notes: &mut Notes) {
    match event.remove("message") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => {}
        Some(Value::String(s)) => attach_formatted(event, Value::String(s)),
        Some(Value::Number(n)) => attach_formatted(event, Value::String(n.to_string())),
        Some(Value::Object(o)) => {
            if event.get("logentry").is_some_and(|v| !v.is_null()) {
                // Both forms: the existing logentry wins; keep the other object untouched.
                event.insert("message".to_owned(), Value::Object(o));
            } else {
                event.insert("logentry".to_owned(), Value::Object(o));
            }
        }
        Some(other) => notes.invalid("message", &other),
    }
    normalize_logentry(event, notes);
}

/// Puts a message string into `logentry.formatted`, unless a formatted text already exists
/// (then the string stays where it was).
fn attach_formatted(event: &mut Map<String, Value>, text: Value) {
    match event.get_mut("logentry") {
        Some(Value::Object(le)) => {
            if le.get("formatted").is_none_or(Value::is_null) {
                le.insert("formatted".to_owned(), text);
            } else {
                event.insert("message".to_owned(), text);
            }
        }
        Some(Value::Null) | None => {
            let mut le = Map::new();
            le.insert("formatted".to_owned(), text);
            event.insert("logentry".to_owned(), Value::Object(le));
        }
        // A wrongly typed logentry is dealt with in `normalize_logentry`; the string survives.
        Some(_) => {
            event.insert("message".to_owned(), text);
        }
    }
}

fn normalize_logentry(event: &mut Map<String, Value>, notes: &mut Notes) {
    let le = match event.get_mut("logentry") {
        None => return,
        Some(Value::Null) => {
            event.remove("logentry");
            return;
        }
        Some(Value::String(s)) => {
            let s = std::mem::take(s);
            let mut le = Map::new();
            le.insert("formatted".to_owned(), Value::String(s));
            event.insert("logentry".to_owned(), Value::Object(le));
            return normalize_logentry(event, notes);
        }
        Some(Value::Object(le)) => le,
        Some(_) => {
            if let Some(v) = event.remove("logentry") {
                notes.invalid("logentry", &v);
            }
            return;
        }
    };
    for key in ["message", "formatted"] {
        match le.get_mut(key) {
            None => {}
            Some(Value::Null) => {
                le.remove(key);
            }
            Some(Value::String(s)) => {
                if let Some((cut, _)) = s.char_indices().nth(MAX_MESSAGE_CHARS) {
                    notes.too_long(&format!("logentry.{key}"), s.len());
                    s.truncate(cut);
                    s.push('…');
                }
                if s.is_empty() {
                    le.remove(key);
                }
            }
            Some(v @ (Value::Number(_) | Value::Bool(_))) => *v = Value::String(py_str_owned(v)),
            Some(_) => {
                if let Some(v) = le.remove(key) {
                    notes.invalid(&format!("logentry.{key}"), &v);
                }
            }
        }
    }
    if le
        .get("params")
        .is_some_and(|p| !p.is_array() && !p.is_object() && !p.is_null())
    {
        if let Some(p) = le.remove("params") {
            notes.invalid("logentry.params", &p);
        }
    }
    if !le.contains_key("formatted") {
        if let (Some(Value::String(template)), Some(params)) = (le.get("message"), le.get("params"))
        {
            if let Some(rendered) = render(template, params) {
                le.insert("formatted".to_owned(), Value::String(rendered));
            }
        }
    }
    if le.is_empty() {
        event.remove("logentry");
    }
}

/// Renders `%s`, `%d`, `%i`, `%f`, `%r` and `{}` from a params list, `%(name)s` from a params
/// object, `%%` → `%`. `None` when the template has no placeholder. Missing params leave the
/// placeholder in place. The result is capped like the inputs.
pub fn render(template: &str, params: &Value) -> Option<String> {
    if !template.contains('%') && !template.contains("{}") {
        return None;
    }
    let list = params.as_array().map(Vec::as_slice).unwrap_or(&[]);
    let named = params.as_object();
    let mut next = list.iter();
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    let mut replaced = false;
    while let Some(pos) = rest.find(['%', '{']) {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(after) = tail.strip_prefix("%%") {
            out.push('%');
            rest = after;
        } else if let Some(after) = tail.strip_prefix("{}") {
            match next.next() {
                Some(p) => {
                    out.push_str(&py_str_owned(p));
                    replaced = true;
                }
                None => out.push_str("{}"),
            }
            rest = after;
        } else if let (Some(after), Some(map)) = (tail.strip_prefix("%("), named) {
            // `%(name)s`: the conversion letter after `)` is consumed.
            match after.find(')') {
                Some(close) if after.len() > close + 1 => {
                    let name = &after[..close];
                    let conv_len = after[close + 1..].chars().next().map_or(0, char::len_utf8);
                    match map.get(name) {
                        Some(p) => {
                            out.push_str(&py_str_owned(p));
                            replaced = true;
                        }
                        None => out.push_str(&tail[..2 + close + 1 + conv_len]),
                    }
                    rest = &after[close + 1 + conv_len..];
                }
                _ => {
                    out.push_str("%(");
                    rest = after;
                }
            }
        } else if tail.starts_with('%')
            && tail.as_bytes().get(1).is_some_and(|b| b"sdifr".contains(b))
        {
            match next.next() {
                Some(p) => {
                    out.push_str(&py_str_owned(p));
                    replaced = true;
                }
                None => out.push_str(&tail[..2]),
            }
            rest = &tail[2..];
        } else {
            let c = tail.chars().next().map_or(1, char::len_utf8);
            out.push_str(&tail[..c]);
            rest = &tail[c..];
        }
    }
    out.push_str(rest);
    if let Some((cut, _)) = out.char_indices().nth(MAX_MESSAGE_CHARS) {
        out.truncate(cut);
        out.push('…');
    }
    replaced.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(v: Value) -> (Value, usize) {
        let mut notes = Notes::default();
        let mut ev = match v {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        normalize(&mut ev, &mut notes);
        (Value::Object(ev), notes.entries().len())
    }

    #[test]
    fn string_message_becomes_formatted() {
        let (ev, _) = run(json!({"message": "hello"}));
        assert_eq!(ev, json!({"logentry": {"formatted": "hello"}}));
    }

    #[test]
    fn object_message_becomes_logentry_and_object_wins() {
        let (ev, _) = run(json!({"message": {"message": "a %s", "params": ["x"]}}));
        assert_eq!(
            ev,
            json!({"logentry": {"message": "a %s", "params": ["x"], "formatted": "a x"}})
        );
        let (ev, _) = run(json!({"message": "text", "logentry": {"message": "t %s"}}));
        assert_eq!(ev["logentry"]["formatted"], "text");
        let (ev, _) = run(json!({"message": "text", "logentry": {"formatted": "f"}}));
        assert_eq!(ev["logentry"]["formatted"], "f");
        assert_eq!(ev["message"], "text");
        let (ev, _) = run(json!({"message": false}));
        assert_eq!(ev, json!({}));
    }

    #[test]
    fn rendering() {
        let p = json!(["alice", 5, true, null, 1.5]);
        assert_eq!(
            render("User %s exceeded quota %d (%r/%s/%f) 100%%", &p).as_deref(),
            Some("User alice exceeded quota 5 (True/None/1.5) 100%")
        );
        assert_eq!(
            render("a {} b {} c {}", &json!([1, 2])).as_deref(),
            Some("a 1 b 2 c {}")
        );
        assert_eq!(
            render(
                "%(user)s hit %(n)d, %(zz)s",
                &json!({"user": "bob", "n": 3})
            )
            .as_deref(),
            Some("bob hit 3, %(zz)s")
        );
        assert_eq!(render("no placeholders", &json!(["x"])), None);
        assert_eq!(render("trailing %", &json!(["x"])), None);
        assert_eq!(
            render("ünïcödé %s", &json!(["✓"])).as_deref(),
            Some("ünïcödé ✓")
        );
    }

    #[test]
    fn formatted_is_kept_and_capped() {
        let (ev, _) =
            run(json!({"logentry": {"message": "m %s", "formatted": "m x", "params": ["y"]}}));
        assert_eq!(ev["logentry"]["formatted"], "m x");
        let long = "x".repeat(MAX_MESSAGE_CHARS + 10);
        let (ev, n) = run(json!({"logentry": {"formatted": long}}));
        assert_eq!(
            ev["logentry"]["formatted"]
                .as_str()
                .map(|s| s.chars().count()),
            Some(MAX_MESSAGE_CHARS + 1)
        );
        assert_eq!(n, 1);
    }

    #[test]
    fn garbage_is_noted() {
        let (ev, n) = run(json!({"logentry": {"message": ["x"], "params": "nope"}, "other": 1}));
        assert_eq!(ev, json!({"other": 1}));
        assert_eq!(n, 2);
        let (ev, n) = run(json!({"logentry": 5}));
        assert_eq!(ev, json!({}));
        assert_eq!(n, 1);
        let (ev, _) = run(json!({"logentry": "plain"}));
        assert_eq!(ev, json!({"logentry": {"formatted": "plain"}}));
    }
}
