//! The payload compressors under test, each with its contexts kept per thread as the server
//! keeps its zstd context (setting one up costs more than compressing a 12 KB event), and the
//! totals behind each stage's ratio.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use zstd::bulk::{Compressor, Decompressor};
use zstd::dict::{DecoderDictionary, EncoderDictionary};

/// A way of storing the event's bytes compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// zstd at this level; negative levels are zstd's `--fast=N`.
    Zstd(i32),
    /// zstd at this level with the dictionary of [`set_dictionary`].
    ZstdDict(i32),
    /// LZ4 block format (`lz4_flex`, pure Rust), the raw length prepended.
    Lz4,
}

impl Codec {
    /// Every codec the self-test measures.
    pub const ALL: [Codec; 10] = [
        Codec::Zstd(3),
        Codec::Zstd(1),
        Codec::Zstd(-1),
        Codec::Zstd(-3),
        Codec::Zstd(-5),
        Codec::Lz4,
        Codec::ZstdDict(3),
        Codec::ZstdDict(1),
        Codec::ZstdDict(-1),
        Codec::ZstdDict(-3),
    ];

    /// A short name: `zstd1`, `zstd-fast3`, `zstd-dict1`, `lz4`.
    pub fn name(self) -> String {
        let level = |l: i32| {
            if l < 0 {
                format!("-fast{}", -l)
            } else {
                l.to_string()
            }
        };
        match self {
            Codec::Zstd(l) => format!("zstd{}", level(l)),
            Codec::ZstdDict(l) => format!("zstd-dict{}", level(l)),
            Codec::Lz4 => "lz4".to_owned(),
        }
    }

    /// Compresses `bytes`. Errors: zstd's, or no dictionary set for a dictionary codec.
    pub fn compress(self, bytes: &[u8]) -> Result<Vec<u8>, String> {
        thread_local! {
            static ZSTD: RefCell<HashMap<(bool, i32), Compressor<'static>>> =
                RefCell::new(HashMap::new());
        }
        match self {
            Codec::Lz4 => Ok(lz4_flex::block::compress_prepend_size(bytes)),
            Codec::Zstd(level) | Codec::ZstdDict(level) => {
                let dict = matches!(self, Codec::ZstdDict(_));
                ZSTD.with(|cs| {
                    let mut cs = cs.borrow_mut();
                    let c = match cs.entry((dict, level)) {
                        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                        std::collections::hash_map::Entry::Vacant(e) => {
                            let c = if dict {
                                Compressor::with_prepared_dictionary(prepared(level)?)
                            } else {
                                Compressor::new(level)
                            };
                            e.insert(c.map_err(|e| e.to_string())?)
                        }
                    };
                    c.compress(bytes).map_err(|e| e.to_string())
                })
            }
        }
    }

    /// Decompresses what [`Codec::compress`] made of `raw_len` bytes (the self-test's check and
    /// read cost).
    pub fn decompress(self, bytes: &[u8], raw_len: usize) -> Result<Vec<u8>, String> {
        thread_local! {
            static PLAIN: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
            static DICT: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
        }
        let run = |cell: &RefCell<Option<Decompressor<'static>>>, dict: bool| {
            let mut cell = cell.borrow_mut();
            if cell.is_none() {
                let d = if dict {
                    let prepared: &'static DecoderDictionary<'static> =
                        DECODER.get().ok_or("no dictionary set")?;
                    Decompressor::with_prepared_dictionary(prepared)
                } else {
                    Decompressor::new()
                };
                *cell = Some(d.map_err(|e| e.to_string())?);
            }
            match cell.as_mut() {
                Some(d) => d.decompress(bytes, raw_len).map_err(|e| e.to_string()),
                None => Err("no zstd context".to_owned()),
            }
        };
        match self {
            Codec::Lz4 => {
                lz4_flex::block::decompress_size_prepended(bytes).map_err(|e| e.to_string())
            }
            Codec::Zstd(_) => PLAIN.with(|c| run(c, false)),
            Codec::ZstdDict(_) => DICT.with(|c| run(c, true)),
        }
    }
}

static DICTIONARY: OnceLock<Vec<u8>> = OnceLock::new();
static DECODER: OnceLock<DecoderDictionary<'static>> = OnceLock::new();
/// Prepared (digested) dictionaries per level: a zstd `CDict` bakes the level in. Leaked, a
/// handful per process, so that the per-thread compressors can borrow them for `'static`.
static ENCODERS: Mutex<Vec<(i32, &'static EncoderDictionary<'static>)>> = Mutex::new(Vec::new());

/// Trains a zstd dictionary of at most `max_size` bytes on `samples` (whole events).
/// Errors: zstd's (too few or too small samples).
pub fn train(samples: &[Vec<u8>], max_size: usize) -> Result<Vec<u8>, String> {
    zstd::dict::from_samples(samples, max_size).map_err(|e| e.to_string())
}

/// Sets the process's dictionary for [`Codec::ZstdDict`]; the first call wins.
pub fn set_dictionary(dict: Vec<u8>) {
    let dict = DICTIONARY.get_or_init(|| dict);
    DECODER.get_or_init(|| DecoderDictionary::copy(dict));
}

fn prepared(level: i32) -> Result<&'static EncoderDictionary<'static>, String> {
    let dict = DICTIONARY.get().ok_or("no dictionary set")?;
    let mut encoders = ENCODERS.lock().map_err(|e| e.to_string())?;
    if let Some((_, e)) = encoders.iter().find(|(l, _)| *l == level) {
        return Ok(e);
    }
    let e: &'static EncoderDictionary<'static> =
        Box::leak(Box::new(EncoderDictionary::copy(dict, level)));
    encoders.push((level, e));
    Ok(e)
}

/// Bytes in and out of a stage's compressor, for its ratio (`GET /stats`).
#[derive(Debug, Default)]
pub struct Totals {
    events: AtomicU64,
    raw: AtomicU64,
    stored: AtomicU64,
}

impl Totals {
    /// Counts one event of `raw` bytes stored as `stored`.
    pub fn add(&self, raw: usize, stored: usize) {
        self.events.fetch_add(1, Ordering::Relaxed);
        self.raw.fetch_add(raw as u64, Ordering::Relaxed);
        self.stored.fetch_add(stored as u64, Ordering::Relaxed);
    }

    /// `{"events", "raw_bytes", "stored_bytes", "ratio"}`; ratio is raw / stored, null when
    /// nothing was compressed.
    pub fn json(&self) -> serde_json::Value {
        let (e, r, s) = (
            self.events.load(Ordering::Relaxed),
            self.raw.load(Ordering::Relaxed),
            self.stored.load(Ordering::Relaxed),
        );
        let ratio = (s > 0).then(|| (r as f64 / s as f64 * 1000.0).round() / 1000.0);
        serde_json::json!({"events": e, "raw_bytes": r, "stored_bytes": s, "ratio": ratio})
    }
}
