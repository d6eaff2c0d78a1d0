//! The `event_payloads.payload` column: the normalized event JSON as one zstd frame, compressed with
//! the project's dictionary when it has one.
//!
//! Three forms are read back: plain JSON (a compression that failed), a frame without a
//! dictionary (every event stored before its project had a dictionary), and a frame whose
//! header names its dictionary by id. The id is the `dict_id` key of `payload_dictionaries`
//! (`payload_dictionaries.rs`), written into the dictionary itself when it is stored, so ids
//! are unique across the database and a frame says which row decodes it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use zstd::dict::{DecoderDictionary, EncoderDictionary};
use zstd::zstd_safe;

use super::StoreError;

/// zstd level for payloads without a dictionary. Level 1 takes ~8 µs for a 12 KB event where
/// level 3 took ~40 µs, and the generator's 200,000-event database came out the same size
/// (998 MB) with either (`bench/README.md`).
const PAYLOAD_ZSTD_LEVEL: i32 = 1;

/// zstd level with a project's dictionary. Level 3 stores the generator's events in 11 %
/// fewer bytes than level 1, as fast (15–16 µs per 12 KB event; the fast levels -1 to -7 are
/// no faster and store more), `bench/README.md`, "Payload dictionaries at level 3". Its
/// prepared dictionary holds larger match tables: 438 KB per project in memory instead of 78.
pub const DICTIONARY_ZSTD_LEVEL: i32 = 3;

/// The 4-byte magic number that starts every zstd frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The 4-byte magic number that starts a zstd dictionary; its id follows (little-endian).
const DICTIONARY_MAGIC: [u8; 4] = [0x37, 0xa4, 0x30, 0xec];

/// Largest decoded payload sized up front from its frame header; a larger (or corrupt) size
/// is decoded as a stream instead of trusted with one allocation.
const MAX_SIZED_DECODE: u64 = 64 * 1024 * 1024;

/// A project's dictionary, prepared for compression: what the ingest path holds while it
/// encodes an event (the cache hands out `Arc`s, so a newer dictionary never waits for it).
pub struct PayloadDictionary {
    id: u32,
    project_id: i64,
    encoder: EncoderDictionary<'static>,
}

impl PayloadDictionary {
    /// Prepares dictionary `bytes` (a zstd dictionary whose header carries `id`) of
    /// `project_id` at [`DICTIONARY_ZSTD_LEVEL`]. Errors: [`StoreError::Other`] when the bytes
    /// are not a zstd dictionary with that id (corrupt data).
    pub fn new(id: u32, project_id: i64, bytes: &[u8]) -> Result<PayloadDictionary, StoreError> {
        PayloadDictionary::with_level(id, project_id, bytes, DICTIONARY_ZSTD_LEVEL)
    }

    /// [`PayloadDictionary::new`] at another zstd level (measurements).
    pub fn with_level(
        id: u32,
        project_id: i64,
        bytes: &[u8],
        level: i32,
    ) -> Result<PayloadDictionary, StoreError> {
        check_dictionary(id, bytes)?;
        Ok(PayloadDictionary {
            id,
            project_id,
            encoder: EncoderDictionary::copy(bytes, level),
        })
    }

    /// The dictionary's id, as frames compressed with it name it.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The project it was trained for.
    pub fn project_id(&self) -> i64 {
        self.project_id
    }
}

impl fmt::Debug for PayloadDictionary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PayloadDictionary")
            .field("id", &self.id)
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}

/// Writes `id` into the header of a zstd dictionary (trained ones get a random id).
/// Errors: [`StoreError::Other`] for bytes that are not a zstd dictionary.
pub fn set_dictionary_id(bytes: &mut [u8], id: u32) -> Result<(), StoreError> {
    if bytes.len() < 8 || bytes[..4] != DICTIONARY_MAGIC {
        return Err(StoreError::Other("not a zstd dictionary".into()));
    }
    bytes[4..8].copy_from_slice(&id.to_le_bytes());
    Ok(())
}

fn check_dictionary(id: u32, bytes: &[u8]) -> Result<(), StoreError> {
    match zstd_safe::get_dict_id_from_dict(bytes) {
        Some(found) if found.get() == id => Ok(()),
        found => Err(StoreError::Other(format!(
            "corrupt payload dictionary {id}: its header names {found:?}"
        ))),
    }
}

/// Encodes a normalized event for the `payload` column without a dictionary: see
/// [`encode_json`]. For callers holding a tree (tests, Errata's own events).
pub fn encode_payload(event: &serde_json::Value) -> Vec<u8> {
    encode_value(event, None)
}

