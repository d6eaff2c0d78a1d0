//! Frames kept as their JSON text instead of in the tree (issue #23: a hot path without a
//! whole tree).
//!
//! Stack frames are most of an error event's tree: in the burst's events ~60 % of its nodes,
//! each frame an object of some ten members, each member a key and a value allocated, then
//! dropped and serialized again. `crate::normalize` keeps a frame whose members all pass its
//! checks (no string over the trimming limit, nothing a tree would refuse, no number but a
//! short integer, no repeated key) here instead: its members' keys and JSON text in one
//! buffer per event, sorted by key. The tree holds a marker in its place (`{MARKER:
//! number}`); the view's frames read the kept members through the same lenient rules as the
//! tree's ([`KeptFrame`]), normalization records its in-app verdict beside them
//! ([`FrameText::set_in_app`]), and the stored event is written from the text
//! ([`FrameText::members`]). A frame that fails a check goes into the tree as before.

use std::ops::Range;

use serde_json::Value;

use super::lenient::is_truthy;

/// The single member of the tree's stand-in for a kept frame; its value is the frame's number
/// in [`FrameText`]. An SDK cannot send it unnoticed: normalization refuses a frame with this
/// member on the hot path (the whole-tree path then keeps it as an ordinary member).
pub const MARKER: &str = "\u{0}errata_frame_text";

/// The kept frames of one event. Empty for an event read back from storage or normalized from
/// a tree, whose frames are all in the tree.
#[derive(Debug, Clone, Default)]
pub struct FrameText {
    /// Keys, JSON texts and decoded strings of every kept member.
    text: String,
    members: Vec<Member>,
    frames: Vec<Kept>,
}

/// One member of a kept frame; ranges into [`FrameText::text`].
#[derive(Debug, Clone)]
struct Member {
    key: Range<u32>,
    /// The value's JSON text as the SDK sent it.
    json: Range<u32>,
    /// The string the value encodes, when it is a JSON string.
    string: Option<Range<u32>>,
}

#[derive(Debug, Clone)]
struct Kept {
    /// Into [`FrameText::members`], sorted by key, no key twice.
    members: Range<u32>,
    /// The server's in-app verdict, once normalization resolved it: then the stored frame has
    /// `in_app` set to it and the SDK's `in_app` moved to `in_app_sdk` (if that was absent).
    in_app: Option<bool>,
}

/// Where a frame being kept began ([`FrameText::begin`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Begun {
    text: usize,
    members: usize,
}

/// What the view reads when a frame's table is not known (stored events, whole trees).
pub(crate) static NO_FRAMES: FrameText = FrameText {
    text: String::new(),
    members: Vec::new(),
    frames: Vec::new(),
};

fn at<'a>(text: &'a str, r: &Range<u32>) -> &'a str {
    text.get(r.start as usize..r.end as usize).unwrap_or("")
}

impl FrameText {
    /// Whether no frame was kept (the tree then holds the whole event).
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Starts keeping a frame: members are [`FrameText::push`]ed, then the frame is
    /// [`FrameText::finish`]ed or its members taken back ([`FrameText::pending`],
    /// [`FrameText::rollback`]).
    pub(crate) fn begin(&mut self) -> Begun {
        if self.members.capacity() == 0 {
            // An SDK's stack trace is some 20 frames of a dozen members, ~8 KB of text: start
            // near that instead of growing from nothing, copy after copy.
            self.text.reserve(8 * 1024);
            self.members.reserve(256);
        }
        Begun {
            text: self.text.len(),
            members: self.members.len(),
        }
    }

    /// Adds member `key` with JSON text `json` to the frame being kept; `decoded` is the
    /// string `json` encodes when it is a JSON string with escapes (a string without them is
    /// read from its text). False when the buffer outgrew its 32-bit offsets (the frame then
    /// goes into the tree).
    pub(crate) fn push(&mut self, key: &str, json: &str, decoded: Option<&str>) -> bool {
        let Some(key) = self.append(key) else {
            return false;
        };
        let Some(json_range) = self.append(json) else {
            return false;
        };
        let string = match decoded {
            Some(s) => match self.append(s) {
                Some(r) => Some(r),
                None => return false,
            },
            None if json.len() >= 2 && json.starts_with('"') => {
                Some(json_range.start + 1..json_range.end - 1)
            }
            None => None,
        };
        self.members.push(Member {
            key,
            json: json_range,
            string,
        });
        true
    }

