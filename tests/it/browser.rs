//! Headless Chromium (Debian's `chromium`, driven by `playwright-core` from
//! `tests/browser`) walks the issue browser of a seeded server: sign in, open the project,
//! search, open the issue, see the stack trace with locals and breadcrumbs, resolve it, see it
//! leave the unresolved tab; then checks in the browser that XSS payloads stay inert, and that
//! pages fit a phone. Screenshots land in `target/screenshots/`.
//!
//! Skips with a printed reason outside CI when chromium or `tests/browser/node_modules` is
//! missing; fails in CI (`.ci/run` installs chromium, `scripts/test` runs `npm ci`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::helpers::TestApp;
use crate::web::{add_admin, issue_titled, rich_event, send, xss_event, EMAIL, PASSWORD};

pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Chromium and the node packages, or `None` with a printed reason (a panic in CI).
pub(crate) fn browser_tools() -> Option<PathBuf> {
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    let modules = repo().join("tests/browser/node_modules/playwright-core");
    let node_ok = std::process::Command::new("node")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    let missing = if !chromium.exists() {
        Some(format!(
            "no chromium at {} (apt-get install chromium)",
            chromium.display()
        ))
    } else if !node_ok {
        Some("no node on PATH".to_owned())
    } else if !Path::new(&modules).exists() {
        Some("tests/browser/node_modules missing (npm ci --prefix tests/browser)".to_owned())
    } else {
        None
    };
    match missing {
        None => Some(chromium),
        Some(reason) => {
            assert!(std::env::var_os("CI").is_none(), "{reason}");
            eprintln!("skipping: {reason}");
            None
        }
    }
}

/// Runs `tests/browser/<script>` under node with `env` and `CHROMIUM`; panics unless it exits
/// with 0 within `limit` and printed `ok_line`. Returns its stdout (also printed).
pub(crate) async fn run_script(
    script: &str,
    chromium: &Path,
    env: &[(&str, &str)],
    limit: Duration,
    ok_line: &str,
) -> String {
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(repo().join("tests/browser").join(script))
        .envs(env.iter().copied())
        .env("CHROMIUM", chromium)
        .kill_on_drop(true);
    let out = tokio::time::timeout(limit, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{script} finishes within {limit:?}"))
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(out.status.success(), "{script} failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains(ok_line), "{stdout}");
    stdout
}

#[tokio::test]
async fn chromium_walks_through_sign_in_search_issue_and_resolve() {
    let Some(chromium) = browser_tools() else {
        return;
    };
    let app = TestApp::spawn().await;
    add_admin(&app).await;
    send(&app, &rich_event("card 4242 declined")).await;
    send(&app, &xss_event()).await;
    for i in 0..3 {
        let other = crate::helpers::error_event(
            &crate::helpers::new_event_id(),
            &format!("handler_{i}"),
            &format!("unrelated failure {i}"),
        );
        send(&app, &other).await;
    }
    let xss = issue_titled(&app, "XssError").await.to_string();
    let shots = repo().join("target/screenshots");
    let shots_dir = shots.display().to_string();
    let env = [
        ("ERRATA_BASE_URL", app.base.as_str()),
        ("ERRATA_EMAIL", EMAIL),
        ("ERRATA_PASSWORD", PASSWORD),
        ("ERRATA_PROJECT", app.project.name.as_str()),
        ("ERRATA_SEARCH", "PaymentDeclined"),
        ("ERRATA_ISSUE_TITLE", "PaymentDeclined"),
        ("ERRATA_XSS_ISSUE", xss.as_str()),
        ("ERRATA_SCREENSHOTS", shots_dir.as_str()),
    ];
    let limit = Duration::from_secs(180);
    let stdout = run_script("walkthrough.js", &chromium, &env, limit, "walkthrough ok").await;
    assert!(
        stdout.contains("ok - XSS issue page: no payload ran"),
        "{stdout}"
    );
    assert!(shots.join("04-issue.png").exists(), "screenshots written");
    // The browser's resolve went through the server.
    let issue = issue_titled(&app, "PaymentDeclined").await;
    assert_eq!(
        app.store.issue(issue).await.unwrap().status.as_str(),
        "resolved"
    );
}