/// Encodes a normalized event tree with the project's dictionary, if any: see
/// [`encode_with`].
pub fn encode_value(event: &serde_json::Value, dictionary: Option<&PayloadDictionary>) -> Vec<u8> {
    encode_with(
        |json| {
            // Serializing a `Value` into a `Vec` cannot fail.
            let _ = serde_json::to_writer(json, event);
        },
        dictionary,
    )
}

/// Encodes the JSON text `write` appends to the (empty) per-thread buffer it is given, then
/// [`encode_json`]: the hot path writes the event from its parts
/// (`normalize::Normalized::write_json`) without a tree.
pub fn encode_with(
    write: impl FnOnce(&mut Vec<u8>),
    dictionary: Option<&PayloadDictionary>,
) -> Vec<u8> {
    thread_local! {
        // The JSON text, in a buffer that keeps its capacity: growing a fresh `Vec` to
        // 12 KB took a dozen reallocations and copies per event.
        static JSON: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    JSON.with(|json| {
        let mut json = json.borrow_mut();
        json.clear();
        write(&mut json);
        let encoded = encode_json(&json, dictionary);
        // An event far larger than usual gives its memory back instead of pinning it here.
        if json.capacity() > MAX_KEPT_JSON_BUFFER {
            *json = Vec::new();
        }
        encoded
    })
}

/// Encodes the JSON text of a normalized event for the `payload` column: one zstd frame,
/// with `dictionary` (the event's project's, [`crate::store::Store::payload_dictionary`])
/// when given, else at level 1 without one. If compression fails (only possible when out
/// of memory) the plain JSON bytes are stored instead; [`decode_payload`] and the store's
/// readers read all three forms.
pub fn encode_json(json: &[u8], dictionary: Option<&PayloadDictionary>) -> Vec<u8> {
    thread_local! {
        // A zstd context is costly to set up; every event on this thread reuses one.
        static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
            std::cell::RefCell::new(zstd::bulk::Compressor::new(PAYLOAD_ZSTD_LEVEL).ok());
        // The same for frames with a dictionary: the dictionary is given per call, so one
        // context serves every project.
        static DICT_CONTEXT: std::cell::RefCell<Option<zstd_safe::CCtx<'static>>> =
            std::cell::RefCell::new(zstd_safe::CCtx::try_create());
    }
    let compressed = match dictionary {
        Some(d) => DICT_CONTEXT.with(|c| {
            let mut c = c.borrow_mut();
            let c = c.as_mut()?;
            let mut out = Vec::with_capacity(zstd_safe::compress_bound(json.len()));
            c.compress_using_cdict(&mut out, json, d.encoder.as_cdict())
                .ok()?;
            Some(out)
        }),
        None => COMPRESSOR.with(|c| match c.borrow_mut().as_mut() {
            Some(c) => c.compress(json).ok(),
            None => None,
        }),
    };
    compressed.unwrap_or_else(|| json.to_vec())
}

/// Largest serialization buffer [`encode_value`] keeps per thread between events, bytes.
const MAX_KEPT_JSON_BUFFER: usize = 256 * 1024;

/// The dictionary a stored payload was compressed with, `None` for plain JSON and frames
/// without one.
pub fn payload_dictionary_id(bytes: &[u8]) -> Option<u32> {
    if !bytes.starts_with(&ZSTD_MAGIC) {
        return None;
    }
    zstd_safe::get_dict_id_from_frame(bytes).map(|id| id.get())
}

/// Decodes a `payload` column written without a dictionary back into JSON.
///
/// Errors with [`StoreError::Other`] when the bytes are neither a zstd frame of JSON nor
/// plain JSON (corrupt data), or when the frame needs a dictionary: those are read through
/// the store, which loads dictionaries ([`Dictionaries`]).
pub fn decode_payload(bytes: &[u8]) -> Result<serde_json::Value, StoreError> {
    decode_payload_with(bytes, |_| None)
}

/// Decodes a stored payload with `dictionary(id)` for frames that name one. Errors:
/// [`StoreError::Other`] for corrupt data and for a frame whose dictionary `dictionary`
/// does not have.
pub fn decode_payload_with(
    bytes: &[u8],
    dictionary: impl FnOnce(u32) -> Option<Arc<DecoderDictionary<'static>>>,
) -> Result<serde_json::Value, StoreError> {
    let json = decompress(bytes, dictionary)?;
    serde_json::from_slice(&json).map_err(|e| corrupt(&e))
}

fn corrupt(e: &dyn fmt::Display) -> StoreError {
    StoreError::Other(format!("corrupt payload: {e}"))
}

/// The JSON text of a stored payload (see [`decode_payload_with`]).
pub(super) fn decompress(
    bytes: &[u8],
    dictionary: impl FnOnce(u32) -> Option<Arc<DecoderDictionary<'static>>>,
) -> Result<Cow<'_, [u8]>, StoreError> {
    if !bytes.starts_with(&ZSTD_MAGIC) {
        return Ok(Cow::Borrowed(bytes));
    }
    let Some(id) = payload_dictionary_id(bytes) else {
        return zstd::stream::decode_all(bytes)
            .map(Cow::Owned)
            .map_err(|e| corrupt(&e));
    };
    let Some(d) = dictionary(id) else {
        return Err(StoreError::Other(format!(
            "corrupt payload: its dictionary {id} does not exist"
        )));
    };
    thread_local! {
        static DECODER: std::cell::RefCell<Option<zstd_safe::DCtx<'static>>> =
            std::cell::RefCell::new(zstd_safe::DCtx::try_create());
    }
    let size = zstd_safe::get_frame_content_size(bytes).ok().flatten();
    if let Some(size) = size.filter(|s| *s <= MAX_SIZED_DECODE) {
        let out = DECODER.with(|c| {
            let mut c = c.borrow_mut();
            let c = c.as_mut()?;
            let mut out = Vec::with_capacity(size as usize);
            match c.decompress_using_ddict(&mut out, bytes, d.as_ddict()) {
                Ok(_) => Some(Ok(out)),
                Err(code) => Some(Err(corrupt(&zstd_safe::get_error_name(code)))),
            }
        });
        if let Some(out) = out {
            return out.map(Cow::Owned);
        }
    }
    let mut decoder =
        zstd::stream::read::Decoder::with_prepared_dictionary(std::io::BufReader::new(bytes), &d)
            .map_err(|e| corrupt(&e))?;
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut decoder, &mut out).map_err(|e| corrupt(&e))?;
    Ok(Cow::Owned(out))
}

