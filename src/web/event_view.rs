//! Shapes a stored event's normalized JSON into what the issue page shows: the exception
//! chain with frames (source context, local variables), breadcrumbs, contexts, request,
//! user, tags, SDK and extra data.
//!
//! Everything here stays plain text: values from the event become strings that the
//! template escapes. Nested values are shown as compact JSON, cut at [`MAX_VALUE_CHARS`].

use serde_json::{json, Map, Value};

/// Longest value shown in a table cell; longer ones end in `…` (the raw JSON has them whole).
pub const MAX_VALUE_CHARS: usize = 2000;

/// A value as display text: strings as they are, everything else as compact JSON.
pub fn display(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".to_owned(),
        other => other.to_string(),
    };
    cut(s, MAX_VALUE_CHARS)
}

fn cut(mut s: String, max: usize) -> String {
    if s.chars().count() > max {
        s = s.chars().take(max).collect();
        s.push('…');
    }
    s
}

fn str_of(v: &Value, key: &str) -> Option<String> {
    match v.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    }
}

/// `[[key, text], …]` of an object's members (sorted by key); a non-object becomes one row.
pub fn rows(v: &Value) -> Vec<(String, String)> {
    match v {
        Value::Object(map) => map
            .iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .map(|(k, v)| (k.clone(), display(v)))
            .collect(),
        Value::Null => Vec::new(),
        other => vec![(String::new(), display(other))],
    }
}

fn frame_view(f: &Value) -> Value {
    let lineno = f.get("lineno").and_then(Value::as_i64);
    let mut context = Vec::new();
    let lines = |key: &str| -> Vec<String> {
        f.get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().map(display).collect())
            .unwrap_or_default()
    };
    let pre = lines("pre_context");
    let post = lines("post_context");
    if let Some(current) = f.get("context_line") {
        let start = lineno.map(|l| l - i64::try_from(pre.len()).unwrap_or(0));
        let number = |i: usize| start.map(|s| s + i64::try_from(i).unwrap_or(0));
        for (i, l) in pre.iter().enumerate() {
            context.push(json!({"no": number(i), "line": l, "current": false}));
        }
        context.push(json!({"no": lineno, "line": display(current), "current": true}));
        for (i, l) in post.iter().enumerate() {
            context.push(json!({"no": lineno.map(|n| n + 1 + i64::try_from(i).unwrap_or(0)), "line": l, "current": false}));
        }
    }
    let vars = f.get("vars").map(rows).unwrap_or_default();
    let in_app = f.get("in_app").and_then(Value::as_bool).unwrap_or(false);
    json!({
        "function": str_of(f, "function").or_else(|| str_of(f, "raw_function")),
        "module": str_of(f, "module"),
        "filename": str_of(f, "filename").or_else(|| str_of(f, "abs_path")),
        "package": str_of(f, "package"),
        "lineno": lineno,
        "colno": f.get("colno").and_then(Value::as_i64),
        "in_app": in_app,
        "context": context,
        "vars": vars,
    })
}

fn stack_view(stacktrace: Option<&Value>) -> Vec<Value> {
    // Frames arrive oldest first; like Sentry we show the most recent call first.
    let mut frames: Vec<Value> = stacktrace
        .and_then(|s| s.get("frames"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter(|f| f.is_object()).map(frame_view).collect())
        .unwrap_or_default();
    frames.reverse();
    frames
}

fn exception_view(e: &Value) -> Value {
    let mechanism = e.get("mechanism").filter(|m| m.is_object());
    json!({
        "type": str_of(e, "type"),
        "value": e.get("value").map(display),
        "module": str_of(e, "module"),
        "mechanism": mechanism.and_then(|m| str_of(m, "type")),
        "handled": mechanism.and_then(|m| m.get("handled")).and_then(Value::as_bool),
        "frames": stack_view(e.get("stacktrace")),
    })
}

fn values<'a>(event: &'a Value, key: &str) -> Vec<&'a Value> {
    event
        .get(key)
        .and_then(|v| v.get("values"))
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn breadcrumb_time(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.replace('T', " ").trim_end_matches('Z').to_owned()),
        Value::Number(n) => n.as_f64().map(|secs| {
            crate::timefmt::rfc3339_ms((secs * 1000.0) as i64)
                .replace('T', " ")
                .trim_end_matches('Z')
                .to_owned()
        }),
        _ => None,
    }
}

