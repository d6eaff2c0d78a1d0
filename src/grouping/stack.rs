//! Stack-trace values (sentry-protocol.md 7.4.3): which frames contribute and what each one
//! contributes.

use std::borrow::Cow;

use super::function;
use crate::event::{Frame, Stacktrace};

/// Platforms whose context line stands in for a missing function.
const CONTEXT_LINE_PLATFORMS: &[&str] = &["python", "node", "javascript", "php", "ruby"];

/// The longest context line (in characters) that may contribute.
const MAX_CONTEXT_LINE_CHARS: usize = 120;

/// Contributing values of a stack trace (frames oldest first).
///
/// Consecutive identical frames (recursion) contribute once; with `app_only`, frames that are
/// not in-app are skipped. `platform` is the event's; a frame's own `platform` overrides it.
pub fn stack_values(stacktrace: Stacktrace<'_>, platform: &str, app_only: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut prev: Option<Frame<'_>> = None;
    for frame in stacktrace.frames() {
        let same = prev.is_some_and(|p| p.same_call_site(&frame));
        prev = Some(frame);
        if same || (app_only && !frame.in_app()) {
            continue;
        }
        frame_values(frame, frame.platform().unwrap_or(platform), &mut out);
    }
    out
}

/// Appends the values of one frame to `out`, or nothing when the frame yields none of `fn:`,
/// `ctx:` or `package:` (its `module:`/`file:` is then discarded as well).
fn frame_values(frame: Frame<'_>, platform: &str, out: &mut Vec<String>) {
    let raw_fn = frame
        .function()
        .or_else(|| frame.raw_function())
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let mut module = frame.module().map(Cow::Borrowed);
    let mut filename = frame.filename();
    let abs_path = frame.abs_path().unwrap_or("");
    let mut package_value = None;

    let func: Option<String> = match platform {
        "javascript" | "node" => {
            if raw_fn == Some("eval")
                || matches!(
                    abs_path,
                    "[native code]" | "native code" | "eval code" | "<anonymous>"
                )
            {
                return;
            }
            if module
                .as_deref()
                .is_some_and(|m| m.contains('/') && abs_path.ends_with(m))
            {
                module = None;
            }
            raw_fn.and_then(function::normalize_js).map(str::to_owned)
        }
        "native" => {
            // File names and crate paths differ between builds; the function identifies the code.
            module = None;
            filename = None;
            let f = raw_fn
                .filter(|f| !matches!(*f, "<unknown>" | "<redacted>") && !f.starts_with("at /"))
                .map(function::normalize_native)
                .filter(|f| !f.is_empty());
            if f.is_none() {
                if let Some(pkg) = frame.package() {
                    package_value = Some(format!("package:{}", basename(pkg)));
                }
            }
            f
        }
        "ruby" => raw_fn.map(|f| function::normalize_ruby(f).into_owned()),
        "java" => {
            module = module.map(|m| Cow::Owned(function::normalize_java_module(&m).into_owned()));
            raw_fn
                .and_then(function::normalize_java)
                .map(Cow::into_owned)
        }
        _ => raw_fn.map(str::to_owned),
    }
    .filter(|f| !f.is_empty());

    let start = out.len();
    if let Some(p) = package_value {
        out.push(p);
    }
    if let Some(m) = module {
        out.push(format!("module:{m}"));
    } else if let Some(name) = filename {
        if !is_url(abs_path) {
            let base = basename(name).to_lowercase();
            if base != "<anonymous>" && base != "[native code]" {
                out.push(format!("file:{base}"));
            }
        }
    }
    let mut identified = out[start..].iter().any(|v| v.starts_with("package:"));
    if let Some(f) = func {
        out.push(format!("fn:{f}"));
        identified = true;
    } else if CONTEXT_LINE_PLATFORMS.contains(&platform) {
        if let Some(line) = frame.context_line() {
            let collapsed = line.split_whitespace().collect::<Vec<_>>().join(" ");
            if !collapsed.is_empty() && collapsed.chars().count() <= MAX_CONTEXT_LINE_CHARS {
                out.push(format!("ctx:{collapsed}"));
                identified = true;
            }
        }
    }
    if !identified {
        out.truncate(start);
    }
}

/// URLs (and bundler pseudo-URLs) are not file names worth grouping by.
fn is_url(abs_path: &str) -> bool {
    ["http://", "https://", "blob://", "webpack://", "app://"]
        .iter()
        .any(|p| abs_path.starts_with(p))
}

