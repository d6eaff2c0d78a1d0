//! Scalar top-level fields (sentry-protocol.md 5.1): legacy interface aliases, event id,
//! level, platform, the short identifying strings (release, environment, …), the fingerprint,
//! and type checks of the object-valued interfaces.

use serde_json::{Map, Value};

use super::notes::Notes;
use crate::protocol::{EventId, Level};

/// Legacy interface names and their canonical keys (5.1).
pub const ALIASES: &[(&str, &str)] = &[
    ("sentry.interfaces.Message", "logentry"),
    ("sentry.interfaces.Exception", "exception"),
    ("sentry.interfaces.Stacktrace", "stacktrace"),
    ("sentry.interfaces.Http", "request"),
    ("sentry.interfaces.User", "user"),
    ("sentry.interfaces.Breadcrumbs", "breadcrumbs"),
    ("sentry.interfaces.Contexts", "contexts"),
];

/// Moves legacy `sentry.interfaces.*` keys to their canonical names. When both exist the
/// canonical key wins and the alias is left untouched (nothing is lost).
pub fn map_aliases(event: &mut Map<String, Value>) {
    for &(alias, canonical) in ALIASES {
        if event.get(canonical).is_some_and(|v| !v.is_null()) {
            continue;
        }
        if let Some(v) = event.remove(alias) {
            event.insert(canonical.to_owned(), v);
        }
    }
}

/// The event id: the envelope header's, else the payload's, else a fresh one; written back as
/// 32 lowercase hex.
pub fn event_id(
    event: &mut Map<String, Value>,
    envelope: Option<EventId>,
    notes: &mut Notes,
) -> EventId {
    let from_payload = match event.get("event_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match s.parse::<EventId>() {
            Ok(id) => Some(id),
            Err(_) => {
                notes.invalid("event_id", &Value::String(s.clone()));
                None
            }
        },
        Some(other) => {
            notes.invalid("event_id", other);
            None
        }
    };
    let id = envelope
        .or(from_payload)
        .unwrap_or_else(EventId::new_random);
    event.insert("event_id".to_owned(), Value::String(id.simple()));
    id
}

/// The level (names, aliases, Python logging integers), default `error`; written back as its
/// name.
pub fn level(event: &mut Map<String, Value>, notes: &mut Notes) -> Level {
    let level = match event.get("level") {
        None | Some(Value::Null) => Level::Error,
        Some(v) => Level::from_json(v).unwrap_or_else(|| {
            notes.invalid("level", v);
            Level::Error
        }),
    };
    event.insert("level".to_owned(), Value::String(level.as_str().to_owned()));
    level
}

/// The platform, default `other`; written back.
pub fn platform(event: &mut Map<String, Value>, notes: &mut Notes) -> String {
    let platform = match event.get("platform") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        None | Some(Value::Null) | Some(Value::String(_)) => "other".to_owned(),
        Some(other) => {
            notes.invalid("platform", other);
            "other".to_owned()
        }
    };
    event.insert("platform".to_owned(), Value::String(platform.clone()));
    platform
}

/// Short identifying strings with their caps in characters (5.1; Relay's limits).
pub const STRING_FIELDS: &[(&str, usize)] = &[
    ("release", 200),
    ("environment", 64),
    ("dist", 64),
    ("server_name", 200),
    ("logger", 64),
    ("transaction", 200),
];

/// Normalizes one lenient string field: trimmed, numbers and booleans stringified
/// (`True`/`False`, as Relay's lenient strings), newlines cut (only the first line is kept),
/// capped at `max_chars`; empty → removed; other types → removed and noted. Returns the value.
pub fn lenient_string(
    event: &mut Map<String, Value>,
    key: &str,
    max_chars: usize,
    notes: &mut Notes,
) -> Option<String> {
    let text = match event.get(key)? {
        Value::String(s) => {
            let first_line = s.trim().lines().next().unwrap_or("").trim_end();
            if first_line.len() == s.len() {
                None // already clean: keep the stored string, avoid a copy
            } else {
                Some(first_line.to_owned())
            }
        }
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "True" } else { "False" }.to_owned()),
        Value::Null => {
            event.remove(key);
            return None;
        }
        other => {
            notes.invalid(key, other);
            event.remove(key);
            return None;
        }
    };
    if let Some(text) = text {
        event.insert(key.to_owned(), Value::String(text));
    }
    let Some(Value::String(s)) = event.get_mut(key) else {
        return None;
    };
    if s.is_empty() {
        event.remove(key);
        return None;
    }
    if let Some((cut, _)) = s.char_indices().nth(max_chars) {
        notes.too_long(key, s.len());
        s.truncate(cut);
    }
    Some(s.clone())
}

