//! Logs (tracing) and metrics (Prometheus) set-up.
//!
//! Log lines are text on a terminal and JSON lines otherwise (or as configured); the level
//! comes from `RUST_LOG` (default `info`). Request spans carry the request id, so every line
//! logged while serving a request names it.

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{fmt, prelude::*, EnvFilter};

use crate::config::LogFormat;

/// Installs the global tracing subscriber writing to stderr. Call once, from `main`.
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let registry = tracing_subscriber::registry().with(filter);
    let result = if json {
        registry
            .with(
                fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            )
            .try_init()
    } else {
        registry
            .with(fmt::layer().with_writer(std::io::stderr))
            .try_init()
    };
    // A second init (tests starting several servers) keeps the first subscriber.
    let _ = result;
}

/// The process-wide Prometheus recorder, installed on first use.
///
/// Metrics are process-global by design (the `metrics` facade); several servers in one test
/// process share them, so tests compare deltas, not absolute values.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                    ],
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("errata_batch_size".into()),
                        &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0],
                    )
                })
                // Maintenance passes (src/jobs) take from milliseconds to minutes; a full
                // name wins over the `_seconds` suffix.
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("errata_job_duration_seconds".into()),
                        &[0.001, 0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0],
                    )
                });
            let recorder = match builder {
                Ok(b) => b.build_recorder(),
                Err(_) => PrometheusBuilder::new().build_recorder(),
            };
            let handle = recorder.handle();
            // Fails only if another recorder is installed; metrics then go there instead.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            spawn_upkeep(handle.clone());
            handle
        })
        .clone()
}

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The recorder keeps every histogram sample in a queue until a scrape or an upkeep folds it
/// into the buckets, and `build_recorder` (unlike the exporter's own `install`) starts no
/// upkeep: a server nobody scraped grew by every sample it recorded, ~3.6 MB a minute at
/// 1,000 events/s (`bench/README.md`, "Memory over the steady run"). The recorder is
/// process-wide, so its upkeep is one thread for the process, not a task of a runtime.
fn spawn_upkeep(handle: PrometheusHandle) {
    let started = std::thread::Builder::new()
        .name("errata-metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_EVERY);
            handle.run_upkeep();
        });
    if let Err(e) = started {
        tracing::warn!(error = %e, "cannot start the metrics upkeep; histograms drain on scrape only");
    }
}

fn describe() {
    use metrics::{describe_counter, describe_histogram, Unit};
    describe_counter!(
        "errata_events_accepted_total",
        "events stored (new, not duplicates)"
    );
    describe_counter!(
        "errata_events_duplicate_total",
        "events whose event_id was already stored"
    );
    describe_counter!(
        "errata_events_rejected_total",
        "requests rejected, by reason"
    );
    describe_counter!(
        "errata_items_dropped_total",
        "envelope items accepted and dropped, by type"
    );
    describe_counter!("errata_issues_created_total", "issues created");
    describe_counter!(
        "errata_regressions_total",
        "resolved issues reopened by a new event"
    );
    describe_histogram!(
        "errata_ingest_duration_seconds",
        Unit::Seconds,
        "time from request to acknowledgement"
    );
    describe_histogram!("errata_batch_size", "events per group commit");
    describe_histogram!(
        "errata_commit_duration_seconds",
        Unit::Seconds,
        "time of one group commit"
    );
}
