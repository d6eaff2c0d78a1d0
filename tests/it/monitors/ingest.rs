//! Check-ins by envelope item and by HTTP: the monitor is created from `monitor_config`,
//! check-ins are stored with status and duration, and bad input is refused with a clear
//! message and changes nothing.

use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::helpers::TestApp;

#[tokio::test]
async fn envelope_check_ins_create_the_monitor_and_record_status_and_duration() {
    let app = TestApp::spawn_with_clock(T0, |_| {}).await;
    let id = guid();
    let config = json!({
        "schedule": {"type": "crontab", "value": "*/30 * * * *"},
        "checkin_margin": 2, "max_runtime": 10, "timezone": "Europe/Berlin",
        "failure_issue_threshold": 2, "recovery_threshold": 3
    });
    let (status, _) = post_checkin(
        &app,
        &checkin("Nightly Export", &id, "in_progress", Some(config)),
    )
    .await;
    assert_eq!(status, 200);
    let m = monitor(&app, "nightly-export").await;
    assert_eq!(m["name"], "nightly-export");
    assert_eq!(
        m["schedule"],
        json!({"type": "crontab", "value": "*/30 * * * *"})
    );
    assert_eq!(m["timezone"], "Europe/Berlin");
    assert_eq!(
        (m["checkin_margin"].as_i64(), m["max_runtime"].as_i64()),
        (Some(2), Some(10))
    );
    assert_eq!(m["failure_issue_threshold"], 2);
    assert_eq!(m["recovery_threshold"], 3);
    assert_eq!(m["status"], "in_progress");
    let env = environment(&m, "production");
    assert_eq!(ms(&env["last_checkin"]), T0);
    assert_eq!(ms(&env["next_checkin"]), T0 + 30 * 60_000);
    assert_eq!(ms(&env["next_checkin_latest"]), T0 + 32 * 60_000);

    app.clock.advance(MINUTE * 3);
    let mut done = checkin("nightly-export", &id, "ok", None);
    done["duration"] = json!(171.25);
    done["release"] = json!("exporter@2.1");
    assert_eq!(post_checkin(&app, &done).await.0, 200);
    let monitor_id = m["id"].as_i64().expect("id");
    let list = checkins(&app, monitor_id).await;
    assert_eq!(
        list.len(),
        1,
        "the ok finished the in_progress check-in: {list:?}"
    );
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["status"], "ok");
    assert_eq!(list[0]["duration"], 171.25);
    assert_eq!(list[0]["environment"], "production");
    assert_eq!(list[0]["release"], "exporter@2.1");
    assert_eq!(ms(&list[0]["date_created"]), T0);
    assert_eq!(monitor(&app, "nightly-export").await["status"], "ok");

    // A finished check-in stays finished.
    assert_eq!(
        post_checkin(&app, &checkin("nightly-export", &id, "error", None))
            .await
            .0,
        200
    );
    assert_eq!(checkins(&app, monitor_id).await[0]["status"], "ok");

    // Without a duration, the time since it started; a second environment of its own.
    let other = guid();
    let mut staging = checkin("nightly-export", &other, "in_progress", None);
    staging["environment"] = json!("staging");
    post_checkin(&app, &staging).await;
    app.clock.advance(MINUTE * 2);
    let mut end = checkin(
        "nightly-export",
        "00000000000000000000000000000000",
        "error",
        None,
    );
    end["environment"] = json!("staging");
    post_checkin(&app, &end).await;
    let m = monitor(&app, "nightly-export").await;
    assert_eq!(environment(&m, "staging")["status"], "error");
    assert_eq!(environment(&m, "production")["status"], "ok");
    let newest = &checkins(&app, monitor_id).await[0];
    assert_eq!(
        newest["id"],
        other.as_str(),
        "all zeros finished the running one"
    );
    assert_eq!(
        (&newest["status"], &newest["duration"]),
        (&json!("error"), &json!(120.0))
    );
    app.stop().await;
}

