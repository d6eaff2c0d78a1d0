//! The monitor API: create, read, change, pause, delete, and the check-in list's pages.

use serde_json::{json, Value};

use super::*;
use crate::helpers::TestApp;

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app
        .http
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(&app.token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn monitors_are_created_changed_and_deleted() {
    let app = TestApp::spawn_with_clock(T0, |c| c.notify.enabled = false).await;
    let list = format!("/api/v1/projects/{}/monitors", app.project.id);
    let (status, m) = call(
        &app,
        reqwest::Method::POST,
        &list,
        Some(json!({"slug": "nightly-backup", "name": "Nightly backup",
                    "schedule": {"type": "crontab", "value": "0 2 * * *"},
                    "timezone": "Europe/Berlin", "max_runtime": 60})),
    )
    .await;
    assert_eq!(status, 201, "{m}");
    let id = m["id"].as_i64().expect("id");
    assert_eq!(m["status"], "new");
    assert_eq!(m["is_paused"], false);
    assert_eq!(
        (m["checkin_margin"].as_i64(), m["max_runtime"].as_i64()),
        (Some(1), Some(60))
    );
    assert!(
        m["schedule_description"]
            .as_str()
            .unwrap_or_default()
            .contains("02:00"),
        "{m}"
    );

    // Refusals name the problem and change nothing.
    for (body, want, needle) in [
        (
            json!({"slug": "nightly-backup", "schedule": "@daily"}),
            409,
            "already has",
        ),
        (
            json!({"slug": "Not A Slug", "schedule": "@daily"}),
            400,
            "slug",
        ),
        (json!({"slug": "x"}), 400, "schedule"),
        (
            json!({"slug": "x", "schedule": "@daily", "timezone": "Nowhere/City"}),
            400,
            "Nowhere/City",
        ),
        (
            json!({"slug": "x", "schedule": "@daily", "name": ""}),
            400,
            "name",
        ),
        (json!([1, 2]), 400, "JSON object"),
    ] {
        let (status, body) = call(&app, reqwest::Method::POST, &list, Some(body)).await;
        assert_eq!(status, want, "{body}");
        assert!(
            body["detail"].as_str().unwrap_or_default().contains(needle),
            "{body}"
        );
    }
    assert_eq!(monitors(&app).await.len(), 1);

    // A check-in, then a shorter schedule: the next expected time moves at once.
    post_checkin(&app, &checkin("nightly-backup", &guid(), "ok", None)).await;
    let before = environment(&monitor(&app, "nightly-backup").await, "production").clone();
    assert_eq!(ms(&before["next_checkin"]), T0 + 3_600_000, "02:00 CET");
    let path = format!("/api/v1/monitors/{id}");
    let (status, m) = call(
        &app,
        reqwest::Method::PATCH,
        &path,
        Some(
            json!({"schedule": {"type": "interval", "value": 15, "unit": "minute"},
                    "name": "Backup", "recovery_threshold": 2}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(
        (m["name"].as_str(), m["recovery_threshold"].as_i64()),
        (Some("Backup"), Some(2))
    );
    assert_eq!(m["max_runtime"], 60, "untouched fields stay");
    assert_eq!(
        ms(&environment(&m, "production")["next_checkin"]),
        T0 + 15 * 60_000
    );
    let (status, body) = call(
        &app,
        reqwest::Method::PATCH,
        &path,
        Some(json!({"max_runtime": 0})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        call(&app, reqwest::Method::GET, &path, None).await.1["max_runtime"],
        60
    );

    // Pause and resume: a resumed monitor expects its next run from now, not from the past.
    let (_, m) = call(
        &app,
        reqwest::Method::PATCH,
        &path,
        Some(json!({"is_paused": true})),
    )
    .await;
    assert_eq!(m["status"], "paused");
    advance(&app, 120).await;
    let (_, m) = call(
        &app,
        reqwest::Method::PATCH,
        &path,
        Some(json!({"is_paused": false})),
    )
    .await;
    assert_eq!(m["status"], "ok");
    assert_eq!(
        ms(&environment(&m, "production")["next_checkin"]),
        T0 + 135 * 60_000
    );
    tick(&app).await;
    assert_eq!(
        statuses(&app, id).await,
        ["ok"],
        "nothing missed while paused"
    );

    // Delete: gone, with its check-ins.
    let (status, _) = call(&app, reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    assert_eq!(call(&app, reqwest::Method::GET, &path, None).await.0, 404);
    assert_eq!(
        call(
            &app,
            reqwest::Method::GET,
            &format!("{path}/checkins"),
            None
        )
        .await
        .0,
        404
    );
    assert!(monitors(&app).await.is_empty());
    // Without a token: 401.
    let res = app
        .http
        .get(format!("{}{list}", app.base))
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn check_ins_come_newest_first_in_pages() {
    let app = TestApp::spawn_with_clock(T0, |c| c.notify.enabled = false).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let id = guid();
        let mut c = checkin("paged", &id, "ok", Some(hourly()));
        c["environment"] = json!(if i % 2 == 0 { "production" } else { "staging" });
        c["duration"] = json!(i);
        assert_eq!(post_checkin(&app, &c).await.0, 200);
        app.clock.advance(MINUTE);
        ids.push(id);
    }
    let m = monitor(&app, "paged").await;
    let monitor_id = m["id"].as_i64().unwrap();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = format!("/api/v1/monitors/{monitor_id}/checkins?limit=3");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={}", crate::helpers::urlencode(c)));
        }
        let page = app.api(&path).await;
        pages += 1;
        for c in page["checkins"].as_array().unwrap() {
            seen.push(c["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!((seen, pages), (ids.clone(), 3));
    let staging = app
        .api(&format!(
            "/api/v1/monitors/{monitor_id}/checkins?environment=staging"
        ))
        .await;
    let envs: Vec<&Value> = staging["checkins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["environment"])
        .collect();
    assert_eq!(envs, [&json!("staging"); 3]);
    for bad in ["cursor=nope", "limit=0", "limit=500"] {
        let res = app
            .api_raw(&format!("/api/v1/monitors/{monitor_id}/checkins?{bad}"))
            .await;
        assert_eq!(res.status(), 400, "{bad}");
    }
    app.stop().await;
}
