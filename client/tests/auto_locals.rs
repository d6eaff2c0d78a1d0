//! Locals read from debug info (feature `auto-locals`): this test binary is built with full
//! debug info (the workspace's `[profile.dev.package.errata]`), the probe's functions hold
//! variables of every supported kind without any macro, and the captured event must show
//! their values on their frames, merged with `locals!` values (which win), secrets filtered.

#![cfg(feature = "auto-locals")]
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::hint::black_box;
use std::time::Duration;

use errata::{ClientOptions, FlushOnPanic};
use serde_json::Value;

/// The end-to-end test's probe (`examples/auto_locals_probe.rs`), run here in-process.
#[path = "../examples/auto_locals_probe.rs"]
#[expect(dead_code, reason = "the example's `main` is not called here")]
mod probe;

#[inline(never)]
fn merged(count: u32, label: &str) {
    let owned = format!("{label}-owned");
    let explicit = 5u8;
    errata::locals!(explicit, count);
    black_box((&owned, explicit));
    panic!("merged failed");
}

fn frames(ev: &Value) -> Vec<Value> {
    ev["exception"]["values"][0]["stacktrace"]["frames"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn frame<'a>(frames: &'a [Value], name: &str) -> &'a Value {
    frames
        .iter()
        .find(|f| f["function"].as_str().is_some_and(|n| n.ends_with(name)))
        .unwrap_or_else(|| panic!("no frame {name}: {frames:#?}"))
}

fn capture_panic(f: fn()) -> Value {
    let events = errata::test::with_captured_events_options(
        ClientOptions::new()
            .flush_on_panic(FlushOnPanic::Always)
            .shutdown_timeout(Duration::from_secs(20)),
        || {
            let r = std::panic::catch_unwind(f);
            assert!(r.is_err());
        },
    );
    assert_eq!(events.len(), 1);
    events[0].clone()
}

#[test]
fn panic_frames_carry_their_variables_from_debug_info() {
    let ev = capture_panic(|| {
        probe::checkout(black_box(3), black_box("order"));
    });
    assert!(ev.get("errors").is_none(), "{}", ev["errors"]);
    let frames = frames(&ev);
    let customer = "Customer { id: 42, name: \"Ada\", address: Address { city: \"Zürich\", \
                    zip: 8001 }, scores: [7, 9], api_token: [Filtered] }";
    let charge = frame(&frames, "auto_locals::probe::charge");
    let vars = &charge["vars"];
    assert_eq!(vars["customer"], customer, "{charge:#}");
    assert_eq!(vars["amount"], "19.5");
    assert_eq!(vars["coupon"], "Some(\"order-3\")");
    assert_eq!(vars["password"], "[Filtered]");
    assert_eq!(vars["attempts"], "3");
    assert_eq!(vars["rate"], "0.75");
    assert_eq!(vars["grade"], "'A'");
    assert_eq!(vars["checks"], "(true, -2)");
    assert_eq!(charge["data"]["vars_source"]["amount"], "debug_info");

    let checkout = frame(&frames, "auto_locals::probe::checkout");
    let vars = &checkout["vars"];
    assert_eq!(vars["count"], "3", "{checkout:#}");
    assert_eq!(vars["label"], "\"order\"");
    assert_eq!(vars["order"], "\"order-3\"");
    assert_eq!(vars["quantities"], "[1, 2, 3]");
    assert_eq!(vars["customer"], customer);
    assert_eq!(vars["total"], "-17");
}

#[test]
fn explicit_locals_win_over_debug_info() {
    let ev = capture_panic(|| merged(4, "lbl"));
    assert!(ev.get("errors").is_none(), "{}", ev["errors"]);
    let frames = frames(&ev);
    let f = frame(&frames, "auto_locals::merged");
    assert_eq!(f["vars"]["explicit"], "5", "{f:#}");
    assert_eq!(f["vars"]["count"], "4");
    assert_eq!(f["vars"]["owned"], "\"lbl-owned\"");
    assert_eq!(f["data"]["vars_source"]["explicit"], "locals");
    assert_eq!(f["data"]["vars_source"]["count"], "locals");
    assert_eq!(f["data"]["vars_source"]["owned"], "debug_info");
}

#[derive(Debug)]
struct ParseFailure;

impl std::fmt::Display for ParseFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("parse failure")
    }
}

impl std::error::Error for ParseFailure {}

#[inline(never)]
fn report(input: &str, limit: usize) {
    let long = "x".repeat(5_000);
    let numbers: Vec<u64> = (0..100).collect();
    let session_id = 77u32;
    black_box((&long, &numbers, session_id, limit));
    errata::capture_error(&ParseFailure);
    // The worker reads heap buffers when it handles the event: wait while they are alive.
    assert!(errata::flush(Duration::from_secs(20)));
    black_box(input);
}

#[test]
fn capture_error_bounds_long_values_and_filters_secrets() {
    let events = errata::test::with_captured_events_options(
        ClientOptions::new().max_value_length(100),
        || report("1x2", 9),
    );
    assert_eq!(events.len(), 1);
    assert!(events[0].get("errors").is_none(), "{}", events[0]["errors"]);
    let report = frames(&events[0]);
    let vars = &frame(&report, "auto_locals::report")["vars"];
    assert_eq!(vars["input"], "\"1x2\"");
    assert_eq!(vars["limit"], "9");
    assert_eq!(vars["session_id"], "[Filtered]");
    let long = vars["long"].as_str().unwrap();
    assert!(long.starts_with("\"xxxx") && long.ends_with('…'), "{long}");
    assert!(long.len() <= 100 + '…'.len_utf8(), "{}", long.len());
    let numbers = vars["numbers"].as_str().unwrap();
    assert!(
        numbers.starts_with("[0, 1, 2, 3") && numbers.ends_with("… 84 more]"),
        "{numbers}"
    );
}

#[test]
fn switched_off_or_too_small_a_copy_gives_no_values_and_says_why() {
    let events =
        errata::test::with_captured_events_options(ClientOptions::new().auto_locals(false), || {
            report("a", 1)
        });
    let off = frames(&events[0]);
    assert!(frame(&off, "auto_locals::report")["vars"].is_null());
    assert!(events[0].get("errors").is_none());

    // 64 bytes hold no caller frame: every frame is beyond the copy.
    let events = errata::test::with_captured_events_options(
        ClientOptions::new().auto_locals_stack_size(64),
        || report("a", 1),
    );
    let small = frames(&events[0]);
    let report = frame(&small, "auto_locals::report");
    assert!(report["vars"].is_null(), "{report:#}");
    let errors = events[0]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["type"], "auto_locals");
    assert!(
        errors[0]["reason"]
            .as_str()
            .unwrap()
            .contains("beyond the 64-byte stack copy"),
        "{errors:?}"
    );
}
