//! Body decoding (every Content-Encoding, and the legacy store-body forms) must never panic
//! and never return more than the limit.
#![no_main]

use bytes::Bytes;
use errata_server::ingest::decode::{decode_body, decode_store_body};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 256 * 1024;
const ENCODINGS: [Option<&str>; 7] = [
    None,
    Some("gzip"),
    Some("deflate"),
    Some("br"),
    Some("zstd"),
    Some("gzip, br"),
    Some("UTF-8"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let encoding = ENCODINGS[usize::from(selector) % ENCODINGS.len()];
    if let Ok(out) = decode_body(encoding, Bytes::copy_from_slice(body), LIMIT) {
        assert!(out.len() <= LIMIT);
        if let Ok(json) = decode_store_body(out, LIMIT) {
            assert!(json.len() <= LIMIT);
        }
    }
});
