//! Cost on the calling thread of errata's operations beside the same operations of the
//! `sentry` crate, both with a transport that discards envelopes.
//!
//! `cargo bench -p errata --bench capture` (add `--features auto-locals` for the
//! `errata+auto-locals` rows: the same captures with the stack copy of auto-locals).
//!
//! Errata benches run first; its guard is dropped before sentry is initialised, so sentry's
//! panic hook (chained after errata's) only pays errata's one atomic load for a disabled SDK.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;

#[derive(Debug)]
struct AppError {
    source: std::num::ParseIntError,
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("could not parse the quantity")
    }
}

impl std::error::Error for AppError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn app_error() -> AppError {
    AppError {
        source: "x".parse::<u32>().unwrap_err(),
    }
}

struct NoopErrata;
impl errata::transport::Transport for NoopErrata {
    fn send(
        &self,
        _: &[u8],
    ) -> Result<errata::transport::Response, errata::transport::TransportError> {
        Ok(errata::transport::Response {
            status: 200,
            ..Default::default()
        })
    }
}

struct NoopSentry;
impl sentry::Transport for NoopSentry {
    fn send_envelope(&self, envelope: sentry::Envelope) {
        black_box(envelope);
    }
}

fn errata_options() -> errata::ClientOptions {
    let o = errata::ClientOptions::new()
        .transport(|_| Arc::new(NoopErrata))
        .shutdown_timeout(Duration::from_secs(5));
    #[cfg(feature = "auto-locals")]
    let o = o.auto_locals(false);
    o
}

fn sentry_options() -> sentry::ClientOptions {
    let mut o = sentry::ClientOptions::default();
    o.dsn = "http://public@127.0.0.1:1/1".parse().ok();
    o.transport = Some(Arc::new(|_: &sentry::ClientOptions| {
        Arc::new(NoopSentry) as Arc<dyn sentry::Transport>
    }));
    o.attach_stacktrace = true;
    o
}

/// Runs `iters` panics on a long-lived non-main thread (which survives each one).
fn panics_on_worker_thread(iters: u64, panic_fn: fn()) -> Duration {
    std::thread::Builder::new()
        .name("bench-panicker".into())
        .spawn(move || {
            let start = Instant::now();
            for _ in 0..iters {
                let _ = black_box(std::panic::catch_unwind(panic_fn));
            }
            start.elapsed()
        })
        .expect("spawn")
        .join()
        .expect("join")
}

#[inline(never)]
fn errata_panicking() {
    let order_id = black_box(7u64);
    errata::locals!(order_id);
    panic!("order {order_id} failed");
}

#[inline(never)]
fn sentry_panicking() {
    let order_id = black_box(7u64);
    panic!("order {order_id} failed");
}

fn errata_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("init");
    g.bench_function("errata", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let guard = errata::init(errata_options());
                total += t.elapsed();
                drop(guard);
            }
            total
        })
    });
    g.finish();

    let guard = errata::init(errata_options());
    let err = app_error();
    let mut g = c.benchmark_group("capture_error");
    g.bench_function("errata", |b| {
        b.iter(|| errata::capture_error(black_box(&err)))
    });
    g.finish();
    guard.flush(Duration::from_secs(10));

    let mut g = c.benchmark_group("capture_message");
    g.bench_function("errata", |b| {
        b.iter(|| errata::capture_message(black_box("cache miss"), errata::Level::Warning))
    });
    g.finish();
    guard.flush(Duration::from_secs(10));

    let mut g = c.benchmark_group("panic_caught");
    g.bench_function("errata", |b| {
        b.iter_custom(|iters| panics_on_worker_thread(iters, errata_panicking))
    });
    g.finish();
    guard.flush(Duration::from_secs(10));

    let mut g = c.benchmark_group("breadcrumb");
    g.bench_function("errata", |b| {
        b.iter(|| {
            errata::add_breadcrumb(errata::Breadcrumb {
                category: Some("db".into()),
                message: Some(black_box("select 1").into()),
                ..Default::default()
            })
        })
    });
    g.finish();

    let mut g = c.benchmark_group("locals_registration");
    g.bench_function("errata", |b| {
        b.iter(|| {
            let user_id = black_box(42u64);
            errata::locals!(user_id);
            black_box(&user_id);
        })
    });
    g.finish();
    drop(guard);
}

/// The captures again with auto-locals on: the calling thread's extra cost is the stack copy.
#[cfg(feature = "auto-locals")]
fn errata_auto_locals_benches(c: &mut Criterion) {
    const ID: &str = "errata+auto-locals";
    let guard = errata::init(errata_options().auto_locals(true));
    let err = app_error();
    let mut g = c.benchmark_group("capture_error");
    g.bench_function(ID, |b| b.iter(|| errata::capture_error(black_box(&err))));
    g.finish();
    guard.flush(Duration::from_secs(10));

    let mut g = c.benchmark_group("capture_message");
    g.bench_function(ID, |b| {
        b.iter(|| errata::capture_message(black_box("cache miss"), errata::Level::Warning))
    });
    g.finish();
    guard.flush(Duration::from_secs(10));

    let mut g = c.benchmark_group("panic_caught");
    g.bench_function(ID, |b| {
        b.iter_custom(|iters| panics_on_worker_thread(iters, errata_panicking))
    });
    g.finish();
    guard.flush(Duration::from_secs(10));
    drop(guard);
}

fn sentry_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("init");
    g.bench_function("sentry", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let guard = sentry::init(sentry_options());
                total += t.elapsed();
                drop(guard);
            }
            total
        })
    });
    g.finish();

    let _guard = sentry::init(sentry_options());
    let err = app_error();
    let mut g = c.benchmark_group("capture_error");
    g.bench_function("sentry", |b| {
        b.iter(|| sentry::capture_error(black_box(&err)))
    });
    g.finish();

    let mut g = c.benchmark_group("capture_message");
    g.bench_function("sentry", |b| {
        b.iter(|| sentry::capture_message(black_box("cache miss"), sentry::Level::Warning))
    });
    g.finish();

    let mut g = c.benchmark_group("panic_caught");
    g.bench_function("sentry", |b| {
        b.iter_custom(|iters| panics_on_worker_thread(iters, sentry_panicking))
    });
    g.finish();

    let mut g = c.benchmark_group("breadcrumb");
    g.bench_function("sentry", |b| {
        b.iter(|| {
            sentry::add_breadcrumb(sentry::Breadcrumb {
                category: Some("db".into()),
                message: Some(black_box("select 1").into()),
                ..Default::default()
            })
        })
    });
    g.finish();
}

fn main() {
    // The default hook would print every benchmarked panic; both SDKs chain to this one.
    std::panic::set_hook(Box::new(|_| {}));
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .configure_from_args();
    errata_benches(&mut c);
    #[cfg(feature = "auto-locals")]
    errata_auto_locals_benches(&mut c);
    sentry_benches(&mut c);
    c.final_summary();
}
