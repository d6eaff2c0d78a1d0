//! Frames' source context and locals (`pre_context`, `post_context`, `vars`, sentry-protocol.md
//! 5.4) kept as the SDK's JSON text (issue #23: a hot path without a whole tree).
//!
//! They are about a quarter of a typical error event's bytes, and no stage of the hot path
//! reads them: grouping reads `context_line`, the issue page and notifications read stored
//! events. Parsing them into a tree cost a dozen allocations per frame, and dropping and
//! serializing the tree again as much. So while `exception`, `threads` and `stacktrace` are
//! parsed ([`Seed`]), these members of every frame at a stack-trace position are copied into
//! one buffer ([`FrameText`]) instead, once they pass the checks `members` makes of the members
//! it passes through (no string over the trimming limit, nothing a tree would refuse); the
//! frame keeps a [`MARKER`] member naming its text, and [`write_value`] writes the text back in
//! key order. A member that fails a check goes into the tree as before. A later stage that
//! writes one of these members into a frame (source-map resolution) overrides the kept text;
//! one that copies a frame (resolution keeps the original as `raw_stacktrace`) copies its marker
//! and so its text.

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};
use std::fmt;
use std::ops::Range;

use super::members;
use super::trim::MAX_STRING_BYTES;

/// The member a frame with kept text carries: the frame's number in [`FrameText`]. An SDK
/// cannot send it unnoticed: a frame that has it makes the split fail (the whole-tree path
/// then keeps it as an ordinary member, with no text kept).
pub const MARKER: &str = "\u{0}errata_frame_text";

/// The frame members kept as text, in key order (as a `serde_json::Map` iterates).
const KEYS: [&str; 3] = ["post_context", "pre_context", "vars"];

/// An entry whose key was taken back into the tree.
const GONE: usize = usize::MAX;

/// The kept text of every frame of one event: one buffer, and per kept member its frame, key
/// and range in the buffer (a frame's entries are contiguous and frames in ascending order).
#[derive(Debug, Clone, Default)]
pub struct FrameText {
    text: String,
    entries: Vec<Entry>,
    frames: usize,
}

#[derive(Debug, Clone)]
struct Entry {
    frame: usize,
    /// Index into [`KEYS`], or [`GONE`].
    key: usize,
    range: Range<usize>,
}

impl FrameText {
    /// Whether no text was kept (the tree then serializes as it is).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keeps `raw` as `KEYS[key]` of `frame` if it passes the checks; false when it must go
    /// into the tree. `level` is the value's nesting level in the event (the event is 1).
    fn keep(&mut self, frame: usize, key: usize, raw: &RawValue, level: usize) -> bool {
        let text = raw.get();
        if text.len() > MAX_STRING_BYTES || !members::tree_would_accept(text, level) {
            return false;
        }
        let start = self.text.len();
        self.text.push_str(text);
        self.entries.push(Entry {
            frame,
            key,
            range: start..self.text.len(),
        });
        true
    }

    /// Drops what `frame` (the one being parsed, so its entries are the last) kept as
    /// `KEYS[key]`: a repeated member went into the tree.
    fn forget(&mut self, frame: usize, key: usize) {
        for e in self.entries.iter_mut().rev() {
            if e.frame != frame {
                break;
            }
            if e.key == key {
                e.key = GONE;
            }
        }
    }

    /// The text kept for `frame`, per key of [`KEYS`] (the last of a repeated member).
    fn of(&self, frame: usize) -> [Option<&str>; 3] {
        let at = self.entries.partition_point(|e| e.frame < frame);
        let mut kept = [None; 3];
        for e in self.entries[at..].iter().take_while(|e| e.frame == frame) {
            if let Some(slot) = kept.get_mut(e.key) {
                *slot = self.text.get(e.range.clone());
            }
        }
        kept
    }

    /// Whether `frame` (the one being parsed) kept any text.
    fn has(&self, frame: usize) -> bool {
        self.entries
            .iter()
            .rev()
            .take_while(|e| e.frame == frame)
            .any(|e| e.key != GONE)
    }
}

/// Where a value sits on the way from an event member to its frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// The `exception` or `threads` member: a list, `{"values": list}` or a single entry.
    Interface,
    /// A list of exceptions or threads.
    Entries,
    /// One exception or thread: its `stacktrace` and `raw_stacktrace`.
    Entry,
    /// A stack trace: its `frames`.
    Stacktrace,
    /// A list of frames.
    Frames,
    /// One frame.
    Frame,
}

