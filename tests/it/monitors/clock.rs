//! The monitor clock with a manual clock (no test waits for minutes): missed and timed-out
//! check-ins, incidents opening and resolving with their issue and outbox rows, thresholds,
//! catching up after downtime, crontabs in Europe/Berlin across both DST changes, and two
//! servers on one database recording each missed check-in once.

use anyhow::{ensure, Result};
use errata_server::clock::Clock;
use errata_server::monitors::cron::MonitorClock;
use errata_server::monitors::incident::IncidentSource;
use errata_server::store::{Store, Trigger};
use serde_json::{json, Value};

use super::*;
use crate::helpers::TestApp;
use crate::store::{run_postgres, run_sqlite, Ctx};

/// A server with its own notification worker off (outbox rows stay pending to be read).
async fn quiet_app(url: &str, start_ms: i64) -> TestApp {
    TestApp::spawn_on_with_clock(url, Clock::manual(start_ms), |c| c.notify.enabled = false).await
}

/// The kinds of the pending outbox rows, oldest first.
async fn outbox(store: &Store) -> Vec<Trigger> {
    let rows = store.pending_outbox(100).await.expect("outbox");
    rows.into_iter().map(|r| r.kind).collect()
}

/// The project's issues whose title mentions `needle`.
async fn issues_about(app: &TestApp, needle: &str) -> Vec<Value> {
    app.all_issues()
        .await
        .into_iter()
        .filter(|i| i["title"].as_str().is_some_and(|t| t.contains(needle)))
        .collect()
}

