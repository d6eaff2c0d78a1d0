//! `[retention]`: how long events are kept, how many per issue, the disk budget, and how the
//! pruning pass runs.

use serde::{Deserialize, Deserializer};

/// The data lifecycle's settings (`[retention]` in the configuration file).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Days an event is kept after it was received (server time); an issue whose `last_seen`
    /// is older and that has no event left is deleted too. 0 keeps events forever. Default
    /// 90; per project `errata project update PROJECT --retention-days N`.
    pub days: u32,
    /// Most events kept per issue: its first event and the newest ones. 0 keeps all.
    /// Default 10,000; per project `--max-events-per-issue N`.
    pub max_events_per_issue: u64,
    /// Disk budget: when the database holds more, the oldest events (each issue keeps its
    /// newest) are pruned until it holds less than 90 % of it. `500MB`, `20GiB` or a number
    /// of bytes. Default none.
    #[serde(deserialize_with = "byte_size")]
    pub max_database_bytes: Option<u64>,
    /// Seconds between pruning passes (plus up to a fifth of it at random). Default 10:
    /// a pass with nothing to do costs a few index lookups, and frequent passes keep what
    /// ingestion adds beyond the caps small.
    pub interval_secs: u64,
    /// Events deleted per step (one short transaction); between steps the pass yields to
    /// ingestion for at least as long as the step took. Default 500.
    pub batch_size: usize,
    /// A SQLite file that does not have `auto_vacuum = incremental` yet (made before this
    /// setting existed) gets it at `errata serve` start with a one-time `VACUUM` when it is
    /// at most this large; a larger one is left as it is, with a warning naming
    /// `errata retention vacuum`. Default `256MiB` (a few seconds).
    #[serde(deserialize_with = "byte_size_plain")]
    pub vacuum_at_start_up_to: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            days: 90,
            max_events_per_issue: 10_000,
            max_database_bytes: None,
            interval_secs: 10,
            batch_size: 500,
            vacuum_at_start_up_to: 256 * 1024 * 1024,
        }
    }
}

/// Parses `500MB`, `20GiB`, `1 GB` or a plain number of bytes (the `bytesize` crate's
/// grammar: SI units are powers of 1000, `…iB` of 1024). Errors name the input.
pub fn parse_byte_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    if let Ok(n) = s.parse::<u64>() {
        return Ok(n);
    }
    s.parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|e| format!("{s:?} is not a size such as 500MB or 20GiB: {e}"))
}

/// A size in TOML: a number of bytes or a string for [`parse_byte_size`].
#[derive(Deserialize)]
#[serde(untagged)]
enum SizeValue {
    Bytes(u64),
    Text(String),
}

impl SizeValue {
    fn bytes<E: serde::de::Error>(self) -> Result<u64, E> {
        match self {
            SizeValue::Bytes(n) => Ok(n),
            SizeValue::Text(s) => parse_byte_size(&s).map_err(E::custom),
        }
    }
}

fn byte_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Option::<SizeValue>::deserialize(d)?
        .map(SizeValue::bytes)
        .transpose()
}

fn byte_size_plain<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    SizeValue::deserialize(d)?.bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_units() {
        assert_eq!(parse_byte_size("500MB"), Ok(500_000_000));
        assert_eq!(parse_byte_size("20GiB"), Ok(20 * 1024 * 1024 * 1024));
        assert_eq!(parse_byte_size(" 1024 "), Ok(1024));
        assert!(parse_byte_size("lots").unwrap_err().contains("lots"));
        let c: RetentionConfig =
            toml::from_str("days = 7\nmax_database_bytes = \"1GiB\"\n").expect("parses");
        assert_eq!((c.days, c.max_database_bytes), (7, Some(1 << 30)));
        let c: RetentionConfig = toml::from_str("max_database_bytes = 5000").expect("parses");
        assert_eq!(c.max_database_bytes, Some(5000));
        assert!(toml::from_str::<RetentionConfig>("max_database_bytes = \"x\"").is_err());
    }
}
