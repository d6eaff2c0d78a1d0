//! What is checked before any command touches the database: a configuration that cannot
//! work is refused at start with a message naming the setting, instead of being accepted and
//! failing later (a DSN with `javascript:` in it, every event refused by a 0-byte limit,
//! e-mail that fails at the first send).
//!
//! [`validate`] checks every setting whose value alone can be wrong. [`prepare_database_dir`]
//! creates the default SQLite folder `data/` and nothing else: any other folder must exist
//! (the store refuses a missing one by name), so a typo in a path never starts an empty
//! database somewhere unexpected. `errata serve` binds its port between the two, so that a
//! port in use creates nothing.
//!
//! Commands other than `serve` open only a database Errata has used before
//! ([`refuse_new_database`], unless `--create`), and `serve` decides the public base URL it
//! records for them ([`public_base_url`]).

use std::path::Path;

use crate::config::Config;

/// The folder of the default database (`sqlite://data/errata.db`), relative to the working
/// directory: the only folder Errata creates.
pub const DEFAULT_DATA_DIR: &str = "data";

/// A setting whose value cannot work. Displays as `invalid setting <name> (<ENV>): <reason>`.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {setting}: {reason}")]
pub struct InvalidSetting {
    /// The setting as the user sets it: TOML name and environment variable.
    pub setting: &'static str,
    /// What is wrong with its value.
    pub reason: String,
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> InvalidSetting {
    InvalidSetting {
        setting,
        reason: reason.into(),
    }
}

/// Checks every setting that can be checked without the network or the database. Errors:
/// the first [`InvalidSetting`] found.
pub fn validate(config: &Config) -> Result<(), InvalidSetting> {
    if let Some(base) = &config.base_url {
        check_base_url(base).map_err(|r| invalid("base_url (ERRATA_BASE_URL)", r))?;
    }
    check_database_url(&config.database_url)
        .map_err(|r| invalid("database_url (DATABASE_URL)", r))?;
    let at_least_one = [
        (
            "limits.max_envelope_bytes (ERRATA_MAX_ENVELOPE_BYTES)",
            config.limits.max_envelope_bytes,
        ),
        (
            "limits.max_event_bytes (ERRATA_MAX_EVENT_BYTES)",
            config.limits.max_event_bytes,
        ),
        ("limits.max_items", config.limits.max_items),
        (
            "ingest.queue_capacity (ERRATA_QUEUE_CAPACITY)",
            config.ingest.queue_capacity,
        ),
        (
            "ingest.batch_size (ERRATA_BATCH_SIZE)",
            config.ingest.batch_size,
        ),
    ];
    for (setting, value) in at_least_one {
        if value == 0 {
            return Err(invalid(setting, "must be at least 1"));
        }
    }
    crate::notify::channel::email::check_sender(&config.notify.smtp.from).map_err(|e| {
        invalid(
            "notify.smtp.from (ERRATA_SMTP_FROM)",
            format!(
                "{:?} is not a mailbox like `Errata <errata@example.com>`: {e}",
                config.notify.smtp.from
            ),
        )
    })?;
    config
        .security
        .metrics_networks()
        .map_err(|e| invalid("security.metrics_allow (ERRATA_METRICS_ALLOW)", e))?;
    Ok(())
}

/// An absolute `http(s)://host[:port][/path]` URL without credentials, query or fragment:
/// DSNs and links are built by appending to it.
fn check_base_url(base: &str) -> Result<(), String> {
    let url = url::Url::parse(base.trim()).map_err(|e| {
        format!("{base:?} is not an absolute URL ({e}), e.g. https://errors.example.com")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "{base:?} has the scheme {:?}: only http and https are served",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{base:?} has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{base:?} carries credentials: DSNs put the project key there"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{base:?} has a query or fragment: links and DSNs are built by appending paths"
        ));
    }
    Ok(())
}