impl At {
    /// The position of `key`'s value in an object at this position.
    fn member(self, key: &str) -> Option<At> {
        match (self, key) {
            (At::Interface, "values") => Some(At::Entries),
            (At::Interface | At::Entry, "stacktrace" | "raw_stacktrace") => Some(At::Stacktrace),
            (At::Stacktrace, "frames") => Some(At::Frames),
            _ => None,
        }
    }

    /// The position of the elements of a list at this position.
    fn element(self) -> Option<At> {
        match self {
            At::Interface | At::Entries => Some(At::Entry),
            At::Frames => Some(At::Frame),
            _ => None,
        }
    }
}

/// Parses a value at `at` (`None`: anywhere else, a plain tree) and nesting `level` into a
/// tree, frames' text going into `text`. The tree is what `Value`'s own parse makes, but for
/// the kept members and their [`MARKER`]s.
pub struct Seed<'t> {
    /// Where the value sits; `None` below any stack-trace position.
    pub at: Option<At>,
    /// The value's nesting level in the stored event (the event object is 1, its members 2):
    /// below an interface not in its `{"values": list}` form, the level it has once
    /// normalization wrapped it.
    pub level: usize,
    /// Where frames' kept text goes.
    pub text: &'t mut FrameText,
}

impl Seed<'_> {
    fn child(&mut self, at: Option<At>) -> Seed<'_> {
        Seed {
            at,
            level: self.level + 1,
            text: self.text,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        match self.at {
            None => Value::deserialize(d),
            Some(_) => d.deserialize_any(self),
        }
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // As `Value`'s own visitor does.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Value, A::Error> {
        if self.at == Some(At::Interface) {
            // A bare list is stored as `{"values": list}`, one level deeper.
            self.level += 1;
        }
        let element = self.at.and_then(At::element);
        let mut list = Vec::new();
        while let Some(v) = seq.next_element_seed(self.child(element))? {
            list.push(v);
        }
        Ok(Value::Array(list))
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut access: A) -> Result<Value, A::Error> {
        if self.at == Some(At::Interface) {
            // A single entry is stored as `{"values": [entry]}`, two levels deeper; whether
            // this object is that or the `{"values": list}` form shows only once it is read,
            // so what lies below is checked as if two levels deeper either way.
            self.level += 2;
        }
        let mut map = Map::new();
        if self.at == Some(At::Frame) {
            let frame = self.text.frames;
            self.text.frames += 1;
            while let Some(key) = access.next_key::<String>()? {
                if key == MARKER {
                    return Err(de::Error::custom(
                        "a frame member named like Errata's marker",
                    ));
                }
                let Some(k) = KEYS.iter().position(|&name| name == key) else {
                    let v = access.next_value_seed(self.child(None))?;
                    map.insert(key, v);
                    continue;
                };
                let raw: &'de RawValue = access.next_value()?;
                if self.text.keep(frame, k, raw, self.level + 1) {
                    map.remove(&key);
                } else {
                    self.text.forget(frame, k);
                    let v =
                        members::parse_nested(raw, self.level + 1).map_err(de::Error::custom)?;
                    map.insert(key, v);
                }
            }
            if self.text.has(frame) {
                map.insert(MARKER.to_owned(), Value::from(frame));
            }
            return Ok(Value::Object(map));
        }
        while let Some(key) = access.next_key::<String>()? {
            let at = self.at.and_then(|at| at.member(&key));
            let v = access.next_value_seed(self.child(at))?;
            map.insert(key, v);
        }
        Ok(Value::Object(map))
    }
}

