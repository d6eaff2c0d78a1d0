//! Alert rules (`alert_rules`): per project, *when* (triggers), *for what* (filters) and *to
//! whom* (actions) a notification is sent, at most once per issue per `interval_minutes`.
//!
//! The JSON shapes below are the stored columns and the API's (`/api/v1/…/alert-rules`,
//! documented in the README):
//!
//! * `triggers`: a non-empty list of `{"kind": …}`: `new_issue`, `regression`, `unignored`,
//!   `frequency` (`events`, `minutes`: more than N events in M minutes), `users` (`users`,
//!   `minutes`: more than N distinct users in M minutes), `every_event` (rate limited by the
//!   rule's interval, at least one minute), `monitor_failing`, `monitor_recovering` (cron
//!   monitor incidents), `uptime_down`, `uptime_up` (uptime checks).
//! * `filters` (all optional, all must hold): `environments` (any of), `level` (at least),
//!   `tags` (`[{"key", "op": "equals"|"contains", "value"}]`), `release` (equals),
//!   `title_contains` (case-insensitive), `assigned` (`"assigned"` | `"unassigned"`).
//! * `actions`: `channels` (`"all"`: every channel of the project and the global ones, or a
//!   list of channel ids, or `[]`), `email_assignee` (bool), `email_users` (user ids),
//!   `email_subscribers` (bool: the users who chose e-mail for the project).
//!
//! Every project gets a `default` built-in rule when it is created (new issues, regressions,
//! unignored issues, monitor and uptime incidents to every channel, and the assignee by
//! e-mail): the behaviour from before rules existed. The CLI's spike rule
//! ([`Store::set_frequency_rule`]) is the `spike` built-in rule. Evaluation is in
//! `outbox.rs` (triggers written by ingest and monitors) and `rules.rs` (windowed triggers).

use serde::{Deserialize, Serialize};

use super::db::{Arg, Executor, IdRow, Tx};
use super::{Store, StoreError};
use crate::protocol::Level;

/// Longest rule name, characters.
pub const MAX_RULE_NAME: usize = 200;
/// Longest window or interval, minutes (one year).
pub const MAX_MINUTES: i64 = 525_600;

/// Outbox kind an uptime check writes when it goes down (the uptime feature's rows).
pub const UPTIME_DOWN_KIND: &str = "uptime_down";
/// Outbox kind an uptime check writes when it comes back up.
pub const UPTIME_UP_KIND: &str = "uptime_up";

/// What makes a rule fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RuleTrigger {
    /// An event created a new issue.
    NewIssue,
    /// A resolved issue received an event.
    Regression,
    /// An ignored issue met its condition and is unresolved again.
    Unignored,
    /// More than `events` events of one issue within `minutes` minutes.
    Frequency {
        /// Threshold: more than this many events.
        events: i64,
        /// Window, minutes.
        minutes: i64,
    },
    /// More than `users` distinct users of one issue within `minutes` minutes.
    Users {
        /// Threshold: more than this many distinct users.
        users: i64,
        /// Window, minutes.
        minutes: i64,
    },
    /// Every event, at most once per issue per the rule's interval.
    EveryEvent,
    /// A cron monitor started failing (an incident opened).
    MonitorFailing,
    /// A cron monitor recovered (its incident resolved).
    MonitorRecovering,
    /// An uptime check went down.
    UptimeDown,
    /// An uptime check came back up.
    UptimeUp,
}

impl RuleTrigger {
    /// True when an outbox row of `kind` (written by ingest, monitors or uptime checks) is
    /// this trigger. Windowed triggers are evaluated by the worker instead, never by kind.
    pub fn matches_kind(self, kind: &str) -> bool {
        use crate::monitors::incident::{OPENED_KIND, RESOLVED_KIND};
        match self {
            RuleTrigger::NewIssue => kind == "new_issue",
            RuleTrigger::Regression => kind == "regression",
            RuleTrigger::Unignored => kind == "unignored",
            RuleTrigger::MonitorFailing => kind == OPENED_KIND,
            RuleTrigger::MonitorRecovering => kind == RESOLVED_KIND,
            RuleTrigger::UptimeDown => kind == UPTIME_DOWN_KIND,
            RuleTrigger::UptimeUp => kind == UPTIME_UP_KIND,
            RuleTrigger::Frequency { .. } | RuleTrigger::Users { .. } | RuleTrigger::EveryEvent => {
                false
            }
        }
    }

