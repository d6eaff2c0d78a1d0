//! Error chains, scopes across `.await`, secret filtering, tracing span locals and the
//! disabled SDK.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use errata::{Client, ClientOptions, Hub, HubFutureExt, Level, Scope};

#[derive(Debug)]
struct InnerError {
    code: i32,
}
impl fmt::Display for InnerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "disk said {}", self.code)
    }
}
impl std::error::Error for InnerError {}

#[derive(Debug)]
struct MiddleError(InnerError);
impl fmt::Display for MiddleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("could not load config")
    }
}
impl std::error::Error for MiddleError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[derive(Debug)]
struct OuterError(MiddleError);
impl fmt::Display for OuterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("startup failed")
    }
}
impl std::error::Error for OuterError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[inline(never)]
fn start_service() {
    let api_token = "s3cr3t";
    let retries = 2;
    errata::locals!(api_token, retries);
    let err = OuterError(MiddleError(InnerError { code: 7 }));
    errata::capture_error(&err);
}

#[test]
fn error_chain_has_three_values_innermost_first() {
    let events = errata::test::with_captured_events(start_service);
    assert_eq!(events.len(), 1);
    let values = events[0]["exception"]["values"].as_array().unwrap().clone();
    assert_eq!(values.len(), 3);
    assert_eq!(values[0]["type"], "InnerError");
    assert_eq!(values[0]["value"], "disk said 7");
    assert_eq!(values[1]["type"], "MiddleError");
    assert_eq!(values[2]["type"], "OuterError");
    assert_eq!(values[2]["module"], "errors_scope");
    assert_eq!(values[2]["value"], "startup failed");
    assert_eq!(values[2]["mechanism"]["handled"], true);
    let frames = values[2]["stacktrace"]["frames"].as_array().unwrap();
    let last = frames.last().unwrap();
    assert!(
        last["function"]
            .as_str()
            .unwrap()
            .ends_with("start_service"),
        "{last}"
    );
    assert_eq!(last["in_app"], true);
    assert_eq!(last["vars"]["api_token"], "[Filtered]");
    assert_eq!(last["vars"]["retries"], "2");
    assert!(frames
        .iter()
        .all(|f| !f["function"].as_str().unwrap_or("").starts_with("errata::")));
}

#[test]
fn dyn_error_and_message_capture() {
    let events = errata::test::with_captured_events(|| {
        let e: Box<dyn std::error::Error + Send + Sync> = "x".parse::<u8>().unwrap_err().into();
        errata::capture_error(&*e);
        errata::add_breadcrumb(errata::breadcrumb("auth", "user logged in"));
        errata::capture_message("something odd", Level::Warning);
    });
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[0]["exception"]["values"][0]["value"],
        "invalid digit found in string"
    );
    assert_eq!(events[1]["message"], "something odd");
    assert_eq!(events[1]["level"], "warning");
    assert_eq!(
        events[1]["breadcrumbs"]["values"][0]["message"],
        "user logged in"
    );
    assert!(events[1]["threads"]["values"][0]["stacktrace"]["frames"].is_array());
}

#[test]
fn scope_follows_tasks_across_await() {
    let transport = errata::test::TestTransport::new();
    let t = transport.clone();
    let client = Client::new(ClientOptions::new().transport(move |_| t.clone()));
    let base = Hub::new(Some(client.clone()), Scope::empty());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut handles = Vec::new();
        for name in ["a", "b", "c", "d"] {
            let hub = Hub::new_from_top(&base);
            handles.push(tokio::spawn(
                async move {
                    errata::configure_scope(|s| s.set_tag("task", name));
                    errata::add_breadcrumb(errata::breadcrumb("task", format!("start {name}")));
                    for _ in 0..3 {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        tokio::task::yield_now().await;
                    }
                    errata::with_scope(
                        |s| s.set_tag("inner", "yes"),
                        || errata::capture_message(name, Level::Info),
                    );
                    errata::capture_message(&format!("{name}-outer"), Level::Info);
                }
                .bind_hub(hub),
            ));
        }
        for h in handles {
            h.await.unwrap();
        }
    });
    assert!(client.flush(Duration::from_secs(10)));
    let events = transport.events();
    assert_eq!(events.len(), 8);
    for ev in &events {
        let msg = ev["message"].as_str().unwrap();
        let name = msg.trim_end_matches("-outer");
        assert_eq!(ev["tags"]["task"], name, "{msg}");
        assert_eq!(ev["tags"].get("inner").is_some(), !msg.ends_with("-outer"));
        let crumbs = ev["breadcrumbs"]["values"].as_array().unwrap();
        assert_eq!(crumbs.len(), 1);
        assert_eq!(crumbs[0]["message"], format!("start {name}"));
    }
}