    fn append(&mut self, s: &str) -> Option<Range<u32>> {
        let start = u32::try_from(self.text.len()).ok()?;
        let end = u32::try_from(self.text.len() + s.len()).ok()?;
        self.text.push_str(s);
        Some(start..end)
    }

    /// The members pushed since `begun`, `(key, JSON text)`, in the order pushed unless
    /// [`FrameText::finish`] sorted them (stably: a repeated key's values stay in order).
    pub(crate) fn pending(&self, begun: Begun) -> impl Iterator<Item = (&str, &str)> {
        self.members[begun.members.min(self.members.len())..]
            .iter()
            .map(|m| (at(&self.text, &m.key), at(&self.text, &m.json)))
    }

    /// Forgets the members pushed since `begun`.
    pub(crate) fn rollback(&mut self, begun: Begun) {
        self.members.truncate(begun.members);
        self.text.truncate(begun.text);
    }

    /// Ends the frame begun at `begun`: its number, or `None` when a key repeats (the members
    /// are then sorted but still pending).
    pub(crate) fn finish(&mut self, begun: Begun) -> Option<usize> {
        let text = &self.text;
        let members = self.members.get_mut(begun.members..)?;
        members.sort_by(|a, b| at(text, &a.key).cmp(at(text, &b.key)));
        if members
            .windows(2)
            .any(|w| at(text, &w[0].key) == at(text, &w[1].key))
        {
            return None;
        }
        let start = u32::try_from(begun.members).ok()?;
        let end = u32::try_from(self.members.len()).ok()?;
        self.frames.push(Kept {
            members: start..end,
            in_app: None,
        });
        Some(self.frames.len() - 1)
    }

    /// The number of the kept frame `v` stands for: an object whose only member is [`MARKER`]
    /// with the number of a frame of this table.
    pub(crate) fn number(&self, v: &Value) -> Option<usize> {
        let map = v.as_object().filter(|m| m.len() == 1)?;
        let n = usize::try_from(map.get(MARKER)?.as_u64()?).ok()?;
        (n < self.frames.len()).then_some(n)
    }

    /// The tree's stand-in for kept frame `n`.
    pub(crate) fn marker(n: usize) -> Value {
        let mut map = serde_json::Map::new();
        map.insert(MARKER.to_owned(), Value::from(n));
        Value::Object(map)
    }

    /// The kept frame `v` stands for ([`FrameText::number`]).
    pub(crate) fn frame(&self, v: &Value) -> Option<KeptFrame<'_>> {
        let kept = self.frames.get(self.number(v)?)?;
        Some(KeptFrame { table: self, kept })
    }

    /// Records the server's in-app verdict for kept frame `n` (see [`Kept::in_app`]).
    pub(crate) fn set_in_app(&mut self, n: usize, in_app: bool) {
        if let Some(kept) = self.frames.get_mut(n) {
            kept.in_app = Some(in_app);
        }
    }

    /// The members of kept frame `n` as stored, `(key, JSON text)` in key order: as sent, but
    /// for the in-app verdict.
    pub(crate) fn members(&self, n: usize) -> impl Iterator<Item = (&str, &str)> + '_ {
        let kept = self.frames.get(n);
        let frame = kept.map(|kept| KeptFrame { table: self, kept });
        let own = frame.map(KeptFrame::own).unwrap_or(&[]);
        let verdict = kept.and_then(|k| k.in_app);
        let mut extra: [Option<(&str, &str)>; 2] = [None, None];
        if let (Some(verdict), Some(frame)) = (verdict, frame) {
            extra[0] = Some(("in_app", if verdict { "true" } else { "false" }));
            if frame.member("in_app_sdk").is_none() {
                extra[1] = frame
                    .member("in_app")
                    .map(|m| ("in_app_sdk", frame.json(m)));
            }
        }
        let mut own = own
            .iter()
            .map(|m| (at(&self.text, &m.key), at(&self.text, &m.json)))
            .filter(move |(k, _)| verdict.is_none() || *k != "in_app")
            .peekable();
        let mut extra = extra.into_iter().flatten().peekable();
        std::iter::from_fn(move || match (own.peek(), extra.peek()) {
            (Some(a), Some(b)) if a.0 < b.0 => own.next(),
            (_, Some(_)) => extra.next(),
            (Some(_), None) => own.next(),
            (None, None) => None,
        })
    }
}

