//! Event timestamps (sentry-protocol.md 5.1): RFC 3339 strings (`Z`, an offset or no zone,
//! which means UTC; any number of fraction digits) or epoch seconds as integer/float, stored
//! back as RFC 3339 UTC with microseconds.
//!
//! Parsing is hand-written: it runs for every event, must accept the lenient forms SDKs send
//! (no zone, `,` or long fractions, lowercase `t`/`z`, space separator) and never allocate.

use serde_json::{Map, Value};

use super::notes::Notes;
use crate::clock::{DAY_MS, MINUTE_MS};

/// Microseconds since the Unix epoch of 0001-01-01T00:00:00Z, the earliest accepted instant.
const MIN_US: i64 = -62_135_596_800 * 1_000_000;
/// Microseconds since the Unix epoch of 9999-12-31T23:59:59.999999Z, the latest accepted instant.
const MAX_US: i64 = 253_402_300_800 * 1_000_000 - 1;

/// How far an event's `timestamp` may lie from the moment it was received before it is
/// replaced by that moment (Relay's `max_secs_in_future` / `max_secs_in_past`): a timestamp in
/// the year 9999 would otherwise pin its issue's `last_seen` there for good, and one older than
/// the retention period describes an event already gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampBounds {
    /// Most milliseconds after the receive time (clock drift allowed). Relay's default: 60 s.
    pub max_future_ms: i64,
    /// Most milliseconds before the receive time: the retention period. Default 90 days.
    pub max_past_ms: i64,
}

impl TimestampBounds {
    /// No bounds: every parsable timestamp is kept (tests of other stages, replays).
    pub const UNBOUNDED: TimestampBounds = TimestampBounds {
        max_future_ms: i64::MAX,
        max_past_ms: i64::MAX,
    };
}

impl Default for TimestampBounds {
    /// One minute into the future, 90 days into the past.
    fn default() -> Self {
        TimestampBounds {
            max_future_ms: MINUTE_MS,
            max_past_ms: 90 * DAY_MS,
        }
    }
}

/// Normalizes `timestamp` in place and returns it in epoch microseconds. Missing, `null` or
/// unparsable timestamps become `received_us` (the garbage is noted in `errors`), and so do
/// timestamps outside `bounds` around `received_us` (noted as `future_timestamp` or
/// `past_timestamp` with the value the SDK sent).
pub fn normalize(
    event: &mut Map<String, Value>,
    received_us: i64,
    bounds: TimestampBounds,
    notes: &mut Notes,
) -> i64 {
    let us = match event.get("timestamp") {
        None | Some(Value::Null) => received_us,
        Some(v) => match value_to_us(v) {
            Some(us) if us > received_us.saturating_add(ms_to_us(bounds.max_future_ms)) => {
                notes.clamped("future_timestamp", "timestamp", v, us, received_us);
                received_us
            }
            Some(us) if us < received_us.saturating_sub(ms_to_us(bounds.max_past_ms)) => {
                notes.clamped("past_timestamp", "timestamp", v, us, received_us);
                received_us
            }
            Some(us) => us,
            None => {
                notes.invalid("timestamp", v);
                received_us
            }
        },
    };
    event.insert("timestamp".to_owned(), Value::String(format_us(us)));
    us
}

fn ms_to_us(ms: i64) -> i64 {
    ms.saturating_mul(1000)
}

/// Epoch microseconds of a JSON timestamp (RFC 3339 string, numeric string or epoch seconds).
pub fn value_to_us(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => {
            let s = s.trim();
            parse_rfc3339(s).or_else(|| s.parse::<f64>().ok().and_then(secs_to_us))
        }
        Value::Number(n) => match n.as_i64() {
            Some(secs) => secs.checked_mul(1_000_000).filter(|us| in_range(*us)),
            None => n.as_f64().and_then(secs_to_us),
        },
        _ => None,
    }
}

fn in_range(us: i64) -> bool {
    (MIN_US..=MAX_US).contains(&us)
}

fn secs_to_us(secs: f64) -> Option<i64> {
    if !secs.is_finite() {
        return None;
    }
    let us = (secs * 1_000_000.0).round();
    // The range check keeps the cast below exact and lossless.
    if us < MIN_US as f64 || us > MAX_US as f64 {
        return None;
    }
    Some(us as i64)
}

/// A tiny cursor over ASCII digits and separators.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, n: usize) -> Option<i64> {
        let end = self.i.checked_add(n)?;
        let slice = self.b.get(self.i..end)?;
        let mut v = 0i64;
        for &c in slice {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        self.i = end;
        Some(v)
    }

    fn eat(&mut self, set: &[u8]) -> Option<u8> {
        let c = *self.b.get(self.i)?;
        if set.contains(&c) {
            self.i += 1;
            Some(c)
        } else {
            None
        }
    }

    fn done(&self) -> bool {
        self.i == self.b.len()
    }
}

