//! The default grouping component (sentry-protocol.md 7.4.1 step 2): exception, threads,
//! legacy stacktrace, message, fallback — the first that yields values wins.

use super::exception::{exception_values, select_exceptions};
use super::message::normalize_message;
use super::stack::stack_values;
use crate::event::{EventView, Exception, Stacktrace, Thread};

/// Kind and contributing values of the default component.
pub fn default_component(event: &EventView<'_>) -> (&'static str, Vec<String>) {
    let platform = event.platform();
    if let Some(found) = exception_component(event, platform) {
        return found;
    }
    if let Some(found) = threads_component(event, platform) {
        return found;
    }
    if let Some(st) = event.stacktrace() {
        if let Some(found) = app_then_system(st, platform, "stacktrace-app", "stacktrace-system") {
            return found;
        }
    }
    if let Some(msg) = message_text(event) {
        return (
            "message",
            vec![format!("message:{}", normalize_message(msg))],
        );
    }
    ("fallback", Vec::new())
}

fn exception_component(
    event: &EventView<'_>,
    platform: &str,
) -> Option<(&'static str, Vec<String>)> {
    let excs: Vec<Exception<'_>> = event.exceptions().collect();
    if excs.is_empty() {
        return None;
    }
    let selected = select_exceptions(&excs, platform).exceptions;
    let mut last = Vec::new();
    for (app_only, kind) in [(true, "exception-app"), (false, "exception-system")] {
        let parts: Vec<(Vec<String>, bool)> = selected
            .iter()
            .map(|&e| exception_values(e, platform, app_only))
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

fn threads_component(event: &EventView<'_>, platform: &str) -> Option<(&'static str, Vec<String>)> {
    let picks: [fn(&Thread<'_>) -> bool; 3] = [|t| t.crashed(), |t| t.current(), |_| true];
    for pick in picks {
        let mut chosen = event.threads().filter(pick);
        let (Some(thread), None) = (chosen.next(), chosen.next()) else {
            continue;
        };
        let Some(st) = thread.stacktrace() else {
            continue;
        };
        // The single chosen thread decides; later picks are not tried.
        return app_then_system(st, platform, "threads-app", "threads-system");
    }
    None
}

fn app_then_system(
    st: Stacktrace<'_>,
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

/// The text messages group by (7.4.1 d): the template, else the formatted text, of the
/// `logentry` and then of a top-level `message` beside it.
fn message_text<'a>(event: &EventView<'a>) -> Option<&'a str> {
    event
        .messages()
        .find_map(|m| m.template().or_else(|| m.formatted()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grouping::tests::normalized;
    use serde_json::{json, Value};

    fn default_component(event: Value) -> (&'static str, Vec<String>) {
        let event = normalized(event);
        super::default_component(&EventView::new(&event))
    }

    #[test]
    fn exception_without_stack_uses_type_and_value() {
        let ev = json!({"exception": {"values": [{"type": "KeyError", "value": "'id 42'"}]}});
        assert_eq!(
            default_component(ev),
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
        assert_eq!(default_component(ev).0, "exception-system");
    }

    #[test]
    fn threads_pick_crashed_then_current_then_only() {
        let st = |f: &str| json!({"frames": [{"module": "m", "function": f, "in_app": true}]});
        let ev = json!({"threads": {"values": [
            {"current": true, "stacktrace": st("a")},
            {"crashed": true, "stacktrace": st("b")},
        ]}});
        assert_eq!(default_component(ev).1, ["module:m", "fn:b"]);
        let ev = json!({"threads": [{"stacktrace": st("c")}]});
        assert_eq!(
            default_component(ev),
            (
                "threads-app",
                vec!["module:m".to_owned(), "fn:c".to_owned()]
            )
        );
        // Two candidate threads and none marked: threads do not contribute.
        let ev =
            json!({"threads": [{"stacktrace": st("c")}, {"stacktrace": st("d")}], "message": "x"});
        assert_eq!(default_component(ev).0, "message");
    }

    #[test]
    fn legacy_stacktrace_then_message_then_fallback() {
        let ev = json!({"stacktrace": {"frames": [{"module": "m", "function": "f"}]}});
        assert_eq!(default_component(ev).0, "stacktrace-system");
        let ev = json!({"logentry": {"message": "User %s hit %d", "formatted": "User a hit 3"}});
        assert_eq!(default_component(ev).1, ["message:User %s hit %d"]);
        let ev = json!({"logentry": {"formatted": "took 3 ms"}});
        assert_eq!(default_component(ev).1, ["message:took <int> ms"]);
        let ev = json!({"message": {"message": "m 1"}});
        assert_eq!(default_component(ev).1, ["message:m <int>"]);
        assert_eq!(default_component(json!({})), ("fallback", vec![]));
    }
}
