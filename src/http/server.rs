//! Serving HTTP: our own accept loop over hyper's HTTP/1 connection builder, so that no client
//! can hold a connection open for long without sending (issue #24, item 1).
//!
//! `axum::serve` sets no timer on hyper, so a connection that sends half a request head, or
//! nothing at all, or stays open after its last request, was kept for good. Here:
//! * **Header read** ([`HttpConfig::header_read_timeout_secs`]): hyper's own
//!   `header_read_timeout`. Its clock starts when the connection is ready for a request (just
//!   accepted, or done answering the previous one), so it also bounds a kept-alive
//!   connection's wait for its next request.
//! * **Idle** ([`HttpConfig::idle_timeout_secs`]): a connection with no request in progress
//!   for that long is shut down gracefully (hyper closes it at once when it is between
//!   requests). Measured from the end of its last request, or from its acceptance.
//! * **Body rate** ([`HttpConfig::min_body_rate`], [`HttpConfig::body_timeout_secs`]): see
//!   [`super::min_rate`]; the ingest endpoints apply it while reading, the other routes through
//!   [`min_rate_layer`].
//!
//! Each request carries `ConnectInfo<SocketAddr>` as under `into_make_service_with_connect_info`,
//! and shutdown is graceful: the listener closes, every connection finishes its request in
//! progress (idle ones close at once), and [`serve`] returns once all are gone, or after
//! 30 s at most.
//!
//! These are network timings on tokio's timer, which hyper's timeouts run on too; they are
//! not the application clock (`crate::clock`), which tests move by minutes.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::ServiceExt;

use super::min_rate::{MinRate, Rule};

/// Connection and request-body timeouts (`[http]`). Every timeout is configurable and has a
/// default meant for SDKs on slow mobile links as much as for servers next door.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Seconds from when a connection is ready for a request until that request's head (request
    /// line and headers) has arrived; the connection is closed otherwise. Default 10.
    pub header_read_timeout_secs: u64,
    /// Seconds a connection may stay without a request in progress before it is closed (at
    /// most `header_read_timeout_secs` in effect, which also runs while waiting). Default 5, as
    /// Relay's and Node's keep-alive timeouts.
    pub idle_timeout_secs: u64,
    /// Seconds a request body may lag behind `min_body_rate`: a body of N bytes must be
    /// complete within `body_timeout_secs + N / min_body_rate` seconds of its first read, else
    /// the request is answered 408 and the connection closed. Default 20.
    pub body_timeout_secs: u64,
    /// Least average rate of a request body beyond the first `body_timeout_secs`, in bytes per
    /// second. Default 512 (as Apache's `mod_reqtimeout`); 0 leaves only `body_timeout_secs`
    /// per body.
    pub min_body_rate: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            header_read_timeout_secs: 10,
            idle_timeout_secs: 5,
            body_timeout_secs: 20,
            min_body_rate: 512,
        }
    }
}

impl HttpConfig {
    /// The body-rate rule these settings describe.
    pub fn body_rule(&self) -> Rule {
        Rule {
            grace: Duration::from_secs(self.body_timeout_secs.max(1)),
            min_rate: self.min_body_rate,
        }
    }

    fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs.max(1))
    }

    fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs.max(1))
    }
}

/// Wraps the request bodies of `router`'s routes in the body-rate rule of `config`. For routes
/// whose handlers read the body through axum's extractors (pages, the API); the ingest
/// endpoints apply the rule themselves, without boxing the body again.
pub fn min_rate_layer<S>(router: Router<S>, config: &HttpConfig) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let rule = config.body_rule();
    router.layer(tower_http::map_request_body::MapRequestBodyLayer::new(
        move |body: Body| Body::new(MinRate::new(body, rule)),
    ))
}

/// The most a connection's read buffer holds before its bytes are handed on, bytes.
const MAX_READ_BUFFER: usize = 64 * 1024;

