//! The `errata` command line: `serve`, `project create|list|update|delete`,
//! `token create|list|revoke`, `retention run|status|vacuum`, `user …` (in `web::cli`),
//! `team …` (in `web::team_cli`),
//! `notify …` (in `notify::cli`).
//!
//! Commands that create something print only the DSN or token on stdout, so scripts can
//! capture them; everything else goes to the log on stderr, which starts with the database
//! the command opened.
//!
//! Global flags are only those every command uses (`--config`, `--database-url`,
//! `--log-format`, `--create`); the server's settings are flags of `serve` alone
//! ([`Overrides`]), and every command still reads them from the environment and the file
//! (`notify test` needs the SMTP settings, `retention run` the retention rules). Commands
//! other than `serve` open only a database that exists, unless `--create`, and print DSNs
//! and links with the base URL the server recorded in it (`store::server_settings`).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, FromArgMatches, Parser, Subcommand};

use crate::config::{Config, LogFormat, Overrides};
use crate::store::Store;
use crate::{telemetry, App};

/// Errata: a self-hosted error tracker speaking the Sentry protocol.
#[derive(Debug, Parser)]
#[command(name = "errata", version, about)]
pub struct Cli {
    /// Optional TOML configuration file (environment variables and flags override it)
    #[arg(long, env = "ERRATA_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB [default: sqlite://data/errata.db]
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Log format [default: auto]
    #[arg(long, env = "ERRATA_LOG_FORMAT", global = true)]
    pub log_format: Option<LogFormat>,
    /// Let a command other than `serve` create a new, empty database where none exists
    /// (without it such a command refuses, saying where it looked)
    #[arg(long, global = true)]
    pub create: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (creates a default project on first start and prints its DSN)
    Serve(Box<Overrides>),
    /// Manage projects
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Manage API tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// Notifications: test channels, show their health, manage project channels and rules
    #[command(subcommand)]
    Notify(crate::notify::cli::NotifyCommand),
    /// Manage users of the web issue browser
    #[command(subcommand)]
    User(crate::web::cli::UserCommand),
    /// Manage teams: their members and the projects only they see
    #[command(subcommand)]
    Team(crate::web::team_cli::TeamCommand),
    /// Data lifecycle: run a pruning pass, show the database's size and contents
    #[command(subcommand)]
    Retention(crate::retention::cli::RetentionCommand),
    /// Uptime checks: add, list and remove the URLs Errata checks
    #[command(subcommand)]
    Uptime(crate::monitors::uptime::cli::UptimeCommand),
}

/// `errata project …`
#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Create a project and print its DSN
    Create {
        /// Project name
        name: String,
    },
    /// List projects with their DSNs
    List,
    /// Change a project's retention, cap per issue and rate limit
    Update(crate::retention::cli::ProjectUpdate),
    /// Delete a project and everything it owns (in batches)
    Delete {
        /// Project id or name
        project: String,
    },
}

/// `errata token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token and print it (only the token, once)
    Create {
        /// A label for the token
        #[arg(long, default_value = "cli")]
        name: String,
        /// A scope of the token (repeatable): `project:read`, `project:write`,
        /// `project:releases` (source maps and releases, for CI), `project:admin`,
        /// `org:admin`; without one the token may do everything (`org:admin`)
        #[arg(long, value_parser = crate::http::principal::SCOPES)]
        scope: Vec<String>,
        /// Limit the token to a project, by name or id (repeatable); without one it sees
        /// every project
        #[arg(long)]
        project: Vec<String>,
    },
    /// List API tokens: id, name, last four characters, owner, created, last used
    List,
    /// Revoke an API token by its id (from `token list`)
    Revoke {
        /// The token's id
        id: i64,
    },
}

