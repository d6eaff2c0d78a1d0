//! `errata-floor`: the cost floor of ingestion on this machine. A bare axum server that does
//! only the first steps every Sentry-compatible server must do for an envelope, then answers
//! 200 `{"id": …}` as Errata does, so `errata-bench --no-verify` can drive it like the real
//! server and report what rate the machine allows before grouping and storage even start.
//!
//! Stages (`--stage`), every one of which first reads the body and takes the `event_id` from
//! the envelope header:
//! - `http`: nothing more;
//! - `compress`: compress the event item's bytes as they came with zstd level 1 (what a
//!   server that stores payloads compressed, but never looks inside them, must do);
//! - `parse`: parse the event item into a `serde_json::Value` tree (as Errata, Relay and every
//!   Python server do) and drop it;
//! - `encode`: parse, then serialize that tree again and compress it with zstd level 1, as
//!   Errata stores a normalized event.
//!
//! `bench/floor.sh` runs the three stages and prints one JSON report (bench/README.md,
//! "The floor").

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use clap::{Parser, ValueEnum};

// The server's allocator, so the floor's JSON trees cost what the server's do.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Stage {
    Http,
    Compress,
    Parse,
    Encode,
}

#[derive(Parser, Debug)]
#[command(about = "Bare envelope endpoint: the machine's ingestion cost floor")]
struct Args {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:9100")]
    listen: SocketAddr,
    /// How much of the ingestion work to do per envelope
    #[arg(long, value_enum, default_value = "http")]
    stage: Stage,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The same runtime shape as the server: one multi-threaded runtime, a worker per core.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let app = Router::new()
            .route("/api/{project_id}/envelope/", post(envelope))
            .route("/healthz", get(|| async { "ok" }))
            .with_state(Arc::new(args.stage));
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        eprintln!("errata-floor: stage {:?} on {}", args.stage, args.listen);
        axum::serve(listener, app).await?;
        Ok(())
    })
}

async fn envelope(State(stage): State<Arc<Stage>>, body: Bytes) -> Response {
    match handle(*stage, &body) {
        Ok(id) => (
            StatusCode::OK,
            [("content-type", "application/json")],
            format!("{{\"id\":\"{id}\"}}"),
        )
            .into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

/// Returns the envelope's event id after doing `stage`'s work.
fn handle(stage: Stage, body: &[u8]) -> Result<String, String> {
    let mut lines = body.splitn(3, |&b| b == b'\n');
    let header = lines.next().unwrap_or_default();
    let header: serde_json::Value = serde_json::from_slice(header).map_err(|e| e.to_string())?;
    let id = header
        .get("event_id")
        .and_then(|v| v.as_str())
        .ok_or("no event_id in the envelope header")?
        .replace('-', "");
    let _item_header = lines.next().ok_or("no item header")?;
    let payload = lines.next().ok_or("no item payload")?;
    match stage {
        Stage::Http => {}
        Stage::Compress => {
            std::hint::black_box(compress(payload)?);
        }
        Stage::Parse | Stage::Encode => {
            // As the server does (`protocol::json`): one UTF-8 check, then the `str` reader.
            let payload = std::str::from_utf8(payload).map_err(|e| e.to_string())?;
            let event: serde_json::Value =
                serde_json::from_str(payload).map_err(|e| e.to_string())?;
            if matches!(stage, Stage::Encode) {
                let json = serde_json::to_vec(&event).map_err(|e| e.to_string())?;
                std::hint::black_box(compress(&json)?);
            }
        }
    }
    Ok(id)
}

/// zstd level 1, with one context per thread as in the server: setting one up costs more than
/// compressing a 12 KB event.
fn compress(bytes: &[u8]) -> Result<Vec<u8>, String> {
    thread_local! {
        static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
            std::cell::RefCell::new(zstd::bulk::Compressor::new(1).ok());
    }
    COMPRESSOR.with(|c| match c.borrow_mut().as_mut() {
        Some(c) => c.compress(bytes).map_err(|e| e.to_string()),
        None => Err("no zstd context".to_owned()),
    })
}
