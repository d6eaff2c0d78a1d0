//! Server-side in-app resolution (sentry-protocol.md 6 step 3, 7.4.2), done once per frame by
//! normalization; grouping, titles, notifications and the issue page read the verdict through
//! `Frame::in_app`.
//!
//! SDKs get `in_app` wrong in ways that matter for grouping (observed: the Rust SDK marks
//! `sentry_panic::*`, `__rustc::rust_begin_unwind` and libc `main` as in-app), so these rules
//! override the SDK for the frames they recognise; everything else keeps the SDK's value, and
//! an absent value means "not in app".

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use crate::event::frame_text::NO_FRAMES;
use crate::event::Frame;

/// Function-name prefixes of Rust runtime, SDK and framework code that is never in-app
/// (7.4.2, after Sentry's enhancement rules and `sentry-backtrace`'s list). Pass another list
/// to [`resolve_in_app_with`] to configure it per project.
pub const RUST_NOT_APP: &[&str] = &[
    "std::",
    "core::",
    "alloc::",
    "backtrace::",
    "__rust",
    "___rust",
    "__rustc::",
    "rust_begin_unwind",
    "rust_panic",
    "sentry::",
    "sentry_",
    "anyhow::",
    "eyre::",
    "tokio::",
    "futures::",
    "futures_core::",
    "futures_util::",
    "tracing::",
    "tracing_core::",
    "log::",
    "hyper::",
    "tower::",
    "axum::",
];

/// libc / runtime start-up symbols; not in-app unless the frame names a package (then it may be
/// the application's own `main`).
const NATIVE_RUNTIME_FUNCS: &[&str] = &[
    "_start",
    "__libc_start_main",
    "__libc_start_main_impl",
    "__libc_start_call_main",
    "main",
    "start_thread",
    "clone",
    "clone3",
    "__clone",
    "thread_start",
];

/// Paths of vendored / third-party code on any platform.
const THIRD_PARTY_PATHS: &[&str] = &[
    "/site-packages/",
    "/dist-packages/",
    "/node_modules/",
    "/vendor/",
];

/// URL schemes of browser extensions and the browser's own code: never the application's.
const BROWSER_NOT_APP_SCHEMES: &[&str] = &[
    "chrome-extension://",
    "moz-extension://",
    "safari-extension://",
    "safari-web-extension://",
    "webkit-masked-url://",
    "chrome://",
    "resource://",
];

/// Paths of the Sentry SDK itself (npm packages, the CDN bundle).
const JS_SDK_PATHS: &[&str] = &["/@sentry/", "/@sentry-internal/", "sentry-cdn.com/"];

/// Functions of the JavaScript SDK that wrap the application's callbacks.
const JS_SDK_FUNCTIONS: &[&str] = &["sentryWrapped"];

/// A leading `<`, `_<`, `<&`, `<&mut `, `<dyn ` and `<Ident as ` in front of a Rust path, so
/// `<core::… as …>::f` and `<T as core::…>::f` are matched against the deny-list.
static LEADING_QUALIFIER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^_?<(?:&(?:mut )?)?(?:dyn )?(?:[A-Za-z_][A-Za-z0-9_]* as )?")
        .expect("the qualifier pattern is a valid literal regex")
});

/// Resolves whether `frame` is application code, with the default Rust deny-list.
///
/// `platform` is the frame's own `platform` or else the event's. Returns the first matching
/// rule of 7.4.2, else the SDK's `in_app` (`true` only for a JSON `true`).
pub fn resolve_in_app(frame: &Value, platform: &str) -> bool {
    resolve_in_app_with(frame, platform, RUST_NOT_APP)
}

/// [`resolve_in_app`] with a caller-supplied list of Rust function prefixes that are never
/// in-app.
pub fn resolve_in_app_with(frame: &Value, platform: &str, rust_not_app: &[&str]) -> bool {
    Frame::of(frame, &NO_FRAMES).is_some_and(|f| verdict(f, platform, rust_not_app))
}

/// [`resolve_in_app_with`] of a frame read through the event view (a tree's frame or one kept
/// as text).
pub(crate) fn verdict(frame: Frame<'_>, platform: &str, rust_not_app: &[&str]) -> bool {
    match rule_verdict(frame, platform, rust_not_app) {
        Some(v) => v,
        None => frame.in_app_sent() == Some(true),
    }
}

