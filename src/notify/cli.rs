//! `errata notify …`: test every channel, show their health, manage a project's channels
//! and frequency rule.
//!
//! Output is one line per item on stdout (tab-separated where it is a listing); webhook URLs
//! are shown redacted, since they are credentials.

use clap::Subcommand;

use crate::config::Config;
use crate::store::{Channel, ChannelKind, FrequencyRule, Store, StoreError};
use crate::timefmt::rfc3339_ms;

use super::recipients::parse_list;
use super::slack::redact_webhook;
use super::{Notifier, NotifyError};

/// `errata notify …`
#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send a test message to every configured channel and print each result
    Test,
    /// Show each channel's health (failing or not) and delivery counts, and the rules
    Status,
    /// Manage a project's own channels (the admins come from the configuration)
    #[command(subcommand)]
    Channels(ChannelCommand),
    /// Set a project's frequency alert: more than EVENTS events in MINUTES minutes
    Rule {
        /// Project id or name
        project: String,
        /// Threshold: alert when an issue receives more than this many events…
        #[arg(long, required_unless_present = "off", requires = "minutes")]
        events: Option<i64>,
        /// …within this many minutes
        #[arg(long, requires = "events")]
        minutes: Option<i64>,
        /// Remove the project's frequency alert
        #[arg(long, conflicts_with_all = ["events", "minutes"])]
        off: bool,
    },
}

/// `errata notify channels …`
#[derive(Debug, Subcommand)]
pub enum ChannelCommand {
    /// List every active channel
    List,
    /// Add e-mail recipients to a project: "Jose <jose@example.com>, Adin <adin@example.com>"
    AddEmail {
        /// Project id or name
        project: String,
        /// Recipient list
        recipients: String,
    },
    /// Add a Slack incoming-webhook URL to a project
    AddSlack {
        /// Project id or name
        project: String,
        /// Webhook URL (https://hooks.slack.com/services/…)
        url: String,
    },
    /// Remove a channel by id (see `list`)
    Remove {
        /// Channel id
        channel_id: i64,
    },
}

/// Runs a `notify` subcommand. Errors: database failures, unknown projects or channels,
/// invalid input, and for `test` any channel that failed.
pub async fn run(
    command: NotifyCommand,
    config: &Config,
    store: &Store,
) -> Result<(), NotifyError> {
    match command {
        NotifyCommand::Test => test(config, store).await,
        NotifyCommand::Status => status(store).await,
        NotifyCommand::Channels(ChannelCommand::List) => {
            for c in store.channels().await? {
                println!("{}", channel_line(&c));
            }
            Ok(())
        }
        NotifyCommand::Channels(ChannelCommand::AddEmail {
            project,
            recipients,
        }) => {
            let project_id = project_id(store, &project).await?;
            let list = parse_list(&recipients)?;
            if list.is_empty() {
                return Err(NotifyError::Usage("no recipients given".into()));
            }
            for r in list {
                let c = store
                    .add_channel(project_id, ChannelKind::Email, &r.to_string())
                    .await?;
                println!("{}", channel_line(&c));
            }
            Ok(())
        }
        NotifyCommand::Channels(ChannelCommand::AddSlack { project, url }) => {
            let project_id = project_id(store, &project).await?;
            match url::Url::parse(url.trim()) {
                Ok(u) if matches!(u.scheme(), "https" | "http") => {}
                _ => {
                    return Err(NotifyError::Usage(
                        "the webhook must be an http(s) URL".into(),
                    ))
                }
            }
            let c = store
                .add_channel(project_id, ChannelKind::Slack, url.trim())
                .await?;
            println!("{}", channel_line(&c));
            Ok(())
        }
        NotifyCommand::Channels(ChannelCommand::Remove { channel_id }) => {
            match store.remove_channel(channel_id).await {
                Err(StoreError::NotFound) => {
                    Err(NotifyError::Usage(format!("no channel {channel_id}")))
                }
                other => Ok(other?),
            }
        }
        NotifyCommand::Rule {
            project,
            events,
            minutes,
            off,
        } => {
            let project_id = project_id(store, &project).await?;
            let rule = match (off, events, minutes) {
                (true, _, _) => None,
                (false, Some(events), Some(minutes)) if events >= 0 && minutes > 0 => {
                    Some(FrequencyRule { events, minutes })
                }
                _ => {
                    return Err(NotifyError::Usage(
                        "--events must be ≥ 0 and --minutes > 0".into(),
                    ))
                }
            };
            store.set_frequency_rule(project_id, rule).await?;
            match rule {
                Some(r) => println!(
                    "project {project_id}: alert when an issue gets more than {} events in {} minutes",
                    r.events, r.minutes
                ),
                None => println!("project {project_id}: frequency alert off"),
            }
            Ok(())
        }
    }
}

async fn test(config: &Config, store: &Store) -> Result<(), NotifyError> {
    let notifier = Notifier::new(store.clone(), config)?;
    let results = notifier.test_channels().await?;
    if results.is_empty() {
        println!(
            "no channels: set ERRATA_ADMINS or add one with `errata notify channels add-email`"
        );
        return Ok(());
    }
    let mut failed = 0;
    for r in &results {
        let (word, detail) = match &r.result {
            Ok(reply) => ("ok", reply.clone()),
            Err(e) => {
                failed += 1;
                ("FAILED", e.to_string())
            }
        };
        println!(
            "{word}\t{}\t{detail}\t{} ms",
            channel_line(&r.channel),
            r.latency_ms
        );
    }
    if failed > 0 {
        return Err(NotifyError::TestFailed {
            failed,
            total: results.len(),
        });
    }
    Ok(())
}

async fn status(store: &Store) -> Result<(), NotifyError> {
    let all = store.notification_status().await?;
    if all.is_empty() {
        println!("no channels");
    }
    for s in &all {
        let health = match s.channel.failing_since_ms {
            Some(since) => format!("FAILING since {}", rfc3339_ms(since)),
            None => "ok".to_owned(),
        };
        let mut line = format!(
            "{}\t{health}\tfailures={}\tpending={}\tsent={}\tfailed={}\tfolded={}",
            channel_line(&s.channel),
            s.channel.consecutive_failures,
            s.pending,
            s.sent,
            s.failed,
            s.folded
        );
        if let Some(e) = &s.channel.last_error {
            line.push_str(&format!("\tlast_error={e}"));
        }
        println!("{line}");
    }
    for (project_id, r) in store.frequency_rules().await? {
        println!(
            "rule\tproject {project_id}\tmore than {} events in {} minutes",
            r.events, r.minutes
        );
    }
    Ok(())
}

/// `#3  project 1  email  Jose <jose@example.com>` (webhooks redacted).
fn channel_line(c: &Channel) -> String {
    let scope = c
        .project_id
        .map_or_else(|| "global".to_owned(), |p| format!("project {p}"));
    let target = match c.kind {
        ChannelKind::Email => c.target.clone(),
        ChannelKind::Slack => redact_webhook(&c.target),
    };
    format!("#{}\t{scope}\t{}\t{target}", c.id, c.kind.as_str())
}

/// A project given by id or by name.
async fn project_id(store: &Store, given: &str) -> Result<i64, NotifyError> {
    let projects = store.list_projects().await?;
    projects
        .iter()
        .find(|p| p.id.to_string() == given)
        .or_else(|| projects.iter().find(|p| p.name == given))
        .map(|p| p.id)
        .ok_or_else(|| NotifyError::Usage(format!("no project {given:?}")))
}
