//! Uptime checks end to end, against real HTTP(S) servers on 127.0.0.1 started here, with a
//! manual clock that each step moves one interval on before running a pass of the
//! `uptime-checks` job: results and their classes (`checks`), incidents and messages
//! through the real SMTP sink and webhook listener (`notify`), the certificate warning of a
//! self-signed server (`tls`), the target rule with private targets refused (`ssrf`), the
//! API (`api`) and the claim that runs each check once on several servers (`store`).

mod api;
mod checks;
mod notify;
mod ssrf;
mod status;
mod store;
mod tls;
mod web;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use errata_server::jobs::RunOutcome;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::helpers::TestApp;

/// 2026-01-10T00:00:00Z.
pub const T0: i64 = 1_768_003_200_000;

/// What a [`Target`] answers.
#[derive(Debug, Clone)]
pub enum Reply {
    /// This status with this body.
    Status(u16, &'static str),
    /// Nothing, ever (the connection stays open).
    Hang,
    /// 302 to this location.
    Redirect(String),
}

/// A tiny HTTP/1.1 server (plain or TLS) whose answer the test sets; counts connections.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    scheme: &'static str,
    reply: Arc<Mutex<Reply>>,
    hits: Arc<AtomicUsize>,
}

impl Target {
    /// A plain HTTP server answering `reply`.
    pub async fn start(reply: Reply) -> Target {
        Self::start_with(reply, None).await
    }

    /// The server, over TLS when `tls` is given.
    pub async fn start_with(reply: Reply, tls: Option<tokio_rustls::TlsAcceptor>) -> Target {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let target = Target {
            addr: listener.local_addr().expect("addr"),
            scheme: if tls.is_some() { "https" } else { "http" },
            reply: Arc::new(Mutex::new(reply)),
            hits: Arc::default(),
        };
        let t = target.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                t.hits.fetch_add(1, Ordering::SeqCst);
                let reply = t.reply.lock().expect("lock").clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(s) = acceptor.accept(stream).await {
                                answer(s, reply).await;
                            }
                        }
                        None => answer(stream, reply).await,
                    }
                });
            }
        });
        target
    }

    /// Changes the answer.
    pub fn set(&self, reply: Reply) {
        *self.reply.lock().expect("lock") = reply;
    }

    /// Connections accepted so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// `http://127.0.0.1:port{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.addr)
    }
}

async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, reply: Reply) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65_536 {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = match reply {
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            return;
        }
        Reply::Status(code, body) => {
            let words = match code {
                200 => "OK",
                500 => "Internal Server Error",
                503 => "Service Unavailable",
                _ => "Status",
            };
            format!(
                "HTTP/1.1 {code} {words}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
        }
        Reply::Redirect(location) => format!(
            "HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        ),
    };
    let _ = s.write_all(text.as_bytes()).await;
    let _ = s.shutdown().await;
}

/// A server on a manual clock at [`T0`] whose checks may target loopback, with fast
/// notification retries; `tweak` adds the test's settings.
pub async fn app(tweak: impl FnOnce(&mut errata_server::config::Config)) -> TestApp {
    TestApp::spawn_with_clock(T0, |c| {
        crate::notify::fast(c);
        c.uptime.allow_private_targets = true;
        tweak(c);
    })
    .await
}

/// `POST /api/v1/projects/{id}/uptime-checks`: status and body.
pub async fn create(app: &TestApp, body: &Value) -> (u16, Value) {
    let res = app
        .http
        .post(format!(
            "{}/api/v1/projects/{}/uptime-checks",
            app.base, app.project.id
        ))
        .bearer_auth(&app.token)
        .json(body)
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Creates a check and returns its id; panics unless 201.
pub async fn create_ok(app: &TestApp, body: &Value) -> i64 {
    let (status, check) = create(app, body).await;
    assert_eq!(status, 201, "{check}");
    check["id"].as_i64().expect("id")
}

/// One pass of the uptime job, now.
pub async fn run(app: &TestApp) {
    let report = app.jobs.run_now("uptime-checks").await.expect("run now");
    assert_eq!(report.outcome, RunOutcome::Ok, "{report:?}");
}

/// Moves the clock on by `secs` and runs a pass.
pub async fn step(app: &TestApp, secs: u64) {
    app.clock.advance(Duration::from_secs(secs));
    run(app).await;
}

/// The check from the API.
pub async fn check(app: &TestApp, id: i64) -> Value {
    app.api(&format!("/api/v1/uptime-checks/{id}")).await
}

/// The check's results, newest first (one page of 100).
pub async fn results(app: &TestApp, id: i64) -> Vec<Value> {
    app.api(&format!("/api/v1/uptime-checks/{id}/results?limit=100"))
        .await["results"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The newest result.
pub async fn latest(app: &TestApp, id: i64) -> Value {
    results(app, id).await.into_iter().next().expect("a result")
}
