//! List interfaces and stack traces (sentry-protocol.md 5.3, 5.4, 6 step 1 and 3):
//! `exception`, `threads` and `breadcrumbs` become `{"values": [...]}` whatever form they came
//! in; stack traces are capped; every frame gets its server-resolved `in_app` (7.4.2) with the
//! SDK's own value kept as `in_app_sdk`.

use serde_json::{Map, Value};

use super::in_app::{frame_platform, verdict, RUST_NOT_APP};
use super::notes::Notes;
use crate::event::lenient::py_str_owned;
use crate::event::{Frame, FrameText};

/// Most frames kept per stack trace; the oldest and newest halves survive.
pub const MAX_FRAMES: usize = 250;
/// Most breadcrumbs kept; the newest survive.
pub const MAX_BREADCRUMBS: usize = 100;

/// Normalizes `exception`, `threads`, top-level `stacktrace` and `breadcrumbs` in place.
/// `platform` is the event's (already defaulted) platform; `kept` holds the frames kept as
/// text, which get their in-app verdict there.
pub fn normalize(
    event: &mut Map<String, Value>,
    platform: &str,
    kept: &mut FrameText,
    notes: &mut Notes,
) {
    if let Some(list) = canonical_values(event, "exception", notes) {
        for (i, exc) in list.iter_mut().enumerate() {
            if let Value::Object(exc) = exc {
                normalize_exception(exc, i, platform, kept, notes);
            }
        }
    }
    if let Some(list) = canonical_values(event, "threads", notes) {
        for (i, thread) in list.iter_mut().enumerate() {
            if let Value::Object(thread) = thread {
                normalize_stacktrace_field(
                    thread,
                    "stacktrace",
                    &format!("threads.values.{i}"),
                    platform,
                    kept,
                    notes,
                );
            }
        }
    }
    normalize_stacktrace_field(event, "stacktrace", "", platform, kept, notes);
    if let Some(list) = canonical_values(event, "breadcrumbs", notes) {
        if list.len() > MAX_BREADCRUMBS {
            notes.list_trimmed("breadcrumbs.values", list.len());
            list.drain(..list.len() - MAX_BREADCRUMBS);
        }
    }
}

/// Brings `event[key]` into the `{"values": [objects…]}` form and returns the list. Accepts a
/// bare list or a single object; non-object entries are dropped (noted unless `null`).
fn canonical_values<'a>(
    event: &'a mut Map<String, Value>,
    key: &str,
    notes: &mut Notes,
) -> Option<&'a mut Vec<Value>> {
    match event.get(key)? {
        Value::Null => {
            event.remove(key);
            return None;
        }
        Value::Array(_) | Value::Object(_) => {}
        _ => {
            if let Some(v) = event.remove(key) {
                notes.invalid(key, &v);
            }
            return None;
        }
    }
    let slot = event.get_mut(key)?;
    let list = match slot {
        Value::Array(list) => std::mem::take(list),
        Value::Object(o) if !o.contains_key("values") => {
            if o.is_empty() {
                Vec::new()
            } else {
                vec![Value::Object(std::mem::take(o))]
            }
        }
        Value::Object(o) => match o.get_mut("values") {
            Some(Value::Array(list)) => std::mem::take(list),
            Some(Value::Null) | None => Vec::new(),
            Some(other) => {
                notes.invalid(&format!("{key}.values"), other);
                Vec::new()
            }
        },
        _ => return None,
    };
    let mut list = list;
    let mut index = 0usize;
    list.retain(|entry| {
        let keep = entry.is_object();
        if !keep && !entry.is_null() {
            notes.invalid(&format!("{key}.values.{index}"), entry);
        }
        index += 1;
        keep
    });
    // Keep the wrapper object's other keys (unknown keys survive).
    match slot {
        Value::Object(o) => {
            o.insert("values".to_owned(), Value::Array(list));
        }
        _ => {
            let mut o = Map::new();
            o.insert("values".to_owned(), Value::Array(list));
            *slot = Value::Object(o);
        }
    }
    match slot.get_mut("values") {
        Some(Value::Array(list)) => Some(list),
        _ => None,
    }
}

