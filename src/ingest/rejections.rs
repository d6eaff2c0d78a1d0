//! Refused ingest requests in the log (issue #20, item 5): one WARN line per refusal with
//! its reason, project, key prefix and client address, so that an SDK whose events never
//! arrive can be told why from the server's side.
//!
//! Lines are limited per reason (a misconfigured SDK sending thousands of events a minute
//! with a wrong key must not fill the disk): at most [`BURST`] lines per reason per
//! [`WINDOW_MS`] of the server's clock; the first line of the next window says how many
//! were left out. Storage outages (503) are logged by `outage.rs` and bugs (500) where they
//! happen, so neither is logged here.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use super::error::IngestError;

/// Lines per reason per window.
pub const BURST: u32 = 5;
/// The window of [`BURST`], in ms.
pub const WINDOW_MS: i64 = 60_000;
/// Characters of the public key logged: enough to tell keys apart, too few to use one.
const KEY_PREFIX: usize = 8;

/// What is known about a request when it is refused; filled in as the request is read.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// The project id of the URL, as sent.
    pub project: String,
    /// The public key of the credentials, when they parsed.
    pub public_key: Option<String>,
    /// The client's address (`X-Forwarded-For` when trusted).
    pub client: Option<IpAddr>,
}

/// Per reason: the window's start, lines written in it, lines left out.
#[derive(Debug, Default)]
struct Window {
    start_ms: i64,
    written: u32,
    left_out: u64,
}

/// The per-reason line budget of one server.
#[derive(Debug, Default)]
pub struct RejectionLog {
    windows: Mutex<HashMap<&'static str, Window>>,
}

impl RejectionLog {
    /// Logs the refusal `e` of a request at `now_ms` unless its reason's budget is spent.
    /// Returns whether a line was written.
    pub fn record(&self, now_ms: i64, e: &IngestError, seen: &Seen) -> bool {
        if e.is_unavailable() || e.reason() == "internal" {
            return false;
        }
        let reason = e.reason();
        let left_out = {
            let Ok(mut windows) = self.windows.lock() else {
                return false;
            };
            let w = windows.entry(reason).or_default();
            if now_ms.saturating_sub(w.start_ms) >= WINDOW_MS || now_ms < w.start_ms {
                let left_out = w.left_out;
                *w = Window {
                    start_ms: now_ms,
                    written: 1,
                    left_out: 0,
                };
                left_out
            } else if w.written >= BURST {
                w.left_out += 1;
                return false;
            } else {
                w.written += 1;
                0
            }
        };
        let key = seen
            .public_key
            .as_deref()
            .map(|k| k.chars().take(KEY_PREFIX).collect::<String>());
        let client = crate::http::show_ip(seen.client);
        tracing::warn!(
            reason,
            project = %seen.project,
            key = key.as_deref().unwrap_or("none"),
            client = %client,
            left_out_before = left_out,
            "ingest request refused: {e}"
        );
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_has_its_own_budget_per_window() {
        let log = RejectionLog::default();
        let seen = Seen::default();
        let t0 = 1_800_000_000_000;
        let written = (0..20)
            .filter(|i| log.record(t0 + i, &IngestError::UnknownKey, &seen))
            .count();
        assert_eq!(written, BURST as usize);
        assert!(log.record(t0 + 20, &IngestError::EventNotObject, &seen));
        assert!(!log.record(t0 + WINDOW_MS - 1, &IngestError::UnknownKey, &seen));
        assert!(log.record(t0 + WINDOW_MS, &IngestError::UnknownKey, &seen));
        assert!(
            !log.record(t0, &IngestError::WriterClosed, &seen),
            "outage.rs logs 503s"
        );
    }
}
