//! Setup snippets of the monitor pages: Python `@monitor`, JavaScript `Sentry.withMonitor`,
//! Rust `errata::monitor` and `curl` in a crontab line, for one monitor's slug and
//! configuration (or an example). Plain text: the template escapes it.

use serde::Serialize;
use serde_json::json;

use crate::monitors::cron::{MonitorConfig, Schedule};

/// The four snippets.
#[derive(Debug, Serialize)]
pub struct Snippets {
    /// Python with `sentry-sdk`.
    pub python: String,
    /// Node with `@sentry/node`.
    pub javascript: String,
    /// Rust with the `errata` client.
    pub rust: String,
    /// A crontab line with `curl`.
    pub curl: String,
}

/// What the snippets need to know.
pub struct Target<'a> {
    /// The project's DSN.
    pub dsn: &'a str,
    /// The server's base URL.
    pub base_url: &'a str,
    /// The project id.
    pub project_id: i64,
    /// The project's public key.
    pub public_key: &'a str,
}

/// Snippets for `slug` with `config`.
pub fn snippets(t: &Target<'_>, slug: &str, config: &MonitorConfig) -> Snippets {
    let schedule = serde_json::to_value(&config.schedule).unwrap_or_default();
    let zone = config.timezone.name();
    let python_config = serde_json::to_string_pretty(&json!({
        "schedule": schedule,
        "timezone": zone,
        "checkin_margin": config.checkin_margin,
        "max_runtime": config.max_runtime,
        "failure_issue_threshold": config.failure_issue_threshold,
        "recovery_threshold": config.recovery_threshold,
    }))
    .unwrap_or_default();
    let js_config = serde_json::to_string_pretty(&json!({
        "schedule": schedule,
        "timezone": zone,
        "checkinMargin": config.checkin_margin,
        "maxRuntime": config.max_runtime,
        "failureIssueThreshold": config.failure_issue_threshold,
        "recoveryThreshold": config.recovery_threshold,
    }))
    .unwrap_or_default();
    let rust_schedule = match &config.schedule {
        Schedule::Crontab { value } => format!("errata::MonitorConfig::crontab({value:?})"),
        Schedule::Interval { value, unit } => format!(
            "errata::MonitorConfig::interval({value}, errata::IntervalUnit::{})",
            capitalize(unit.as_str())
        ),
    };
    let url = format!(
        "{}/api/{}/cron/{slug}/{}/",
        t.base_url.trim_end_matches('/'),
        t.project_id,
        t.public_key
    );
    let crontab = match &config.schedule {
        Schedule::Crontab { value } => value.clone(),
        Schedule::Interval { .. } => "0 * * * *".to_owned(),
    };
    Snippets {
        python: format!(
            "import sentry_sdk\nfrom sentry_sdk.crons import monitor\n\n\
             sentry_sdk.init(dsn=\"{dsn}\")\n\n\
             @monitor(monitor_slug=\"{slug}\", monitor_config={python_config})\n\
             def job():\n    ...  # your job\n",
            dsn = t.dsn,
        ),
        javascript: format!(
            "const Sentry = require(\"@sentry/node\");\n\
             Sentry.init({{ dsn: \"{dsn}\" }});\n\n\
             await Sentry.withMonitor(\"{slug}\", async () => {{\n  await job(); // your job\n}}, \
             {js_config});\n",
            dsn = t.dsn,
        ),
        rust: format!(
            "let _guard = errata::init(\"{dsn}\");\n\
             let config = {rust_schedule}\n    .timezone(\"{zone}\")\n    \
             .checkin_margin({margin})\n    .max_runtime({runtime});\n\
             errata::monitor(\"{slug}\", Some(config), || job());\n",
            dsn = t.dsn,
            margin = config.checkin_margin,
            runtime = config.max_runtime,
        ),
        curl: format!(
            "# crontab ({zone}); in_progress, then ok or error\n\
             {crontab} curl -fsS \"{url}?status=in_progress\" >/dev/null; \
             job.sh && curl -fsS \"{url}?status=ok\" >/dev/null \
             || curl -fsS \"{url}?status=error\" >/dev/null\n"
        ),
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitors::cron::IntervalUnit;

    #[test]
    fn snippets_carry_slug_config_and_dsn() {
        let t = Target {
            dsn: "http://key@errata.test/1",
            base_url: "http://errata.test/",
            project_id: 1,
            public_key: "key",
        };
        let mut config = MonitorConfig::with_schedule(Schedule::crontab("0 2 * * *").unwrap());
        config.timezone = "Europe/Berlin".parse().unwrap();
        let s = snippets(&t, "nightly-backup", &config);
        assert!(s
            .python
            .contains("@monitor(monitor_slug=\"nightly-backup\""));
        assert!(s.python.contains("\"timezone\": \"Europe/Berlin\""));
        assert!(s
            .javascript
            .contains("Sentry.withMonitor(\"nightly-backup\""));
        assert!(s.javascript.contains("\"checkinMargin\": 1"));
        assert!(s
            .rust
            .contains("errata::MonitorConfig::crontab(\"0 2 * * *\")"));
        assert!(s.curl.starts_with("# crontab (Europe/Berlin)"));
        assert!(s
            .curl
            .contains("0 2 * * * curl -fsS \"http://errata.test/api/1/cron/nightly-backup/key/?status=in_progress\""));
        let hourly =
            MonitorConfig::with_schedule(Schedule::interval(2, IntervalUnit::Hour).unwrap());
        assert!(snippets(&t, "x", &hourly)
            .rust
            .contains("errata::MonitorConfig::interval(2, errata::IntervalUnit::Hour)"));
    }
}