#[tokio::test]
async fn http_check_ins_by_get_and_post() {
    let app = TestApp::spawn_with_clock(T0, |_| {}).await;
    // A JSON body may create the monitor.
    let (status, body) = http_post(
        &app,
        "db-backup",
        &json!({"status": "in_progress", "environment": "prod-eu",
                "monitor_config": {"schedule": {"type": "interval", "value": 6, "unit": "hour"}}}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_str().expect("id").to_owned();
    assert_eq!(id.len(), 32);
    app.clock.advance(MINUTE);
    // A crontab line: GET with the id and status in the query.
    let (status, body) = http_get(
        &app,
        "db-backup",
        &format!("check_in_id={id}&status=ok&environment=prod-eu"),
    )
    .await;
    assert_eq!((status, body["id"].as_str()), (202, Some(id.as_str())));
    let m = monitor(&app, "db-backup").await;
    assert_eq!(
        m["schedule"],
        json!({"type": "interval", "value": 6, "unit": "hour"})
    );
    let env = environment(&m, "prod-eu");
    assert_eq!(env["status"], "ok");
    assert_eq!(ms(&env["next_checkin"]), T0 + 6 * 3_600_000);
    let list = checkins(&app, m["id"].as_i64().unwrap()).await;
    assert_eq!(list[0]["duration"], 60.0);

    // A single `ok` with a duration, no id: a new finished check-in that started that long ago.
    let (status, body) = http_get(&app, "db-backup", "status=ok&duration=12.5").await;
    assert_eq!(status, 202, "{body}");
    let list = checkins(&app, m["id"].as_i64().unwrap()).await;
    assert_eq!(list.len(), 2);
    let single = list
        .iter()
        .find(|c| c["id"] == body["id"])
        .expect("new check-in");
    assert_eq!(single["environment"], "production");
    assert_eq!(ms(&single["date_created"]), T0 + 60_000 - 12_500);

    // The key may come from ?sentry_key= on the short route; POST without a content type.
    let url = format!(
        "{}/api/{}/cron/db-backup/?sentry_key={}&status=error",
        app.base, app.project.id, app.project.public_key
    );
    let res = app.http.post(url).send().await.expect("post");
    assert_eq!(res.status(), 202);
    assert_eq!(monitor(&app, "db-backup").await["status"], "error");
    app.stop().await;
}

#[tokio::test]
async fn bad_check_ins_get_clear_errors_and_change_nothing() {
    let app = TestApp::spawn_with_clock(T0, |_| {}).await;
    let valid = hourly();
    let long_slug = "x".repeat(51);
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        ("unknown", json!({"status": "ok"}), 404, "monitor_config"),
        (
            "bad-schedule",
            json!({"status": "ok", "monitor_config": {"schedule": {"type": "crontab", "value": "61 * * * *"}}}),
            400,
            "not a valid crontab",
        ),
        (
            "bad-unit",
            json!({"status": "ok", "monitor_config": {"schedule": {"type": "interval", "value": 1, "unit": "fortnight"}}}),
            400,
            "fortnight",
        ),
        (
            "bad-zone",
            json!({"status": "ok", "monitor_config": {"schedule": "@daily", "timezone": "Mars/Olympus"}}),
            400,
            "Mars/Olympus",
        ),
        (
            &long_slug,
            json!({"status": "ok", "monitor_config": valid}),
            400,
            "longer than 50",
        ),
        (
            "no-status",
            json!({"monitor_config": valid}),
            400,
            "status is required",
        ),
        (
            "bad-duration",
            json!({"status": "ok", "duration": -3, "monitor_config": valid}),
            400,
            "duration",
        ),
        (
            "bad-id",
            json!({"status": "ok", "check_in_id": "nope", "monitor_config": valid}),
            400,
            "check_in_id",
        ),
    ];
    for (slug, body, want, needle) in &cases {
        let (status, answer) = http_post(&app, slug, body).await;
        assert_eq!(status, *want, "{slug}: {answer}");
        let detail = answer["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(needle),
            "{slug}: {detail:?} lacks {needle:?}"
        );
    }
    // Keys: wrong, of another project, missing.
    let other = app.store.create_project("other").await.expect("project");
    for (key, want) in [
        ("0123456789abcdef0123456789abcdef", 403),
        (other.public_key.as_str(), 403),
    ] {
        let url = format!(
            "{}/api/{}/cron/x/{key}/?status=ok",
            app.base, app.project.id
        );
        let res = app.http.get(url).send().await.expect("get");
        assert_eq!(res.status().as_u16(), want);
        let body: Value = res.json().await.expect("json");
        assert!(body["detail"].is_string(), "{body}");
    }
    let url = format!("{}/api/{}/cron/x/?status=ok", app.base, app.project.id);
    assert_eq!(app.http.get(url).send().await.expect("get").status(), 401);
    let url = format!(
        "{}/api/nope/cron/x/{}/?status=ok",
        app.base, app.project.public_key
    );
    assert_eq!(app.http.get(url).send().await.expect("get").status(), 400);

    // Envelope items: a bad config is a 400 naming it; an unknown monitor is dropped.
    let (status, body) = post_checkin(
        &app,
        &checkin(
            "env-bad",
            &guid(),
            "ok",
            Some(json!({"schedule": {"type": "crontab", "value": "bad"}})),
        ),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("invalid check-in"),
        "{body}"
    );
    // (Without its own check-in id: a finish naming one waits a minute for its monitor.)
    let anonymous = "0".repeat(32);
    let (status, _) = post_checkin(&app, &checkin("env-unknown", &anonymous, "ok", None)).await;
    assert_eq!(status, 200, "accepted and dropped, as Sentry does");
    assert!(monitors(&app).await.is_empty(), "nothing was created");
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("errata_items_dropped_total{type=\"check_in\"}"),
        "{metrics}"
    );
    app.stop().await;
}