#[test]
fn global_scope_applies_to_all_hubs() {
    errata::configure_global_scope(|s| s.set_tag("deployment", "blue"));
    let events = errata::test::with_captured_events(|| {
        errata::capture_message("hi", Level::Info);
    });
    assert_eq!(events[0]["tags"]["deployment"], "blue");
}

#[test]
fn before_send_can_drop_and_edit() {
    let events = errata::test::with_captured_events_options(
        ClientOptions::new().before_send(|mut e| {
            if e.message.as_deref() == Some("drop me") {
                return None;
            }
            e.tags.insert("edited".into(), "1".into());
            Some(e)
        }),
        || {
            errata::capture_message("drop me", Level::Info);
            errata::capture_message("keep me", Level::Info);
        },
    );
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["tags"]["edited"], "1");
}

#[test]
fn disabled_sdk_sends_nothing() {
    std::env::remove_var("ERRATA_DSN");
    std::env::remove_var("SENTRY_DSN");
    let guard = errata::init(ClientOptions::new());
    assert!(!guard.is_enabled());
    // No DSN → no client anywhere in this thread's hub.
    let hub = Hub::new(None, Scope::empty());
    let id = Hub::run(hub, || {
        let x = 5;
        errata::locals!(x);
        errata::capture_message("nobody listens", Level::Error)
    });
    assert!(id.is_nil());
    assert!(guard.flush(Duration::from_millis(10)));
    let _: Option<&Arc<Client>> = guard.client();
}

#[cfg(feature = "tracing")]
mod tracing_layer {
    use tracing_subscriber::prelude::*;

    #[tracing::instrument]
    #[inline(never)]
    fn charge(customer: &str, amount_cents: u64, card_token: &str) {
        tracing::info!(step = "validate", "charging customer");
        panic!("card declined");
    }

    #[test]
    fn instrument_arguments_become_frame_locals() {
        let subscriber =
            tracing_subscriber::registry().with(errata::integrations::tracing::ErrataLayer::new());
        let events = tracing::subscriber::with_default(subscriber, || {
            errata::test::with_captured_events(|| {
                let _ = std::panic::catch_unwind(|| charge("acme", 1999, "tok_123"));
            })
        });
        assert_eq!(events.len(), 1);
        let frames = events[0]["exception"]["values"][0]["stacktrace"]["frames"]
            .as_array()
            .unwrap()
            .clone();
        let f = frames
            .iter()
            .rev()
            .find(|f| f["function"].as_str().unwrap_or("").ends_with("charge"))
            .expect("charge frame");
        assert_eq!(f["vars"]["customer"], "\"acme\"");
        assert_eq!(f["vars"]["amount_cents"], "1999");
        assert_eq!(f["vars"]["card_token"], "[Filtered]");
        let crumbs = events[0]["breadcrumbs"]["values"].as_array().unwrap();
        assert_eq!(crumbs.last().unwrap()["message"], "charging customer");
    }
}

#[cfg(feature = "log")]
#[test]
fn log_records_become_breadcrumbs() {
    let logger = errata::integrations::log::ErrataLogger::new(None::<Box<dyn log::Log>>);
    log::set_boxed_logger(Box::new(logger)).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    let events = errata::test::with_captured_events(|| {
        log::info!(target: "db", "connected to {}", "primary");
        log::debug!("too chatty to keep");
        errata::capture_message("after log", Level::Info);
    });
    let crumbs = events[0]["breadcrumbs"]["values"].as_array().unwrap();
    assert_eq!(crumbs.len(), 1);
    assert_eq!(crumbs[0]["category"], "db");
    assert_eq!(crumbs[0]["message"], "connected to primary");
}
