//! Shapes a stored event into what the issue page shows: the exception chain with frames
//! (source context, local variables), breadcrumbs, contexts, request, user, tags, SDK and
//! extra data. The event is read through [`EventView`]; the result is a tree of typed view
//! models that `issue.html` renders as `event.view`.
//!
//! Everything here stays plain text: values from the event become strings that the
//! template escapes. Nested values are shown as compact JSON, cut at [`MAX_VALUE_CHARS`].

use serde::Serialize;
use serde_json::Value;

use crate::event::{Breadcrumb, Data, EventView, Exception, Frame, Stacktrace, Timestamp};

/// Longest value shown in a table cell; longer ones end in `…` (the raw JSON has them whole).
pub const MAX_VALUE_CHARS: usize = 2000;

/// A labelled value in a table: `(label, text)`.
pub type Row = (String, String);

/// The issue page's view of one event (`event.view` in `issue.html`).
#[derive(Debug, Serialize)]
pub struct EventDetails<'a> {
    /// The message (`logentry.formatted` ∥ template ∥ `message`), cut at 8 × [`MAX_VALUE_CHARS`].
    pub message: Option<String>,
    /// The message's template (`logentry.message`) when it differs from the text shown, cut
    /// at [`MAX_VALUE_CHARS`]: what groups such messages.
    pub message_template: Option<String>,
    /// The template's parameters (`logentry.params`): `(index or name, value)` rows.
    pub message_params: Vec<Row>,
    /// Most recent exception first; for an event without exceptions, its stack trace as one
    /// untitled entry.
    pub exceptions: Vec<ExceptionDetails<'a>>,
    /// Newest breadcrumb first.
    pub breadcrumbs: Vec<BreadcrumbDetails<'a>>,
    /// `os`, `runtime`, `device`, `app`, `browser`, `trace` first, then by name.
    pub contexts: Vec<ContextDetails<'a>>,
    /// Method, URL, query, body, cookies, environment, then `header <name>` rows.
    pub request: Vec<Row>,
    /// The user's fields.
    pub user: Vec<Row>,
    /// Tags in payload order.
    pub tags: Vec<(&'a str, &'a str)>,
    /// SDK name, version, integrations and packages.
    pub sdk: Vec<Row>,
    /// `extra`.
    pub extra: Vec<Row>,
    /// The fingerprint the SDK sent, if any.
    pub fingerprint: Option<Vec<&'a str>>,
    /// `server_name`.
    pub server_name: Option<&'a str>,
    /// `transaction`.
    pub transaction: Option<&'a str>,
    /// `logger`.
    pub logger: Option<&'a str>,
}

/// One exception with its frames.
#[derive(Debug, Serialize)]
pub struct ExceptionDetails<'a> {
    /// `type`.
    #[serde(rename = "type")]
    pub ty: Option<&'a str>,
    /// `value`, cut at [`MAX_VALUE_CHARS`].
    pub value: Option<String>,
    /// `module`.
    pub module: Option<&'a str>,
    /// `mechanism.type`.
    pub mechanism: Option<&'a str>,
    /// `mechanism.handled`.
    pub handled: Option<bool>,
    /// Most recent call first.
    pub frames: Vec<FrameDetails<'a>>,
}

/// One frame.
#[derive(Debug, Serialize)]
pub struct FrameDetails<'a> {
    /// `function` ∥ `raw_function`.
    pub function: Option<&'a str>,
    /// `module`.
    pub module: Option<&'a str>,
    /// `filename` ∥ `abs_path`.
    pub filename: Option<&'a str>,
    /// `package`.
    pub package: Option<&'a str>,
    /// `lineno`.
    pub lineno: Option<u64>,
    /// `colno`.
    pub colno: Option<u64>,
    /// Application code (expanded on the page).
    pub in_app: bool,
    /// Source lines around `lineno`, when the SDK sent a `context_line`.
    pub context: Vec<SourceLine>,
    /// Local variables.
    pub vars: Vec<Row>,
    /// The minified position, when source maps resolved the frame (shown on demand).
    pub minified: Option<MinifiedDetails<'a>>,
    /// Why source maps could not resolve the frame.
    pub sourcemap_note: Option<&'a str>,
}

/// A frame's minified position: `function at url:line:column`.
#[derive(Debug, Serialize)]
pub struct MinifiedDetails<'a> {
    /// The minified function name.
    pub function: Option<&'a str>,
    /// The minified file's URL.
    pub abs_path: Option<&'a str>,
    /// Line, 1-based.
    pub lineno: Option<u64>,
    /// Column, 1-based.
    pub colno: Option<u64>,
    /// The source map that resolved it.
    pub sourcemap: Option<&'a str>,
}

