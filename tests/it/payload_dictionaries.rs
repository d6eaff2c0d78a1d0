//! Payload dictionaries end to end, on SQLite and (with `ERRATA_TEST_POSTGRES_URL`)
//! PostgreSQL: events sent to the real server, the training job run on the manual clock,
//! more events sent, every event read back through the API; later payloads name the
//! dictionary and are smaller; a second server loads it; a missing dictionary is a clear
//! error; deleting the project deletes its dictionary.

use anyhow::{ensure, Context, Result};
use errata_server::clock::Clock;
use errata_server::jobs::RunOutcome;
use errata_server::payload_dictionaries::TRAIN_JOB;
use errata_server::protocol::EventId;
use errata_server::store::{Store, StoreError};
use serde_json::{json, Value};
use sqlx::Connection;

use crate::helpers::{event_envelope, new_event_id, TestApp};
use crate::store::{with_fresh_postgres, T0};

/// Events a project needs before the job trains its dictionary (the test's setting).
const THRESHOLD: u64 = 120;

/// A Python-shaped error event of ~3 KB: what one project's events share (keys, SDK,
/// contexts, modules, most frames) and what differs (ids, values, line numbers, users).
fn rich_event(id: &str, i: usize) -> Value {
    let frames: Vec<Value> = (0..10)
        .map(|f| {
            json!({
                "filename": format!("app/services/module_{}.py", (f + i % 3) % 10),
                "module": format!("app.services.module_{}", (f + i % 3) % 10),
                "function": format!("handle_{}", if f == 9 { i % 4 } else { f }),
                "lineno": 10 + f * 7 + i % 5,
                "in_app": f > 3,
                "context_line": "        response = session.get(url, timeout=self.timeout)",
                "pre_context": ["    def fetch(self, url):", "        session = self.session()"],
                "post_context": ["        response.raise_for_status()", "        return response.json()"],
            })
        })
        .collect();
    json!({
        "event_id": id,
        "platform": "python",
        "level": "error",
        "release": format!("shop@1.4.{}", i % 3),
        "environment": "production",
        "server_name": format!("web-{}", i % 4),
        "user": {"id": format!("user-{}", i % 17), "ip_address": "10.0.0.7"},
        "tags": {"region": "eu-west-1", "area": "checkout"},
        "contexts": {
            "os": {"name": "Linux", "version": "6.1.0"},
            "runtime": {"name": "CPython", "version": "3.12.1"},
            "trace": {"trace_id": format!("{i:032x}"), "span_id": format!("{i:016x}")},
        },
        "sdk": {"name": "sentry.python", "version": "2.19.0"},
        "modules": {"django": "5.0.1", "requests": "2.31.0", "urllib3": "2.1.0", "sentry-sdk": "2.19.0"},
        "exception": {"values": [{
            "type": "ConnectionError",
            "value": format!("HTTPSConnectionPool(host='payments.internal', port=443): attempt {i}"),
            "module": "requests.exceptions",
            "stacktrace": {"frames": frames},
        }]},
    })
}

/// Sends `count` events numbered from `from`; returns their ids.
async fn send(app: &TestApp, from: usize, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in from..from + count {
        let id = new_event_id();
        let res = app.post_envelope(event_envelope(&rich_event(&id, i))).await;
        assert_eq!(res.status(), 200, "event {i}");
        ids.push(id);
    }
    ids
}

/// Rows in `payload_dictionaries`, counted on a connection of its own.
async fn dictionary_rows(url: &str) -> Result<i64> {
    let sql = "select count(*) from payload_dictionaries";
    Ok(if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await?;
        sqlx::query_scalar(sql).fetch_one(&mut c).await?
    } else {
        let mut c = sqlx::PgConnection::connect(url).await?;
        sqlx::query_scalar(sql).fetch_one(&mut c).await?
    })
}

/// Runs a statement on a connection of its own.
async fn execute(url: &str, sql: &str) -> Result<()> {
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await?;
        sqlx::query(sql).execute(&mut c).await?;
    } else {
        let mut c = sqlx::PgConnection::connect(url).await?;
        sqlx::query(sql).execute(&mut c).await?;
    }
    Ok(())
}