/// A `sqlite:` URL sqlx can read, or a `postgres:`/`postgresql:` one.
fn check_database_url(url: &str) -> Result<(), String> {
    match url.split(':').next().unwrap_or_default() {
        "sqlite" => crate::store::sqlite_file(url)
            .map(drop)
            .map_err(|e| e.to_string()),
        "postgres" | "postgresql" => url::Url::parse(url)
            .map(drop)
            .map_err(|e| format!("not a postgres:// URL: {e}")),
        _ => Err("use sqlite://PATH or postgres://USER@HOST/DB".to_owned()),
    }
}

/// Creates the default database folder `data/` when the SQLite database is to live in it and
/// it is missing; any other folder is left to the operator. Errors name the setting.
pub fn prepare_database_dir(config: &Config) -> Result<(), InvalidSetting> {
    let setting = "database_url (DATABASE_URL)";
    if !config.database_url.starts_with("sqlite:") {
        return Ok(());
    }
    let file = crate::store::sqlite_file(&config.database_url)
        .map_err(|e| invalid(setting, e.to_string()))?;
    let Some(dir) = file.as_deref().and_then(Path::parent) else {
        return Ok(());
    };
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if dir != Path::new(DEFAULT_DATA_DIR) {
        return Err(invalid(
            setting,
            format!(
                "the folder {} does not exist; create it first (only {DEFAULT_DATA_DIR}/ in the \
                 working directory is created automatically)",
                dir.display()
            ),
        ));
    }
    std::fs::create_dir(dir).map_err(|e| {
        invalid(
            setting,
            format!("cannot create the folder {}: {e}", dir.display()),
        )
    })
}

/// A command other than `serve` found no database where it looked, and was not given
/// `--create`: it would have created an empty one and shown nothing (issue #20, item 1).
#[derive(Debug, thiserror::Error)]
#[error(
    "no Errata database at {place}{why}. Run the command where `errata serve` runs, set \
     DATABASE_URL (or --database-url) to the server's database, or pass --create to start a \
     new, empty one there"
)]
pub struct NoDatabase {
    /// Where the command looked: the SQLite file's absolute path, or the PostgreSQL URL
    /// without its password.
    pub place: String,
    /// Why it looked there, when it was the default.
    pub why: String,
}

/// Where `config.database_url` leads, for people: a SQLite file's absolute path (a relative
/// one is relative to the working directory), an in-memory database, or the PostgreSQL URL
/// without its password.
pub fn database_place(config: &Config) -> String {
    let url = &config.database_url;
    if url.starts_with("sqlite:") {
        return match crate::store::sqlite_file(url) {
            Ok(Some(file)) => std::path::absolute(&file)
                .unwrap_or(file)
                .display()
                .to_string(),
            Ok(None) => format!("{url} (in memory)"),
            Err(_) => url.clone(),
        };
    }
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.clone(),
    }
}

/// Refuses to go on when `config.database_url` names a database Errata has never used
/// ([`crate::store::is_new_database`]), unless `create`. Errors: [`NoDatabase`] saying where
/// it looked, or the store's error when it could not look.
pub async fn refuse_new_database(config: &Config, create: bool) -> anyhow::Result<()> {
    if create || !crate::store::is_new_database(&config.database_url).await? {
        return Ok(());
    }
    let missing_folder = crate::store::sqlite_file(&config.database_url)
        .ok()
        .flatten()
        .and_then(|f| f.parent().map(Path::to_path_buf))
        .filter(|d| !d.as_os_str().is_empty() && !d.is_dir());
    let why = if config.database_url == Config::default().database_url {
        let cwd = std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_else(|_| "the working directory".into());
        format!(
            " (DATABASE_URL is not set, so the default {} was looked for in {cwd})",
            config.database_url
        )
    } else if let Some(dir) = missing_folder {
        format!(" (the folder {} does not exist)", dir.display())
    } else {
        String::new()
    };
    Err(NoDatabase {
        place: database_place(config),
        why,
    }
    .into())
}

