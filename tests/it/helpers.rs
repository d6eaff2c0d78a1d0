//! `TestApp`: the real server on 127.0.0.1:0 in-process, with a fresh SQLite database (or
//! PostgreSQL), a project with the fixtures' public key and an API token.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use errata_server::clock::Clock;
use errata_server::config::Config;
use errata_server::jobs::Jobs;
use errata_server::store::{Project, Store};
use errata_server::App;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The public key the recorded fixtures authenticate with.
pub const FIXTURE_KEY: &str = "publickey";

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub http: reqwest::Client,
    pub store: Store,
    pub project: Project,
    pub token: String,
    /// The server's clock: the system's, or a manual one that the test moves.
    pub clock: Clock,
    /// The server's maintenance jobs: `run_now` runs a pass and returns its report.
    pub jobs: Jobs,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
}

/// Posts envelopes as the test project; cheap to clone into spawned tasks.
#[derive(Clone)]
pub struct EnvelopePoster {
    http: reqwest::Client,
    url: String,
    auth: String,
}

impl EnvelopePoster {
    /// Posts an envelope body with the project's auth header; panics if it cannot be sent.
    pub async fn post(&self, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.http
            .post(&self.url)
            .header("x-sentry-auth", &self.auth)
            .body(body)
            .send()
            .await
            .expect("request")
    }
}

/// Directory of the recorded Python SDK fixtures.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/python")
}

