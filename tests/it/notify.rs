//! Notifications end to end: real SMTP (Python aiosmtpd) and HTTP listeners on 127.0.0.1,
//! failure injection (listener down, webhook 500s, a killed server), storm control, and two
//! workers draining one outbox.
//!
//! Most tests turn the server's own worker off and drive `Notifier::run_once` themselves,
//! so every assertion follows a known set of rounds; the rest poll with a deadline.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use axum::extract::State;
use axum::http::StatusCode;
use errata_server::config::Config;
use errata_server::grouping::Grouping;
use errata_server::jobs::{Progress, RunOutcome};
use errata_server::normalize::EventFields;
use errata_server::notify::{Notifier, Outcome, SmtpTls};
use errata_server::protocol::{EventId, Level};
use errata_server::store::{
    encode_payload, ChannelKind, FrequencyRule, IssueStatus, NewEvent, Store,
};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::{error_event, event_envelope, new_event_id, TestApp, FIXTURE_KEY};
use crate::store::{run_postgres, run_sqlite, Ctx};

/// Longest wait for anything asynchronous.
pub(crate) const DEADLINE: Duration = Duration::from_secs(30);

// ---- listeners --------------------------------------------------------------------------

/// An HTTP listener standing in for Slack: records every POST body with the status it
/// answered (settable, 200 by default).
#[derive(Clone)]
pub(crate) struct Hook {
    /// The webhook URL (a Slack-like path on 127.0.0.1).
    pub(crate) url: String,
    status: Arc<AtomicU16>,
    received: Arc<Mutex<Vec<(u16, Value)>>>,
}

impl Hook {
    pub(crate) async fn start() -> Hook {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let hook = Hook {
            url: format!("http://{addr}/services/T000/B000/secretXYZ"),
            status: Arc::new(AtomicU16::new(200)),
            received: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/services/T000/B000/secretXYZ", axum::routing::post(record))
            .with_state(hook.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        hook
    }

    fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// Bodies the hook accepted (answered 200).
    pub(crate) fn accepted(&self) -> Vec<Value> {
        let all = self.received.lock().expect("lock");
        all.iter()
            .filter(|(s, _)| *s == 200)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn requests(&self) -> usize {
        self.received.lock().expect("lock").len()
    }
}

async fn record(State(hook): State<Hook>, body: axum::Json<Value>) -> (StatusCode, &'static str) {
    let status = hook.status.load(Ordering::SeqCst);
    hook.received.lock().expect("lock").push((status, body.0));
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, if status == 200 { "ok" } else { "no_service" })
}

/// The Python aiosmtpd sink (`tests/support/smtp_sink.py`): every received message, parsed.
pub(crate) struct SmtpSink {
    pub(crate) port: u16,
    messages: Arc<Mutex<Vec<Value>>>,
    _child: tokio::process::Child,
}

impl SmtpSink {
    /// Starts the sink on `port` (0: any) and waits until it listens.
    pub(crate) async fn start(python: &Path, port: u16) -> SmtpSink {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
        let mut child = tokio::process::Command::new(python)
            .arg(script)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start smtp sink");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(DEADLINE, lines.next_line())
            .await
            .expect("sink starts in time")
            .expect("read sink")
            .expect("sink printed its port");
        let port = first
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .expect("PORT line");
        let messages: Arc<Mutex<Vec<Value>>> = Arc::default();
        let sink = messages.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(v) = serde_json::from_str(&line) {
                    sink.lock().expect("lock").push(v);
                }
            }
        });
        SmtpSink {
            port,
            messages,
            _child: child,
        }
    }

    pub(crate) fn messages(&self) -> Vec<Value> {
        self.messages.lock().expect("lock").clone()
    }
}

// ---- helpers ----------------------------------------------------------------------------

/// A port on 127.0.0.1 with nothing listening (bound once by us, then released).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Fast retries for tests, and webhooks to the loopback listeners allowed; `tweak` adds the
/// test's own settings.
pub(crate) fn fast(c: &mut Config) {
    c.notify.allow_private_targets = true;
    c.notify.poll_interval_ms = 20;
    c.notify.retry_base_ms = 10;
    c.notify.retry_max_ms = 40;
    c.notify.failing_retry_ms = 300;
    c.notify.send_timeout_secs = 10;
}

/// A server whose own worker is off, plus a `Notifier` over the same database and
/// settings that the test drives round by round.
async fn manual(tweak: impl Fn(&mut Config)) -> (TestApp, Notifier) {
    let app = TestApp::spawn_with(|c| {
        fast(c);
        tweak(c);
        c.notify.enabled = false;
    })
    .await;
    let mut config = Config {
        base_url: Some(app.base.clone()),
        ..Config::default()
    };
    fast(&mut config);
    tweak(&mut config);
    let notifier = Notifier::new(app.store.clone(), &config).expect("notifier");
    (app, notifier)
}

/// Rounds until one does nothing; returns the sum of what they did.
async fn drain(n: &Notifier) -> Outcome {
    let mut total = Outcome::default();
    for _ in 0..100 {
        let o = n.run_once().await.expect("round");
        if o.is_idle() {
            total.postponed += o.postponed;
            return total;
        }
        total.dispatched += o.dispatched;
        total.dropped += o.dropped;
        total.frequency_alerts += o.frequency_alerts;
        total.sent += o.sent;
        total.failed += o.failed;
        total.digests += o.digests;
        total.folded += o.folded;
        total.postponed += o.postponed;
        total.skipped += o.skipped;
    }
    panic!("the worker is still busy after 100 rounds");
}