fn breadcrumb_view(b: &Value) -> Value {
    let data = b.get("data").map(rows).unwrap_or_default();
    json!({
        "time": breadcrumb_time(b.get("timestamp")),
        "category": str_of(b, "category"),
        "type": str_of(b, "type"),
        "level": str_of(b, "level").unwrap_or_else(|| "info".to_owned()),
        "message": b.get("message").map(display),
        "data": data,
    })
}

/// Contexts shown first, in this order; the rest follow alphabetically.
const CONTEXT_ORDER: &[&str] = &["os", "runtime", "device", "app", "browser", "trace"];

fn contexts_view(event: &Value) -> Vec<Value> {
    let Some(Value::Object(map)) = event.get("contexts") else {
        return Vec::new();
    };
    let mut names: Vec<&String> = map.keys().collect();
    names.sort_by_key(|n| {
        (
            CONTEXT_ORDER
                .iter()
                .position(|o| o == n)
                .unwrap_or(CONTEXT_ORDER.len()),
            n.to_string(),
        )
    });
    names
        .into_iter()
        .map(|n| json!({"name": n, "rows": rows(&map[n.as_str()])}))
        .collect()
}

fn request_rows(req: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Value::Object(map) = req else {
        return out;
    };
    for key in ["method", "url", "query_string", "data", "cookies", "env"] {
        if let Some(v) = map.get(key).filter(|v| !v.is_null()) {
            out.push((key.to_owned(), display(v)));
        }
    }
    match map.get("headers") {
        // Headers come as an object or as `[[name, value], …]`.
        Some(Value::Object(h)) => {
            for (k, v) in h {
                out.push((format!("header {k}"), display(v)));
            }
        }
        Some(Value::Array(pairs)) => {
            for pair in pairs {
                if let Some([k, v]) = pair.as_array().map(Vec::as_slice) {
                    out.push((format!("header {}", display(k)), display(v)));
                }
            }
        }
        _ => {}
    }
    out
}

fn tags_view(event: &Value) -> Vec<(String, String)> {
    match event.get("tags") {
        Some(Value::Array(pairs)) => pairs
            .iter()
            .filter_map(|p| match p.as_array().map(Vec::as_slice) {
                Some([k, v]) => Some((display(k), display(v))),
                _ => None,
            })
            .collect(),
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), display(v))).collect(),
        _ => Vec::new(),
    }
}

fn sdk_rows(sdk: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for key in ["name", "version"] {
        if let Some(v) = str_of(sdk, key) {
            out.push((key.to_owned(), v));
        }
    }
    if let Some(list) = sdk.get("integrations").and_then(Value::as_array) {
        let names: Vec<String> = list.iter().map(display).collect();
        out.push((
            "integrations".to_owned(),
            cut(names.join(", "), MAX_VALUE_CHARS),
        ));
    }
    if let Some(list) = sdk.get("packages").and_then(Value::as_array) {
        let names: Vec<String> = list
            .iter()
            .map(|p| {
                format!(
                    "{} {}",
                    str_of(p, "name").unwrap_or_default(),
                    str_of(p, "version").unwrap_or_default()
                )
            })
            .collect();
        out.push((
            "packages".to_owned(),
            cut(names.join(", "), MAX_VALUE_CHARS),
        ));
    }
    out
}

/// The message of an event without exception (or alongside one): `logentry.formatted`,
/// else `logentry.message`, else a string `message`.
fn message(event: &Value) -> Option<String> {
    let log = event.get("logentry");
    log.and_then(|l| str_of(l, "formatted"))
        .or_else(|| log.and_then(|l| str_of(l, "message")))
        .or_else(|| match event.get("message") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(m @ Value::Object(_)) => str_of(m, "formatted").or_else(|| str_of(m, "message")),
            _ => None,
        })
        .map(|s| cut(s, 8 * MAX_VALUE_CHARS))
}

