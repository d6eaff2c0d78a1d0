//! The default grouping component (sentry-protocol.md 7.4.1 step 2): exception, threads,
//! legacy stacktrace, message, fallback — the first that yields values wins.

use serde_json::Value;

use super::exception::{event_exceptions, exception_values, interface_values, select_exceptions};
use super::in_app::is_truthy;
use super::message::normalize_message;
use super::py_str;
use super::stack::stack_values;

/// Kind and contributing values of the default component.
pub fn default_component(event: &Value) -> (&'static str, Vec<String>) {
    let platform = event_platform(event);
    if let Some(found) = exception_component(event, platform) {
        return found;
    }
    if let Some(found) = threads_component(event, platform) {
        return found;
    }
    if let Some(st) = event.get("stacktrace").filter(|s| is_truthy(Some(s))) {
        if let Some(found) = app_then_system(st, platform, "stacktrace-app", "stacktrace-system") {
            return found;
        }
    }
    if let Some(msg) = message_text(event) {
        return (
            "message",
            vec![format!("message:{}", normalize_message(&msg))],
        );
    }
    ("fallback", Vec::new())
}

/// The event's non-empty `platform`, else `other`.
pub fn event_platform(event: &Value) -> &str {
    event
        .get("platform")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("other")
}

fn exception_component(event: &Value, platform: &str) -> Option<(&'static str, Vec<String>)> {
    let excs = event_exceptions(event);
    if excs.is_empty() {
        return None;
    }
    let selected = select_exceptions(&excs, platform).exceptions;
    let mut last = Vec::new();
    for (app_only, kind) in [(true, "exception-app"), (false, "exception-system")] {
        let parts: Vec<(Vec<String>, bool)> = selected
            .iter()
            .map(|e| exception_values(e, platform, app_only))
            .collect();
        let any_stack = parts.iter().any(|(_, has_stack)| *has_stack);
        let values: Vec<String> = parts.into_iter().flat_map(|(v, _)| v).collect();
        if any_stack {
            return Some((kind, values));
        }
        last = values;
    }
    // No stack contributed in either pass; both passes yield the same types and values.
    (!last.is_empty()).then_some(("exception", last))
}

fn threads_component(event: &Value, platform: &str) -> Option<(&'static str, Vec<String>)> {
    let threads = interface_values(event.get("threads"));
    let picks: [&dyn Fn(&Value) -> bool; 3] = [
        &|t| is_truthy(t.get("crashed")),
        &|t| is_truthy(t.get("current")),
        &|_| true,
    ];
    for pick in picks {
        let mut chosen = threads.iter().filter(|t| pick(t));
        let (Some(thread), None) = (chosen.next(), chosen.next()) else {
            continue;
        };
        let Some(st) = thread.get("stacktrace").filter(|s| is_truthy(Some(s))) else {
            continue;
        };
        // The single chosen thread decides; later picks are not tried.
        return app_then_system(st, platform, "threads-app", "threads-system");
    }
    None
}

fn app_then_system(
    st: &Value,
    platform: &str,
    app_kind: &'static str,
    system_kind: &'static str,
) -> Option<(&'static str, Vec<String>)> {
    let app = stack_values(st, platform, true);
    if !app.is_empty() {
        return Some((app_kind, app));
    }
    let system = stack_values(st, platform, false);
    (!system.is_empty()).then_some((system_kind, system))
}

/// `logentry.message` (the template) ∥ `logentry.formatted` ∥ the top-level `message`
/// (string, or object with `message`/`formatted`), as non-empty text.
pub fn message_text(event: &Value) -> Option<String> {
    let entry = event
        .get("logentry")
        .filter(|v| is_truthy(Some(v)))
        .or_else(|| event.get("sentry.interfaces.Message"));
    let from_object = |o: &Value| -> Option<String> {
        ["message", "formatted"]
            .iter()
            .map(|k| o.get(*k))
            .find(|v| is_truthy(*v))
            .flatten()
            .map(|v| py_str(v).into_owned())
    };
    if let Some(le) = entry.filter(|e| e.is_object()) {
        if let Some(text) = from_object(le) {
            return Some(text);
        }
    }
    match event.get("message") {
        Some(m @ Value::Object(_)) => from_object(m),
        m if is_truthy(m) => m.map(|v| py_str(v).into_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exception_without_stack_uses_type_and_value() {
        let ev = json!({"exception": {"values": [{"type": "KeyError", "value": "'id 42'"}]}});
        assert_eq!(
            default_component(&ev),
            (
                "exception",
                vec!["type:KeyError".to_owned(), "value:'id <int>'".to_owned()]
            )
        );
    }

    #[test]
    fn system_pass_when_no_app_frames() {
        let ev = json!({"platform": "python", "exception": {"values": [{"type": "E",
            "stacktrace": {"frames": [{"module": "lib", "function": "f"}]}}]}});
        assert_eq!(default_component(&ev).0, "exception-system");
    }

    #[test]
    fn threads_pick_crashed_then_current_then_only() {
        let st = |f: &str| json!({"frames": [{"module": "m", "function": f, "in_app": true}]});
        let ev = json!({"threads": {"values": [
            {"current": true, "stacktrace": st("a")},
            {"crashed": true, "stacktrace": st("b")},
        ]}});
        assert_eq!(default_component(&ev).1, ["module:m", "fn:b"]);
        let ev = json!({"threads": [{"stacktrace": st("c")}]});
        assert_eq!(
            default_component(&ev),
            (
                "threads-app",
                vec!["module:m".to_owned(), "fn:c".to_owned()]
            )
        );
        // Two candidate threads and none marked: threads do not contribute.
        let ev =
            json!({"threads": [{"stacktrace": st("c")}, {"stacktrace": st("d")}], "message": "x"});
        assert_eq!(default_component(&ev).0, "message");
    }

    #[test]
    fn legacy_stacktrace_then_message_then_fallback() {
        let ev = json!({"stacktrace": {"frames": [{"module": "m", "function": "f"}]}});
        assert_eq!(default_component(&ev).0, "stacktrace-system");
        let ev = json!({"logentry": {"message": "User %s hit %d", "formatted": "User a hit 3"}});
        assert_eq!(default_component(&ev).1, ["message:User %s hit %d"]);
        let ev = json!({"logentry": {"formatted": "took 3 ms"}});
        assert_eq!(default_component(&ev).1, ["message:took <int> ms"]);
        let ev = json!({"message": {"message": "m 1"}});
        assert_eq!(default_component(&ev).1, ["message:m <int>"]);
        assert_eq!(default_component(&json!({})), ("fallback", vec![]));
    }
}
