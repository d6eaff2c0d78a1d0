//! Cron monitors end to end: check-ins by envelope and HTTP (`ingest`), the monitor API
//! (`api`), the monitor clock with a manual clock, DST and two servers (`clock`),
//! notifications to real listeners (`notify`), the real SDKs and our client (`sdk`), and the
//! pages (`web`).

mod api;
mod clock;
mod ingest;
mod notify;
mod sdk;
mod web;

use std::time::Duration;

use errata_server::jobs::{PassReport, RunOutcome};
use serde_json::{json, Value};

use crate::helpers::TestApp;

/// 2026-01-10T00:00:00Z: a Saturday, no DST change near it.
pub const T0: i64 = 1_768_003_200_000;
pub const MINUTE: Duration = Duration::from_secs(60);

/// An envelope with one `check_in` item.
pub fn checkin_envelope(checkin: &Value) -> Vec<u8> {
    let payload = serde_json::to_vec(checkin).expect("json");
    let mut out = b"{}\n".to_vec();
    out.extend_from_slice(
        format!("{{\"type\":\"check_in\",\"length\":{}}}\n", payload.len()).as_bytes(),
    );
    out.extend_from_slice(&payload);
    out.push(b'\n');
    out
}

/// Posts one check-in item and returns the response's status and body.
pub async fn post_checkin(app: &TestApp, checkin: &Value) -> (u16, Value) {
    let res = app.post_envelope(checkin_envelope(checkin)).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A fresh check-in id (32 hex).
pub fn guid() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A check-in of `slug` with `status`, optionally carrying `config`.
pub fn checkin(slug: &str, id: &str, status: &str, config: Option<Value>) -> Value {
    let mut c = json!({"check_in_id": id, "monitor_slug": slug, "status": status});
    if let Some(config) = config {
        c["monitor_config"] = config;
    }
    c
}

/// `GET /api/{project}/cron/{slug}/{key}/?{query}`.
pub async fn http_get(app: &TestApp, slug: &str, query: &str) -> (u16, Value) {
    let url = format!(
        "{}/api/{}/cron/{slug}/{}/?{query}",
        app.base, app.project.id, app.project.public_key
    );
    let res = app.http.get(url).send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// `POST /api/{project}/cron/{slug}/{key}/` with a JSON body.
pub async fn http_post(app: &TestApp, slug: &str, body: &Value) -> (u16, Value) {
    let url = format!(
        "{}/api/{}/cron/{slug}/{}/",
        app.base, app.project.id, app.project.public_key
    );
    let res = app.http.post(url).json(body).send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The project's monitors, from the API.
pub async fn monitors(app: &TestApp) -> Vec<Value> {
    let list = app
        .api(&format!("/api/v1/projects/{}/monitors", app.project.id))
        .await;
    list["monitors"].as_array().cloned().unwrap_or_default()
}

/// The monitor `slug`, from the API; panics when missing.
pub async fn monitor(app: &TestApp, slug: &str) -> Value {
    monitors(app)
        .await
        .into_iter()
        .find(|m| m["slug"] == slug)
        .unwrap_or_else(|| panic!("no monitor {slug}"))
}

/// The environment `name` of a monitor JSON.
pub fn environment<'a>(monitor: &'a Value, name: &str) -> &'a Value {
    monitor["environments"]
        .as_array()
        .and_then(|envs| envs.iter().find(|e| e["name"] == name))
        .unwrap_or_else(|| panic!("no environment {name} in {monitor}"))
}

/// Every check-in of a monitor, newest first (following cursors).
pub async fn checkins(app: &TestApp, monitor_id: i64) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/monitors/{monitor_id}/checkins?limit=100");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={}", crate::helpers::urlencode(c)));
        }
        let page = app.api(&path).await;
        out.extend(page["checkins"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

/// The statuses of a monitor's check-ins, oldest first.
pub async fn statuses(app: &TestApp, monitor_id: i64) -> Vec<String> {
    let mut list: Vec<String> = checkins(app, monitor_id)
        .await
        .iter()
        .map(|c| c["status"].as_str().unwrap_or_default().to_owned())
        .collect();
    list.reverse();
    list
}

/// One pass of the monitor clock, now.
pub async fn tick(app: &TestApp) -> PassReport {
    let report = app.jobs.run_now("monitor-clock").await.expect("run now");
    assert!(
        matches!(report.outcome, RunOutcome::Ok | RunOutcome::Skipped),
        "{report:?}"
    );
    report
}

/// Moves the manual clock on by `minutes` and runs a clock pass.
pub async fn advance(app: &TestApp, minutes: u64) {
    app.clock
        .advance(MINUTE * u32::try_from(minutes).expect("minutes"));
    tick(app).await;
}

/// An hourly crontab config (`0 * * * *`, UTC, margin 5, runtime 10, thresholds 1/1).
pub fn hourly() -> Value {
    json!({"schedule": {"type": "crontab", "value": "0 * * * *"}, "checkin_margin": 5,
           "max_runtime": 10})
}

/// Epoch ms of an RFC 3339 time from the API.
pub fn ms(rfc3339: &Value) -> i64 {
    let s = rfc3339
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {rfc3339}"));
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .expect("rfc 3339");
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}
