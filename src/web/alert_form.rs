//! The Alerts page's rule form (new rule and edit): what was typed, kept as typed so a
//! refused form comes back as it was sent, and its mapping to and from the API's rule.
//!
//! The form is turned into the API's JSON shape and read by [`RuleSpec::from_json`], the
//! API's own reader, and then stored by the same store calls as the API (which validate), so
//! a form and an API body are refused with the same words.

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::store::{
    AssignedFilter, ChannelSelection, InvalidRule, RuleSpec, RuleTrigger, TagFilter, TagOp,
};

/// Empty tag rows the form offers at least (a few conditions without JavaScript).
const TAG_ROWS: usize = 3;

/// The triggers the form offers, `(kind, words)`, in the order shown.
pub const TRIGGERS: &[(&str, &str)] = &[
    ("new_issue", "a new issue"),
    ("regression", "a regression"),
    ("unignored", "an ignored issue comes back"),
    ("frequency", "more than N events in M minutes"),
    ("users", "more than N users in M minutes"),
    (
        "every_event",
        "every event (rate limited by the interval below)",
    ),
    ("monitor_failing", "a cron monitor fails"),
    ("monitor_recovering", "a cron monitor recovers"),
    ("uptime_down", "an uptime check goes down"),
    ("uptime_up", "an uptime check comes back up"),
];

/// One tag condition row as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TagRow {
    /// Tag key.
    pub key: String,
    /// `equals` or `contains`.
    pub op: String,
    /// Value compared with.
    pub value: String,
}

/// The rule form's fields as typed (strings where the user types, so nothing is lost).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RuleForm {
    /// Rule name.
    pub name: String,
    /// Checked trigger kinds.
    pub triggers: Vec<String>,
    /// `frequency`: N events.
    pub frequency_events: String,
    /// `frequency`: M minutes.
    pub frequency_minutes: String,
    /// `users`: N users.
    pub users_users: String,
    /// `users`: M minutes.
    pub users_minutes: String,
    /// Environments, comma separated.
    pub environments: String,
    /// Level at least (empty: any).
    pub level: String,
    /// Tag conditions (blank rows are ignored).
    pub tags: Vec<TagRow>,
    /// Release equals.
    pub release: String,
    /// Title contains.
    pub title_contains: String,
    /// `assigned`, `unassigned` or empty.
    pub assigned: String,
    /// "Every channel" is checked.
    pub all_channels: bool,
    /// Checked channel ids.
    pub channels: Vec<String>,
    /// E-mail the assignee.
    pub email_assignee: bool,
    /// E-mail the project's subscribers.
    pub email_subscribers: bool,
    /// Checked user ids to e-mail.
    pub email_users: Vec<String>,
    /// At most once per issue per this many minutes.
    pub interval_minutes: String,
}

impl RuleForm {
    /// The form for a new rule: a new issue, to every channel, no limit.
    pub fn blank() -> RuleForm {
        RuleForm {
            triggers: vec!["new_issue".into()],
            all_channels: true,
            interval_minutes: "0".into(),
            ..RuleForm::default()
        }
        .padded()
    }

    /// The submitted fields (repeated names for checkboxes and tag rows, in page order).
    pub fn from_pairs(pairs: &[(String, String)]) -> RuleForm {
        let mut f = RuleForm::default();
        let (mut keys, mut ops, mut values) = (Vec::new(), Vec::new(), Vec::new());
        for (k, v) in pairs {
            let v = v.clone();
            match k.as_str() {
                "name" => f.name = v,
                "trigger" => f.triggers.push(v),
                "frequency_events" => f.frequency_events = v,
                "frequency_minutes" => f.frequency_minutes = v,
                "users_users" => f.users_users = v,
                "users_minutes" => f.users_minutes = v,
                "environments" => f.environments = v,
                "level" => f.level = v,
                "tag_key" => keys.push(v),
                "tag_op" => ops.push(v),
                "tag_value" => values.push(v),
                "release" => f.release = v,
                "title_contains" => f.title_contains = v,
                "assigned" => f.assigned = v,
                "channel" if v == "all" => f.all_channels = true,
                "channel" => f.channels.push(v),
                "email_assignee" => f.email_assignee = true,
                "email_subscribers" => f.email_subscribers = true,
                "email_user" => f.email_users.push(v),
                "interval_minutes" => f.interval_minutes = v,
                // `csrf`, `action` and fields of other forms.
                _ => {}
            }
        }
        f.tags = keys
            .into_iter()
            .enumerate()
            .map(|(i, key)| TagRow {
                key,
                op: ops.get(i).cloned().unwrap_or_default(),
                value: values.get(i).cloned().unwrap_or_default(),
            })
            .collect();
        f.padded()
    }