/// Appends `value` as JSON to `out`, each frame's kept text (from `text`) spliced back where
/// its [`MARKER`] is, in key order, unless the frame has a member of that name itself.
pub fn write_value(value: &Value, text: &FrameText, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let kept = match map.get(MARKER).and_then(Value::as_u64) {
                Some(frame) => text.of(frame as usize),
                None => [None; 3],
            };
            let kept = KEYS
                .iter()
                .zip(kept)
                .filter_map(|(&k, t)| Some((k, t?)))
                .filter(|(k, _)| !map.contains_key(*k));
            members::write_object(
                map.iter()
                    .filter(|(k, _)| *k != MARKER)
                    .map(|(k, v)| (k.as_str(), v)),
                kept,
                |v, out| write_value(v, text, out),
                out,
            );
        }
        Value::Array(list) => {
            out.push(b'[');
            for (i, v) in list.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(v, text, out);
            }
            out.push(b']');
        }
        // Serializing a scalar into a `Vec` cannot fail.
        other => {
            let _ = serde_json::to_writer(&mut *out, other);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses member text at `at` (level 2, as an event member) and writes it back.
    fn round_trip(at: At, json: &str) -> (Value, FrameText, Value) {
        let mut text = FrameText::default();
        let mut de = serde_json::Deserializer::from_str(json);
        let tree = Seed {
            at: Some(at),
            level: 2,
            text: &mut text,
        }
        .deserialize(&mut de)
        .expect("parses");
        let mut out = Vec::new();
        write_value(&tree, &text, &mut out);
        let written = serde_json::from_slice(&out).expect("valid JSON");
        (tree, text, written)
    }

    #[test]
    fn frames_context_and_locals_are_kept_as_text_and_written_back() {
        let json = r#"{"values":[{"type":"E","stacktrace":{"frames":[
            {"function":"f","pre_context":["a", "b"],"context_line":"c","post_context":[],"vars":{"x":{"y":[1,2.5,null]}}},
            {"function":"g"},
            {"vars":{"s":"\u00e9\ud83d\ude00"},"lineno":3}
        ]}}]}"#;
        let (tree, text, written) = round_trip(At::Interface, json);
        let frames = &tree["values"][0]["stacktrace"]["frames"];
        assert_eq!(frames[0].get("pre_context"), None, "kept as text");
        assert_eq!(
            frames[0]["context_line"], "c",
            "read by grouping: in the tree"
        );
        assert_eq!(frames[0][MARKER], 0);
        assert_eq!(frames[1].get(MARKER), None, "nothing kept");
        assert_eq!(frames[2][MARKER], 2);
        assert_eq!(text.entries.len(), 4);
        assert_eq!(written, serde_json::from_str::<Value>(json).expect("json"));
    }

    #[test]
    fn what_the_checks_refuse_goes_into_the_tree_and_the_last_repeat_wins() {
        let long = "x".repeat(MAX_STRING_BYTES);
        let json = format!(
            r#"[{{"frames":[]}},{{"stacktrace":{{"frames":[{{"vars":{{"a":"{long}"}},"pre_context":["p"],"pre_context":{{"n":1}},"post_context":7,"post_context":["q"]}}]}}}}]"#
        );
        let (tree, _, written) = round_trip(At::Interface, &json);
        let frame = &tree[1]["stacktrace"]["frames"][0];
        assert!(
            frame["vars"]["a"].is_string(),
            "too long: in the tree for trimming"
        );
        assert_eq!(frame.get("pre_context"), None);
        assert_eq!(written, serde_json::from_str::<Value>(&json).expect("json"));
        let json = format!(r#"{{"frames":[{{"vars":{{"a":1}},"vars":["{long}"]}}]}}"#);
        let (tree, _, written) = round_trip(At::Stacktrace, &json);
        assert_eq!(
            tree["frames"][0].get(MARKER),
            None,
            "the kept repeat was taken back"
        );
        assert_eq!(written, serde_json::from_str::<Value>(&json).expect("json"));
    }

    #[test]
    fn a_member_the_frame_has_itself_wins_and_the_marker_is_refused() {
        let (mut tree, text, _) = round_trip(
            At::Stacktrace,
            r#"{"frames":[{"pre_context":["old"],"vars":{"v":1}}]}"#,
        );
        tree["frames"][0]["pre_context"] = serde_json::json!(["new"]);
        let mut out = Vec::new();
        write_value(&tree, &text, &mut out);
        let written: Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(
            written,
            serde_json::json!({"frames": [{"pre_context": ["new"], "vars": {"v": 1}}]})
        );
        let json = format!(r#"{{"frames":[{{"{}":1}}]}}"#, "\\u0000errata_frame_text");
        let mut text = FrameText::default();
        let mut de = serde_json::Deserializer::from_str(&json);
        let seed = Seed {
            at: Some(At::Stacktrace),
            level: 2,
            text: &mut text,
        };
        assert!(seed.deserialize(&mut de).is_err());
    }
}