/// The public base URL `errata serve` runs with, and a warning to log: `base_url` when set;
/// else `http://{listening}` (the address actually bound, so port 0 gets its real port).
/// An unspecified address (`0.0.0.0`, `::`) is not one an SDK can send to: without
/// `base_url` its loopback address stands in, with a warning naming the setting.
pub fn public_base_url(
    config: &Config,
    listening: std::net::SocketAddr,
) -> (String, Option<String>) {
    if config.base_url.is_some() {
        return (config.base_url(), None);
    }
    if !listening.ip().is_unspecified() {
        return (format!("http://{listening}"), None);
    }
    let loopback = match listening {
        std::net::SocketAddr::V4(_) => std::net::IpAddr::from([127, 0, 0, 1]),
        std::net::SocketAddr::V6(_) => std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
    };
    let base = format!(
        "http://{}",
        std::net::SocketAddr::new(loopback, listening.port())
    );
    let warning = format!(
        "listening on {listening} without base_url: DSNs and links name {base}, which only \
         this machine can reach; set base_url (ERRATA_BASE_URL or --base-url) to the URL SDKs \
         reach this server at, e.g. http://errors.example.com:{}",
        listening.port()
    );
    (base, Some(warning))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(tweak: impl FnOnce(&mut Config)) -> String {
        let mut c = Config::default();
        tweak(&mut c);
        validate(&c).expect_err("refused").to_string()
    }

    #[test]
    fn the_defaults_are_valid() {
        validate(&Config::default()).expect("defaults");
        let mut c = Config {
            base_url: Some("https://errors.example.com/sub/".into()),
            database_url: "postgres://errata@db.internal/errata".into(),
            ..Config::default()
        };
        c.security.metrics_allow = vec!["10.0.0.0/8".into()];
        validate(&c).expect("valid");
    }

    #[test]
    fn each_refusal_names_its_setting() {
        for (bad, setting) in [
            ("not a url", "base_url (ERRATA_BASE_URL)"),
            ("javascript:alert(1)", "base_url (ERRATA_BASE_URL)"),
            ("ftp://errors.example.com", "base_url (ERRATA_BASE_URL)"),
            (
                "https://u:p@errors.example.com",
                "base_url (ERRATA_BASE_URL)",
            ),
            (
                "https://errors.example.com/?x=1",
                "base_url (ERRATA_BASE_URL)",
            ),
        ] {
            let err = refused(|c| c.base_url = Some(bad.into()));
            assert!(err.contains(setting), "{bad}: {err}");
        }
        let err = refused(|c| c.limits.max_event_bytes = 0);
        assert!(err.contains("ERRATA_MAX_EVENT_BYTES"), "{err}");
        let err = refused(|c| c.notify.smtp.from = "nope".into());
        assert!(err.contains("notify.smtp.from (ERRATA_SMTP_FROM)"), "{err}");
        let err = refused(|c| c.database_url = "mysql://x".into());
        assert!(err.contains("DATABASE_URL"), "{err}");
        let err = refused(|c| c.security.metrics_allow = vec!["everyone".into()]);
        assert!(err.contains("security.metrics_allow"), "{err}");
    }

    #[test]
    fn the_public_base_url_is_one_sdks_can_reach() {
        let mut c = Config::default();
        let (base, warning) = public_base_url(&c, "127.0.0.1:9123".parse().unwrap());
        assert_eq!((base.as_str(), warning), ("http://127.0.0.1:9123", None));
        let (base, warning) = public_base_url(&c, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(base, "http://127.0.0.1:9000");
        let warning = warning.expect("a warning");
        assert!(
            warning.contains("0.0.0.0:9000") && warning.contains("base_url (ERRATA_BASE_URL"),
            "{warning}"
        );
        let (base, _) = public_base_url(&c, "[::]:9000".parse().unwrap());
        assert_eq!(base, "http://[::1]:9000");
        c.base_url = Some("https://errors.example.com/".into());
        let (base, warning) = public_base_url(&c, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(
            (base.as_str(), warning),
            ("https://errors.example.com", None)
        );
    }
}
