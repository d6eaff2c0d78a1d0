//! Server configuration: documented defaults, an optional TOML file, then `ERRATA_*` /
//! `DATABASE_URL` environment variables and command-line flags on top (the CLI layer in
//! `main.rs` applies those through [`Overrides`]).

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;

/// Everything the server needs to run. Every section has documented defaults, so an empty
/// file (or none) is a valid configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on. Default `127.0.0.1:9000`.
    pub bind: SocketAddr,
    /// `sqlite://path` (default `sqlite://data/errata.db`) or `postgres://…`.
    pub database_url: String,
    /// Public base URL used in DSNs and links, e.g. `https://errors.example.com`.
    /// Default: `http://{bind}`.
    pub base_url: Option<String>,
    /// Log format: `auto` (text on a terminal, JSON lines otherwise), `text` or `json`.
    pub log_format: LogFormat,
    /// Size limits of ingestion.
    pub limits: Limits,
    /// Group-commit writer and backpressure.
    pub ingest: IngestConfig,
    /// Connection and request-body timeouts (`[http]`).
    pub http: crate::http::server::HttpConfig,
    /// Storage safety limits (`[storage]`).
    pub storage: crate::store::StorageConfig,
    /// Notifications: recipients, SMTP, storm control, retries (`[notify]`).
    pub notify: crate::notify::NotifyConfig,
    /// Who may read `/metrics`, who may delete issues (`[security]`).
    pub security: crate::http::security::SecurityConfig,
    /// Data lifecycle: age, cap per issue, disk budget (`[retention]`).
    pub retention: crate::retention::RetentionConfig,
    /// `[releases]`: source-map uploads, the releases API, the source-map cache.
    pub releases: crate::artifacts::ReleasesConfig,
    /// `[uptime]`: the target rule and concurrency of uptime checks.
    pub uptime: crate::monitors::uptime::UptimeSettings,
    /// `[auth]`: password sign-in, single sign-on providers (`[[auth.oidc]]`).
    pub auth: crate::web::sso::AuthConfig,
}

/// Ingestion size limits, in bytes (sentry-protocol.md 3.2).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest request body on the wire and largest decompressed envelope. Default 20 MiB.
    pub max_envelope_bytes: usize,
    /// Largest `event` item (decompressed). Default 1 MiB.
    pub max_event_bytes: usize,
    /// Most items in one envelope. Default 100.
    pub max_items: usize,
}

/// Group-commit and backpressure settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Ingest requests in progress (decompressing, parsing or waiting for their commit) before
    /// new ones are refused with 429 at once. Default 1000. Requests still sending their body
    /// count against `max_per_address` and `max_bytes_in_flight` instead.
    pub queue_capacity: usize,
    /// Most events committed in one transaction. Default 500.
    pub batch_size: usize,
    /// Concurrent writer tasks. Default 1: SQLite has one writer at a time anyway, and on
    /// PostgreSQL one writer per process makes the largest batches while concurrent
    /// transactions would mostly wait on each other's locks of the busiest issues.
    pub writers: usize,
    /// Requests in progress from which batches defer their issues' counters, tags and
    /// regressions to a background roll-up (every 250 ms at most; counts lag by about that
    /// much). Default 32; 0 never defers.
    pub defer_aggregates_at: usize,
    /// Seconds an SDK is told to wait in `Retry-After` when the queue is full. Default 1.
    pub retry_after_secs: u64,
    /// Ingest requests in progress from one client address (an IPv6 /64 counts as one) before
    /// its new ones get 429, so that one address cannot take every place. Default: a quarter
    /// of `queue_capacity`.
    pub max_per_address: Option<usize>,
    /// Bytes ingestion may hold in memory at once: request bodies (reserved by
    /// `Content-Length` before they are read, up to a share per address), their decompressed
    /// copies, and the working copies of large events until they are queued for the writer.
    /// What bounds ingestion's memory, whatever the size of the events. Default 256 MiB.
    pub max_bytes_in_flight: usize,
    /// Milliseconds a request waits in line for room in `max_bytes_in_flight` before it is
    /// answered 429 with `Retry-After`. Default 1000.
    pub budget_wait_ms: u64,
    /// Seconds an SDK is told to wait in `Retry-After` when storage is unavailable (disk
    /// full, database file lost, database down). Default 30.
    pub unavailable_retry_after_secs: u64,
    /// Trust the first `X-Forwarded-For` entry as the client address (behind a proxy).
    /// Default false.
    pub trust_forwarded_for: bool,
    /// Seconds an event's `timestamp` may lie after its receive time before it is replaced by
    /// the receive time (clock drift; Relay's `max_secs_in_future`). Default 60.
    pub max_future_drift_secs: u64,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Text on a terminal, JSON lines otherwise.
    #[default]
    Auto,
    /// Human-readable text.
    Text,
    /// One JSON object per line.
    Json,
}

