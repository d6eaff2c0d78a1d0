//! When a monitored job is expected: a crontab expression in a time zone, or a fixed interval
//! after the last check-in (Sentry's `monitor_config.schedule`, sentry-protocol-more.md 1).
//!
//! * **Crontab**: five fields (minute, hour, day of month, month, day of week) or a nickname
//!   (`@daily`), parsed and evaluated by the `croner` crate in the monitor's IANA time zone
//!   (`chrono-tz`). Daylight saving time follows croner's (Vixie/OCPS) rules: a fixed-time job
//!   whose wall-clock time falls into the spring-forward gap runs at the first instant after
//!   the gap, and in the autumn overlap it runs once, at the first of the two instants; jobs
//!   with wildcard or stepped hours run in every real hour.
//! * **Interval**: `value` × `unit` (`minute`, `hour`, `day`, `week`, `month`, `year`) added to
//!   the reference time in UTC, months and years as calendar months (31 Jan + 1 month =
//!   28/29 Feb), as Sentry's `relativedelta` does.
//!
//! Times are epoch milliseconds. As in Sentry, the reference time is truncated to the minute
//! before the next time is computed, so a job that checks in at 02:00:40 for its 02:00 slot is
//! next expected at the following slot, not again at 02:00.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Months, TimeZone, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use serde::{Deserialize, Serialize};

use crate::clock::{DAY_MS, HOUR_MS, MINUTE_MS};

/// Largest interval `value` accepted (a larger one would overflow the time arithmetic long
/// before it made sense).
pub const MAX_INTERVAL: u64 = 100_000;

/// Longest crontab expression accepted, characters.
pub const MAX_CRONTAB_CHARS: usize = 200;

/// A monitor's schedule, in its wire form (`{"type":"crontab","value":"0 2 * * *"}` or
/// `{"type":"interval","value":2,"unit":"hour"}`). Build it with [`Schedule::crontab`] or
/// [`Schedule::interval`], which validate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Schedule {
    /// A crontab expression, evaluated in the monitor's time zone.
    Crontab {
        /// The expression as given (trimmed).
        value: String,
    },
    /// Every `value` `unit`s after the previous check-in.
    Interval {
        /// How many units, 1 to [`MAX_INTERVAL`].
        value: u64,
        /// The unit.
        unit: IntervalUnit,
    },
}

/// The unit of an interval schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntervalUnit {
    /// 60 s.
    Minute,
    /// 60 min.
    Hour,
    /// 24 h.
    Day,
    /// 7 days.
    Week,
    /// A calendar month (UTC).
    Month,
    /// Twelve calendar months (UTC).
    Year,
}

impl IntervalUnit {
    /// Every unit, smallest first.
    pub const ALL: [IntervalUnit; 6] = [
        IntervalUnit::Minute,
        IntervalUnit::Hour,
        IntervalUnit::Day,
        IntervalUnit::Week,
        IntervalUnit::Month,
        IntervalUnit::Year,
    ];

    /// The wire name (`minute`, …, `year`).
    pub fn as_str(self) -> &'static str {
        match self {
            IntervalUnit::Minute => "minute",
            IntervalUnit::Hour => "hour",
            IntervalUnit::Day => "day",
            IntervalUnit::Week => "week",
            IntervalUnit::Month => "month",
            IntervalUnit::Year => "year",
        }
    }

    /// The unit named `name` (singular or plural, any case).
    pub fn parse(name: &str) -> Option<IntervalUnit> {
        let name = name.trim().to_ascii_lowercase();
        let name = name.strip_suffix('s').unwrap_or(&name);
        IntervalUnit::ALL.into_iter().find(|u| u.as_str() == name)
    }
}

/// Why a schedule or time zone was refused; the message names the value and says what is
/// expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// Not a crontab expression croner accepts.
    #[error("schedule {value:?} is not a valid crontab expression: {reason}")]
    Crontab {
        /// The expression.
        value: String,
        /// croner's reason.
        reason: String,
    },
    /// A crontab expression that never matches (`0 0 30 2 *`).
    #[error("schedule {0:?} never matches a real date")]
    NeverMatches(String),
    /// An interval value out of range.
    #[error("an interval schedule needs a value from 1 to {MAX_INTERVAL}, not {0}")]
    IntervalValue(u64),
    /// An interval unit that is not one of the six.
    #[error("interval unit {0:?} is not one of minute, hour, day, week, month, year")]
    IntervalUnit(String),
    /// A time zone name that is not in the IANA database.
    #[error("timezone {0:?} is not an IANA time zone name (like UTC or Europe/Berlin)")]
    TimeZone(String),
    /// The next time is beyond what the clock can represent.
    #[error("the schedule has no next time after this one")]
    OutOfRange,
}

