//! Lenient JSON → normalization → grouping must never panic on any event, and grouping a
//! normalized event must be deterministic and stable under re-normalization.
#![no_main]

use errata_server::grouping::group;
use errata_server::normalize::{normalize, NormalizeContext};
use errata_server::protocol::json::parse_lenient;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = parse_lenient(data) else { return };
    if !value.is_object() {
        return;
    }
    let ctx = NormalizeContext {
        received_ms: 1_700_000_000_000,
        envelope_event_id: None,
        client_ip: None,
        timestamp_bounds: Default::default(),
    };
    let normalized = normalize(value, &ctx);
    let first = group(&normalized.view());
    assert_eq!(first, group(&normalized.view()));
    assert_eq!(first.hash.len(), 64);
    let again = normalize(normalized.event.clone(), &ctx);
    assert_eq!(group(&again.view()).hash, first.hash, "normalization is idempotent for grouping");
});
