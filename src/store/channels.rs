//! Notification channels (`notification_channels`): where notifications go (an e-mail
//! recipient, a Slack webhook), per project or global (synced from the configuration), with
//! their health (consecutive failures, failing since). A user's own e-mail channel
//! (`source = 'user'`, [`user_channel`]) only receives what is addressed to that user
//! (assignments, regressions of their issues): it is left out of every fan-out, of the
//! configuration sync and of [`Store::channels`], but shown with its health in
//! [`Store::notification_status`].

use std::collections::HashSet;

use super::db::{found, parse_name, Arg, Executor, IdRow, Tx};
use super::{now_ms, Store, StoreError};

/// Where a channel sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// One e-mail recipient (`Name <addr>`), over SMTP.
    Email,
    /// One Slack incoming-webhook URL.
    Slack,
    /// A generic webhook: `URL#errata-secret=SECRET` (signed JSON).
    Webhook,
    /// A Discord webhook URL.
    Discord,
    /// A Microsoft Teams incoming webhook or Workflows URL (Adaptive Card).
    Teams,
    /// A PagerDuty Events API v2 routing key.
    PagerDuty,
    /// An ntfy topic URL (`https://ntfy.sh/topic`).
    Ntfy,
}

impl ChannelKind {
    /// Every kind.
    pub const ALL: [ChannelKind; 7] = [
        ChannelKind::Email,
        ChannelKind::Slack,
        ChannelKind::Webhook,
        ChannelKind::Discord,
        ChannelKind::Teams,
        ChannelKind::PagerDuty,
        ChannelKind::Ntfy,
    ];

    /// The stored name (`"email"`, `"slack"`, `"webhook"`, `"discord"`, `"teams"`,
    /// `"pagerduty"`, `"ntfy"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Email => "email",
            ChannelKind::Slack => "slack",
            ChannelKind::Webhook => "webhook",
            ChannelKind::Discord => "discord",
            ChannelKind::Teams => "teams",
            ChannelKind::PagerDuty => "pagerduty",
            ChannelKind::Ntfy => "ntfy",
        }
    }

    fn parse(s: &str) -> Result<ChannelKind, StoreError> {
        parse_name(&ChannelKind::ALL, ChannelKind::as_str, s, "channel kind")
    }
}

/// A notification channel.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Channel {
    /// Channel id.
    pub id: i64,
    /// Owning project; `None` for the global channels of the configuration (admins).
    pub project_id: Option<i64>,
    /// E-mail or Slack.
    pub kind: ChannelKind,
    /// `Name <addr>` for e-mail, the webhook URL for Slack (a credential: show redacted).
    pub target: String,
    /// `"config"` (synced from the configuration) or `"cli"`.
    pub source: String,
    /// False once removed (kept for the history of its deliveries).
    pub active: bool,
    /// Failed attempts since the last success.
    pub consecutive_failures: i64,
    /// Set while the channel is failing (after `failing_after` consecutive failures).
    pub failing_since_ms: Option<i64>,
    /// Last successful send.
    pub last_success_ms: Option<i64>,
    /// Last failed send.
    pub last_failure_ms: Option<i64>,
    /// Error of the last failed send.
    pub last_error: Option<String>,
}

/// A channel with its delivery counts, for `errata notify status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChannelStatus {
    /// The channel.
    pub channel: Channel,
    /// Deliveries waiting (due now or later).
    pub pending: i64,
    /// Deliveries sent (digest carriers count once).
    pub sent: i64,
    /// Dead letters: deliveries that used up their attempts.
    pub failed: i64,
    /// Deliveries carried by a digest.
    pub folded: i64,
}

/// The columns of [`ChannelRow`].
pub(super) const CHANNEL_COLUMNS: &str = "channel_id, project_id, kind, target, source, \
    active, consecutive_failures, failing_since_ms, last_success_ms, last_failure_ms, \
    last_error";

