//! Client fingerprints and their variables (sentry-protocol.md 7.4.6).

use std::sync::LazyLock;

use regex::Regex;

use crate::event::{EventView, Frame};

/// `{{ name }}` with free spacing inside the braces.
static VARIABLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\{\{\s*(\S+)\s*\}\}$").expect("the variable pattern is a valid literal regex")
});

/// The variable name of an entry like `{{ tags.region }}`.
fn variable(entry: &str) -> Option<&str> {
    VARIABLE
        .captures(entry)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str())
}

/// Applies the fingerprint to the default component. Returns the final kind and values, or
/// `None` when the default grouping stands (no fingerprint, or exactly `["{{ default }}"]`).
/// Normalization has dropped fingerprints that are not lists of scalars and turned numbers and
/// booleans into text.
pub fn apply(
    event: &EventView<'_>,
    default_kind: &str,
    default_values: &[String],
) -> Option<(String, Vec<String>)> {
    let parts = event.fingerprint();
    let mut probe = parts.clone();
    match (probe.next(), probe.next()) {
        (None, _) => return None,
        (Some(only), None) if variable(only) == Some("default") => return None,
        _ => {}
    }
    let mut out = Vec::with_capacity(parts.clone().count() + default_values.len());
    let mut uses_default = false;
    for part in parts {
        match variable(part) {
            Some("default") => {
                uses_default = true;
                out.extend_from_slice(default_values);
            }
            Some(var) => out.push(format!("fp:{}", resolve_variable(var, event))),
            None => out.push(format!("fp:{part}")),
        }
    }
    let kind = if uses_default {
        format!("fingerprint+{default_kind}")
    } else {
        "fingerprint".to_owned()
    };
    Some((kind, out))
}

/// Resolves one fingerprint variable against the event; missing data gives a `<no-…>`
/// placeholder, unknown names `<unrecognized-variable-NAME>`.
pub fn resolve_variable(var: &str, event: &EventView<'_>) -> String {
    let or = |v: Option<&str>, missing: &str| v.unwrap_or(missing).to_owned();
    let last_exception = || event.exceptions().next_back();
    match var {
        "transaction" => or(event.transaction(), "<no-transaction>"),
        "type" | "error.type" => or(last_exception().and_then(|e| e.ty()), "<no-type>"),
        "value" | "error.value" => or(last_exception().and_then(|e| e.value()), "<no-value>"),
        "function" | "stack.function" => or(
            crash_frame(event).and_then(|f| f.function()),
            "<no-function>",
        ),
        "module" | "stack.module" => or(crash_frame(event).and_then(|f| f.module()), "<no-module>"),
        "level" => event.level().as_str().to_owned(),
        "logger" => or(event.logger(), "<no-logger>"),
        _ => match var.strip_prefix("tags.") {
            Some(key) => event
                .tag(key)
                .map_or_else(|| format!("<no-value-for-tag-{key}>"), str::to_owned),
            None => format!("<unrecognized-variable-{var}>"),
        },
    }
}

/// The crash frame: the last frame of the last exception that has frames.
fn crash_frame<'a>(event: &EventView<'a>) -> Option<Frame<'a>> {
    event
        .exceptions()
        .rev()
        .find_map(|e| e.stacktrace().and_then(|s| s.frames().next_back()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grouping::tests::normalized;
    use serde_json::{json, Value};

    fn apply(event: &Value, kind: &str, values: &[String]) -> Option<(String, Vec<String>)> {
        super::apply(&EventView::new(&normalized(event.clone())), kind, values)
    }

    fn resolve_variable(var: &str, event: &Value) -> String {
        super::resolve_variable(var, &EventView::new(&normalized(event.clone())))
    }

    fn default() -> Vec<String> {
        vec!["type:E".to_owned(), "fn:f".to_owned()]
    }

    #[test]
    fn default_only_and_invalid_are_ignored() {
        for fp in [
            json!(["{{ default }}"]),
            json!(["{{default}}"]),
            json!([]),
            json!("x"),
            json!(["a", null]),
            json!(["a", {"b": 1}]),
        ] {
            let ev = json!({ "fingerprint": fp });
            assert_eq!(apply(&ev, "exception-app", &default()), None, "{fp}");
        }
    }

    #[test]
    fn custom_and_salted() {
        let ev = json!({"fingerprint": ["payment-gateway-outage", 42, true]});
        assert_eq!(
            apply(&ev, "exception-app", &default()),
            Some((
                "fingerprint".to_owned(),
                vec![
                    "fp:payment-gateway-outage".to_owned(),
                    "fp:42".to_owned(),
                    "fp:True".to_owned()
                ]
            ))
        );
        let ev = json!({"fingerprint": ["{{  default }}", "tenant-a"]});
        assert_eq!(
            apply(&ev, "exception-app", &default()),
            Some((
                "fingerprint+exception-app".to_owned(),
                vec![
                    "type:E".to_owned(),
                    "fn:f".to_owned(),
                    "fp:tenant-a".to_owned()
                ]
            ))
        );
    }

    #[test]
    fn variables() {
        let ev = json!({
            "transaction": "GET /x", "level": "error", "logger": "app.db",
            "tags": [["region", "eu"], ["n", "1"]],
            "exception": {"values": [
                {"type": "Inner", "value": "v0", "stacktrace": {"frames": [{"function": "deep", "module": "lib"}]}},
                {"type": "Outer", "value": "boom"},
            ]},
        });
        let r = |v: &str| resolve_variable(v, &ev);
        assert_eq!(r("transaction"), "GET /x");
        assert_eq!(r("type"), "Outer");
        assert_eq!(r("error.type"), "Outer");
        assert_eq!(r("value"), "boom");
        assert_eq!(r("error.value"), "boom");
        // The crash frame comes from the last exception that has frames.
        assert_eq!(r("function"), "deep");
        assert_eq!(r("stack.module"), "lib");
        assert_eq!(r("level"), "error");
        assert_eq!(r("logger"), "app.db");
        assert_eq!(r("tags.region"), "eu");
        assert_eq!(r("tags.missing"), "<no-value-for-tag-missing>");
        assert_eq!(r("package"), "<unrecognized-variable-package>");
        let empty = json!({"tags": {"region": true}});
        assert_eq!(resolve_variable("transaction", &empty), "<no-transaction>");
        assert_eq!(resolve_variable("type", &empty), "<no-type>");
        assert_eq!(resolve_variable("function", &empty), "<no-function>");
        assert_eq!(resolve_variable("tags.region", &empty), "True");
    }

    #[test]
    fn variables_in_fingerprint() {
        let ev = json!({"fingerprint": ["{{ transaction }}", "{{ tags.region }}"], "transaction": "t", "tags": {"region": "eu"}});
        assert_eq!(
            apply(&ev, "message", &[]),
            Some((
                "fingerprint".to_owned(),
                vec!["fp:t".to_owned(), "fp:eu".to_owned()]
            ))
        );
    }
}
