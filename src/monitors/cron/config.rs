//! A monitor's configuration: the `monitor_config` of a check-in (which creates or updates
//! the monitor, sentry-protocol-more.md 1) and the same fields in the API and the web form.
//!
//! Fields and defaults: `schedule` (required: `{"type":"crontab","value":…}`,
//! `{"type":"interval","value":N,"unit":…}`, or a crontab string), `checkin_margin` (minutes,
//! default 1, 1 to 40,320), `max_runtime` (minutes, default 30, 1 to 40,320), `timezone` (IANA
//! name, default `UTC`), `failure_issue_threshold` and `recovery_threshold` (default 1, 1 to
//! 720). These are Sentry's defaults and limits. A `null` field takes its default; unknown
//! fields (`owner`, …) are ignored. Every refusal names the field and says what it expects.

use serde::Serialize;
use serde_json::{Map, Value};

use super::schedule::{IntervalUnit, Schedule, ScheduleError, Zone};

/// Default `checkin_margin`, minutes.
pub const DEFAULT_MARGIN: i64 = 1;
/// Default `max_runtime`, minutes.
pub const DEFAULT_MAX_RUNTIME: i64 = 30;
/// Largest `checkin_margin` and `max_runtime`: 28 days in minutes.
pub const MAX_MINUTES: i64 = 40_320;
/// Largest failure and recovery threshold.
pub const MAX_THRESHOLD: i64 = 720;

/// A validated monitor configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonitorConfig {
    /// When the job is expected.
    pub schedule: Schedule,
    /// Minutes after the expected time before the check-in counts as missed.
    pub checkin_margin: i64,
    /// Minutes an `in_progress` check-in may run before it times out.
    pub max_runtime: i64,
    /// The crontab's time zone.
    #[serde(serialize_with = "zone_name")]
    pub timezone: Zone,
    /// Consecutive failures (error, missed, timeout) that open an incident.
    pub failure_issue_threshold: i64,
    /// Consecutive `ok` check-ins that resolve it.
    pub recovery_threshold: i64,
}

fn zone_name<S: serde::Serializer>(z: &Zone, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(z.name())
}

/// Why a configuration was refused; the message is shown as is (API `detail`, form error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl From<ScheduleError> for ConfigError {
    fn from(e: ScheduleError) -> Self {
        ConfigError(e.to_string())
    }
}

impl MonitorConfig {
    /// `schedule` with every other field at its default.
    pub fn with_schedule(schedule: Schedule) -> MonitorConfig {
        MonitorConfig {
            schedule,
            checkin_margin: DEFAULT_MARGIN,
            max_runtime: DEFAULT_MAX_RUNTIME,
            timezone: Zone::UTC,
            failure_issue_threshold: 1,
            recovery_threshold: 1,
        }
    }

    /// A whole configuration from a JSON object (a check-in's `monitor_config`, an API
    /// create): `schedule` is required, the rest default. Errors name the bad field.
    pub fn from_json(value: &Value) -> Result<MonitorConfig, ConfigError> {
        let obj = value
            .as_object()
            .ok_or_else(|| ConfigError("monitor_config must be a JSON object".into()))?;
        let schedule = match obj.get("schedule") {
            None | Some(Value::Null) => {
                return Err(ConfigError(
                    "monitor_config needs a schedule, like {\"type\": \"crontab\", \"value\": \
                     \"0 2 * * *\"} or {\"type\": \"interval\", \"value\": 1, \"unit\": \"day\"}"
                        .into(),
                ))
            }
            Some(s) => parse_schedule(s)?,
        };
        MonitorConfig::with_schedule(schedule).patched(obj)
    }

    /// This configuration with the fields present in `obj` replaced (an API update); the
    /// others are kept. Errors name the bad field; nothing is half-applied.
    pub fn patched(&self, obj: &Map<String, Value>) -> Result<MonitorConfig, ConfigError> {
        let mut out = self.clone();
        if let Some(s) = obj.get("schedule").filter(|v| !v.is_null()) {
            out.schedule = parse_schedule(s)?;
        }
        let field = |name: &str, default: i64, max: i64| -> Result<Option<i64>, ConfigError> {
            match obj.get(name) {
                None => Ok(None),
                Some(Value::Null) => Ok(Some(default)),
                Some(v) => match whole_number(v) {
                    Some(n) if (1..=max).contains(&n) => Ok(Some(n)),
                    _ => Err(ConfigError(format!(
                        "{name} must be a whole number from 1 to {max}, not {v}"
                    ))),
                },
            }
        };
        if let Some(n) = field("checkin_margin", DEFAULT_MARGIN, MAX_MINUTES)? {
            out.checkin_margin = n;
        }
        if let Some(n) = field("max_runtime", DEFAULT_MAX_RUNTIME, MAX_MINUTES)? {
            out.max_runtime = n;
        }
        if let Some(n) = field("failure_issue_threshold", 1, MAX_THRESHOLD)? {
            out.failure_issue_threshold = n;
        }
        if let Some(n) = field("recovery_threshold", 1, MAX_THRESHOLD)? {
            out.recovery_threshold = n;
        }
        match obj.get("timezone") {
            None => {}
            Some(Value::Null) => out.timezone = Zone::UTC,
            Some(Value::String(s)) if s.trim().is_empty() => out.timezone = Zone::UTC,
            Some(Value::String(s)) => out.timezone = s.parse()?,
            Some(v) => {
                return Err(ConfigError(format!(
                    "timezone must be an IANA time zone name, not {v}"
                )))
            }
        }
        Ok(out)
    }
}

