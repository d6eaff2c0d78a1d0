//! End to end with our own SDK (`client/`, crate `errata`): its examples run against a live
//! server, and the read API must show what the SDK promises — the panic location, symbolicated
//! in-app frames with correct line numbers, source context, locals with their values at the
//! panic point, OS/runtime contexts, breadcrumbs — and that two panic sites make two issues
//! while the same site twice makes one.
//!
//! The example binaries are built by `cargo test --workspace --all-features` (scripts/test);
//! a run of this binary alone skips with a reason when they are missing (and fails in CI).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{frames, latest_event, TestApp};

pub(crate) fn example(name: &str) -> Option<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let path = target.join("debug/examples").join(name);
    if path.exists() {
        return Some(path);
    }
    let reason = format!("{} is not built (run scripts/test)", path.display());
    assert!(std::env::var_os("CI").is_none(), "{reason}");
    eprintln!("skipping: {reason}");
    None
}

pub(crate) async fn run(app: &TestApp, binary: &PathBuf, args: &[&str]) -> std::process::Output {
    let mut cmd = tokio::process::Command::new(binary);
    cmd.args(args)
        .env("ERRATA_DSN", app.dsn())
        .env_remove("SENTRY_DSN")
        .kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("example finishes in time")
        .expect("example runs")
}

/// Line number (1-based) of the first line of the example's source containing `needle`.
fn source_line(example: &str, needle: &str) -> i64 {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("client/examples/{example}.rs"));
    let text = std::fs::read_to_string(path).expect("example source");
    text.lines()
        .position(|l| l.contains(needle))
        .expect("needle in source") as i64
        + 1
}

fn issue_titled<'a>(issues: &'a [Value], needle: &str) -> Vec<&'a Value> {
    issues
        .iter()
        .filter(|i| i["title"].as_str().is_some_and(|t| t.contains(needle)))
        .collect()
}

fn frame_of<'a>(frames: &'a [Value], function: &str) -> &'a Value {
    frames
        .iter()
        .find(|f| {
            f["function"]
                .as_str()
                .is_some_and(|n| n.ends_with(function))
        })
        .unwrap_or_else(|| panic!("frame {function} in {frames:#?}"))
}

#[tokio::test]
async fn panic_example_reports_location_frames_context_and_locals() {
    let Some(binary) = example("panic_with_locals") else {
        return;
    };
    let app = TestApp::spawn().await;
    for args in [&[][..], &[], &["second"]] {
        let out = run(&app, &binary, args).await;
        assert_eq!(
            out.status.code(),
            Some(101),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let issues = app.all_issues().await;
    let discount = issue_titled(&issues, "discount of 120%");
    let refund = issue_titled(&issues, "refund of order 7 failed");
    assert_eq!(
        (discount.len(), refund.len()),
        (1, 1),
        "two sites, two issues: {issues:#?}"
    );
    assert_eq!(discount[0]["count"], 2, "the same site twice is one issue");
    assert_eq!(refund[0]["count"], 1);
    assert_eq!(issues.len(), 2);

    let event = latest_event(&app, discount[0]["id"].as_i64().expect("id")).await;
    assert_eq!(event["platform"], "native");
    let panic_line = source_line("panic_with_locals", "panic!(\"discount of");
    let location = event.to_string();
    assert!(
        location.contains(&format!("panic_with_locals.rs:{panic_line}:")),
        "panic location file:line:col recorded"
    );
    let frames = frames(&event);
    let site = frame_of(&frames, "apply_discount");
    assert_eq!(site["in_app"], true);
    assert_eq!(site["lineno"], panic_line, "correct line number");
    assert!(site["context_line"]
        .as_str()
        .is_some_and(|l| l.contains("panic!(\"discount of")));
    assert!(site["pre_context"]
        .as_array()
        .is_some_and(|p| !p.is_empty()));
    assert!(
        site["vars"]["percent"].to_string().contains("120"),
        "{site}"
    );
    assert!(site["vars"]["cart"].to_string().contains("2499"), "{site}");
    assert_eq!(site["vars"]["session_token"], "[Filtered]");
    let main = frame_of(&frames, "panic_with_locals::main");
    assert!(main["vars"]["user_id"].to_string().contains("42"), "{main}");
    assert!(
        !frames.last().expect("frames")["function"]
            .as_str()
            .unwrap_or("")
            .starts_with("std::"),
        "the newest frame is the panic site, not the panic machinery"
    );
    assert!(
        event["contexts"]["os"]["name"].is_string(),
        "{}",
        event["contexts"]
    );
    assert!(
        event["contexts"]["runtime"]["version"].is_string(),
        "{}",
        event["contexts"]
    );
    let crumbs = event["breadcrumbs"]["values"]
        .as_array()
        .expect("breadcrumbs");
    assert!(
        crumbs.iter().any(|c| c["message"] == "cart loaded"),
        "{crumbs:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn error_chain_and_tracing_examples() {
    let (Some(chain), Some(tracing)) = (example("error_chain"), example("tokio_tracing")) else {
        return;
    };
    let app = TestApp::spawn().await;
    let out = run(&app, &chain, &[]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let issues = app.all_issues().await;
    let startup = issue_titled(&issues, "service failed to start");
    assert_eq!(startup.len(), 1, "{issues:#?}");
    let event = latest_event(&app, startup[0]["id"].as_i64().expect("id")).await;
    let values = event["exception"]["values"]
        .as_array()
        .expect("exception values");
    assert_eq!(values.len(), 3, "the whole source() chain");
    assert!(
        values[2]["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("StartupError")),
        "outermost last"
    );
    assert!(values[1]["value"]
        .as_str()
        .is_some_and(|v| v.contains("could not read config")));
    assert_eq!(
        issue_titled(&issues, "example finished").len(),
        1,
        "capture_message"
    );

    let out = run(&app, &tracing, &[]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let issues = app.all_issues().await;
    let bad_amount = issue_titled(&issues, "bad amount");
    assert_eq!(bad_amount.len(), 1, "{issues:#?}");
    let event = latest_event(&app, bad_amount[0]["id"].as_i64().expect("id")).await;
    let frames = frames(&event);
    let parse = frame_of(&frames, "parse_amount");
    assert!(
        parse["vars"]["raw"].to_string().contains("12x"),
        "#[instrument] args are locals: {parse}"
    );
    let not_found = issue_titled(&issues, "not found");
    let total: i64 = not_found
        .iter()
        .map(|i| i["count"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(total, 2, "orders 1 and 3 fail: {issues:#?}");
    app.stop().await;
}