/// `Some(false)` when a server rule decides the frame is not in-app, `None` when no rule
/// applies (the rules never promote a frame to in-app). The view's text fields read as the
/// reference's `frame.get(k) or …` (non-empty strings).
fn rule_verdict(frame: Frame<'_>, platform: &str, rust_not_app: &[&str]) -> Option<bool> {
    let function = frame
        .function()
        .or_else(|| frame.raw_function())
        .unwrap_or("");
    let filename = frame.filename().unwrap_or("");
    let path = frame.abs_path().unwrap_or(filename);
    if platform == "native" {
        if matches!(function, "<unknown>" | "<redacted>" | "") || function.starts_with("at /") {
            return Some(false);
        }
        if NATIVE_RUNTIME_FUNCS.contains(&function) && !frame.has_package() {
            return Some(false);
        }
        let stripped = LEADING_QUALIFIER.replace(function, "");
        let denied = |name: &str| rust_not_app.iter().any(|p| name.starts_with(p));
        if denied(&stripped) || denied(function) {
            return Some(false);
        }
        if path.starts_with("/rustc/")
            || path.contains("/.cargo/registry/")
            || path.contains("/.cargo/git/")
        {
            return Some(false);
        }
    }
    if matches!(platform, "javascript" | "node") && js_not_app(function, filename, path) {
        return Some(false);
    }
    if THIRD_PARTY_PATHS.iter().any(|p| path.contains(p)) {
        return Some(false);
    }
    if path.starts_with("node:") || filename.starts_with("node:") {
        return Some(false);
    }
    None
}

/// JavaScript frames that are never the application's (issue #17): browser extensions and
/// the browser's own code, the SDK itself, anonymous and native code. `node_modules` is
/// [`THIRD_PARTY_PATHS`]'s.
fn js_not_app(function: &str, filename: &str, path: &str) -> bool {
    if path.is_empty() && filename.is_empty() {
        return true;
    }
    matches!(
        path,
        "<anonymous>" | "[native code]" | "native" | "native code" | "eval code"
    ) || BROWSER_NOT_APP_SCHEMES.iter().any(|s| path.starts_with(s))
        || JS_SDK_PATHS.iter().any(|p| path.contains(p))
        || JS_SDK_FUNCTIONS.contains(&function)
}

/// Resolves `in_app` again after a later stage rewrote the frame (source maps gave it its
/// original path): the rules run on the new fields, and the SDK's value is the one kept in
/// `in_app_sdk`.
pub fn re_resolve_in_app(frame: &mut Value, platform: &str) {
    let Some(view) = Frame::of(frame, &NO_FRAMES) else {
        return;
    };
    let platform = frame_platform(view, platform);
    let sdk = frame.get("in_app_sdk").and_then(Value::as_bool) == Some(true);
    let verdict = rule_verdict(view, platform, RUST_NOT_APP).unwrap_or(sdk);
    if let Value::Object(f) = frame {
        f.insert("in_app".to_owned(), Value::Bool(verdict));
    }
}