/// Keeps a fingerprint only when it is a list of strings, numbers and booleans (stringified
/// the way grouping reads them); anything else is dropped and noted (7.4.6).
pub fn fingerprint(event: &mut Map<String, Value>, notes: &mut Notes) {
    let Some(fp) = event.get_mut("fingerprint") else {
        return;
    };
    let valid = match fp {
        Value::Null => {
            event.remove("fingerprint");
            return;
        }
        Value::Array(list) => list
            .iter()
            .all(|v| matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_))),
        _ => false,
    };
    if !valid {
        if let Some(fp) = event.remove("fingerprint") {
            notes.invalid("fingerprint", &fp);
        }
        return;
    }
    if let Value::Array(list) = fp {
        for v in list.iter_mut() {
            match v {
                Value::Number(n) => *v = Value::String(n.to_string()),
                Value::Bool(b) => *v = Value::String(if *b { "True" } else { "False" }.to_owned()),
                _ => {}
            }
        }
    }
}

/// Object-valued fields: anything else is dropped and noted.
pub const OBJECT_FIELDS: &[&str] = &[
    "contexts",
    "extra",
    "request",
    "sdk",
    "modules",
    "debug_meta",
    "_meta",
    "transaction_info",
];

/// Drops wrongly typed object fields, and `contexts` entries that are not objects.
pub fn check_objects(event: &mut Map<String, Value>, notes: &mut Notes) {
    for &key in OBJECT_FIELDS {
        if event
            .get(key)
            .is_some_and(|v| !v.is_object() && !v.is_null())
        {
            if let Some(v) = event.remove(key) {
                notes.invalid(key, &v);
            }
        }
    }
    if let Some(Value::Object(contexts)) = event.get_mut("contexts") {
        let bad: Vec<String> = contexts
            .iter()
            .filter(|(_, v)| !v.is_object())
            .map(|(k, _)| k.clone())
            .collect();
        for k in bad {
            if let Some(v) = contexts.remove(&k) {
                if !v.is_null() {
                    notes.invalid(&format!("contexts.{k}"), &v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn lenient_strings() {
        let mut notes = Notes::default();
        let mut ev = obj(json!({
            "release": "  app@1.0 ", "dist": 42, "environment": true,
            "server_name": ["x"], "logger": "a\nb", "transaction": "t".repeat(300)
        }));
        for &(k, max) in STRING_FIELDS {
            lenient_string(&mut ev, k, max, &mut notes);
        }
        assert_eq!(ev["release"], "app@1.0");
        assert_eq!(ev["dist"], "42");
        assert_eq!(ev["environment"], "True");
        assert!(!ev.contains_key("server_name"));
        assert_eq!(ev["logger"], "a");
        assert_eq!(ev["transaction"].as_str().map(str::len), Some(200));
        assert_eq!(notes.entries().len(), 2);
    }

    #[test]
    fn level_aliases_and_ints() {
        let mut notes = Notes::default();
        for (input, want) in [
            (json!("warn"), "warning"),
            (json!("CRITICAL"), "fatal"),
            (json!(40), "error"),
            (json!(20), "info"),
            (json!(null), "error"),
            (json!("bogus"), "error"),
        ] {
            let mut ev = obj(json!({ "level": input }));
            assert_eq!(level(&mut ev, &mut notes).as_str(), want);
            assert_eq!(ev["level"], want);
        }
        assert_eq!(notes.entries().len(), 1);
    }

    #[test]
    fn fingerprint_forms() {
        let mut notes = Notes::default();
        let mut ev = obj(json!({"fingerprint": ["{{ default }}", 7, false]}));
        fingerprint(&mut ev, &mut notes);
        assert_eq!(ev["fingerprint"], json!(["{{ default }}", "7", "False"]));
        let mut ev = obj(json!({"fingerprint": ["a", null]}));
        fingerprint(&mut ev, &mut notes);
        assert!(!ev.contains_key("fingerprint"));
        assert_eq!(notes.entries().len(), 1);
    }

    #[test]
    fn aliases() {
        let mut ev = obj(json!({
            "sentry.interfaces.Exception": {"values": []},
            "sentry.interfaces.User": {"id": 1},
            "user": {"id": 2},
        }));
        map_aliases(&mut ev);
        assert!(ev.contains_key("exception"));
        assert_eq!(ev["user"]["id"], 2);
        assert!(ev.contains_key("sentry.interfaces.User"));
    }
}
