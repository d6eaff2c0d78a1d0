//! `errata-floor`: the cost floor of ingestion on this machine. A bare axum server that does
//! only the first steps every Sentry-compatible server must do for an envelope, then answers
//! 200 `{"id": …}` as Errata does, so `errata-bench --no-verify` can drive it like the real
//! server and report what rate the machine allows before grouping and storage even start.
//!
//! Stages (`--stage`), every one of which first reads the body, inflates it when it came
//! gzipped (`Content-Encoding: gzip`, as SDKs send it and `errata-bench --gzip` does; what
//! every server must undo before anything else) and takes the `event_id` from the envelope
//! header:
//! - `http`: nothing more;
//! - `compress`: compress the event item's bytes as they came with zstd level 1 (what a
//!   server that stores payloads compressed, but never looks inside them, must do);
//! - `parse`: parse the event item into a `serde_json::Value` tree (as Errata, Relay and every
//!   Python server do) and drop it;
//! - `encode`: parse, then serialize that tree again and compress it with zstd level 1, as
//!   Errata stores a normalized event;
//! - `parse-*`: read what a tracker needs (exceptions' type and value, frames' function,
//!   module, filename and in_app, level, timestamp, release, environment, fingerprint, tags:
//!   [`extract::Needed`]) with one JSON library and one way of using it (`parse-serde`,
//!   `parse-raw`, `parse-typed`, `parse-sonic`, `parse-sonic-lazy`, `parse-sonic-typed`,
//!   `parse-simd`, `parse-simd-typed`; [`extract::Parser`]);
//! - `zstd-fast1`, `zstd-fast3`, `zstd-fast5`, `lz4`, `zstd-dict`: compress the raw event
//!   item as `compress` does with another codec ([`codec::Codec`]); `zstd-dict` is zstd
//!   level 1 with a 16 KiB dictionary trained at start-up on 300 generated events of other
//!   issues, seed and run tag than the generator's;
//! - `best`: the fastest reader of the needed fields and the fastest codec that keeps the
//!   payload at least 3x smaller, as measured by `--self-test` and `floor.sh`
//!   (bench/README.md, "Results"): the floor Errata's server is measured against.
//!
//! `GET /stats` answers the compressed stages' totals (events, raw and stored bytes, ratio).
//! `--self-test` times every reader and codec over generated events without HTTP and prints
//! one JSON report. `bench/floor.sh` runs the stages and prints one JSON report
//! (bench/README.md, "The floor").

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use clap::{Parser, ValueEnum};

use codec::{Codec, Totals};
use extract::Parser as Reader;

#[path = "floor/codec.rs"]
mod codec;
#[path = "floor/extract.rs"]
mod extract;
// The generator's payload builder, for the dictionary's training events and the self-test.
#[allow(dead_code)]
#[path = "../payload.rs"]
mod payload;
#[path = "floor/selftest.rs"]
mod selftest;

// The server's allocator, so the floor's JSON trees cost what the server's do.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Stage {
    Http,
    Compress,
    Parse,
    Encode,
    #[value(name = "parse-serde")]
    ParseSerde,
    #[value(name = "parse-raw")]
    ParseRaw,
    #[value(name = "parse-typed")]
    ParseTyped,
    #[value(name = "parse-sonic")]
    ParseSonic,
    #[value(name = "parse-sonic-lazy")]
    ParseSonicLazy,
    #[value(name = "parse-sonic-typed")]
    ParseSonicTyped,
    #[value(name = "parse-simd")]
    ParseSimd,
    #[value(name = "parse-simd-typed")]
    ParseSimdTyped,
    #[value(name = "zstd-fast1")]
    ZstdFast1,
    #[value(name = "zstd-fast3")]
    ZstdFast3,
    #[value(name = "zstd-fast5")]
    ZstdFast5,
    Lz4,
    #[value(name = "zstd-dict")]
    ZstdDict,
    Best,
}

/// The reader and codec of `best`, chosen from the self-test and floor.sh runs recorded in
/// bench/README.md ("Results"): the fastest reader of [`extract::Needed`] and the fastest
/// codec whose ratio stays at or above 3.
const BEST: (Reader, Codec) = (Reader::SonicTyped, Codec::ZstdDict(1));

