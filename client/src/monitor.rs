//! Cron monitors: tell the server when a scheduled job runs, so it notices when one does not
//! (Sentry's check-ins: a `check_in` envelope item per check-in).
//!
//! ```no_run
//! let _guard = errata::init("http://publickey@127.0.0.1:9000/1");
//! let config = errata::MonitorConfig::crontab("0 2 * * *")
//!     .timezone("Europe/Berlin")
//!     .max_runtime(60);
//! // `in_progress` now, then `ok` (or `error` for an `Err` or a panic) with the duration.
//! let result: Result<(), std::io::Error> =
//!     errata::monitor("nightly-backup", Some(config), || Ok(()));
//! ```
//!
//! [`monitor`] wraps a job: it sends `in_progress`, runs the job, and sends `ok` or `error`
//! with the same `check_in_id` and the duration. An `Err` result is an error; so is a panic,
//! which the panic hook captures as an event as usual before the error check-in is sent and
//! the panic goes on (with `panic = "abort"` nothing runs after the hook, so the error
//! check-in is not sent: the server then records a time-out). [`check_in`] sends one
//! check-in, for jobs that report their own start and end. The configuration, when given,
//! creates the monitor on the server or updates it; environment and release default to the
//! client's. Without an active client nothing is sent.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use serde::{Serialize, Serializer};

use crate::hub::Hub;
use crate::protocol::{Envelope, Item, ItemType};

/// How a check-in reports the job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckInStatus {
    /// The job started.
    InProgress,
    /// The job finished successfully.
    Ok,
    /// The job failed.
    Error,
}

/// The unit of an interval schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IntervalUnit {
    /// Minutes.
    Minute,
    /// Hours.
    Hour,
    /// Days.
    Day,
    /// Weeks.
    Week,
    /// Calendar months.
    Month,
    /// Years.
    Year,
}

/// When the job is expected to run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MonitorSchedule {
    /// A crontab expression (`0 2 * * *`), in the monitor's time zone.
    Crontab {
        /// The expression.
        value: String,
    },
    /// Every `value` `unit`s after the last check-in.
    Interval {
        /// How many units.
        value: u64,
        /// The unit.
        unit: IntervalUnit,
    },
}

/// A monitor's configuration, sent with check-ins to create or update it. Fields left unset
/// take the server's defaults (margin 1 min, max runtime 30 min, UTC, thresholds 1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[must_use = "a config does nothing until passed to errata::monitor or a CheckIn"]
pub struct MonitorConfig {
    schedule: MonitorSchedule,
    #[serde(skip_serializing_if = "Option::is_none")]
    checkin_margin: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_runtime: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timezone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_issue_threshold: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_threshold: Option<u64>,
}

impl MonitorConfig {
    fn new(schedule: MonitorSchedule) -> Self {
        MonitorConfig {
            schedule,
            checkin_margin: None,
            max_runtime: None,
            timezone: None,
            failure_issue_threshold: None,
            recovery_threshold: None,
        }
    }

    /// A crontab schedule (`0 2 * * *`; five fields).
    pub fn crontab(expression: impl Into<String>) -> Self {
        Self::new(MonitorSchedule::Crontab {
            value: expression.into(),
        })
    }

    /// Every `value` `unit`s.
    pub fn interval(value: u64, unit: IntervalUnit) -> Self {
        Self::new(MonitorSchedule::Interval { value, unit })
    }

    /// Minutes after the expected time before a check-in counts as missed.
    pub fn checkin_margin(mut self, minutes: u64) -> Self {
        self.checkin_margin = Some(minutes);
        self
    }

    /// Minutes a run may take before it counts as timed out.
    pub fn max_runtime(mut self, minutes: u64) -> Self {
        self.max_runtime = Some(minutes);
        self
    }

    /// The IANA time zone of a crontab schedule (`Europe/Berlin`).
    pub fn timezone(mut self, zone: impl Into<String>) -> Self {
        self.timezone = Some(zone.into());
        self
    }

    /// Consecutive failures before the server opens an incident.
    pub fn failure_issue_threshold(mut self, n: u64) -> Self {
        self.failure_issue_threshold = Some(n);
        self
    }

    /// Consecutive successes before the server resolves it.
    pub fn recovery_threshold(mut self, n: u64) -> Self {
        self.recovery_threshold = Some(n);
        self
    }
}

/// One check-in (the `check_in` item's payload).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[must_use = "a check-in is sent by errata::check_in"]
pub struct CheckIn {
    #[serde(serialize_with = "simple_uuid")]
    check_in_id: uuid::Uuid,
    monitor_slug: String,
    status: CheckInStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    environment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    release: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    monitor_config: Option<MonitorConfig>,
}

fn simple_uuid<S: Serializer>(id: &uuid::Uuid, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&id.simple())
}

impl CheckIn {
    /// A check-in of monitor `slug` with a new id.
    pub fn new(slug: impl Into<String>, status: CheckInStatus) -> Self {
        CheckIn {
            check_in_id: uuid::Uuid::new_v4(),
            monitor_slug: slug.into(),
            status,
            duration: None,
            environment: None,
            release: None,
            monitor_config: None,
        }
    }

