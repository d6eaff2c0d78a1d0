//! `errata notify …`: test every channel, show their health, manage a project's channels
//! and frequency rule.
//!
//! Output is one line per item on stdout (tab-separated where it is a listing); targets are
//! shown as their channel kind redacts them (webhook URLs are credentials). Channels are
//! added through [`super::channel::add`], the same validation as the web form.

use clap::Subcommand;

use crate::config::Config;
use crate::store::{Channel, FrequencyRule, Store, StoreError};
use crate::timefmt::rfc3339_ms;

use super::channel::{self, AddChannelError};
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
    /// Add a Slack incoming-webhook URL to a project (https; private or loopback targets
    /// and plain http only with ERRATA_NOTIFY_ALLOW_PRIVATE_TARGETS=true)
    AddSlack {
        /// Project id or name
        project: String,
        /// Webhook URL (https://hooks.slack.com/services/…)
        url: String,
    },
    /// Add a generic webhook (signed JSON, README "Webhook payload") to a project; without
    /// --secret a random secret is made and printed once
    AddWebhook {
        /// Project id or name
        project: String,
        /// Webhook URL (https)
        url: String,
        /// Signing secret (16 to 200 printable ASCII characters)
        #[arg(long)]
        secret: Option<String>,
    },
    /// Add a Discord webhook URL to a project
    AddDiscord {
        /// Project id or name
        project: String,
        /// Webhook URL (https://discord.com/api/webhooks/…)
        url: String,
    },
    /// Add a Microsoft Teams incoming webhook or Workflows URL to a project
    AddTeams {
        /// Project id or name
        project: String,
        /// Webhook URL
        url: String,
    },
    /// Add a PagerDuty service (Events API v2 routing key) to a project
    AddPagerduty {
        /// Project id or name
        project: String,
        /// Routing key of the service's Events API v2 integration
        routing_key: String,
    },
    /// Add an ntfy topic to a project
    AddNtfy {
        /// Project id or name
        project: String,
        /// Topic URL (https://ntfy.sh/TOPIC)
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
        }) => add_channels(config, store, &project, "email", &recipients)
            .await
            .map(drop),
        NotifyCommand::Channels(ChannelCommand::AddSlack { project, url }) => {
            add_channels(config, store, &project, "slack", &url)
                .await
                .map(drop)
        }
        NotifyCommand::Channels(ChannelCommand::AddWebhook {
            project,
            url,
            secret,
        }) => {
            let input = match &secret {
                Some(s) => format!("{url} {s}"),
                None => url,
            };
            let added = add_channels(config, store, &project, "webhook", &input).await?;
            if secret.is_none() {
                for c in &added {
                    let (_, made) = channel::webhook::split_target(&c.target);
                    println!("secret	#{}	{made}", c.id);
                }
            }
            Ok(())
        }
        NotifyCommand::Channels(ChannelCommand::AddDiscord { project, url }) => {
            add_channels(config, store, &project, "discord", &url)
                .await
                .map(drop)
        }
        NotifyCommand::Channels(ChannelCommand::AddTeams { project, url }) => {
            add_channels(config, store, &project, "teams", &url)
                .await
                .map(drop)
        }
        NotifyCommand::Channels(ChannelCommand::AddPagerduty {
            project,
            routing_key,
        }) => add_channels(config, store, &project, "pagerduty", &routing_key)
            .await
            .map(drop),
        NotifyCommand::Channels(ChannelCommand::AddNtfy { project, url }) => {
            add_channels(config, store, &project, "ntfy", &url)
                .await
                .map(drop)
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

/// `add-…`: validates `input` for `kind`, prints each channel added, and returns them.
async fn add_channels(
    config: &Config,
    store: &Store,
    project: &str,
    kind: &str,
    input: &str,
) -> Result<Vec<Channel>, NotifyError> {
    let project_id = project_id(store, project).await?;
    let policy = config.notify.target_policy();
    let added = channel::add(store, project_id, kind, input, &policy)
        .await
        .map_err(|e| match e {
            AddChannelError::Invalid(e) => NotifyError::Invalid(e),
            AddChannelError::Store(e) => NotifyError::Store(e),
        })?;
    for c in &added {
        println!("{}", channel_line(c));
    }
    Ok(added)
}

/// `#3  project 1  email  Jose <jose@example.com>` (targets redacted by their kind).
fn channel_line(c: &Channel) -> String {
    let scope = c
        .project_id
        .map_or_else(|| "global".to_owned(), |p| format!("project {p}"));
    format!(
        "#{}\t{scope}\t{}\t{}",
        c.id,
        c.kind.as_str(),
        channel::redact(c)
    )
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