/// The view model of one event's payload for `issue.html`.
pub fn event_view(event: &Value) -> Value {
    // Most recent exception first (the one that was finally raised), as Sentry shows them.
    let mut exceptions: Vec<Value> = values(event, "exception")
        .into_iter()
        .filter(|e| e.is_object())
        .map(exception_view)
        .collect();
    exceptions.reverse();
    if exceptions.is_empty() {
        // A message with an attached stack, or the crashed thread's stack.
        let stack = event.get("stacktrace").or_else(|| {
            values(event, "threads")
                .into_iter()
                .find(|t| t.get("crashed").and_then(Value::as_bool).unwrap_or(false))
                .or_else(|| values(event, "threads").into_iter().next())
                .and_then(|t| t.get("stacktrace"))
        });
        let frames = stack_view(stack);
        if !frames.is_empty() {
            exceptions.push(json!({"type": null, "value": null, "frames": frames}));
        }
    }
    let mut breadcrumbs: Vec<Value> = values(event, "breadcrumbs")
        .into_iter()
        .filter(|b| b.is_object())
        .map(breadcrumb_view)
        .collect();
    // Newest breadcrumb first, next to the error it led to.
    breadcrumbs.reverse();
    let empty = Value::Object(Map::new());
    json!({
        "message": message(event),
        "exceptions": exceptions,
        "breadcrumbs": breadcrumbs,
        "contexts": contexts_view(event),
        "request": request_rows(event.get("request").unwrap_or(&empty)),
        "user": rows(event.get("user").unwrap_or(&empty)),
        "tags": tags_view(event),
        "sdk": sdk_rows(event.get("sdk").unwrap_or(&empty)),
        "extra": rows(event.get("extra").unwrap_or(&empty)),
        "fingerprint": event.get("fingerprint").and_then(Value::as_array)
            .map(|a| a.iter().map(display).collect::<Vec<_>>()),
        "server_name": str_of(event, "server_name"),
        "transaction": str_of(event, "transaction"),
        "logger": str_of(event, "logger"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_newest_first_with_context_and_vars() {
        let ev = json!({"exception": {"values": [
            {"type": "KeyError", "value": "'id'"},
            {"type": "ValueError", "value": "bad", "mechanism": {"type": "excepthook", "handled": false},
             "stacktrace": {"frames": [
                {"function": "main", "in_app": false},
                {"function": "handler", "module": "app", "lineno": 12, "in_app": true,
                 "pre_context": ["a", "b"], "context_line": "raise X", "post_context": ["c"],
                 "vars": {"user": "<script>", "n": 3, "d": {"k": [1]}}}
             ]}}
        ]}});
        let v = event_view(&ev);
        let ex = &v["exceptions"];
        assert_eq!(ex[0]["type"], "ValueError", "last raised first");
        assert_eq!(ex[0]["handled"], false);
        let top = &ex[0]["frames"][0];
        assert_eq!(top["function"], "handler");
        assert_eq!(
            top["context"][2],
            json!({"no": 12, "line": "raise X", "current": true})
        );
        assert_eq!(top["context"][0]["no"], 10);
        assert_eq!(top["context"][3]["no"], 13);
        assert_eq!(
            top["vars"],
            json!([["d", "{\"k\":[1]}"], ["n", "3"], ["user", "<script>"]])
        );
    }

    #[test]
    fn breadcrumbs_tags_request_and_messages() {
        let ev = json!({
            "breadcrumbs": {"values": [
                {"message": "first", "timestamp": 1.5},
                {"message": "second", "timestamp": "2026-11-22T03:39:40.556Z", "data": {"a": 1}}
            ]},
            "tags": [["browser", "Firefox"], ["bad"]],
            "request": {"url": "https://x/y", "headers": [["Accept", "*/*"]]},
            "logentry": {"message": "hello %s", "formatted": "hello world"}
        });
        let v = event_view(&ev);
        assert_eq!(v["breadcrumbs"][0]["message"], "second");
        assert_eq!(v["breadcrumbs"][0]["time"], "2026-11-22 03:39:40.556");
        assert_eq!(v["breadcrumbs"][1]["time"], "1970-01-01 00:00:01.5");
        assert_eq!(v["tags"], json!([["browser", "Firefox"]]));
        assert_eq!(
            v["request"],
            json!([["url", "https://x/y"], ["header Accept", "*/*"]])
        );
        assert_eq!(v["message"], "hello world");
    }

    #[test]
    fn long_values_are_cut() {
        let s = display(&json!("x".repeat(MAX_VALUE_CHARS + 10)));
        assert_eq!(s.chars().count(), MAX_VALUE_CHARS + 1);
        assert!(s.ends_with('…'));
    }
}