/// Parses `YYYY-MM-DD[(T|t| )hh:mm[:ss[(.|,)frac]]][Z|z|±hh[:]mm|±hh]` to epoch microseconds.
/// No zone means UTC; fraction digits beyond microseconds are truncated.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let mut c = Cursor {
        b: s.as_bytes(),
        i: 0,
    };
    let year = c.digits(4)?;
    c.eat(b"-")?;
    let month = c.digits(2)?;
    c.eat(b"-")?;
    let day = c.digits(2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let (mut hour, mut minute, mut second, mut micros) = (0, 0, 0, 0);
    if c.eat(b"Tt ").is_some() {
        hour = c.digits(2)?;
        c.eat(b":")?;
        minute = c.digits(2)?;
        if c.eat(b":").is_some() {
            second = c.digits(2)?;
            if c.eat(b".,").is_some() {
                let start = c.i;
                let mut scale = 100_000;
                while let Some(d) = c.digits(1) {
                    micros += d * scale;
                    scale /= 10;
                }
                if c.i == start {
                    return None;
                }
            }
        }
    }
    // A leap second is clamped to the last representable microsecond of its minute.
    if second == 60 {
        second = 59;
        micros = 999_999;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let offset_secs = if c.done() || c.eat(b"Zz").is_some() {
        0
    } else {
        let sign = if c.eat(b"+-")? == b'-' { -1 } else { 1 };
        let oh = c.digits(2)?;
        c.eat(b":");
        let om = if c.done() { 0 } else { c.digits(2)? };
        if oh > 23 || om > 59 {
            return None;
        }
        sign * (oh * 3600 + om * 60)
    };
    if !c.done() {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    let us = secs.checked_mul(1_000_000)?.checked_add(micros)?;
    in_range(us).then_some(us)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Formats epoch microseconds as `YYYY-MM-DDThh:mm:ss.ffffffZ`.
pub fn format_us(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let micros = us.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn roundtrip(v: Value) -> Option<String> {
        value_to_us(&v).map(format_us)
    }

    #[test]
    fn rfc3339_forms() {
        let want = Some("2026-11-22T03:33:10.625591Z".to_owned());
        assert_eq!(roundtrip(json!("2026-11-22T03:33:10.625591Z")), want);
        assert_eq!(roundtrip(json!("2026-11-22T03:33:10.625591")), want);
        assert_eq!(roundtrip(json!("2026-11-22T05:33:10.625591+02:00")), want);
        assert_eq!(roundtrip(json!("2026-11-22T00:03:10.625591123-0330")), want);
        assert_eq!(roundtrip(json!("2026-11-22 03:33:10,625591z")), want);
        assert_eq!(
            roundtrip(json!("2026-11-22T03:36:24Z")),
            Some("2026-11-22T03:36:24.000000Z".to_owned())
        );
        assert_eq!(
            roundtrip(json!("1969-12-31T23:59:59.5Z")),
            Some("1969-12-31T23:59:59.500000Z".to_owned())
        );
    }

    #[test]
    fn epoch_seconds() {
        assert_eq!(
            roundtrip(json!(0)),
            Some("1970-01-01T00:00:00.000000Z".to_owned())
        );
        assert_eq!(
            roundtrip(json!(1_795_000_000.25)),
            Some("2026-11-18T11:06:40.250000Z".to_owned())
        );
        assert_eq!(
            roundtrip(json!("1795000000.25")),
            Some("2026-11-18T11:06:40.250000Z".to_owned())
        );
    }

    #[test]
    fn garbage() {
        for v in [
            json!("yesterday"),
            json!("2026-02-30T00:00:00Z"),
            json!("2026-11-22T25:00:00Z"),
            json!("2026-11-22T03:33:10.Z"),
            json!("2026-11-22T03:33:10Zjunk"),
            json!(1e300),
            json!(true),
            json!({}),
        ] {
            assert_eq!(value_to_us(&v), None, "{v}");
        }
    }

    #[test]
    fn timestamps_outside_the_bounds_become_the_receive_time() {
        let received_us = 1_795_000_000 * 1_000_000;
        let run = |ts: Value| {
            let mut ev = Map::new();
            ev.insert("timestamp".to_owned(), ts);
            let mut notes = Notes::default();
            let us = normalize(&mut ev, received_us, TimestampBounds::default(), &mut notes);
            (us, notes.entries().to_vec())
        };
        let (us, notes) = run(json!(253_402_300_799_i64));
        assert_eq!(us, received_us);
        assert_eq!(notes[0]["type"], "future_timestamp");
        assert_eq!(notes[0]["name"], "timestamp");
        assert_eq!(notes[0]["value"], 253_402_300_799_i64);
        assert_eq!(notes[0]["sdk_time"], "9999-12-31T23:59:59.000000Z");
        assert_eq!(notes[0]["server_time"], "2026-11-18T11:06:40.000000Z");
        let (us, notes) = run(json!("1970-01-01T00:00:00Z"));
        assert_eq!(
            (us, notes[0]["type"].as_str()),
            (received_us, Some("past_timestamp"))
        );
        // Within a minute ahead and 90 days back: kept.
        let (us, notes) = run(json!(1_795_000_060));
        assert_eq!((us, notes.len()), (received_us + 60_000_000, 0));
        let (us, notes) = run(json!(1_795_000_000 - 90 * 86_400));
        assert_eq!((us, notes.len()), (received_us - 90 * 86_400_000_000, 0));
        let (_, notes) = run(json!(1_795_000_061));
        assert_eq!(notes.len(), 1);
        let (_, notes) = run(json!(1_795_000_000 - 90 * 86_400 - 1));
        assert_eq!(notes.len(), 1);
    }

    #[test]
    fn civil_roundtrip() {
        for days in [-719_162, -1, 0, 1, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
