//! The `errata` command line: `serve`, `project create|list`, `token create`.
//!
//! Commands that create something print only the DSN or token on stdout, so scripts can
//! capture them; everything else goes to the log on stderr.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{Config, Overrides};
use crate::store::Store;
use crate::{telemetry, App};

/// Errata: a self-hosted error tracker speaking the Sentry protocol.
#[derive(Debug, Parser)]
#[command(name = "errata", version, about)]
pub struct Cli {
    /// Optional TOML configuration file (environment variables and flags override it)
    #[arg(long, env = "ERRATA_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub overrides: Overrides,
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (creates a default project on first start and prints its DSN)
    Serve,
    /// Manage projects
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Manage read-API tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// Notifications: test channels, show their health, manage project channels and rules
    #[command(subcommand)]
    Notify(crate::notify::cli::NotifyCommand),
    /// Manage users of the web issue browser
    #[command(subcommand)]
    User(crate::web::cli::UserCommand),
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
}

/// `errata token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a read-API token and print it
    Create {
        /// A label for the token
        #[arg(long, default_value = "cli")]
        name: String,
    },
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(cli.config.as_deref())?;
    config.apply(&cli.overrides);
    telemetry::init_logging(config.log_format);
    let store = Store::connect(&config.database_url)
        .await
        .with_context(|| format!("cannot open database {}", redact(&config.database_url)))?;
    match cli.command {
        Command::Serve => serve(config, store).await,
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
        Command::Token(TokenCommand::Create { name }) => {
            println!("{}", store.create_token(&name).await?);
            Ok(())
        }
        Command::Notify(cmd) => Ok(crate::notify::cli::run(cmd, &config, &store).await?),
        Command::User(cmd) => crate::web::cli::run(cmd, &store).await,
    }
}

async fn serve(config: Config, store: Store) -> anyhow::Result<()> {
    // A bad admins list is a configuration error: refuse to start rather than run silently.
    crate::notify::rules::config_channels(&config.notify)
        .context("invalid notification settings")?;
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
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
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
