//! The windowed triggers of alert rules (`alert_rules.rs`): "more than N events in M
//! minutes" (`frequency`), "more than N distinct users in M minutes" (`users`) and "every
//! event, rate limited" (`every_event`), evaluated by the worker over newly stored events;
//! and the CLI's spike rule (`errata notify rules set`), which is a project's built-in
//! `spike` rule. New-issue and regression notifications are written by the ingest batch
//! (`outbox.rs`) and matched against the rules at fan-out.

use std::collections::{BTreeMap, HashMap};

use super::alert_rules::{apply_actions, insert_rule, rule_fires, AlertRule, RuleTrigger};
use super::db::{Executor, IdRow};
use super::{IssueStatus, Store, StoreError};
use crate::clock::MINUTE_MS;

/// A project's spike rule: fire when an issue receives more than `events` events in
/// `minutes` minutes (at most once per issue per such window).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FrequencyRule {
    /// Threshold: more than this many events.
    pub events: i64,
    /// Window length, minutes.
    pub minutes: i64,
}

row! {
    struct CandidateRow {
        issue_id: i64,
        project_id: i64,
    }
}

row! {
    struct LatestEventRow {
        event_id: String,
        received_ms: i64,
    }
}

/// The built-in spike rule for `rule`.
fn spike_spec(rule: FrequencyRule) -> super::RuleSpec {
    super::RuleSpec {
        name: "Spike".into(),
        enabled: true,
        triggers: vec![RuleTrigger::Frequency {
            events: rule.events,
            minutes: rule.minutes,
        }],
        filters: super::RuleFilters::default(),
        actions: super::RuleActions {
            channels: super::ChannelSelection::All,
            ..super::RuleActions::default()
        },
        interval_minutes: rule.minutes,
    }
}