/// Errors loading the configuration; each names the file and what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema (the message names the field).
    #[error("invalid config file {path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The TOML error, naming the field and position.
        source: Box<toml::de::Error>,
    },
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 9000)),
            database_url: "sqlite://data/errata.db".into(),
            base_url: None,
            log_format: LogFormat::Auto,
            limits: Limits::default(),
            ingest: IngestConfig::default(),
            http: Default::default(),
            storage: Default::default(),
            notify: crate::notify::NotifyConfig::default(),
            security: crate::http::security::SecurityConfig::default(),
            retention: crate::retention::RetentionConfig::default(),
            releases: crate::artifacts::ReleasesConfig::default(),
            uptime: crate::monitors::uptime::UptimeSettings::default(),
            auth: crate::web::sso::AuthConfig::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_envelope_bytes: 20 * 1024 * 1024,
            max_event_bytes: 1024 * 1024,
            max_items: 100,
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 1000,
            batch_size: 500,
            writers: 1,
            defer_aggregates_at: 32,
            retry_after_secs: 1,
            max_per_address: None,
            max_bytes_in_flight: 256 * 1024 * 1024,
            budget_wait_ms: 1000,
            unavailable_retry_after_secs: 30,
            trust_forwarded_for: false,
            max_future_drift_secs: 60,
        }
    }
}

