//! Server time of the issue browser's two hot pages on a large database.
//!
//! Seeds a SQLite database in a temp dir with `ERRATA_BENCH_ISSUES` issues (default 100,000)
//! and `ERRATA_BENCH_EVENTS` events (default 1,000,000) through the real write path
//! (`Store::insert_events`, batches of 2,000, small reused payloads), then sends requests for
//! the issue list and the issue page through the router in-process
//! (`tower::ServiceExt::oneshot`, no sockets) and prints median and p95 milliseconds per
//! request kind, body included.
//!
//! `cargo bench --bench web_pages` (README, Performance, records a run).

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use errata_server::config::Config;
use errata_server::grouping::Grouping;
use errata_server::normalize::EventFields;
use errata_server::protocol::{EventId, Level};
use errata_server::store::{encode_payload, secret_hash, IssueStatus, NewEvent, Store};
use errata_server::App;
use serde_json::json;
use tower::ServiceExt;

const HOUR_MS: i64 = 3_600_000;
const BATCH: usize = 2_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// A small but realistic payload: exception with two frames (one with locals), two
/// breadcrumbs, tags, user and contexts.
fn payload(variant: usize) -> Vec<u8> {
    encode_payload(&json!({
        "platform": "python",
        "level": "error",
        "exception": {"values": [{
            "type": "KeyError",
            "value": format!("'field_{variant}'"),
            "stacktrace": {"frames": [
                {"module": "framework.core", "function": "dispatch", "filename": "framework/core.py",
                 "lineno": 88, "in_app": false, "context_line": "return handler(request)"},
                {"module": "shop.views", "function": format!("view_{variant}"), "filename": "shop/views.py",
                 "lineno": 41, "in_app": true, "pre_context": ["def view(request):", "    data = load()"],
                 "context_line": "    return data['field']", "post_context": ["", ""],
                 "vars": {"request": "<Request POST /checkout>", "data": "{'id': 7}"}}
            ]}
        }]},
        "breadcrumbs": {"values": [
            {"timestamp": "2026-11-22T10:00:00Z", "category": "auth", "message": "user logged in"},
            {"timestamp": "2026-11-22T10:00:01Z", "category": "http", "data": {"url": "https://api/x", "status_code": 200}}
        ]},
        "tags": [["browser", "Firefox"], ["region", "eu"]],
        "user": {"id": format!("u{variant}")},
        "contexts": {"os": {"name": "Linux"}, "runtime": {"name": "CPython", "version": "3.12"}}
    }))
}

fn grouping(issue: usize) -> Grouping {
    Grouping {
        version: "v1",
        kind: "exception-app".into(),
        hash: format!("{issue:064x}"),
        values: vec![
            "type:KeyError".into(),
            format!("module:shop.views_{issue}"),
            "fn:view".into(),
        ],
    }
}

/// Which issue event `n` belongs to: the first `issues` events create every issue once;
/// the rest go half uniformly, half to the 1,000 "hot" issues (some get thousands).
fn issue_of(n: usize, issues: usize) -> usize {
    if n < issues {
        n
    } else if n % 2 == 0 {
        (n.wrapping_mul(2_654_435_761)) % issues
    } else {
        (n.wrapping_mul(40_503)) % issues.min(1_000)
    }
}

