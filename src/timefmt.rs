//! Timestamp formatting shared by the JSON API and the pages.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Formats epoch milliseconds as RFC 3339 UTC with millisecond precision
/// (`2026-11-22T04:51:10.123Z`); out-of-range values print as the epoch.
pub fn rfc3339_ms(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    t.format(&Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc() {
        assert_eq!(super::rfc3339_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339_ms(1_500), "1970-01-01T00:00:01.5Z");
    }
}
