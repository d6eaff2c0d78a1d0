//! Cron monitors, compatible with Sentry Crons (sentry-protocol-more.md 1): an SDK (or a
//! `curl` in a crontab line) checks in when a job starts and ends; Errata learns the schedule
//! from the check-in's `monitor_config` (or from a person), expects the next check-in, and
//! records `missed` when it does not come and `timeout` when a job runs too long.
//!
//! * [`schedule`]: crontab (croner, in an IANA time zone, DST included) and interval
//!   schedules: the next expected time, the schedule in words.
//! * [`config`]: a monitor's configuration and its validation (check-ins, API, web form).
//! * [`checkin`]: a check-in as it arrives (envelope item or HTTP), validated.
//! * [`early`]: finishing check-ins that overtook the check-in creating their monitor.
//! * [`status`]: a monitor's status, per environment and overall.
//! * [`process`]: recording a check-in in one transaction, and settling results against the
//!   incident thresholds ([`crate::monitors::incident`]).
//! * [`event`]: the issue event of a failure (one issue per monitor and environment).
//! * [`clock`]: the `monitor-clock` maintenance job: missed and timed-out check-ins.
//! * [`manage`]: creating, changing, pausing and deleting monitors (API and pages).
//! * [`notice`]: what a notification about a monitor's incident says.
//!
//! A monitor belongs to a project and is named by its slug; each environment a check-in names
//! has its own status, schedule state, counters and incidents. Nothing is expected of an
//! environment before its first check-in (status `new`), as in Sentry.

pub mod checkin;
pub mod clock;
pub mod config;
pub mod early;
pub mod event;
pub mod manage;
pub mod notice;
pub mod process;
pub mod schedule;
pub mod status;

pub use checkin::{CheckIn, CheckInError, CheckInStatus};
pub use clock::MonitorClock;
pub use config::{ConfigError, MonitorConfig};
pub use early::EarlyFinishes;
pub use process::{record, RecordError, Recorded};
pub use schedule::{IntervalUnit, Schedule, ScheduleError, Zone};
pub use status::MonitorStatus;