row! {
    pub(super) struct ChannelRow {
        channel_id: i64,
        project_id: Option<i64>,
        kind: String,
        target: String,
        source: String,
        active: bool,
        consecutive_failures: i64,
        failing_since_ms: Option<i64>,
        last_success_ms: Option<i64>,
        last_failure_ms: Option<i64>,
        last_error: Option<String>,
    }

    try_into |r| {
        Ok(Channel {
            id: r.channel_id,
            project_id,
            kind: ChannelKind::parse(&r.kind)?,
            target, source, active, consecutive_failures, failing_since_ms, last_success_ms,
            last_failure_ms, last_error,
        })
    }
}

row! {
    struct StatusRow {
        #[sqlx(flatten)]
        channel: ChannelRow,
        pending: i64,
        sent: i64,
        failed: i64,
        folded: i64,
    }
}

/// `<project_id or global>|<kind>|<target>`: the unique key of a channel.
fn channel_key(project_id: Option<i64>, kind: ChannelKind, target: &str) -> String {
    let scope = project_id.map_or_else(|| "global".to_owned(), |p| p.to_string());
    format!("{scope}|{}|{target}", kind.as_str())
}

impl Store {
    /// Makes the global channels exactly `wanted` (`(kind, target)` from the configuration):
    /// adds or reactivates them, deactivates global channels no longer configured (their
    /// pending deliveries become `skipped`). Safe to run concurrently from several processes.
    pub async fn sync_config_channels(
        &self,
        wanted: &[(ChannelKind, String)],
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin_write().await?;
        let mut keys = HashSet::new();
        for (kind, target) in wanted {
            let key = channel_key(None, *kind, target);
            tx.execute(
                "insert into notification_channels (project_id, kind, target, source, \
                 channel_key, active, consecutive_failures, created_ms) \
                 values (null, $1, $2, 'config', $3, true, 0, $4) \
                 on conflict (channel_key) do update set active = true",
                vec![
                    kind.as_str().into(),
                    target.as_str().into(),
                    key.clone().into(),
                    now.into(),
                ],
            )
            .await?;
            keys.insert(key);
        }
        let existing = tx
            .fetch_all::<ChannelRow>(
                &format!(
                    "select {CHANNEL_COLUMNS} from notification_channels \
                     where project_id is null and active and source <> 'user' \
                     order by channel_id"
                ),
                vec![],
            )
            .await?;
        for row in existing {
            let kind = ChannelKind::parse(&row.kind)?;
            if !keys.contains(&channel_key(None, kind, &row.target)) {
                deactivate(
                    &mut tx,
                    row.channel_id,
                    "channel removed from configuration",
                )
                .await?;
            }
        }
        tx.commit().await
    }

    /// Adds (or reactivates) a project's channel. Errors: [`StoreError::NotFound`] for an
    /// unknown project.
    pub async fn add_channel(
        &self,
        project_id: i64,
        kind: ChannelKind,
        target: &str,
    ) -> Result<Channel, StoreError> {
        self.project(project_id).await?;
        let key = channel_key(Some(project_id), kind, target);
        self.db()
            .execute(
                "insert into notification_channels (project_id, kind, target, source, \
                 channel_key, active, consecutive_failures, created_ms) \
                 values ($1, $2, $3, 'cli', $4, true, 0, $5) \
                 on conflict (channel_key) do update set active = true",
                vec![
                    project_id.into(),
                    kind.as_str().into(),
                    target.into(),
                    key.clone().into(),
                    now_ms().into(),
                ],
            )
            .await?;
        self.db()
            .fetch_one::<ChannelRow>(
                &format!(
                    "select {CHANNEL_COLUMNS} from notification_channels where channel_key = $1"
                ),
                vec![key.into()],
            )
            .await?
            .try_into()
    }

