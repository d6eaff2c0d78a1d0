//! The load loop: C workers, each with its own keep-alive connection ([`Conn`]), send one
//! envelope at a time and count an event as done only when the server answered 200 with its
//! id.
//!
//! Rejections are retried with the same event id (so a retry after an ambiguous failure can
//! only ever be stored once by a server that de-duplicates ids): 429 and 503 after the
//! server's `Retry-After` (1 s if absent), transport errors and other 5xx with a short
//! exponential backoff, until `give_up_after` has passed since the event's first attempt.
//! Other 4xx are final. With `--rate`, event `i` is not started before `start + i / rate`
//! (open-loop schedule with bounded concurrency: if the server falls behind, the lag shows
//! in `schedule_lag_ms`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::StatusCode;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Url;
use tokio::sync::mpsc;

use crate::conn::Conn;
use crate::payload::{new_event_id, Payloads};
use crate::zipf::Zipf;

/// What to send and how hard.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// `…/api/{project_id}/envelope/` of each server; worker `w` sends to `w % len`
    /// (several servers behind one database, without a load balancer).
    pub envelope_urls: Vec<Url>,
    /// Value of `X-Sentry-Auth`.
    pub auth_header: String,
    /// Stop after this many events have been started.
    pub events: u64,
    /// Stop starting new events after this long.
    pub duration: Option<Duration>,
    /// Workers (= connections).
    pub concurrency: usize,
    /// Events per second across all workers; 0 = as fast as possible.
    pub rate: f64,
    /// Gzip level, `None` = send uncompressed.
    pub gzip: Option<u32>,
    /// Retry 429/503/transport errors.
    pub retry: bool,
    /// Give up on an event this long after its first attempt.
    pub give_up_after: Duration,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Keep the ids of acknowledged events (for `--ids-out` and verification).
    pub collect_ids: bool,
    /// Zipf exponent of the issue mix.
    pub zipf_s: f64,
    /// Seed of the issue mix.
    pub seed: u64,
    /// Print progress to stderr this often.
    pub progress_every: Duration,
}

/// Everything one worker observed.
#[derive(Debug, Default)]
pub struct WorkerStats {
    /// Requests sent (every attempt).
    pub sent: u64,
    /// Events acknowledged with 200.
    pub accepted: u64,
    /// Rejected attempts by status code, `"transport"` for connection errors and timeouts.
    pub rejected: BTreeMap<String, u64>,
    /// Events given up on.
    pub failed: u64,
    /// Events given up on after at least one transport error or 5xx: the server may or may
    /// not have stored them.
    pub ambiguous: u64,
    /// 200 answers whose body did not name the event id we sent.
    pub wrong_ack_id: u64,
    /// 429 answers without a parsable `Retry-After` (the protocol requires one).
    pub missing_retry_after: u64,
    /// Latency of the acknowledged request, µs.
    pub latency_us: Vec<u32>,
    /// From the first attempt to the acknowledgement (includes retries and back-off), µs.
    pub end_to_end_us: Vec<u32>,
    /// How late the worker started events relative to the `--rate` schedule, µs (max).
    pub max_schedule_lag_us: u64,
    /// Bytes of request bodies sent.
    pub bytes_sent: u64,
    /// Ids of acknowledged events, with their issue index.
    pub acked: Vec<([u8; 32], u32)>,
    /// First few distinct error answers, for the report.
    pub error_samples: Vec<String>,
}

/// Result of a run.
#[derive(Debug, Default)]
pub struct RunResult {
    /// Merged worker stats.
    pub stats: WorkerStats,
    /// Wall time from the first request to the last answer.
    pub elapsed: Duration,
    /// Events started.
    pub started: u64,
}

/// A freshly acknowledged event offered to the visibility probe.
pub type Acked = (String, Instant);

struct Shared {
    cfg: RunConfig,
    payloads: Arc<Payloads>,
    zipf: Zipf,
    next: AtomicU64,
    started_total: AtomicU64,
    acked_total: AtomicU64,
    rejected_total: AtomicU64,
    start: Instant,
}