    /// The window of a windowed trigger, minutes (`every_event`: 0).
    pub fn window_minutes(self) -> Option<i64> {
        match self {
            RuleTrigger::Frequency { minutes, .. } | RuleTrigger::Users { minutes, .. } => {
                Some(minutes)
            }
            RuleTrigger::EveryEvent => Some(0),
            _ => None,
        }
    }

    /// The outbox kind written when this windowed trigger fires.
    pub fn fired_kind(self) -> Option<&'static str> {
        match self {
            RuleTrigger::Frequency { .. } => Some("frequency"),
            RuleTrigger::Users { .. } => Some("users"),
            RuleTrigger::EveryEvent => Some("every_event"),
            _ => None,
        }
    }
}

/// How a tag filter compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TagOp {
    /// The tag's value is exactly the given one.
    Equals,
    /// The tag's value contains the given text.
    Contains,
}

/// One tag condition: the event has tag `key` whose value `op` `value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagFilter {
    /// Tag key.
    pub key: String,
    /// Comparison.
    pub op: TagOp,
    /// Value compared with.
    pub value: String,
}

/// Only issues assigned to someone, or only those assigned to nobody.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignedFilter {
    /// The issue has an assignee.
    Assigned,
    /// The issue has none.
    Unassigned,
}

/// Conditions on the issue and its triggering event; all must hold (absent = any).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleFilters {
    /// The event's environment is one of these.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<String>,
    /// The event's level is at least this (`debug` < `info` < `warning` < `error` < `fatal`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// Tag conditions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<TagFilter>,
    /// The event's release is exactly this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// The issue title contains this (case-insensitive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title_contains: Option<String>,
    /// Assigned or unassigned issues only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned: Option<AssignedFilter>,
}

/// Which channels a rule sends to: `"all"` or a list of channel ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelSelection {
    /// Every active channel of the project, and the global ones.
    All,
    /// These channels (of the project, or global).
    Ids(Vec<i64>),
}

impl Default for ChannelSelection {
    fn default() -> Self {
        ChannelSelection::Ids(Vec::new())
    }
}

impl Serialize for ChannelSelection {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ChannelSelection::All => s.serialize_str("all"),
            ChannelSelection::Ids(ids) => ids.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for ChannelSelection {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Name(String),
            Ids(Vec<i64>),
        }
        match Raw::deserialize(d)? {
            Raw::Name(s) if s == "all" => Ok(ChannelSelection::All),
            Raw::Name(s) => Err(serde::de::Error::custom(format!(
                "channels must be \"all\" or a list of channel ids, not {s:?}"
            ))),
            Raw::Ids(ids) => Ok(ChannelSelection::Ids(ids)),
        }
    }
}

/// What a rule does when it fires.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleActions {
    /// Channels to send to.
    pub channels: ChannelSelection,
    /// Also e-mail the issue's assignee: when the issue regresses or comes back from an
    /// ignore, and when a windowed trigger fires for it (not for a new issue, which nobody
    /// has looked at yet, nor for a monitor's incident).
    pub email_assignee: bool,
    /// Also e-mail these users (ids).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub email_users: Vec<i64>,
    /// Also e-mail every user who chose to get e-mail for the project
    /// ([`Store::set_project_subscription`]).
    pub email_subscribers: bool,
}

/// What filters look at: the issue and the event that triggered the notification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    /// The event's environment.
    pub environment: Option<String>,
    /// The event's level (the issue's when the event is gone).
    pub level: Level,
    /// The event's release.
    pub release: Option<String>,
    /// The issue's title.
    pub title: String,
    /// The event's tags.
    pub tags: Vec<(String, String)>,
    /// The issue has an assignee.
    pub assigned: bool,
}

