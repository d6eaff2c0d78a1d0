use std::fmt;

/// Severity of an event.
///
/// Accepted on the wire (sentry-protocol.md 5.1): `debug`, `info`, `warning`, `error`, `fatal`,
/// the aliases `log` → info, `warn` → warning, `critical` → fatal, and Python logging integers
/// 10/20/30/40/50 (raven). Anything else, or a missing level, is `error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Level {
    /// Diagnostic detail.
    Debug,
    /// Informational message.
    Info,
    /// Something unexpected that did not fail.
    Warning,
    /// A failure; the default.
    #[default]
    Error,
    /// A crash.
    Fatal,
}

impl Level {
    /// The wire name (`"error"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }

    /// Lenient conversion from the JSON value an SDK sent; `None` when it is not a level.
    pub fn from_json(value: &serde_json::Value) -> Option<Level> {
        match value {
            serde_json::Value::String(s) => Level::from_name(s),
            serde_json::Value::Number(n) => match n.as_f64()? as i64 {
                10 => Some(Level::Debug),
                20 => Some(Level::Info),
                30 => Some(Level::Warning),
                40 => Some(Level::Error),
                50 => Some(Level::Fatal),
                _ => None,
            },
            _ => None,
        }
    }

    /// Parses a level name or alias, case-insensitively.
    pub fn from_name(s: &str) -> Option<Level> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "debug" | "trace" => Level::Debug,
            "info" | "log" => Level::Info,
            "warning" | "warn" => Level::Warning,
            "error" => Level::Error,
            "fatal" | "critical" => Level::Fatal,
            _ => return None,
        })
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_names_aliases_and_integers() {
        assert_eq!(Level::from_json(&json!("warning")), Some(Level::Warning));
        assert_eq!(Level::from_json(&json!("critical")), Some(Level::Fatal));
        assert_eq!(Level::from_json(&json!(40)), Some(Level::Error));
        assert_eq!(Level::from_json(&json!("bogus")), None);
    }
}
