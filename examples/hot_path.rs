//! The request side of ingesting one event, timed stage by stage without HTTP (issue #23):
//! the generator's events (`bench/src/payload.rs`) normalized from their bytes
//! (`normalize_payload` plus the User-Agent contexts), grouped, then written as JSON and
//! compressed with a project dictionary trained on other events of the run (`new_event`), as
//! `ingest/items/event.rs` does for every event. One thread, no I/O: the stages' CPU alone, far
//! less noisy than a burst through HTTP, so that a change to one stage can be measured back to
//! back with the commit before it. Prints the best round's µs per event for each stage.
//!
//! Then the writer's side: each round's rows committed to a fresh SQLite file in batches of
//! [`BATCH`] with deferred aggregates, rolled up every [`ROLL_UP_EVENTS`] events and at the
//! end, as `ingest/writer.rs` does under load, after an untimed pass that creates the issues.
//! It prints `commit`, the wall time of `Store::commit_batch` and `Store::roll_up` (the writer
//! thread and its fsyncs), then the CPU time of all the process's threads meanwhile (the
//! writer, the checkpointer) and the bytes they wrote (`/proc/self/io`'s `wchar`: WAL frames
//! and checkpoints). Its database is small (twice EVENTS), so these figures compare commits of
//! the code, not a database of a burst's size; they move by 5–15 % between runs.
//!
//! ```text
//! nice -n 19 cargo run --release --example hot_path -- [EVENTS] [ROUNDS]
//! ```
//! Defaults: 2,000 events (1,000 issues × 2 variants, ~11.9 KB each), 15 rounds.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use errata_server::grouping;
use errata_server::ingest::items::new_event;
use errata_server::normalize::{self, NormalizeContext, TimestampBounds};
use errata_server::payload_dictionaries::{train, DICTIONARY_BYTES};
use errata_server::protocol::envelope::{Envelope, ItemType};
use errata_server::protocol::EventId;
use errata_server::store::{set_dictionary_id, Aggregates, NewEvent, PayloadDictionary, Store};
use rand::SeedableRng;

#[allow(dead_code)]
#[path = "../bench/src/payload.rs"]
mod payload;

// The server's allocator (`src/main.rs`): the stages' allocations cost what they cost there.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The User-Agent the generator's SDK header would carry (the contexts stage parses one).
const USER_AGENT: &str = "sentry.python.django/2.19.0";

/// Events per commit: the ingest writer's batch in a burst of 64 connections (one request in
/// flight each).
const BATCH: usize = 64;

/// Events between roll-ups: what `ingest::writer::ROLL_UP_EVERY` (250 ms) carries at ~6,000
/// events per second.
const ROLL_UP_EVENTS: usize = 1_536;

fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let events_n = args.first().copied().unwrap_or(2_000).max(1);
    let rounds = args.get(1).copied().unwrap_or(15).max(1);

    let variants = 2;
    let payloads = payload::Payloads::build(&payload::PayloadSpec {
        issues: events_n.div_ceil(variants),
        variants,
        seed: 23,
        run_tag: "hot".into(),
        gzip: None,
    })?;
    let mut ids = rand::rngs::StdRng::seed_from_u64(5);
    let events: Vec<(EventId, Vec<u8>)> = (0..events_n)
        .map(|i| {
            let id = payload::new_event_id(&mut ids);
            let event_id = std::str::from_utf8(&id)?.parse()?;
            Ok((
                event_id,
                event_item(payloads.body(i / variants, i % variants, &id))?,
            ))
        })
        .collect::<anyhow::Result<_>>()?;

    // The project's dictionary, trained as the server trains it, on events of other issues.
    let training = payload::Payloads::build(&payload::PayloadSpec {
        issues: 300,
        variants: 1,
        seed: 7,
        run_tag: "train".into(),
        gzip: None,
    })?;
    let samples = (0..300)
        .map(|issue| {
            let item = event_item(training.body(issue, 0, &[b'a'; 32]))?;
            let n = normalize::normalize_payload(&item, &context(None))?;
            let mut json = Vec::new();
            n.write_json(&mut json);
            Ok(json)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut bytes = train(&samples, DICTIONARY_BYTES)?;
    set_dictionary_id(&mut bytes, 1)?;
    let dictionary = PayloadDictionary::new(1, 1, &bytes)?;

    let raw: usize = events.iter().map(|(_, e)| e.len()).sum();
    println!(
        "{events_n} events ({:.1} KB each), best of {rounds} rounds, µs per event:",
        raw as f64 / events_n as f64 / 1000.0
    );
    // Ids for a first, untimed pass of the same rows, which creates the issues: the timed
    // commits then add events to existing issues, as nearly all of a burst's do.
    let warm_ids: Vec<EventId> = (0..events_n)
        .map(|_| Ok(std::str::from_utf8(&payload::new_event_id(&mut ids))?.parse()?))
        .collect::<anyhow::Result<_>>()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut best = [Duration::MAX; 4];
    let mut stored = 0;
    let mut written = u64::MAX;
    let mut commit_cpu = u64::MAX;
    for _ in 0..rounds {
        let mut took = [Duration::ZERO; 4];
        let mut rows = Vec::with_capacity(events.len());
        stored = 0;
        for (event_id, item) in &events {
            let t0 = Instant::now();
            let mut n = normalize::normalize_payload(item, &context(Some(*event_id)))?;
            normalize::add_user_agent_contexts(&mut n, Some(USER_AGENT));
            let t1 = Instant::now();
            let grouping = grouping::group(&n.view());
            let t2 = Instant::now();
            let row = new_event(1, n, grouping, Some(&dictionary));
            let t3 = Instant::now();
            stored += black_box(&row).payload.len();
            rows.push(row);
            for (sum, d) in took.iter_mut().zip([t1 - t0, t2 - t1, t3 - t2]) {
                *sum += d;
            }
        }
        let (commit, bytes, cpu) = runtime.block_on(commit(rows, &warm_ids))?;
        took[3] = commit;
        written = written.min(bytes);
        commit_cpu = commit_cpu.min(cpu);
        for (b, t) in best.iter_mut().zip(took) {
            *b = (*b).min(t);
        }
    }
    let per_event = |d: Duration| d.as_secs_f64() * 1e6 / events_n as f64;
    let total: Duration = best.iter().sum();
    for (stage, d) in ["normalize", "group", "write and compress", "commit"]
        .iter()
        .zip(best)
    {
        println!("  {stage:<20} {:7.2}", per_event(d));
    }
    println!("  {:<20} {:7.2}", "all", per_event(total));
    println!(
        "committing took {:.2} µs of CPU and wrote {:.0} B per event (WAL and checkpoints)",
        commit_cpu as f64 / 1e3 / events_n as f64,
        written as f64 / events_n as f64
    );
    println!(
        "stored {:.0} B per event ({:.2}x smaller than the item)",
        stored as f64 / events_n as f64,
        raw as f64 / stored as f64
    );
    Ok(())
}

/// Commits `rows` (of project 1) to a fresh SQLite file as the ingest writer does under load,
/// after the same rows under `warm_ids` (untimed: they create the issues and fill the writer's
/// statement cache, so that the timed commits add events to existing issues, as nearly all of
/// a burst's do); returns the time spent in the store's calls, then the CPU time (ns) and the
/// bytes written of the whole process meanwhile.
async fn commit(
    mut rows: Vec<NewEvent>,
    warm_ids: &[EventId],
) -> anyhow::Result<(Duration, u64, u64)> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("errata.db").display());
    let store = Store::connect(&url).await?;
    let project = store.create_project("hot").await?;
    for row in &mut rows {
        row.project_id = project.id;
    }
    let warm = rows
        .iter()
        .zip(warm_ids)
        .map(|(row, &id)| {
            let mut row = row.clone();
            row.fields.event_id = id;
            row
        })
        .collect();
    commit_all(&store, warm).await?;
    let before = (written_bytes()?, cpu_ns()?);
    let took = commit_all(&store, rows).await?;
    // Saturating: a thread that ends meanwhile takes its CPU time out of the sum.
    Ok((
        took,
        written_bytes()?.saturating_sub(before.0),
        cpu_ns()?.saturating_sub(before.1),
    ))
}

/// CPU time of this process's live threads, nanoseconds (`/proc/self/task/*/schedstat`).
fn cpu_ns() -> anyhow::Result<u64> {
    let mut sum = 0;
    for task in std::fs::read_dir("/proc/self/task")? {
        // A thread that ended since the listing has no file left to read.
        let Ok(stat) = std::fs::read_to_string(task?.path().join("schedstat")) else {
            continue;
        };
        sum += stat
            .split_whitespace()
            .next()
            .ok_or_else(|| anyhow::anyhow!("an empty schedstat"))?
            .parse::<u64>()?;
    }
    Ok(sum)
}

/// Commits `rows` in batches of [`BATCH`] with deferred aggregates, rolled up every
/// [`ROLL_UP_EVENTS`] events and at the end; returns the time spent in the store's calls.
async fn commit_all(store: &Store, rows: Vec<NewEvent>) -> anyhow::Result<Duration> {
    let batches: Vec<Arc<[NewEvent]>> = rows.chunks(BATCH).map(Arc::from).collect();
    let mut took = Duration::ZERO;
    let mut since_roll_up = 0;
    for batch in batches {
        let t = Instant::now();
        let len = batch.len();
        store.commit_batch(batch, Aggregates::Deferred).await?;
        since_roll_up += len;
        if since_roll_up >= ROLL_UP_EVENTS {
            store.roll_up(ROLL_UP_EVENTS * 2).await?;
            since_roll_up = 0;
        }
        took += t.elapsed();
    }
    let t = Instant::now();
    store.roll_up(ROLL_UP_EVENTS * 2).await?;
    Ok(took + t.elapsed())
}

/// Bytes this process has passed to `write` and its kin (`/proc/self/io`, `wchar`).
fn written_bytes() -> anyhow::Result<u64> {
    let io = std::fs::read_to_string("/proc/self/io")?;
    io.lines()
        .find_map(|line| line.strip_prefix("wchar:"))
        .ok_or_else(|| anyhow::anyhow!("/proc/self/io has no wchar"))?
        .trim()
        .parse()
        .map_err(Into::into)
}

/// The event item of a generator envelope, split as the server splits envelopes.
fn event_item(envelope: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    Envelope::parse(envelope.into())?
        .payloads(&ItemType::Event)
        .next()
        .map(|payload| payload.to_vec())
        .ok_or_else(|| anyhow::anyhow!("an envelope without an event item"))
}

fn context(envelope_event_id: Option<EventId>) -> NormalizeContext {
    NormalizeContext {
        received_ms: 1_765_000_000_000,
        envelope_event_id,
        client_ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        timestamp_bounds: TimestampBounds::UNBOUNDED,
    }
}