async fn missed_timeout_and_recovery(ctx: Ctx) -> Result<()> {
    let app = quiet_app(&ctx.url, T0).await;
    let slug = "hourly-report";
    post_checkin(&app, &checkin(slug, &guid(), "ok", Some(hourly()))).await;
    let id = monitor(&app, slug).await["id"].as_i64().expect("id");

    // 01:04: the 01:00 check-in is late but within its 5 minutes of margin.
    advance(&app, 64).await;
    ensure!(statuses(&app, id).await == ["ok"]);
    // 01:06: missed.
    advance(&app, 2).await;
    ensure!(statuses(&app, id).await == ["ok", "missed"]);
    let list = checkins(&app, id).await;
    ensure!(ms(&list[0]["expected_time"]) == T0 + 3_600_000, "{list:?}");
    let m = monitor(&app, slug).await;
    let env = environment(&m, "production");
    ensure!(m["status"] == "missed" && env["failing"] == true, "{m}");
    ensure!(ms(&env["next_checkin"]) == T0 + 2 * 3_600_000, "{env}");
    let issues = issues_about(&app, "hourly-report").await;
    ensure!(issues.len() == 1, "{issues:?}");
    let issue = &issues[0];
    ensure!(
        issue["level"] == "error" && issue["status"] == "unresolved",
        "{issue}"
    );
    ensure!(
        issue["title"]
            == "Cron monitor hourly-report (production) missed its check-in due 01:00 UTC",
        "{issue}"
    );
    ensure!(issue["environments"] == json!(["production"]), "{issue}");
    ensure!(issue["grouping_kind"] == "monitor", "{issue}");
    ensure!(
        list[0]["event_id"].is_string(),
        "the missed check-in links its event"
    );
    ensure!(
        outbox(&app.store).await == [Trigger::IncidentOpened],
        "one incident message, the issue's own new_issue row skipped"
    );

    // 02:06: missed again, still the same incident; its issue counts both.
    advance(&app, 60).await;
    ensure!(statuses(&app, id).await == ["ok", "missed", "missed"]);
    let issue_id = issue["id"].as_i64().expect("issue id");
    let again = app.api(&format!("/api/v1/issues/{issue_id}")).await;
    ensure!(again["count"] == 2, "{again}");
    ensure!(outbox(&app.store).await == [Trigger::IncidentOpened]);

    // 02:10 a run starts and never ends: timed out after its 10 minutes.
    advance(&app, 4).await;
    let run = guid();
    post_checkin(&app, &checkin(slug, &run, "in_progress", None)).await;
    advance(&app, 9).await;
    ensure!(statuses(&app, id).await.last().map(String::as_str) == Some("in_progress"));
    advance(&app, 2).await;
    ensure!(statuses(&app, id).await == ["ok", "missed", "missed", "timeout"]);
    ensure!(monitor(&app, slug).await["status"] == "timeout");
    // A late `ok` for the timed-out run changes nothing.
    post_checkin(&app, &checkin(slug, &run, "ok", None)).await;
    ensure!(statuses(&app, id).await.last().map(String::as_str) == Some("timeout"));

    // An ok run resolves the incident and its issue, and says so once.
    post_checkin(&app, &checkin(slug, &guid(), "ok", None)).await;
    let m = monitor(&app, slug).await;
    ensure!(
        m["status"] == "ok" && environment(&m, "production")["failing"] == false,
        "{m}"
    );
    let resolved = app.api(&format!("/api/v1/issues/{issue_id}")).await;
    ensure!(
        resolved["status"] == "resolved" && resolved["count"] == 3,
        "{resolved}"
    );
    ensure!(outbox(&app.store).await == [Trigger::IncidentOpened, Trigger::IncidentResolved]);

    // The next failure is a new incident on the same issue: a regression, told as an incident.
    post_checkin(&app, &checkin(slug, &guid(), "error", None)).await;
    let reopened = app.api(&format!("/api/v1/issues/{issue_id}")).await;
    ensure!(
        reopened["status"] == "unresolved" && reopened["is_regression"] == true,
        "{reopened}"
    );
    ensure!(
        outbox(&app.store).await
            == [
                Trigger::IncidentOpened,
                Trigger::IncidentResolved,
                Trigger::IncidentOpened
            ]
    );
    ensure!(issues_about(&app, "hourly-report").await.len() == 1);
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_timeout_and_recovery_on_sqlite() -> Result<()> {
    run_sqlite(missed_timeout_and_recovery).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_timeout_and_recovery_on_postgres() -> Result<()> {
    run_postgres(missed_timeout_and_recovery).await
}

#[tokio::test]
async fn a_repeated_in_progress_extends_the_run() {
    let app = TestApp::spawn_with_clock(T0, |c| c.notify.enabled = false).await;
    let run = guid();
    post_checkin(
        &app,
        &checkin("long-job", &run, "in_progress", Some(hourly())),
    )
    .await;
    let id = monitor(&app, "long-job").await["id"].as_i64().unwrap();
    advance(&app, 8).await;
    post_checkin(&app, &checkin("long-job", &run, "in_progress", None)).await;
    advance(&app, 9).await;
    assert_eq!(
        statuses(&app, id).await,
        ["in_progress"],
        "extended to minute 18"
    );
    advance(&app, 2).await;
    assert_eq!(statuses(&app, id).await, ["timeout"]);
    app.stop().await;
}

#[tokio::test]
async fn thresholds_need_consecutive_failures_and_recoveries() {
    let app = TestApp::spawn_with_clock(T0, |c| c.notify.enabled = false).await;
    let mut config = hourly();
    config["failure_issue_threshold"] = json!(2);
    config["recovery_threshold"] = json!(2);
    let slug = "flaky";
    let send = |status: &'static str| {
        let app = &app;
        let config = config.clone();
        async move {
            let (code, body) = http_post(
                app,
                slug,
                &json!({"status": status, "monitor_config": config}),
            )
            .await;
            assert_eq!(code, 202, "{body}");
            environment(&monitor(app, slug).await, "production")["failing"] == true
        }
    };
    assert!(!send("error").await, "one failure is not enough");
    assert!(!send("ok").await);
    assert!(!send("error").await, "the count started again");
    assert!(send("error").await, "two in a row");
    assert!(send("ok").await, "one ok is not a recovery");
    assert!(send("error").await);
    assert!(send("ok").await);
    assert!(!send("ok").await, "two in a row recover");
    assert_eq!(
        issues_about(&app, "flaky").await[0]["count"],
        2,
        "the failure that opened the incident and the one during it"
    );
    assert_eq!(
        outbox(&app.store).await,
        [Trigger::IncidentOpened, Trigger::IncidentResolved]
    );
    app.stop().await;
}

#[tokio::test]
async fn slots_missed_while_no_server_ran_are_caught_up_once() {
    let app = TestApp::spawn_with_clock(T0, |c| c.notify.enabled = false).await;
    let config = json!({"schedule": {"type": "interval", "value": 10, "unit": "minute"}});
    post_checkin(&app, &checkin("every-ten", &guid(), "ok", Some(config))).await;
    let id = monitor(&app, "every-ten").await["id"].as_i64().unwrap();
    // An hour and five minutes with no pass: :10 … :60 were all missed.
    advance(&app, 65).await;
    tick(&app).await;
    let list = checkins(&app, id).await;
    let expected: Vec<i64> = list
        .iter()
        .filter(|c| c["status"] == "missed")
        .map(|c| ms(&c["expected_time"]))
        .collect();
    let want: Vec<i64> = (1..=6).rev().map(|i| T0 + i * 600_000).collect();
    assert_eq!(expected, want, "one per slot, newest first");
    let env = environment(&monitor(&app, "every-ten").await, "production").clone();
    assert_eq!(ms(&env["next_checkin"]), T0 + 70 * 60_000);
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("errata_checkins_total{status=\"missed\"}"),
        "{metrics}"
    );
    // The gauge is process-wide (other tests' servers set it too): its value is the count.
    assert!(metrics.contains("errata_monitors_failing "), "{metrics}");
    let failing = app.store.open_incident_count(IncidentSource::Cron).await;
    assert_eq!(failing.expect("count"), 1);
    app.stop().await;
}