/// A kept frame, read as the tree's frame object would read (`crate::event::Frame`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeptFrame<'a> {
    table: &'a FrameText,
    kept: &'a Kept,
}

/// A member's value as the view compares it ([`KeptFrame::field`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Field<'a> {
    /// A value of the tree.
    Tree(&'a Value),
    /// A kept value: its JSON text and, for a JSON string, the string.
    Text(&'a str, Option<&'a str>),
    /// The in-app verdict.
    Bool(bool),
}

impl PartialEq for Field<'_> {
    /// As the tree's values compare (`serde_json::Value`'s equality).
    fn eq(&self, other: &Self) -> bool {
        match (*self, *other) {
            (Field::Tree(a), Field::Tree(b)) => a == b,
            (Field::Text(a, sa), Field::Text(b, sb)) => match (sa, sb) {
                (Some(x), Some(y)) => x == y,
                (None, None) => a == b || parse(a) == parse(b),
                _ => false,
            },
            (Field::Text(_, Some(s)), Field::Tree(v))
            | (Field::Tree(v), Field::Text(_, Some(s))) => v.as_str() == Some(s),
            (Field::Tree(v), other) | (other, Field::Tree(v)) => other.value().as_ref() == Some(v),
            (a, b) => a.value() == b.value(),
        }
    }
}

impl Field<'_> {
    /// A kept value or the verdict as a tree value (`None` for a tree's own).
    fn value(self) -> Option<Value> {
        match self {
            Field::Tree(_) => None,
            Field::Text(json, _) => parse(json),
            Field::Bool(b) => Some(Value::Bool(b)),
        }
    }
}

fn parse(json: &str) -> Option<Value> {
    serde_json::from_str(json).ok()
}

