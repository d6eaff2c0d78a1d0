//! Application assembly: shared state, the router, and serving with graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::config::Config;
use crate::ingest::keys::KeyCache;
use crate::ingest::Writer;
use crate::store::Store;
use crate::{api, http, ingest, telemetry};

/// Shared state of every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
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
}

/// A running application's state plus its background tasks, which [`serve`] drains at
/// shutdown.
pub struct App {
    /// The state handed to handlers.
    pub state: AppState,
    tasks: JoinSet<()>,
    notifier: Option<crate::notify::NotifierHandle>,
}

impl App {
    /// Starts the background writer over `store`.
    pub fn new(config: Config, store: Store) -> App {
        let workers = config.ingest.writers.max(1);
        let (writer, tasks) = Writer::spawn(
            store.clone(),
            config.ingest.queue_capacity,
            config.ingest.batch_size,
            workers,
            config.ingest.defer_aggregates_at,
        );
        let notifier = spawn_notifier(&config, &store);
        App {
            notifier,
            state: AppState {
                store,
                writer,
                config: Arc::new(config),
                keys: KeyCache::default(),
                metrics: telemetry::metrics_handle(),
            },
            tasks,
        }
    }
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let app = Router::new()
        .merge(ingest::router())
        .merge(api::router())
        .merge(http::router())
        .merge(crate::web::router(state.clone()))
        .with_state(state);
    http::layers(app)
}

/// Serves on an already bound listener until `shutdown` resolves, then finishes in-flight
/// requests and commits pending batches before returning.
pub async fn serve(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let App {
        state,
        mut tasks,
        notifier,
    } = app;
    let service = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await?;
    // The router, and with it every writer handle, is gone: the writers drain and stop.
    while tasks.join_next().await.is_some() {}
    // Everything committed now has its outbox rows; the worker finishes its round and stops.
    if let Some(notifier) = notifier {
        notifier.shutdown().await;
    }
    Ok(())
}

/// Starts the notification worker unless `[notify] enabled = false`. A configuration it
/// cannot use is logged and leaves notifications off (`errata serve` refuses it earlier).
fn spawn_notifier(config: &Config, store: &Store) -> Option<crate::notify::NotifierHandle> {
    if !config.notify.enabled {
        return None;
    }
    match crate::notify::Notifier::new(store.clone(), config) {
        Ok(n) => Some(n.spawn()),
        Err(e) => {
            tracing::error!(error = %e, "notifications disabled");
            None
        }
    }
}
