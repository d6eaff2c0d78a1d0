//! A check-in as it arrives: an envelope item `check_in` or an HTTP check-in, parsed into one
//! [`CheckIn`] (sentry-protocol-more.md 1; Relay's `relay-monitors`).
//!
//! Wire fields: `check_in_id` (UUID, hyphenated or 32 hex; all zeros or absent = "the
//! monitor's latest `in_progress` check-in"), `monitor_slug` (slugified as Sentry does:
//! lowercase, letters, digits, `-` and `_`; at most 50 characters), `status` (`in_progress`,
//! `ok`, `error`; anything else, `missed` and `timeout` included, is `unknown`: only the server
//! records those), `duration` (seconds, float), `release`, `environment` (default `production`,
//! at most 64 characters), `contexts.trace.trace_id` and `monitor_config`
//! ([`MonitorConfig`]). Errors say which field is wrong; the caller answers 400.

use serde_json::Value;

use super::config::{ConfigError, MonitorConfig};
use crate::protocol::json;

/// Longest monitor slug, characters (Relay's limit).
pub const MAX_SLUG: usize = 50;
/// Longest environment name, characters (Relay's limit).
pub const MAX_ENVIRONMENT: usize = 64;
/// Longest release kept, characters (longer ones are cut).
pub const MAX_RELEASE: usize = 200;
/// The environment of a check-in that names none.
pub const DEFAULT_ENVIRONMENT: &str = "production";

/// The status of a check-in, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckInStatus {
    /// The job started and has not reported its end.
    InProgress,
    /// The job succeeded.
    Ok,
    /// The job reported a failure.
    Error,
    /// A status the server does not know.
    Unknown,
    /// No check-in came by the expected time plus the margin (recorded by the clock).
    Missed,
    /// The job was `in_progress` for longer than `max_runtime` (recorded by the clock).
    Timeout,
}

impl CheckInStatus {
    /// Every status.
    pub const ALL: [CheckInStatus; 6] = [
        CheckInStatus::InProgress,
        CheckInStatus::Ok,
        CheckInStatus::Error,
        CheckInStatus::Unknown,
        CheckInStatus::Missed,
        CheckInStatus::Timeout,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckInStatus::InProgress => "in_progress",
            CheckInStatus::Ok => "ok",
            CheckInStatus::Error => "error",
            CheckInStatus::Unknown => "unknown",
            CheckInStatus::Missed => "missed",
            CheckInStatus::Timeout => "timeout",
        }
    }

    /// The status named `name`, `None` for anything else.
    pub fn parse(name: &str) -> Option<CheckInStatus> {
        CheckInStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// What a client may send: `in_progress`, `ok`, `error`; anything else is
    /// [`CheckInStatus::Unknown`] (as Relay normalizes it).
    pub fn from_client(name: &str) -> CheckInStatus {
        match name.trim().to_ascii_lowercase().as_str() {
            "in_progress" => CheckInStatus::InProgress,
            "ok" => CheckInStatus::Ok,
            "error" => CheckInStatus::Error,
            _ => CheckInStatus::Unknown,
        }
    }

    /// Error, missed and timeout: the statuses that count towards an incident.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            CheckInStatus::Error | CheckInStatus::Missed | CheckInStatus::Timeout
        )
    }

    /// Every status but `in_progress`: the check-in will not change any more.
    pub fn is_final(self) -> bool {
        self != CheckInStatus::InProgress
    }
}

/// One check-in from a client, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckIn {
    /// The client's id; `None` for all zeros or absent ("the latest `in_progress`").
    pub check_in_id: Option<uuid::Uuid>,
    /// The monitor, slugified.
    pub monitor_slug: String,
    /// `in_progress`, `ok`, `error` or `unknown`.
    pub status: CheckInStatus,
    /// How long the job ran, ms.
    pub duration_ms: Option<i64>,
    /// The release, if any.
    pub release: Option<String>,
    /// The environment (default `production`).
    pub environment: String,
    /// `contexts.trace.trace_id` (32 hex), if any.
    pub trace_id: Option<String>,
    /// Creates or updates the monitor when present.
    pub monitor_config: Option<MonitorConfig>,
}