async fn seed(store: &Store, project_id: i64, issues: usize, events: usize) -> anyhow::Result<()> {
    let payloads: Vec<Vec<u8>> = (0..16).map(payload).collect();
    let now = errata_server::clock::system_now_ms();
    let span = 30 * 24 * HOUR_MS;
    let started = Instant::now();
    let mut batch = Vec::with_capacity(BATCH);
    for n in 0..events {
        let issue = issue_of(n, issues);
        // Spread over 30 days, later events newer, so every hour has data.
        let ts = now - span + (span / events.max(1) as i64) * n as i64;
        batch.push(NewEvent {
            project_id,
            fields: EventFields {
                event_id: format!("{:032x}", n as u128 + 1).parse::<EventId>()?,
                timestamp_ms: ts,
                received_ms: ts,
                level: if issue % 7 == 0 {
                    Level::Warning
                } else {
                    Level::Error
                },
                platform: "python".into(),
                title: format!("KeyError: 'field_{issue}' in view_{issue}"),
                culprit: Some(format!("shop.views_{} in view", issue % 5_000)),
                release: Some(format!("shop@1.{}.0", n % 5)),
                environment: Some(if n % 3 == 0 { "staging" } else { "prod" }.into()),
                user_key: Some(format!("id:u{}", n % 5_000)),
                tags: vec![
                    (
                        "browser".into(),
                        ["Firefox", "Chrome", "Safari"][n % 3].into(),
                    ),
                    ("region".into(), ["eu", "us"][n % 2].into()),
                ],
            },
            grouping: grouping(issue),
            payload: payloads[n % payloads.len()].clone(),
        });
        if batch.len() == BATCH {
            store.insert_events(&batch).await?;
            batch.clear();
            if (n + 1) % 100_000 == 0 {
                eprintln!("  seeded {} events in {:.0?}", n + 1, started.elapsed());
            }
        }
    }
    store.insert_events(&batch).await?;
    // Some triage so the tabs have content: every 10th issue resolved, every 20th ignored.
    // A fresh database numbers issues 1..=issues.
    let last = issues as i64;
    for id in (1..=last)
        .step_by(10)
        .filter(|id| id + 5 <= last)
        .take(5_000)
    {
        store.set_issue_status(id, IssueStatus::Resolved).await?;
        store.set_issue_status(id + 5, IssueStatus::Ignored).await?;
    }
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let issues = env_usize("ERRATA_BENCH_ISSUES", 100_000);
    let events = env_usize("ERRATA_BENCH_EVENTS", 1_000_000).max(issues);
    let runs = env_usize("ERRATA_BENCH_RUNS", 50);
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = Store::connect(&url).await?;
    let project = store.create_project("bench").await?;
    eprintln!("seeding {issues} issues / {events} events into {url}");
    let t = Instant::now();
    seed(&store, project.id, issues, events).await?;
    let seed_time = t.elapsed();
    let (stored_events, stored_issues) = store.counts(Some(project.id)).await?;
    eprintln!("seeded {stored_issues} issues / {stored_events} events in {seed_time:.1?}");

    let hash = errata_server::web::hash_password("bench password")?;
    let user = store.create_user("bench@example.com", &hash, true).await?;
    let token = "bench-session-token";
    store
        .create_session(user.id, &secret_hash(token), "csrf", i64::MAX / 2)
        .await?;
    let cookie = format!("errata_session={token}");
    let app = App::new(
        Config {
            database_url: url.clone(),
            ..Config::default()
        },
        store.clone(),
    );
    let router = errata_server::router(app.state.clone());

    let hot = store
        .list_issues(&errata_server::store::IssueQuery {
            sort: errata_server::store::IssueSort::Count,
            limit: 1,
            ..errata_server::store::IssueQuery::new(project.id)
        })
        .await?
        .issues
        .first()
        .map(|i| (i.id, i.count))
        .unwrap_or((1, 0));
    let plain = (hot.0 + issues as i64 / 2 - 1) % issues as i64 + 1;
    let p = project.id;
    let cases: Vec<(String, String)> = vec![
        (
            "issue list (unresolved, last seen)".into(),
            format!("/projects/{p}/issues"),
        ),
        (
            "issue list, sort by events".into(),
            format!("/projects/{p}/issues?sort=events"),
        ),
        (
            "issue list, sort by users".into(),
            format!("/projects/{p}/issues?sort=users"),
        ),
        (
            "issue list, resolved tab".into(),
            format!("/projects/{p}/issues?status=resolved"),
        ),
        (
            "issue list, level:warning release:shop@1.2.0".into(),
            format!("/projects/{p}/issues?q=level%3Awarning+release%3Ashop%401.2.0"),
        ),
        (
            "issue list, free text \"field_4242\"".into(),
            format!("/projects/{p}/issues?q=field_4242"),
        ),
        (
            format!("issue page, hot issue ({} events)", hot.1),
            format!("/issues/{}", hot.0),
        ),
        (
            "issue page, hot issue, 30-day chart".into(),
            format!("/issues/{}?range=30d", hot.0),
        ),
        (
            "issue page, ordinary issue".into(),
            format!("/issues/{plain}"),
        ),
    ];
    println!("\n{:<52} {:>9} {:>9}", "request", "median ms", "p95 ms");
    for (name, path) in &cases {
        let mut times = Vec::with_capacity(runs);
        for i in 0..runs + 5 {
            let req = Request::get(path.as_str())
                .header(header::COOKIE, &cookie)
                .body(Body::empty())?;
            let t = Instant::now();
            let res = router.clone().oneshot(req).await?;
            let status = res.status();
            let body = axum::body::to_bytes(res.into_body(), usize::MAX).await?;
            let took = t.elapsed();
            anyhow::ensure!(
                status == StatusCode::OK,
                "{path}: {status}: {}",
                String::from_utf8_lossy(&body)
            );
            if i >= 5 {
                times.push(took);
            }
        }
        times.sort();
        println!(
            "{:<52} {:>9.2} {:>9.2}",
            name,
            percentile(&times, 0.5),
            percentile(&times, 0.95)
        );
    }
    println!(
        "\n{stored_issues} issues, {stored_events} events, seeded in {:.0} s; {runs} runs per request after 5 warm-up runs",
        seed_time.as_secs_f64()
    );
    drop(router);
    Ok(())
}
