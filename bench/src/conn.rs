//! One worker's keep-alive HTTP/1.1 connection, on hyper's connection-level client.
//!
//! The generator shares the server's two cores, so every microsecond it spends per request is
//! taken from the server under test. reqwest's pool, per-request URL and header clones and
//! redirect machinery cost about 50 µs per event here (`client_cpu_s`); a connection owned
//! by its worker, with the request head built once, costs a fraction of that. A broken
//! connection (server restarted, `Connection: close`) is replaced on the next attempt.

use std::time::Duration;

use anyhow::{anyhow, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderMap, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use reqwest::Url;
use tokio::net::TcpStream;

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What a request came back with.
pub struct Answer {
    pub status: StatusCode,
    /// `Retry-After` in seconds, when present and a number.
    pub retry_after: Option<f64>,
    pub body: Bytes,
}

/// A worker's connection to one envelope URL, opened on first use.
pub struct Conn {
    addr: String,
    path: String,
    headers: HeaderMap,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    /// Prepares requests to `url` (plain `http` only: the bench talks to 127.0.0.1) with the
    /// given `X-Sentry-Auth`, gzip-encoded bodies when `gzip`. Errors: an `https` or
    /// host-less URL, or an auth value that is not a valid header.
    pub fn new(url: &Url, auth: &str, gzip: bool) -> anyhow::Result<Conn> {
        if url.scheme() != "http" {
            anyhow::bail!("the load generator speaks plain http only, not {url}");
        }
        let host = url.host_str().context("the envelope URL has no host")?;
        let port = url.port_or_known_default().unwrap_or(80);
        let addr = format!("{host}:{port}");
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_str(&addr)?);
        headers.insert("x-sentry-auth", HeaderValue::from_str(auth)?);
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-sentry-envelope"),
        );
        if gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        Ok(Conn {
            addr,
            path,
            headers,
            sender: None,
        })
    }

    /// POSTs `body` and reads the whole answer, within `timeout` (connecting included).
    /// Errors are transport failures (refused, reset, timed out); the connection is then
    /// dropped and the next call opens a new one.
    pub async fn post(&mut self, body: Bytes, timeout: Duration) -> anyhow::Result<Answer> {
        match tokio::time::timeout(timeout, self.exchange(body)).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => {
                self.sender = None;
                Err(e)
            }
            Err(_) => {
                self.sender = None;
                Err(anyhow!("timed out after {timeout:?}"))
            }
        }
    }

    async fn exchange(&mut self, body: Bytes) -> anyhow::Result<Answer> {
        let sender = match &mut self.sender {
            Some(s) if !s.is_closed() => s,
            _ => self.sender.insert(connect(&self.addr).await?),
        };
        sender.ready().await.context("connection closed")?;
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(self.path.as_str())
            .body(Full::new(body))?;
        *request.headers_mut() = self.headers.clone();
        let response = sender.send_request(request).await?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(hyper::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok());
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    }
}

async fn connect(addr: &str) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| anyhow!("connecting to {addr} timed out"))?
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    // The connection task ends when the server closes it or the sender is dropped.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}
