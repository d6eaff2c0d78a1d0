//! `errata retention run|status|vacuum` and `errata project update|delete`.
//!
//! Output is plain text, one fact per line; `run` prints what the pass deleted.

use anyhow::bail;
use clap::{Args, Subcommand};

use crate::clock::Clock;
use crate::config::Config;
use crate::notify::email_digest;
use crate::store::{Limit, Store};
use crate::timefmt::rfc3339_ms;

use super::vacuum::{self, Conversion};
use super::{idle, run_pass, Mode};

/// `errata retention …`
#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Run one pruning pass now (exact: every issue down to its cap, every free page
    /// returned), fold idle tag values, and print what they did
    Run,
    /// Database size, events kept, the oldest event, the rules, and the last passes
    Status,
    /// Give an older SQLite file `auto_vacuum = incremental` (one full VACUUM; ingestion
    /// waits meanwhile) so that pruning can shrink it
    Vacuum,
}

/// `errata project update PROJECT …`
#[derive(Debug, Args)]
pub struct ProjectUpdate {
    /// Project id or name
    pub project: String,
    /// Days events are kept (0 = forever, `default` = the configuration's)
    #[arg(long)]
    pub retention_days: Option<String>,
    /// Events kept per issue (0 = all, `default` = the configuration's)
    #[arg(long)]
    pub max_events_per_issue: Option<String>,
    /// Events accepted per minute: `N/min` (or `N`), `off` for no limit
    #[arg(long)]
    pub rate_limit: Option<String>,
    /// At most one e-mail per this many minutes about the project (a digest), `off` for none
    #[arg(long)]
    pub email_digest_minutes: Option<String>,
}

/// Parses a setting's value: a number, or `default`/`off` (`None`). Errors name the flag.
pub fn parse_setting(flag: &str, value: &str) -> anyhow::Result<Option<i64>> {
    let v = value.trim();
    if matches!(v, "default" | "off" | "none" | "") {
        return Ok(None);
    }
    let number = v.strip_suffix("/min").unwrap_or(v).trim();
    match number.parse::<i64>() {
        Ok(n) if (0..=1_000_000_000).contains(&n) => Ok(Some(n)),
        _ => {
            bail!("--{flag} {value:?}: expected a number from 0 to 1000000000, or `default`/`off`")
        }
    }
}

/// The settings given (retention days, events per issue, rate limit; `None` = not given),
/// parsed with [`parse_setting`]: the changes to make, or the first value's error.
pub fn parse_settings(given: [Option<&str>; 3]) -> anyhow::Result<Vec<(Limit, Option<i64>)>> {
    let settings = [
        (Limit::RetentionDays, "retention-days"),
        (Limit::MaxEventsPerIssue, "max-events-per-issue"),
        (Limit::RateLimitPerMinute, "rate-limit"),
    ];
    let mut changes = Vec::new();
    for ((limit, flag), value) in settings.into_iter().zip(given) {
        if let Some(value) = value {
            changes.push((limit, parse_setting(flag, value)?));
        }
    }
    Ok(changes)
}

/// `errata project update`.
pub async fn update(args: ProjectUpdate, store: &Store) -> anyhow::Result<()> {
    let id = project_id(store, &args.project).await?;
    let changes = parse_settings([
        args.retention_days.as_deref(),
        args.max_events_per_issue.as_deref(),
        args.rate_limit.as_deref(),
    ])?;
    let digest = args.email_digest_minutes.as_deref();
    let digest = digest.map(email_digest::parse_minutes).transpose()?;
    if changes.is_empty() && digest.is_none() {
        bail!(
            "nothing to change: give --retention-days, --max-events-per-issue, --rate-limit \
             or --email-digest-minutes"
        );
    }
    for (limit, value) in changes {
        store.set_project_limit(id, limit, value).await?;
    }
    if let Some(minutes) = digest {
        store.set_project_email_digest(id, minutes).await?;
    }
    let p = store.project_limit(id).await?;
    println!("{}", describe_limits(&p));
    let minutes = store.project_email_digest(id).await?;
    println!("e-mail digest: {}", email_digest::describe(minutes));
    Ok(())
}

/// `errata project delete`.
pub async fn delete(project: &str, store: &Store) -> anyhow::Result<()> {
    let id = project_id(store, project).await?;
    let by = crate::store::Actor::cli();
    store
        .delete_project_audited(id, &by, Clock::system().now_ms())
        .await?;
    let (events, issues) = super::delete_project(store, id, Clock::system().now_ms()).await?;
    println!("deleted project {id}: {events} events, {issues} issues");
    if store
        .project_limits()
        .await?
        .iter()
        .any(|p| p.project_id == id)
    {
        // Events that a server accepted while its key cache still knew the project.
        println!("some of its data arrived meanwhile; the next retention pass deletes it");
    }
    Ok(())
}

