//! End-to-end grouping tests: the recorded sentry-python fixtures (normalize → group), golden
//! values from `reference_grouping.py`, and synthetic Rust-panic / Node events.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{json, Value};

use super::{group, Grouping};
use crate::normalize::{normalize, NormalizeContext};

const FIXTURES: &str = crate::protocol::PYTHON_FIXTURES;

fn ctx() -> NormalizeContext {
    NormalizeContext {
        received_ms: 1_795_000_000_000,
        envelope_event_id: None,
        client_ip: None,
        timestamp_bounds: Default::default(),
    }
}

/// Minimal envelope splitter (sentry-protocol.md 4.1), test-only: returns each item's header
/// and payload.
fn split_envelope(body: &[u8]) -> Vec<(Value, Vec<u8>)> {
    fn line(body: &[u8], pos: usize) -> (&[u8], usize) {
        match body[pos..].iter().position(|&b| b == b'\n') {
            Some(n) => (&body[pos..pos + n], pos + n + 1),
            None => (&body[pos..], body.len()),
        }
    }
    let (_, mut pos) = line(body, 0);
    let mut items = Vec::new();
    while pos < body.len() {
        if body[pos].is_ascii_whitespace() {
            pos += 1;
            continue;
        }
        let (header, next) = line(body, pos);
        let header: Value = serde_json::from_slice(header).expect("item header is JSON");
        let (payload, after) = match header.get("length").and_then(Value::as_u64) {
            Some(len) => {
                let end = next + usize::try_from(len).expect("length fits usize");
                (&body[next..end], (end + 1).min(body.len()))
            }
            None => line(body, next),
        };
        items.push((header, payload.to_vec()));
        pos = after;
    }
    items
}

/// The `event` item of a fixture envelope, if any.
fn fixture_event(name: &str) -> Option<Value> {
    let path = PathBuf::from(FIXTURES).join(format!("{name}.envelope"));
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    split_envelope(&body)
        .into_iter()
        .find(|(h, _)| h["type"] == "event")
        .map(|(_, p)| serde_json::from_slice(&p).expect("event payload is JSON"))
}

/// The event as normalization leaves it: what grouping reads.
pub(crate) fn normalized(event: Value) -> Value {
    normalize(event, &ctx()).event
}

fn group_normalized(event: Value) -> Grouping {
    group(&normalize(event, &ctx()).view())
}

/// Every fixture with an `event` item, grouped, with its expected label.
fn grouped_fixtures() -> Vec<(String, String, Grouping)> {
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(PathBuf::from(FIXTURES).join("manifest.json")).expect("manifest"),
    )
    .expect("manifest is JSON");
    let mut out = Vec::new();
    for (name, info) in manifest["fixtures"].as_object().expect("fixtures map") {
        let event = fixture_event(name);
        match info["expected_group"].as_str() {
            Some(label) => {
                let event = event.unwrap_or_else(|| panic!("{name}: expected an event item"));
                out.push((name.clone(), label.to_owned(), group_normalized(event)));
            }
            None => assert!(event.is_none(), "{name}: expected no event item"),
        }
    }
    out
}

#[test]
fn fixtures_partition_matches_manifest_labels() {
    let grouped = grouped_fixtures();
    assert!(
        grouped.len() >= 25,
        "only {} fixtures grouped",
        grouped.len()
    );
    for (a_name, a_label, a) in &grouped {
        for (b_name, b_label, b) in &grouped {
            assert_eq!(
                a_label == b_label,
                a.hash == b.hash,
                "{a_name} ({a_label}, {}) vs {b_name} ({b_label}, {}):\n{:#?}\n{:#?}",
                a.kind,
                b.kind,
                a.values,
                b.values
            );
        }
    }
}

#[test]
fn fixtures_readme_must_differ_relationships() {
    let mut by_label: BTreeMap<String, String> = BTreeMap::new();
    for (_, label, g) in grouped_fixtures() {
        by_label.insert(label, g.hash);
    }
    let groups: &[&[&str]] = &[
        &[
            "payment-chain",
            "fp-default-tenant-a",
            "fp-default-tenant-b",
            "fp-outage",
        ],
        &["validate", "fp-outage"],
        &[
            "report-zerodiv-logged",
            "report-zerodiv-unhandled",
            "thread-zerodiv",
        ],
        &[
            "msg-export",
            "msg-timeout",
            "msg-stack",
            "quota",
            "log-sync",
            "msg-attachment",
        ],
    ];
    for labels in groups {
        let hashes: Vec<&String> = labels
            .iter()
            .map(|l| {
                by_label
                    .get(*l)
                    .unwrap_or_else(|| panic!("label {l} missing"))
            })
            .collect();
        for (i, a) in hashes.iter().enumerate() {
            for (j, b) in hashes.iter().enumerate() {
                if i != j {
                    assert_ne!(a, b, "{} vs {}", labels[i], labels[j]);
                }
            }
        }
    }
}

