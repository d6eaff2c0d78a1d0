//! Oversized strings anywhere in the event (locals, extra, request bodies, …) are cut to
//! [`MAX_STRING_BYTES`] with a trailing `…` and noted as `value_too_long` with their path;
//! containers nested deeper than a stored event may be ([`MAX_NESTING`]) become `null`, noted
//! as `invalid_data`.
//!
//! One pass over the tree, in place; paths are only formatted for values that are cut.

use serde_json::Value;

use super::notes::Notes;

/// Longest string kept verbatim, in bytes (16 KiB).
pub const MAX_STRING_BYTES: usize = 16 * 1024;

/// Containers a stored event may nest, the event object included: serde_json refuses to read
/// a document nested one level deeper. The input was within it, but normalization can nest a
/// value deeper than it was sent (a bare list interface becomes `{"values": [...]}`).
pub const MAX_NESTING: usize = 127;

/// One step of a path, borrowed from the tree.
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// Trims every oversized string in `value`, noting each under `root`'s dotted path.
pub fn trim_strings(value: &mut Value, notes: &mut Notes) {
    let mut path = Vec::new();
    walk(value, &mut path, notes);
}

fn walk<'a>(value: &'a mut Value, path: &mut Vec<Seg<'a>>, notes: &mut Notes) {
    match value {
        Value::String(s) if s.len() > MAX_STRING_BYTES => {
            notes.too_long(&render(path), s.len());
            let ellipsis = '…';
            let mut cut = MAX_STRING_BYTES - ellipsis.len_utf8();
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
            s.push(ellipsis);
        }
        // `path` names the value's parents below the event object: it sits at nesting level
        // `path.len() + 1`.
        Value::Array(_) | Value::Object(_) if path.len() >= MAX_NESTING => {
            notes.invalid(&render(path), value);
            *value = Value::Null;
        }
        Value::Array(list) => {
            for (i, item) in list.iter_mut().enumerate() {
                path.push(Seg::Index(i));
                walk(item, path, notes);
                path.pop();
            }
        }
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                path.push(Seg::Key(k));
                walk(item, path, notes);
                path.pop();
            }
        }
        _ => {}
    }
}

fn render(path: &[Seg<'_>]) -> String {
    let mut out = String::new();
    for (i, seg) in path.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        match seg {
            Seg::Key(k) => out.push_str(k),
            Seg::Index(n) => out.push_str(&n.to_string()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn long_strings_are_cut_with_marker_and_noted() {
        let mut v = json!({"extra": {"blob": "é".repeat(MAX_STRING_BYTES)}, "short": "x",
                           "list": ["a", "b".repeat(MAX_STRING_BYTES + 1)]});
        let mut notes = Notes::default();
        trim_strings(&mut v, &mut notes);
        let blob = v["extra"]["blob"].as_str().unwrap_or("");
        assert!(blob.len() <= MAX_STRING_BYTES);
        assert!(blob.ends_with('…'));
        assert_eq!(v["short"], "x");
        assert_eq!(v["list"][1].as_str().map(str::len), Some(MAX_STRING_BYTES));
        let names: Vec<&str> = notes
            .entries()
            .iter()
            .filter_map(|n| n["name"].as_str())
            .collect();
        assert_eq!(names, ["extra.blob", "list.1"]);
        assert_eq!(notes.entries()[0]["value"], 2 * MAX_STRING_BYTES);
    }

    #[test]
    fn containers_past_the_nesting_limit_become_null_and_are_noted() {
        // The event is level 1, `ok` and `deep` level 2, `x` level 3. The 126 arrays of `ok`
        // end at level 127, the deepest a stored event may have; those of `x` one deeper, so
        // the innermost is cut.
        let nested = |n: usize| (0..n).fold(json!(1), |v, _| json!([v]));
        let mut v = json!({"ok": nested(126), "deep": {"x": nested(126)}});
        let mut notes = Notes::default();
        trim_strings(&mut v, &mut notes);
        assert_eq!(v["ok"], nested(126));
        let mut inner = &v["deep"]["x"];
        for _ in 0..124 {
            inner = &inner[0];
        }
        assert_eq!(inner, &json!([null]));
        assert_eq!(notes.entries().len(), 1);
        assert_eq!(notes.entries()[0]["type"], "invalid_data");
        assert_eq!(
            notes.entries()[0]["name"]
                .as_str()
                .map(|n| n.matches(".0").count()),
            Some(125)
        );
    }
}