/// Why a check-in was refused (400); the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckInError {
    /// The payload is not a JSON object.
    #[error("check-in is not a JSON object: {0}")]
    NotJson(String),
    /// A field has the wrong type or value.
    #[error("{0}")]
    Field(String),
    /// `monitor_config` was refused.
    #[error("invalid monitor_config: {0}")]
    Config(#[from] ConfigError),
}

impl CheckIn {
    /// Parses an item payload (lenient JSON, like events).
    pub fn from_bytes(payload: &[u8]) -> Result<CheckIn, CheckInError> {
        let value =
            json::parse_lenient(payload).map_err(|e| CheckInError::NotJson(e.to_string()))?;
        CheckIn::from_json(&value)
    }

    /// Parses a check-in object.
    pub fn from_json(value: &Value) -> Result<CheckIn, CheckInError> {
        let obj = value
            .as_object()
            .ok_or_else(|| CheckInError::NotJson("expected an object".into()))?;
        let text = |name: &str| -> Result<Option<&str>, CheckInError> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(v) => Err(CheckInError::Field(format!(
                    "{name} must be a string, not {v}"
                ))),
            }
        };
        let slug = text("monitor_slug")?.unwrap_or_default();
        let duration_ms = match obj.get("duration") {
            None | Some(Value::Null) => None,
            Some(v) => Some(duration_ms(v)?),
        };
        let trace_id = obj
            .get("contexts")
            .and_then(|c| c.get("trace"))
            .and_then(|t| t.get("trace_id"))
            .and_then(Value::as_str)
            .map(|s| s.replace('-', "").to_ascii_lowercase())
            .filter(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()));
        let monitor_config = match obj.get("monitor_config") {
            None | Some(Value::Null) => None,
            Some(c) => Some(MonitorConfig::from_json(c)?),
        };
        Ok(CheckIn {
            check_in_id: check_in_id(text("check_in_id")?)?,
            monitor_slug: monitor_slug(slug)?,
            status: CheckInStatus::from_client(text("status")?.unwrap_or_default()),
            duration_ms,
            release: text("release")?
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.chars().take(MAX_RELEASE).collect()),
            environment: environment(text("environment")?)?,
            trace_id,
            monitor_config,
        })
    }
}

/// A `check_in_id`: `None` when absent or all zeros. Errors: not a UUID.
pub fn check_in_id(s: Option<&str>) -> Result<Option<uuid::Uuid>, CheckInError> {
    let Some(s) = s.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let id = uuid::Uuid::parse_str(s).map_err(|_| {
        CheckInError::Field(format!("check_in_id {s:?} is not a UUID (32 hex digits)"))
    })?;
    Ok((!id.is_nil()).then_some(id))
}

/// A check-in's environment: trimmed, `production` when empty. Errors: longer than 64
/// characters.
pub fn environment(s: Option<&str>) -> Result<String, CheckInError> {
    let env = s.map(str::trim).unwrap_or_default();
    if env.is_empty() {
        return Ok(DEFAULT_ENVIRONMENT.to_owned());
    }
    if env.chars().count() > MAX_ENVIRONMENT || env.contains(['\n', '\r', '/']) {
        return Err(CheckInError::Field(format!(
            "environment must have at most {MAX_ENVIRONMENT} characters and no '/' or line \
             breaks"
        )));
    }
    Ok(env.to_owned())
}

/// A `duration` in seconds (number or numeric string) as whole milliseconds. Errors:
/// negative, not finite, or not a number.
pub fn duration_ms(v: &Value) -> Result<i64, CheckInError> {
    let secs = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match secs {
        Some(s) if s.is_finite() && (0.0..1e9).contains(&s) => Ok((s * 1000.0).round() as i64),
        _ => Err(CheckInError::Field(format!(
            "duration must be a non-negative number of seconds, not {v}"
        ))),
    }
}