impl<'a> KeptFrame<'a> {
    fn own(self) -> &'a [Member] {
        let r = &self.kept.members;
        self.table
            .members
            .get(r.start as usize..r.end as usize)
            .unwrap_or(&[])
    }

    fn member(self, key: &str) -> Option<&'a Member> {
        self.own()
            .iter()
            .find(|m| at(&self.table.text, &m.key) == key)
    }

    fn json(self, m: &Member) -> &'a str {
        at(&self.table.text, &m.json)
    }

    /// Member `key` as the stored frame has it, `None` when absent or `null`.
    pub(crate) fn field(self, key: &str) -> Option<Field<'a>> {
        let verdict = self.kept.in_app;
        let m = match (key, verdict) {
            ("in_app", Some(v)) => return Some(Field::Bool(v)),
            ("in_app_sdk", Some(_)) => self.member(key).or_else(|| self.member("in_app")),
            _ => self.member(key),
        }?;
        let json = self.json(m);
        let string = m.string.as_ref().map(|r| at(&self.table.text, r));
        (json != "null").then_some(Field::Text(json, string))
    }

    /// The member as a non-empty string.
    pub(crate) fn str(self, key: &str) -> Option<&'a str> {
        match self.field(key)? {
            Field::Text(_, s) => s.filter(|s| !s.is_empty()),
            _ => None,
        }
    }

    /// The member as a JSON boolean.
    pub(crate) fn bool(self, key: &str) -> Option<bool> {
        match self.field(key)? {
            Field::Bool(b) => Some(b),
            Field::Text("true", None) => Some(true),
            Field::Text("false", None) => Some(false),
            _ => None,
        }
    }

    /// The member as a non-negative integer (as `Value::as_u64` reads it).
    pub(crate) fn u64(self, key: &str) -> Option<u64> {
        match self.field(key)? {
            Field::Text(json, None) => parse(json)?.as_u64(),
            _ => None,
        }
    }

    /// The member as Python reads it in a condition.
    pub(crate) fn flag(self, key: &str) -> bool {
        match self.field(key) {
            None => false,
            Some(Field::Bool(b)) => b,
            Some(Field::Text(_, Some(s))) => !s.is_empty(),
            Some(Field::Text(json, None)) => is_truthy(parse(json).as_ref()),
            Some(Field::Tree(v)) => is_truthy(Some(v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(members: &[(&str, &str)]) -> (FrameText, Option<usize>) {
        let mut t = FrameText::default();
        let begun = t.begin();
        for (k, json) in members {
            let decoded = json
                .contains('\\')
                .then(|| serde_json::from_str::<String>(json).ok())
                .flatten();
            assert!(t.push(k, json, decoded.as_deref()));
        }
        let n = t.finish(begun);
        (t, n)
    }

    #[test]
    fn members_read_as_the_tree_reads_them() {
        let (t, n) = kept(&[
            ("lineno", "12"),
            ("function", r#""r\u00e9un""#),
            ("module", r#""""#),
            ("colno", "-0"),
            ("package", "[1]"),
            ("abs_path", "null"),
            ("in_app", "true"),
        ]);
        let marker = FrameText::marker(n.expect("kept"));
        let f = t.frame(&marker).expect("a kept frame");
        assert_eq!(f.str("function"), Some("réun"));
        assert_eq!(f.str("module"), None, "empty");
        assert_eq!(f.str("abs_path"), None, "null");
        assert_eq!(f.u64("lineno"), Some(12));
        let tree: Value = serde_json::from_str("-0").expect("json");
        assert_eq!(f.u64("colno"), tree.as_u64());
        assert!(f.flag("package") && !f.flag("abs_path"));
        assert_eq!(f.bool("in_app"), Some(true));
        let keys: Vec<&str> = t.members(0).map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            ["abs_path", "colno", "function", "in_app", "lineno", "module", "package"]
        );
    }

    #[test]
    fn the_verdict_moves_the_sdks_value_in_key_order() {
        let (mut t, n) = kept(&[("in_app2", "1"), ("in_app", "null"), ("a", "0")]);
        let n = n.expect("kept");
        t.set_in_app(n, true);
        let written: Vec<(&str, &str)> = t.members(n).collect();
        assert_eq!(
            written,
            [
                ("a", "0"),
                ("in_app", "true"),
                ("in_app2", "1"),
                ("in_app_sdk", "null")
            ]
        );
        let (mut t, n) = kept(&[("in_app_sdk", "false"), ("function", r#""f""#)]);
        t.set_in_app(n.expect("kept"), false);
        let written: Vec<(&str, &str)> = t.members(0).collect();
        assert_eq!(
            written,
            [
                ("function", r#""f""#),
                ("in_app", "false"),
                ("in_app_sdk", "false")
            ]
        );
    }

    #[test]
    fn a_repeated_key_is_not_kept_and_stand_ins_are_checked() {
        let (t, n) = kept(&[("a", "1"), ("b", "2"), ("a", "3")]);
        assert_eq!(n, None);
        let pending: Vec<(&str, &str)> = t
            .pending(Begun {
                text: 0,
                members: 0,
            })
            .collect();
        assert_eq!(pending, [("a", "1"), ("a", "3"), ("b", "2")], "stable");
        let (t, _) = kept(&[("a", "1")]);
        assert!(t.number(&FrameText::marker(0)).is_some());
        assert!(
            t.number(&FrameText::marker(1)).is_none(),
            "not of this table"
        );
        let two = serde_json::json!({MARKER: 0, "x": 1});
        assert!(t.number(&two).is_none());
        assert!(NO_FRAMES.number(&FrameText::marker(0)).is_none());
    }

    #[test]
    fn fields_compare_as_tree_values() {
        let v = serde_json::json!("f");
        assert_eq!(Field::Text(r#""f""#, Some("f")), Field::Tree(&v));
        assert_eq!(Field::Text("1.0", None), Field::Text("1.00", None));
        assert_ne!(Field::Text("1", None), Field::Text("1.0", None));
        assert_ne!(Field::Text(r#""1""#, Some("1")), Field::Text("1", None));
        assert_eq!(Field::Bool(true), Field::Text("true", None));
    }
}