/// Runs the load. `probe`, if given, is offered acknowledged events (non-blocking).
pub async fn run(
    cfg: RunConfig,
    payloads: Arc<Payloads>,
    probe: Option<mpsc::Sender<Acked>>,
) -> anyhow::Result<RunResult> {
    let shared = Arc::new(Shared {
        zipf: Zipf::new(payloads.issues(), cfg.zipf_s),
        cfg: cfg.clone(),
        payloads,
        next: AtomicU64::new(0),
        started_total: AtomicU64::new(0),
        acked_total: AtomicU64::new(0),
        rejected_total: AtomicU64::new(0),
        start: Instant::now(),
    });

    let progress = tokio::spawn(progress_loop(shared.clone()));
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..cfg.concurrency.max(1) {
        let shared = shared.clone();
        // Only worker 0 feeds the probe: one sample stream is enough and keeps the other
        // workers free of the channel.
        let probe = if w == 0 { probe.clone() } else { None };
        tasks.spawn(worker(w as u64, shared, probe));
    }
    drop(probe);
    let mut total = WorkerStats::default();
    while let Some(res) = tasks.join_next().await {
        merge(&mut total, res??);
    }
    let elapsed = shared.start.elapsed();
    progress.abort();
    let started = shared.started_total.load(Ordering::Relaxed);
    Ok(RunResult {
        stats: total,
        elapsed,
        started,
    })
}

fn merge(total: &mut WorkerStats, w: WorkerStats) {
    total.sent += w.sent;
    total.accepted += w.accepted;
    for (k, v) in w.rejected {
        *total.rejected.entry(k).or_default() += v;
    }
    total.failed += w.failed;
    total.ambiguous += w.ambiguous;
    total.wrong_ack_id += w.wrong_ack_id;
    total.missing_retry_after += w.missing_retry_after;
    total.latency_us.extend(w.latency_us);
    total.end_to_end_us.extend(w.end_to_end_us);
    total.max_schedule_lag_us = total.max_schedule_lag_us.max(w.max_schedule_lag_us);
    total.bytes_sent += w.bytes_sent;
    total.acked.extend(w.acked);
    for s in w.error_samples {
        if total.error_samples.len() < 8 && !total.error_samples.contains(&s) {
            total.error_samples.push(s);
        }
    }
}

