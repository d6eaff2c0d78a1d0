//! The real SDKs and our client check in against a live server: the monitor is created with
//! the config they send, and the check-ins are stored with status and duration.
//! `sentry-sdk` (Python venv), `@sentry/node` (`tests/node`, installed by `scripts/test`) and
//! the `errata` client's `cron_job` example; each skips with a reason outside CI when missing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::helpers::{python_with, TestApp};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `cmd` to its end (at most a minute) and returns its stdout; panics on failure.
async fn run(mut cmd: tokio::process::Command, expect_success: bool) -> String {
    cmd.kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("finishes within a minute")
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if expect_success {
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    stdout
}

/// The check-ins of monitor `slug`, oldest first.
async fn checkins_of(app: &TestApp, slug: &str) -> (Value, Vec<Value>) {
    let m = monitor(app, slug).await;
    let mut list = checkins(app, m["id"].as_i64().expect("id")).await;
    list.reverse();
    (m, list)
}

#[tokio::test]
async fn python_sentry_sdk_monitor_decorator_and_capture_checkin() {
    let Some(python) = python_with("sentry_sdk") else {
        return;
    };
    let app = TestApp::spawn_with(|c| c.notify.enabled = false).await;
    let mut cmd = tokio::process::Command::new(&python);
    cmd.arg(repo().join("tests/support/crons.py"))
        .arg(app.dsn());
    assert!(run(cmd, true).await.contains("python crons ok"));

    let (m, list) = checkins_of(&app, "py-decorated").await;
    assert_eq!(
        m["schedule"],
        json!({"type": "interval", "value": 2, "unit": "hour"})
    );
    assert_eq!(
        (m["checkin_margin"].as_i64(), m["max_runtime"].as_i64()),
        (Some(3), Some(15))
    );
    let statuses: Vec<&Value> = list.iter().map(|c| &c["status"]).collect();
    assert_eq!(statuses, [&json!("ok"), &json!("error")], "{list:?}");
    for c in &list {
        let d = c["duration"].as_f64().expect("a duration");
        assert!((0.04..10.0).contains(&d), "{c}");
        assert_eq!(c["environment"], "production");
        assert_eq!(c["release"], "py-jobs@1.0");
    }
    assert_eq!(m["status"], "error");

    let (m, list) = checkins_of(&app, "py-crontab").await;
    assert_eq!(
        m["schedule"],
        json!({"type": "crontab", "value": "0 3 * * *"})
    );
    assert_eq!(m["timezone"], "Europe/Berlin");
    assert_eq!(
        (
            m["failure_issue_threshold"].as_i64(),
            m["recovery_threshold"].as_i64()
        ),
        (Some(2), Some(3))
    );
    assert_eq!(list.len(), 1, "in_progress then ok: one check-in");
    assert_eq!(
        (&list[0]["status"], &list[0]["duration"]),
        (&json!("ok"), &json!(1.5))
    );
    app.stop().await;
}

/// `tests/node` with `@sentry/node` installed, or `None` with a printed reason (a panic in
/// CI, where `scripts/test` installs it).
fn node_sdk() -> Option<PathBuf> {
    let dir = repo().join("tests/node");
    let ok = Path::new(&dir.join("node_modules/@sentry/node")).exists();
    if ok {
        return Some(dir);
    }
    let reason = "tests/node/node_modules missing (npm ci --prefix tests/node)";
    assert!(std::env::var_os("CI").is_none(), "{reason}");
    eprintln!("skipping: {reason}");
    None
}

#[tokio::test]
async fn node_sentry_with_monitor() {
    let Some(dir) = node_sdk() else {
        return;
    };
    let app = TestApp::spawn_with(|c| c.notify.enabled = false).await;
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(dir.join("crons.js")).env("ERRATA_DSN", app.dsn());
    assert!(run(cmd, true).await.contains("node crons ok"));

    let (m, list) = checkins_of(&app, "node-job").await;
    assert_eq!(
        m["schedule"],
        json!({"type": "crontab", "value": "*/10 * * * *"})
    );
    assert_eq!(m["timezone"], "Europe/Berlin");
    assert_eq!(
        (m["checkin_margin"].as_i64(), m["max_runtime"].as_i64()),
        (Some(2), Some(5))
    );
    assert_eq!(m["failure_issue_threshold"], 2);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["status"], "ok");
    assert!(
        list[0]["duration"].as_f64().is_some_and(|d| d >= 0.04),
        "{list:?}"
    );
    assert_eq!(list[0]["release"], "node-jobs@1.0");

    let (m, list) = checkins_of(&app, "node-failing").await;
    assert_eq!(
        m["schedule"],
        json!({"type": "interval", "value": 1, "unit": "day"})
    );
    assert_eq!(list[0]["status"], "error");
    app.stop().await;
}

#[tokio::test]
async fn errata_client_monitor() {
    // Built by `cargo test --workspace` (scripts/test).
    let Some(binary) = crate::client_sdk::example("cron_job") else {
        return;
    };
    let app = TestApp::spawn_with(|c| c.notify.enabled = false).await;
    for mode in ["ok", "fail", "panic"] {
        let mut cmd = tokio::process::Command::new(&binary);
        cmd.arg(mode)
            .env("ERRATA_DSN", app.dsn())
            .env_remove("SENTRY_DSN");
        run(cmd, mode != "panic").await;
    }
    let (m, list) = checkins_of(&app, "errata-example").await;
    assert_eq!(
        m["schedule"],
        json!({"type": "crontab", "value": "*/5 * * * *"})
    );
    assert_eq!(
        (m["timezone"].as_str(), m["max_runtime"].as_i64()),
        (Some("Europe/Berlin"), Some(10))
    );
    let statuses: Vec<&Value> = list.iter().map(|c| &c["status"]).collect();
    assert_eq!(
        statuses,
        [&json!("ok"), &json!("error"), &json!("error")],
        "{list:?}"
    );
    for c in &list {
        assert!(c["duration"].as_f64().is_some_and(|d| d >= 0.04), "{c}");
        assert_eq!(c["release"], "cron-example@1.0");
    }
    // The panic was captured as an event too.
    let issues = app.all_issues().await;
    assert!(
        issues.iter().any(|i| i["title"]
            .as_str()
            .is_some_and(|t| t.contains("export target vanished"))),
        "{issues:?}"
    );
    app.stop().await;
}
