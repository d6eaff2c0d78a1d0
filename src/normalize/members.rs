//! An event's top-level members, split in one pass by who reads them (issue #23: a hot path
//! without a whole tree).
//!
//! Normalization, grouping, source-map resolution and the User-Agent contexts read a known set
//! of members ([`READ`]); everything else (`breadcrumbs`, `modules`, `extra`, `sdk`, `_meta`,
//! `spans`, unknown keys, …) is only stored. Parsing those into a `serde_json::Value` tree, dropping the tree and
//! serializing it again cost about as much as everything else on the request side did for
//! them, for nothing: they are kept here as the SDK's JSON text ([`RawValue`], validated by the
//! parser, copied once, never parsed into a tree) and written back verbatim
//! ([`write_event`]).
//!
//! A member is passed through only when normalization could not have changed it: its key is
//! not one it reads, the value is an object where normalization checks for one
//! ([`OBJECT_FIELDS`]), `breadcrumbs` are already in their canonical form (`{"values":
//! [objects…]}`, at most [`MAX_BREADCRUMBS`]), and its text is no longer than
//! [`MAX_STRING_BYTES`], so that no string inside can be over the trimming limit (a JSON
//! string's text is at least as long as the string it encodes). Any other member goes into the
//! tree and through every stage as before.

use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;

use super::fields::{ALIASES, OBJECT_FIELDS};
use super::frame_text::{self, At};
use super::interfaces::MAX_BREADCRUMBS;
use super::trim::{MAX_NESTING, MAX_STRING_BYTES};
use crate::event::FrameText;
use serde::Deserialize;

/// Top-level members some stage of the hot path reads or writes: parsed into the tree.
///
/// Scalars and strings (`fields`, `timestamp`), messages, the list interfaces and their
/// frames (`interfaces`, grouping, titles, `artifacts::resolve` with `debug_meta`), tags, user,
/// fingerprint, `errors` (notes are appended), `request` and `contexts` (User-Agent
/// contexts), and the legacy `sentry.interfaces.*` aliases, which `fields::map_aliases` moves.
pub const READ: &[&str] = &[
    "event_id",
    "level",
    "platform",
    "timestamp",
    "received",
    "release",
    "environment",
    "dist",
    "server_name",
    "logger",
    "transaction",
    "message",
    "logentry",
    "exception",
    "threads",
    "stacktrace",
    "tags",
    "user",
    "fingerprint",
    "errors",
    "request",
    "contexts",
    "debug_meta",
];

/// Whether normalization, grouping or resolution read top-level member `key`.
fn is_read(key: &str) -> bool {
    READ.contains(&key) || key.starts_with("sentry.interfaces.")
}

/// An event split into its read members and its passed-through ones.
#[derive(Debug, Default)]
pub struct Members {
    /// The members some stage reads, parsed; normalization works on this map.
    pub read: Map<String, Value>,
    /// The other members as JSON text, in no particular order, keys unique and absent from
    /// `read`.
    pub passthrough: Vec<(String, Box<RawValue>)>,
    /// The frames kept as text (`frame_text`), standing as markers in `read`'s frames.
    pub frame_text: FrameText,
}

impl Members {
    /// All of `read` in the tree, nothing passed through (the whole-tree path).
    pub fn tree(read: Map<String, Value>) -> Members {
        Members {
            read,
            ..Members::default()
        }
    }
}

/// Splits the JSON object `text` in one pass.
///
/// Errors: serde_json's, for text that is not JSON or not an object (the caller then takes the
/// lenient whole-tree path, which says which).
pub fn split(text: &str) -> Result<Members, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let members = de::Deserializer::deserialize_map(&mut de, MembersVisitor)?;
    de.end()?;
    Ok(members)
}

