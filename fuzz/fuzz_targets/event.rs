//! Lenient JSON → normalization → grouping must never panic on any event, and grouping a
//! normalized event must be deterministic and stable under re-normalization. Normalizing the
//! bytes (the hot path: members no stage reads pass through as text) must give the same stored
//! event, fields and grouping as normalizing the whole tree, and refuse the same inputs.
#![no_main]

use errata_server::grouping::group;
use errata_server::normalize::{normalize, normalize_payload, NormalizeContext};
use errata_server::protocol::json::parse_lenient;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ctx = NormalizeContext {
        received_ms: 1_700_000_000_000,
        envelope_event_id: "9ec79c33ec9942ab8353589fcb2e04dc".parse().ok(),
        client_ip: None,
        timestamp_bounds: Default::default(),
    };
    let from_bytes = normalize_payload(data, &ctx);
    let value = match parse_lenient(data) {
        Ok(value) if value.is_object() => value,
        _ => {
            assert!(
                from_bytes.is_err(),
                "the hot path took what the tree path refuses"
            );
            return;
        }
    };
    let normalized = normalize(value, &ctx);
    let first = group(&normalized.view());
    assert_eq!(first, group(&normalized.view()));
    assert_eq!(first.hash.len(), 64);
    let again = normalize(normalized.event.clone(), &ctx);
    assert_eq!(
        group(&again.view()).hash,
        first.hash,
        "normalization is idempotent for grouping"
    );

    let from_bytes = from_bytes.expect("the hot path refused what the tree path takes");
    let stored = from_bytes.to_value();
    if stored.is_null() {
        // Deeper than serde_json reads back: then the same bytes as the tree path's.
        let mut bytes = Vec::new();
        from_bytes.write_json(&mut bytes);
        let tree = serde_json::to_vec(&normalized.event).expect("serializes");
        assert!(bytes == tree, "same stored event");
    } else {
        assert_eq!(stored, normalized.event, "same stored event");
    }
    assert_eq!(
        format!("{:?}", from_bytes.fields),
        format!("{:?}", normalized.fields)
    );
    assert_eq!(group(&from_bytes.view()), first, "same grouping");
});