/// Runs the parsed command line: the configuration is checked first
/// ([`crate::startup::validate`]); `serve` then binds its port before anything touches the
/// database, so that a bad setting or a port in use creates nothing.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(cli.config.as_deref())?;
    match &cli.command {
        Command::Serve(flags) => config.apply(flags),
        _ => config.apply(&settings_from_environment()?),
    }
    if let Some(url) = &cli.database_url {
        config.database_url.clone_from(url);
    }
    if let Some(format) = cli.log_format {
        config.log_format = format;
    }
    telemetry::init_logging(config.log_format);
    crate::startup::validate(&config)?;
    // A bad admins list is a configuration error: refuse it before anything is created.
    crate::notify::rules::config_channels(&config.notify)
        .context("invalid notification settings")?;
    let listener = match cli.command {
        Command::Serve(_) => Some(bind(&config).await?),
        _ => {
            crate::startup::refuse_new_database(&config, cli.create).await?;
            None
        }
    };
    crate::startup::prepare_database_dir(&config)?;
    eprintln!(
        "errata: database {}",
        crate::startup::database_place(&config)
    );
    let store = Store::connect_with(&config.database_url, &config.storage)
        .await
        .with_context(|| format!("cannot open database {}", redact(&config.database_url)))?;
    if !matches!(cli.command, Command::Serve(_)) && config.base_url.is_none() {
        config.base_url = store
            .server_setting(crate::store::server_settings::BASE_URL)
            .await?;
    }
    match cli.command {
        Command::Serve(_) => serve(config, store, listener).await,
        Command::Project(ProjectCommand::Create { name }) => {
            let p = store.create_project(&name).await?;
            println!("{}", config.dsn(&p.public_key, p.id));
            Ok(())
        }
        Command::Project(ProjectCommand::List) => {
            for p in store.list_projects().await? {
                println!("{}\t{}\t{}", p.id, p.name, config.dsn(&p.public_key, p.id));
            }
            Ok(())
        }
        Command::Token(cmd) => crate::web::cli::run_token(cmd, &store).await,
        Command::Project(ProjectCommand::Update(args)) => {
            crate::retention::cli::update(args, &store).await
        }
        Command::Project(ProjectCommand::Delete { project }) => {
            crate::retention::cli::delete(&project, &store).await
        }
        Command::Retention(cmd) => crate::retention::cli::run(cmd, &config, &store).await,
        Command::Uptime(cmd) => crate::monitors::uptime::cli::run(cmd, &config, &store).await,
        Command::Notify(cmd) => Ok(crate::notify::cli::run(cmd, &config, &store).await?),
        Command::User(cmd) => crate::web::cli::run(cmd, &config, &store).await,
        Command::Team(cmd) => crate::web::team_cli::run(cmd, &store).await,
    }
}

/// The server settings of a command other than `serve`: from the environment only (the
/// same variables as `serve`'s flags, read by the same definitions).
fn settings_from_environment() -> anyhow::Result<Overrides> {
    let command = Overrides::augment_args(clap::Command::new("errata").no_binary_name(true));
    let matches = command
        .try_get_matches_from(std::iter::empty::<String>())
        .context("invalid setting in the environment")?;
    Ok(Overrides::from_arg_matches(&matches)?)
}

/// Connections the kernel queues before `accept` (capped by `net.core.somaxconn`). Tokio's
/// default of 1,024 overflowed under 2,000 connecting senders, and every client then waited
/// a SYN retransmission (1 s and more), `/healthz` included (bench/README.md).
const LISTEN_BACKLOG: u32 = 4096;

/// The server's listening socket on `config.bind`.
async fn bind(config: &Config) -> anyhow::Result<tokio::net::TcpListener> {
    let listen = || -> std::io::Result<tokio::net::TcpListener> {
        let socket = if config.bind.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(config.bind)?;
        socket.listen(LISTEN_BACKLOG)
    };
    listen().with_context(|| format!("cannot listen on {} (bind, ERRATA_BIND)", config.bind))
}

/// `errata serve` on `listener` (bound here when `None`).
async fn serve(
    mut config: Config,
    store: Store,
    listener: Option<tokio::net::TcpListener>,
) -> anyhow::Result<()> {
    let listener = match listener {
        Some(l) => l,
        None => bind(&config).await?,
    };
    let (base_url, warning) = crate::startup::public_base_url(&config, listener.local_addr()?);
    if let Some(warning) = warning {
        tracing::warn!("{warning}");
    }
    store
        .set_server_setting(
            crate::store::server_settings::BASE_URL,
            &base_url,
            crate::clock::system_now_ms(),
        )
        .await?;
    config.base_url = Some(base_url);
    let projects = store.list_projects().await?;
    if projects.is_empty() {
        let p = store.create_project("default").await?;
        let dsn = config.dsn(&p.public_key, p.id);
        println!("Created project \"default\". Point any Sentry SDK at this DSN:\n\n    {dsn}\n");
    } else {
        for p in &projects {
            tracing::info!(project = %p.name, dsn = %config.dsn(&p.public_key, p.id), "project");
        }
    }
    crate::web::cli::first_start_hint(&config, &store).await?;
    crate::retention::vacuum::at_start(&store, config.retention.vacuum_at_start_up_to).await;
    tracing::info!(bind = %config.bind, database = %redact(&config.database_url), "errata listening");
    let app = App::new(config, store.clone());
    crate::serve(listener, app, shutdown_signal()).await?;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests and pending commits");
}

/// Hides a password in a database URL for logs.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}