/// The dictionaries a server holds in memory: each project's current one for encoding
/// (replaced by [`Dictionaries::install`]), and every one a reader needed for decoding,
/// by id (loaded on demand by the store, never evicted: a dictionary is tens of KiB and
/// a database holds one or a few per project).
#[derive(Default)]
pub struct Dictionaries {
    current: RwLock<HashMap<i64, Arc<PayloadDictionary>>>,
    decoders: RwLock<HashMap<u32, Arc<DecoderDictionary<'static>>>>,
}

impl fmt::Debug for Dictionaries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let current = self.current.read().map(|c| c.len()).unwrap_or_default();
        let decoders = self.decoders.read().map(|d| d.len()).unwrap_or_default();
        f.debug_struct("Dictionaries")
            .field("current", &current)
            .field("decoders", &decoders)
            .finish()
    }
}

impl Dictionaries {
    /// The project's current dictionary, if it has one. Never waits on the database.
    pub fn current(&self, project_id: i64) -> Option<Arc<PayloadDictionary>> {
        self.current
            .read()
            .ok()
            .and_then(|c| c.get(&project_id).cloned())
    }

    /// The id of every project's current dictionary.
    pub(super) fn current_ids(&self) -> HashMap<i64, u32> {
        self.current
            .read()
            .map(|c| c.iter().map(|(p, d)| (*p, d.id)).collect())
            .unwrap_or_default()
    }

    /// Makes `dictionary` its project's current one (and known to readers).
    pub(super) fn install(&self, dictionary: PayloadDictionary, bytes: &[u8]) {
        self.add_decoder(dictionary.id, bytes);
        if let Ok(mut c) = self.current.write() {
            c.insert(dictionary.project_id, Arc::new(dictionary));
        }
    }

    /// Forgets a project's current dictionary (its project was deleted).
    pub(super) fn remove_project(&self, project_id: i64) {
        if let Ok(mut c) = self.current.write() {
            c.remove(&project_id);
        }
    }