impl RuleFilters {
    /// True when every filter holds for `s`.
    pub fn matches(&self, s: &Subject) -> bool {
        let environment = self.environments.is_empty()
            || s.environment
                .as_ref()
                .is_some_and(|e| self.environments.iter().any(|want| want == e));
        let level = self
            .level
            .as_deref()
            .and_then(Level::from_name)
            .is_none_or(|min| s.level >= min);
        let tags = self.tags.iter().all(|f| {
            s.tags.iter().any(|(k, v)| {
                *k == f.key
                    && match f.op {
                        TagOp::Equals => *v == f.value,
                        TagOp::Contains => v.contains(&f.value),
                    }
            })
        });
        let release = self
            .release
            .as_ref()
            .is_none_or(|r| s.release.as_ref() == Some(r));
        let title = self
            .title_contains
            .as_ref()
            .is_none_or(|t| s.title.to_lowercase().contains(&t.to_lowercase()));
        let assigned = match self.assigned {
            None => true,
            Some(AssignedFilter::Assigned) => s.assigned,
            Some(AssignedFilter::Unassigned) => !s.assigned,
        };
        environment && level && tags && release && title && assigned
    }
}

/// A rule as given by a user (API body, web form), before it is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Display name.
    pub name: String,
    /// Disabled rules never fire.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// When it fires (at least one).
    pub triggers: Vec<RuleTrigger>,
    /// For what.
    #[serde(default)]
    pub filters: RuleFilters,
    /// To whom.
    #[serde(default)]
    pub actions: RuleActions,
    /// At most once per issue per this many minutes (0: no limit).
    #[serde(default)]
    pub interval_minutes: i64,
}

fn yes() -> bool {
    true
}

/// A rule that cannot be stored; the message says what is wrong (shown as a 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidRule(pub String);

impl RuleSpec {
    /// Reads a rule in the API's JSON shape (the API's bodies and the Alerts page's form,
    /// which is mapped to this shape, so both refuse the same way). The message says what is
    /// wrong, unknown fields included; [`RuleSpec::validate`] checks the values afterwards.
    pub fn from_json(v: serde_json::Value) -> Result<Self, InvalidRule> {
        serde_json::from_value(v).map_err(|e| InvalidRule(format!("invalid rule: {e}")))
    }

    /// Checks everything that needs no database: a name, at least one trigger, sane
    /// thresholds and windows, a known level, non-empty tag keys, and a rate limit for
    /// `every_event`.
    pub fn validate(&self) -> Result<(), InvalidRule> {
        let bad = |m: String| Err(InvalidRule(m));
        let name = self.name.trim();
        if name.is_empty() {
            return bad("a rule needs a name".into());
        }
        if name.chars().count() > MAX_RULE_NAME {
            return bad(format!(
                "the name is longer than {MAX_RULE_NAME} characters"
            ));
        }
        if self.triggers.is_empty() {
            return bad("a rule needs at least one trigger".into());
        }
        let minutes_ok = |m: i64| (1..=MAX_MINUTES).contains(&m);
        for t in &self.triggers {
            match *t {
                RuleTrigger::Frequency { events: n, minutes }
                | RuleTrigger::Users { users: n, minutes } => {
                    if n < 0 {
                        return bad("a trigger's threshold must be 0 or more".into());
                    }
                    if !minutes_ok(minutes) {
                        return bad(format!(
                            "a trigger's minutes must be from 1 to {MAX_MINUTES}"
                        ));
                    }
                }
                RuleTrigger::EveryEvent if self.interval_minutes < 1 => {
                    return bad(
                        "every_event needs interval_minutes of at least 1 (it is rate limited)"
                            .into(),
                    );
                }
                _ => {}
            }
        }
        if !(0..=MAX_MINUTES).contains(&self.interval_minutes) {
            return bad(format!("interval_minutes must be from 0 to {MAX_MINUTES}"));
        }
        if let Some(level) = &self.filters.level {
            if Level::from_name(level).is_none_or(|l| l.as_str() != level) {
                return bad(format!(
                    "level {level:?} is not one of debug, info, warning, error, fatal"
                ));
            }
        }
        if self.filters.tags.iter().any(|t| t.key.trim().is_empty()) {
            return bad("a tag filter needs a key".into());
        }
        if self.actions.email_users.iter().any(|&u| u <= 0)
            || matches!(&self.actions.channels, ChannelSelection::Ids(ids) if ids.iter().any(|&c| c <= 0))
        {
            return bad("channel and user ids are positive numbers".into());
        }
        Ok(())
    }
}