fn basename(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use crate::event::EventView;
    use serde_json::{json, Value};

    fn stack_values(st: &Value, platform: &str, app_only: bool) -> Vec<String> {
        let event = json!({ "stacktrace": st });
        let view = EventView::new(&event);
        let st = view.stacktrace().expect("a stack trace");
        super::stack_values(st, platform, app_only)
    }

    #[test]
    fn module_wins_over_file_and_lines_are_ignored() {
        let st = json!({"frames": [
            {"module": "app.orders", "filename": "app/orders.py", "function": "validate", "lineno": 3, "in_app": true},
            {"filename": "App/Helpers.PY", "function": "h", "lineno": 9, "in_app": true},
        ]});
        assert_eq!(
            stack_values(&st, "python", true),
            [
                "module:app.orders",
                "fn:validate",
                "file:helpers.py",
                "fn:h"
            ]
        );
    }

    #[test]
    fn recursion_collapses() {
        let f = json!({"module": "reports", "function": "walk_tree", "lineno": 7, "in_app": true});
        let three = json!({"frames": [f, f, f]});
        let six = json!({"frames": [f, f, f, f, f, f]});
        assert_eq!(
            stack_values(&three, "python", true),
            ["module:reports", "fn:walk_tree"]
        );
        assert_eq!(
            stack_values(&three, "python", true),
            stack_values(&six, "python", true)
        );
        // A different line breaks the run.
        let g = json!({"module": "reports", "function": "walk_tree", "lineno": 8, "in_app": true});
        assert_eq!(
            stack_values(&json!({"frames": [f, g]}), "python", true).len(),
            4
        );
    }

    #[test]
    fn app_pass_skips_library_frames() {
        // As normalization resolved it: the SDK's `true` overruled for a site-packages path.
        let st = json!({"frames": [
            {"module": "app", "function": "main", "in_app": true},
            {"module": "requests.api", "function": "get", "abs_path": "/v/lib/site-packages/requests/api.py", "in_app": false, "in_app_sdk": true},
        ]});
        assert_eq!(stack_values(&st, "python", true), ["module:app", "fn:main"]);
        assert_eq!(stack_values(&st, "python", false).len(), 4);
    }

    #[test]
    fn context_line_is_a_fallback_only() {
        let st = json!({"frames": [
            {"module": "m", "context_line": "  x =   compute()  ", "in_app": true},
            {"module": "m", "function": "f", "context_line": "y()", "in_app": true},
            {"module": "m", "context_line": "z".repeat(121), "in_app": true},
        ]});
        assert_eq!(
            stack_values(&st, "python", true),
            ["module:m", "ctx:x = compute()", "module:m", "fn:f"]
        );
        // Not for other platforms.
        let st = json!({"frames": [{"module": "m", "context_line": "x", "in_app": true}]});
        assert!(stack_values(&st, "java", true).is_empty());
    }

    #[test]
    fn native_frames_use_function_or_package_only() {
        let st = json!({"frames": [
            {"function": "myapp::run::h0123456789abcdef", "filename": "main.rs", "package": "myapp", "in_app": true},
            {"function": "<unknown>", "package": "/usr/lib/libfoo.so", "in_app": true},
            {"function": "<unknown>", "in_app": true},
        ]});
        assert_eq!(
            stack_values(&st, "native", false),
            ["fn:myapp::run", "package:libfoo.so"]
        );
    }

    #[test]
    fn javascript_specifics() {
        let st = json!({"frames": [
            {"function": "eval", "filename": "x.js"},
            {"function": "x", "abs_path": "[native code]"},
            {"function": "Object.<anonymous>", "module": "index", "filename": "/app/index.js", "abs_path": "/app/index.js", "context_line": "boom();"},
            {"function": "Router.handle", "module": "lib/router", "filename": "/app/lib/router.js", "abs_path": "/app/lib/router"},
            {"function": "go", "filename": "bundle.js", "abs_path": "https://cdn.example/bundle.js"},
        ]});
        assert_eq!(
            stack_values(&st, "node", false),
            [
                "module:index",
                "ctx:boom();",
                "file:router.js",
                "fn:handle",
                "fn:go"
            ]
        );
    }

    #[test]
    fn per_frame_platform_overrides() {
        let st = json!({"frames": [
            {"function": "std::rt::lang_start::<()>", "platform": "native", "filename": "rt.rs"},
        ]});
        assert_eq!(
            stack_values(&st, "python", false),
            ["fn:std::rt::lang_start"]
        );
    }
}