/// A monitor slug as Sentry makes it from what a client sent: lowercase ASCII letters and
/// digits, `_` kept, spaces and `-` runs become one `-`, everything else dropped, no `-` or
/// `_` at the ends. Errors: empty, or longer than 50 characters.
pub fn monitor_slug(raw: &str) -> Result<String, CheckInError> {
    let slug = slugify(raw);
    if slug.is_empty() {
        return Err(CheckInError::Field(
            "monitor_slug is missing or has no letters or digits".into(),
        ));
    }
    if slug.chars().count() > MAX_SLUG {
        return Err(CheckInError::Field(format!(
            "monitor_slug is longer than {MAX_SLUG} characters"
        )));
    }
    Ok(slug)
}

/// The slug of `raw` (see [`monitor_slug`]); may be empty.
pub fn slugify(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.trim().chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c.to_ascii_lowercase());
        } else if (c == '-' || c.is_whitespace()) && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches(['-', '_']).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sdk_payloads_parse() {
        let c = CheckIn::from_bytes(
            br#"{"check_in_id":"a460c25ff2554577b920fcfacae4e5eb","monitor_slug":"my-monitor",
                "status":"in_progress","environment":"staging","duration":21.5,
                "contexts":{"trace":{"trace_id":"8f431b7aa08441bbbd5a0100fd91f9fe"}},
                "monitor_config":{"schedule":{"type":"crontab","value":"0 * * * *"}}}"#,
        )
        .unwrap();
        assert_eq!(
            c.check_in_id.unwrap().simple().to_string(),
            "a460c25ff2554577b920fcfacae4e5eb"
        );
        assert_eq!(c.status, CheckInStatus::InProgress);
        assert_eq!(c.environment, "staging");
        assert_eq!(c.duration_ms, Some(21_500));
        assert_eq!(
            c.trace_id.as_deref(),
            Some("8f431b7aa08441bbbd5a0100fd91f9fe")
        );
        assert!(c.monitor_config.is_some());
        let minimal = CheckIn::from_json(&json!({
            "check_in_id": "00000000-0000-0000-0000-000000000000",
            "monitor_slug": "Nightly Backup!", "status": "missed"
        }))
        .unwrap();
        assert_eq!(
            minimal.check_in_id, None,
            "all zeros: the latest in_progress"
        );
        assert_eq!(minimal.monitor_slug, "nightly-backup");
        assert_eq!(
            minimal.status,
            CheckInStatus::Unknown,
            "clients cannot send missed"
        );
        assert_eq!(minimal.environment, "production");
    }

    #[test]
    fn bad_fields_are_named() {
        let err = |v: Value| CheckIn::from_json(&v).unwrap_err().to_string();
        assert!(err(json!({"monitor_slug": ""})).contains("monitor_slug"));
        assert!(err(json!({"monitor_slug": "x".repeat(51)})).contains("longer than 50"));
        assert!(err(json!({"monitor_slug": "a", "check_in_id": "nope"})).contains("check_in_id"));
        assert!(err(json!({"monitor_slug": "a", "duration": -1})).contains("duration"));
        assert!(
            err(json!({"monitor_slug": "a", "environment": "e".repeat(65)}))
                .contains("environment")
        );
        assert!(
            err(json!({"monitor_slug": "a", "monitor_config": {"schedule": "bad"}}))
                .contains("invalid monitor_config")
        );
        assert!(err(json!({"monitor_slug": 5})).contains("must be a string"));
        assert!(CheckIn::from_bytes(b"not json").is_err());
    }

    #[test]
    fn slugs_like_sentry() {
        assert_eq!(slugify("  My Job -- nightly_run "), "my-job-nightly_run");
        assert_eq!(slugify("<script>"), "script");
        assert_eq!(slugify("--__"), "");
    }
}
