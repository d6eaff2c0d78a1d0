//! Replays every recorded sentry-python request (`shared/fixtures/python`) over HTTP exactly as
//! it came over the wire (compressed body, recorded headers) and checks the issue partition
//! the fixtures README specifies: same label ⇔ same issue; unlabeled fixtures make no issue.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::helpers::{fixtures_dir, TestApp};

fn read_json(name: &str) -> Value {
    let path = fixtures_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixture json")
}

/// The envelope header's event id of a decoded fixture body, if any.
fn header_event_id(envelope: &[u8]) -> Option<String> {
    let first = envelope.split(|b| *b == b'\n').next()?;
    let header: Value = serde_json::from_slice(first).ok()?;
    header["event_id"].as_str().map(str::to_owned)
}

/// Sends one recorded request to `app` and returns the answer's status and JSON body.
async fn replay_request(
    app: &TestApp,
    stem: &str,
    path: &str,
    encoding: Option<&str>,
) -> (u16, Value) {
    let headers = read_json(&format!("{stem}.headers.json"));
    let suffix = match encoding {
        Some("gzip") => ".gz",
        Some("br") => ".br",
        _ => "",
    };
    let body =
        std::fs::read(fixtures_dir().join(format!("{stem}.envelope{suffix}"))).expect("body");
    let path = path.replacen("/api/42/", &format!("/api/{}/", app.project.id), 1);
    let mut req = app.http.post(format!("{}{}", app.base, path));
    for pair in headers["headers"].as_array().expect("headers") {
        let (k, v) = (
            pair[0].as_str().unwrap_or(""),
            pair[1].as_str().unwrap_or(""),
        );
        if !k.eq_ignore_ascii_case("host") && !k.eq_ignore_ascii_case("content-length") {
            req = req.header(k, v);
        }
    }
    let res = req.body(body).send().await.expect("send");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_fixture_is_accepted_and_grouped_as_labelled() {
    let app = TestApp::spawn().await;
    let manifest = read_json("manifest.json");
    let mut label_of_event: BTreeMap<String, String> = BTreeMap::new();
    let mut labels = BTreeSet::new();

    for (name, fixture) in manifest["fixtures"].as_object().expect("fixtures") {
        let label = fixture["expected_group"].as_str();
        for request in fixture["requests"].as_array().expect("requests") {
            let file = request["file"].as_str().expect("file");
            let stem = file.trim_end_matches(".envelope");
            let decoded = std::fs::read(fixtures_dir().join(file)).expect("envelope");
            let (status, body) = replay_request(
                &app,
                stem,
                request["path"].as_str().expect("path"),
                request["content_encoding"].as_str(),
            )
            .await;
            assert_eq!(status, 200, "{name}/{file}: {body}");
            let expected_id = header_event_id(&decoded);
            assert_eq!(
                body["id"].as_str(),
                expected_id.as_deref(),
                "{name}/{file}: id"
            );
            let has_event = request["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|t| t == "event"));
            if let (true, Some(id), Some(label)) = (has_event, expected_id, label) {
                label_of_event.insert(id, label.to_owned());
                labels.insert(label.to_owned());
            }
        }
    }

    // Same label ⇔ same issue.
    let mut issue_of_label: BTreeMap<String, i64> = BTreeMap::new();
    let mut label_of_issue: BTreeMap<i64, String> = BTreeMap::new();
    for (event_id, label) in &label_of_event {
        let event = app.event(event_id).await;
        let issue = event["issue_id"].as_i64().expect("issue_id");
        if let Some(prev) = issue_of_label.insert(label.clone(), issue) {
            assert_eq!(prev, issue, "label {label} split across issues");
        }
        if let Some(prev) = label_of_issue.insert(issue, label.clone()) {
            assert_eq!(
                &prev, label,
                "issue {issue} merges labels {prev} and {label}"
            );
        }
        assert!(
            !event["grouping"]["values"]
                .as_array()
                .expect("values")
                .is_empty()
                || event["grouping"]["kind"] == "fallback",
            "grouping components are stored"
        );
    }
    // Transactions, check-ins, sessions and client reports create no issue.
    let issues = app.all_issues().await;
    assert_eq!(
        issues.len(),
        labels.len(),
        "one issue per label, none for non-error items"
    );

    // Counts: the payment chain was sent five times (a, b, brotli, uncompressed, session).
    let payment = issue_of_label["payment-chain"];
    let issue = app.api(&format!("/api/v1/issues/{payment}")).await;
    assert_eq!(issue["count"], 5, "{issue}");
    assert_eq!(
        issue["title"]
            .as_str()
            .map(|t| t.starts_with("PaymentError")),
        Some(true),
        "{issue}"
    );

    // Replaying everything again stores nothing new: event ids are already known.
    let before = issue["count"].clone();
    let (status, _) = replay_request(
        &app,
        "chained_exception_a",
        "/api/42/envelope/",
        Some("gzip"),
    )
    .await;
    assert_eq!(status, 200);
    let again = app.api(&format!("/api/v1/issues/{payment}")).await;
    assert_eq!(
        again["count"], before,
        "duplicate event id must not count twice"
    );
    app.stop().await;
}