impl Store {
    /// Sets (`Some`) or removes (`None`) a project's spike rule (its built-in `spike` alert
    /// rule). Errors: [`StoreError::NotFound`] for an unknown project.
    pub async fn set_frequency_rule(
        &self,
        project_id: i64,
        rule: Option<FrequencyRule>,
    ) -> Result<(), StoreError> {
        self.project(project_id).await?;
        let now = super::now_ms();
        let mut tx = self.pool.begin_write().await?;
        tx.execute(
            "delete from alert_rules where project_id = $1 and builtin = 'spike'",
            vec![project_id.into()],
        )
        .await?;
        if let Some(r) = rule {
            insert_rule(&mut tx, project_id, &spike_spec(r), Some("spike"), now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every project's spike rule, by project id.
    pub async fn frequency_rules(&self) -> Result<BTreeMap<i64, FrequencyRule>, StoreError> {
        let ids = self
            .db()
            .fetch_ids(
                "select rule_id as id from alert_rules where builtin = 'spike' order by rule_id",
                vec![],
            )
            .await?;
        let mut out = BTreeMap::new();
        for id in ids {
            let rule = self.alert_rule(id).await?;
            if let Some(f) = rule.frequency() {
                out.insert(rule.project_id, f);
            }
        }
        Ok(out)
    }

    /// Evaluates the windowed triggers of `rules` for issues that received events with
    /// `event_pk` in `(after_pk, after_pk + 10000]`, and writes a notification (outbox row
    /// naming the rule, plus the deliveries of its actions, one transaction) for each issue
    /// and rule whose trigger holds, whose filters match the issue's newest event, and which
    /// did not fire for the issue within its interval (for `frequency` and `users` at least
    /// their window). Ignored issues never fire. Returns the alerts written and the
    /// `event_pk` to continue after.
    ///
    /// "More than N events in M minutes" is read from the issue's newest N+1 events (by
    /// insertion order): it holds when the oldest of them was received within the window.
    /// "More than N users" counts the distinct users of the events received within the
    /// window. An event committed late with a lower `event_pk` than one already examined is
    /// not a candidate itself; the issue's next event makes it one again.
    pub async fn fire_rule_alerts(
        &self,
        rules: &[AlertRule],
        after_pk: i64,
        now: i64,
    ) -> Result<(usize, i64), StoreError> {
        const SCAN: i64 = 10_000;
        let upto = self
            .max_event_pk()
            .await?
            .min(after_pk.saturating_add(SCAN));
        let mut by_project: HashMap<i64, Vec<(&AlertRule, RuleTrigger)>> = HashMap::new();
        for rule in rules.iter().filter(|r| r.spec.enabled) {
            for &t in &rule.spec.triggers {
                if t.window_minutes().is_some() {
                    by_project
                        .entry(rule.project_id)
                        .or_default()
                        .push((rule, t));
                }
            }
        }
        if upto <= after_pk || by_project.is_empty() {
            return Ok((0, upto.max(after_pk)));
        }
        let candidates = self
            .db()
            .fetch_all::<CandidateRow>(
                "select distinct issue_id, project_id from events \
                 where event_pk > $1 and event_pk <= $2",
                vec![after_pk.into(), upto.into()],
            )
            .await?;
        let mut fired = 0;
        for c in candidates {
            let Some(watching) = by_project.get(&c.project_id) else {
                continue;
            };
            let issue = match self.issue(c.issue_id).await {
                Ok(i) if i.status == IssueStatus::Ignored => continue,
                Ok(i) => i,
                Err(StoreError::NotFound) => continue,
                Err(e) => return Err(e),
            };
            let Some(latest) = self
                .db()
                .fetch_optional::<LatestEventRow>(
                    "select event_id, received_ms from events where issue_id = $1 \
                     order by event_pk desc limit 1",
                    vec![c.issue_id.into()],
                )
                .await?
            else {
                continue;
            };
            let mut subject = None;
            for &(rule, trigger) in watching {
                if !self.holds(trigger, c.issue_id, now).await? {
                    continue;
                }
                if subject.is_none() {
                    subject = self
                        .rule_subject(c.project_id, c.issue_id, &latest.event_id)
                        .await?;
                }
                if !subject
                    .as_ref()
                    .is_some_and(|s| rule.spec.filters.matches(s))
                {
                    continue;
                }
                let window = trigger.window_minutes().unwrap_or(0);
                let interval = rule
                    .spec
                    .interval_minutes
                    .max(window)
                    .saturating_mul(MINUTE_MS);
                let kind = trigger.fired_kind().unwrap_or("frequency");
                let mut tx = self.pool.begin_write().await?;
                if rule_fires(&mut tx, rule.id, c.issue_id, interval, now).await? {
                    let outbox_id = tx
                        .fetch_one::<IdRow>(
                            "insert into outbox (kind, project_id, issue_id, event_id, \
                             created_ms, state, attempts, next_attempt_ms, last_error, rule_id) \
                             values ($1, $2, $3, $4, $5, 'dispatched', 0, $5, null, $6) \
                             returning outbox_id as id",
                            vec![
                                kind.into(),
                                c.project_id.into(),
                                c.issue_id.into(),
                                latest.event_id.as_str().into(),
                                now.into(),
                                rule.id.into(),
                            ],
                        )
                        .await?
                        .id;
                    let assignee = issue.assignee.as_ref().map(|a| a.id);
                    apply_actions(
                        &mut tx,
                        &rule.spec.actions,
                        outbox_id,
                        c.project_id,
                        assignee,
                        now,
                    )
                    .await?;
                    fired += 1;
                }
                tx.commit().await?;
            }
        }
        Ok((fired, upto))
    }

    /// True when windowed `trigger` holds for `issue_id` at `now`.
    async fn holds(
        &self,
        trigger: RuleTrigger,
        issue_id: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        Ok(match trigger {
            RuleTrigger::Frequency { events, minutes } => {
                let oldest = self
                    .db()
                    .fetch_optional::<LatestEventRow>(
                        "select event_id, received_ms from events where issue_id = $1 \
                         order by event_pk desc limit 1 offset $2",
                        vec![issue_id.into(), events.max(0).into()],
                    )
                    .await?;
                oldest.is_some_and(|o| o.received_ms >= now - minutes.saturating_mul(MINUTE_MS))
            }
            RuleTrigger::Users { users, minutes } => {
                let n = self
                    .db()
                    .fetch_one::<IdRow>(
                        "select count(distinct user_key) as id from events where issue_id = $1 \
                         and received_ms >= $2 and user_key is not null",
                        vec![
                            issue_id.into(),
                            (now - minutes.saturating_mul(MINUTE_MS)).into(),
                        ],
                    )
                    .await?
                    .id;
                n > users
            }
            RuleTrigger::EveryEvent => true,
            _ => false,
        })
    }
}