fn normalize_exception(
    exc: &mut Map<String, Value>,
    i: usize,
    platform: &str,
    kept: &mut FrameText,
    notes: &mut Notes,
) {
    let path = format!("exception.values.{i}");
    for key in ["type", "value"] {
        match exc.get_mut(key) {
            None | Some(Value::String(_)) => {}
            Some(Value::Null) => {
                exc.remove(key);
            }
            // A value may be any JSON (5.3: stringify); a type only a scalar.
            Some(v @ (Value::Number(_) | Value::Bool(_))) => *v = Value::String(py_str_owned(v)),
            Some(v) if key == "value" => *v = Value::String(v.to_string()),
            Some(_) => {
                if let Some(v) = exc.remove(key) {
                    notes.invalid(&format!("{path}.{key}"), &v);
                }
            }
        }
    }
    for (key, ok) in [
        ("module", Value::is_string as fn(&Value) -> bool),
        ("mechanism", Value::is_object),
    ] {
        if exc.get(key).is_some_and(|v| !ok(v) && !v.is_null()) {
            if let Some(v) = exc.remove(key) {
                notes.invalid(&format!("{path}.{key}"), &v);
            }
        }
    }
    normalize_stacktrace_field(exc, "stacktrace", &path, platform, kept, notes);
    normalize_stacktrace_field(exc, "raw_stacktrace", &path, platform, kept, notes);
}

/// Normalizes `parent[key]` as a stack trace, removing it when it is not one.
fn normalize_stacktrace_field(
    parent: &mut Map<String, Value>,
    key: &str,
    parent_path: &str,
    platform: &str,
    kept: &mut FrameText,
    notes: &mut Notes,
) {
    let name = || {
        if parent_path.is_empty() {
            key.to_owned()
        } else {
            format!("{parent_path}.{key}")
        }
    };
    match parent.get_mut(key) {
        None => {}
        Some(Value::Object(st)) => normalize_frames(st, &name, platform, kept, notes),
        Some(Value::Null) => {
            parent.remove(key);
        }
        Some(_) => {
            if let Some(v) = parent.remove(key) {
                notes.invalid(&name(), &v);
            }
        }
    }
}

fn normalize_frames(
    st: &mut Map<String, Value>,
    name: &dyn Fn() -> String,
    platform: &str,
    kept: &mut FrameText,
    notes: &mut Notes,
) {
    let frames = match st.get_mut("frames") {
        None => return,
        Some(Value::Array(frames)) => frames,
        Some(Value::Null) => {
            st.remove("frames");
            return;
        }
        Some(_) => {
            if let Some(v) = st.remove("frames") {
                notes.invalid(&format!("{}.frames", name()), &v);
            }
            return;
        }
    };
    if frames.iter().any(|f| !f.is_object()) {
        let mut index = 0usize;
        frames.retain(|f| {
            let keep = f.is_object();
            if !keep && !f.is_null() {
                notes.invalid(&format!("{}.frames.{index}", name()), f);
            }
            index += 1;
            keep
        });
    }
    let omitted = trim_frames(frames);
    for frame in frames.iter_mut() {
        resolve_frame_in_app(frame, platform, kept);
    }
    if let Some((start, end, original)) = omitted {
        notes.list_trimmed(&format!("{}.frames", name()), original);
        st.insert(
            "frames_omitted".to_owned(),
            Value::Array(vec![Value::from(start), Value::from(end)]),
        );
    }
}

/// Drops the middle of an over-long stack, keeping the oldest and newest halves (entry point
/// and crash site). Returns the omitted index range `[start, end)` and the original length.
fn trim_frames(frames: &mut Vec<Value>) -> Option<(usize, usize, usize)> {
    let original = frames.len();
    if original <= MAX_FRAMES {
        return None;
    }
    let head = MAX_FRAMES / 2;
    let tail = MAX_FRAMES - head;
    let end = original - tail;
    frames.drain(head..end);
    Some((head, end, original))
}

