//! Tags (sentry-protocol.md 5.1): an object or a list of `[key, value]` pairs in, a list of
//! normalized string pairs out (stored back into the event in the pair-list form).
//!
//! Keys: trimmed, spaces → `-`, at most 200 characters of `[A-Za-z0-9_.:-]`. Values: trimmed,
//! at most 200 characters, no newlines; booleans → `True`/`False`, numbers stringified, `null`
//! dropped. Pairs that cannot be repaired are dropped and noted.
//!
//! At most [`MAX_TAGS`] pairs are kept per event; the rest are dropped and noted once as
//! `list_trimmed` with the number of pairs sent, so a hostile event cannot fill the tag
//! tables (one event with 60,000 tags made 60,001 tag rows and a 17.9 MB issue page).

use serde_json::{Map, Value};

use super::notes::Notes;
use crate::event::lenient::py_str_owned;

/// Longest tag key and value, in characters.
pub const MAX_TAG_CHARS: usize = 200;

/// Most tags kept per event. Relay bounds each key and value (200 characters) and the event
/// (1 MiB) but not their number; SDKs set a handful and applications a few dozen, so 200
/// leaves room for any real use while bounding the rows and facets one event can add.
pub const MAX_TAGS: usize = 200;

/// Normalizes `event.tags` in place and returns the pairs.
pub fn normalize(event: &mut Map<String, Value>, notes: &mut Notes) -> Vec<(String, String)> {
    let Some(raw) = event.remove("tags") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    // Past the cap the rest is only counted, not normalized.
    let mut cut = false;
    let sent = match raw {
        Value::Null => return out,
        Value::Object(map) => {
            let sent = map.len();
            for (k, v) in map {
                if out.len() == MAX_TAGS {
                    cut = true;
                    break;
                }
                push_pair(&mut out, &Value::String(k), &v, notes);
            }
            sent
        }
        Value::Array(list) => {
            let sent = list.len();
            for (i, pair) in list.into_iter().enumerate() {
                if out.len() == MAX_TAGS {
                    cut = true;
                    break;
                }
                match pair.as_array().map(Vec::as_slice) {
                    Some([k, v]) => push_pair(&mut out, k, v, notes),
                    _ if pair.is_null() => {}
                    _ => notes.invalid(&format!("tags.{i}"), &pair),
                }
            }
            sent
        }
        other => {
            notes.invalid("tags", &other);
            return out;
        }
    };
    if cut {
        notes.list_trimmed("tags", sent);
    }
    let stored = out
        .iter()
        .map(|(k, v)| Value::Array(vec![Value::String(k.clone()), Value::String(v.clone())]))
        .collect();
    event.insert("tags".to_owned(), Value::Array(stored));
    out
}

fn push_pair(out: &mut Vec<(String, String)>, key: &Value, value: &Value, notes: &mut Notes) {
    let Some(k) = key.as_str().and_then(normalize_key) else {
        notes.invalid("tags", key);
        return;
    };
    match normalize_value(value) {
        Ok(Some(v)) => out.push((k, v)),
        Ok(None) => {}
        Err(()) => notes.invalid(&format!("tags.{k}"), value),
    }
}

/// The normalized key, or `None` when it is empty or has characters outside the tag-key set.
pub fn normalize_key(key: &str) -> Option<String> {
    let key: String = key.trim().replace(' ', "-");
    let valid = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'));
    valid.then(|| truncate_chars(key, MAX_TAG_CHARS))
}

/// `Ok(None)` for `null` or an empty value (dropped silently), `Err` for a value that cannot be
/// a tag (containers, newlines).
pub fn normalize_value(value: &Value) -> Result<Option<String>, ()> {
    let text = match value {
        Value::Null => return Ok(None),
        Value::String(s) => s.trim().to_owned(),
        Value::Number(_) | Value::Bool(_) => py_str_owned(value),
        Value::Array(_) | Value::Object(_) => return Err(()),
    };
    if text.contains(['\n', '\r']) {
        return Err(());
    }
    if text.is_empty() {
        return Ok(None);
    }
    Ok(Some(truncate_chars(text, MAX_TAG_CHARS)))
}

fn truncate_chars(mut s: String, max: usize) -> String {
    if let Some((cut, _)) = s.char_indices().nth(max) {
        s.truncate(cut);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(tags: Value) -> (Vec<(String, String)>, Value, usize) {
        let mut notes = Notes::default();
        let mut ev = Map::new();
        ev.insert("tags".to_owned(), tags);
        let pairs = normalize(&mut ev, &mut notes);
        (
            pairs,
            ev.get("tags").cloned().unwrap_or(Value::Null),
            notes.entries().len(),
        )
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn object_form() {
        let (got, stored, notes) = run(json!({
            " customer tier ": " gold ", "ok": true, "n": 3, "f": 1.5, "gone": null,
            "bad\u{e9}": "x", "multi": "a\nb", "obj": {"x": 1}, "long": "v".repeat(250)
        }));
        let mut got = got;
        got.sort();
        let mut want = pairs(&[
            ("customer-tier", "gold"),
            ("ok", "True"),
            ("n", "3"),
            ("f", "1.5"),
        ]);
        want.push(("long".to_owned(), "v".repeat(200)));
        want.sort();
        assert_eq!(got, want);
        assert_eq!(notes, 3);
        assert!(stored.is_array());
    }

    #[test]
    fn pair_list_form_keeps_order_and_duplicates() {
        let (got, stored, notes) = run(json!([["a", "1"], ["a", 2], ["b"], null, ["c", false]]));
        assert_eq!(got, pairs(&[("a", "1"), ("a", "2"), ("c", "False")]));
        assert_eq!(stored, json!([["a", "1"], ["a", "2"], ["c", "False"]]));
        assert_eq!(notes, 1);
    }

    #[test]
    fn tags_beyond_the_cap_are_dropped_and_noted() {
        let many: Map<String, Value> = (0..60_000)
            .map(|i| (format!("k{i:05}"), json!("v")))
            .collect();
        let mut notes = Notes::default();
        let mut ev = Map::new();
        ev.insert("tags".to_owned(), Value::Object(many));
        let got = normalize(&mut ev, &mut notes);
        assert_eq!(got.len(), MAX_TAGS);
        assert_eq!(ev["tags"].as_array().map(Vec::len), Some(MAX_TAGS));
        assert_eq!(
            notes.entries(),
            [json!({"type": "list_trimmed", "name": "tags", "value": 60_000})]
        );
        // Exactly at the cap, and over it only by pairs that are dropped anyway: nothing noted.
        let list: Vec<Value> = (0..MAX_TAGS)
            .map(|i| json!([format!("k{i}"), "v"]))
            .collect();
        let (got, _, notes) = run(Value::Array(list.clone()));
        assert_eq!((got.len(), notes), (MAX_TAGS, 0));
        let mut with_nulls = list;
        with_nulls.insert(0, json!(["gone", null]));
        let (got, _, notes) = run(Value::Array(with_nulls));
        assert_eq!((got.len(), notes), (MAX_TAGS, 0));
    }

    #[test]
    fn garbage_tags() {
        let (got, stored, notes) = run(json!("nope"));
        assert!(got.is_empty());
        assert_eq!(stored, Value::Null);
        assert_eq!(notes, 1);
    }
}