/// A stored rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertRule {
    /// Rule id.
    pub id: i64,
    /// Owning project.
    pub project_id: i64,
    /// `"default"` or `"spike"` for the built-in rules, else `None`.
    pub builtin: Option<String>,
    /// Created, epoch ms.
    pub created_ms: i64,
    /// Last changed, epoch ms.
    pub updated_ms: i64,
    /// The rule itself.
    #[serde(flatten)]
    pub spec: RuleSpec,
}

impl AlertRule {
    /// Its frequency trigger, if it has one (for the message's "more than N in M min").
    pub fn frequency(&self) -> Option<super::FrequencyRule> {
        self.spec.triggers.iter().find_map(|t| match *t {
            RuleTrigger::Frequency { events, minutes } => {
                Some(super::FrequencyRule { events, minutes })
            }
            _ => None,
        })
    }
}

row! {
    struct RuleRow {
        rule_id: i64,
        project_id: i64,
        name: String,
        enabled: bool,
        triggers: String,
        filters: String,
        actions: String,
        interval_minutes: i64,
        builtin: Option<String>,
        created_ms: i64,
        updated_ms: i64,
    }

    try_into |r| {
        let corrupt = |what: &str, e: serde_json::Error| {
            StoreError::Other(format!("corrupt {what} of alert rule {}: {e}", r.rule_id))
        };
        Ok(AlertRule {
            id: r.rule_id,
            project_id,
            builtin: r.builtin.clone(),
            created_ms, updated_ms,
            spec: RuleSpec {
                name: r.name.clone(),
                enabled: r.enabled,
                triggers: serde_json::from_str(&r.triggers).map_err(|e| corrupt("triggers", e))?,
                filters: serde_json::from_str(&r.filters).map_err(|e| corrupt("filters", e))?,
                actions: serde_json::from_str(&r.actions).map_err(|e| corrupt("actions", e))?,
                interval_minutes: r.interval_minutes,
            },
        })
    }
}

const RULE_SELECT: &str = "select rule_id, project_id, name, enabled, triggers, filters, \
    actions, interval_minutes, builtin, created_ms, updated_ms from alert_rules";

/// The default rule every project starts with: what Errata did before rules existed.
pub fn default_rule_spec() -> RuleSpec {
    RuleSpec {
        name: "Default".into(),
        enabled: true,
        triggers: vec![
            RuleTrigger::NewIssue,
            RuleTrigger::Regression,
            RuleTrigger::Unignored,
            RuleTrigger::MonitorFailing,
            RuleTrigger::MonitorRecovering,
            RuleTrigger::UptimeDown,
            RuleTrigger::UptimeUp,
        ],
        filters: RuleFilters::default(),
        actions: RuleActions {
            channels: ChannelSelection::All,
            email_assignee: true,
            email_users: Vec::new(),
            email_subscribers: true,
        },
        interval_minutes: 0,
    }
}

/// A rule's stored columns in order: `name`, `enabled`, `triggers`, `filters`, `actions`,
/// `interval_minutes` (the insert's `$2`…`$7`, the update's too).
fn spec_args(spec: &RuleSpec) -> Vec<Arg<'_>> {
    vec![
        spec.name.trim().into(),
        spec.enabled.into(),
        json(&spec.triggers).into(),
        json(&spec.filters).into(),
        json(&spec.actions).into(),
        spec.interval_minutes.into(),
    ]
}

fn json(v: &impl Serialize) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

/// Inserts `spec` as a rule of `project_id` (no checks); returns its id.
pub(super) async fn insert_rule(
    tx: &mut impl Executor,
    project_id: i64,
    spec: &RuleSpec,
    builtin: Option<&str>,
    now: i64,
) -> Result<i64, StoreError> {
    Ok(tx
        .fetch_one::<IdRow>(
            "insert into alert_rules (project_id, name, enabled, triggers, filters, actions, \
             interval_minutes, builtin, created_ms, updated_ms) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) returning rule_id as id",
            [
                vec![project_id.into()],
                spec_args(spec),
                vec![builtin.map(str::to_owned).into(), now.into()],
            ]
            .concat(),
        )
        .await?
        .id)
}

impl Store {
    /// A project's rules, oldest first. Errors: [`StoreError::NotFound`] for an unknown
    /// project.
    pub async fn alert_rules(&self, project_id: i64) -> Result<Vec<AlertRule>, StoreError> {
        self.project(project_id).await?;
        let sql = format!("{RULE_SELECT} where project_id = $1 order by rule_id");
        let rows = self
            .db()
            .fetch_all::<RuleRow>(&sql, vec![project_id.into()])
            .await?;
        rows.into_iter().map(AlertRule::try_from).collect()
    }