/// A validated IANA time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone(Tz);

impl Zone {
    /// UTC.
    pub const UTC: Zone = Zone(Tz::UTC);

    /// The IANA name (`Europe/Berlin`).
    pub fn name(&self) -> &'static str {
        self.0.name()
    }
}

impl FromStr for Zone {
    type Err = ScheduleError;

    /// Parses an IANA name (`Europe/Berlin`, `UTC`), spelled as in the database.
    fn from_str(s: &str) -> Result<Zone, ScheduleError> {
        Tz::from_str(s.trim())
            .map(Zone)
            .map_err(|_| ScheduleError::TimeZone(s.to_owned()))
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The crontab dialect: five fields (minute granularity, no year), as Sentry's crontabs.
fn parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
}

fn parse_cron(value: &str) -> Result<Cron, ScheduleError> {
    parser().parse(value).map_err(|e| ScheduleError::Crontab {
        value: value.to_owned(),
        reason: e.to_string(),
    })
}

impl Schedule {
    /// A crontab schedule; checks that the expression parses and matches some date within a
    /// few years of 2024 (so `0 0 30 2 *` is refused). Errors: [`ScheduleError::Crontab`],
    /// [`ScheduleError::NeverMatches`].
    pub fn crontab(value: &str) -> Result<Schedule, ScheduleError> {
        let value = value.trim();
        if value.is_empty() || value.chars().count() > MAX_CRONTAB_CHARS {
            return Err(ScheduleError::Crontab {
                value: value.chars().take(MAX_CRONTAB_CHARS).collect(),
                reason: format!("give 5 fields in 1 to {MAX_CRONTAB_CHARS} characters"),
            });
        }
        let cron = parse_cron(value)?;
        let start = Utc.timestamp_opt(1_704_067_200, 0).single(); // 2024-01-01T00:00Z
        let found = start.is_some_and(|t| cron.find_next_occurrence(&t, false).is_ok());
        if !found {
            return Err(ScheduleError::NeverMatches(value.to_owned()));
        }
        Ok(Schedule::Crontab {
            value: value.to_owned(),
        })
    }

    /// An interval schedule. Errors: [`ScheduleError::IntervalValue`].
    pub fn interval(value: u64, unit: IntervalUnit) -> Result<Schedule, ScheduleError> {
        if !(1..=MAX_INTERVAL).contains(&value) {
            return Err(ScheduleError::IntervalValue(value));
        }
        Ok(Schedule::Interval { value, unit })
    }

    /// `crontab` or `interval`.
    pub fn kind(&self) -> &'static str {
        match self {
            Schedule::Crontab { .. } => "crontab",
            Schedule::Interval { .. } => "interval",
        }
    }

    /// The first expected time strictly after `after_ms` truncated to the minute, epoch ms
    /// (see the module docs). Errors: [`ScheduleError::OutOfRange`], or a crontab stored
    /// before a rule change that no longer parses.
    pub fn next_after(&self, after_ms: i64, zone: Zone) -> Result<i64, ScheduleError> {
        let reference = after_ms.div_euclid(MINUTE_MS) * MINUTE_MS;
        match self {
            Schedule::Crontab { value } => {
                let cron = parse_cron(value)?;
                let start = zone
                    .0
                    .timestamp_millis_opt(reference)
                    .single()
                    .ok_or(ScheduleError::OutOfRange)?;
                let next = cron
                    .find_next_occurrence(&start, false)
                    .map_err(|_| ScheduleError::NeverMatches(value.clone()))?;
                Ok(next.timestamp_millis())
            }
            Schedule::Interval { value, unit } => {
                let n = i64::try_from(*value).map_err(|_| ScheduleError::OutOfRange)?;
                let fixed = |unit_ms: i64| {
                    n.checked_mul(unit_ms)
                        .and_then(|d| reference.checked_add(d))
                        .ok_or(ScheduleError::OutOfRange)
                };
                match unit {
                    IntervalUnit::Minute => fixed(MINUTE_MS),
                    IntervalUnit::Hour => fixed(HOUR_MS),
                    IntervalUnit::Day => fixed(DAY_MS),
                    IntervalUnit::Week => fixed(7 * DAY_MS),
                    IntervalUnit::Month | IntervalUnit::Year => {
                        let months = if *unit == IntervalUnit::Year {
                            value.checked_mul(12)
                        } else {
                            Some(*value)
                        };
                        let months = months
                            .and_then(|m| u32::try_from(m).ok())
                            .ok_or(ScheduleError::OutOfRange)?;
                        let start: DateTime<Utc> = Utc
                            .timestamp_millis_opt(reference)
                            .single()
                            .ok_or(ScheduleError::OutOfRange)?;
                        start
                            .checked_add_months(Months::new(months))
                            .map(|t| t.timestamp_millis())
                            .ok_or(ScheduleError::OutOfRange)
                    }
                }
            }
        }
    }