/// The frame's own non-empty `platform`, else the event's (5.4).
pub(crate) fn frame_platform<'a>(frame: Frame<'a>, platform: &'a str) -> &'a str {
    frame.platform().unwrap_or(platform)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn native(function: &str, sdk: bool) -> Value {
        json!({"function": function, "in_app": sdk})
    }

    #[test]
    fn third_party_paths_any_platform() {
        for path in [
            "/usr/lib/python3/site-packages/requests/api.py",
            "/usr/lib/python3/dist-packages/x.py",
            "/app/node_modules/express/lib/router.js",
            "/app/vendor/bundle/gems/x.rb",
            "node:internal/process/task_queues",
        ] {
            let f = json!({"abs_path": path, "in_app": true});
            assert!(!resolve_in_app(&f, "python"), "{path}");
        }
        let f = json!({"filename": "node:events", "in_app": true});
        assert!(!resolve_in_app(&f, "node"));
    }

    #[test]
    fn browser_rules() {
        for f in [
            json!({"abs_path": "chrome-extension://abc/content.js", "function": "x", "in_app": true}),
            json!({"abs_path": "moz-extension://abc/c.js", "in_app": true}),
            json!({"abs_path": "http://h/node_modules/@sentry/browser/build/helpers.js", "in_app": true}),
            json!({"abs_path": "http://h/src/sdk.ts", "function": "sentryWrapped", "in_app": true}),
            json!({"abs_path": "https://browser.sentry-cdn.com/8.0.0/bundle.min.js", "in_app": true}),
            json!({"abs_path": "<anonymous>", "function": "f", "in_app": true}),
            json!({"abs_path": "[native code]", "function": "Array.map", "in_app": true}),
            json!({"function": "f", "in_app": true}),
        ] {
            assert!(!resolve_in_app(&f, "javascript"), "{f}");
        }
        let app =
            json!({"abs_path": "http://h/static/app.min.js", "function": "c", "in_app": true});
        assert!(resolve_in_app(&app, "javascript"));
        // Only JavaScript frames: a Python function may be called sentryWrapped.
        let py = json!({"abs_path": "/srv/x.py", "function": "sentryWrapped", "in_app": true});
        assert!(resolve_in_app(&py, "python"));
    }

    #[test]
    fn re_resolution_reads_the_sdk_value() {
        let mut f = json!({"abs_path": "http://h/app.min.js", "in_app": true, "in_app_sdk": true});
        f["abs_path"] = json!("http://h/node_modules/lodash/x.js");
        re_resolve_in_app(&mut f, "javascript");
        assert_eq!(f["in_app"], false);
        f["abs_path"] = json!("http://h/src/pricing.js");
        re_resolve_in_app(&mut f, "javascript");
        assert_eq!(f["in_app"], true);
    }

    #[test]
    fn sdk_value_otherwise_absent_is_false() {
        assert!(resolve_in_app(
            &json!({"abs_path": "/srv/app/x.py", "in_app": true}),
            "python"
        ));
        assert!(!resolve_in_app(
            &json!({"abs_path": "/usr/lib/python3.11/threading.py"}),
            "python"
        ));
        assert!(!resolve_in_app(&json!({"in_app": "yes"}), "python"));
    }

    #[test]
    fn rust_deny_list_and_qualifiers() {
        for f in [
            "std::panicking::begin_panic_handler",
            "core::result::unwrap_failed",
            "__rustc::rust_begin_unwind",
            "rust_begin_unwind",
            "sentry_panic::panic_handler",
            "sentry_core::hub::Hub::capture_event",
            "tokio::runtime::park::CachedParkThread::block_on",
            "<alloc::boxed::Box<F,A> as core::ops::function::Fn<Args>>::call",
            "<&mut W as core::fmt::Write>::write_str",
            "<T as core::convert::Into<U>>::into",
            "<u8 as core::fmt::Debug>::fmt",
            "_<std::io::Error as core::fmt::Display>::fmt",
        ] {
            assert!(!resolve_in_app(&native(f, true), "native"), "{f}");
        }
        assert!(resolve_in_app(
            &native("myapp::parse::parse_config", true),
            "native"
        ));
        assert!(resolve_in_app(
            &native("<myapp::Config as core::fmt::Display>::fmt", true),
            "native"
        ));
        // The deny-list is a parameter.
        assert!(resolve_in_app_with(
            &native("tokio::spawn", true),
            "native",
            &["std::"]
        ));
    }

    #[test]
    fn native_garbage_and_startup_frames() {
        for f in ["<unknown>", "<redacted>", "", "at /src/main.rs:10"] {
            assert!(!resolve_in_app(&native(f, true), "native"), "{f:?}");
        }
        for f in [
            "main",
            "_start",
            "__libc_start_main",
            "start_thread",
            "clone3",
        ] {
            assert!(!resolve_in_app(&native(f, true), "native"), "{f}");
        }
        let with_package = json!({"function": "main", "package": "myapp", "in_app": true});
        assert!(resolve_in_app(&with_package, "native"));
        // Only on native: a Python function called `main` is fine.
        assert!(resolve_in_app(&native("main", true), "python"));
    }

    #[test]
    fn rust_toolchain_and_registry_paths() {
        for path in [
            "/rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/std/src/rt.rs",
            "/home/u/.cargo/registry/src/index.crates.io-6f17d22bba15001f/serde-1.0.0/src/de.rs",
            "/home/u/.cargo/git/checkouts/x/src/lib.rs",
        ] {
            let f = json!({"function": "helper::run", "abs_path": path, "in_app": true});
            assert!(!resolve_in_app(&f, "native"), "{path}");
        }
    }
}
