//! Frames kept as the SDK's JSON text (issue #23: a hot path without a whole tree): reading
//! them out of the event's text ([`Seed`]), writing them back ([`write_value`]) and bringing
//! them into the tree for a stage that rewrites frames ([`into_tree`]).
//!
//! A frame is a dozen small members that normalization, grouping and titles read a few of,
//! and no stage before storage changes but for the in-app verdict. As a tree it cost two
//! allocations per member, then dropping the tree and serializing it again. So while
//! `exception`, `threads` and `stacktrace` are parsed into the tree, every frame at a
//! stack-trace position whose members pass the checks `members` makes of the members it
//! passes through (no string over the trimming limit, nothing a tree would refuse) and whose
//! keys do not repeat is kept as text ([`FrameText`]); the tree holds a marker in its place,
//! which the event view and the writer resolve. A frame that fails a check goes into the tree
//! whole, as before.

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};
use std::borrow::Cow;
use std::fmt;

use super::members;
use super::trim::MAX_STRING_BYTES;
use crate::event::frame_text::MARKER;
use crate::event::FrameText;

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
    /// The position of top-level member `key` of the event.
    pub fn of_member(key: &str) -> Option<At> {
        match key {
            "exception" | "threads" => Some(At::Interface),
            "stacktrace" => Some(At::Stacktrace),
            _ => None,
        }
    }

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
/// tree, frames kept as text going into `text` (unless `keep` is false: then they go into the
/// tree, but a frame member named [`MARKER`] is still refused). The tree is what `Value`'s own
/// parse makes, but for the kept frames' markers.
pub struct Seed<'t> {
    /// Where the value sits; `None` below any stack-trace position.
    pub at: Option<At>,
    /// The value's nesting level in the stored event (the event object is 1, its members 2):
    /// below an interface not in its `{"values": list}` form, the level it has once
    /// normalization wrapped it.
    pub level: usize,
    /// Whether frames may be kept as text.
    pub keep: bool,
    /// Where kept frames go.
    pub text: &'t mut FrameText,
}

impl Seed<'_> {
    fn child(&mut self, at: Option<At>) -> Seed<'_> {
        Seed {
            at,
            level: self.level + 1,
            keep: self.keep,
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
        if self.at == Some(At::Frame) {
            return self.frame(access);
        }
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let at = self.at.and_then(|at| at.member(&key));
            let v = access.next_value_seed(self.child(at))?;
            map.insert(key, v);
        }
        Ok(Value::Object(map))
    }
}

impl Seed<'_> {
    /// A frame: kept as text when every member passes [`check`] and no key repeats, else
    /// parsed into the tree from the text taken so far.
    fn frame<'de, A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let text = self.text;
        let begun = text.begin();
        let mut keep = self.keep;
        while let Some(key) = access.next_key_seed(Key)? {
            if key == MARKER {
                return Err(de::Error::custom(
                    "a frame member named like Errata's marker",
                ));
            }
            let raw: &'de RawValue = access.next_value()?;
            let json = raw.get();
            let decoded = match keep.then(|| check(json, self.level + 1)).flatten() {
                Some(Checked::Plain) => None,
                Some(Checked::Decoded(s)) => Some(s),
                None => {
                    keep = false;
                    None
                }
            };
            keep &= text.push(&key, json, decoded.as_deref());
        }
        if keep {
            if let Some(n) = text.finish(begun) {
                return Ok(FrameText::marker(n));
            }
        }
        let mut map = Map::new();
        for (key, json) in text.pending(begun) {
            let v = members::parse_nested(json, self.level + 1).map_err(de::Error::custom)?;
            map.insert(key.to_owned(), v);
        }
        text.rollback(begun);
        Ok(Value::Object(map))
    }
}

/// How a kept member's text passed the checks.
enum Checked {
    /// Read from the text as it is.
    Plain,
    /// A JSON string with escapes: the string it encodes.
    Decoded(String),
}

/// Whether JSON text `json`, a frame member's value at nesting `level`, can be kept as text
/// ([`members`]' checks: no string over the trimming limit, since no string's text is shorter
/// than the string; nothing a tree would refuse). The common cases (strings without escapes,
/// short integers, literals) are decided without a parse.
fn check(json: &str, level: usize) -> Option<Checked> {
    if json.len() > MAX_STRING_BYTES {
        return None;
    }
    let bytes = json.as_bytes();
    match bytes.first()? {
        b'"' if !json.contains('\\') => Some(Checked::Plain),
        // Lone surrogate escapes fail here, as in a tree.
        b'"' => serde_json::from_str(json).ok().map(Checked::Decoded),
        b't' | b'f' | b'n' => Some(Checked::Plain),
        // Digits alone: an integer well inside `u64`. Any other number goes into the tree:
        // serde_json may read a float (or an integer past `u64`) to a value whose text, as the
        // tree writes it, reads back as a neighbouring float, so the SDK's own text kept
        // verbatim could store a number that differs from the tree's in its last digit.
        b'0'..=b'9' if bytes.len() <= 15 && bytes.iter().all(u8::is_ascii_digit) => {
            Some(Checked::Plain)
        }
        b'-' | b'0'..=b'9' => None,
        _ => members::tree_would_accept(json, level).then_some(Checked::Plain),
    }
}

/// A key, borrowed from the text when it has no escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v))
    }
}