async fn progress_loop(shared: Arc<Shared>) {
    let every = shared.cfg.progress_every;
    if every.is_zero() {
        return;
    }
    let mut last = 0;
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        let acked = shared.acked_total.load(Ordering::Relaxed);
        let rejected = shared.rejected_total.load(Ordering::Relaxed);
        eprintln!(
            "[{:>6.1}s] acked {acked} (+{}/s) rejected attempts {rejected}",
            shared.start.elapsed().as_secs_f64(),
            ((acked - last) as f64 / every.as_secs_f64()).round()
        );
        last = acked;
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// How an attempt ended.
enum Outcome {
    Acked {
        wrong_id: bool,
    },
    /// Try again after this long.
    Retry(Duration),
    /// Final rejection.
    Final,
}

async fn worker(
    w: u64,
    shared: Arc<Shared>,
    probe: Option<mpsc::Sender<Acked>>,
) -> anyhow::Result<WorkerStats> {
    let cfg = &shared.cfg;
    let mut stats = WorkerStats::default();
    let url = &cfg.envelope_urls[(w as usize) % cfg.envelope_urls.len().max(1)];
    let mut conn = Conn::new(url, &cfg.auth_header, cfg.gzip.is_some())?;
    // The issue mix is reproducible per seed; event ids come from the OS so that two runs
    // with the same seed never collide in the server's (project, event id) key.
    let mut mix = StdRng::seed_from_u64(cfg.seed.wrapping_mul(0x9e37_79b9).wrapping_add(w));
    let mut ids = StdRng::from_os_rng();
    loop {
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        if i >= cfg.events {
            break;
        }
        if let Some(d) = cfg.duration {
            if shared.start.elapsed() >= d {
                break;
            }
        }
        if cfg.rate > 0.0 {
            let due = shared.start + Duration::from_secs_f64(i as f64 / cfg.rate);
            let now = Instant::now();
            if due > now {
                tokio::time::sleep_until(due.into()).await;
            } else {
                let lag = (now - due).as_micros() as u64;
                stats.max_schedule_lag_us = stats.max_schedule_lag_us.max(lag);
            }
        }
        shared.started_total.fetch_add(1, Ordering::Relaxed);
        let issue = shared.zipf.sample(&mut mix);
        let variant = mix.random_range(0..shared.payloads.variants());
        let id = new_event_id(&mut ids);
        let body: Bytes = shared.payloads.body(issue, variant, &id).into();
        let id_str = std::str::from_utf8(&id)?.to_owned();

        let first = Instant::now();
        let mut backoff = Duration::from_millis(50);
        let mut uncertain = false;
        loop {
            stats.sent += 1;
            stats.bytes_sent += body.len() as u64;
            let t0 = Instant::now();
            let outcome = attempt(
                &mut conn,
                cfg,
                body.clone(),
                &id_str,
                &mut stats,
                &mut backoff,
                &mut uncertain,
            )
            .await;
            match outcome {
                Outcome::Acked { wrong_id } => {
                    let now = Instant::now();
                    stats.accepted += 1;
                    stats.wrong_ack_id += u64::from(wrong_id);
                    stats.latency_us.push(micros(now - t0));
                    stats.end_to_end_us.push(micros(now - first));
                    if cfg.collect_ids {
                        stats.acked.push((id, issue as u32));
                    }
                    shared.acked_total.fetch_add(1, Ordering::Relaxed);
                    if let Some(p) = &probe {
                        // Full channel = the probe is busy; skipping keeps the worker honest.
                        let _ = p.try_send((id_str.clone(), now));
                    }
                    break;
                }
                Outcome::Retry(wait) if cfg.retry && first.elapsed() + wait < cfg.give_up_after => {
                    shared.rejected_total.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(wait).await;
                }
                Outcome::Retry(_) | Outcome::Final => {
                    shared.rejected_total.fetch_add(1, Ordering::Relaxed);
                    stats.failed += 1;
                    stats.ambiguous += u64::from(uncertain);
                    break;
                }
            }
        }
    }
    Ok(stats)
}

async fn attempt(
    conn: &mut Conn,
    cfg: &RunConfig,
    body: Bytes,
    id: &str,
    stats: &mut WorkerStats,
    backoff: &mut Duration,
    uncertain: &mut bool,
) -> Outcome {
    let mut next_backoff = || {
        let wait = *backoff;
        *backoff = (*backoff * 2).min(Duration::from_secs(1));
        wait
    };
    let answer = match conn.post(body, cfg.request_timeout).await {
        Ok(a) => a,
        Err(e) => {
            *uncertain = true;
            *stats.rejected.entry("transport".into()).or_default() += 1;
            sample_error(stats, format!("transport: {e:#}"));
            return Outcome::Retry(next_backoff());
        }
    };
    let status = answer.status;
    let retry_after = answer
        .retry_after
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(60.0)));
    let text = String::from_utf8_lossy(&answer.body);
    if status == StatusCode::OK {
        return Outcome::Acked {
            wrong_id: !text.contains(id),
        };
    }
    *stats
        .rejected
        .entry(status.as_u16().to_string())
        .or_default() += 1;
    sample_error(
        stats,
        format!(
            "{}: {}",
            status.as_u16(),
            text.chars().take(200).collect::<String>()
        ),
    );
    if status == StatusCode::TOO_MANY_REQUESTS {
        if retry_after.is_none() {
            stats.missing_retry_after += 1;
            sample_error(stats, "429 without a usable Retry-After".into());
        }
        Outcome::Retry(retry_after.unwrap_or(Duration::from_secs(1)))
    } else if status == StatusCode::SERVICE_UNAVAILABLE {
        *uncertain = true;
        Outcome::Retry(retry_after.unwrap_or_else(next_backoff))
    } else if status.is_server_error() {
        *uncertain = true;
        Outcome::Retry(next_backoff())
    } else {
        Outcome::Final
    }
}

fn sample_error(stats: &mut WorkerStats, msg: String) {
    if stats.error_samples.len() < 8 && !stats.error_samples.contains(&msg) {
        stats.error_samples.push(msg);
    }
}

/// Percentiles (ms) of a list of µs samples.
pub fn percentiles_ms(samples: &mut [u32]) -> serde_json::Value {
    if samples.is_empty() {
        return serde_json::Value::Null;
    }
    samples.sort_unstable();
    let at = |q: f64| {
        let idx = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        f64::from(samples[idx]) / 1000.0
    };
    let mean = samples.iter().map(|&v| f64::from(v)).sum::<f64>() / samples.len() as f64 / 1000.0;
    serde_json::json!({
        "p50": round3(at(0.50)),
        "p95": round3(at(0.95)),
        "p99": round3(at(0.99)),
        "max": round3(at(1.0)),
        "mean": round3(mean),
    })
}

/// Rounds to three decimals for readable JSON.
pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_nearest_rank() {
        let mut v: Vec<u32> = (1..=100).map(|x| x * 1000).collect();
        let p = percentiles_ms(&mut v);
        assert_eq!(p["p50"], 50.0);
        assert_eq!(p["p99"], 99.0);
        assert_eq!(p["max"], 100.0);
    }
}
