//! A tokio service using `tracing`: `#[instrument]` arguments become locals of their frames,
//! tracing events become breadcrumbs, and each task keeps its own scope across `.await`.
//!
//! `ERRATA_DSN=http://<key>@127.0.0.1:8000/<project> cargo run -p errata --features tracing --example tokio_tracing`

use errata::HubFutureExt;
use tracing_subscriber::prelude::*;

#[tracing::instrument]
async fn handle_order(order_id: u64, customer: &'static str) -> Result<(), std::io::Error> {
    tracing::info!("looking up order");
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    errata::configure_scope(|s| s.set_tag("customer", customer));
    if order_id % 2 == 1 {
        return Err(std::io::Error::other(format!("order {order_id} not found")));
    }
    Ok(())
}

#[tracing::instrument]
fn parse_amount(raw: &str) -> u64 {
    raw.parse()
        .unwrap_or_else(|e| panic!("bad amount {raw:?}: {e}"))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    tracing_subscriber::registry()
        .with(errata::integrations::tracing::ErrataLayer::new())
        .init();
    let guard = errata::init!(errata::ClientOptions::new().environment("example"));

    let mut tasks = Vec::new();
    for (order_id, customer) in [(1, "acme"), (2, "globex"), (3, "initech")] {
        tasks.push(tokio::spawn(
            async move {
                if let Err(e) = handle_order(order_id, customer).await {
                    errata::capture_error(&e);
                }
            }
            .with_new_hub(),
        ));
    }
    for t in tasks {
        let _ = t.await;
    }
    // A panic inside a task: captured by the hook with the span's fields as locals.
    let _ = tokio::spawn(async { parse_amount("12x") }.with_new_hub()).await;

    // flush returns as soon as the queue is sent; the bound only matters when the server is
    // slow, as a debug server beside the rest of the test suite can be.
    if !guard.flush(std::time::Duration::from_secs(30)) {
        eprintln!("events not delivered within 30 s");
        std::process::exit(1);
    }
}
