//! The delivery worker: fan out the outbox, evaluate frequency rules, claim each channel's
//! due deliveries under storm control, send, record.
//!
//! [`Notifier::run_once`] does one round and reports an [`Outcome`]; tests drive it directly.
//! In the server the notifier is the `notify` job of the maintenance runner
//! ([`crate::jobs`]): a round every `poll_interval_ms` while there is nothing to do, the
//! next one at once after a round that did something, on every server (claims keep them
//! apart). Each message is rendered and sent by its channel kind's driver
//! ([`super::channel`]). Sends of different channels run concurrently (a few at a time);
//! one channel's messages go out in order.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;
use futures::StreamExt;
use tokio::sync::Mutex;

// The store and ingest stamp their rows with the system clock, and frequency windows,
// regression windows and backoff are compared with those stamps: the server's worker reads
// the system clock until they all take the server's `Clock` together. Tests of time-driven
// rules give it a manual clock ([`Notifier::with_clock`]).
use crate::clock::Clock;
use crate::config::Config;
use crate::jobs::{Job, JobError, Pass, Progress, Schedule};
use crate::protocol::EventId;
use crate::store::{
    AlertRule, Channel, ChannelKind, ChannelSelection, ClaimedDelivery, IssueStatus,
    NotificationItem, RetryPolicy, RuleTrigger, SendReport, Store, StoreError, StormPolicy,
    Trigger,
};

use super::channel::{self, Message, Transports};
use super::digest::{self, DigestEntry};
use super::message::{issue_link, top_frames, IssueFacts};
use super::rules::{config_channels, FrequencyWatch};
use super::settings::NotifyConfig;
use super::{NotifyError, SendError};

/// Outbox rows fanned out per round.
const FAN_OUT_BATCH: usize = 500;
/// Messages leased per claim of one channel.
const CLAIM_BATCH: usize = 20;
/// Channels sent to concurrently.
const CHANNEL_CONCURRENCY: usize = 4;

/// What one round did. Counts, not ids.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use = "an Outcome tells whether another round has work"]
pub struct Outcome {
    /// Outbox rows turned into deliveries.
    pub dispatched: usize,
    /// Outbox rows dropped (issue ignored, trigger already fired within its window).
    pub dropped: usize,
    /// Frequency alerts written.
    pub frequency_alerts: usize,
    /// Messages accepted by their channel.
    pub sent: usize,
    /// Failed attempts (each will be retried unless it became a dead letter).
    pub failed: usize,
    /// Deliveries that used up their attempts.
    pub dead: usize,
    /// Digest messages created.
    pub digests: usize,
    /// Deliveries folded into digests.
    pub folded: usize,
    /// Deliveries held back until the next digest may go out.
    pub postponed: usize,
    /// Deliveries ended unsent because their issue is ignored or gone.
    pub skipped: usize,
}

impl Outcome {
    /// True when the round changed nothing, so the worker may sleep.
    pub fn is_idle(&self) -> bool {
        self.dispatched
            + self.dropped
            + self.frequency_alerts
            + self.sent
            + self.failed
            + self.digests
            + self.skipped
            == 0
    }

    fn add(&mut self, o: Outcome) {
        self.dispatched += o.dispatched;
        self.dropped += o.dropped;
        self.frequency_alerts += o.frequency_alerts;
        self.sent += o.sent;
        self.failed += o.failed;
        self.dead += o.dead;
        self.digests += o.digests;
        self.folded += o.folded;
        self.postponed += o.postponed;
        self.skipped += o.skipped;
    }
}

/// The result of sending the test message to one channel.
#[derive(Debug, Clone)]
pub struct TestResult {
    /// The channel.
    pub channel: Channel,
    /// The peer's reply, or why it failed.
    pub result: Result<String, SendError>,
    /// Duration of the send, ms.
    pub latency_ms: i64,
}

/// The notification worker. Cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: NotifyConfig,
    base_url: String,
    wanted: Vec<(ChannelKind, String)>,
    transports: Transports,
    clock: Clock,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    synced: bool,
    frequency: FrequencyWatch,
    /// This worker's contribution to the failing-channels gauge (see `report_failing`).
    failing_reported: i64,
}