    /// The form showing a stored rule.
    pub fn from_spec(spec: &RuleSpec) -> RuleForm {
        let mut f = RuleForm {
            name: spec.name.clone(),
            interval_minutes: spec.interval_minutes.to_string(),
            ..RuleForm::default()
        };
        for t in &spec.triggers {
            match *t {
                RuleTrigger::Frequency { events, minutes } => {
                    f.frequency_events = events.to_string();
                    f.frequency_minutes = minutes.to_string();
                }
                RuleTrigger::Users { users, minutes } => {
                    f.users_users = users.to_string();
                    f.users_minutes = minutes.to_string();
                }
                _ => {}
            }
            if let Some(kind) = serde_json::to_value(t)
                .ok()
                .and_then(|v| v.get("kind").and_then(Value::as_str).map(str::to_owned))
            {
                f.triggers.push(kind);
            }
        }
        let filters = &spec.filters;
        f.environments = filters.environments.join(", ");
        f.level = filters.level.clone().unwrap_or_default();
        f.tags = filters
            .tags
            .iter()
            .map(|t: &TagFilter| TagRow {
                key: t.key.clone(),
                op: match t.op {
                    TagOp::Equals => "equals".into(),
                    TagOp::Contains => "contains".into(),
                },
                value: t.value.clone(),
            })
            .collect();
        f.release = filters.release.clone().unwrap_or_default();
        f.title_contains = filters.title_contains.clone().unwrap_or_default();
        f.assigned = match filters.assigned {
            Some(AssignedFilter::Assigned) => "assigned".into(),
            Some(AssignedFilter::Unassigned) => "unassigned".into(),
            None => String::new(),
        };
        let actions = &spec.actions;
        match &actions.channels {
            ChannelSelection::All => f.all_channels = true,
            ChannelSelection::Ids(ids) => f.channels = ids.iter().map(i64::to_string).collect(),
        }
        f.email_assignee = actions.email_assignee;
        f.email_subscribers = actions.email_subscribers;
        f.email_users = actions.email_users.iter().map(i64::to_string).collect();
        f.padded()
    }

    /// At least [`TAG_ROWS`] tag rows, and one blank row after the filled ones.
    fn padded(mut self) -> RuleForm {
        self.tags
            .retain(|t| !t.key.trim().is_empty() || !t.value.trim().is_empty());
        let rows = (self.tags.len() + 1).max(TAG_ROWS);
        self.tags.resize(rows, TagRow::default());
        self
    }