/// Accepts connections on `listener` and serves `router` on each until `shutdown` resolves,
/// then lets every connection finish its request in progress and returns once all are closed.
/// Errors: none after start; accept errors are logged and retried.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: &HttpConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // HTTP/1.1 only, as `axum::serve` without its `http2` feature served before.
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout())
        // hyper's read buffer grows towards ~400 KB on a connection that sends fast, before
        // the handler has charged the body to the ingest budget: 2,000 senders of large
        // events held ~1.2 GB that way (bench/README.md). 64 KiB keeps reads large enough.
        .max_buf_size(MAX_READ_BUFFER);
    let builder = Arc::new(builder);
    let idle = config.idle_timeout();
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Reap finished connections so the set stays the size of the open ones.
        while connections.try_join_next().is_some() {}
        connections.spawn(connection(
            stream,
            peer,
            router.clone(),
            builder.clone(),
            idle,
            stopping.clone(),
        ));
    }
    drop(listener);
    let _ = stop.send(true);
    // Every request is bounded by the timeouts, but a body at the minimum rate may take hours:
    // shutdown waits for none of them longer than this.
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            "connections still busy after the shutdown grace period; closing them"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// How long shutdown waits for requests in progress.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// A failed `accept`: per-connection errors (the peer gave up) are skipped; running out of
/// descriptors or memory is logged and waited out, so the loop does not spin on it.
async fn accept_failed(e: &std::io::Error) {
    use std::io::ErrorKind as K;
    if matches!(
        e.kind(),
        K::ConnectionAborted | K::ConnectionReset | K::ConnectionRefused | K::Interrupted
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// What the idle watchdog knows of a connection: requests in progress and when the last one
/// ended (milliseconds since the connection was accepted).
struct Activity {
    accepted: Instant,
    in_progress: AtomicUsize,
    last_end_ms: AtomicU64,
}

impl Activity {
    /// When the connection becomes idle for too long, `None` while a request is in progress.
    fn idle_deadline(&self, idle: Duration) -> Option<Instant> {
        if self.in_progress.load(Ordering::Acquire) > 0 {
            return None;
        }
        let last_end = Duration::from_millis(self.last_end_ms.load(Ordering::Acquire));
        Some(self.accepted + last_end + idle)
    }
}

/// Counts a request as in progress until dropped (its response head is ready).
struct InProgress(Arc<Activity>);

impl InProgress {
    fn start(activity: &Arc<Activity>) -> InProgress {
        activity.in_progress.fetch_add(1, Ordering::AcqRel);
        InProgress(activity.clone())
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        let now = self.0.accepted.elapsed().as_millis() as u64;
        self.0.last_end_ms.store(now, Ordering::Release);
        self.0.in_progress.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves one connection: hyper's connection future, shut down gracefully when it has been
/// idle too long or the server stops.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    builder: Arc<http1::Builder>,
    idle: Duration,
    mut stopping: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity {
        accepted: Instant::now(),
        in_progress: AtomicUsize::new(0),
        last_end_ms: AtomicU64::new(0),
    });
    let tracked = activity.clone();
    let service = tower::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let in_progress = InProgress::start(&tracked);
        let call = router.clone().oneshot(req);
        async move {
            let response = call.await;
            drop(in_progress);
            response
        }
    });
    let mut conn =
        pin!(builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)));
    let mut watchdog = pin!(tokio::time::sleep(idle));
    let mut closing = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                return;
            }
            () = &mut watchdog, if !closing => {
                let now = Instant::now();
                match activity.idle_deadline(idle) {
                    Some(deadline) if deadline <= now => {
                        tracing::debug!(%peer, "closing an idle connection");
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                    }
                    Some(deadline) => watchdog.as_mut().reset(deadline),
                    None => watchdog.as_mut().reset(now + idle),
                }
            }
            changed = stopping.changed(), if !closing => {
                if changed.is_err() || *stopping.borrow() {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
}
