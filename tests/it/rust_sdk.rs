//! End to end with the official Rust SDK (the `sentry` crate): errors and panics sent to a live
//! server are stored with native frames, and grouping separates panic sites while merging
//! repeats of one site (sentry-protocol.md 7.3, "Rust panic, same site, different input").

use std::time::Duration;

use serde_json::Value;

use crate::helpers::TestApp;

#[inline(never)]
fn parse_quantity(input: &str) -> u32 {
    input.parse().expect("quantity must be a number")
}

#[inline(never)]
fn checkout_total(items: usize) -> usize {
    let prices: Vec<usize> = Vec::new();
    prices[items]
}

#[tokio::test]
async fn sentry_crate_panics_and_errors_group_by_site() {
    let app = TestApp::spawn().await;
    let dsn = app.dsn();
    tokio::task::spawn_blocking(move || {
        let mut options = sentry::ClientOptions::new();
        options.release = Some("rust-shop@2.0.0".into());
        options.environment = Some("test".into());
        let guard = sentry::init((dsn, options));
        // The same panic site twice with different input, and a second site once.
        for input in ["x1", "y22"] {
            let _ = std::panic::catch_unwind(|| parse_quantity(input));
        }
        let _ = std::panic::catch_unwind(|| checkout_total(3));
        let err = std::fs::read("/nonexistent/errata-test").expect_err("missing file");
        sentry::capture_error(&err);
        assert!(guard.flush(Some(Duration::from_secs(10))), "sentry flushed");
    })
    .await
    .expect("sdk thread");

    let issues = app.all_issues().await;
    let count_of = |needle: &str| -> Vec<i64> {
        issues
            .iter()
            .filter(|i| i["title"].as_str().is_some_and(|t| t.contains(needle)))
            .map(|i| i["count"].as_i64().unwrap_or(0))
            .collect()
    };
    assert_eq!(
        count_of("quantity must be a number"),
        vec![2],
        "one site, one issue: {issues:#?}"
    );
    assert_eq!(count_of("index out of bounds"), vec![1], "{issues:#?}");
    assert_eq!(
        issues.len(),
        3,
        "two panic sites and one error: {issues:#?}"
    );

    let panic_issue = issues
        .iter()
        .find(|i| i["title"].as_str().is_some_and(|t| t.contains("quantity")))
        .expect("panic issue");
    assert_eq!(panic_issue["level"], "fatal");
    let events = app
        .api(&format!("/api/v1/issues/{}/events", panic_issue["id"]))
        .await;
    let id = events["events"][0]["event_id"]
        .as_str()
        .expect("event id")
        .to_owned();
    let stored = app.event(&id).await;
    let event = &stored["event"];
    assert_eq!(event["platform"], "native");
    assert_eq!(event["release"], "rust-shop@2.0.0");
    let frames: Vec<&Value> = event["exception"]["values"]
        .as_array()
        .expect("exception")
        .iter()
        .flat_map(|e| e["stacktrace"]["frames"].as_array().into_iter().flatten())
        .collect();
    assert!(
        frames.iter().any(|f| f["function"]
            .as_str()
            .is_some_and(|n| n.contains("parse_quantity"))
            && f["in_app"] == true),
        "the panicking function is an in-app frame"
    );
    let values: Vec<&str> = stored["grouping"]["values"]
        .as_array()
        .expect("values")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        values.iter().any(|v| v.contains("parse_quantity")),
        "{values:?}"
    );
    assert!(
        !values
            .iter()
            .any(|v| ["fn:sentry", "fn:std::", "fn:core::", "fn:tokio::"]
                .iter()
                .any(|p| v.starts_with(p))),
        "SDK and std frames do not group: {values:?}"
    );
    app.stop().await;
}