/// The 16 KiB dictionary of `zstd-dict`: 300 training events were enough for 7.5x in an
/// earlier measurement (bench/README.md, "The floor, flat memory, ...").
const DICT_BYTES: usize = 16 * 1024;
const DICT_SAMPLES: usize = 300;

impl Stage {
    /// What the stage does after reading the envelope: a reader of the needed fields, a codec
    /// for the raw event item, or neither (`http`, and `parse`/`encode`, which keep their own
    /// code so that their figures stay comparable with earlier runs).
    fn plan(self) -> (Option<Reader>, Option<Codec>) {
        match self {
            Stage::Http | Stage::Parse | Stage::Encode => (None, None),
            Stage::Compress => (None, Some(Codec::Zstd(1))),
            Stage::ParseSerde => (Some(Reader::SerdeValue), None),
            Stage::ParseRaw => (Some(Reader::SerdeRaw), None),
            Stage::ParseTyped => (Some(Reader::SerdeTyped), None),
            Stage::ParseSonic => (Some(Reader::SonicValue), None),
            Stage::ParseSonicLazy => (Some(Reader::SonicLazy), None),
            Stage::ParseSonicTyped => (Some(Reader::SonicTyped), None),
            Stage::ParseSimd => (Some(Reader::SimdValue), None),
            Stage::ParseSimdTyped => (Some(Reader::SimdTyped), None),
            Stage::ZstdFast1 => (None, Some(Codec::Zstd(-1))),
            Stage::ZstdFast3 => (None, Some(Codec::Zstd(-3))),
            Stage::ZstdFast5 => (None, Some(Codec::Zstd(-5))),
            Stage::Lz4 => (None, Some(Codec::Lz4)),
            Stage::ZstdDict => (None, Some(Codec::ZstdDict(1))),
            Stage::Best => (Some(BEST.0), Some(BEST.1)),
        }
    }
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
    /// Time every reader and codec over generated events without HTTP, print JSON and exit
    #[arg(long)]
    self_test: bool,
    /// Events of the self-test
    #[arg(long, default_value_t = 500)]
    events: usize,
    /// Timed passes over the events per reader or codec in the self-test (the fastest counts)
    #[arg(long, default_value_t = 15)]
    rounds: usize,
}

struct Floor {
    stage: Stage,
    reader: Option<Reader>,
    codec: Option<Codec>,
    totals: Totals,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.self_test {
        let report = selftest::run(args.events, args.rounds.max(1))?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let (reader, codec) = args.stage.plan();
    if matches!(codec, Some(Codec::ZstdDict(_))) {
        let t0 = std::time::Instant::now();
        codec::set_dictionary(train_dictionary()?);
        eprintln!(
            "errata-floor: trained a {DICT_BYTES}-byte dictionary on {DICT_SAMPLES} events in {:.2} s",
            t0.elapsed().as_secs_f64()
        );
    }
    let floor = Arc::new(Floor {
        stage: args.stage,
        reader,
        codec,
        totals: Totals::default(),
    });
    // The same runtime shape as the server: one multi-threaded runtime, a worker per core.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let app = Router::new()
            .route("/api/{project_id}/envelope/", post(envelope))
            .route("/healthz", get(|| async { "ok" }))
            .route(
                "/stats",
                get(|State(f): State<Arc<Floor>>| async move { axum::Json(f.totals.json()) }),
            )
            .with_state(floor);
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        eprintln!("errata-floor: stage {:?} on {}", args.stage, args.listen);
        axum::serve(listener, app).await?;
        Ok(())
    })
}

/// Event items of `n` generated events (the generator's payloads, one variant per issue).
fn generated_events(n: usize, seed: u64, run_tag: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    let payloads = payload::Payloads::build(&payload::PayloadSpec {
        issues: n,
        variants: 1,
        seed,
        run_tag: run_tag.to_owned(),
        gzip: None,
    })?;
    let id = *b"0123456789abcdef0123456789abcdef";
    (0..n)
        .map(|issue| {
            let body = payloads.body(issue, 0, &id);
            let envelope = split_envelope(&body).map_err(anyhow::Error::msg)?;
            Ok(envelope.payload.to_vec())
        })
        .collect()
}

