//! How the lenient protocol's JSON reads (sentry-protocol.md 5: "be lenient"), shared by the
//! view's accessors and by normalization, which writes what the view later reads.

use std::borrow::Cow;
use std::sync::LazyLock;

use serde_json::{Map, Value};

use super::data::Data;
use super::frame_text::{FrameText, NO_FRAMES};

/// Accessors that each read one field of the backing object `self.$object` with one of
/// [`Object`]'s readers: `name: reader("key") -> Type;`, documentation first.
macro_rules! fields {
    ($object:tt => $( $(#[$doc:meta])* $name:ident: $reader:ident($key:literal) -> $ty:ty; )*) => {
        $(
            $(#[$doc])*
            pub fn $name(&self) -> $ty {
                self.$object.$reader($key)
            }
        )*
    };
}
pub(crate) use fields;

/// Python's `str()` of a JSON value, which the grouping reference applies to types, values and
/// fingerprint entries: strings as is, `True`/`False`, `None`, numbers as JSON prints them.
pub(crate) fn py_str(v: &Value) -> Cow<'_, str> {
    match v {
        Value::String(s) => Cow::Borrowed(s),
        Value::Bool(true) => Cow::Borrowed("True"),
        Value::Bool(false) => Cow::Borrowed("False"),
        Value::Null => Cow::Borrowed("None"),
        other => Cow::Owned(other.to_string()),
    }
}

/// Owned [`py_str`]: how a JSON scalar reads as text (tag values, user ids, message params).
pub(crate) fn py_str_owned(v: &Value) -> String {
    py_str(v).into_owned()
}

/// Python truthiness of an optional JSON value (how SDK flags such as `synthetic: 1` read).
pub(crate) fn is_truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

/// What a non-object reads as.
static EMPTY: LazyLock<Map<String, Value>> = LazyLock::new(Map::new);

/// One JSON object of the event, read leniently: every accessor of the view goes through
/// these few methods. It carries the event's kept frames ([`FrameText`]), which the tree's
/// frames may stand for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Object<'a> {
    map: &'a Map<String, Value>,
    frames: &'a FrameText,
}

impl<'a> Object<'a> {
    /// The value as an object; anything else reads as an empty object. Its frames are all in
    /// the tree.
    pub(crate) fn or_empty(v: &'a Value) -> Self {
        Object::with_frames(v, &NO_FRAMES)
    }

    /// [`Object::or_empty`] of an event whose kept frames are `frames`.
    pub(crate) fn with_frames(v: &'a Value, frames: &'a FrameText) -> Self {
        Object {
            map: v.as_object().unwrap_or(&EMPTY),
            frames,
        }
    }

    /// The value as an object.
    pub(crate) fn of(v: &'a Value) -> Option<Self> {
        Object::or_empty(v).child(v)
    }

    /// The value as an object with at least one field (an entry with no fields says nothing).
    pub(crate) fn non_empty(v: &'a Value) -> Option<Self> {
        Object::or_empty(v).non_empty_child(v)
    }

    /// `v`, a value of the same event, as an object.
    pub(crate) fn child(self, v: &'a Value) -> Option<Self> {
        v.as_object().map(|map| Object {
            map,
            frames: self.frames,
        })
    }

    /// `v`, a value of the same event, as an object with at least one field.
    pub(crate) fn non_empty_child(self, v: &'a Value) -> Option<Self> {
        self.child(v).filter(|o| !o.map.is_empty())
    }

    /// The event's kept frames.
    pub(crate) fn frames(self) -> &'a FrameText {
        self.frames
    }

    /// The field, `None` when absent or `null`.
    pub(crate) fn get(self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// The field as a non-empty string.
    pub(crate) fn str(self, key: &str) -> Option<&'a str> {
        self.map
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The field as Python reads it in a condition.
    pub(crate) fn flag(self, key: &str) -> bool {
        is_truthy(self.map.get(key))
    }

    /// The field as a JSON boolean.
    pub(crate) fn bool(self, key: &str) -> Option<bool> {
        self.map.get(key).and_then(Value::as_bool)
    }

    /// The field as a non-negative integer.
    pub(crate) fn u64(self, key: &str) -> Option<u64> {
        self.map.get(key).and_then(Value::as_u64)
    }

    /// The field as free-form data, `None` when absent or `null`.
    pub(crate) fn data(self, key: &str) -> Option<Data<'a>> {
        self.get(key).map(Data::json)
    }

    /// The field as an object with at least one field.
    pub(crate) fn object(self, key: &str) -> Option<Object<'a>> {
        self.map.get(key).and_then(|v| self.non_empty_child(v))
    }

    /// The field as a list (empty when it is not one).
    pub(crate) fn list(self, key: &str) -> &'a [Value] {
        self.map
            .get(key)
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    /// `key.values` as a list: the canonical form of the list interfaces (5.1).
    pub(crate) fn values(self, key: &str) -> &'a [Value] {
        self.map
            .get(key)
            .and_then(|v| self.child(v))
            .map_or(&[], |o| o.list("values"))
    }

    /// The members, in key order.
    pub(crate) fn members(self) -> serde_json::map::Iter<'a> {
        self.map.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_reading_of_scalars() {
        assert_eq!(py_str(&json!(true)), "True");
        assert_eq!(py_str(&json!(null)), "None");
        assert_eq!(py_str(&json!(1.5)), "1.5");
        for (v, want) in [
            (json!(0), false),
            (json!(2), true),
            (json!(""), false),
            (json!("x"), true),
            (json!([]), false),
            (json!({"a": 1}), true),
            (json!(null), false),
        ] {
            assert_eq!(is_truthy(Some(&v)), want, "{v}");
        }
        assert!(!is_truthy(None));
    }

    #[test]
    fn objects_read_leniently() {
        let v = json!({"s": "x", "e": "", "n": 3, "nil": null, "l": [1], "v": {"values": [2]}});
        let o = Object::or_empty(&v);
        assert_eq!(o.str("s"), Some("x"));
        assert_eq!(o.str("e"), None);
        assert_eq!(o.str("n"), None);
        assert!(o.get("nil").is_none());
        assert_eq!(o.list("l").len(), 1);
        assert!(o.list("s").is_empty());
        assert_eq!(o.values("v"), [json!(2)]);
        assert!(Object::non_empty(&json!({})).is_none());
        assert_eq!(Object::or_empty(&json!(3)).members().count(), 0);
    }
}
