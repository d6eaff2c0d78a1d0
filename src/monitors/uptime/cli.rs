//! `errata uptime add|list|remove`: uptime checks from the command line, through the same
//! validation and target rule as the API ([`super::manage`]).
//!
//! `add` prints the new check's id; `list` prints one line per check: id, project, status,
//! interval, last response time, URL; `remove` deletes a check with its results.

use anyhow::bail;
use clap::Subcommand;
use serde_json::{json, Map, Value};

use super::config::parse_seconds;
use super::manage;
use crate::clock::Clock;
use crate::config::Config;
use crate::store::Store;

/// `errata uptime …`
#[derive(Debug, Subcommand)]
pub enum UptimeCommand {
    /// Add an uptime check: Errata requests URL every interval and tells you when it is down
    Add {
        /// Project id or name
        project: String,
        /// The URL to check (http:// or https://)
        url: String,
        /// Time between checks: 10s to 1d
        #[arg(long, default_value = "60s")]
        interval: String,
        /// Time before a check times out: 1s to 60s
        #[arg(long, default_value = "10s")]
        timeout: String,
        /// Text the response body must contain
        #[arg(long)]
        keyword: Option<String>,
        /// Status codes that count as up: `200`, `200-299`, `200,204`, `2xx` [default: 200-399]
        #[arg(long)]
        expect: Option<String>,
    },
    /// List uptime checks (of one project, or all)
    List {
        /// Project id or name
        project: Option<String>,
    },
    /// Remove an uptime check by its id (its results and incidents go with it)
    Remove {
        /// The check's id
        id: i64,
    },
}

async fn project_id(store: &Store, given: &str) -> anyhow::Result<i64> {
    let projects = store.list_projects().await?;
    match projects
        .iter()
        .find(|p| p.id.to_string() == given)
        .or_else(|| projects.iter().find(|p| p.name == given))
    {
        Some(p) => Ok(p.id),
        None => bail!("no project {given:?}"),
    }
}

/// Runs an `errata uptime` command.
pub async fn run(cmd: UptimeCommand, config: &Config, store: &Store) -> anyhow::Result<()> {
    let now = Clock::system().now_ms();
    match cmd {
        UptimeCommand::Add {
            project,
            url,
            interval,
            timeout,
            keyword,
            expect,
        } => {
            let id = project_id(store, &project).await?;
            let seconds = |flag: &str, v: &str| {
                parse_seconds(v).map_err(|e| anyhow::anyhow!("--{flag}: {e}"))
            };
            let mut fields: Map<String, Value> = Map::new();
            fields.insert("url".into(), json!(url));
            fields.insert(
                "interval_seconds".into(),
                json!(seconds("interval", &interval)?),
            );
            fields.insert(
                "timeout_seconds".into(),
                json!(seconds("timeout", &timeout)?),
            );
            if let Some(k) = keyword {
                fields.insert("keyword".into(), json!(k));
            }
            if let Some(e) = expect {
                fields.insert("expected_status".into(), json!(e));
            }
            let policy = config.uptime.target_policy();
            let check = manage::create(store, id, &fields, &policy, now).await?;
            println!("{}", check.id);
        }
        UptimeCommand::List { project } => {
            let checks = match project {
                Some(p) => store.uptime_checks(project_id(store, &p).await?).await?,
                None => store.all_uptime_checks().await?,
            };
            for c in checks {
                let status = crate::api::uptime::shown_status(&c);
                let response = c
                    .last_response_ms
                    .map_or_else(|| "-".to_owned(), |ms| format!("{ms} ms"));
                println!(
                    "{}\tproject {}\t{status}\tevery {} s\t{response}\t{}",
                    c.id, c.project_id, c.config.interval_seconds, c.config.url
                );
            }
        }
        UptimeCommand::Remove { id } => {
            match store.delete_uptime_check(id).await {
                Err(crate::store::StoreError::NotFound) => bail!("no uptime check {id}"),
                other => other?,
            }
            println!("removed uptime check {id}");
        }
    }
    Ok(())
}
