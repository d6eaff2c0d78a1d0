//! Free-form values: `extra`, frame `vars`, context fields, request bodies, breadcrumb `data`.
//! The protocol lets these hold any JSON (sentry-protocol.md 5.1, 5.4); the view hands them out
//! as [`Data`], which lists its members and displays itself.

use std::fmt;

use serde_json::Value;

/// A borrowed free-form value of the event: a string, number, boolean, list or object.
#[derive(Debug, Clone, Copy)]
pub struct Data<'a>(Repr<'a>);

#[derive(Debug, Clone, Copy)]
enum Repr<'a> {
    /// A string that is not itself a JSON value (an object's key).
    Key(&'a str),
    Json(&'a Value),
}

impl<'a> Data<'a> {
    pub(crate) fn json(v: &'a Value) -> Self {
        Data(Repr::Json(v))
    }

    pub(crate) fn key(k: &'a str) -> Self {
        Data(Repr::Key(k))
    }

    /// The value when it is a string.
    pub fn as_str(&self) -> Option<&'a str> {
        match self.0 {
            Repr::Key(k) => Some(k),
            Repr::Json(v) => v.as_str(),
        }
    }

    /// Whether the value is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self.0, Repr::Json(Value::Null))
    }

    /// An object's members in key order, `None` when the value is not an object.
    pub fn members(&self) -> Option<impl Iterator<Item = (&'a str, Data<'a>)> + 'a> {
        match self.0 {
            Repr::Json(Value::Object(map)) => {
                Some(map.iter().map(|(k, v)| (k.as_str(), Data::json(v))))
            }
            _ => None,
        }
    }

    /// A list's items in order, `None` when the value is not a list.
    pub fn items(&self) -> Option<impl Iterator<Item = Data<'a>> + 'a> {
        match self.0 {
            Repr::Json(Value::Array(list)) => Some(list.iter().map(Data::json)),
            _ => None,
        }
    }
}

/// Strings as they are, anything else as compact JSON (`null`, `3`, `{"k":[1]}`).
impl fmt::Display for Data<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Repr::Key(s) => f.write_str(s),
            Repr::Json(Value::String(s)) => f.write_str(s),
            Repr::Json(other) => write!(f, "{other}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn display_and_structure() {
        let v = json!({"b": {"k": [1, null]}, "a": "<s>"});
        let d = Data::json(&v);
        let members: Vec<(&str, String)> = d
            .members()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k, v.to_string()))
            .collect();
        assert_eq!(
            members,
            [
                ("a", "<s>".to_owned()),
                ("b", r#"{"k":[1,null]}"#.to_owned())
            ]
        );
        assert!(d.items().is_none());
        let list = json!([1, "x"]);
        let items: Vec<String> = Data::json(&list)
            .items()
            .into_iter()
            .flatten()
            .map(|d| d.to_string())
            .collect();
        assert_eq!(items, ["1", "x"]);
        assert!(Data::json(&json!(null)).is_null());
        assert_eq!(Data::json(&json!(null)).to_string(), "null");
        assert_eq!(Data::key("k").as_str(), Some("k"));
    }
}