/// `Sentry.withMonitor` sends a job's `in_progress` (with the config) and its `error`
/// (without) as two requests at once; when the `error` of a first run comes first, it is
/// held and finishes the check-in once the `in_progress` has created the monitor.
#[tokio::test]
async fn a_finish_that_overtakes_the_check_in_creating_its_monitor_still_finishes_it() {
    let app = TestApp::spawn_with_clock(T0, |_| {}).await;
    let id = guid();
    let config = json!({"schedule": {"type": "interval", "value": 1, "unit": "day"}});
    let mut failed = checkin("first-run", &id, "error", None);
    failed["duration"] = json!(0.5);
    assert_eq!(post_checkin(&app, &failed).await.0, 200);
    assert!(monitors(&app).await.is_empty(), "no config: no monitor yet");
    app.clock.advance(Duration::from_secs(1));
    let started = checkin("first-run", &id, "in_progress", Some(config.clone()));
    assert_eq!(post_checkin(&app, &started).await.0, 200);
    let m = monitor(&app, "first-run").await;
    let list = checkins(&app, m["id"].as_i64().expect("id")).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(
        (&list[0]["id"], &list[0]["status"]),
        (&json!(id), &json!("error"))
    );
    assert_eq!(list[0]["duration"], 0.5);
    assert_eq!(m["status"], "error");

    // A finish that waited longer than a minute is not applied.
    let late = guid();
    assert_eq!(
        post_checkin(&app, &checkin("late-run", &late, "ok", None))
            .await
            .0,
        200
    );
    app.clock.advance(MINUTE * 2);
    post_checkin(
        &app,
        &checkin("late-run", &late, "in_progress", Some(config)),
    )
    .await;
    let m = monitor(&app, "late-run").await;
    assert_eq!(
        checkins(&app, m["id"].as_i64().expect("id")).await[0]["status"],
        "in_progress"
    );
    app.stop().await;
}

#[tokio::test]
async fn paused_monitors_ignore_check_ins() {
    let app = TestApp::spawn_with_clock(T0, |_| {}).await;
    post_checkin(&app, &checkin("pausable", &guid(), "ok", Some(hourly()))).await;
    let id = monitor(&app, "pausable").await["id"].as_i64().unwrap();
    let res = app
        .http
        .patch(format!("{}/api/v1/monitors/{id}", app.base))
        .bearer_auth(&app.token)
        .json(&json!({"is_paused": true}))
        .send()
        .await
        .expect("patch");
    assert_eq!(res.status(), 200);
    let (status, body) = http_get(&app, "pausable", "status=error").await;
    assert_eq!(status, 202);
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("paused"),
        "{body}"
    );
    assert_eq!(checkins(&app, id).await.len(), 1);
    let m = monitor(&app, "pausable").await;
    assert_eq!(
        (m["status"].as_str(), m["is_paused"].as_bool()),
        (Some("paused"), Some(true))
    );
    // Nothing is missed while paused.
    advance(&app, 180).await;
    assert_eq!(statuses(&app, id).await, ["ok"]);
    app.stop().await;
}