/// Retry delay after the `attempt`-th failure (1-based), ms: `base · 2^(attempt-1)` capped at
/// `max`, of which the upper half is random (`jitter` in `0.0..=1.0`) so that deliveries that
/// failed together do not retry together.
pub fn backoff_ms(attempt: i64, base_ms: u64, max_ms: u64, jitter: f64) -> i64 {
    let shift = u32::try_from(attempt.saturating_sub(1).clamp(0, 40)).unwrap_or(40);
    let exp = base_ms
        .saturating_mul(1_u64.checked_shl(shift).unwrap_or(u64::MAX))
        .min(max_ms)
        .max(1);
    let half = exp / 2;
    let random = ((exp - half) as f64 * jitter.clamp(0.0, 1.0)) as u64;
    i64::try_from(half + random).unwrap_or(i64::MAX)
}

fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge};
    describe_counter!(
        "errata_notifications_sent_total",
        "notification messages accepted by their channel, by channel_kind"
    );
    describe_counter!(
        "errata_notifications_failed_total",
        "failed notification send attempts, by channel_kind"
    );
    describe_counter!(
        "errata_notifications_dead_total",
        "notifications given up after their last attempt, by channel_kind"
    );
    describe_counter!(
        "errata_notifications_folded_total",
        "notifications folded into digests by storm control"
    );
    describe_gauge!(
        "errata_notification_channels_failing",
        "notification channels currently marked failing"
    );
}

impl Notifier {
    /// A worker over `store` with `config.notify`, linking to `config.base_url()`. Errors
    /// when a configured channel (admins, global webhooks) is not valid or the webhook
    /// client cannot be built.
    pub fn new(store: Store, config: &Config) -> Result<Notifier, NotifyError> {
        Notifier::with_clock(store, config, Clock::system())
    }

    /// [`Notifier::new`] reading the time from `clock` (rule windows, intervals, backoff).
    pub fn with_clock(
        store: Store,
        config: &Config,
        clock: Clock,
    ) -> Result<Notifier, NotifyError> {
        let notify = config.notify.clone();
        let wanted = config_channels(&notify)?;
        let transports = Transports::new(&notify).map_err(NotifyError::Client)?;
        describe_metrics();
        Ok(Notifier {
            inner: Arc::new(Inner {
                store,
                base_url: config.base_url(),
                config: notify,
                wanted,
                transports,
                clock,
                state: Mutex::new(State::default()),
            }),
        })
    }

    /// One round: sync the configured channels (first round), fan out the outbox, evaluate
    /// frequency rules, then claim, send and record every channel's due deliveries.
    /// Rounds of one `Notifier` never overlap. Errors: the database failed (sends that
    /// already happened are recorded).
    pub async fn run_once(&self) -> Result<Outcome, NotifyError> {
        let inner = &self.inner;
        let mut state = inner.state.lock().await;
        if !state.synced {
            inner.store.sync_config_channels(&inner.wanted).await?;
            state.synced = true;
        }
        let mut out = Outcome::default();
        let window = i64::try_from(inner.config.regression_window_secs)
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000);
        let fan = inner
            .store
            .fan_out_notifications(FAN_OUT_BATCH, self.now(), window)
            .await?;
        out.dispatched = fan.dispatched;
        out.dropped = fan.dropped;
        out.frequency_alerts = state.frequency.evaluate(&inner.store, self.now()).await?;