/// A schedule from its wire object, or from a bare crontab string.
pub fn parse_schedule(v: &Value) -> Result<Schedule, ConfigError> {
    if let Value::String(s) = v {
        return Ok(Schedule::crontab(s)?);
    }
    let obj = v.as_object().ok_or_else(|| {
        ConfigError(format!(
            "schedule must be an object with type crontab or interval, not {v}"
        ))
    })?;
    match obj.get("type").and_then(Value::as_str) {
        Some("crontab") => match obj.get("value") {
            Some(Value::String(s)) => Ok(Schedule::crontab(s)?),
            _ => Err(ConfigError(
                "a crontab schedule needs a value like \"0 2 * * *\"".into(),
            )),
        },
        Some("interval") => {
            let value = obj.get("value").and_then(whole_number).ok_or_else(|| {
                ConfigError("an interval schedule needs a whole number value".into())
            })?;
            let unit = match obj.get("unit") {
                Some(Value::String(s)) => {
                    IntervalUnit::parse(s).ok_or_else(|| ScheduleError::IntervalUnit(s.clone()))?
                }
                _ => {
                    return Err(ConfigError(
                        "an interval schedule needs a unit: minute, hour, day, week, month or \
                         year"
                            .into(),
                    ))
                }
            };
            let value = u64::try_from(value).map_err(|_| ScheduleError::IntervalValue(0))?;
            Ok(Schedule::interval(value, unit)?)
        }
        Some(other) => Err(ConfigError(format!(
            "schedule type {other:?} is not crontab or interval"
        ))),
        None => Err(ConfigError(
            "schedule needs a type: crontab or interval".into(),
        )),
    }
}

/// A JSON number (or numeric string) with a whole value: `5`, `5.0`, `"5"`.
fn whole_number(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_full_configs() {
        let c = MonitorConfig::from_json(
            &json!({"schedule": {"type": "crontab", "value": "0 2 * * *"}}),
        )
        .unwrap();
        assert_eq!(c.checkin_margin, 1);
        assert_eq!(c.max_runtime, 30);
        assert_eq!(c.timezone, Zone::UTC);
        assert_eq!((c.failure_issue_threshold, c.recovery_threshold), (1, 1));
        let full = MonitorConfig::from_json(&json!({
            "schedule": {"type": "interval", "value": 2, "unit": "hour"},
            "checkin_margin": 5, "max_runtime": 10.0, "timezone": "Europe/Berlin",
            "failure_issue_threshold": 3, "recovery_threshold": "2", "owner": "team:ops"
        }))
        .unwrap();
        assert_eq!(
            full.schedule,
            Schedule::interval(2, IntervalUnit::Hour).unwrap()
        );
        assert_eq!((full.checkin_margin, full.max_runtime), (5, 10));
        assert_eq!(full.timezone.name(), "Europe/Berlin");
        assert_eq!(
            (full.failure_issue_threshold, full.recovery_threshold),
            (3, 2)
        );
        let wire = serde_json::to_value(&full).unwrap();
        assert_eq!(wire["timezone"], "Europe/Berlin");
        assert_eq!(wire["schedule"]["unit"], "hour");
    }

    #[test]
    fn patches_keep_what_they_do_not_name() {
        let c = MonitorConfig::from_json(&json!({"schedule": "*/5 * * * *", "max_runtime": 7}))
            .unwrap();
        let p = c
            .patched(json!({"checkin_margin": 3}).as_object().unwrap())
            .unwrap();
        assert_eq!((p.checkin_margin, p.max_runtime), (3, 7));
        assert_eq!(p.schedule, c.schedule);
        let reset = p
            .patched(json!({"max_runtime": null}).as_object().unwrap())
            .unwrap();
        assert_eq!(reset.max_runtime, DEFAULT_MAX_RUNTIME);
    }

    #[test]
    fn refusals_name_the_field() {
        let err = |v: Value| MonitorConfig::from_json(&v).unwrap_err().0;
        assert!(err(json!({})).contains("needs a schedule"));
        assert!(
            err(json!({"schedule": {"type": "crontab", "value": "99 * * * *"}}))
                .contains("not a valid crontab")
        );
        assert!(
            err(json!({"schedule": {"type": "interval", "value": 1, "unit": "fortnight"}}))
                .contains("fortnight")
        );
        assert!(err(json!({"schedule": {"type": "weekly"}})).contains("\"weekly\""));
        assert!(err(json!({"schedule": "@daily", "timezone": "Mars/Base"})).contains("Mars/Base"));
        assert!(err(json!({"schedule": "@daily", "checkin_margin": 0})).contains("checkin_margin"));
        assert!(err(json!({"schedule": "@daily", "max_runtime": 50000})).contains("40320"));
        assert!(
            err(json!({"schedule": "@daily", "recovery_threshold": 1.5}))
                .contains("recovery_threshold")
        );
        assert!(err(json!([1])).contains("JSON object"));
    }
}
