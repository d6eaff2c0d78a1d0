//! The JSON printed at the end of a run (stdout; progress and errors go to stderr).

use serde_json::{json, Value};

use crate::run::{percentiles_ms, round3, RunResult};
use crate::verify::Verification;

/// Facts about the run that are not measurements.
#[derive(Debug)]
pub struct RunInfo {
    /// Envelope URL the load went to.
    pub target: String,
    /// Events requested (`u64::MAX` when bounded by `--duration` only).
    pub events_planned: u64,
    /// Distinct issues (K).
    pub issues: usize,
    /// Workers / connections (C).
    pub concurrency: usize,
    /// Target rate, events/s (0 = unbounded).
    pub rate: f64,
    /// Gzip level if compressing.
    pub gzip: Option<u32>,
    /// Average and min/max uncompressed envelope size, bytes.
    pub payload_bytes: (usize, usize, usize),
    /// Seed of the issue mix.
    pub seed: u64,
    /// Tag in this run's module names.
    pub run_tag: String,
}

/// Builds the report.
pub fn render(
    info: &RunInfo,
    result: &mut RunResult,
    visibility_us: &mut [Option<u32>],
    verification: Option<&Verification>,
    verify_skipped: Option<&str>,
) -> Value {
    let s = &mut result.stats;
    let secs = result.elapsed.as_secs_f64();
    let mut visible: Vec<u32> = visibility_us.iter().filter_map(|v| *v).collect();
    let invisible = visibility_us.iter().filter(|v| v.is_none()).count();
    json!({
        "target": info.target,
        "run_tag": info.run_tag,
        "seed": info.seed,
        "events_planned": if info.events_planned == u64::MAX { Value::Null } else { json!(info.events_planned) },
        "issues": info.issues,
        "concurrency": info.concurrency,
        "rate_target": info.rate,
        "gzip": info.gzip,
        "payload_bytes": {"avg": info.payload_bytes.0, "min": info.payload_bytes.1, "max": info.payload_bytes.2},
        "started": result.started,
        "sent": s.sent,
        "accepted": s.accepted,
        "rejected": s.rejected,
        "failed": s.failed,
        "ambiguous": s.ambiguous,
        "wrong_ack_id": s.wrong_ack_id,
        "missing_retry_after": s.missing_retry_after,
        "client_cpu_s": client_cpu_seconds(),
        "elapsed_s": round3(secs),
        "events_per_s": if secs > 0.0 { round3(s.accepted as f64 / secs) } else { 0.0 },
        "mb_per_s": if secs > 0.0 { round3(s.bytes_sent as f64 / secs / 1e6) } else { 0.0 },
        "latency_ms": percentiles_ms(&mut s.latency_us),
        "end_to_end_ms": percentiles_ms(&mut s.end_to_end_us),
        "max_schedule_lag_ms": round3(s.max_schedule_lag_us as f64 / 1000.0),
        "visibility_ms": {
            "samples": visibility_us.len(),
            "not_visible_after_5s": invisible,
            "latency": percentiles_ms(&mut visible),
        },
        "error_samples": s.error_samples,
        "verify": match (verification, verify_skipped) {
            (Some(v), _) => serde_json::to_value(v).unwrap_or(Value::Null),
            (None, Some(why)) => json!({"skipped": why}),
            (None, None) => Value::Null,
        },
    })
}

/// CPU seconds (user + system) this process used so far, from `/proc/self/stat` (Linux; `None`
/// elsewhere). On a 2-core machine the generator competes with the server, so the report says
/// how much it took.
fn client_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesized command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux architecture we run on.
    Some(round3((utime + stime) / 100.0))
}
