//! Envelope framing must never panic, and every item it returns must lie inside the input.
#![no_main]

use bytes::Bytes;
use errata_server::protocol::envelope::Envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let body = Bytes::copy_from_slice(data);
    if let Ok(envelope) = Envelope::parse(body) {
        let total: usize = envelope.items.iter().map(|i| i.payload.len()).sum();
        assert!(total <= data.len());
        for item in &envelope.items {
            if let Some(len) = item.header.length {
                assert_eq!(item.payload.len(), len as usize);
            }
        }
    }
});