    /// The schedule in words: `At 02:00 (Europe/Berlin)`, `Every 2 hours`.
    pub fn describe(&self, zone: Zone) -> String {
        match self {
            Schedule::Crontab { value } => match parse_cron(value) {
                Ok(cron) => format!("{} ({zone})", capitalize(&cron.describe())),
                Err(_) => format!("{value} ({zone})"),
            },
            Schedule::Interval { value: 1, unit } => format!("Every {}", unit.as_str()),
            Schedule::Interval { value, unit } => format!("Every {value} {}s", unit.as_str()),
        }
    }

    /// The schedule as a crontab line or `every N unit(s)`, for tables and forms.
    pub fn short(&self) -> String {
        match self {
            Schedule::Crontab { value } => value.clone(),
            Schedule::Interval { value: 1, unit } => format!("every {}", unit.as_str()),
            Schedule::Interval { value, unit } => format!("every {value} {}s", unit.as_str()),
        }
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `2026-01-10 02:00 Europe/Berlin`: a moment as a date and wall-clock time in `zone`.
pub fn local_datetime(ms: i64, zone: Zone) -> String {
    match zone.0.timestamp_millis_opt(ms).single() {
        Some(t) => format!("{} {zone}", t.format("%Y-%m-%d %H:%M")),
        None => crate::timefmt::rfc3339_ms(ms),
    }
}

/// `02:00 Europe/Berlin`: a moment as a wall-clock time in `zone` (with the date when it is
/// not the same day as `now_ms` there), for messages.
pub fn local_time(ms: i64, zone: Zone, now_ms: i64) -> String {
    let (Some(t), Some(now)) = (
        zone.0.timestamp_millis_opt(ms).single(),
        zone.0.timestamp_millis_opt(now_ms).single(),
    ) else {
        return crate::timefmt::rfc3339_ms(ms);
    };
    if t.date_naive() == now.date_naive() {
        format!("{} {zone}", t.format("%H:%M"))
    } else {
        local_datetime(ms, zone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Epoch ms of a UTC wall-clock time.
    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("valid")
            .timestamp_millis()
    }

    fn berlin() -> Zone {
        "Europe/Berlin".parse().expect("zone")
    }

    #[test]
    fn crontab_runs_in_its_time_zone() {
        let s = Schedule::crontab("0 2 * * *").expect("valid");
        // 2026-01-10 02:00 Berlin is 01:00 UTC (CET, +1).
        let after = utc(2026, 1, 9, 12, 0);
        assert_eq!(
            s.next_after(after, berlin()).unwrap(),
            utc(2026, 1, 10, 1, 0)
        );
        assert_eq!(
            s.next_after(after, Zone::UTC).unwrap(),
            utc(2026, 1, 10, 2, 0)
        );
        // A check-in during the slot's minute expects the next day's slot.
        let during = utc(2026, 1, 10, 1, 0) + 40_000;
        assert_eq!(
            s.next_after(during, berlin()).unwrap(),
            utc(2026, 1, 11, 1, 0)
        );
    }

    #[test]
    fn crontab_across_the_march_dst_change_in_berlin() {
        // 2026-03-29: clocks go from 02:00 CET to 03:00 CEST; 02:30 does not exist.
        let s = Schedule::crontab("30 2 * * *").expect("valid");
        let day_before = utc(2026, 3, 28, 1, 30); // 02:30 CET on the 28th
        assert_eq!(
            s.next_after(utc(2026, 3, 27, 12, 0), berlin()).unwrap(),
            day_before
        );
        // The 29th's 02:30 falls in the gap: the job runs at the first instant after it,
        // 03:00 CEST = 01:00 UTC.
        let gap = s.next_after(day_before, berlin()).unwrap();
        assert_eq!(gap, utc(2026, 3, 29, 1, 0));
        // Then 02:30 CEST = 00:30 UTC on the 30th: 23.5 hours later, not 24.
        let after_gap = s.next_after(gap, berlin()).unwrap();
        assert_eq!(after_gap, utc(2026, 3, 30, 0, 30));
        // An hourly job simply skips the missing hour.
        let hourly = Schedule::crontab("0 * * * *").unwrap();
        let t = hourly
            .next_after(utc(2026, 3, 29, 0, 30), berlin())
            .unwrap();
        assert_eq!(t, utc(2026, 3, 29, 1, 0), "01:00 UTC is 03:00 CEST");
        assert_eq!(t - utc(2026, 3, 29, 0, 0), HOUR_MS, "no slot is lost");
    }

    #[test]
    fn crontab_across_the_october_dst_change_in_berlin() {
        // 2026-10-25: clocks go from 03:00 CEST back to 02:00 CET; 02:30 happens twice.
        let s = Schedule::crontab("30 2 * * *").expect("valid");
        let first = s
            .next_after(utc(2026, 10, 24, 12, 0), berlin())
            .expect("next");
        assert_eq!(
            first,
            utc(2026, 10, 25, 0, 30),
            "02:30 CEST, the first 02:30"
        );
        let next = s.next_after(first, berlin()).unwrap();
        assert_eq!(
            next,
            utc(2026, 10, 26, 1, 30),
            "once per day: the repeated 02:30 CET is not a second run"
        );
        assert_eq!(next - first, 25 * HOUR_MS);
        // The daily 04:00 job is 25 hours from the day before too.
        let four = Schedule::crontab("0 4 * * *").unwrap();
        let a = four.next_after(utc(2026, 10, 24, 0, 0), berlin()).unwrap();
        let b = four.next_after(a, berlin()).unwrap();
        assert_eq!(b - a, 25 * HOUR_MS);
    }

    #[test]
    fn intervals_add_to_the_minute_of_the_last_check_in() {
        let at = utc(2026, 1, 31, 10, 15) + 42_000;
        let every = |v, u| Schedule::interval(v, u).unwrap();
        assert_eq!(
            every(5, IntervalUnit::Minute).next_after(at, Zone::UTC),
            Ok(utc(2026, 1, 31, 10, 20))
        );
        assert_eq!(
            every(2, IntervalUnit::Hour).next_after(at, Zone::UTC),
            Ok(utc(2026, 1, 31, 12, 15))
        );
        assert_eq!(
            every(1, IntervalUnit::Week).next_after(at, Zone::UTC),
            Ok(utc(2026, 2, 7, 10, 15))
        );
        assert_eq!(
            every(1, IntervalUnit::Month).next_after(at, Zone::UTC),
            Ok(utc(2026, 2, 28, 10, 15)),
            "31 Jan + 1 month is the last day of February"
        );
        assert_eq!(
            every(1, IntervalUnit::Year).next_after(at, Zone::UTC),
            Ok(utc(2027, 1, 31, 10, 15))
        );
    }

    #[test]
    fn bad_schedules_and_zones_say_why() {
        assert!(matches!(
            Schedule::crontab("61 * * * *"),
            Err(ScheduleError::Crontab { .. })
        ));
        assert!(matches!(
            Schedule::crontab("not a crontab"),
            Err(ScheduleError::Crontab { .. })
        ));
        assert!(
            matches!(
                Schedule::crontab("0 0 0 * * *"),
                Err(ScheduleError::Crontab { .. })
            ),
            "six fields (seconds) are refused"
        );
        assert_eq!(
            Schedule::crontab("0 0 30 2 *"),
            Err(ScheduleError::NeverMatches("0 0 30 2 *".into()))
        );
        assert_eq!(
            Schedule::interval(0, IntervalUnit::Day),
            Err(ScheduleError::IntervalValue(0))
        );
        let err = "Mars/Olympus_Mons".parse::<Zone>().unwrap_err();
        assert!(err.to_string().contains("not an IANA time zone"), "{err}");
        assert!(
            "europe/berlin".parse::<Zone>().is_err(),
            "spelled as in the database"
        );
        assert_eq!(IntervalUnit::parse("Hours"), Some(IntervalUnit::Hour));
        assert_eq!(IntervalUnit::parse("fortnight"), None);
    }

    #[test]
    fn schedules_in_words() {
        let s = Schedule::crontab("0 2 * * *").unwrap();
        let words = s.describe(berlin());
        assert!(
            words.contains("02:00") && words.ends_with("(Europe/Berlin)"),
            "{words}"
        );
        assert_eq!(
            Schedule::interval(2, IntervalUnit::Hour)
                .unwrap()
                .describe(Zone::UTC),
            "Every 2 hours"
        );
        assert_eq!(
            Schedule::interval(1, IntervalUnit::Day).unwrap().short(),
            "every day"
        );
        let wire: Schedule =
            serde_json::from_str(r#"{"type":"interval","value":3,"unit":"week"}"#).unwrap();
        assert_eq!(wire, Schedule::interval(3, IntervalUnit::Week).unwrap());
        assert_eq!(
            serde_json::to_string(&Schedule::crontab("@daily").unwrap()).unwrap(),
            r#"{"type":"crontab","value":"@daily"}"#
        );
        assert_eq!(
            local_time(utc(2026, 1, 10, 1, 0), berlin(), utc(2026, 1, 10, 3, 0)),
            "02:00 Europe/Berlin"
        );
    }
}
