//! Blocking HTTP transport (ureq), used only from the worker thread.
//!
//! Bodies are gzip-compressed here (ureq's own compression is off) and posted to the DSN's
//! envelope endpoint with the `X-Sentry-Auth` header. Every answer's status, `Retry-After` and
//! `X-Sentry-Rate-Limits` go back to the worker, which decides about retries and limits.

use std::io::Write as _;
use std::time::Duration;

use flate2::write::GzEncoder;
use flate2::Compression;

use super::{Response, Transport, TransportError};
use crate::dsn::Dsn;

/// Sends envelopes to a DSN over HTTP(S).
pub struct HttpTransport {
    agent: ureq::Agent,
    url: String,
    auth: String,
}

impl HttpTransport {
    /// A transport for `dsn`.
    pub fn new(dsn: &Dsn) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .user_agent(concat!("errata.rust/", env!("CARGO_PKG_VERSION")))
            .build();
        HttpTransport {
            agent,
            url: dsn.envelope_url(),
            auth: dsn.auth_header(),
        }
    }
}

fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = GzEncoder::new(Vec::with_capacity(body.len() / 3 + 64), Compression::fast());
    enc.write_all(body)?;
    enc.finish()
}

impl Transport for HttpTransport {
    fn send(&self, envelope: &[u8]) -> Result<Response, TransportError> {
        let body = gzip(envelope).map_err(|e| TransportError::Encode(e.to_string()))?;
        let result = self
            .agent
            .post(&self.url)
            .set("X-Sentry-Auth", &self.auth)
            .set("Content-Type", "application/x-sentry-envelope")
            .set("Content-Encoding", "gzip")
            .send_bytes(&body);
        let resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(ureq::Error::Transport(t)) => {
                return Err(TransportError::Connection(t.to_string()))
            }
        };
        let out = Response {
            status: resp.status(),
            retry_after: resp.header("retry-after").map(str::to_owned),
            rate_limits: resp.header("x-sentry-rate-limits").map(str::to_owned),
        };
        // Reading the body lets ureq reuse the connection.
        let _ = resp.into_string();
        Ok(out)
    }
}