struct MembersVisitor;

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = Members;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
        let mut members = Members::default();
        // Where each passed-through key sits, so that a repeated key costs no scan (an event
        // may have many thousands of keys).
        let mut slots: HashMap<String, usize> = HashMap::new();
        let mut passthrough: Vec<Option<(String, Box<RawValue>)>> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            // A repeated key replaces the earlier value, as in serde_json's own maps.
            if let Some(at) = slots.remove(&key) {
                passthrough[at] = None;
            }
            if is_read(&key) {
                // A legacy alias's frames go into the tree, but are checked for forged
                // markers all the same: `fields::map_aliases` may move them where frames are.
                let (at, keep) = match At::of_member(&key) {
                    Some(at) => (Some(at), true),
                    None => (alias_position(&key), false),
                };
                let value = map.next_value_seed(frame_text::Seed {
                    at,
                    level: 2,
                    keep,
                    text: &mut members.frame_text,
                })?;
                members.read.insert(key, value);
                continue;
            }
            let raw = map.next_value_seed(RawSeed)?;
            if passes_through(&key, &raw) {
                members.read.remove(&key);
                slots.insert(key.clone(), passthrough.len());
                passthrough.push(Some((key, raw)));
            } else {
                members
                    .read
                    .insert(key, parse_member(&raw).map_err(de::Error::custom)?);
            }
        }
        members.passthrough = passthrough.into_iter().flatten().collect();
        // A legacy alias of a passed-through member: `fields::map_aliases` decides between the
        // two, so both go into the tree.
        for &(alias, canonical) in ALIASES {
            if members.read.contains_key(alias) {
                if let Some(at) = members.passthrough.iter().position(|(k, _)| k == canonical) {
                    let (key, raw) = members.passthrough.swap_remove(at);
                    members
                        .read
                        .insert(key, parse_member(&raw).map_err(de::Error::custom)?);
                }
            }
        }
        Ok(members)
    }
}

/// The position of a legacy alias's frames once `fields::map_aliases` moved it to its
/// canonical key.
fn alias_position(key: &str) -> Option<At> {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == key)
        .and_then(|(_, canonical)| At::of_member(canonical))
}

/// Parses a member's text into a tree, refusing what a parse of the whole event would: the
/// text alone is parsed one level shallower than it sits.
fn parse_member(raw: &RawValue) -> Result<Value, serde_json::Error> {
    parse_nested(raw.get(), 2)
}

/// Parses the text of a value at nesting `level` of the event (the event is 1, its members 2)
/// into a tree, refusing what a parse of the whole event would: the text alone is parsed
/// `level - 1` levels shallower than it sits.
pub(super) fn parse_nested(json: &str, level: usize) -> Result<Value, serde_json::Error> {
    let value: Value = serde_json::from_str(json)?;
    if depth(&value) > depth_allowed(level) {
        return Err(de::Error::custom("recursion limit exceeded"));
    }
    Ok(value)
}

/// Whether JSON `text`, a value at nesting `level` of the event, is what a parse of the whole
/// event into a tree would accept ([`Checked`]).
pub(super) fn tree_would_accept(text: &str, level: usize) -> bool {
    let mut de = serde_json::Deserializer::from_str(text);
    let checked = Checked {
        depth_left: depth_allowed(level),
        object: false,
    };
    checked.deserialize(&mut de).is_ok() && de.end().is_ok()
}

/// Containers a value at nesting `level` may nest, itself included: a document nests at most
/// [`MAX_NESTING`] (serde_json's limit), and the event object is the first.
const fn depth_allowed(level: usize) -> usize {
    (MAX_NESTING + 1).saturating_sub(level)
}