    /// The id of the check-in this one continues (an `ok` after an `in_progress`).
    pub fn id(mut self, id: uuid::Uuid) -> Self {
        self.check_in_id = id;
        self
    }

    /// How long the job ran.
    pub fn duration(mut self, d: Duration) -> Self {
        self.duration = Some(d.as_secs_f64());
        self
    }

    /// The environment (default: the client's, else the server's `production`).
    pub fn environment(mut self, env: impl Into<String>) -> Self {
        self.environment = Some(env.into());
        self
    }

    /// The release (default: the client's).
    pub fn release(mut self, release: impl Into<String>) -> Self {
        self.release = Some(release.into());
        self
    }

    /// The monitor's configuration (creates or updates the monitor).
    pub fn config(mut self, config: MonitorConfig) -> Self {
        self.monitor_config = Some(config);
        self
    }

    /// Its id.
    pub fn check_in_id(&self) -> uuid::Uuid {
        self.check_in_id
    }
}

/// Sends a check-in through the current hub's client and returns its id (also when nothing
/// was sent: no client, the SDK disabled, or the queue full).
pub fn check_in(mut checkin: CheckIn) -> uuid::Uuid {
    let id = checkin.check_in_id;
    Hub::with_current(|hub| {
        let Some(client) = hub.client().filter(|c| c.is_enabled()) else {
            return;
        };
        let options = client.options();
        if checkin.environment.is_none() {
            checkin.environment = options.environment.as_deref().map(str::to_owned);
        }
        if checkin.release.is_none() {
            checkin.release = options.release.as_deref().map(str::to_owned);
        }
        let Ok(payload) = serde_json::to_vec(&checkin) else {
            return;
        };
        client.send_envelope(Envelope {
            event_id: None,
            dsn: None,
            items: vec![Item {
                ty: ItemType::CheckIn,
                payload,
            }],
        });
    });
    id
}

/// What a job returns, as a check-in sees it: failed or not.
pub trait JobOutcome {
    /// True when the job failed (an error check-in).
    fn failed(&self) -> bool;
}

impl JobOutcome for () {
    fn failed(&self) -> bool {
        false
    }
}

impl<T, E> JobOutcome for Result<T, E> {
    fn failed(&self) -> bool {
        self.is_err()
    }
}

/// Runs `job` as a run of monitor `slug`: an `in_progress` check-in before, an `ok` or
/// `error` one after with its duration (see the module docs). Returns what the job
/// returned; a panic goes on after the error check-in is sent (and flushed).
pub fn monitor<R: JobOutcome>(
    slug: &str,
    config: Option<MonitorConfig>,
    job: impl FnOnce() -> R,
) -> R {
    let mut start = CheckIn::new(slug, CheckInStatus::InProgress);
    if let Some(c) = &config {
        start = start.config(c.clone());
    }
    let id = check_in(start);
    let began = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(job));
    let failed = result.as_ref().map_or(true, JobOutcome::failed);
    let status = if failed {
        CheckInStatus::Error
    } else {
        CheckInStatus::Ok
    };
    let mut end = CheckIn::new(slug, status).id(id).duration(began.elapsed());
    if let Some(c) = config {
        end = end.config(c);
    }
    check_in(end);
    match result {
        Ok(r) => r,
        Err(panic) => {
            Hub::with_current(|hub| {
                let timeout = hub
                    .client()
                    .map_or(Duration::ZERO, |c| c.options().shutdown_timeout);
                hub.flush(timeout);
            });
            resume_unwind(panic)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_ins_serialize_as_sentry_sends_them() {
        let id = uuid::Uuid::nil();
        let c = CheckIn::new("nightly", CheckInStatus::InProgress)
            .id(id)
            .duration(Duration::from_millis(1500))
            .config(
                MonitorConfig::interval(2, IntervalUnit::Hour)
                    .timezone("Europe/Berlin")
                    .checkin_margin(5),
            );
        let v = serde_json::to_value(&c).unwrap_or_default();
        assert_eq!(
            v,
            serde_json::json!({
                "check_in_id": "00000000000000000000000000000000",
                "monitor_slug": "nightly",
                "status": "in_progress",
                "duration": 1.5,
                "monitor_config": {
                    "schedule": {"type": "interval", "value": 2, "unit": "hour"},
                    "checkin_margin": 5,
                    "timezone": "Europe/Berlin"
                }
            })
        );
        let cron = serde_json::to_value(MonitorConfig::crontab("0 2 * * *")).unwrap_or_default();
        assert_eq!(
            cron["schedule"],
            serde_json::json!({"type": "crontab", "value": "0 2 * * *"})
        );
    }

    #[test]
    fn outcomes() {
        assert!(!().failed());
        assert!(Err::<(), _>("no").failed());
        assert!(!Ok::<_, ()>(1).failed());
    }
}
