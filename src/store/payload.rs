//! The `event_payloads.payload` column: the normalized event JSON as one zstd frame.

use super::StoreError;

/// zstd level for payloads. Level 1 takes ~8 µs for a 12 KB event where level 3 took
/// ~40 µs, and the generator's 200,000-event database came out the same size (998 MB) with
/// either (`bench/README.md`).
const PAYLOAD_ZSTD_LEVEL: i32 = 1;

/// The 4-byte magic number that starts every zstd frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Encodes a normalized event for the `payload` column: the JSON text compressed as one zstd
/// frame. If compression fails (only possible when out of memory) the plain JSON bytes are
/// stored instead; [`decode_payload`] reads both.
pub fn encode_payload(event: &serde_json::Value) -> Vec<u8> {
    encode_payload_json(|json| {
        // Serializing a `Value` into a `Vec` cannot fail.
        let _ = serde_json::to_writer(json, event);
    })
}

/// [`encode_payload`] of the JSON text `write` appends to the (empty) buffer it is given: the
/// hot path writes the event from its parts (`normalize::Normalized::write_json`) without a
/// tree.
pub fn encode_payload_json(write: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    thread_local! {
        // A zstd context is costly to set up; every event on this thread reuses one.
        static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
            std::cell::RefCell::new(zstd::bulk::Compressor::new(PAYLOAD_ZSTD_LEVEL).ok());
        // The JSON text, in a buffer that keeps its capacity: growing a fresh `Vec` to
        // 12 KB took a dozen reallocations and copies per event.
        static JSON: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    JSON.with(|json| {
        let mut json = json.borrow_mut();
        json.clear();
        write(&mut json);
        let compressed = COMPRESSOR.with(|c| match c.borrow_mut().as_mut() {
            Some(c) => c.compress(&json).ok(),
            None => None,
        });
        let encoded = compressed.unwrap_or_else(|| json.clone());
        // An event far larger than usual gives its memory back instead of pinning it here.
        if json.capacity() > MAX_KEPT_JSON_BUFFER {
            *json = Vec::new();
        }
        encoded
    })
}

/// Largest serialization buffer [`encode_payload`] keeps per thread between events, bytes.
const MAX_KEPT_JSON_BUFFER: usize = 256 * 1024;

/// Decodes a `payload` column written by [`encode_payload`] back into JSON.
///
/// Errors with [`StoreError::Other`] when the bytes are neither a zstd frame of JSON nor
/// plain JSON (corrupt data).
pub fn decode_payload(bytes: &[u8]) -> Result<serde_json::Value, StoreError> {
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Other(format!("corrupt payload: {e}"));
    if bytes.starts_with(&ZSTD_MAGIC) {
        let json = zstd::stream::decode_all(bytes).map_err(|e| corrupt(&e))?;
        serde_json::from_slice(&json).map_err(|e| corrupt(&e))
    } else {
        serde_json::from_slice(bytes).map_err(|e| corrupt(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_and_is_compressed() {
        let v = serde_json::json!({"message": "x".repeat(1000), "n": [1, 2, 3]});
        let bytes = encode_payload(&v);
        assert!(bytes.starts_with(&ZSTD_MAGIC));
        assert!(bytes.len() < 200);
        assert_eq!(decode_payload(&bytes).unwrap(), v);
        assert_eq!(
            decode_payload(br#"{"a":1}"#).unwrap(),
            serde_json::json!({"a": 1})
        );
        assert!(decode_payload(b"\x28\xb5\x2f\xfdgarbage").is_err());
    }
}