/// Server settings given on the command line (`errata serve` only) or in the environment
/// (every command); `Some` wins over the file. The database and log settings every command
/// uses are `cli::Cli`'s own flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Overrides {
    /// Address to listen on [default: 127.0.0.1:9000]
    #[arg(long, env = "ERRATA_BIND", global = true)]
    pub bind: Option<SocketAddr>,
    /// Public base URL used in DSNs and links (e.g. https://errors.example.com)
    #[arg(long, env = "ERRATA_BASE_URL", global = true)]
    pub base_url: Option<String>,
    /// Largest request body / decompressed envelope, bytes [default: 20971520]
    #[arg(long, env = "ERRATA_MAX_ENVELOPE_BYTES", global = true)]
    pub max_envelope_bytes: Option<usize>,
    /// Largest event item, bytes [default: 1048576]
    #[arg(long, env = "ERRATA_MAX_EVENT_BYTES", global = true)]
    pub max_event_bytes: Option<usize>,
    /// Ingest requests in progress before answering 429 [default: 1000]
    #[arg(long, env = "ERRATA_QUEUE_CAPACITY", global = true)]
    pub queue_capacity: Option<usize>,
    /// Most events per commit [default: 500]
    #[arg(long, env = "ERRATA_BATCH_SIZE", global = true)]
    pub batch_size: Option<usize>,
    /// Ingest requests in progress from one client address [default: queue_capacity / 4]
    #[arg(long, env = "ERRATA_MAX_PER_ADDRESS", global = true)]
    pub max_per_address: Option<usize>,
    /// Ingest bytes held in memory at once before answering 429 [default: 268435456]
    #[arg(long, env = "ERRATA_MAX_BYTES_IN_FLIGHT", global = true)]
    pub max_bytes_in_flight: Option<usize>,
    /// Milliseconds a request waits for room in max_bytes_in_flight [default: 1000]
    #[arg(long, env = "ERRATA_BUDGET_WAIT_MS", global = true)]
    pub budget_wait_ms: Option<u64>,
    /// Trust X-Forwarded-For for the client address [default: false]
    #[arg(long, env = "ERRATA_TRUST_FORWARDED_FOR", global = true)]
    pub trust_forwarded_for: Option<bool>,
    /// Global notification recipients: "Jose <jose@example.com>, Adin <adin@example.com>"
    #[arg(long, env = "ERRATA_ADMINS", global = true)]
    pub admins: Option<String>,
    /// SMTP relay host for notification e-mail
    #[arg(long, env = "ERRATA_SMTP_HOST", global = true)]
    pub smtp_host: Option<String>,
    /// SMTP relay port [default: 25, 587 or 465 by TLS mode]
    #[arg(long, env = "ERRATA_SMTP_PORT", global = true)]
    pub smtp_port: Option<u16>,
    /// SMTP transport security [default: starttls]
    #[arg(long, env = "ERRATA_SMTP_TLS", global = true)]
    pub smtp_tls: Option<crate::notify::SmtpTls>,
    /// SMTP login user
    #[arg(long, env = "ERRATA_SMTP_USERNAME", global = true)]
    pub smtp_username: Option<String>,
    /// SMTP login password
    #[arg(
        long,
        env = "ERRATA_SMTP_PASSWORD",
        global = true,
        hide_env_values = true
    )]
    pub smtp_password: Option<crate::notify::Secret>,
    /// Sender of notification e-mail [default: Errata <errata@localhost>]
    #[arg(long, env = "ERRATA_SMTP_FROM", global = true)]
    pub smtp_from: Option<String>,
    /// Let notification webhooks target private and loopback addresses and plain http
    /// (internal deployments) [default: false]
    #[arg(long, env = "ERRATA_NOTIFY_ALLOW_PRIVATE_TARGETS", global = true)]
    pub notify_allow_private_targets: Option<bool>,
    /// Let uptime checks target private and loopback addresses (internal deployments)
    /// [default: false]
    #[arg(long, env = "ERRATA_UPTIME_ALLOW_PRIVATE_TARGETS", global = true)]
    pub uptime_allow_private_targets: Option<bool>,
    /// Addresses or networks that may read /metrics, comma-separated: "10.0.0.0/8, ::1"
    /// [default: anyone]
    #[arg(
        long,
        env = "ERRATA_METRICS_ALLOW",
        global = true,
        value_delimiter = ','
    )]
    pub metrics_allow: Option<Vec<String>>,
    /// Bearer token that may read /metrics [default: none]
    #[arg(
        long,
        env = "ERRATA_METRICS_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub metrics_token: Option<crate::notify::Secret>,
    /// Members (non-admin users) may delete issues [default: false]
    #[arg(long, env = "ERRATA_MEMBERS_MAY_DELETE_ISSUES", global = true)]
    pub members_may_delete_issues: Option<bool>,
    /// Days events are kept after they were received, 0 = forever [default: 90]
    #[arg(long, env = "ERRATA_RETENTION_DAYS", global = true)]
    pub default_retention_days: Option<u32>,
    /// Events kept per issue (its first and newest), 0 = all [default: 10000]
    #[arg(long, env = "ERRATA_RETENTION_MAX_EVENTS_PER_ISSUE", global = true)]
    pub retention_max_events_per_issue: Option<u64>,
    /// Disk budget of the database, e.g. 500MB or 20GiB [default: none]
    #[arg(long, env = "ERRATA_RETENTION_MAX_DATABASE_BYTES", global = true,
          value_parser = crate::retention::parse_byte_size)]
    pub retention_max_database_bytes: Option<u64>,
}