    /// Removes a channel: it stops receiving, its pending deliveries become `skipped`, its
    /// history stays. Errors: [`StoreError::NotFound`].
    pub async fn remove_channel(&self, channel_id: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let n = deactivate(&mut tx, channel_id, "channel removed").await?;
        tx.commit().await?;
        found(n)
    }

    /// Active channels of projects and global ones (not users' own), global ones first,
    /// then by project and id.
    pub async fn channels(&self) -> Result<Vec<Channel>, StoreError> {
        self.db()
            .fetch_all::<ChannelRow>(
                &format!(
                    "select {CHANNEL_COLUMNS} from notification_channels \
                     where active and source <> 'user' \
                     order by project_id is not null, project_id, channel_id"
                ),
                vec![],
            )
            .await?
            .into_iter()
            .map(Channel::try_from)
            .collect()
    }

    /// Active channels with their delivery counts, ordered like [`Store::channels`].
    pub async fn notification_status(&self) -> Result<Vec<ChannelStatus>, StoreError> {
        let count = |state: &str| {
            format!(
                "(select count(*) from notification_deliveries d \
                 where d.channel_id = c.channel_id and d.state = '{state}') as {state}"
            )
        };
        let sql = format!(
            "select {CHANNEL_COLUMNS}, {}, {}, {}, {} from notification_channels c \
             where active order by project_id is not null, project_id, channel_id",
            count("pending"),
            count("sent"),
            count("failed"),
            count("folded"),
        );
        self.db()
            .fetch_all::<StatusRow>(&sql, vec![])
            .await?
            .into_iter()
            .map(|r| {
                Ok(ChannelStatus {
                    channel: r.channel.try_into()?,
                    pending: r.pending,
                    sent: r.sent,
                    failed: r.failed,
                    folded: r.folded,
                })
            })
            .collect()
    }

    /// Number of active channels currently failing.
    pub async fn failing_channel_count(&self) -> Result<i64, StoreError> {
        Ok(self
            .db()
            .fetch_one::<IdRow>(
                "select count(*) as id from notification_channels \
                 where active and failing_since_ms is not null",
                vec![],
            )
            .await?
            .id)
    }
}

/// The id of `user_id`'s own e-mail channel, created (or updated to their current e-mail)
/// on the way; `None` when the user does not exist.
pub(super) async fn user_channel(
    tx: &mut Tx,
    user_id: i64,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let key = format!("user:{user_id}|email");
    tx.execute(
        "insert into notification_channels (project_id, kind, target, source, channel_key, \
         active, consecutive_failures, created_ms, user_id) \
         select null, 'email', email, 'user', $2, true, 0, $3, user_id from users \
         where user_id = $1 on conflict (channel_key) do update set active = true, \
         target = excluded.target",
        vec![user_id.into(), key.as_str().into(), now.into()],
    )
    .await?;
    let row = tx
        .fetch_optional::<IdRow>(
            "select c.channel_id as id from notification_channels c \
             join users u on u.user_id = c.user_id where c.channel_key = $1",
            vec![key.as_str().into()],
        )
        .await?;
    Ok(row.map(|r| r.id))
}

/// Deactivates a channel and skips its pending deliveries; returns rows changed (0 = none).
async fn deactivate(tx: &mut Tx, channel_id: i64, reason: &str) -> Result<u64, StoreError> {
    let n = tx
        .execute(
            "update notification_channels set active = false where channel_id = $1",
            vec![channel_id.into()],
        )
        .await?;
    tx.execute(
        "update notification_deliveries set state = 'skipped', last_error = $2 \
         where channel_id = $1 and state = 'pending'",
        vec![channel_id.into(), Arg::from(reason)],
    )
    .await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_keys_separate_scopes() {
        assert_eq!(
            channel_key(None, ChannelKind::Email, "a@x"),
            "global|email|a@x"
        );
        assert_eq!(channel_key(Some(3), ChannelKind::Slack, "u"), "3|slack|u");
    }
}