/// The dictionary of `zstd-dict`, trained on events the generator never sends (other seed and
/// run tag), as a server would train one on a project's earlier events.
fn train_dictionary() -> anyhow::Result<Vec<u8>> {
    let samples = generated_events(DICT_SAMPLES, 0x5eed_d1c7, "dicttrain")?;
    codec::train(&samples, DICT_BYTES).map_err(anyhow::Error::msg)
}

async fn envelope(State(floor): State<Arc<Floor>>, headers: HeaderMap, body: Bytes) -> Response {
    let gzip = headers
        .get("content-encoding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let body = if gzip {
        match gunzip(&body) {
            Ok(inflated) => Bytes::from(inflated),
            Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
        }
    } else {
        body
    };
    match handle(&floor, &body) {
        Ok(id) => (
            StatusCode::OK,
            [("content-type", "application/json")],
            format!("{{\"id\":\"{id}\"}}"),
        )
            .into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

/// Inflates a gzip body as the server's decoder does (flate2 over zlib-rs, the output sized
/// from the trailer's length), without its limits: the generator sends nothing hostile.
fn gunzip(body: &[u8]) -> Result<Vec<u8>, String> {
    let stated = match body.len().checked_sub(4).and_then(|at| body.get(at..)) {
        Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]) as usize,
        _ => 0,
    };
    let mut out = Vec::with_capacity(stated.min(body.len().saturating_mul(32)));
    flate2::bufread::MultiGzDecoder::new(body)
        .read_to_end(&mut out)
        .map_err(|e| format!("body is not valid gzip: {e}"))?;
    Ok(out)
}

/// The parts of a one-item envelope the floor looks at.
struct Envelope<'a> {
    /// The envelope header line.
    header: &'a [u8],
    /// The event item, without its trailing newline.
    payload: &'a [u8],
}

/// Splits `body` into its header line, item header line (skipped) and event item.
fn split_envelope(body: &[u8]) -> Result<Envelope<'_>, String> {
    let mut lines = body.splitn(3, |&b| b == b'\n');
    let header = lines.next().unwrap_or_default();
    let _item_header = lines.next().ok_or("no item header")?;
    let payload = lines.next().ok_or("no item payload")?;
    // The item ends with a newline that is not part of it.
    let payload = payload.strip_suffix(b"\n").unwrap_or(payload);
    Ok(Envelope { header, payload })
}

/// Returns the envelope's event id after doing the stage's work.
fn handle(floor: &Floor, body: &[u8]) -> Result<String, String> {
    let Envelope { header, payload } = split_envelope(body)?;
    let header: serde_json::Value = serde_json::from_slice(header).map_err(|e| e.to_string())?;
    let id = header
        .get("event_id")
        .and_then(|v| v.as_str())
        .ok_or("no event_id in the envelope header")?
        .replace('-', "");
    match floor.stage {
        Stage::Parse | Stage::Encode => {
            // As the server does (`protocol::json`): one UTF-8 check, then the `str` reader.
            let payload = std::str::from_utf8(payload).map_err(|e| e.to_string())?;
            let event: serde_json::Value =
                serde_json::from_str(payload).map_err(|e| e.to_string())?;
            if floor.stage == Stage::Encode {
                let json = serde_json::to_vec(&event).map_err(|e| e.to_string())?;
                let stored = Codec::Zstd(1).compress(&json)?;
                floor.totals.add(payload.len(), stored.len());
                std::hint::black_box(stored);
            }
        }
        _ => {
            if let Some(reader) = floor.reader {
                reader.read(payload, |needed| {
                    std::hint::black_box(needed);
                })?;
            }
            if let Some(codec) = floor.codec {
                let stored = codec.compress(payload)?;
                floor.totals.add(payload.len(), stored.len());
                std::hint::black_box(stored);
            }
        }
    }
    Ok(id)
}