async fn trains_and_reads_back(url: String) -> Result<()> {
    let app = TestApp::spawn_on_with_clock(&url, Clock::manual(T0), |c| {
        c.storage.dictionary_after_events = THRESHOLD;
    })
    .await;
    let pid = app.project.id;
    let early = send(&app, 0, THRESHOLD as usize - 1).await;
    // Under the threshold, a pass trains nothing.
    let report = app.jobs.run_now(TRAIN_JOB).await.expect("pass");
    ensure!(report.outcome == RunOutcome::Ok, "{report:?}");
    ensure!(app.store.payload_dictionary(pid).is_none());
    let mut early_more = send(&app, THRESHOLD as usize - 1, 1).await;
    let report = app.jobs.run_now(TRAIN_JOB).await.expect("pass");
    ensure!(report.outcome == RunOutcome::Ok, "{report:?}");
    let dict = app
        .store
        .payload_dictionary(pid)
        .context("a dictionary after the threshold")?;
    ensure!(dictionary_rows(&url).await? == 1);
    // A second pass finds nothing more to do (no retraining).
    app.jobs.run_now(TRAIN_JOB).await.expect("pass");
    ensure!(dictionary_rows(&url).await? == 1);

    let late = send(&app, 1_000, 60).await;
    let mut all = early.clone();
    all.append(&mut early_more);
    all.extend(late.iter().cloned());
    for (n, id) in all.iter().enumerate() {
        let body = app
            .api(&format!("/api/v1/projects/{pid}/events/{id}"))
            .await;
        let value = body["event"]["exception"]["values"][0]["value"]
            .as_str()
            .unwrap_or_default();
        let i = if n < THRESHOLD as usize {
            n
        } else {
            1_000 + n - THRESHOLD as usize
        };
        ensure!(
            value.ends_with(&format!("attempt {i}")),
            "event {n}: {value}"
        );
    }

    // Later payloads name the dictionary and are smaller than earlier ones of the same shape.
    let info = |id: &String| {
        let store = app.store.clone();
        let id = id.parse::<EventId>().expect("id");
        async move { store.payload_info(pid, &id).await }
    };
    let (mut before, mut after) = (0, 0);
    for id in &early {
        let i = info(id).await?;
        ensure!(i.dictionary.is_none(), "{i:?}");
        before += i.bytes;
    }
    for id in &late {
        let i = info(id).await?;
        ensure!(i.dictionary == Some(dict.id()), "{i:?}");
        after += i.bytes;
    }
    let (before, after) = (before / early.len(), after / late.len());
    println!("payload bytes per event: {before} without a dictionary, {after} with one");
    ensure!(after * 2 < before, "{after} vs {before}");

    // Another server: its readers load the dictionary on demand, its refresh takes it up.
    let second = Store::connect(&url).await?;
    let last = late[0].parse::<EventId>().expect("id");
    ensure!(second.event(pid, &last).await?.payload["event_id"] == late[0].as_str());
    ensure!(second.payload_dictionary(pid).is_none());
    ensure!(second.load_payload_dictionaries().await? == 1);
    ensure!(second.payload_dictionary(pid).map(|d| d.id()) == Some(dict.id()));
    second.close().await;

    // A payload naming a dictionary that does not exist is a clear error, not a panic.
    execute(&url, "delete from payload_dictionaries").await?;
    let third = Store::connect(&url).await?;
    match third.event(pid, &last).await {
        Err(StoreError::Other(m)) => ensure!(m.contains("does not exist"), "{m}"),
        other => anyhow::bail!("expected a corrupt payload, got {other:?}"),
    }
    third.close().await;

    app.stop().await;
    Ok(())
}

async fn project_deletion_deletes_dictionaries(url: String) -> Result<()> {
    let app = TestApp::spawn_on_with_clock(&url, Clock::manual(T0), |c| {
        c.storage.dictionary_after_events = THRESHOLD;
    })
    .await;
    let pid = app.project.id;
    send(&app, 0, THRESHOLD as usize).await;
    app.jobs.run_now(TRAIN_JOB).await.expect("pass");
    send(&app, 500, 5).await;
    ensure!(dictionary_rows(&url).await? == 1);
    errata_server::retention::delete_project(&app.store, pid, T0).await?;
    ensure!(dictionary_rows(&url).await? == 0);
    ensure!(app.store.payload_dictionary(pid).is_none());
    app.stop().await;
    Ok(())
}

/// A project that reaches the threshold gets its dictionary at once, not at the job's next
/// scheduled pass (the manual clock never brings one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_reaching_the_threshold_is_trained_without_waiting() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}/errata.db", dir.path().display());
    let app = TestApp::spawn_on_with_clock(&url, Clock::manual(T0), |c| {
        c.storage.dictionary_after_events = THRESHOLD;
    })
    .await;
    let pid = app.project.id;
    let mut passes = app.jobs.stats(TRAIN_JOB).context("the training job")?;
    // The count is of events encoded, not yet all committed: the first request for a pass
    // may find the project one event short, the second one cannot.
    send(&app, 0, 2 * THRESHOLD as usize).await;
    tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while app.store.payload_dictionary(pid).is_none() {
            passes.changed().await.expect("the job runs");
        }
    })
    .await
    .context("no dictionary after twice the threshold of events")?;
    ensure!(dictionary_rows(&url).await? == 1);
    let late = send(&app, 1_000, 3).await;
    for id in &late {
        let id = id.parse::<EventId>().expect("id");
        let i = app.store.payload_info(pid, &id).await?;
        ensure!(i.dictionary.is_some(), "{i:?}");
    }
    app.stop().await;
    Ok(())
}

async fn on_sqlite<F, Fut>(test: F) -> Result<()>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let dir = tempfile::tempdir()?;
    test(format!("sqlite://{}/errata.db", dir.path().display())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_trains_and_reads_back() -> Result<()> {
    on_sqlite(trains_and_reads_back).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_trains_and_reads_back() -> Result<()> {
    with_fresh_postgres(trains_and_reads_back).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_project_deletion_deletes_dictionaries() -> Result<()> {
    on_sqlite(project_deletion_deletes_dictionaries).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_project_deletion_deletes_dictionaries() -> Result<()> {
    with_fresh_postgres(project_deletion_deletes_dictionaries).await
}