/// One line of source context.
#[derive(Debug, Serialize)]
pub struct SourceLine {
    /// Line number, when known.
    pub no: Option<u64>,
    /// The text.
    pub line: String,
    /// Whether this is the frame's line.
    pub current: bool,
}

/// One breadcrumb.
#[derive(Debug, Serialize)]
pub struct BreadcrumbDetails<'a> {
    /// `YYYY-MM-DD hh:mm:ss.fff` (UTC).
    pub time: Option<String>,
    /// `category`.
    pub category: Option<&'a str>,
    /// `type`.
    #[serde(rename = "type")]
    pub ty: Option<&'a str>,
    /// `level`, `info` when absent.
    pub level: &'a str,
    /// `message`.
    pub message: Option<String>,
    /// `data` fields.
    pub data: Vec<Row>,
}

/// One context as a table.
#[derive(Debug, Serialize)]
pub struct ContextDetails<'a> {
    /// The context's name (`os`, `runtime`, …).
    pub name: &'a str,
    /// Its fields.
    pub rows: Vec<Row>,
}

/// A free-form value as display text, cut at [`MAX_VALUE_CHARS`].
fn text(v: Data<'_>) -> String {
    cut(v.to_string(), MAX_VALUE_CHARS)
}

fn cut(mut s: String, max: usize) -> String {
    if s.chars().count() > max {
        s = s.chars().take(max).collect();
        s.push('…');
    }
    s
}

/// Rows of fields, leaving out private ones (`_meta`-style keys).
fn field_rows<'a>(fields: impl Iterator<Item = (&'a str, Data<'a>)>) -> Vec<Row> {
    fields
        .filter(|(k, _)| !k.starts_with('_'))
        .map(|(k, v)| (k.to_owned(), text(v)))
        .collect()
}

/// Rows of the text fields that are present.
fn text_rows<'a>(fields: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> Vec<Row> {
    fields
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_owned(), cut(v?.to_owned(), MAX_VALUE_CHARS))))
        .collect()
}

/// An object's fields as rows; anything else but `null` as one unlabelled row.
fn rows(v: Option<Data<'_>>) -> Vec<Row> {
    match v {
        None => Vec::new(),
        Some(v) => match v.members() {
            Some(members) => field_rows(members),
            None if v.is_null() => Vec::new(),
            None => vec![(String::new(), text(v))],
        },
    }
}