/// Containers nested in `value`, itself included.
fn depth(value: &Value) -> usize {
    match value {
        Value::Array(list) => 1 + list.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// A member's value as owned JSON text.
struct RawSeed;

impl<'de> DeserializeSeed<'de> for RawSeed {
    type Value = Box<RawValue>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Box<RawValue>, D::Error> {
        serde::Deserialize::deserialize(d)
    }
}

/// Whether the unread member `key` with text `raw` is stored exactly as sent (module docs).
fn passes_through(key: &str, raw: &RawValue) -> bool {
    let text = raw.get();
    if text.len() > MAX_STRING_BYTES {
        return false;
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let checked = if key == "breadcrumbs" {
        // Read by nothing on the hot path; normalization only brings it into the canonical
        // form: text already in that form is kept.
        CanonicalList::deserialize(&mut de).is_ok_and(|l| l.values.len() <= MAX_BREADCRUMBS)
    } else if OBJECT_FIELDS.contains(&key) {
        Checked::OBJECT.deserialize(&mut de).is_ok()
    } else {
        Checked::ANY.deserialize(&mut de).is_ok()
    };
    checked && de.end().is_ok()
}

/// A list interface in its canonical form, `{"values": [objects…]}` (`interfaces`).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CanonicalList {
    #[serde(deserialize_with = "objects")]
    values: Vec<()>,
}

/// A list of checked objects; `()` per entry (a `Vec` of a zero-sized type never allocates).
fn objects<'de, D: de::Deserializer<'de>>(d: D) -> Result<Vec<()>, D::Error> {
    struct Objects;
    impl<'de> Visitor<'de> for Objects {
        type Value = Vec<()>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of objects")
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<()>, A::Error> {
            let mut out = Vec::new();
            // Two levels below a member: the list's object and the list.
            let entry = Checked {
                depth_left: MEMBER_DEPTH - 2,
                object: true,
            };
            while seq.next_element_seed(entry)?.is_some() {
                out.push(());
            }
            Ok(out)
        }
    }
    d.deserialize_seq(Objects)
}

/// Containers a member's value may nest.
const MEMBER_DEPTH: usize = depth_allowed(2);

/// What a `Value` tree would refuse and a raw value lets through: numbers out of `f64`'s
/// range (`1e400`), lone UTF-16 surrogate escapes (`"\ud83d"`), nesting deeper than a
/// document may. Stored, any of these would make the payload unreadable, so such a member
/// takes the tree instead (where the lenient path repairs or refuses it). Checking reads
/// every token like a tree parse but builds nothing. `object` asks for an object.
#[derive(Clone, Copy)]
struct Checked {
    depth_left: usize,
    object: bool,
}

impl Checked {
    const ANY: Checked = Checked {
        depth_left: MEMBER_DEPTH,
        object: false,
    };
    const OBJECT: Checked = Checked {
        depth_left: MEMBER_DEPTH,
        object: true,
    };

    fn nested<E: de::Error>(self) -> Result<Checked, E> {
        match self.depth_left.checked_sub(1) {
            Some(depth_left) => Ok(Checked {
                depth_left,
                object: false,
            }),
            None => Err(E::custom("nested too deeply")),
        }
    }

    fn scalar<E: de::Error>(self) -> Result<(), E> {
        if self.object {
            Err(E::custom("not an object"))
        } else {
            Ok(())
        }
    }
}

impl<'de> DeserializeSeed<'de> for Checked {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Checked {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.scalar()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.scalar()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.scalar()?;
        let inner = self.nested()?;
        while seq.next_element_seed(inner)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let inner = self.nested()?;
        // Keys are read as strings, so that their escapes are checked too.
        let key = Checked {
            depth_left: 0,
            object: false,
        };
        while map.next_key_seed(key)?.is_some() {
            map.next_value_seed(inner)?;
        }
        Ok(())
    }
}

/// Writes the event made of `read`, `passthrough` and `frame_text` as one JSON object into
/// `out`: members in key order, passed-through values as their text ([`write_object`]).
pub fn write_event(
    read: &Map<String, Value>,
    passthrough: &[(String, Box<RawValue>)],
    frame_text: &FrameText,
    out: &mut Vec<u8>,
) {
    let mut rest: Vec<(&str, &str)> = passthrough
        .iter()
        .map(|(k, raw)| (k.as_str(), raw.get()))
        .collect();
    rest.sort_unstable_by(|a, b| a.0.cmp(b.0));
    write_object(
        read.iter().map(|(k, v)| (k.as_str(), v)),
        rest.into_iter(),
        |k, v, out| {
            if frame_text.is_empty() {
                // Serializing a `Value` into a `Vec` cannot fail.
                let _ = serde_json::to_writer(&mut *out, v);
            } else {
                frame_text::write_value(v, At::of_member(k), frame_text, out);
            }
        },
        out,
    );
}

/// Writes one JSON object into `out` from `tree`'s members (each value written by `value`,
/// given its key) and `text`'s (values as JSON text, written verbatim), both in key order and
/// with no key in both: merged in key order, as a `serde_json::Map` serializes.
pub(super) fn write_object<'a>(
    tree: impl Iterator<Item = (&'a str, &'a Value)>,
    text: impl Iterator<Item = (&'a str, &'a str)>,
    mut value: impl FnMut(&'a str, &'a Value, &mut Vec<u8>),
    out: &mut Vec<u8>,
) {
    let mut text = text.peekable();
    let mut first = true;
    let mut key = |out: &mut Vec<u8>, k: &str| {
        out.push(if std::mem::take(&mut first) {
            b'{'
        } else {
            b','
        });
        // Serializing a `str` into a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut *out, k);
        out.push(b':');
    };
    for (k, v) in tree {
        while let Some((tk, t)) = text.next_if(|(tk, _)| *tk < k) {
            key(out, tk);
            out.extend_from_slice(t.as_bytes());
        }
        key(out, k);
        value(k, v, out);
    }
    for (tk, t) in text {
        key(out, tk);
        out.extend_from_slice(t.as_bytes());
    }
    if first {
        out.push(b'{');
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(m: &Members) -> Value {
        let mut out = Vec::new();
        write_event(&m.read, &m.passthrough, &m.frame_text, &mut out);
        serde_json::from_slice(&out).expect("valid JSON")
    }

    #[test]
    fn read_members_are_parsed_and_the_rest_kept_as_text() {
        let text = r#"{"level":"warn","modules":{"a":"1"},"zz":[1, 2],"extra":"x","exception":{"values":[]}}"#;
        let m = split(text).expect("splits");
        let read: Vec<&str> = m.read.keys().map(String::as_str).collect();
        assert_eq!(
            read,
            ["exception", "extra", "level"],
            "extra is not an object: checked"
        );
        let mut through: Vec<(&str, &str)> = m
            .passthrough
            .iter()
            .map(|(k, v)| (k.as_str(), v.get()))
            .collect();
        through.sort();
        assert_eq!(through, [("modules", r#"{"a":"1"}"#), ("zz", "[1, 2]")]);
        let whole: Value = serde_json::from_str(text).expect("json");
        assert_eq!(written(&m), whole);
    }

    #[test]
    fn repeated_keys_keep_the_last_value_wherever_it_went() {
        let m = split(r#"{"extra":{"a":1},"extra":7,"k":1,"k":{"b":2}}"#).expect("splits");
        assert_eq!(m.read.get("extra"), Some(&serde_json::json!(7)));
        assert_eq!(m.passthrough.len(), 1);
        assert_eq!(written(&m), serde_json::json!({"extra": 7, "k": {"b": 2}}));
    }

    #[test]
    fn long_members_go_into_the_tree_for_trimming() {
        let long = "x".repeat(MAX_STRING_BYTES);
        let m = split(&format!(r#"{{"blob":"{long}","small":"y"}}"#)).expect("splits");
        assert!(m.read.contains_key("blob"));
        assert_eq!(m.passthrough.len(), 1);
    }

    #[test]
    fn what_a_tree_refuses_is_not_passed_through() {
        for bad in [r#"{"n":1e400}"#, r#"{"s":"\ud83d"}"#, r#"[1,{"x":-1e999}]"#] {
            let m = split(&format!(r#"{{"k":{bad}}}"#));
            assert!(m.is_err(), "{bad} must take the lenient whole-tree path");
        }
        let deep = format!(r#"{{"k":{}{}}}"#, "[".repeat(200), "]".repeat(200));
        assert!(split(&deep).is_err());
        let m = split(r#"{"k":{"s":"\ud83d\ude00","n":1e300}}"#).expect("valid pair");
        assert_eq!(m.passthrough.len(), 1);
    }

    #[test]
    fn non_objects_and_bad_json_are_errors() {
        assert!(split("[1]").is_err());
        assert!(split(r#"{"a":NaN}"#).is_err());
        assert!(split(r#"{"a":1} x"#).is_err());
        assert_eq!(written(&split("{}").expect("empty")), serde_json::json!({}));
    }
}
