//! A panic caught by `catch_unwind` produces an event with the message, location, thread name,
//! in-app frames with this file's line numbers, source context and locals at the panic point.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};

use errata::ClientOptions;
use serde_json::Value;

static PANIC_LINE: AtomicU32 = AtomicU32::new(0);
static CALL_LINE: AtomicU32 = AtomicU32::new(0);

#[inline(never)]
fn checkout(user_id: u64, cart: &[u32], password: &str) {
    let total: u32 = cart.iter().sum();
    let attempts = Cell::new(1);
    errata::locals!(user_id, total, &attempts, password);
    attempts.set(3); // changed after registration: the event must show 3
    PANIC_LINE.store(line!() + 1, Ordering::SeqCst);
    panic!("checkout failed for user {user_id}");
}

#[inline(never)]
fn handle_request(request_id: &str) {
    let cart = vec![1, 2, 3];
    errata::locals!(request_id, cart);
    CALL_LINE.store(line!() + 1, Ordering::SeqCst);
    checkout(42, &cart, "hunter2");
}

fn frames(ev: &Value) -> Vec<Value> {
    ev["exception"]["values"][0]["stacktrace"]["frames"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn panic_event_has_location_frames_context_and_locals() {
    let events =
        errata::test::with_captured_events_options(ClientOptions::new().debug(false), || {
            let r = std::panic::catch_unwind(|| handle_request("req-7"));
            assert!(r.is_err());
        });
    assert_eq!(events.len(), 1);
    let ev = &events[0];
    assert_eq!(ev["level"], "fatal");
    assert_eq!(ev["platform"], "native");
    let exc = &ev["exception"]["values"][0];
    assert_eq!(exc["type"], "panic");
    assert_eq!(exc["value"], "checkout failed for user 42");
    assert_eq!(exc["mechanism"]["type"], "panic");
    assert_eq!(exc["mechanism"]["handled"], false);
    let loc = format!("{}:{}:5", file!(), PANIC_LINE.load(Ordering::SeqCst));
    assert_eq!(exc["mechanism"]["data"]["location"], loc);

    let thread = &ev["threads"]["values"][0];
    assert_eq!(
        thread["name"],
        "panic_event_has_location_frames_context_and_locals"
    );

    let frames = frames(ev);
    let last = frames.last().expect("frames");
    assert!(
        last["function"].as_str().unwrap().ends_with("checkout"),
        "{last}"
    );
    assert_eq!(last["in_app"], true);
    assert_eq!(last["lineno"], PANIC_LINE.load(Ordering::SeqCst));
    assert!(last["abs_path"]
        .as_str()
        .unwrap()
        .ends_with("tests/panic_capture.rs"));
    assert!(last["context_line"]
        .as_str()
        .unwrap()
        .contains("panic!(\"checkout failed"));
    assert_eq!(last["pre_context"].as_array().unwrap().len(), 5);
    assert_eq!(last["post_context"].as_array().unwrap().len(), 5);
    assert_eq!(last["vars"]["user_id"], "42");
    assert_eq!(last["vars"]["total"], "6");
    assert_eq!(last["vars"]["attempts"], "Cell { value: 3 }");
    assert_eq!(last["vars"]["password"], "[Filtered]");

    let caller = &frames[frames.len() - 2];
    assert!(
        caller["function"]
            .as_str()
            .unwrap()
            .ends_with("handle_request"),
        "{caller}"
    );
    assert_eq!(caller["lineno"], CALL_LINE.load(Ordering::SeqCst));
    assert_eq!(caller["vars"]["request_id"], "\"req-7\"");
    assert_eq!(caller["vars"]["cart"], "[1, 2, 3]");

    // Only the application's frames are in-app; no SDK or panic machinery at all.
    for f in &frames {
        let func = f["function"].as_str().unwrap_or("");
        assert!(!func.starts_with("errata::"), "sdk frame reported: {func}");
        assert!(
            !func.contains("panicking::begin_panic"),
            "machinery kept: {func}"
        );
        if f["in_app"] == true {
            assert!(
                func.starts_with("panic_capture::"),
                "unexpected in-app frame {func}"
            );
        }
    }
    assert!(ev["contexts"]["os"].is_object());
    assert!(ev["contexts"]["runtime"]["name"] == "rustc");
}

#[test]
fn two_panic_sites_have_different_crash_frames() {
    #[inline(never)]
    fn site_a() {
        panic!("a");
    }
    #[inline(never)]
    fn site_b() {
        panic!("b");
    }
    let events = errata::test::with_captured_events(|| {
        let _ = std::panic::catch_unwind(site_a);
        let _ = std::panic::catch_unwind(site_b);
        let _ = std::panic::catch_unwind(site_a);
    });
    assert_eq!(events.len(), 3);
    let top = |ev: &Value| {
        frames(ev)
            .iter()
            .filter(|f| f["in_app"] == true)
            .map(|f| f["function"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(top(&events[0]), top(&events[2]));
    assert_ne!(top(&events[0]), top(&events[1]));
    assert!(top(&events[0]).last().unwrap().ends_with("site_a"));
}