/// Adds `hook` as a Slack channel of the test project; returns the channel id.
async fn slack_channel(app: &TestApp, hook: &Hook) -> i64 {
    let added = app
        .store
        .add_channel(app.project.id, ChannelKind::Slack, &hook.url)
        .await;
    added.expect("channel").id
}

/// Posts one error event (grouped by `function`) and returns its issue id.
async fn send_event(app: &TestApp, function: &str, value: &str) -> i64 {
    let id = new_event_id();
    let res = app
        .post_envelope(event_envelope(&error_event(&id, function, value)))
        .await;
    assert_eq!(res.status(), 200);
    app.event(&id).await["issue_id"].as_i64().expect("issue id")
}

/// Polls `check` every 20 ms until it returns `Some`, failing after [`DEADLINE`].
pub(crate) async fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn header(payload: &Value) -> String {
    payload["attachments"][0]["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

// ---- e-mail -----------------------------------------------------------------------------

#[tokio::test]
async fn email_reaches_a_real_smtp_listener() {
    let Some(python) = crate::helpers::python_with("aiosmtpd") else {
        return;
    };
    let sink = SmtpSink::start(&python, 0).await;
    let port = sink.port;
    // The server's own worker delivers here: the whole path, ingest to SMTP.
    let app = TestApp::spawn_with(|c| {
        fast(c);
        c.notify.admins = "Jose <jose@example.com>, Adin <adin@example.com>".into();
        c.notify.smtp.host = Some("127.0.0.1".into());
        c.notify.smtp.port = Some(port);
        c.notify.smtp.tls = SmtpTls::None;
        c.notify.smtp.from = "Errata <errata@example.com>".into();
    })
    .await;
    let issue_id = send_event(&app, "charge", "division by zero").await;
    let messages = wait_for("two mails", || {
        let m = sink.messages();
        (m.len() >= 2).then_some(m)
    })
    .await;
    let link = format!("{}/issues/{issue_id}", app.base);
    let mut rcpts = BTreeSet::new();
    for m in &messages {
        let rcpt = m["rcpt_tos"].as_array().expect("rcpts");
        assert_eq!(rcpt.len(), 1, "one recipient per message: {m}");
        rcpts.insert(rcpt[0].as_str().unwrap_or_default().to_owned());
        assert_eq!(m["mail_from"], "errata@example.com");
        assert_eq!(
            m["subject"],
            "[fixtures] New issue: ValueError: division by zero"
        );
        assert_eq!(m["content_type"], "multipart/alternative");
        let text = m["text"].as_str().expect("text part");
        for needle in [
            "New issue in fixtures",
            "ValueError: division by zero",
            "Environment: test",
            "Release:     app@1.0",
            "Level:       error",
            "Events:      1",
            "Users:       1",
            "charge at app.main:10",
            &link,
        ] {
            assert!(text.contains(needle), "text part lacks {needle:?}:\n{text}");
        }
        let html = m["html"].as_str().expect("html part");
        assert!(html.contains(&format!("href=\"{link}\"")), "{html}");
        assert!(html.contains("<code>charge</code>"), "{html}");
    }
    assert_eq!(
        rcpts,
        BTreeSet::from(["adin@example.com".to_owned(), "jose@example.com".to_owned()])
    );
    let to: BTreeSet<String> = messages
        .iter()
        .map(|m| m["to"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(to.contains("Jose <jose@example.com>"), "{to:?}");
    // Both deliveries are recorded as sent with the server's reply (the worker records
    // right after the sink answered, so poll for it).
    let start = Instant::now();
    let status = loop {
        let status = app.store.notification_status().await.expect("status");
        if status.iter().all(|s| s.sent == 1) {
            break status;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "sends never recorded: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status.len(), 2);
    for s in &status {
        assert_eq!((s.sent, s.pending, s.failed), (1, 0, 0), "{s:?}");
        let attempts = app
            .store
            .notification_attempts(s.channel.id, 10)
            .await
            .expect("attempts");
        assert_eq!(attempts.len(), 1);
        assert!(attempts[0].ok);
        assert!(
            attempts[0]
                .status
                .as_deref()
                .is_some_and(|r| r.starts_with("250")),
            "{attempts:?}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn smtp_listener_down_then_up_delivers_once() {
    let Some(python) = crate::helpers::python_with("aiosmtpd") else {
        return;
    };
    let port = free_port();
    let (app, notifier) = manual(|c| {
        c.notify.admins = "ops@example.com".into();
        c.notify.smtp.host = Some("127.0.0.1".into());
        c.notify.smtp.port = Some(port);
        c.notify.smtp.tls = SmtpTls::None;
        c.notify.failing_after = 100;
    })
    .await;
    send_event(&app, "charge", "boom").await;
    // Down: the connection is refused, the attempt is recorded, the delivery waits.
    let first = notifier.run_once().await.expect("round");
    assert_eq!((first.dispatched, first.sent, first.failed), (1, 0, 1));
    let channel = app.store.channels().await.expect("channels")[0].id;
    let attempts = app
        .store
        .notification_attempts(channel, 10)
        .await
        .expect("attempts");
    assert_eq!(attempts.len(), 1);
    assert!(
        !attempts[0].ok
            && attempts[0]
                .error
                .as_deref()
                .is_some_and(|e| e.starts_with("smtp"))
    );

    // Up: the next due attempt delivers it.
    let sink = SmtpSink::start(&python, port).await;
    let start = Instant::now();
    let mut sent = 0;
    while sent == 0 {
        assert!(start.elapsed() < DEADLINE, "never delivered");
        sent += drain(&notifier).await.sent;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sent, 1);
    // More rounds send nothing more.
    assert_eq!(drain(&notifier).await.sent, 0);
    let messages = wait_for("the mail", || {
        let m = sink.messages();
        (!m.is_empty()).then_some(m)
    })
    .await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["rcpt_tos"], json!(["ops@example.com"]));
    let s = &app.store.notification_status().await.expect("status")[0];
    assert_eq!((s.sent, s.pending, s.failed), (1, 0, 0));
    let attempts = app
        .store
        .notification_attempts(channel, 10)
        .await
        .expect("attempts");
    assert!(attempts[0].ok && attempts.len() >= 2, "{attempts:?}");
    app.stop().await;
}

// ---- Slack ------------------------------------------------------------------------------

#[tokio::test]
async fn slack_gets_block_kit_for_new_issues_and_regressions() {
    let hook = Hook::start().await;
    let (app, notifier) = manual(|_| {}).await;
    slack_channel(&app, &hook).await;
    let issue_id = send_event(&app, "charge", "division by zero").await;
    assert_eq!(drain(&notifier).await.sent, 1);
    let payloads = hook.accepted();
    assert_eq!(payloads.len(), 1);
    let p = &payloads[0];
    let link = format!("{}/issues/{issue_id}", app.base);
    assert_eq!(
        p["text"],
        "[fixtures] New issue: ValueError: division by zero"
    );
    let attachment = &p["attachments"][0];
    assert_eq!(attachment["color"], "#e03e2f");
    let blocks = attachment["blocks"].as_array().expect("blocks");
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    assert_eq!(
        blocks[0]["text"]["text"],
        "New issue: ValueError: division by zero"
    );
    assert_eq!(blocks[1]["type"], "section");
    assert!(blocks[1]["text"]["text"]
        .as_str()
        .is_some_and(|t| t.starts_with(&format!("*<{link}|ValueError: division by zero>*"))));
    let fields: Vec<&str> = blocks[2]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| {
            assert_eq!(f["type"], "mrkdwn");
            f["text"].as_str().unwrap_or_default()
        })
        .collect();
    for expected in [
        "*Project*\nfixtures",
        "*Environment*\ntest",
        "*Release*\napp@1.0",
        "*Level*\nerror",
        "*Events*\n1",
        "*Users*\n1",
    ] {
        assert!(fields.contains(&expected), "{expected:?} not in {fields:?}");
    }
    assert!(
        fields.iter().any(|f| f.starts_with("*First seen*\n20")),
        "{fields:?}"
    );
    assert!(blocks[3]["text"]["text"]
        .as_str()
        .is_some_and(|t| t.contains("charge at app.main:10")));
    let actions = blocks.last().expect("actions");
    assert_eq!(actions["type"], "actions");
    assert_eq!(actions["elements"][0]["type"], "button");
    assert_eq!(actions["elements"][0]["url"], link.as_str());

    // Resolved, then an event: a regression.
    app.store
        .set_issue_status(issue_id, IssueStatus::Resolved)
        .await
        .expect("resolve");
    send_event(&app, "charge", "division by zero").await;
    assert_eq!(drain(&notifier).await.sent, 1);
    let payloads = hook.accepted();
    assert_eq!(payloads.len(), 2);
    assert_eq!(
        header(&payloads[1]),
        "Regression: ValueError: division by zero"
    );
    assert!(payloads[1]["text"]
        .as_str()
        .is_some_and(|t| t.starts_with("[fixtures] Regression: ")));

    // A second regression within the trigger window does not notify again.
    app.store
        .set_issue_status(issue_id, IssueStatus::Resolved)
        .await
        .expect("resolve");
    send_event(&app, "charge", "division by zero").await;
    let o = drain(&notifier).await;
    assert_eq!((o.dropped, o.sent), (1, 0));
    assert_eq!(hook.accepted().len(), 2);
    app.stop().await;
}

/// The top-level `text` and every `mrkdwn` text of a Slack payload: what Slack parses for
/// `<…>` mentions and links.
fn slack_parsed_texts(payload: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if map.get("type").and_then(Value::as_str) == Some("mrkdwn") {
                    out.extend(map.get("text").and_then(Value::as_str).map(str::to_owned));
                }
                map.values().for_each(|c| walk(c, out));
            }
            Value::Array(list) => list.iter().for_each(|c| walk(c, out)),
            _ => {}
        }
    }
    let mut out: Vec<String> = payload["text"]
        .as_str()
        .map(str::to_owned)
        .into_iter()
        .collect();
    walk(payload, &mut out);
    out
}

#[tokio::test]
async fn slack_messages_carry_event_text_without_live_mentions_or_links() {
    const INJECTION: &str =
        "<!channel> <!here> <@U12345> <http://evil.example/reset|Click here to re-login> & co";
    let hook = Hook::start().await;
    let (app, notifier) = manual(|c| c.notify.max_per_window = 1).await;
    slack_channel(&app, &hook).await;
    // The first issue is a single message, the next two are folded into a digest.
    for f in ["inject_a", "inject_b", "inject_c"] {
        send_event(&app, f, INJECTION).await;
    }
    let o = drain(&notifier).await;
    let payloads = hook.accepted();
    assert_eq!(payloads.len(), 2, "one message and one digest: {o:?}");
    assert!(header(&payloads[1]).starts_with("Digest:"));
    let escaped = "&lt;!channel&gt; &lt;!here&gt; &lt;@U12345&gt; \
                   &lt;http://evil.example/reset|Click here to re-login&gt; &amp; co";
    assert_eq!(
        payloads[0]["text"],
        format!("[fixtures] New issue: ValueError: {escaped}")
    );
    for p in &payloads {
        let texts = slack_parsed_texts(p);
        assert!(texts.len() >= 3, "{p}");
        for t in texts {
            for live in [
                "<!channel>",
                "<!here>",
                "<@U12345>",
                "<http://evil.example",
                " & co",
            ] {
                assert!(!t.contains(live), "{live:?} is live in {t:?}");
            }
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn frequency_alert_fires_once_per_window_and_never_for_ignored_issues() {
    let hook = Hook::start().await;
    let (app, notifier) = manual(|_| {}).await;
    slack_channel(&app, &hook).await;
    app.store
        .set_frequency_rule(
            app.project.id,
            Some(FrequencyRule {
                events: 3,
                minutes: 10,
            }),
        )
        .await
        .expect("rule");
    // Three events: at the threshold, not over it.
    for _ in 0..3 {
        send_event(&app, "charge", "boom").await;
    }
    let o = drain(&notifier).await;
    assert_eq!((o.frequency_alerts, o.sent), (0, 1), "{o:?}");
    // The fourth goes over: one spike.
    send_event(&app, "charge", "boom").await;
    let o = drain(&notifier).await;
    assert_eq!((o.frequency_alerts, o.sent), (1, 1), "{o:?}");
    let spike = hook.accepted().pop().expect("spike");
    assert_eq!(header(&spike), "Spike: ValueError: boom");
    assert_eq!(
        spike["text"],
        "[fixtures] Spike: ValueError: boom (more than 3 events in 10 min)"
    );
    // More events within the window: no second spike.
    for _ in 0..4 {
        send_event(&app, "charge", "boom").await;
    }
    let o = drain(&notifier).await;
    assert_eq!((o.frequency_alerts, o.sent), (0, 0), "{o:?}");

    // An ignored issue never notifies, however busy.
    let quiet = send_event(&app, "other", "hush").await;
    assert_eq!(drain(&notifier).await.sent, 1);
    app.store
        .set_issue_status(quiet, IssueStatus::Ignored)
        .await
        .expect("ignore");
    for _ in 0..6 {
        send_event(&app, "other", "hush").await;
    }
    let o = drain(&notifier).await;
    assert_eq!((o.frequency_alerts, o.sent), (0, 0), "{o:?}");
    assert_eq!(hook.accepted().len(), 3);
    app.stop().await;
}

#[tokio::test]
async fn webhook_failures_retry_mark_the_channel_failing_and_recover() {
    let hook = Hook::start().await;
    hook.set_status(500);
    let (app, notifier) = manual(|c| {
        c.notify.max_attempts = 100;
        c.notify.failing_after = 5;
    })
    .await;
    let channel = slack_channel(&app, &hook).await;
    send_event(&app, "charge", "boom").await;
    // Retried with backoff until the channel is marked failing.
    let start = Instant::now();
    loop {
        let _ = notifier.run_once().await.expect("round");
        let c = app.store.notification_status().await.expect("status")[0].clone();
        if c.channel.failing_since_ms.is_some() {
            assert_eq!(c.channel.consecutive_failures, 5);
            assert_eq!(c.pending, 1);
            assert!(c
                .channel
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("500")));
            break;
        }
        assert!(start.elapsed() < DEADLINE, "never marked failing: {c:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let attempts = app
        .store
        .notification_attempts(channel, 100)
        .await
        .expect("attempts");
    assert_eq!(attempts.len(), 5);
    assert!(attempts
        .iter()
        .all(|a| !a.ok && a.status.as_deref() == Some("500")));
    assert_eq!(hook.requests(), 5);

    // Shown in /metrics (process-wide gauge: at least this channel) and in `notify status`.
    let text = app.metrics_text().await;
    let gauge: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("errata_notification_channels_failing "))
        .and_then(|v| v.trim().parse().ok())
        .expect("failing gauge in /metrics");
    assert!(gauge >= 1.0, "{gauge}");
    assert!(text.contains("errata_notifications_failed_total{channel_kind=\"slack\"}"));

    // No hot loop: rounds within the failing-retry interval send nothing.
    for _ in 0..5 {
        let o = notifier.run_once().await.expect("round");
        assert_eq!((o.sent, o.failed), (0, 0));
    }
    assert_eq!(hook.requests(), 5);

    // The hook comes back: the next probe delivers, the channel recovers.
    hook.set_status(200);
    let start = Instant::now();
    while hook.accepted().is_empty() {
        assert!(start.elapsed() < DEADLINE, "never recovered");
        let _ = notifier.run_once().await.expect("round");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(drain(&notifier).await.sent, 0);
    assert_eq!(hook.accepted().len(), 1);
    let c = &app.store.notification_status().await.expect("status")[0];
    assert_eq!(c.channel.consecutive_failures, 0);
    assert_eq!(c.channel.failing_since_ms, None);
    assert_eq!((c.sent, c.pending, c.failed), (1, 0, 0));
    let attempts = app
        .store
        .notification_attempts(channel, 100)
        .await
        .expect("attempts");
    assert_eq!(attempts.len(), 6);
    assert!(attempts[0].ok && attempts[0].status.as_deref() == Some("200"));
    app.stop().await;
}

#[tokio::test]
async fn a_message_failing_every_attempt_becomes_a_dead_letter() {
    let hook = Hook::start().await;
    hook.set_status(400);
    let (app, notifier) = manual(|c| {
        c.notify.max_attempts = 3;
        c.notify.failing_after = 100;
    })
    .await;
    slack_channel(&app, &hook).await;
    send_event(&app, "charge", "boom").await;
    let start = Instant::now();
    let mut dead = 0;
    while dead == 0 {
        assert!(start.elapsed() < DEADLINE, "never given up");
        dead += notifier.run_once().await.expect("round").dead;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let s = &app.store.notification_status().await.expect("status")[0];
    assert_eq!((s.failed, s.pending, s.sent), (1, 0, 0));
    assert_eq!(hook.requests(), 3);
    app.stop().await;
}

// ---- storms -----------------------------------------------------------------------------

#[tokio::test]
async fn a_storm_of_200_new_issues_is_folded_into_digests() {
    let hook = Hook::start().await;
    let (app, notifier) = manual(|c| {
        c.notify.max_per_window = 10;
        c.notify.max_digest_items = 100;
    })
    .await;
    slack_channel(&app, &hook).await;
    let issues: BTreeSet<i64> = futures::future::join_all((0..200).map(|i| {
        let app = &app;
        async move { send_event(app, &format!("f{i}"), &format!("storm {i}")).await }
    }))
    .await
    .into_iter()
    .collect();
    assert_eq!(issues.len(), 200);
    let o = drain(&notifier).await;
    let payloads = hook.accepted();
    let singles = payloads
        .iter()
        .filter(|p| header(p).starts_with("New issue:"))
        .count();
    let digests = payloads
        .iter()
        .filter(|p| header(p).starts_with("Digest:"))
        .count();
    assert_eq!(singles, 10, "{o:?}");
    assert_eq!(digests, 2, "190 issues at 100 per digest");
    assert_eq!(payloads.len(), singles + digests);
    assert_eq!((o.sent, o.folded), (12, 188));
    // Every issue is named in exactly one message.
    let all: Vec<String> = payloads.iter().map(Value::to_string).collect();
    for id in &issues {
        let needle = format!("/issues/{id}");
        let named = all
            .iter()
            .filter(|p| p.contains(&format!("{needle}|")) || p.contains(&format!("{needle}\"")))
            .count();
        assert!(named >= 1, "issue {id} is in no message");
    }
    let digest_text = payloads
        .iter()
        .find(|p| header(p).starts_with("Digest:"))
        .map(|p| {
            p["attachments"][0]["blocks"][1]["text"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .expect("a digest");
    assert!(
        digest_text.starts_with("*100 new issues in fixtures, the 5 most frequent:*")
            || digest_text.starts_with("*90 new issues in fixtures, the 5 most frequent:*"),
        "{digest_text}"
    );

    // The storm goes on: within the window and the digest interval, new issues wait.
    for i in 200..205 {
        send_event(&app, &format!("f{i}"), "late").await;
    }
    let o = drain(&notifier).await;
    assert_eq!((o.sent, o.postponed), (0, 5), "{o:?}");
    assert_eq!(hook.accepted().len(), 12);
    app.stop().await;
}

// ---- crash and concurrency --------------------------------------------------------------

/// `errata serve` as a child process on `port`, with `config` as its TOML file.
fn errata_serve(db_url: &str, port: u16, config: &Path) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_errata"))
        .arg("serve")
        .env("DATABASE_URL", db_url)
        .env("ERRATA_BIND", format!("127.0.0.1:{port}"))
        .env("ERRATA_BASE_URL", format!("http://127.0.0.1:{port}"))
        .env("ERRATA_CONFIG", config)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start errata serve")
}

async fn wait_healthy(http: &reqwest::Client, port: u16) {
    let start = Instant::now();
    loop {
        let ok = http
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ok {
            return;
        }
        assert!(start.elapsed() < DEADLINE, "server never became healthy");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_server_killed_after_the_commit_delivers_after_restart() {
    let hook = Hook::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let db_url = format!("sqlite://{}", dir.path().join("errata.db").display());
    let store = Store::connect(&db_url).await.expect("store");
    let project = store
        .create_project_with_key("crashy", FIXTURE_KEY)
        .await
        .expect("project");
    store
        .add_channel(project.id, ChannelKind::Slack, &hook.url)
        .await
        .expect("channel");
    // First life: killed before its worker gets to the outbox (here: it has none).
    let sleepy = dir.path().join("sleepy.toml");
    std::fs::write(
        &sleepy,
        "[notify]\nenabled = false\nallow_private_targets = true\n",
    )
    .expect("config");
    let port = free_port();
    let mut child = errata_serve(&db_url, port, &sleepy);
    let http = reqwest::Client::new();
    wait_healthy(&http, port).await;
    let event_id = new_event_id();
    let res = http
        .post(format!(
            "http://127.0.0.1:{port}/api/{}/envelope/",
            project.id
        ))
        .header(
            "x-sentry-auth",
            format!("Sentry sentry_key={FIXTURE_KEY}, sentry_version=7"),
        )
        .body(event_envelope(&error_event(&event_id, "charge", "crash")))
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 200, "the event is committed");
    child.kill().await.expect("SIGKILL");
    // Committed, not delivered.
    assert_eq!(hook.requests(), 0);
    let outbox = store.pending_outbox(10).await.expect("outbox");
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].event_id, event_id.parse::<EventId>().expect("id"));

    // Second life: delivered, once.
    let eager = dir.path().join("eager.toml");
    std::fs::write(
        &eager,
        "[notify]\npoll_interval_ms = 20\nallow_private_targets = true\n",
    )
    .expect("config");
    let port = free_port();
    let mut child = errata_serve(&db_url, port, &eager);
    wait_healthy(&http, port).await;
    let payloads = wait_for("the notification", || {
        let p = hook.accepted();
        (!p.is_empty()).then_some(p)
    })
    .await;
    assert_eq!(header(&payloads[0]), "New issue: ValueError: crash");
    let start = Instant::now();
    loop {
        let s = &store.notification_status().await.expect("status")[0];
        if s.sent == 1 {
            assert_eq!(s.pending, 0);
            break;
        }
        assert!(start.elapsed() < DEADLINE, "delivery never recorded: {s:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().await.expect("stop");
    assert_eq!(hook.requests(), 1);
    store.close().await;
}

/// `count` events of distinct issues for `project`.
fn distinct_events(project: i64, count: usize) -> Vec<NewEvent> {
    (0..count)
        .map(|i| {
            use sha2::Digest;
            let label = format!("race {i}");
            NewEvent {
                project_id: project,
                fields: EventFields {
                    event_id: EventId::new_random(),
                    timestamp_ms: 1_700_000_000_000,
                    received_ms: 1_700_000_000_000,
                    level: Level::Error,
                    platform: "python".into(),
                    title: label.clone(),
                    culprit: None,
                    release: None,
                    environment: None,
                    user_key: None,
                    tags: Vec::new(),
                },
                grouping: Grouping {
                    version: "v1",
                    kind: "message".into(),
                    hash: hex::encode(sha2::Sha256::digest(label.as_bytes())),
                    values: vec![label.clone()],
                },
                payload: encode_payload(&json!({"message": label})),
            }
        })
        .collect()
}

/// Two workers, each on its own pool (as two server processes would be), drain one outbox
/// while events keep arriving: every notification is delivered exactly once.
async fn two_workers_deliver_exactly_once(ctx: Ctx) -> Result<()> {
    // Three channels, so the workers' channel claims interleave rather than queue.
    let hooks = [
        Hook::start().await,
        Hook::start().await,
        Hook::start().await,
    ];
    let project = ctx.store.create_project("race").await?.id;
    for hook in &hooks {
        ctx.store
            .add_channel(project, ChannelKind::Slack, &hook.url)
            .await?;
    }
    let mut config = Config {
        base_url: Some("http://errata.test".into()),
        ..Config::default()
    };
    fast(&mut config);
    config.notify.max_per_window = 1000;
    let a = Notifier::new(ctx.store.clone(), &config)?;
    let b = Notifier::new(ctx.second_store().await?, &config)?;
    const TOTAL: usize = 120;
    let expected = TOTAL * hooks.len();
    let delivered = {
        let hooks = hooks.clone();
        move || hooks.iter().map(|h| h.accepted().len()).sum::<usize>()
    };
    let events = distinct_events(project, TOTAL);
    let writer = async {
        for chunk in events.chunks(20) {
            ctx.store.insert_events(chunk).await?;
            tokio::task::yield_now().await;
        }
        anyhow::Ok(())
    };
    let work = |n: Notifier| {
        let delivered = delivered.clone();
        async move {
            let start = Instant::now();
            let mut sent = 0;
            while delivered() < expected {
                ensure!(start.elapsed() < DEADLINE, "only {} delivered", delivered());
                sent += n.run_once().await?.sent;
                tokio::task::yield_now().await;
            }
            anyhow::Ok(sent)
        }
    };
    let ta = tokio::spawn(work(a.clone()));
    let tb = tokio::spawn(work(b.clone()));
    writer.await?;
    let (sa, sb) = (ta.await??, tb.await??);
    // One more round each: nothing left, nothing sent twice.
    let _ = a.run_once().await?;
    let _ = b.run_once().await?;
    ensure!(sa + sb == expected, "workers counted {sa} + {sb}");
    for hook in &hooks {
        let mut per_issue: BTreeMap<String, usize> = BTreeMap::new();
        for p in &hook.accepted() {
            *per_issue.entry(header(p)).or_default() += 1;
        }
        ensure!(
            per_issue.len() == TOTAL && per_issue.values().all(|&n| n == 1),
            "{per_issue:?}"
        );
    }
    for s in &ctx.store.notification_status().await? {
        ensure!(s.sent == TOTAL as i64 && s.pending == 0, "{s:?}");
    }
    println!(
        "{:?}: worker a sent {sa}, worker b sent {sb}",
        ctx.store.backend()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_sqlite_deliver_exactly_once() -> Result<()> {
    run_sqlite(two_workers_deliver_exactly_once).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_postgres_deliver_exactly_once() -> Result<()> {
    run_postgres(two_workers_deliver_exactly_once).await
}

// ---- CLI --------------------------------------------------------------------------------

#[tokio::test]
async fn notify_test_and_status_commands_report_each_channel() {
    let Some(python) = crate::helpers::python_with("aiosmtpd") else {
        return;
    };
    let sink = SmtpSink::start(&python, 0).await;
    let hook = Hook::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let db_url = format!("sqlite://{}", dir.path().join("errata.db").display());
    let store = Store::connect(&db_url).await.expect("store");
    let project = store.create_project("checkout").await.expect("project");
    store.close().await;
    let errata = |args: &[&str]| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_errata"));
        cmd.args(args)
            .env("DATABASE_URL", &db_url)
            .env("ERRATA_ADMINS", "Jose <jose@example.com>")
            .env("ERRATA_SMTP_HOST", "127.0.0.1")
            .env("ERRATA_SMTP_PORT", sink.port.to_string())
            .env("ERRATA_SMTP_TLS", "none")
            .env("ERRATA_SMTP_PASSWORD", "hunter2")
            .env("ERRATA_NOTIFY_ALLOW_PRIVATE_TARGETS", "true")
            .env("RUST_LOG", "warn")
            .kill_on_drop(true);
        async move { cmd.output().await.expect("run errata") }
    };
    let out = errata(&["notify", "channels", "add-slack", "checkout", &hook.url]).await;
    assert!(out.status.success(), "{out:?}");
    let dead_url = format!("http://127.0.0.1:{}/hook", free_port());
    let id = project.id.to_string();
    let out = errata(&["notify", "channels", "add-slack", &id, &dead_url]).await;
    assert!(out.status.success(), "{out:?}");

    let out = errata(&["notify", "test"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "one channel is down, so the command fails"
    );
    assert!(
        stderr.contains("1 of 3 channels failed the test"),
        "{stderr}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    let fields = |l: &str| l.split('\t').map(str::to_owned).collect::<Vec<_>>();
    // Global channels first: result, #id, scope, kind, target, reply, latency.
    let email = fields(lines[0]);
    assert_eq!(email[0], "ok", "{stdout}");
    assert_eq!(&email[2..5], ["global", "email", "Jose <jose@example.com>"]);
    assert!(email[5].starts_with("250 "), "{stdout}");
    let slack_ok = fields(lines[1]);
    assert_eq!(slack_ok[0], "ok", "{stdout}");
    assert_eq!(&slack_ok[2..4], ["project 1", "slack"]);
    assert!(
        slack_ok[4].ends_with("/…tXYZ"),
        "webhook shown redacted: {stdout}"
    );
    assert_eq!(slack_ok[5], "200");
    let slack_down = fields(lines[2]);
    assert_eq!(slack_down[0], "FAILED", "{stdout}");
    assert!(slack_down[5].contains("Connection refused"), "{stdout}");
    assert!(
        !stdout.contains("secretXYZ") && !stdout.contains("hunter2"),
        "{stdout}"
    );
    let mail = wait_for("the test mail", || sink.messages().into_iter().next()).await;
    assert_eq!(mail["subject"], "[errata] Test notification");
    assert_eq!(mail["rcpt_tos"], json!(["jose@example.com"]));
    assert!(mail["text"]
        .as_str()
        .is_some_and(|t| t.contains("this channel works")));
    assert_eq!(hook.accepted().len(), 1);
    assert_eq!(hook.accepted()[0]["text"], "[errata] Test notification");

    let out = errata(&["notify", "status"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    assert!(
        stdout
            .lines()
            .all(|l| l.contains("\tok\tfailures=0\tpending=0")),
        "{stdout}"
    );
}

// ---- the maintenance runner and the channel rules ---------------------------------------

#[tokio::test]
async fn the_notify_job_polls_in_real_time_while_a_manual_clock_stands_still() {
    const START_MS: i64 = 1_704_067_200_000;
    let hook = Hook::start().await;
    let app = TestApp::spawn_with_clock(START_MS, fast).await;
    slack_channel(&app, &hook).await;
    send_event(&app, "charge", "frozen in time").await;
    // The clock never moves: the worker's poll runs on real time.
    let payload = wait_for("the notification", || hook.accepted().first().cloned()).await;
    assert_eq!(header(&payload), "New issue: ValueError: frozen in time");
    // A pass on demand, at the standing clock's time, finds nothing left.
    let report = app.jobs.run_now("notify").await.expect("run now");
    assert_eq!(report.outcome, RunOutcome::Ok);
    assert_eq!(report.progress, Some(Progress::Done));
    assert_eq!(report.started_ms, START_MS);
    assert_eq!(app.clock.now_ms(), START_MS);
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("errata_job_runs_total{job=\"notify\",outcome=\"ok\"}")
            && metrics.contains("errata_job_duration_seconds_count{job=\"notify\"}"),
        "{metrics}"
    );
    assert_eq!(hook.accepted().len(), 1);
    app.stop().await;
}

/// One input per line: (kind, input, accepted without private targets, accepted with them).
const CHANNEL_CASES: &[(&str, &str, bool, bool)] = &[
    ("email", "Jo <jo@x.org>, ad@x.org", true, true),
    ("email", "ops@", false, false),
    ("email", "Jose", false, false),
    ("email", "a@b.org, <j@x.org> tail", false, false),
    ("slack", "https://hooks.slack.com/secretA", true, true),
    ("slack", "http://hooks.slack.com/secretB", false, true),
    ("slack", "https://127.0.0.1:9/hook", false, true),
    ("slack", "https://169.254.169.254/x", false, false),
    ("slack", "https://169.254.1.1/x", false, true),
    ("slack", "https://localhost/hook", false, true),
    ("slack", "not a url", false, false),
    ("slack", "ftp://127.0.0.1/hook", false, false),
    (
        "discord",
        "https://discord.com/api/webhooks/1/tokA",
        true,
        true,
    ),
    (
        "discord",
        "http://127.0.0.1:9/api/webhooks/1/x",
        false,
        true,
    ),
    (
        "teams",
        "https://example.webhook.office.com/webhookb2/x",
        true,
        true,
    ),
    ("pagerduty", "R0UT1NGKEY0123456789abcdefABCDEF", true, true),
    ("pagerduty", "short", false, false),
    ("ntfy", "https://ntfy.sh/errata-alerts", true, true),
    ("ntfy", "https://ntfy.sh/a/b", false, false),
];

/// The web form and `errata notify channels add-…` accept and refuse the same inputs with
/// the same messages and store the same targets, with and without private targets allowed.
#[tokio::test]
async fn the_cli_and_the_web_form_validate_channels_alike() {
    for allow in [false, true] {
        let dir = tempfile::tempdir().expect("dir");
        let db_url = format!("sqlite://{}", dir.path().join("errata.db").display());
        let app = TestApp::spawn_on(&db_url, |c| c.notify.allow_private_targets = allow).await;
        crate::web::add_admin(&app).await;
        let http = crate::web::client();
        let cookie = crate::web::sign_in(&app, &http).await;
        let page = http
            .get(format!("{}/projects", app.base))
            .header(reqwest::header::COOKIE, &cookie)
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("body");
        let csrf = crate::web::csrf_of(&page);
        for &(kind, input, without, with) in CHANNEL_CASES {
            let expected = if allow { with } else { without };
            let case = format!("{kind} {input:?} (private allowed: {allow})");
            let before = app.store.channels().await.expect("channels");
            let web = http
                .post(format!("{}/projects/{}/channels", app.base, app.project.id))
                .header(reqwest::header::COOKIE, &cookie)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("action", "add"),
                    ("kind", kind),
                    ("target", input),
                ])
                .send()
                .await
                .expect("post");
            let web_status = web.status();
            let web_body = web.text().await.expect("body");
            let after_web = app.store.channels().await.expect("channels");
            let cli = tokio::process::Command::new(env!("CARGO_BIN_EXE_errata"))
                .args([
                    "notify",
                    "channels",
                    &format!("add-{kind}"),
                    "fixtures",
                    input,
                ])
                .env("DATABASE_URL", &db_url)
                .env("ERRATA_NOTIFY_ALLOW_PRIVATE_TARGETS", allow.to_string())
                .env("RUST_LOG", "warn")
                .kill_on_drop(true)
                .output()
                .await
                .expect("run errata");
            let stdout = String::from_utf8_lossy(&cli.stdout);
            let stderr = String::from_utf8_lossy(&cli.stderr);
            let after_cli = app.store.channels().await.expect("channels");
            assert_eq!(web_status == 303, expected, "web, {case}: {web_body}");
            assert_eq!(cli.status.success(), expected, "cli, {case}: {stderr}");
            if expected {
                // Same canonical targets: the CLI re-adds exactly what the form added.
                assert!(after_web.len() > before.len(), "{case}");
                assert_eq!(after_cli, after_web, "{case}");
                assert_eq!(stdout.lines().count(), after_web.len() - before.len());
                assert!(!stdout.contains("secret"), "redacted: {stdout}");
            } else {
                assert_eq!(web_status, 400, "{case}");
                assert_eq!((&after_web, &after_cli), (&before, &before), "{case}");
                // The last line: the first names the database the command opened.
                let message = stderr
                    .trim()
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .strip_prefix("error: ")
                    .unwrap_or_else(|| panic!("{case}: {stderr}"));
                assert!(
                    web_body.contains(&errata_server::html::escape_html(message)),
                    "{case}: the CLI says {message:?}, the form {web_body}"
                );
            }
        }
        app.stop().await;
    }
}

/// A channel stored before the rule (or written to the database directly) still cannot make
/// the server call a loopback listener: the send is refused, recorded, and nothing connects.
#[tokio::test]
async fn a_private_webhook_is_refused_at_send_time() {
    let hook = Hook::start().await;
    let (app, notifier) = manual(|c| {
        c.notify.allow_private_targets = false;
        c.notify.failing_after = 100;
    })
    .await;
    let channel = slack_channel(&app, &hook).await;
    send_event(&app, "charge", "ssrf").await;
    let o = notifier.run_once().await.expect("round");
    assert_eq!((o.dispatched, o.sent, o.failed), (1, 0, 1), "{o:?}");
    let attempts = app
        .store
        .notification_attempts(channel, 10)
        .await
        .expect("attempts");
    let error = attempts[0].error.as_deref().unwrap_or_default();
    assert!(
        error.contains("127.0.0.1 is a loopback address")
            && error.contains("ERRATA_NOTIFY_ALLOW_PRIVATE_TARGETS")
            && !error.contains("secretXYZ"),
        "{error}"
    );
    assert_eq!(hook.requests(), 0);
    app.stop().await;
}