/// Golden data produced with
/// `python3 shared/fixtures/reference_grouping.py --explain shared/fixtures/python/NAME.envelope`
/// (full hashes printed via `reference_grouping.grouping(event_from_file(path))`).
#[test]
fn matches_python_reference_on_fixtures() {
    let golden: &[(&str, &str, &str, &[&str])] = &[
        (
            "chained_exception_a",
            "exception-app",
            "ffdba81ada52373ba28487bb92f9e9dddc35f73da308d31cbc69796f42638008",
            &[
                "type:ValueError",
                "module:fixture_app.payments",
                "fn:charge",
                "module:fixture_app.payments",
                "fn:gateway_call",
                "type:PaymentError",
                "module:__main__",
                "fn:_capture_order_failure",
                "module:fixture_app.orders",
                "fn:process_order",
                "module:fixture_app.payments",
                "fn:charge",
            ],
        ),
        (
            "exception_group",
            "exception-app",
            "5f0afd3ff46c981b7f3322a67e471fe301a59ce5c40d93d9f6c655bbbe60f0a5",
            &[
                "type:ValueError",
                "module:__main__",
                "fn:import_rows",
                "type:KeyError",
                "module:__main__",
                "fn:import_rows",
                "type:ExceptionGroup",
                "module:__main__",
                "fn:s_exception_group",
                "module:__main__",
                "fn:import_rows",
            ],
        ),
        (
            "message_variable_a",
            "message",
            "5c0ddf3d3b8c502e138b56bac38a85635203739876024764289f09a16fa5380f",
            &["message:Upstream timeout after <int> ms for request <uuid> at <hex>"],
        ),
        (
            "fingerprint_default_tenant_a",
            "fingerprint+exception-app",
            "138cd53deec5a3872c446d3eeee147efdcff3aef336cf79af105093d00514597",
            &[
                "type:ValueError",
                "module:fixture_app.payments",
                "fn:charge",
                "module:fixture_app.payments",
                "fn:gateway_call",
                "type:PaymentError",
                "module:__main__",
                "fn:_capture_order_failure",
                "module:fixture_app.orders",
                "fn:process_order",
                "module:fixture_app.payments",
                "fn:charge",
                "fp:tenant-a",
            ],
        ),
        (
            "unhandled_thread",
            "exception-app",
            "3f8226d5aea294aa5815fb1646b80c2b3ee574aba9f123e895b5e9488befdc91",
            &[
                "type:ZeroDivisionError",
                "module:fixture_app.reports",
                "fn:average",
            ],
        ),
        (
            "message_attach_stacktrace_a",
            "threads-app",
            "30275d124e20744eb5deae5eb29b998bbf619e017209b9f093082a37887a7fd5",
            &[
                "module:__main__",
                "fn:<module>",
                "module:__main__",
                "fn:child",
                "module:__main__",
                "fn:s_message_stack",
                "module:__main__",
                "fn:_message_from_call_site",
            ],
        ),
        (
            "recursion_depth_6",
            "exception-app",
            "8bb90874aa1713ceae00c53b1b44b29dd99c661cfbf8e8c5f7f1b7ce0c03e89e",
            &[
                "type:RecursionError",
                "module:__main__",
                "fn:_walk",
                "module:fixture_app.reports",
                "fn:walk_tree",
                "module:fixture_app.reports",
                "fn:walk_tree",
            ],
        ),
    ];
    for &(name, kind, hash, values) in golden {
        let event = fixture_event(name).expect("fixture has an event");
        let g = group_normalized(event);
        assert_eq!(g.kind, kind, "{name}");
        assert_eq!(g.values, values, "{name}");
        assert_eq!(g.hash, hash, "{name}");
        assert_eq!(g.version, "v1");
    }
}

/// A Rust panic as the `sentry` crate sends it: start-up frames first, SDK frames last, and the
/// SDK marking `main`, `__rustc::rust_begin_unwind` and `sentry_panic::*` in-app.
fn rust_panic(message: &str, line: u64) -> Value {
    json!({"platform": "native", "level": "fatal", "exception": {"values": [{
        "type": "panic", "value": message,
        "mechanism": {"type": "panic", "handled": false},
        "stacktrace": {"frames": [
            {"function": "_start", "in_app": true},
            {"function": "__libc_start_main", "in_app": true},
            {"function": "main", "in_app": true},
            {"function": "std::rt::lang_start_internal::{closure#0}", "package": "std", "in_app": false},
            {"function": "std::panic::catch_unwind::<&dyn core::ops::function::Fn<(), Output = i32> + core::marker::Sync + core::panic::unwind_safe::RefUnwindSafe, i32>", "in_app": false},
            {"function": "core::ops::function::FnOnce::call_once::{{vtable.shim}}", "in_app": true},
            {"function": "rustfix::main", "filename": "main.rs", "abs_path": "/home/dev/rustfix/src/main.rs", "lineno": line + 23, "in_app": true},
            {"function": "rustfix::config::load::<std::path::PathBuf>", "filename": "config.rs", "lineno": line, "in_app": true},
            {"function": "<alloc::vec::Vec<T> as core::iter::traits::collect::FromIterator<T>>::from_iter", "in_app": true},
            {"function": "rustfix::config::parse_line::{{closure}}", "filename": "config.rs", "lineno": line + 6, "in_app": true},
            {"function": "core::result::unwrap_failed", "abs_path": "/rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/core/src/result.rs", "in_app": true},
            {"function": "core::panicking::panic_fmt", "in_app": true},
            {"function": "__rustc::rust_begin_unwind", "in_app": true},
            {"function": "std::panicking::begin_panic_handler", "in_app": true},
            {"function": "sentry_panic::panic_handler", "in_app": true},
            {"function": "sentry_backtrace::backtrace_to_stacktrace", "in_app": true}
        ]}
    }]}})
}

