//! Display title and culprit (sentry-protocol.md 7.4.8). Display only, never grouping.
//!
//! Title: the main exception (the last one, or the one exception-group filtering selects) as
//! `<type>: <first line of value>`, `<type>` or the value alone; for a synthetic exception
//! (a stack vehicle, e.g. Node's `captureMessage`) the event's message, else the crash frame's
//! function, else its value; without exception the message (`logentry.formatted` ∥ template ∥
//! `message`); else `<unlabeled event>`. At most 200 characters.
//!
//! Culprit: `transaction`, else the newest in-app frame as `module in function`
//! (`filename in function` without module).

use serde_json::Value;

use crate::grouping::{event_exceptions, event_platform, select_exceptions};

/// Longest title / culprit, in characters (the cut one ends in `…`).
pub const MAX_TITLE_CHARS: usize = 200;

/// The event's display title.
pub fn title(event: &Value) -> String {
    let excs = event_exceptions(event);
    let main = select_exceptions(&excs, event_platform(event)).main;
    let text = main
        .and_then(|exc| exception_title(event, exc))
        .or_else(|| message_line(event))
        .unwrap_or_else(|| "<unlabeled event>".to_owned());
    cap(text)
}

fn exception_title(event: &Value, exc: &Value) -> Option<String> {
    let ty = non_empty(exc.get("type"));
    let value = non_empty(exc.get("value")).and_then(first_line);
    let synthetic = exc
        .get("mechanism")
        .and_then(|m| m.get("synthetic"))
        .and_then(Value::as_bool)
        == Some(true);
    if synthetic {
        let crash_fn = exc
            .get("stacktrace")
            .and_then(|s| s.get("frames"))
            .and_then(Value::as_array)
            .and_then(|f| f.last())
            .and_then(|f| non_empty(f.get("function")));
        return message_line(event)
            .or_else(|| crash_fn.map(str::to_owned))
            .or_else(|| value.map(str::to_owned));
    }
    match (ty, value) {
        (Some(t), Some(v)) => Some(format!("{t}: {v}")),
        (Some(t), None) => Some(t.to_owned()),
        (None, Some(v)) => Some(v.to_owned()),
        (None, None) => None,
    }
}

/// First line of `logentry.formatted` ∥ `logentry.message` ∥ a top-level string `message`.
fn message_line(event: &Value) -> Option<String> {
    let le = event.get("logentry");
    [
        le.and_then(|l| l.get("formatted")),
        le.and_then(|l| l.get("message")),
        event.get("message"),
    ]
    .into_iter()
    .find_map(|v| non_empty(v).and_then(first_line))
    .map(str::to_owned)
}

fn non_empty(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The first non-blank line, trimmed.
fn first_line(s: &str) -> Option<&str> {
    s.lines().map(str::trim).find(|l| !l.is_empty())
}

fn cap(mut s: String) -> String {
    if let Some((cut, _)) = s.char_indices().nth(MAX_TITLE_CHARS - 1) {
        if s[cut..].chars().nth(1).is_some() {
            s.truncate(cut);
            s.push('…');
        }
    }
    s
}

/// The event's culprit, if any.
pub fn culprit(event: &Value) -> Option<String> {
    if let Some(t) = non_empty(event.get("transaction")) {
        return Some(cap(t.to_owned()));
    }
    let excs = event_exceptions(event);
    let main = select_exceptions(&excs, event_platform(event)).main;
    let mut stacks: Vec<&Value> = Vec::new();
    stacks.extend(main.and_then(|e| e.get("stacktrace")));
    stacks.extend(excs.iter().rev().filter_map(|e| e.get("stacktrace")));
    if let Some(Value::Array(threads)) = event.get("threads").and_then(|t| t.get("values")) {
        stacks.extend(threads.iter().filter_map(|t| t.get("stacktrace")));
    }
    stacks.extend(event.get("stacktrace"));
    stacks
        .into_iter()
        .filter_map(|st| st.get("frames").and_then(Value::as_array))
        .find_map(|frames| {
            frames
                .iter()
                .rev()
                .filter(|f| f.get("in_app").and_then(Value::as_bool) == Some(true))
                .find_map(frame_location)
        })
        .map(cap)
}

fn frame_location(frame: &Value) -> Option<String> {
    let place = non_empty(frame.get("module")).or_else(|| non_empty(frame.get("filename")));
    let func = non_empty(frame.get("function"));
    match (place, func) {
        (Some(p), Some(f)) => Some(format!("{p} in {f}")),
        (Some(x), None) | (None, Some(x)) => Some(x.to_owned()),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn titles() {
        let ev = json!({"exception": {"values": [
            {"type": "ValueError", "value": "inner"},
            {"type": "PaymentError", "value": "\ncharge failed\nmore"},
        ]}});
        assert_eq!(title(&ev), "PaymentError: charge failed");
        assert_eq!(
            title(&json!({"exception": {"values": [{"type": "E"}]}})),
            "E"
        );
        assert_eq!(
            title(&json!({"exception": {"values": [{"value": "v"}]}})),
            "v"
        );
        assert_eq!(
            title(&json!({"logentry": {"message": "m %s", "formatted": "m x\ny"}})),
            "m x"
        );
        assert_eq!(title(&json!({"logentry": {"message": "m %s"}})), "m %s");
        assert_eq!(title(&json!({})), "<unlabeled event>");
        let long = title(&json!({"logentry": {"formatted": "x".repeat(500)}}));
        assert_eq!(long.chars().count(), MAX_TITLE_CHARS);
        let exact = "y".repeat(MAX_TITLE_CHARS);
        assert_eq!(
            title(&json!({"logentry": {"formatted": exact.clone()}})),
            exact
        );
    }

    #[test]
    fn synthetic_exception_titles() {
        let exc = json!({"value": "Something odd", "mechanism": {"synthetic": true, "type": "generic"},
                         "stacktrace": {"frames": [{"function": "handler"}]}});
        let ev = json!({"logentry": {"formatted": "Something odd"}, "exception": {"values": [exc.clone()]}});
        assert_eq!(title(&ev), "Something odd");
        let ev = json!({"exception": {"values": [exc]}});
        assert_eq!(title(&ev), "handler");
    }

    #[test]
    fn exception_group_title_uses_selected_main() {
        let ev = json!({"exception": {"values": [
            {"type": "ValueError", "value": "a", "mechanism": {"exception_id": 1, "parent_id": 0}},
            {"type": "ExceptionGroup", "value": "g", "mechanism": {"exception_id": 0, "is_exception_group": true}},
        ]}});
        assert_eq!(title(&ev), "ValueError: a");
    }

    #[test]
    fn culprits() {
        assert_eq!(
            culprit(&json!({"transaction": "GET /x"})).as_deref(),
            Some("GET /x")
        );
        let ev = json!({"exception": {"values": [{"type": "E", "stacktrace": {"frames": [
            {"module": "app.a", "function": "outer", "in_app": true},
            {"filename": "app/b.py", "function": "inner", "in_app": true},
            {"module": "lib", "function": "deep", "in_app": false},
        ]}}]}});
        assert_eq!(culprit(&ev).as_deref(), Some("app/b.py in inner"));
        assert_eq!(culprit(&json!({"message": "x"})), None);
    }
}
