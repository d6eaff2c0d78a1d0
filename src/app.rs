//! Application assembly: shared state, the router, and serving with graceful shutdown.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::clock::Clock;
use crate::config::Config;
use crate::ingest::keys::KeyCache;
use crate::ingest::Writer;
use crate::jobs::{Jobs, Runner};
use crate::store::Store;
use crate::{api, http, ingest, telemetry};

/// Shared state of every handler: one reference-counted [`SharedState`], read through `Deref`
/// (`state.store`, `state.config`, …).
///
/// axum clones the state for every request and drops it after; a struct of a dozen `Arc`s
/// made that a dozen atomic increments and decrements on counters both cores touch, one
/// `Arc` makes it one (0.8 % of the samples in a burst's profile, but ~4 % less CPU per event
/// measured: contended cache lines cost more than their samples show; bench/README.md).
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct SharedState {
    /// The database.
    pub store: Store,
    /// The group-commit writer.
    pub writer: Writer,
    /// Configuration in force.
    pub config: Arc<Config>,
    /// Public-key lookups.
    pub keys: KeyCache,
    /// Prometheus exposition.
    pub metrics: PrometheusHandle,
    /// "Now" for everything driven by time (a manual clock in tests).
    pub clock: Clock,
    /// What the envelope item handlers keep between requests.
    pub items: Arc<ingest::ItemState>,
    /// The maintenance jobs (`run_now` for a pass asked for by a person or a test).
    pub jobs: Jobs,
    /// Data lifecycle: rate limits and discarded hashes in memory, the disk budget's state.
    pub retention: Arc<crate::retention::Retention>,
    /// Ingest places per client address and the bytes-in-flight budget.
    pub gate: Arc<ingest::Gate>,
    /// Storage outages as ingestion sees them (logs, `/readyz`).
    pub outage: Arc<ingest::Outage>,
}

/// A running application's state plus its background tasks and maintenance jobs, which
/// [`serve`] drains at shutdown.
pub struct App {
    /// The state handed to handlers.
    pub state: AppState,
    tasks: JoinSet<()>,
}

impl App {
    /// Starts the background writer over `store`, on the system clock.
    pub fn new(config: Config, store: Store) -> App {
        App::with_clock(config, store, Clock::system())
    }

    /// [`App::new`] with the clock that time-driven work reads (tests pass
    /// [`Clock::manual`]).
    pub fn with_clock(config: Config, store: Store, clock: Clock) -> App {
        let workers = config.ingest.writers.max(1);
        let (writer, tasks) = Writer::spawn(
            store.clone(),
            config.ingest.queue_capacity,
            config.ingest.batch_size,
            workers,
            config.ingest.defer_aggregates_at,
        );
        let mut jobs = Runner::new(store.clone(), clock.clone());
        let sourcemaps = crate::artifacts::SourceMaps::new(config.releases.cache_bytes);
        if let Some(notifier) = notifier(&config, &store) {
            jobs.add(notifier);
        }
        jobs.add(crate::triage::expiry::job(store.clone()));
        jobs.add(crate::feedback::FeedbackLinker::new(store.clone()));
        let retention = Arc::new(crate::retention::Retention::new(store.clone()));
        let pruning =
            crate::retention::job(store.clone(), config.retention.clone(), retention.clone());
        jobs.add(pruning);
        jobs.add(crate::retention::idle::job(
            store.clone(),
            config.retention.clone(),
        ));
        jobs.add(crate::payload_dictionaries::sync_job(store.clone()));
        jobs.add(crate::payload_dictionaries::train_job(
            store.clone(),
            &config.storage,
        ));
        jobs.add(crate::monitors::cron::MonitorClock::new(store.clone()));
        jobs.add(crate::monitors::uptime::UptimeRunner::new(
            store.clone(),
            &config.uptime,
        ));
        crate::monitors::describe_metrics();
        App {
            state: AppState(Arc::new(SharedState {
                store,
                writer,
                gate: Arc::new(ingest::Gate::new(
                    &config.ingest,
                    config.limits.max_event_bytes,
                )),
                outage: Arc::new(ingest::Outage::new(clock.clone())),
                config: Arc::new(config),
                keys: KeyCache::default(),
                metrics: telemetry::metrics_handle(),
                clock,
                items: Arc::new(ingest::ItemState {
                    sourcemaps,
                    ..Default::default()
                }),
                jobs: jobs.start(),
                retention,
            })),
            tasks,
        }
    }
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    // The ingest endpoints hold their bodies to the rate rule themselves.
    let guard = axum::middleware::from_fn_with_state(state.clone(), http::access::guard);
    let others = Router::new()
        .merge(api::router().route_layer(guard.clone()))
        .merge(crate::artifacts::api::router(&state.config).route_layer(guard))
        .merge(http::router())
        .merge(crate::web::router(state.clone()));
    let app = Router::new()
        .merge(ingest::router())
        .merge(http::server::min_rate_layer(others, &state.config.http))
        .fallback(crate::web::not_found)
        .with_state(state);
    http::layers(http::security::hsts(app, &config))
}

/// Serves on an already bound listener until `shutdown` resolves, then finishes in-flight
/// requests and commits pending batches before returning.
pub async fn serve(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let App { state, mut tasks } = app;
    let jobs = state.jobs.clone();
    let config = state.config.clone();
    http::server::serve(listener, router(state), &config.http, shutdown).await?;
    // The router, and with it every writer handle, is gone: the writers drain and stop.
    while tasks.join_next().await.is_some() {}
    // Everything committed now has its outbox rows; each job finishes its pass and stops.
    jobs.shutdown().await;
    Ok(())
}

/// The notification worker unless `[notify] enabled = false`. A configuration it cannot use
/// is logged and leaves notifications off (`errata serve` refuses it earlier).
fn notifier(config: &Config, store: &Store) -> Option<crate::notify::Notifier> {
    if !config.notify.enabled {
        return None;
    }
    match crate::notify::Notifier::new(store.clone(), config) {
        Ok(n) => Some(n),
        Err(e) => {
            tracing::error!(error = %e, "notifications disabled");
            None
        }
    }
}