/// Golden hash from `reference_grouping.py --explain` on the same event written to a file.
#[test]
fn rust_panic_groups_by_app_frames_only() {
    let a = group_normalized(rust_panic(
        "called `Result::unwrap()` on an `Err` value: ParseIntError { kind: InvalidDigit } at line 17",
        17,
    ));
    let b = group_normalized(rust_panic(
        "called `Result::unwrap()` on an `Err` value: ParseIntError { kind: Empty }",
        22,
    ));
    assert_eq!(a.kind, "exception-app");
    assert_eq!(
        a.values,
        [
            "type:panic",
            "fn:rustfix::main",
            "fn:rustfix::config::load",
            "fn:rustfix::config::parse_line::{{closure}}",
        ]
    );
    assert_eq!(
        a.hash,
        "b275cdd4f7484627c6ff8fcfe0a8c4772e11e6c4c82764de3be0d881b1c16315"
    );
    assert_eq!(a, b);
}

/// @sentry/node `captureMessage` with a synthetic exception: the stack decides, not the text.
fn node_message(text: &str) -> Value {
    json!({"platform": "node", "level": "info", "message": text,
    "exception": {"values": [{"value": text,
        "mechanism": {"type": "generic", "handled": true, "synthetic": true},
        "stacktrace": {"frames": [
            {"filename": "node:internal/main/run_main_module", "module": "run_main_module", "function": "?", "lineno": 28, "colno": 49, "in_app": false},
            {"filename": "node:internal/modules/cjs/loader", "module": "loader", "function": "Module._load", "lineno": 1104, "colno": 12, "in_app": false},
            {"filename": "/srv/app/node_modules/express/lib/router/index.js", "abs_path": "/srv/app/node_modules/express/lib/router/index.js", "module": "express.lib.router:index", "function": "Layer.handle", "lineno": 95, "in_app": false},
            {"filename": "/srv/app/index.js", "abs_path": "/srv/app/index.js", "module": "index", "function": "Object.<anonymous>", "lineno": 12, "colno": 3, "context_line": "  warmCache(42);", "in_app": true},
            {"filename": "/srv/app/cache.js", "abs_path": "/srv/app/cache.js", "module": "cache", "function": "warmCache", "lineno": 30, "colno": 10, "context_line": "    Sentry.captureMessage(`Cache miss storm for tenant ${id}`);", "in_app": true}
        ]}
    }]}})
}

/// Golden hash from `reference_grouping.py --explain` on the same event written to a file.
#[test]
fn node_capture_message_groups_by_stack() {
    let a = normalize(node_message("Cache miss storm for tenant 42"), &ctx());
    let b = group_normalized(node_message("Cache miss storm for tenant 7"));
    let ga = group(&a.view());
    assert_eq!(ga.kind, "exception-app");
    assert_eq!(
        ga.values,
        [
            "module:index",
            "ctx:warmCache(42);",
            "module:cache",
            "fn:warmCache"
        ]
    );
    assert_eq!(
        ga.hash,
        "a431d42e1cd370b44f9dc1826a7d006365bb01c750b0d5649ea3cf1336689d32"
    );
    assert_eq!(ga, b);
    assert_eq!(a.fields.title, "Cache miss storm for tenant 42");
    assert_eq!(a.fields.culprit.as_deref(), Some("cache in warmCache"));
}

#[test]
fn hash_encoding_and_family() {
    let v = vec!["a".to_owned(), "b".to_owned()];
    assert_eq!(
        super::hash("exception-app", &v),
        super::hash("exception-system", &v)
    );
    assert_ne!(
        super::hash("exception-app", &v),
        super::hash("threads-app", &v)
    );
    assert_ne!(
        super::hash("message", &["ab".to_owned()]),
        super::hash("message", &v)
    );
    assert_ne!(
        super::hash("fingerprint+exception-app", &v),
        super::hash("fingerprint", &v)
    );
    assert_eq!(super::hash("fallback", &[]).len(), 64);
}