/// Stores the server's in-app verdict in `in_app` and the SDK's original (if it sent one) in
/// `in_app_sdk`; for a frame kept as text, beside its text (`FrameText::set_in_app`, which
/// writes it so). Idempotent: a second run keeps the first `in_app_sdk`.
fn resolve_frame_in_app(frame: &mut Value, platform: &str, kept: &mut FrameText) {
    let Some(view) = Frame::of(frame, kept) else {
        return;
    };
    let resolved = verdict(view, frame_platform(view, platform), RUST_NOT_APP);
    if let Some(n) = kept.number(frame) {
        kept.set_in_app(n, resolved);
    } else if let Value::Object(f) = frame {
        if let Some(sdk) = f.remove("in_app") {
            if !f.contains_key("in_app_sdk") {
                f.insert("in_app_sdk".to_owned(), sdk);
            }
        }
        f.insert("in_app".to_owned(), Value::Bool(resolved));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(v: Value, platform: &str) -> (Value, Vec<Value>) {
        let mut notes = Notes::default();
        let mut ev = match v {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        normalize(&mut ev, platform, &mut FrameText::default(), &mut notes);
        (Value::Object(ev), notes.entries().to_vec())
    }

    #[test]
    fn list_forms_become_values() {
        let single = json!({"exception": {"type": "E", "value": 3}});
        let (ev, _) = run(single, "python");
        assert_eq!(
            ev["exception"],
            json!({"values": [{"type": "E", "value": "3"}]})
        );
        let bare = json!({"exception": [{"type": "E"}, null, "junk"], "threads": [], "breadcrumbs": [{"message": "m"}]});
        let (ev, notes) = run(bare, "python");
        assert_eq!(ev["exception"], json!({"values": [{"type": "E"}]}));
        assert_eq!(ev["threads"], json!({"values": []}));
        assert_eq!(ev["breadcrumbs"], json!({"values": [{"message": "m"}]}));
        assert_eq!(notes.len(), 1);
        let (ev, notes) = run(json!({"exception": 5}), "python");
        assert_eq!(ev, json!({}));
        assert_eq!(notes.len(), 1);
    }

    #[test]
    fn in_app_resolved_and_sdk_value_kept() {
        let ev = json!({"exception": {"values": [{"type": "panic", "stacktrace": {"frames": [
            {"function": "main", "in_app": true},
            {"function": "myapp::run", "in_app": true},
            {"function": "sentry_panic::panic_handler", "in_app": true},
            {"function": "helper"},
        ]}}]}});
        let (ev, _) = run(ev, "native");
        let frames = &ev["exception"]["values"][0]["stacktrace"]["frames"];
        let got: Vec<(Value, Value)> = frames
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| {
                (
                    f["in_app"].clone(),
                    f.get("in_app_sdk").cloned().unwrap_or(Value::Null),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (json!(false), json!(true)),
                (json!(true), json!(true)),
                (json!(false), json!(true)),
                (json!(false), Value::Null),
            ]
        );
    }

    #[test]
    fn long_lists_are_trimmed_with_marker() {
        let frames: Vec<Value> = (0..300)
            .map(|i| json!({"function": format!("f{i}")}))
            .collect();
        let crumbs: Vec<Value> = (0..150).map(|i| json!({"message": i})).collect();
        let (ev, notes) = run(
            json!({"stacktrace": {"frames": frames}, "breadcrumbs": {"values": crumbs}}),
            "python",
        );
        let frames = ev["stacktrace"]["frames"].as_array().map(Vec::len);
        assert_eq!(frames, Some(MAX_FRAMES));
        assert_eq!(ev["stacktrace"]["frames"][124]["function"], "f124");
        assert_eq!(ev["stacktrace"]["frames"][125]["function"], "f175");
        assert_eq!(ev["stacktrace"]["frames_omitted"], json!([125, 175]));
        assert_eq!(ev["breadcrumbs"]["values"][0]["message"], 50);
        assert_eq!(
            ev["breadcrumbs"]["values"].as_array().map(Vec::len),
            Some(100)
        );
        assert_eq!(notes.len(), 2);
    }

    #[test]
    fn wrong_stacktrace_types_are_dropped() {
        let (ev, notes) = run(
            json!({"exception": [{"type": {"x": 1}, "stacktrace": "nope", "mechanism": 3}]}),
            "python",
        );
        assert_eq!(ev["exception"], json!({"values": [{}]}));
        assert_eq!(notes.len(), 3);
    }
}
