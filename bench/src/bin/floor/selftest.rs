//! `errata-floor --self-test`: every reader and codec timed over generated events on one
//! thread, without HTTP, whose noise on a shared two-core machine hides differences of a few
//! µs. Checks first that every reader reads the same [`Needed`](super::extract::Needed) and
//! that every codec gives the bytes back.

use std::hint::black_box;
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure};
use serde_json::{json, Value};

use super::codec::{self, Codec};
use super::extract::Parser as Reader;
use super::{generated_events, train_dictionary, BEST, DICT_BYTES, DICT_SAMPLES};

/// Runs the self-test over `n` events, `rounds` timed passes each (the fastest pass counts:
/// the others lost time to the machine's other work; the rounds interleave the tasks). Errors: a reader disagreeing with
/// serde_json's tree, a codec not round-tripping, or a library's error.
pub fn run(n: usize, rounds: usize) -> anyhow::Result<Value> {
    // Other issues, seed and run tag than the dictionary's training events.
    let events = generated_events(n.max(1), 0x7e57, "selftest")?;
    let raw: usize = events.iter().map(Vec::len).sum();
    let t0 = Instant::now();
    codec::set_dictionary(train_dictionary()?);
    let train_s = t0.elapsed().as_secs_f64();

    // Same result everywhere, and not an empty one.
    for (i, event) in events.iter().enumerate() {
        let reference = Reader::SerdeValue.read(event, |n| {
            let frames: usize = n
                .exception
                .iter()
                .flat_map(|e| &e.values)
                .filter_map(|e| e.stacktrace.as_ref())
                .map(|s| s.frames.len())
                .sum();
            (
                format!("{n:?}"),
                frames,
                n.tags.as_ref().map_or(0, |t| t.0.len()),
            )
        });
        let (reference, frames, tags) = reference.map_err(|e| anyhow!("event {i}: {e}"))?;
        ensure!(frames > 0 && tags > 0, "event {i}: no frames or tags read");
        for reader in Reader::ALL {
            let got = reader
                .read(event, |n| format!("{n:?}"))
                .map_err(|e| anyhow!("{} on event {i}: {e}", reader.name()))?;
            ensure!(
                got == reference,
                "{} reads event {i} differently",
                reader.name()
            );
        }
    }

    // Every codec's frames, checked to give the event back, for the decompression timing.
    let mut frames: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut ratios = Vec::new();
    for c in Codec::ALL {
        let fs: Vec<Vec<u8>> = events
            .iter()
            .map(|e| c.compress(e))
            .collect::<Result<_, _>>()
            .map_err(anyhow::Error::msg)?;
        for (event, frame) in events.iter().zip(&fs) {
            let back = c
                .decompress(frame, event.len())
                .map_err(anyhow::Error::msg)?;
            ensure!(back == *event, "{} does not round-trip", c.name());
        }
        let stored: usize = fs.iter().map(Vec::len).sum();
        ratios.push(round2(raw as f64 / stored as f64));
        frames.push(fs);
    }

    // One task per figure; the rounds go over all of them in turn, so that the machine's other
    // work falls on every task alike.
    type Task<'a> = Box<dyn FnMut() -> Result<(), String> + 'a>;
    let mut tasks: Vec<Task> = Vec::new();
    for reader in Reader::ALL {
        let events = &events;
        tasks.push(Box::new(move || {
            for event in events {
                reader.read(event, |n| {
                    black_box(n);
                })?;
            }
            Ok(())
        }));
    }
    for c in Codec::ALL {
        let events = &events;
        tasks.push(Box::new(move || {
            for event in events {
                black_box(c.compress(event)?);
            }
            Ok(())
        }));
    }
    for (c, fs) in Codec::ALL.into_iter().zip(&frames) {
        let events = &events;
        tasks.push(Box::new(move || {
            for (event, frame) in events.iter().zip(fs) {
                black_box(c.decompress(frame, event.len())?);
            }
            Ok(())
        }));
    }
    let (reader, codec) = BEST;
    {
        let events = &events;
        tasks.push(Box::new(move || {
            for event in events {
                reader.read(event, |n| {
                    black_box(n);
                })?;
                black_box(codec.compress(event)?);
            }
            Ok(())
        }));
    }
    let times = fastest(rounds, &mut tasks)?;
    let per_event = |d: Duration| round2(d.as_secs_f64() * 1e6 / events.len() as f64);
    let (reader_times, rest) = times.split_at(Reader::ALL.len());
    let (compress_times, rest) = rest.split_at(Codec::ALL.len());
    let (decompress_times, best) = rest.split_at(Codec::ALL.len());

    let mut readers = serde_json::Map::new();
    for (r, t) in Reader::ALL.iter().zip(reader_times) {
        readers.insert(r.name().to_owned(), json!({"us_per_event": per_event(*t)}));
    }
    let mut codecs = serde_json::Map::new();
    for (i, c) in Codec::ALL.iter().enumerate() {
        codecs.insert(
            c.name(),
            json!({
                "us_per_event": per_event(compress_times[i]),
                "ratio": ratios[i],
                "decompress_us_per_event": per_event(decompress_times[i]),
            }),
        );
    }
    let best = best[0];

    Ok(json!({
        "events": events.len(),
        "event_bytes_mean": raw / events.len(),
        "rounds": rounds,
        "dictionary": {"bytes": DICT_BYTES, "samples": DICT_SAMPLES, "train_s": round2(train_s)},
        "readers": readers,
        "codecs": codecs,
        "best": {"reader": reader.name(), "codec": codec.name(), "us_per_event": per_event(best)},
    }))
}

/// The shortest of `rounds` runs of each task, the rounds going over all tasks in turn.
fn fastest(
    rounds: usize,
    tasks: &mut [Box<dyn FnMut() -> Result<(), String> + '_>],
) -> anyhow::Result<Vec<Duration>> {
    // One untimed pass: thread-local contexts and buffers, caches.
    for task in tasks.iter_mut() {
        task().map_err(anyhow::Error::msg)?;
    }
    let mut best = vec![Duration::MAX; tasks.len()];
    for _ in 0..rounds {
        for (task, best) in tasks.iter_mut().zip(best.iter_mut()) {
            let t = Instant::now();
            task().map_err(anyhow::Error::msg)?;
            *best = (*best).min(t.elapsed());
        }
    }
    Ok(best)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    #[test]
    fn readers_agree_and_codecs_round_trip() {
        let report = super::run(20, 1).expect("self-test");
        assert_eq!(report["events"], 20);
        for codec in ["zstd1", "lz4", "zstd-dict1"] {
            let ratio = report["codecs"][codec]["ratio"].as_f64().expect("ratio");
            assert!(ratio > 1.5, "{codec}: {ratio}");
        }
    }
}