        let channels = inner.store.due_channels(self.now()).await?;
        let mut rounds = futures::stream::iter(channels)
            .map(|id| self.drain_channel(id))
            .buffer_unordered(CHANNEL_CONCURRENCY);
        let mut first_error = None;
        while let Some(result) = rounds.next().await {
            match result {
                Ok(o) => out.add(o),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        drop(rounds);
        self.report_failing(&mut state).await;
        match first_error {
            Some(e) => Err(e.into()),
            None => Ok(out),
        }
    }

    fn now(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Keeps the process-wide gauge in step with this worker's view. Each worker adds only
    /// its own change, so several workers in one process (tests) do not overwrite each other.
    async fn report_failing(&self, state: &mut State) {
        match self.inner.store.failing_channel_count().await {
            Ok(n) => {
                metrics::gauge!("errata_notification_channels_failing")
                    .increment((n - state.failing_reported) as f64);
                state.failing_reported = n;
            }
            Err(e) => tracing::debug!(error = %e, "cannot count failing channels"),
        }
    }

    fn storm_policy(&self) -> StormPolicy {
        let c = &self.inner.config;
        let ms = |secs: u64| i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        StormPolicy {
            max_per_window: i64::from(c.max_per_window),
            window_ms: ms(c.window_secs),
            digest_interval_ms: ms(c.digest_interval_secs),
            max_digest_items: usize::try_from(c.max_digest_items)
                .unwrap_or(usize::MAX)
                .max(1),
            // A send may take up to its timeout; the lease must outlast it with room to spare.
            lease_per_message_ms: ms(c.send_timeout_secs.saturating_mul(2).max(30)),
            max_batch: CLAIM_BATCH,
        }
    }

    /// Claims one channel's due deliveries and sends them in order.
    async fn drain_channel(&self, channel_id: i64) -> Result<Outcome, StoreError> {
        let inner = &self.inner;
        let claim = inner
            .store
            .claim_deliveries(channel_id, self.now(), &self.storm_policy())
            .await?;
        let mut out = Outcome {
            digests: claim.digests,
            folded: claim.folded,
            postponed: claim.postponed,
            ..Outcome::default()
        };
        let Some(channel) = claim.channel else {
            return Ok(out);
        };
        if claim.folded > 0 {
            metrics::counter!("errata_notifications_folded_total").increment(claim.folded as u64);
        }
        let kind = channel.kind.as_str();
        let mut rest = claim.deliveries.into_iter();
        while let Some(delivery) = rest.next() {
            let Some(message) = self.message(&delivery).await? else {
                inner.store.skip_delivery(&delivery).await?;
                out.skipped += 1;
                continue;
            };
            let started = Instant::now();
            let result = self.send(&channel, &message).await;
            let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
            let report = match &result {
                Ok(status) => SendReport {
                    ok: true,
                    status: Some(status.clone()),
                    error: None,
                    latency_ms,
                },
                Err(e) => SendReport {
                    ok: false,
                    status: e.status.clone(),
                    error: Some(e.message.clone()),
                    latency_ms,
                },
            };
            let c = &inner.config;
            let retry = RetryPolicy {
                next_attempt_ms: self.now().saturating_add(backoff_ms(
                    delivery.attempts + 1,
                    c.retry_base_ms,
                    c.retry_max_ms,
                    rand::random::<f64>(),
                )),
                max_attempts: i64::from(c.max_attempts.max(1)),
                failing_after: i64::from(c.failing_after.max(1)),
                failing_retry_ms: i64::try_from(c.failing_retry_ms).unwrap_or(i64::MAX),
            };
            let recorded = inner
                .store
                .record_delivery(channel.id, &delivery, &report, &retry, self.now())
                .await?;
            match result {
                Ok(_) => {
                    out.sent += 1;
                    metrics::counter!("errata_notifications_sent_total", "channel_kind" => kind)
                        .increment(1);
                    tracing::debug!(
                        channel_id = channel.id,
                        delivery_id = delivery.delivery_id,
                        digest = delivery.is_digest,
                        latency_ms,
                        "notification sent"
                    );
                    if recorded.recovered {
                        tracing::info!(
                            channel_id = channel.id,
                            channel_kind = kind,
                            "notification channel recovered"
                        );
                    }
                }
                Err(e) => {
                    out.failed += 1;
                    metrics::counter!("errata_notifications_failed_total", "channel_kind" => kind)
                        .increment(1);
                    if recorded.dead {
                        out.dead += 1;
                        metrics::counter!("errata_notifications_dead_total", "channel_kind" => kind)
                            .increment(1);
                        tracing::error!(channel_id = channel.id, delivery_id = delivery.delivery_id, attempts = delivery.attempts + 1, error = %e, "notification given up after its last attempt");
                    } else {
                        tracing::warn!(channel_id = channel.id, delivery_id = delivery.delivery_id, attempt = delivery.attempts + 1, error = %e, "notification send failed, will retry");
                    }
                    if recorded.failing {
                        if recorded.consecutive_failures == retry.failing_after {
                            tracing::warn!(
                                channel_id = channel.id,
                                channel_kind = kind,
                                "notification channel marked failing"
                            );
                        }
                        // Stop this claim: the channel is down, the rest wait for its probe.
                        let held: Vec<ClaimedDelivery> = rest.collect();
                        inner
                            .store
                            .release_deliveries(
                                &held,
                                self.now().saturating_add(retry.failing_retry_ms),
                            )
                            .await?;
                        break;
                    }
                }
            }
        }
        Ok(out)
    }

    /// Renders and sends `message` with the channel kind's driver.
    async fn send(&self, channel: &Channel, message: &Message) -> Result<String, SendError> {
        match channel::driver(channel.kind) {
            Some(driver) => {
                driver
                    .deliver(&self.inner.transports, &channel.target, message)
                    .await
            }
            None => Err(SendError::new(None, "no driver for this channel kind")),
        }
    }

    /// The message for one delivery; `None` when nothing is left to tell (every issue
    /// ignored or deleted since).
    async fn message(&self, delivery: &ClaimedDelivery) -> Result<Option<Message>, StoreError> {
        let mut projects = HashMap::new();
        if !delivery.is_digest {
            let Some(item) = delivery.items.first() else {
                return Ok(None);
            };
            if item.trigger.is_incident() {
                let project = self.project_name(item.project_id, &mut projects).await?;
                let facts = crate::monitors::incident_facts(
                    &self.inner.store,
                    item,
                    &project,
                    &self.inner.base_url,
                )
                .await?;
                return Ok(facts.map(|f| Message::Incident(Box::new(f))));
            }
            let Some(facts) = self.facts(item, &mut projects).await? else {
                return Ok(None);
            };
            return Ok(Some(Message::Issue(Box::new(facts))));
        }
        let mut entries = Vec::with_capacity(delivery.items.len());
        for item in &delivery.items {
            let Some(issue) = self.live_issue(item.issue_id).await? else {
                continue;
            };
            entries.push(DigestEntry {
                trigger: item.trigger,
                project: self.project_name(item.project_id, &mut projects).await?,
                issue_id: issue.id,
                title: issue.title,
                count: issue.count,
                link: issue_link(&self.inner.base_url, issue.id),
            });
        }
        if entries.is_empty() {
            return Ok(None);
        }
        Ok(Some(Message::Digest(digest::group(entries))))
    }

    /// The issue unless it is gone or ignored.
    async fn live_issue(&self, issue_id: i64) -> Result<Option<crate::store::Issue>, StoreError> {
        match self.inner.store.issue(issue_id).await {
            Ok(issue) if issue.status == IssueStatus::Ignored => Ok(None),
            Ok(issue) => Ok(Some(issue)),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn project_name(
        &self,
        project_id: i64,
        cache: &mut HashMap<i64, String>,
    ) -> Result<String, StoreError> {
        if let Some(name) = cache.get(&project_id) {
            return Ok(name.clone());
        }
        let name = self.inner.store.project(project_id).await?.name;
        cache.insert(project_id, name.clone());
        Ok(name)
    }

    async fn facts(
        &self,
        item: &NotificationItem,
        projects: &mut HashMap<i64, String>,
    ) -> Result<Option<IssueFacts>, StoreError> {
        let store = &self.inner.store;
        let Some(issue) = self.live_issue(item.issue_id).await? else {
            return Ok(None);
        };
        let event = match item.event_id.parse::<EventId>() {
            Ok(id) => match store.event(item.project_id, &id).await {
                Ok(e) => Some(e),
                Err(StoreError::NotFound) => None,
                Err(e) => return Err(e),
            },
            Err(_) => None,
        };
        let rule = match item.trigger {
            Trigger::Frequency => store
                .outbox_rule(item.outbox_id)
                .await?
                .and_then(|r| r.frequency()),
            _ => None,
        };
        let (environment, release, frames) = match &event {
            Some(e) => (
                e.summary.environment.clone(),
                e.summary.release.clone(),
                top_frames(&e.payload),
            ),
            None => (issue.environments.last().cloned(), None, Vec::new()),
        };
        Ok(Some(IssueFacts {
            trigger: item.trigger,
            project_id: item.project_id,
            project: self.project_name(item.project_id, projects).await?,
            issue_id: issue.id,
            link: issue_link(&self.inner.base_url, issue.id),
            title: issue.title,
            culprit: issue.culprit,
            level: issue.level,
            environment,
            release: release.or(issue.last_release),
            first_seen_ms: issue.first_seen_ms,
            last_seen_ms: issue.last_seen_ms,
            count: issue.count,
            user_count: issue.user_count,
            frames,
            rule,
        }))
    }

    /// "Send test" of an alert rule: renders the rule's message (its first issue trigger) for
    /// the project's most recently seen issue and sends it to the rule's channels (users are
    /// not e-mailed); returns each result, in channel order. `Ok(None)` when the project has
    /// no issue to show. Channel health is not changed.
    pub async fn test_rule(
        &self,
        rule: &AlertRule,
    ) -> Result<Option<Vec<TestResult>>, NotifyError> {
        let store = &self.inner.store;
        let Some(issue_id) = store.latest_issue_id(rule.project_id).await? else {
            return Ok(None);
        };
        let event_id = match store.latest_event(issue_id).await {
            Ok(e) => e.summary.event_id.simple(),
            Err(StoreError::NotFound) => String::new(),
            Err(e) => return Err(e.into()),
        };
        let trigger = rule
            .spec
            .triggers
            .iter()
            .find_map(|t| match t {
                RuleTrigger::NewIssue => Some(Trigger::NewIssue),
                RuleTrigger::Regression => Some(Trigger::Regression),
                RuleTrigger::Unignored => Some(Trigger::Unignored),
                RuleTrigger::Frequency { .. } => Some(Trigger::Frequency),
                RuleTrigger::Users { .. } => Some(Trigger::Users),
                RuleTrigger::EveryEvent => Some(Trigger::EveryEvent),
                _ => None,
            })
            .unwrap_or(Trigger::NewIssue);
        let item = NotificationItem {
            outbox_id: 0,
            trigger,
            project_id: rule.project_id,
            issue_id,
            event_id,
            created_ms: self.now(),
        };
        let mut projects = HashMap::new();
        let facts = match self.facts(&item, &mut projects).await? {
            Some(f) => f,
            None => return Ok(None),
        };
        let message = Message::Issue(Box::new(IssueFacts {
            rule: rule.frequency(),
            ..facts
        }));
        let chosen = |c: &Channel| {
            let ours = c.project_id.is_none_or(|p| p == rule.project_id);
            ours && match &rule.spec.actions.channels {
                ChannelSelection::All => true,
                ChannelSelection::Ids(ids) => ids.contains(&c.id),
            }
        };
        let channels = store.channels().await?.into_iter().filter(chosen);
        Ok(Some(self.send_each(channels, &message).await))
    }

    /// Sends `message` to each channel in turn; each result with its latency.
    async fn send_each(
        &self,
        channels: impl IntoIterator<Item = Channel>,
        message: &Message,
    ) -> Vec<TestResult> {
        let mut out = Vec::new();
        for channel in channels {
            let started = Instant::now();
            let result = self.send(&channel, message).await;
            out.push(TestResult {
                channel,
                result,
                latency_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
            });
        }
        out
    }

    /// Sends the test message to every active channel (after syncing the configured ones)
    /// and returns each result, in channel order. Channel health is not changed.
    pub async fn test_channels(&self) -> Result<Vec<TestResult>, NotifyError> {
        let inner = &self.inner;
        inner.store.sync_config_channels(&inner.wanted).await?;
        let message = Message::Test {
            base_url: inner.base_url.clone(),
        };
        let channels = inner.store.channels().await?;
        Ok(self.send_each(channels, &message).await)
    }
}

/// The worker as the maintenance runner's `notify` job: a latency poll every
/// `poll_interval_ms`, again at once after a round that did something, on every server.
impl Job for Notifier {
    fn name(&self) -> &str {
        "notify"
    }

    fn schedule(&self) -> Schedule {
        Schedule::poll(self.inner.config.poll_interval())
    }

    fn run(&self, _: Pass) -> BoxFuture<'_, Result<Progress, JobError>> {
        Box::pin(async move {
            let outcome = self.run_once().await.map_err(JobError::new)?;
            Ok(if outcome.is_idle() {
                Progress::Done
            } else {
                Progress::More
            })
        })
    }

    /// Takes this worker's share out of the failing-channels gauge.
    fn stopped(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let mut state = self.inner.state.lock().await;
            metrics::gauge!("errata_notification_channels_failing")
                .decrement(state.failing_reported as f64);
            state.failing_reported = 0;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        assert_eq!(backoff_ms(1, 1000, 60_000, 0.0), 500);
        assert_eq!(backoff_ms(1, 1000, 60_000, 1.0), 1000);
        assert_eq!(backoff_ms(3, 1000, 60_000, 1.0), 4000);
        assert_eq!(backoff_ms(30, 1000, 60_000, 1.0), 60_000);
        assert_eq!(backoff_ms(500, 1000, 60_000, 0.0), 30_000);
        let d = backoff_ms(4, 1000, 60_000, 0.37);
        assert!((4000..=8000).contains(&d), "{d}");
    }

    #[test]
    fn outcome_idle_only_without_work() {
        assert!(Outcome::default().is_idle());
        let postponed_only = Outcome {
            postponed: 3,
            ..Outcome::default()
        };
        assert!(postponed_only.is_idle());
        assert!(!Outcome {
            failed: 1,
            ..Outcome::default()
        }
        .is_idle());
    }
}