/// `errata retention …`.
pub async fn run(cmd: RetentionCommand, config: &Config, store: &Store) -> anyhow::Result<()> {
    match cmd {
        RetentionCommand::Run => {
            let now = Clock::system().now_ms();
            let r = run_pass(store, &config.retention, now, Mode::Exact, &|| false).await?;
            let idle = idle::retire_idle(store, &config.retention, now, &|| false).await?;
            println!(
                "deleted {} events by age, {} over the cap per issue, {} for the disk budget; \
                 {} issues, {} projects",
                r.deleted_age,
                r.deleted_cap,
                r.deleted_budget,
                r.deleted_issues,
                r.deleted_projects
            );
            println!(
                "folded {} idle tag values into their keys' remainders; forgot {} idle users",
                idle.tag_values, idle.users
            );
            println!(
                "database: {} bytes{}",
                r.database_bytes,
                if r.over_budget { " (OVER BUDGET)" } else { "" }
            );
            Ok(())
        }
        RetentionCommand::Status => status(config, store).await,
        RetentionCommand::Vacuum => {
            match vacuum::convert(store, u64::MAX).await? {
                Conversion::NotNeeded => {
                    println!("nothing to do: incremental vacuum is on (or PostgreSQL)")
                }
                Conversion::Converted { bytes } => {
                    println!("done: {bytes} bytes rewritten, incremental vacuum is on")
                }
                Conversion::TooLarge { .. } => bail!("unexpected: no size limit was set"),
            }
            Ok(())
        }
    }
}

async fn status(config: &Config, store: &Store) -> anyhow::Result<()> {
    let size = store.database_size().await?;
    let contents = store.stored_contents().await?;
    let c = &config.retention;
    println!(
        "database: {} bytes on disk, {} used, {} free; incremental vacuum {}",
        size.bytes,
        size.used_bytes,
        size.free_bytes,
        if size.incremental_vacuum {
            "on"
        } else {
            "off (see `errata retention vacuum`)"
        }
    );
    match c.max_database_bytes {
        Some(budget) => println!(
            "disk budget: {budget} bytes ({})",
            if size.used_bytes > i64::try_from(budget).unwrap_or(i64::MAX) {
                "OVER"
            } else {
                "ok"
            }
        ),
        None => println!("disk budget: none"),
    }
    println!(
        "events kept: {} in {} issues",
        contents.events, contents.issues
    );
    match contents.oldest_received_ms {
        Some(ms) => println!("oldest event: received {}", rfc3339_ms(ms)),
        None => println!("oldest event: none"),
    }
    println!(
        "rules: keep {} days, {} events per issue (0 = no limit)",
        c.days, c.max_events_per_issue
    );
    for p in store.project_limits().await? {
        if p.deleted_ms.is_some() {
            println!("project {} {:?}: being deleted", p.project_id, p.name);
        } else if p.retention_days.is_some()
            || p.max_events_per_issue.is_some()
            || p.rate_limit_per_minute.is_some()
        {
            println!("{}", describe_limits(&p));
        }
    }
    match store.retention_runs(1).await?.first() {
        Some(r) => println!(
            "last pass: {}: deleted {} by age, {} over the cap, {} for the budget, {} issues, \
             {} projects{}{}",
            rfc3339_ms(r.finished_ms),
            r.deleted_age,
            r.deleted_cap,
            r.deleted_budget,
            r.deleted_issues,
            r.deleted_projects,
            if r.over_budget { "; OVER BUDGET" } else { "" },
            r.error
                .as_deref()
                .map(|e| format!("; failed: {e}"))
                .unwrap_or_default()
        ),
        None => println!("last pass: none yet"),
    }
    Ok(())
}

fn describe_limits(p: &crate::store::ProjectLimits) -> String {
    let show = |v: Option<i64>, unit: &str| match v {
        Some(n) => format!("{n}{unit}"),
        None => "default".to_owned(),
    };
    format!(
        "project {} {:?}: retention {} days, {} events per issue, rate limit {}",
        p.project_id,
        p.name,
        show(p.retention_days, ""),
        show(p.max_events_per_issue, ""),
        p.rate_limit_per_minute
            .map(|n| format!("{n}/min"))
            .unwrap_or_else(|| "off".into())
    )
}

/// A project given by id or by name (not one being deleted).
/// The live project named `given` (an id or a name). Errors: none such.
pub(crate) async fn project_id(store: &Store, given: &str) -> anyhow::Result<i64> {
    let live: Vec<_> = store
        .project_limits()
        .await?
        .into_iter()
        .filter(|p| p.deleted_ms.is_none())
        .collect();
    let by_id = live.iter().find(|p| p.project_id.to_string() == given);
    match by_id.or_else(|| live.iter().find(|p| p.name == given)) {
        Some(p) => Ok(p.project_id),
        None => bail!("no project {given:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse() {
        assert_eq!(parse_setting("rate-limit", "100/min").unwrap(), Some(100));
        assert_eq!(parse_setting("rate-limit", "off").unwrap(), None);
        assert_eq!(parse_setting("retention-days", "30").unwrap(), Some(30));
        assert_eq!(parse_setting("retention-days", "default").unwrap(), None);
        let e = parse_setting("retention-days", "-3")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--retention-days"), "{e}");
    }
}