    /// The rule the form describes (enabled), read as the API reads a body. Numbers that are
    /// not numbers are refused here, naming the field; everything else by the API's reader
    /// and, when stored, by the store's validation.
    pub fn to_spec(&self) -> Result<RuleSpec, InvalidRule> {
        let number = |s: &str, what: &str| -> Result<i64, InvalidRule> {
            let s = s.trim();
            if s.is_empty() {
                return Ok(0);
            }
            s.parse::<i64>()
                .map_err(|_| InvalidRule(format!("{what} must be a whole number, not {s:?}")))
        };
        let mut triggers = Vec::new();
        for kind in &self.triggers {
            triggers.push(match kind.as_str() {
                "frequency" => json!({
                    "kind": kind,
                    "events": number(&self.frequency_events, "N events")?,
                    "minutes": number(&self.frequency_minutes, "M minutes (events)")?,
                }),
                "users" => json!({
                    "kind": kind,
                    "users": number(&self.users_users, "N users")?,
                    "minutes": number(&self.users_minutes, "M minutes (users)")?,
                }),
                _ => json!({ "kind": kind }),
            });
        }
        let mut filters = Map::new();
        let environments: Vec<&str> = self
            .environments
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        if !environments.is_empty() {
            filters.insert("environments".into(), json!(environments));
        }
        let tags: Vec<Value> = self
            .tags
            .iter()
            .filter(|t| !t.key.trim().is_empty() || !t.value.trim().is_empty())
            .map(|t| json!({ "key": t.key.trim(), "op": t.op, "value": t.value.trim() }))
            .collect();
        if !tags.is_empty() {
            filters.insert("tags".into(), Value::Array(tags));
        }
        for (field, typed) in [
            ("level", &self.level),
            ("release", &self.release),
            ("title_contains", &self.title_contains),
            ("assigned", &self.assigned),
        ] {
            if !typed.trim().is_empty() {
                filters.insert(field.into(), json!(typed.trim()));
            }
        }
        let ids = |typed: &[String], what: &str| -> Result<Vec<i64>, InvalidRule> {
            typed
                .iter()
                .map(|s| {
                    s.trim()
                        .parse::<i64>()
                        .map_err(|_| InvalidRule(format!("{s:?} is not a {what} id")))
                })
                .collect()
        };
        let channels = if self.all_channels {
            json!("all")
        } else {
            json!(ids(&self.channels, "channel")?)
        };
        RuleSpec::from_json(json!({
            "name": self.name,
            "enabled": true,
            "triggers": triggers,
            "filters": filters,
            "actions": {
                "channels": channels,
                "email_assignee": self.email_assignee,
                "email_subscribers": self.email_subscribers,
                "email_users": ids(&self.email_users, "user")?,
            },
            "interval_minutes": number(&self.interval_minutes, "The interval")?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::default_rule_spec;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_stored_rule_comes_back_the_same_through_the_form() {
        let mut spec = default_rule_spec();
        spec.triggers.push(RuleTrigger::Users {
            users: 3,
            minutes: 10,
        });
        spec.filters.tags.push(TagFilter {
            key: "region".into(),
            op: TagOp::Equals,
            value: "eu".into(),
        });
        spec.filters.environments = vec!["production".into(), "staging".into()];
        spec.actions.channels = ChannelSelection::Ids(vec![4, 7]);
        spec.actions.email_users = vec![2];
        let form = RuleForm::from_spec(&spec);
        assert_eq!(form.to_spec(), Ok(spec));
    }

    #[test]
    fn typed_fields_map_to_the_api_shape_and_refuse_like_it() {
        let form = RuleForm::from_pairs(&pairs(&[
            ("csrf", "x"),
            ("name", "Spikes"),
            ("trigger", "frequency"),
            ("trigger", "every_event"),
            ("frequency_events", "100"),
            ("frequency_minutes", "5"),
            ("tag_key", "region"),
            ("tag_op", "contains"),
            ("tag_value", "eu"),
            ("tag_key", ""),
            ("tag_op", "equals"),
            ("tag_value", ""),
            ("channel", "3"),
            ("interval_minutes", "10"),
        ]));
        assert_eq!(form.tags.len(), TAG_ROWS);
        let spec = form.to_spec().expect("valid");
        assert_eq!(
            spec.triggers,
            vec![
                RuleTrigger::Frequency {
                    events: 100,
                    minutes: 5
                },
                RuleTrigger::EveryEvent
            ]
        );
        assert_eq!(spec.filters.tags.len(), 1);
        assert_eq!(spec.actions.channels, ChannelSelection::Ids(vec![3]));
        let bad = RuleForm::from_pairs(&pairs(&[("name", "x"), ("trigger", "sometimes")]));
        let err = bad.to_spec().expect_err("unknown trigger");
        assert!(err.0.contains("unknown variant"), "{err}");
        let bad = RuleForm::from_pairs(&pairs(&[
            ("name", "x"),
            ("trigger", "users"),
            ("users_users", "lots"),
        ]));
        assert!(bad.to_spec().expect_err("N").0.contains("N users"));
    }
}
