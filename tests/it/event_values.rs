//! Bad values inside events (issue #24 items 6, 7, 9), over HTTP: a lone surrogate is
//! replaced rather than rejecting the event, timestamps far in the future or past become the
//! receive time, and tags beyond the cap are dropped — each recorded in the event's `errors`.

use serde_json::{json, Value};

use crate::helpers::{error_event, event_envelope, new_event_id, TestApp};

/// An envelope carrying `payload` as its event item, byte for byte.
fn raw_envelope(event_id: &str, payload: &str) -> Vec<u8> {
    format!(
        "{{\"event_id\":\"{event_id}\"}}\n{{\"type\":\"event\",\"length\":{}}}\n{payload}\n",
        payload.len()
    )
    .into_bytes()
}

/// Asserts that `res` accepted the event `id` and returns it as stored (with `issue_id`).
async fn stored(app: &TestApp, res: reqwest::Response, id: &str) -> Value {
    let status = res.status();
    assert_eq!(status, 200, "{}", res.text().await.unwrap_or_default());
    app.event(id).await
}

/// Sends an error event (grouped by `function`) with `field` set to `value`; returns it as
/// stored.
async fn send_with(app: &TestApp, function: &str, field: &str, value: Value) -> Value {
    let id = new_event_id();
    let mut event = error_event(&id, function, "bad values");
    event[field] = value;
    let res = app.post_envelope(event_envelope(&event)).await;
    stored(app, res, &id).await
}

/// The stored event's `errors` entries of `kind`.
fn errors_of<'a>(event: &'a Value, kind: &str) -> Vec<&'a Value> {
    event["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["type"] == kind)
        .collect()
}

#[tokio::test]
async fn a_lone_surrogate_is_replaced_and_the_event_kept() {
    let app = TestApp::spawn().await;
    // What JSON.stringify makes of a string cut inside an emoji, on both endpoints.
    let id = new_event_id();
    let payload = format!(r#"{{"event_id":"{id}","message":"emoji \ud83d"}}"#);
    let res = app.post_envelope(raw_envelope(&id, &payload)).await;
    let event = stored(&app, res, &id).await;
    assert_eq!(event["event"]["logentry"]["formatted"], "emoji \u{fffd}");

    let id = new_event_id();
    let payload = format!(
        r#"{{"event_id":"{id}","message":"\udc00 pair \ud83d\ude00 half \ud83d","extra":{{"r":NaN}}}}"#
    );
    let res = app
        .http
        .post(format!("{}/api/{}/store/", app.base, app.project.id))
        .header("x-sentry-auth", app.auth_header())
        .body(payload)
        .send()
        .await
        .expect("send");
    let event = stored(&app, res, &id).await;
    assert_eq!(
        event["event"]["logentry"]["formatted"],
        "\u{fffd} pair 😀 half \u{fffd}"
    );
    assert_eq!(event["event"]["extra"]["r"], Value::Null);

    // Broken JSON is still refused.
    let id = new_event_id();
    let res = app
        .post_envelope(raw_envelope(&id, r#"{"message":"\ud83d"#))
        .await;
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn timestamps_too_far_ahead_or_behind_become_the_receive_time() {
    let app = TestApp::spawn().await;
    let now_s = errata_server::clock::system_now_ms() / 1000;
    let send = |function: &'static str, ts: Value| send_with(&app, function, "timestamp", ts);
    let year_9999 = send("future", json!(253_402_300_799_i64)).await;
    let event = &year_9999["event"];
    let clamped = errors_of(event, "future_timestamp");
    assert_eq!(clamped.len(), 1, "{event}");
    assert_eq!(clamped[0]["name"], "timestamp");
    assert_eq!(clamped[0]["value"], 253_402_300_799_i64);
    assert_eq!(clamped[0]["sdk_time"], "9999-12-31T23:59:59.000000Z");
    assert_eq!(event["timestamp"], event["received"]);
    // The issue's last_seen is now, not the year 9999.
    let issue_id = year_9999["issue_id"].as_i64().expect("issue id");
    let issue = app.api(&format!("/api/v1/issues/{issue_id}")).await;
    let last_seen = issue["last_seen"].as_str().expect("last_seen").to_owned();
    assert!(!last_seen.starts_with("9999"), "{issue}");
    let age_ms = errata_server::clock::system_now_ms()
        - errata_server::normalize::parse_rfc3339(&last_seen).expect("rfc3339") / 1000;
    assert!((0..60_000).contains(&age_ms), "last_seen {last_seen}");

    // 100 days ago is older than the 90-day retention: the receive time, noted.
    let old = send("past", json!(now_s - 100 * 86_400)).await;
    let clamped = errors_of(&old["event"], "past_timestamp");
    assert_eq!(clamped.len(), 1, "{}", old["event"]);
    assert_eq!(clamped[0]["value"], now_s - 100 * 86_400);
    assert_eq!(old["event"]["timestamp"], old["event"]["received"]);

    // Within the drift and the retention: kept as sent.
    for (function, ts) in [("ahead", now_s + 30), ("behind", now_s - 80 * 86_400)] {
        let kept = send(function, json!(ts)).await;
        assert!(kept["event"]["errors"].is_null(), "{}", kept["event"]);
        assert_ne!(kept["event"]["timestamp"], kept["event"]["received"]);
    }
}

#[tokio::test]
async fn the_drift_and_age_limits_are_settings() {
    let app = TestApp::spawn_with(|c| {
        c.ingest.max_future_drift_secs = 3600;
        c.retention.days = 7;
    })
    .await;
    let now_s = errata_server::clock::system_now_ms() / 1000;
    for (function, ts, kind) in [
        ("half_hour_ahead", now_s + 1800, None),
        ("two_hours_ahead", now_s + 7200, Some("future_timestamp")),
        ("eight_days_ago", now_s - 8 * 86_400, Some("past_timestamp")),
    ] {
        let stored = send_with(&app, function, "timestamp", json!(ts)).await;
        let noted: Vec<&str> = stored["event"]["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["type"].as_str())
            .collect();
        assert_eq!(noted, kind.into_iter().collect::<Vec<_>>(), "{function}");
    }
}

#[tokio::test]
async fn tags_beyond_the_cap_are_dropped_and_noted() {
    let app = TestApp::spawn().await;
    let tags: serde_json::Map<String, Value> = (0..5_000)
        .map(|i| (format!("t{i:04}"), json!(format!("v{i}"))))
        .collect();
    let stored = send_with(&app, "tagged", "tags", Value::Object(tags)).await;
    let kept = stored["event"]["tags"].as_array().expect("tags").len();
    assert_eq!(kept, 200);
    let trimmed = errors_of(&stored["event"], "list_trimmed");
    assert_eq!(trimmed.len(), 1);
    assert_eq!(trimmed[0]["name"], "tags");
    assert_eq!(trimmed[0]["value"], 5_000);
    // The issue's tag rows are bounded by the cap too (plus the tags the server derives).
    let issue_id = stored["issue_id"].as_i64().expect("issue id");
    let facets = app
        .store
        .issue_tag_facets(issue_id, 10)
        .await
        .expect("facets");
    assert!(
        (200..=210).contains(&facets.len()),
        "{} tag keys",
        facets.len()
    );
}