/// Epoch ms of a UTC time `2026-MM-DDTHH:MM:00Z`.
fn utc(month: u8, day: u8, hour: u8, minute: u8) -> i64 {
    let month = time::Month::try_from(month).expect("month");
    let date = time::Date::from_calendar_date(2026, month, day).expect("date");
    let t = date.with_hms(hour, minute, 0).expect("time").assume_utc();
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

async fn next_checkin(app: &TestApp, slug: &str) -> i64 {
    ms(&environment(&monitor(app, slug).await, "production")["next_checkin"])
}

/// A server at `start_ms` with a `30 2 * * *` Europe/Berlin job `slug` that has just checked
/// in `ok`, and its expected next time (as said by the API) once more at `second_ms` after a
/// second `ok` then: `(app, monitor id, first expected, second expected)`.
async fn berlin_job(slug: &str, start_ms: i64, second_ms: i64) -> (TestApp, i64, i64, i64) {
    let app = TestApp::spawn_with_clock(start_ms, |c| c.notify.enabled = false).await;
    let config =
        json!({"schedule": "30 2 * * *", "timezone": "Europe/Berlin", "checkin_margin": 5});
    post_checkin(&app, &checkin(slug, &guid(), "ok", Some(config))).await;
    let id = monitor(&app, slug).await["id"].as_i64().expect("id");
    let first = next_checkin(&app, slug).await;
    app.clock.set_ms(second_ms);
    post_checkin(&app, &checkin(slug, &guid(), "ok", None)).await;
    let second = next_checkin(&app, slug).await;
    (app, id, first, second)
}

#[tokio::test]
async fn a_berlin_crontab_across_the_march_change() {
    // 2026-03-29 at 02:00 CET the clocks jump to 03:00 CEST: 02:30 does not exist that day.
    let slug = "berlin-spring";
    let (app, id, first, second) = berlin_job(slug, utc(3, 27, 12, 0), utc(3, 28, 1, 31)).await;
    assert_eq!(first, utc(3, 28, 1, 30), "02:30 CET");
    assert_eq!(
        second,
        utc(3, 29, 1, 0),
        "in the gap: the first instant after it, 03:00 CEST"
    );
    // The job does not run that night: missed once, for 03:00 CEST.
    app.clock.set_ms(utc(3, 29, 1, 6));
    tick(&app).await;
    let list = checkins(&app, id).await;
    assert_eq!(statuses(&app, id).await, ["ok", "ok", "missed"]);
    assert_eq!(ms(&list[0]["expected_time"]), utc(3, 29, 1, 0));
    let issue = &issues_about(&app, slug).await[0];
    assert!(
        issue["title"]
            .as_str()
            .unwrap_or_default()
            .ends_with("due 03:00 Europe/Berlin"),
        "{issue}"
    );
    // Then 02:30 CEST, 23.5 hours later.
    assert_eq!(next_checkin(&app, slug).await, utc(3, 30, 0, 30));
    app.clock.set_ms(utc(3, 30, 0, 34));
    tick(&app).await;
    assert_eq!(statuses(&app, id).await.len(), 3, "not yet missed");
    app.stop().await;
}

#[tokio::test]
async fn a_berlin_crontab_across_the_october_change() {
    // 2026-10-25 at 03:00 CEST the clocks go back to 02:00 CET: 02:30 happens twice.
    let (app, id, first, second) =
        berlin_job("berlin-autumn", utc(10, 24, 0, 31), utc(10, 25, 0, 31)).await;
    assert_eq!(first, utc(10, 25, 0, 30), "the first 02:30, CEST");
    assert_eq!(
        second,
        utc(10, 26, 1, 30),
        "not again at the second 02:30 (CET): once a day"
    );
    // Past the repeated 02:30 and its margin: nothing is missed.
    app.clock.set_ms(utc(10, 25, 1, 40));
    tick(&app).await;
    assert_eq!(statuses(&app, id).await, ["ok", "ok"]);
    app.clock.set_ms(utc(10, 26, 1, 36));
    tick(&app).await;
    assert_eq!(statuses(&app, id).await, ["ok", "ok", "missed"]);
    app.stop().await;
}

/// Two servers on one database, one manual clock: each missed slot is recorded once and the
/// incident is told once, whether the passes go through the runners' lease or race directly.
async fn two_servers_record_each_missed_check_in_once(ctx: Ctx) -> Result<()> {
    let hook = crate::notify::Hook::start().await;
    let clock = Clock::manual(T0);
    let a = TestApp::spawn_on_with_clock(&ctx.url, clock.clone(), crate::notify::fast).await;
    let b = TestApp::spawn_on_with_clock(&ctx.url, clock.clone(), crate::notify::fast).await;
    a.store
        .add_channel(
            a.project.id,
            errata_server::store::ChannelKind::Slack,
            &hook.url,
        )
        .await?;
    let config = json!({"schedule": {"type": "interval", "value": 5, "unit": "minute"}});
    post_checkin(&a, &checkin("shared", &guid(), "ok", Some(config))).await;
    let id = monitor(&a, "shared").await["id"].as_i64().expect("id");
    for round in 0..4 {
        clock.advance(MINUTE * 6);
        // Through the runners (one holds the lease) …
        let (ra, rb) = tokio::join!(
            a.jobs.run_now("monitor-clock"),
            b.jobs.run_now("monitor-clock")
        );
        ensure!(ra.is_ok() && rb.is_ok());
        // … and racing without any lease at all.
        let now = clock.now_ms();
        let (ca, cb) = (
            MonitorClock::new(a.store.clone()),
            MonitorClock::new(b.store.clone()),
        );
        let (x, y) = tokio::join!(ca.tick(now), cb.tick(now));
        ensure!(
            x?.missed + y?.missed == 0,
            "round {round}: the runners left nothing"
        );
    }
    let list = checkins(&a, id).await;
    let mut slots: Vec<i64> = list
        .iter()
        .filter(|c| c["status"] == "missed")
        .map(|c| ms(&c["expected_time"]))
        .collect();
    let n = slots.len();
    slots.dedup();
    ensure!(slots.len() == n, "no slot twice: {list:?}");
    // Minute 24: the slots at 5, 10, 15 and 20 (their margin of one minute has passed).
    ensure!(n == 4, "{list:?}");
    crate::notify::wait_for("the failing message", || {
        (!hook.accepted().is_empty()).then_some(())
    })
    .await;
    // Let both workers finish whatever else they might send, then count.
    for _ in 0..3 {
        let (x, y) = tokio::join!(a.jobs.run_now("notify"), b.jobs.run_now("notify"));
        ensure!(x.is_ok() && y.is_ok());
    }
    let sent = hook.accepted();
    ensure!(sent.len() == 1, "told once: {sent:?}");
    let text = sent[0]["text"].as_str().unwrap_or_default();
    ensure!(
        text.starts_with(
            "[fixtures] FAILING: Cron monitor shared (production) missed its check-in"
        ),
        "{text}"
    );
    a.stop().await;
    b.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_sqlite_record_each_missed_check_in_once() -> Result<()> {
    run_sqlite(two_servers_record_each_missed_check_in_once).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_postgres_record_each_missed_check_in_once() -> Result<()> {
    run_postgres(two_servers_record_each_missed_check_in_once).await
}

#[tokio::test]
async fn deleting_the_issue_of_a_failing_monitor_breaks_nothing() {
    let app = TestApp::spawn_with_clock(T0, |c| c.notify.enabled = false).await;
    let slug = "deleted-issue";
    let (code, _) = http_post(
        &app,
        slug,
        &json!({"status": "error", "monitor_config": hourly()}),
    )
    .await;
    assert_eq!(code, 202);
    let issue = issues_about(&app, slug).await[0]["id"]
        .as_i64()
        .expect("issue");
    app.store.delete_issue(issue).await.expect("delete");
    // Recovery: accepted, the incident resolves; there is no issue left to tell about.
    let (code, body) = http_post(&app, slug, &json!({"status": "ok"})).await;
    assert_eq!(code, 202, "{body}");
    let m = monitor(&app, slug).await;
    assert_eq!(environment(&m, "production")["failing"], false);
    assert!(
        outbox(&app.store).await.is_empty(),
        "its rows went with the issue"
    );
    // The next failure opens a new incident on a new issue, and is told.
    http_post(&app, slug, &json!({"status": "error"})).await;
    let issues = issues_about(&app, slug).await;
    assert_eq!(issues.len(), 1);
    assert_ne!(issues[0]["id"].as_i64(), Some(issue));
    assert_eq!(outbox(&app.store).await, [Trigger::IncidentOpened]);
    app.stop().await;
}
