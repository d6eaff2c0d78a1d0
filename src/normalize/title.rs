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

use crate::event::{EventView, Exception, Frame};

/// Longest title / culprit, in characters (the cut one ends in `…`).
pub const MAX_TITLE_CHARS: usize = 200;

/// The event's display title; `main` is the event's
/// [`main_exception`](crate::grouping::main_exception), computed once for both the title and
/// the [`culprit`] (with exception groups it compares every top-level exception's stack).
pub fn title(event: &EventView<'_>, main: Option<Exception<'_>>) -> String {
    let text = main
        .and_then(|exc| exception_title(event, exc))
        .or_else(|| message_line(event))
        .unwrap_or_else(|| "<unlabeled event>".to_owned());
    cap(text)
}

fn exception_title(event: &EventView<'_>, exc: Exception<'_>) -> Option<String> {
    let ty = trimmed(exc.ty());
    let value = trimmed(exc.value()).and_then(first_line);
    if exc.is_synthetic() {
        let crash_fn = exc
            .stacktrace()
            .and_then(|s| s.frames().next_back())
            .and_then(|f| trimmed(f.function()));
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

/// First line of the message: `logentry.formatted` ∥ `logentry.message` (the template) ∥ a
/// top-level `message` kept beside the `logentry`.
fn message_line(event: &EventView<'_>) -> Option<String> {
    event
        .messages()
        .flat_map(|m| [m.formatted(), m.template()])
        .flatten()
        .find_map(first_line)
        .map(str::to_owned)
}

/// The text trimmed, `None` when nothing is left.
fn trimmed(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
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

/// The event's culprit, if any; `main` is the event's main exception, as for [`title`].
pub fn culprit(event: &EventView<'_>, main: Option<Exception<'_>>) -> Option<String> {
    if let Some(t) = trimmed(event.transaction()) {
        return Some(cap(t.to_owned()));
    }
    let main = main.and_then(|e| e.stacktrace());
    let mut stacks = main
        .into_iter()
        .chain(event.exceptions().rev().filter_map(|e| e.stacktrace()))
        .chain(event.threads().filter_map(|t| t.stacktrace()))
        .chain(event.stacktrace());
    stacks
        .find_map(|st| {
            st.frames()
                .rev()
                .filter(Frame::in_app)
                .find_map(frame_location)
        })
        .map(cap)
}

fn frame_location(frame: Frame<'_>) -> Option<String> {
    let place = trimmed(frame.module()).or_else(|| trimmed(frame.filename()));
    let func = trimmed(frame.function());
    match (place, func) {
        (Some(p), Some(f)) => Some(format!("{p} in {f}")),
        (Some(x), None) | (None, Some(x)) => Some(x.to_owned()),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grouping::main_exception;
    use serde_json::{json, Value};

    fn title(event: &Value) -> String {
        let view = EventView::new(event);
        super::title(&view, main_exception(&view))
    }

    fn culprit(event: &Value) -> Option<String> {
        let view = EventView::new(event);
        super::culprit(&view, main_exception(&view))
    }

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