    /// The decoder of dictionary `id`, if loaded.
    pub(super) fn decoder(&self, id: u32) -> Option<Arc<DecoderDictionary<'static>>> {
        self.decoders.read().ok().and_then(|d| d.get(&id).cloned())
    }

    /// Prepares dictionary `id` for readers.
    pub(super) fn add_decoder(&self, id: u32, bytes: &[u8]) -> Arc<DecoderDictionary<'static>> {
        let d = Arc::new(DecoderDictionary::copy(bytes));
        if let Ok(mut m) = self.decoders.write() {
            m.insert(id, Arc::clone(&d));
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(i: usize) -> serde_json::Value {
        serde_json::json!({
            "event_id": format!("{i:032x}"),
            "level": "error",
            "platform": "python",
            "exception": {"values": [{"type": "ConnectionError", "value": format!("refused {i}"),
                "stacktrace": {"frames": (0..12).map(|f| serde_json::json!({
                    "filename": format!("app/module_{f}.py"), "function": format!("handler_{f}"),
                    "lineno": f * 7 + i % 5, "in_app": f % 2 == 0,
                    "context_line": "    return session.get(url, timeout=timeout)",
                })).collect::<Vec<_>>()}}]},
            "tags": [["environment", "production"], ["release", format!("1.0.{}", i % 3)]],
            "contexts": {"os": {"name": "Linux"}, "runtime": {"name": "CPython", "version": "3.12.1"}},
        })
    }

    /// A dictionary trained on `samples`, its id set to `id`.
    fn trained(id: u32) -> Vec<u8> {
        let samples: Vec<Vec<u8>> = (0..300)
            .map(|i| serde_json::to_vec(&sample(i)).expect("json"))
            .collect();
        let mut dict = zstd::dict::from_samples(&samples, 16 * 1024).expect("trained");
        set_dictionary_id(&mut dict, id).expect("dictionary");
        dict
    }

    #[test]
    fn payload_round_trips_and_is_compressed() {
        let v = serde_json::json!({"message": "x".repeat(1000), "n": [1, 2, 3]});
        let bytes = encode_payload(&v);
        assert!(bytes.starts_with(&ZSTD_MAGIC));
        assert!(bytes.len() < 200);
        assert_eq!(payload_dictionary_id(&bytes), None);
        assert_eq!(decode_payload(&bytes).unwrap(), v);
        assert_eq!(
            decode_payload(br#"{"a":1}"#).unwrap(),
            serde_json::json!({"a": 1})
        );
        assert!(decode_payload(b"\x28\xb5\x2f\xfdgarbage").is_err());
    }

    #[test]
    fn dictionary_frames_round_trip_and_are_smaller() {
        let bytes = trained(7);
        let dict = PayloadDictionary::new(7, 1, &bytes).unwrap();
        let dicts = Dictionaries::default();
        dicts.install(PayloadDictionary::new(7, 1, &bytes).unwrap(), &bytes);
        let event = sample(1000);
        let plain = encode_payload(&event);
        let json = serde_json::to_vec(&event).unwrap();
        let small = encode_json(&json, Some(&dict));
        assert_eq!(encode_value(&event, Some(&dict)), small);
        assert_eq!(payload_dictionary_id(&small), Some(7));
        assert!(
            small.len() * 2 < plain.len(),
            "{} vs {}",
            small.len(),
            plain.len()
        );
        assert_eq!(
            decode_payload_with(&small, |id| dicts.decoder(id)).unwrap(),
            event
        );
        // Frames without a dictionary and plain JSON still decode the same way.
        assert_eq!(
            decode_payload_with(&plain, |id| dicts.decoder(id)).unwrap(),
            event
        );
        assert_eq!(
            decode_payload_with(&json, |id| dicts.decoder(id)).unwrap(),
            event
        );
        assert_eq!(dicts.current(1).map(|d| d.id()), Some(7));
        assert!(dicts.current(2).is_none());
    }

    #[test]
    fn unknown_dictionary_is_a_corrupt_payload_not_a_panic() {
        let bytes = trained(9);
        let dict = PayloadDictionary::new(9, 1, &bytes).unwrap();
        let frame = encode_value(&sample(1), Some(&dict));
        let e = decode_payload(&frame).unwrap_err();
        assert!(
            matches!(&e, StoreError::Other(m) if m.contains("dictionary 9 does not exist")),
            "{e}"
        );
        // The wrong dictionary (another id) is refused by zstd, not misread.
        let other = trained(10);
        let wrong = Arc::new(DecoderDictionary::copy(&other));
        assert!(decode_payload_with(&frame, |_| Some(wrong)).is_err());
        // A truncated frame is an error too.
        let d = Arc::new(DecoderDictionary::copy(&bytes));
        assert!(decode_payload_with(&frame[..frame.len() / 2], |_| Some(d)).is_err());
    }

    #[test]
    fn dictionary_ids_are_checked() {
        let bytes = trained(3);
        assert!(PayloadDictionary::new(4, 1, &bytes).is_err());
        assert!(PayloadDictionary::new(3, 1, b"not a dictionary").is_err());
        assert!(set_dictionary_id(&mut b"short".to_vec(), 1).is_err());
    }
}