    /// Every enabled rule of every project, by project then id (the worker's view).
    pub async fn enabled_alert_rules(&self) -> Result<Vec<AlertRule>, StoreError> {
        let sql = format!("{RULE_SELECT} where enabled order by project_id, rule_id");
        let rows = self.db().fetch_all::<RuleRow>(&sql, vec![]).await?;
        rows.into_iter().map(AlertRule::try_from).collect()
    }

    /// One rule. Errors: [`StoreError::NotFound`].
    pub async fn alert_rule(&self, rule_id: i64) -> Result<AlertRule, StoreError> {
        let sql = format!("{RULE_SELECT} where rule_id = $1");
        self.db()
            .fetch_one::<RuleRow>(&sql, vec![rule_id.into()])
            .await?
            .try_into()
    }

    /// The project's most recently seen issue, if it has any (what "send test" shows).
    pub async fn latest_issue_id(&self, project_id: i64) -> Result<Option<i64>, StoreError> {
        Ok(self
            .db()
            .fetch_optional::<IdRow>(
                "select issue_id as id from issues where project_id = $1 \
                 order by last_seen_ms desc, issue_id desc limit 1",
                vec![project_id.into()],
            )
            .await?
            .map(|r| r.id))
    }

    /// The rule that wrote an outbox row (windowed triggers), if any.
    pub async fn outbox_rule(&self, outbox_id: i64) -> Result<Option<AlertRule>, StoreError> {
        let sql = format!(
            "{RULE_SELECT} where rule_id = (select rule_id from outbox where outbox_id = $1)"
        );
        self.db()
            .fetch_optional::<RuleRow>(&sql, vec![outbox_id.into()])
            .await?
            .map(AlertRule::try_from)
            .transpose()
    }

    /// Checks the channel and user ids of `spec` against the database: channels of the
    /// project (or global) and existing users. Errors name the first unknown id.
    async fn check_references(
        &self,
        project_id: i64,
        spec: &RuleSpec,
    ) -> Result<Result<(), InvalidRule>, StoreError> {
        if let ChannelSelection::Ids(ids) = &spec.actions.channels {
            for &id in ids {
                let found = self
                    .db()
                    .fetch_optional::<IdRow>(
                        "select channel_id as id from notification_channels where channel_id = $1 \
                         and active and source <> 'user' \
                         and (project_id is null or project_id = $2)",
                        vec![id.into(), project_id.into()],
                    )
                    .await?;
                if found.is_none() {
                    return Ok(Err(InvalidRule(format!(
                        "channel {id} is not an active channel of this project"
                    ))));
                }
            }
        }
        for &id in &spec.actions.email_users {
            let found = self
                .db()
                .fetch_optional::<IdRow>(
                    "select user_id as id from users where user_id = $1",
                    vec![id.into()],
                )
                .await?;
            if found.is_none() {
                return Ok(Err(InvalidRule(format!("there is no user {id}"))));
            }
        }
        Ok(Ok(()))
    }

    /// Validates and stores a new rule of `project_id`. Errors: the outer one from the
    /// database ([`StoreError::NotFound`] for an unknown project), the inner one says what is
    /// wrong with the rule.
    pub async fn create_alert_rule(
        &self,
        project_id: i64,
        spec: &RuleSpec,
        now: i64,
    ) -> Result<Result<AlertRule, InvalidRule>, StoreError> {
        self.project(project_id).await?;
        if let Err(e) = spec.validate() {
            return Ok(Err(e));
        }
        if let Err(e) = self.check_references(project_id, spec).await? {
            return Ok(Err(e));
        }
        let mut tx = self.pool.begin_write().await?;
        let id = insert_rule(&mut tx, project_id, spec, None, now).await?;
        tx.commit().await?;
        Ok(Ok(self.alert_rule(id).await?))
    }