impl Config {
    /// Loads `path` (if given) over the defaults.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: shown,
            source: Box::new(source),
        })
    }

    /// Applies command-line / environment overrides.
    pub fn apply(&mut self, o: &Overrides) {
        self.auth.apply_env();
        if let Some(v) = o.bind {
            self.bind = v;
        }
        if let Some(v) = &o.base_url {
            self.base_url = Some(v.clone());
        }
        if let Some(v) = o.max_envelope_bytes {
            self.limits.max_envelope_bytes = v;
        }
        if let Some(v) = o.max_event_bytes {
            self.limits.max_event_bytes = v;
        }
        if let Some(v) = o.queue_capacity {
            self.ingest.queue_capacity = v.max(1);
        }
        if let Some(v) = o.batch_size {
            self.ingest.batch_size = v.max(1);
        }
        if let Some(v) = o.max_per_address {
            self.ingest.max_per_address = Some(v.max(1));
        }
        if let Some(v) = o.max_bytes_in_flight {
            self.ingest.max_bytes_in_flight = v;
        }
        if let Some(v) = o.budget_wait_ms {
            self.ingest.budget_wait_ms = v;
        }
        if let Some(v) = o.trust_forwarded_for {
            self.ingest.trust_forwarded_for = v;
        }
        self.notify.apply(o);
        if let Some(v) = o.uptime_allow_private_targets {
            self.uptime.allow_private_targets = v;
        }
        if let Some(v) = &o.metrics_allow {
            self.security.metrics_allow.clone_from(v);
        }
        if let Some(v) = &o.metrics_token {
            self.security.metrics_token = Some(v.clone());
        }
        if let Some(v) = o.members_may_delete_issues {
            self.security.members_may_delete_issues = v;
        }
        if let Some(v) = o.default_retention_days {
            self.retention.days = v;
        }
        if let Some(v) = o.retention_max_events_per_issue {
            self.retention.max_events_per_issue = v;
        }
        if let Some(v) = o.retention_max_database_bytes {
            self.retention.max_database_bytes = Some(v);
        }
    }

    /// How far an event's timestamp may lie from its receive time (`ingest.max_future_drift_secs`
    /// ahead, `retention.days` back: an older event would be pruned at once) before
    /// normalization replaces it.
    pub fn timestamp_bounds(&self) -> crate::normalize::TimestampBounds {
        let ms = |v: u64, unit: i64| i64::try_from(v).unwrap_or(i64::MAX).saturating_mul(unit);
        let past_days = match self.retention.days {
            0 => u64::MAX,
            days => u64::from(days),
        };
        crate::normalize::TimestampBounds {
            max_future_ms: ms(self.ingest.max_future_drift_secs, crate::clock::SECOND_MS),
            max_past_ms: ms(past_days, crate::clock::DAY_MS),
        }
    }

    /// The public base URL without a trailing slash.
    pub fn base_url(&self) -> String {
        match &self.base_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.bind),
        }
    }

    /// The DSN an SDK uses for a project: `{scheme}://{public_key}@{host}[/{path}]/{project_id}`
    /// (sentry-protocol.md section 1).
    pub fn dsn(&self, public_key: &str, project_id: i64) -> String {
        let base = self.base_url();
        match base.split_once("://") {
            Some((scheme, rest)) => format!("{scheme}://{public_key}@{rest}/{project_id}"),
            None => format!("http://{public_key}@{base}/{project_id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsn_uses_base_url() {
        let mut c = Config::default();
        assert_eq!(c.dsn("abc", 1), "http://abc@127.0.0.1:9000/1");
        c.base_url = Some("https://errors.example.com/sub/".into());
        assert_eq!(c.dsn("abc", 42), "https://abc@errors.example.com/sub/42");
    }

    #[test]
    fn file_errors_name_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("errata.toml");
        std::fs::write(&p, "[limits]\nmax_event_byts = 3\n").unwrap();
        let err = Config::load(Some(&p)).unwrap_err().to_string();
        assert!(
            err.contains("errata.toml") && err.contains("max_event_byts"),
            "{err}"
        );
        std::fs::write(&p, "bind = \"0.0.0.0:9100\"\n[ingest]\nbatch_size = 7\n").unwrap();
        let c = Config::load(Some(&p)).unwrap();
        assert_eq!(c.ingest.batch_size, 7);
        assert_eq!(c.bind.port(), 9100);
    }
}