/// Appends `value`, a member at position `at` of an event whose kept frames are `text`, as
/// JSON to `out`, each kept frame written from its text where its marker is.
pub fn write_value(value: &Value, at: Option<At>, text: &FrameText, out: &mut Vec<u8>) {
    let Some(at) = at else {
        // No stack-trace position below: no marker to look for. Serializing a `Value` into
        // a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut *out, value);
        return;
    };
    match value {
        Value::Object(_) if at == At::Frame => match text.number(value) {
            Some(n) => write_members(text.members(n), out),
            None => write_value(value, None, text, out),
        },
        Value::Object(map) => members::write_object(
            map.iter().map(|(k, v)| (k.as_str(), v)),
            std::iter::empty(),
            |k, v, out| write_value(v, at.member(k), text, out),
            out,
        ),
        Value::Array(list) => {
            out.push(b'[');
            for (i, v) in list.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(v, at.element(), text, out);
            }
            out.push(b']');
        }
        other => write_value(other, None, text, out),
    }
}

/// Writes `(key, JSON text)` members, in the order given, as one object.
fn write_members<'a>(members: impl Iterator<Item = (&'a str, &'a str)>, out: &mut Vec<u8>) {
    out.push(b'{');
    for (i, (k, json)) in members.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Serializing a `str` into a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut *out, k);
        out.push(b':');
        out.extend_from_slice(json.as_bytes());
    }
    out.push(b'}');
}

/// Replaces every kept frame's marker in `value`, a member at position `at`, by the frame as
/// a tree, as it would be had it not been kept (for a stage that rewrites frames in the tree:
/// source-map resolution).
pub fn into_tree(value: &mut Value, at: Option<At>, text: &FrameText) {
    let Some(at) = at else {
        return;
    };
    if at == At::Frame {
        if let Some(n) = text.number(value) {
            let mut json = Vec::new();
            write_members(text.members(n), &mut json);
            // Kept text passed the checks of a tree's parse.
            *value = serde_json::from_slice(&json).unwrap_or(Value::Null);
        }
        return;
    }
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                into_tree(v, at.member(k), text);
            }
        }
        Value::Array(list) => {
            for v in list {
                into_tree(v, at.element(), text);
            }
        }
        _ => {}
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
            keep: true,
            text: &mut text,
        }
        .deserialize(&mut de)
        .expect("parses");
        let mut out = Vec::new();
        write_value(&tree, Some(at), &text, &mut out);
        let written = serde_json::from_slice(&out).expect("valid JSON");
        (tree, text, written)
    }

    #[test]
    fn frames_are_kept_as_text_and_written_back() {
        let json = r#"{"values":[{"type":"E","stacktrace":{"frames":[
            {"function":"f","pre_context":["a", "b"],"context_line":"c","post_context":[],"vars":{"x":{"y":[1,2.5,null]}}},
            {"function":"g\u00e9", "lineno": 12},
            {"vars":{"s":"\u00e9\ud83d\ude00"},"lineno":3}
        ]}}]}"#;
        let (tree, text, written) = round_trip(At::Interface, json);
        let frames = &tree["values"][0]["stacktrace"]["frames"];
        for (i, frame) in frames.as_array().into_iter().flatten().enumerate() {
            assert_eq!(text.number(frame), Some(i), "{frame}");
        }
        assert_eq!(written, serde_json::from_str::<Value>(json).expect("json"));
        let mut whole = tree.clone();
        into_tree(&mut whole, Some(At::Interface), &text);
        assert_eq!(whole, written);
    }

    #[test]
    fn what_the_checks_refuse_goes_into_the_tree() {
        let long = "x".repeat(MAX_STRING_BYTES);
        let json = format!(
            r#"[{{"frames":[]}},{{"stacktrace":{{"frames":[{{"vars":{{"a":"{long}"}},"pre_context":["p"]}},{{"a":1,"a":2}},{{"n":2.5,"m":"\u00e9"}},{{"n":-1}}]}}}}]"#
        );
        let (tree, text, written) = round_trip(At::Interface, &json);
        let frames = &tree[1]["stacktrace"]["frames"];
        assert!(
            frames[0]["vars"]["a"].is_string(),
            "too long: in the tree for trimming"
        );
        assert_eq!(
            frames[1],
            serde_json::json!({"a": 2}),
            "the last repeat wins"
        );
        assert_eq!(text.number(&frames[2]), None, "a float: in the tree");
        assert_eq!(text.number(&frames[3]), None, "negative: in the tree");
        assert_eq!(written, serde_json::from_str::<Value>(&json).expect("json"));
        for bad in [r#"{"n":1e400}"#, r#"{"s":"\ud83d"}"#] {
            let mut text = FrameText::default();
            let json = format!(r#"{{"frames":[{{"f":"x"}},{bad}]}}"#);
            let mut de = serde_json::Deserializer::from_str(&json);
            let seed = Seed {
                at: Some(At::Stacktrace),
                level: 2,
                keep: true,
                text: &mut text,
            };
            assert!(
                seed.deserialize(&mut de).is_err(),
                "{bad}: as a tree's parse"
            );
        }
    }

    #[test]
    fn markers_are_refused_and_resolved_only_where_frames_are() {
        let json = format!(r#"{{"frames":[{{"{}":0}}]}}"#, "\\u0000errata_frame_text");
        for keep in [true, false] {
            let mut text = FrameText::default();
            let mut de = serde_json::Deserializer::from_str(&json);
            let seed = Seed {
                at: Some(At::Stacktrace),
                level: 2,
                keep,
                text: &mut text,
            };
            assert!(seed.deserialize(&mut de).is_err());
        }
        let (_, text, _) = round_trip(At::Stacktrace, r#"{"frames":[{"function":"f"}]}"#);
        let elsewhere = serde_json::json!({"frames": [{MARKER: 0}], "other": {MARKER: 0}});
        let mut out = Vec::new();
        write_value(&elsewhere, None, &text, &mut out);
        let read: Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(read, elsewhere, "not at a frame's position: not a marker");
    }
}