fn frame_details(f: Frame<'_>) -> FrameDetails<'_> {
    let lineno = f.lineno();
    let mut context = Vec::new();
    if let Some(current) = f.context_line() {
        let pre = f.pre_context();
        let start = lineno.and_then(|l| l.checked_sub(pre.len() as u64));
        for (i, l) in (0u64..).zip(pre) {
            context.push(SourceLine {
                no: start.map(|s| s + i),
                line: text(l),
                current: false,
            });
        }
        context.push(SourceLine {
            no: lineno,
            line: cut(current.to_owned(), MAX_VALUE_CHARS),
            current: true,
        });
        for (i, l) in (1u64..).zip(f.post_context()) {
            context.push(SourceLine {
                no: lineno.map(|n| n + i),
                line: text(l),
                current: false,
            });
        }
    }
    FrameDetails {
        function: f.function().or_else(|| f.raw_function()),
        module: f.module(),
        filename: f.filename().or_else(|| f.abs_path()),
        package: f.package(),
        lineno,
        colno: f.colno(),
        in_app: f.in_app(),
        context,
        vars: rows(f.vars()),
        minified: f.minified().map(|m| MinifiedDetails {
            function: m.function(),
            abs_path: m.abs_path(),
            lineno: m.lineno(),
            colno: m.colno(),
            sourcemap: f.sourcemap(),
        }),
        sourcemap_note: f.sourcemap_error(),
    }
}

/// Frames most recent call first (they arrive oldest first), as Sentry shows them.
fn stack_details(stacktrace: Option<Stacktrace<'_>>) -> Vec<FrameDetails<'_>> {
    stacktrace
        .into_iter()
        .flat_map(|st| st.frames().rev())
        .map(frame_details)
        .collect()
}

fn exception_details(e: Exception<'_>) -> ExceptionDetails<'_> {
    let mechanism = e.mechanism();
    ExceptionDetails {
        ty: e.ty(),
        value: e.value().map(|v| cut(v.to_owned(), MAX_VALUE_CHARS)),
        module: e.module(),
        mechanism: mechanism.and_then(|m| m.ty()),
        handled: mechanism.and_then(|m| m.handled()),
        frames: stack_details(e.stacktrace()),
    }
}

fn breadcrumb_time(t: Timestamp<'_>) -> String {
    let iso = match t {
        Timestamp::Rfc3339(s) => s.to_owned(),
        Timestamp::EpochSeconds(secs) => crate::timefmt::rfc3339_ms((secs * 1000.0) as i64),
    };
    iso.replace('T', " ").trim_end_matches('Z').to_owned()
}

fn breadcrumb_details(b: Breadcrumb<'_>) -> BreadcrumbDetails<'_> {
    BreadcrumbDetails {
        time: b.timestamp().map(breadcrumb_time),
        category: b.category(),
        ty: b.ty(),
        level: b.level().unwrap_or("info"),
        message: b.message().map(text),
        data: rows(b.data()),
    }
}

/// Contexts shown first, in this order; the rest follow alphabetically.
const CONTEXT_ORDER: &[&str] = &["os", "runtime", "device", "app", "browser", "trace"];

fn contexts_details<'a>(event: &EventView<'a>) -> Vec<ContextDetails<'a>> {
    let mut contexts: Vec<ContextDetails<'a>> = event
        .contexts()
        .map(|c| ContextDetails {
            name: c.name(),
            rows: field_rows(c.fields()),
        })
        .collect();
    // Stable: the view lists contexts by name.
    contexts.sort_by_key(|c| {
        CONTEXT_ORDER
            .iter()
            .position(|o| *o == c.name)
            .unwrap_or(CONTEXT_ORDER.len())
    });
    contexts
}

fn request_rows(event: &EventView<'_>) -> Vec<Row> {
    let Some(req) = event.request() else {
        return Vec::new();
    };
    let mut out = text_rows([("method", req.method()), ("url", req.url())]);
    for (key, v) in [
        ("query_string", req.query_string()),
        ("data", req.data()),
        ("cookies", req.cookies()),
        ("env", req.env()),
    ] {
        if let Some(v) = v {
            out.push((key.to_owned(), text(v)));
        }
    }
    for (name, value) in req.headers() {
        out.push((format!("header {name}"), text(value)));
    }
    out
}

fn sdk_rows(event: &EventView<'_>) -> Vec<Row> {
    let Some(sdk) = event.sdk() else {
        return Vec::new();
    };
    let mut out = text_rows([("name", sdk.name()), ("version", sdk.version())]);
    let integrations: Vec<String> = sdk.integrations().map(|i| i.to_string()).collect();
    let packages: Vec<String> = sdk
        .packages()
        .map(|p| {
            format!(
                "{} {}",
                p.name().unwrap_or_default(),
                p.version().unwrap_or_default()
            )
        })
        .collect();
    for (key, list) in [("integrations", integrations), ("packages", packages)] {
        if !list.is_empty() {
            out.push((key.to_owned(), cut(list.join(", "), MAX_VALUE_CHARS)));
        }
    }
    out
}

/// The view model of one stored event payload for `issue.html`.
pub fn event_view(payload: &Value) -> EventDetails<'_> {
    let event = EventView::new(payload);
    // Most recent exception first (the one that was finally raised), as Sentry shows them.
    let mut exceptions: Vec<ExceptionDetails<'_>> =
        event.exceptions().rev().map(exception_details).collect();
    if exceptions.is_empty() {
        // A message with an attached stack, or the crashed (else the first) thread's stack.
        let stack = event.stacktrace().or_else(|| {
            event
                .threads()
                .find(|t| t.crashed())
                .or_else(|| event.threads().next())
                .and_then(|t| t.stacktrace())
        });
        let frames = stack_details(stack);
        if !frames.is_empty() {
            exceptions.push(ExceptionDetails {
                ty: None,
                value: None,
                module: None,
                mechanism: None,
                handled: None,
                frames,
            });
        }
    }
    let fingerprint: Vec<&str> = event.fingerprint().collect();
    let message = event
        .messages()
        .find_map(|m| m.formatted().or_else(|| m.template()));
    let entry = event.messages().find(|m| m.template().is_some());
    let message_template = entry
        .and_then(|m| m.template())
        .filter(|t| Some(*t) != message)
        .map(|t| cut(t.to_owned(), MAX_VALUE_CHARS));
    let message_params = match entry.and_then(|m| m.params()) {
        Some(p) => match p.items() {
            Some(items) => items
                .enumerate()
                .map(|(i, v)| (i.to_string(), text(v)))
                .collect(),
            None => rows(Some(p)),
        },
        None => Vec::new(),
    };
    EventDetails {
        message: message.map(|m| cut(m.to_owned(), 8 * MAX_VALUE_CHARS)),
        message_template,
        message_params,
        exceptions,
        // Newest breadcrumb first, next to the error it led to.
        breadcrumbs: event.breadcrumbs().rev().map(breadcrumb_details).collect(),
        contexts: contexts_details(&event),
        request: request_rows(&event),
        user: event
            .user()
            .map(|u| field_rows(u.fields()))
            .unwrap_or_default(),
        tags: event.tags().collect(),
        sdk: sdk_rows(&event),
        extra: rows(event.extra()),
        fingerprint: (!fingerprint.is_empty()).then_some(fingerprint),
        server_name: event.server_name(),
        transaction: event.transaction(),
        logger: event.logger(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The view model as the template sees it.
    fn view(event: &Value) -> Value {
        serde_json::to_value(event_view(event)).expect("view models serialize")
    }

    #[test]
    fn frames_newest_first_with_context_and_vars() {
        let ev = json!({"exception": {"values": [
            {"type": "KeyError", "value": "'id'"},
            {"type": "ValueError", "value": "bad", "mechanism": {"type": "excepthook", "handled": false},
             "stacktrace": {"frames": [
                {"function": "main", "in_app": false, "context_line": null},
                {"function": "handler", "module": "app", "lineno": 12, "in_app": true,
                 "pre_context": ["a", "b"], "context_line": "raise X", "post_context": ["c"],
                 "vars": {"user": "<script>", "n": 3, "d": {"k": [1]}, "_meta": 1}}
             ]}}
        ]}});
        let v = view(&ev);
        let ex = &v["exceptions"];
        assert_eq!(ex[0]["type"], "ValueError", "last raised first");
        assert_eq!(ex[0]["handled"], false);
        assert_eq!(ex[1]["type"], "KeyError");
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
        // No source context was sent for the library frame.
        assert_eq!(ex[0]["frames"][1]["context"], json!([]));
    }

    #[test]
    fn resolved_and_unresolved_javascript_frames() {
        let ev = json!({"exception": {"values": [{"type": "TypeError", "stacktrace": {"frames": [
            {"function": "c", "abs_path": "http://h/app.min.js", "lineno": 1, "colno": 9,
             "data": {"sourcemap_error": "no debug ID for this file and the event has no release"}},
            {"function": "applyCoupon", "filename": "src/pricing.js", "lineno": 4, "colno": 11,
             "context_line": "throw x;", "in_app": true,
             "data": {"minified": {"abs_path": "http://h/app.min.js", "function": "xa", "lineno": 1, "colno": 52},
                      "sourcemap": "http://h/app.min.js.map"}}
        ]}}]}});
        let v = view(&ev);
        let frames = &v["exceptions"][0]["frames"];
        assert_eq!(
            frames[0]["minified"],
            json!({"function": "xa", "abs_path": "http://h/app.min.js", "lineno": 1, "colno": 52,
                   "sourcemap": "http://h/app.min.js.map"})
        );
        assert_eq!(frames[0]["sourcemap_note"], Value::Null);
        assert!(frames[1]["sourcemap_note"]
            .as_str()
            .is_some_and(|n| n.contains("no debug ID")));
        assert_eq!(frames[1]["minified"], Value::Null);
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
            "logentry": {"message": "hello %s", "formatted": "hello world"},
            "contexts": {"trace": {"trace_id": "t"}, "custom": {"k": "v"}, "os": {"name": "Linux"}},
            "sdk": {"name": "sentry.python", "integrations": ["logging", "argv"]}
        });
        let v = view(&ev);
        assert_eq!(v["breadcrumbs"][0]["message"], "second");
        assert_eq!(v["breadcrumbs"][0]["time"], "2026-11-22 03:39:40.556");
        assert_eq!(v["breadcrumbs"][0]["level"], "info");
        assert_eq!(v["breadcrumbs"][1]["time"], "1970-01-01 00:00:01.5");
        assert_eq!(v["tags"], json!([["browser", "Firefox"]]));
        assert_eq!(
            v["request"],
            json!([["url", "https://x/y"], ["header Accept", "*/*"]])
        );
        assert_eq!(v["message"], "hello world");
        let names: Vec<&str> = v["contexts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(names, ["os", "trace", "custom"]);
        assert_eq!(
            v["sdk"],
            json!([["name", "sentry.python"], ["integrations", "logging, argv"]])
        );
        assert_eq!(v["fingerprint"], Value::Null);
    }

    #[test]
    fn thread_stack_without_exception() {
        let ev = json!({"threads": {"values": [
            {"stacktrace": {"frames": [{"function": "idle"}]}},
            {"crashed": true, "stacktrace": {"frames": [{"function": "a"}, {"function": "b"}]}}
        ]}});
        let v = view(&ev);
        assert_eq!(v["exceptions"][0]["type"], Value::Null);
        assert_eq!(v["exceptions"][0]["frames"][0]["function"], "b");
    }

    #[test]
    fn long_values_are_cut() {
        let s = text(Data::key(&"x".repeat(MAX_VALUE_CHARS + 10)));
        assert_eq!(s.chars().count(), MAX_VALUE_CHARS + 1);
        assert!(s.ends_with('…'));
    }
}