    /// Validates and replaces rule `rule_id` with `spec` (its project and built-in marker
    /// stay). Errors as [`Store::create_alert_rule`].
    pub async fn update_alert_rule(
        &self,
        rule_id: i64,
        spec: &RuleSpec,
        now: i64,
    ) -> Result<Result<AlertRule, InvalidRule>, StoreError> {
        let rule = self.alert_rule(rule_id).await?;
        if let Err(e) = spec.validate() {
            return Ok(Err(e));
        }
        if let Err(e) = self.check_references(rule.project_id, spec).await? {
            return Ok(Err(e));
        }
        self.db()
            .execute(
                "update alert_rules set name = $2, enabled = $3, triggers = $4, filters = $5, \
                 actions = $6, interval_minutes = $7, updated_ms = $8 where rule_id = $1",
                [vec![rule_id.into()], spec_args(spec), vec![now.into()]].concat(),
            )
            .await?;
        Ok(Ok(self.alert_rule(rule_id).await?))
    }

    /// Deletes a rule (its past notifications stay). Errors: [`StoreError::NotFound`].
    pub async fn delete_alert_rule(&self, rule_id: i64) -> Result<(), StoreError> {
        let n = self
            .db()
            .execute(
                "delete from alert_rules where rule_id = $1",
                vec![rule_id.into()],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

impl Store {
    /// What filters look at for a notification of `issue_id` caused by `event_id` (32 hex):
    /// the event's environment, level, release and tags, else the issue's level and last
    /// environment when the event is gone. `None` when the issue is gone.
    pub async fn rule_subject(
        &self,
        project_id: i64,
        issue_id: i64,
        event_id: &str,
    ) -> Result<Option<Subject>, StoreError> {
        let issue = match self.issue(issue_id).await {
            Ok(i) => i,
            Err(StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        let event = match event_id.parse::<crate::protocol::EventId>() {
            Ok(id) => match self.event(project_id, &id).await {
                Ok(e) => Some(e),
                Err(StoreError::NotFound) => None,
                Err(e) => return Err(e),
            },
            Err(_) => None,
        };
        let issue_level = Level::from_name(&issue.level).unwrap_or_default();
        Ok(Some(match event {
            Some(e) => Subject {
                environment: e.summary.environment.clone(),
                level: Level::from_name(&e.summary.level).unwrap_or(issue_level),
                release: e.summary.release.clone(),
                title: issue.title,
                tags: crate::event::EventView::new(&e.payload)
                    .tags()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
                assigned: issue.assignee.is_some(),
            },
            None => Subject {
                environment: issue.environments.last().cloned(),
                level: issue_level,
                release: issue.last_release,
                title: issue.title,
                tags: Vec::new(),
                assigned: issue.assignee.is_some(),
            },
        }))
    }
}

/// Records that `rule` fired for `issue_id` at `now` unless it already did within its
/// interval (`interval_ms`, 0 = always fires); true when it fires.
pub(super) async fn rule_fires(
    tx: &mut Tx,
    rule_id: i64,
    issue_id: i64,
    interval_ms: i64,
    now: i64,
) -> Result<bool, StoreError> {
    if interval_ms <= 0 {
        return Ok(true);
    }
    let kind = format!("rule:{rule_id}");
    super::outbox::fire_trigger(tx, issue_id, &kind, now, now - interval_ms).await
}

/// Carries out `actions` for outbox row `outbox_id`: one pending delivery per chosen
/// channel, and per e-mailed user (the assignee, named users, subscribers) who may see the
/// project. Returns deliveries created
/// (a channel already chosen by another rule counts once).
pub(super) async fn apply_actions(
    tx: &mut Tx,
    actions: &RuleActions,
    outbox_id: i64,
    project_id: i64,
    assignee_id: Option<i64>,
    now: i64,
) -> Result<usize, StoreError> {
    use super::outbox::{insert_channel_delivery, insert_deliveries, insert_user_delivery};
    let mut n = match &actions.channels {
        ChannelSelection::All => insert_deliveries(tx, outbox_id, project_id, now).await?,
        ChannelSelection::Ids(ids) => {
            let mut n = 0;
            for &id in ids {
                n += insert_channel_delivery(tx, outbox_id, project_id, id, now).await?;
            }
            n
        }
    };
    let mut users: Vec<i64> = assignee_id
        .filter(|_| actions.email_assignee)
        .into_iter()
        .chain(actions.email_users.iter().copied())
        .collect();
    if actions.email_subscribers {
        let subscribers = tx
            .fetch_ids(
                "select user_id as id from project_subscriptions where project_id = $1 \
                 order by user_id",
                vec![project_id.into()],
            )
            .await?;
        users.extend(subscribers);
    }
    for user in users {
        // Only to people who may see the project now (teams change after rules are made).
        if super::teams::may_see(tx, user, project_id).await? {
            n += insert_user_delivery(tx, outbox_id, user, now).await?;
        }
    }
    Ok(n)
}

impl Store {
    /// Mutes (`true`) or unmutes issue `issue_id` for user `user_id`: a muted issue sends
    /// that user no e-mail. Errors: [`StoreError::NotFound`] for an unknown issue.
    pub async fn set_issue_muted(
        &self,
        user_id: i64,
        issue_id: i64,
        muted: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        self.issue(issue_id).await?;
        self.set_user_link("issue_mutes", "issue_id", user_id, issue_id, muted, now)
            .await
    }

    /// Subscribes (`true`) or unsubscribes user `user_id` to e-mail about project
    /// `project_id` (sent by rules with `email_subscribers`, the default rule among them).
    /// Errors: [`StoreError::NotFound`] for an unknown project.
    pub async fn set_project_subscription(
        &self,
        user_id: i64,
        project_id: i64,
        subscribed: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        self.project(project_id).await?;
        self.set_user_link(
            "project_subscriptions",
            "project_id",
            user_id,
            project_id,
            subscribed,
            now,
        )
        .await
    }

    /// Adds (`on`) or removes the row `(user_id, column = id)` of a per-user link table
    /// (`issue_mutes`, `project_subscriptions`); both are idempotent. `table` and `column` are
    /// constants of this module, never input.
    async fn set_user_link(
        &self,
        table: &'static str,
        column: &'static str,
        user_id: i64,
        id: i64,
        on: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        let (sql, args) = if on {
            (
                format!(
                    "insert into {table} (user_id, {column}, created_ms) values ($1, $2, $3) \
                     on conflict (user_id, {column}) do nothing"
                ),
                vec![user_id.into(), id.into(), now.into()],
            )
        } else {
            (
                format!("delete from {table} where user_id = $1 and {column} = $2"),
                vec![user_id.into(), id.into()],
            )
        };
        self.db().execute(&sql, args).await?;
        Ok(())
    }

    /// The projects `user_id` gets e-mail for, by id.
    pub async fn project_subscriptions(&self, user_id: i64) -> Result<Vec<i64>, StoreError> {
        self.db()
            .fetch_ids(
                "select project_id as id from project_subscriptions where user_id = $1 \
                 order by project_id",
                vec![user_id.into()],
            )
            .await
    }

    /// True when `user_id` muted `issue_id`.
    pub async fn issue_muted(&self, user_id: i64, issue_id: i64) -> Result<bool, StoreError> {
        Ok(self
            .db()
            .fetch_optional::<IdRow>(
                "select issue_id as id from issue_mutes where user_id = $1 and issue_id = $2",
                vec![user_id.into(), issue_id.into()],
            )
            .await?
            .is_some())
    }
}

/// The default rule of a new project, in the project's creating transaction.
pub(super) async fn insert_default_rule(
    tx: &mut Tx,
    project_id: i64,
    now: i64,
) -> Result<(), StoreError> {
    insert_rule(tx, project_id, &default_rule_spec(), Some("default"), now).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_stored_shapes_round_trip_and_the_migration_default_parses() {
        // What migrations/*/0014_alert_rules.sql writes for existing projects.
        let triggers: Vec<RuleTrigger> = serde_json::from_str(
            r#"[{"kind":"new_issue"},{"kind":"regression"},{"kind":"unignored"},{"kind":"monitor_failing"},{"kind":"monitor_recovering"},{"kind":"uptime_down"},{"kind":"uptime_up"}]"#,
        )
        .expect("triggers");
        assert_eq!(triggers, default_rule_spec().triggers);
        let actions: RuleActions = serde_json::from_str(
            r#"{"channels":"all","email_assignee":true,"email_subscribers":true}"#,
        )
        .expect("actions");
        assert_eq!(actions, default_rule_spec().actions);
        let spike: Vec<RuleTrigger> =
            serde_json::from_str(r#"[{"kind":"frequency","events":100,"minutes":5}]"#)
                .expect("spike");
        assert_eq!(
            spike,
            [RuleTrigger::Frequency {
                events: 100,
                minutes: 5
            }]
        );
        let spec: RuleSpec = serde_json::from_value(json!({
            "name": "prod errors",
            "triggers": [{"kind": "users", "users": 10, "minutes": 60}],
            "filters": {"environments": ["production"], "level": "error",
                        "tags": [{"key": "region", "op": "contains", "value": "eu"}]},
            "actions": {"channels": [3, 4], "email_users": [1]},
        }))
        .expect("spec");
        assert!(spec.enabled);
        assert_eq!(spec.validate(), Ok(()));
        let back = serde_json::to_value(&spec).expect("json");
        assert_eq!(back["actions"]["channels"], json!([3, 4]));
        assert_eq!(back["filters"]["tags"][0]["op"], "contains");
    }

    #[test]
    fn invalid_rules_say_what_is_wrong() {
        let base = default_rule_spec();
        let with = |f: &dyn Fn(&mut RuleSpec)| {
            let mut s = base.clone();
            f(&mut s);
            s.validate().expect_err("invalid").0
        };
        assert!(with(&|s| s.name = " ".into()).contains("needs a name"));
        assert!(with(&|s| s.triggers.clear()).contains("at least one trigger"));
        assert!(with(&|s| s.triggers = vec![RuleTrigger::EveryEvent]).contains("interval"));
        assert!(with(&|s| s.triggers = vec![RuleTrigger::Frequency {
            events: 5,
            minutes: 0
        }])
        .contains("minutes"));
        assert!(with(&|s| s.filters.level = Some("loud".into())).contains("level \"loud\""));
        assert!(with(&|s| s.interval_minutes = -1).contains("interval_minutes"));
        for body in [
            json!({"name": "x", "triggers": [{"kind": "sometimes"}]}),
            json!({"name": "x", "triggers": [], "colour": "red"}),
            json!({"name": "x", "triggers": [], "actions": {"channels": "some"}}),
        ] {
            assert!(serde_json::from_value::<RuleSpec>(body).is_err());
        }
    }

    #[test]
    fn filters_hold_all_together() {
        let prod = Subject {
            environment: Some("production".into()),
            level: Level::Error,
            release: Some("shop@2".into()),
            title: "ValueError: Bad Card".into(),
            tags: vec![("region".into(), "eu-west".into())],
            assigned: false,
        };
        let staging = Subject {
            environment: Some("staging".into()),
            ..prod.clone()
        };
        let f = RuleFilters {
            environments: vec!["production".into()],
            level: Some("error".into()),
            ..RuleFilters::default()
        };
        assert!(f.matches(&prod));
        assert!(!f.matches(&staging));
        assert!(!f.matches(&Subject {
            level: Level::Warning,
            ..prod.clone()
        }));
        assert!(f.matches(&Subject {
            level: Level::Fatal,
            ..prod.clone()
        }));
        let tag = |op, value: &str| RuleFilters {
            tags: vec![TagFilter {
                key: "region".into(),
                op,
                value: value.into(),
            }],
            ..RuleFilters::default()
        };
        assert!(tag(TagOp::Contains, "eu").matches(&prod));
        assert!(!tag(TagOp::Equals, "eu").matches(&prod));
        assert!(tag(TagOp::Equals, "eu-west").matches(&prod));
        let other = RuleFilters {
            release: Some("shop@2".into()),
            title_contains: Some("bad card".into()),
            assigned: Some(AssignedFilter::Unassigned),
            ..RuleFilters::default()
        };
        assert!(other.matches(&prod));
        assert!(!other.matches(&Subject {
            assigned: true,
            ..prod.clone()
        }));
        assert!(RuleFilters::default().matches(&Subject::default()));
    }

    #[test]
    fn outbox_kinds_map_to_triggers() {
        assert!(RuleTrigger::MonitorFailing.matches_kind("incident_opened"));
        assert!(RuleTrigger::UptimeDown.matches_kind("uptime_down"));
        assert!(RuleTrigger::UptimeUp.matches_kind("uptime_up"));
        assert!(!RuleTrigger::NewIssue.matches_kind("regression"));
        assert!(!RuleTrigger::EveryEvent.matches_kind("new_issue"));
    }
}