impl TestApp {
    /// A server on a fresh SQLite file with default configuration.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// A server on a fresh SQLite file; `tweak` adjusts the configuration.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("errata.db").display());
        let mut app = Self::spawn_on(&url, tweak).await;
        app._dir = Some(dir);
        app
    }

    /// A server on a fresh SQLite file whose clock stands at `start_ms` (epoch ms) until the
    /// test moves `app.clock`.
    pub async fn spawn_with_clock(start_ms: i64, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("errata.db").display());
        let mut app = Self::spawn_on_with_clock(&url, Clock::manual(start_ms), tweak).await;
        app._dir = Some(dir);
        app
    }

    /// A server on the given database URL (which must be fresh).
    pub async fn spawn_on(url: &str, tweak: impl FnOnce(&mut Config)) -> TestApp {
        Self::spawn_on_with_clock(url, Clock::system(), tweak).await
    }

    /// A server on the given database URL (which must be fresh) with the given clock.
    pub async fn spawn_on_with_clock(
        url: &str,
        clock: Clock,
        tweak: impl FnOnce(&mut Config),
    ) -> TestApp {
        let mut config = Config {
            database_url: url.to_owned(),
            ..Config::default()
        };
        tweak(&mut config);
        let store = Store::connect_with(url, &config.storage)
            .await
            .expect("connect store");
        let project = match store.key_info(FIXTURE_KEY).await.expect("key lookup") {
            Some(info) => store.project(info.project_id).await.expect("project"),
            None => store
                .create_project_with_key("fixtures", FIXTURE_KEY)
                .await
                .expect("create project"),
        };
        let token = store.create_token("tests").await.expect("token");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        config.base_url = Some(format!("http://{addr}"));
        let (tx, rx) = oneshot::channel::<()>();
        let app = App::with_clock(config, store.clone(), clock.clone());
        let jobs = app.state.jobs.clone();
        let server = tokio::spawn(errata_server::serve(listener, app, async move {
            let _ = rx.await;
        }));
        TestApp {
            addr,
            base: format!("http://{addr}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .no_gzip()
                .no_brotli()
                .build()
                .expect("client"),
            store,
            project,
            token,
            clock,
            jobs,
            shutdown: Some(tx),
            server: Some(server),
            _dir: None,
        }
    }

    /// The project's DSN.
    pub fn dsn(&self) -> String {
        format!(
            "http://{}@{}/{}",
            self.project.public_key, self.addr, self.project.id
        )
    }

    /// `/api/{project_id}/envelope/` for this project.
    pub fn envelope_url(&self) -> String {
        format!("{}/api/{}/envelope/", self.base, self.project.id)
    }

    /// The fixtures' `X-Sentry-Auth` header value.
    pub fn auth_header(&self) -> String {
        format!(
            "Sentry sentry_key={}, sentry_version=7, sentry_client=errata-tests/1.0",
            self.project.public_key
        )
    }

    /// Posts an envelope body with the project's auth header.
    pub async fn post_envelope(&self, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.envelope_poster().post(body).await
    }

    /// What [`TestApp::post_envelope`] needs, owned, for tasks spawned to post concurrently.
    pub fn envelope_poster(&self) -> EnvelopePoster {
        EnvelopePoster {
            http: self.http.clone(),
            url: self.envelope_url(),
            auth: self.auth_header(),
        }
    }

    /// GET on the read API with the token; panics on a non-200 answer.
    pub async fn api(&self, path: &str) -> Value {
        let res = self.api_raw(path).await;
        let status = res.status();
        let body: Value = res.json().await.expect("json body");
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// GET on the read API with the token.
    pub async fn api_raw(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{}", self.base, path))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("request")
    }

    /// `PATCH /api/v1/issues/{issue_id}` with `{"status": status}` and the API token.
    pub async fn set_status(&self, issue_id: i64, status: &str) -> reqwest::Response {
        self.http
            .patch(format!("{}/api/v1/issues/{issue_id}", self.base))
            .bearer_auth(&self.token)
            .json(&serde_json::json!({ "status": status }))
            .send()
            .await
            .expect("request")
    }

    /// Every issue of the project (all statuses), following cursors.
    pub async fn all_issues(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for status in ["unresolved", "resolved", "ignored"] {
            let mut cursor: Option<String> = None;
            loop {
                let mut path = format!(
                    "/api/v1/projects/{}/issues?status={status}&limit=100",
                    self.project.id
                );
                if let Some(c) = &cursor {
                    path.push_str(&format!("&cursor={}", urlencode(c)));
                }
                let page = self.api(&path).await;
                out.extend(page["issues"].as_array().cloned().unwrap_or_default());
                match page["next_cursor"].as_str() {
                    Some(c) => cursor = Some(c.to_owned()),
                    None => break,
                }
            }
        }
        out
    }

    /// The Prometheus exposition of `/metrics`.
    pub async fn metrics_text(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics body")
    }

    /// The value of one sample on `/metrics`, named with its labels exactly as exposed
    /// (`errata_events_rejected_total{reason="overloaded"}`); 0 when absent.
    pub async fn metric(&self, sample: &str) -> f64 {
        self.metrics_text()
            .await
            .lines()
            .find_map(|l| {
                l.strip_prefix(sample)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0.0)
    }

    /// The stored event, with `issue_id` and `grouping`.
    pub async fn event(&self, event_id: &str) -> Value {
        self.api(&format!(
            "/api/v1/projects/{}/events/{event_id}",
            self.project.id
        ))
        .await
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A minimal envelope with one event item (explicit length).
pub fn event_envelope(event: &Value) -> Vec<u8> {
    let payload = serde_json::to_vec(event).expect("serialize");
    let id = event["event_id"].as_str().unwrap_or_default();
    let mut out = Vec::new();
    if id.is_empty() {
        out.extend_from_slice(b"{}\n");
    } else {
        out.extend_from_slice(format!("{{\"event_id\":\"{id}\"}}\n").as_bytes());
    }
    out.extend_from_slice(
        format!("{{\"type\":\"event\",\"length\":{}}}\n", payload.len()).as_bytes(),
    );
    out.extend_from_slice(&payload);
    out.push(b'\n');
    out
}

/// A fresh random event id (32 hex).
pub fn new_event_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// An error event with one in-app frame in `function`, so distinct functions make distinct
/// issues.
pub fn error_event(event_id: &str, function: &str, value: &str) -> Value {
    serde_json::json!({
        "event_id": event_id,
        "platform": "python",
        "level": "error",
        "release": "app@1.0",
        "environment": "test",
        "user": {"id": "u1"},
        "exception": {"values": [{
            "type": "ValueError",
            "value": value,
            "stacktrace": {"frames": [{
                "module": "app.main", "function": function, "filename": "app/main.py",
                "lineno": 10, "in_app": true, "context_line": "raise ValueError(x)"
            }]}
        }]}
    })
}

/// Python interpreter that can import `module`: `ERRATA_TEST_PYTHON`, else `.venv/bin/python`
/// at the repo root. `None` (and a printed reason) when missing outside CI; a panic in CI,
/// where `scripts/test` installs it.
pub fn python_with(module: &str) -> Option<PathBuf> {
    let candidate = std::env::var_os("ERRATA_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    let ok = std::process::Command::new(&candidate)
        .args(["-c", &format!("import {module}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return Some(candidate);
    }
    let reason = format!(
        "no Python with {module} at {} (set ERRATA_TEST_PYTHON or run scripts/test)",
        candidate.display()
    );
    assert!(std::env::var_os("CI").is_none(), "{reason}");
    eprintln!("skipping: {reason}");
    None
}

/// The newest event of an issue (the normalized event JSON).
pub async fn latest_event(app: &TestApp, issue_id: i64) -> Value {
    let events = app
        .api(&format!("/api/v1/issues/{issue_id}/events?limit=1"))
        .await;
    let id = events["events"][0]["event_id"]
        .as_str()
        .expect("an event")
        .to_owned();
    app.event(&id).await["event"].clone()
}

/// Every frame of every exception of an event, in payload order.
pub fn frames(event: &Value) -> Vec<Value> {
    event["exception"]["values"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| {
            e["stacktrace"]["frames"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

/// Log output of the current thread. Under `#[tokio::test]` the test's runtime, and with it
/// the in-process server's request handlers, run on that one thread, so the lines are this
/// test's server's and no other test's.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

/// Keeps capturing until dropped.
pub struct Capture {
    _default: tracing::subscriber::DefaultGuard,
    _anchor: tracing::Dispatch,
}

impl CapturedLogs {
    /// Captures INFO and above on this thread until the guard is dropped.
    ///
    /// tracing caches whether a log statement is enabled once for the whole process, when it
    /// first runs. While at most one subscriber exists, that decision is taken against the
    /// subscriber of the thread that got there first: another test's thread, which has none,
    /// would switch the statement off for us too. A second, silent subscriber with the same
    /// level makes tracing ask every live subscriber instead, ours included.
    pub fn install(&self) -> Capture {
        let subscriber = || {
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::INFO)
                .with_ansi(false)
        };
        let anchor = tracing::Dispatch::new(subscriber().with_writer(std::io::sink).finish());
        Capture {
            _default: tracing::subscriber::set_default(
                subscriber().with_writer(self.clone()).finish(),
            ),
            _anchor: anchor,
        }
    }

    /// Everything captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
