//! View-model pieces of the monitor pages: environments, times to come, the form's values.

use serde::Serialize;

use crate::monitors::cron::{IntervalUnit, MonitorStatus, Schedule};
use crate::store::{Monitor, MonitorEnvironment};
use crate::timefmt::rfc3339_ms;
use crate::web::view::{when, When};

/// A status as a badge: class and words.
#[derive(Debug, Serialize)]
pub struct StatusView {
    /// `ok`, `missed`, … (the CSS class).
    pub name: &'static str,
    /// `OK`, `Missed`, ….
    pub label: &'static str,
}

impl StatusView {
    /// The badge of `s`.
    pub fn of(s: MonitorStatus) -> StatusView {
        StatusView {
            name: s.as_str(),
            label: s.label(),
        }
    }
}

/// An expected moment: "in 5 min" or "3 min overdue", with its exact form.
#[derive(Debug, Serialize)]
pub struct Due {
    /// Relative to now.
    pub text: String,
    /// RFC 3339 UTC.
    pub iso: String,
    /// True when it has passed.
    pub overdue: bool,
}

/// [`Due`] of `ms` seen at `now`.
pub fn due(ms: i64, now: i64) -> Due {
    let overdue = ms < now;
    let secs = (ms - now).abs() / 1000;
    let amount = match secs {
        0..=59 => "less than a minute".to_owned(),
        60..=3599 => format!("{} min", secs / 60),
        3600..=86_399 => format!("{} h {} min", secs / 3600, secs / 60 % 60),
        _ => format!("{} days", secs / 86_400),
    };
    Due {
        text: if overdue {
            format!("{amount} overdue")
        } else {
            format!("in {amount}")
        },
        iso: rfc3339_ms(ms),
        overdue,
    }
}

/// One environment of a monitor.
#[derive(Debug, Serialize)]
pub struct EnvironmentView {
    /// Its name (from the client: escaped by the template).
    pub name: String,
    /// Its status.
    pub status: StatusView,
    /// Latest check-in.
    pub last: Option<When>,
    /// Next expected check-in.
    pub next: Option<Due>,
    /// Latest good run.
    pub last_ok: Option<When>,
    /// An incident is open.
    pub failing: bool,
}

impl EnvironmentView {
    /// The view of `e` at `now`; a paused monitor expects nothing.
    pub fn of(e: &MonitorEnvironment, paused: bool, now: i64) -> EnvironmentView {
        EnvironmentView {
            name: e.environment.clone(),
            status: StatusView::of(e.status),
            last: e.last_checkin_ms.map(|ms| when(ms, now)),
            next: e.next_checkin_ms.filter(|_| !paused).map(|ms| due(ms, now)),
            last_ok: e.last_ok_ms.map(|ms| when(ms, now)),
            failing: e.incident_id.is_some(),
        }
    }
}

/// The values of the create/edit form.
#[derive(Debug, Serialize)]
pub struct FormValues {
    /// Slug (create only).
    pub slug: String,
    /// Name.
    pub name: String,
    /// `crontab` or `interval`.
    pub schedule_type: &'static str,
    /// The crontab expression.
    pub crontab: String,
    /// The interval's value.
    pub interval_value: u64,
    /// The interval's unit.
    pub interval_unit: &'static str,
    /// IANA time zone.
    pub timezone: &'static str,
    /// Minutes.
    pub checkin_margin: i64,
    /// Minutes.
    pub max_runtime: i64,
    /// Failures that open an incident.
    pub failure_issue_threshold: i64,
    /// Successes that resolve it.
    pub recovery_threshold: i64,
}

impl FormValues {
    /// The form of a new monitor (`0 * * * *`, UTC, defaults).
    pub fn blank() -> FormValues {
        FormValues {
            slug: String::new(),
            name: String::new(),
            schedule_type: "crontab",
            crontab: "0 * * * *".into(),
            interval_value: 1,
            interval_unit: "day",
            timezone: "UTC",
            checkin_margin: 1,
            max_runtime: 30,
            failure_issue_threshold: 1,
            recovery_threshold: 1,
        }
    }

    /// The form filled with `m`'s values.
    pub fn of(m: &Monitor) -> FormValues {
        let c = &m.config;
        let (schedule_type, crontab, interval_value, interval_unit) = match &c.schedule {
            Schedule::Crontab { value } => ("crontab", value.clone(), 1, "day"),
            Schedule::Interval { value, unit } => {
                ("interval", "0 * * * *".to_owned(), *value, unit.as_str())
            }
        };
        FormValues {
            slug: m.slug.clone(),
            name: m.name.clone(),
            schedule_type,
            crontab,
            interval_value,
            interval_unit,
            timezone: c.timezone.name(),
            checkin_margin: c.checkin_margin,
            max_runtime: c.max_runtime,
            failure_issue_threshold: c.failure_issue_threshold,
            recovery_threshold: c.recovery_threshold,
        }
    }
}

/// The interval units, for the form's menu.
pub fn units() -> Vec<&'static str> {
    IntervalUnit::ALL.iter().map(|u| u.as_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_times_read_both_ways() {
        let now = 1_000_000_000_000;
        assert_eq!(due(now + 5 * 60_000, now).text, "in 5 min");
        let late = due(now - 3 * 60_000, now);
        assert_eq!((late.text.as_str(), late.overdue), ("3 min overdue", true));
        assert_eq!(due(now + 2 * 3_600_000 + 60_000, now).text, "in 2 h 1 min");
    }
}
