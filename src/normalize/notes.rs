//! The event's `errors` list: what normalization dropped or shortened, so nothing is lost
//! silently (Relay records the same in `_meta` and `errors`).
//!
//! Entry shape: `{"type": <kind>, "name": <dotted path>, "value": <summary>}` where `type` is
//! `invalid_data` (wrongly typed or unparsable; `value` is the offending value, strings cut to
//! 200 characters, containers summarized) or `value_too_long` / `list_trimmed` (`value` is the
//! original length in bytes or items), or `future_timestamp` / `past_timestamp` (`value` is the
//! timestamp as sent, which was replaced by the receive time; see [`Notes::clamped`]).

use serde_json::{json, Map, Value};

/// At most this many entries are recorded per event, so a hostile payload cannot inflate
/// itself through its own error list.
const MAX_NOTES: usize = 100;

/// Longest string (in characters) kept verbatim in an `invalid_data` note.
const MAX_VALUE_CHARS: usize = 200;

/// Collects `errors` entries during normalization.
#[derive(Debug, Default)]
pub struct Notes {
    list: Vec<Value>,
    dropped: usize,
}

impl Notes {
    fn push(&mut self, entry: Value) {
        if self.list.len() < MAX_NOTES {
            self.list.push(entry);
        } else {
            self.dropped += 1;
        }
    }

    /// A field was wrongly typed or unparsable and has been dropped or replaced.
    pub fn invalid(&mut self, name: &str, value: &Value) {
        self.push(json!({"type": "invalid_data", "name": name, "value": summarize(value)}));
    }

    /// A string was shortened; `original` is its length in bytes.
    pub fn too_long(&mut self, name: &str, original: usize) {
        self.push(json!({"type": "value_too_long", "name": name, "value": original}));
    }

    /// A timestamp outside its bounds was replaced by the receive time (`kind` is
    /// `future_timestamp` or `past_timestamp`, Relay's names): `value` is what the SDK sent,
    /// `sdk_time` and `server_time` the two instants in RFC 3339 (as Relay's clock errors).
    pub fn clamped(&mut self, kind: &str, name: &str, sent: &Value, sdk_us: i64, server_us: i64) {
        self.push(json!({
            "type": kind,
            "name": name,
            "value": summarize(sent),
            "sdk_time": super::timestamp::format_us(sdk_us),
            "server_time": super::timestamp::format_us(server_us),
        }));
    }

    /// A list was shortened; `original` is its length in items.
    pub fn list_trimmed(&mut self, name: &str, original: usize) {
        self.push(json!({"type": "list_trimmed", "name": name, "value": original}));
    }

    /// Appends the notes to the event's `errors` list (creating it; a non-list `errors` the SDK
    /// sent is replaced and noted).
    pub fn write_into(mut self, event: &mut Map<String, Value>) {
        if event
            .get("errors")
            .is_some_and(|e| !e.is_array() && !e.is_null())
        {
            if let Some(existing) = event.remove("errors") {
                self.invalid("errors", &existing);
            }
        }
        if self.dropped > 0 {
            let dropped = self.dropped;
            self.list
                .push(json!({"type": "too_many_errors", "name": "errors", "value": dropped}));
        }
        if self.list.is_empty() {
            return;
        }
        let slot = event
            .entry("errors")
            .or_insert_with(|| Value::Array(Vec::new()));
        if !slot.is_array() {
            *slot = Value::Array(Vec::new());
        }
        if let Value::Array(list) = slot {
            list.append(&mut self.list);
        }
    }

    /// The notes collected so far (for tests).
    #[cfg(test)]
    pub fn entries(&self) -> &[Value] {
        &self.list
    }
}

/// The offending value in a form that is small and safe to keep.
fn summarize(v: &Value) -> Value {
    match v {
        Value::String(s) if s.chars().count() > MAX_VALUE_CHARS => {
            let mut cut: String = s.chars().take(MAX_VALUE_CHARS).collect();
            cut.push('…');
            Value::String(cut)
        }
        Value::Array(a) => Value::String(format!("<array of {}>", a.len())),
        Value::Object(o) => Value::String(format!("<object with {} keys>", o.len())),
        other => other.clone(),
    }
}
