//! Issue #20 item 5: refused ingest requests are logged with reason, project, key prefix and
//! client address (limited per reason); triage and deletions with who made them.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{error_event, event_envelope, new_event_id, CapturedLogs, TestApp};

/// The log lines of refusals with `reason`.
fn refusals(logs: &CapturedLogs, reason: &str) -> Vec<String> {
    logs.text()
        .lines()
        .filter(|l| {
            l.contains("ingest request refused") && l.contains(&format!("reason=\"{reason}\""))
        })
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn refused_ingest_requests_are_logged_with_their_cause_limited_per_reason() {
    let logs = CapturedLogs::default();
    let _capture = logs.install();
    let app = TestApp::spawn_with_clock(1_800_000_000_000, |_| {}).await;
    let post = |project: i64, key: &str, body: Vec<u8>| {
        let req = app
            .http
            .post(format!("{}/api/{project}/envelope/", app.base))
            .header(
                "x-sentry-auth",
                format!("Sentry sentry_key={key}, sentry_version=7"),
            )
            .body(body);
        async move { req.send().await.expect("send").status() }
    };
    let event = || event_envelope(&error_event(&new_event_id(), "f", "boom"));
    let key = app.project.public_key.clone();
    let id = app.project.id;
    // A wrong key, a project the key is not for, a body that is not an envelope.
    assert_eq!(post(id, "deadbeefcafe0000", event()).await, 403);
    assert_eq!(post(id + 41, &key, event()).await, 403);
    assert_eq!(post(id, &key, b"not an envelope".to_vec()).await, 400);
    let unknown = refusals(&logs, "unknown_key");
    assert_eq!(unknown.len(), 1, "{}", logs.text());
    let line = &unknown[0];
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains(&format!("project={id} ")), "{line}");
    assert!(
        line.contains("key=\"deadbeef\"") && !line.contains("cafe0000"),
        "{line}"
    );
    assert!(line.contains("client=127.0.0.1"), "{line}");
    assert!(
        !logs.text().contains("Some(127"),
        "addresses are logged bare"
    );
    let other = refusals(&logs, "key_of_another_project");
    assert!(other.len() == 1 && other[0].contains(&format!("project={} ", id + 41)));
    let bad_body = refusals(&logs, "invalid_envelope");
    assert!(bad_body.len() == 1 && bad_body[0].contains(&format!("key=\"{}\"", &key[..8])));

    // A flood of one reason writes a few lines a minute, and says what it left out.
    for _ in 0..30 {
        assert_eq!(post(id, "deadbeefcafe0000", event()).await, 403);
    }
    assert_eq!(refusals(&logs, "unknown_key").len(), 5);
    assert_eq!(post(id, &key, event()).await, 200, "good events still pass");
    app.clock.advance(Duration::from_secs(61));
    assert_eq!(post(id, "deadbeefcafe0000", event()).await, 403);
    let unknown = refusals(&logs, "unknown_key");
    assert_eq!(unknown.len(), 6);
    assert!(unknown[5].contains("left_out_before=26"), "{}", unknown[5]);
}

#[tokio::test]
async fn triage_and_deletions_through_the_api_are_logged_with_who() {
    let logs = CapturedLogs::default();
    let _capture = logs.install();
    let app = TestApp::spawn().await;
    let res = app
        .post_envelope(event_envelope(&error_event(&new_event_id(), "f", "boom")))
        .await;
    assert_eq!(res.status(), 200);
    let issue = app.all_issues().await[0]["id"].as_i64().expect("id");
    assert_eq!(app.set_status(issue, "resolved").await.status(), 200);
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("issue status changed"))
        .unwrap_or_else(|| panic!("no status line: {text}"));
    assert!(
        line.contains(&format!("issue_id={issue}"))
            && line.contains("status=\"resolved\"")
            && line.contains("by=\"API token tests\""),
        "{line}"
    );
    let res = app
        .http
        .post(format!("{}/api/v1/issues/{issue}/discard", app.base))
        .bearer_auth(&app.token)
        .json(&json!({}))
        .send()
        .await
        .expect("discard");
    assert_eq!(res.status(), 200);
    let text = logs.text();
    assert!(
        text.lines()
            .any(|l| l.contains("issue deleted and its events discarded")
                && l.contains("by=\"API token tests\"")),
        "{text}"
    );
}
