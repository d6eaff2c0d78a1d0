//! Payload dictionaries measured (issue #23, `bench/README.md` "Payload dictionaries"): the
//! generator's events (`bench/src/payload.rs`), normalized as the server stores them, then
//! compressed without a dictionary (level 1, as before) and with dictionaries of several
//! sizes trained on other events of the same run, at zstd levels 1 and 3 (and, for the chosen
//! 32 KiB size, the fast levels -7 to -1). Prints one line per setting: ratio (raw JSON bytes
//! / stored bytes), bytes per event, µs per event to encode (best of the rounds) and to decode
//! (into a `Value`, as the store's readers do), and the training time.
//!
//! ```text
//! nice -n 19 cargo run --release --example payload_dictionary -- [TRAIN] [MEASURE] [ROUNDS]
//! ```
//! Defaults: 1,000 training events, 2,000 measured ones, 5 rounds.

use std::time::Instant;

use errata_server::normalize::{self, NormalizeContext, TimestampBounds};
use errata_server::payload_dictionaries::train;
use errata_server::protocol::envelope::{Envelope, ItemType};
use errata_server::store::{
    decode_payload_with, encode_json, set_dictionary_id, PayloadDictionary,
};
use rand::seq::SliceRandom;
use rand::SeedableRng;

#[allow(dead_code)]
#[path = "../bench/src/payload.rs"]
mod payload;

fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let train_n = args.first().copied().unwrap_or(1_000);
    let measure_n = args.get(1).copied().unwrap_or(2_000);
    let rounds = args.get(2).copied().unwrap_or(5).max(1);

    // 1,000 issues × 3 variants, shuffled: training and measured events are different
    // events, most of them of different issues (uniform, the generator's Zipf mix repeats
    // its top issues and would compress better).
    let spec = payload::PayloadSpec {
        issues: 1_000,
        variants: 3,
        seed: 23,
        run_tag: "dict".into(),
        gzip: None,
    };
    let payloads = payload::Payloads::build(&spec)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut picks: Vec<(usize, usize)> = (0..spec.issues)
        .flat_map(|i| (0..spec.variants).map(move |v| (i, v)))
        .collect();
    picks.shuffle(&mut rng);
    let mut events = Vec::new();
    for &(issue, variant) in picks.iter().take(train_n + measure_n) {
        let id = payload::new_event_id(&mut rng);
        let envelope = payloads.body(issue, variant, &id);
        events.push(stored_json(envelope)?);
    }
    let (samples, measured) = events.split_at(train_n.min(events.len()));
    let raw: usize = measured.iter().map(Vec::len).sum();
    println!(
        "{} training events, {} measured ({:.1} KB of normalized JSON each), {rounds} rounds",
        samples.len(),
        measured.len(),
        raw as f64 / measured.len() as f64 / 1000.0
    );
    report("no dictionary, level 1", raw, measured, rounds, None, None);
    for kib in [16, 32, 64, 112] {
        let started = Instant::now();
        let mut dict = train(samples, kib * 1024)?;
        let took = started.elapsed();
        set_dictionary_id(&mut dict, 1)?;
        // zstd's fast (negative) levels only for the chosen size: they trade ratio for speed.
        let levels: &[i32] = if kib == 32 {
            &[-7, -5, -3, -1, 1, 3]
        } else {
            &[1, 3]
        };
        for &level in levels {
            let d = PayloadDictionary::with_level(1, 1, &dict, level)?;
            let name = format!(
                "{kib} KiB dictionary ({} B, trained in {:.0} ms), level {level}",
                dict.len(),
                took.as_secs_f64() * 1000.0
            );
            report(&name, raw, measured, rounds, Some(&d), Some(&dict));
        }
    }
    Ok(())
}

/// The event of a generator envelope as the server stores it: parsed leniently, normalized,
/// serialized.
fn stored_json(envelope: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    let envelope = Envelope::parse(envelope.into())?;
    let payload = envelope
        .payloads(&ItemType::Event)
        .next()
        .ok_or_else(|| anyhow::anyhow!("no event item"))?;
    let value = errata_server::protocol::json::parse_lenient(payload)?;
    let n = normalize::normalize(
        value,
        &NormalizeContext {
            received_ms: 1_765_000_000_000,
            envelope_event_id: None,
            client_ip: None,
            timestamp_bounds: TimestampBounds::UNBOUNDED,
        },
    );
    Ok(serde_json::to_vec(&n.event)?)
}

fn report(
    name: &str,
    raw: usize,
    events: &[Vec<u8>],
    rounds: usize,
    dict: Option<&PayloadDictionary>,
    bytes: Option<&[u8]>,
) {
    let mut best = f64::MAX;
    let mut stored = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        stored = events.iter().map(|e| encode_json(e, dict)).collect();
        best = best.min(started.elapsed().as_secs_f64());
    }
    let size: usize = stored.iter().map(Vec::len).sum();
    let decoder = bytes.map(|b| std::sync::Arc::new(zstd::dict::DecoderDictionary::copy(b)));
    let started = Instant::now();
    for s in &stored {
        let value = decode_payload_with(s, |_| decoder.clone()).expect("decoded");
        assert!(value.is_object());
    }
    let decode = started.elapsed().as_secs_f64();
    let n = events.len() as f64;
    println!(
        "{name}: ratio {:.2}x, {:.0} B/event, encode {:.1} µs/event, decode {:.1} µs/event",
        raw as f64 / size as f64,
        size as f64 / n,
        best * 1e6 / n,
        decode * 1e6 / n,
    );
}
