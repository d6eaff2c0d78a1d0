//! The condition a resolve or an ignore carries ([`StatusDetails`]), how a client asks for
//! one ([`DetailsRequest`] → [`Condition`]), and when an event meets it ([`evaluate`]).
//!
//! Resolve conditions (Sentry's "resolved in the next release" / "in release X"):
//! * **in the next release**: resolved now; the release that was the project's latest then
//!   is recorded (`after`). Only an event of a release newer than `after` (see
//!   [`super::release`]) regresses the issue; events of `after` itself, of older releases or
//!   without a release are counted and change nothing. With no release known at the time,
//!   any event that has a release regresses it.
//! * **in release X**: only an event of X or of a newer release regresses it.
//!
//! Ignore conditions (the issue comes back as unresolved, and notifies, when met):
//! * **count N**: N more events (counted from the event count when ignored);
//! * **users N**: N more distinct users;
//! * **duration M minutes**: until a moment, ended by the `ignore_expiry` job
//!   ([`super::expiry`]) on the server's clock;
//! * **until regression**: the next event reopens it as a regression, as if it had been
//!   resolved, while it stays out of the unresolved list until then.
//!
//! The stored form is this module's JSON (`issues.status_details`); the API shows
//! [`StatusDetails::wire`].

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::release::{is_newer, semver_cmp};
use crate::clock::MINUTE_MS;
use crate::store::IssueStatus;
use crate::timefmt::rfc3339_ms;

/// Largest N of "N more events / users".
pub const MAX_IGNORE_COUNT: i64 = 1_000_000_000;
/// Longest ignore for a duration: ten years, in minutes.
pub const MAX_IGNORE_MINUTES: i64 = 10 * 366 * 24 * 60;
/// Longest release name accepted in "resolved in release X".
pub const MAX_RELEASE_LEN: usize = 200;

/// The condition attached to an issue's status, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StatusDetails {
    /// Resolved until an event of a release newer than `after`, the project's latest
    /// release when it was resolved (`None`: there was none).
    InNextRelease {
        /// The latest release when resolved.
        after: Option<String>,
    },
    /// Resolved until an event of `release` or a newer one.
    InRelease {
        /// The release said to carry the fix.
        release: String,
    },
    /// Ignored until the issue has `until_count` events (`count` more than when ignored).
    IgnoreCount {
        /// Events asked for.
        count: i64,
        /// The event count that ends the ignore.
        until_count: i64,
    },
    /// Ignored until the issue has `until_users` distinct users (`users` more).
    IgnoreUsers {
        /// Users asked for.
        users: i64,
        /// The user count that ends the ignore; retention lowers it by each user it forgets
        /// (`store/retention/idle_users.rs`), as it lowers the count.
        until_users: i64,
    },
    /// Ignored until `until_ms` (epoch ms), `minutes` after it was ignored.
    IgnoreDuration {
        /// Minutes asked for.
        minutes: i64,
        /// When the ignore ends.
        until_ms: i64,
    },
    /// Ignored until its next event, which reopens it as a regression.
    IgnoreUntilRegression,
}

/// What a client asks for in `status_details`: exactly one of the keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetailsRequest {
    /// `{"in_next_release": true}`.
    pub in_next_release: Option<bool>,
    /// `{"in_release": "1.4.2"}`.
    pub in_release: Option<String>,
    /// `{"ignore_count": N}`.
    pub ignore_count: Option<i64>,
    /// `{"ignore_users": N}`.
    pub ignore_users: Option<i64>,
    /// `{"ignore_duration_minutes": N}`.
    pub ignore_duration_minutes: Option<i64>,
    /// `{"ignore_until_regression": true}`.
    pub ignore_until_regression: Option<bool>,
}

/// A condition asked for, before the issue's counters make it a [`StatusDetails`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Resolve in the next release.
    InNextRelease,
    /// Resolve in this release.
    InRelease(String),
    /// Ignore until N more events.
    IgnoreCount(i64),
    /// Ignore until N more users.
    IgnoreUsers(i64),
    /// Ignore for N minutes.
    IgnoreDuration(i64),
    /// Ignore until the next event.
    IgnoreUntilRegression,
}

/// A `status_details` that cannot be used; the message is the API's `detail`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DetailsError {
    /// None or several keys.
    #[error("status_details takes exactly one of in_next_release, in_release, ignore_count, ignore_users, ignore_duration_minutes, ignore_until_regression")]
    NotOne,
    /// A condition that does not go with the status.
    #[error("{0} goes with status {1:?}")]
    WrongStatus(&'static str, &'static str),
    /// A number out of range.
    #[error("{0} must be a whole number from 1 to {1}")]
    OutOfRange(&'static str, i64),
    /// An empty or overlong release name.
    #[error("in_release must be a release name of 1 to {MAX_RELEASE_LEN} bytes")]
    BadRelease,
    /// A boolean key set to false.
    #[error("{0} can only be true")]
    NotTrue(&'static str),
}

impl DetailsRequest {
    /// The condition asked for with `status`: `Ok(None)` when no key is set. Errors when
    /// several keys are set, a key does not go with `status` (release conditions resolve,
    /// the others ignore), or a value is out of range.
    pub fn condition(&self, status: IssueStatus) -> Result<Option<Condition>, DetailsError> {
        let mut found = Vec::new();
        if let Some(v) = self.in_next_release {
            if !v {
                return Err(DetailsError::NotTrue("in_next_release"));
            }
            found.push(Condition::InNextRelease);
        }
        if let Some(r) = &self.in_release {
            let r = r.trim();
            if r.is_empty() || r.len() > MAX_RELEASE_LEN {
                return Err(DetailsError::BadRelease);
            }
            found.push(Condition::InRelease(r.to_owned()));
        }
        let ranged = |name: &'static str, v: i64, max: i64| {
            if (1..=max).contains(&v) {
                Ok(v)
            } else {
                Err(DetailsError::OutOfRange(name, max))
            }
        };
        if let Some(n) = self.ignore_count {
            found.push(Condition::IgnoreCount(ranged(
                "ignore_count",
                n,
                MAX_IGNORE_COUNT,
            )?));
        }
        if let Some(n) = self.ignore_users {
            found.push(Condition::IgnoreUsers(ranged(
                "ignore_users",
                n,
                MAX_IGNORE_COUNT,
            )?));
        }
        if let Some(n) = self.ignore_duration_minutes {
            found.push(Condition::IgnoreDuration(ranged(
                "ignore_duration_minutes",
                n,
                MAX_IGNORE_MINUTES,
            )?));
        }
        if let Some(v) = self.ignore_until_regression {
            if !v {
                return Err(DetailsError::NotTrue("ignore_until_regression"));
            }
            found.push(Condition::IgnoreUntilRegression);
        }
        let condition = match found.len() {
            0 => return Ok(None),
            1 => found.remove(0),
            _ => return Err(DetailsError::NotOne),
        };
        let wanted = condition.status();
        if wanted != status {
            return Err(DetailsError::WrongStatus(condition.key(), wanted.as_str()));
        }
        Ok(Some(condition))
    }
}

impl Condition {
    /// The status this condition goes with.
    pub fn status(&self) -> IssueStatus {
        match self {
            Condition::InNextRelease | Condition::InRelease(_) => IssueStatus::Resolved,
            _ => IssueStatus::Ignored,
        }
    }

    /// The request key that asks for it.
    pub fn key(&self) -> &'static str {
        match self {
            Condition::InNextRelease => "in_next_release",
            Condition::InRelease(_) => "in_release",
            Condition::IgnoreCount(_) => "ignore_count",
            Condition::IgnoreUsers(_) => "ignore_users",
            Condition::IgnoreDuration(_) => "ignore_duration_minutes",
            Condition::IgnoreUntilRegression => "ignore_until_regression",
        }
    }

    /// The stored condition for an issue with `events` events and `users` users at `now`
    /// (epoch ms), when the project's latest release is `latest_release`.
    pub fn details(
        self,
        latest_release: Option<String>,
        events: i64,
        users: i64,
        now: i64,
    ) -> StatusDetails {
        match self {
            Condition::InNextRelease => StatusDetails::InNextRelease {
                after: latest_release,
            },
            Condition::InRelease(release) => StatusDetails::InRelease { release },
            Condition::IgnoreCount(count) => StatusDetails::IgnoreCount {
                count,
                until_count: events.saturating_add(count),
            },
            Condition::IgnoreUsers(n) => StatusDetails::IgnoreUsers {
                users: n,
                until_users: users.saturating_add(n),
            },
            Condition::IgnoreDuration(minutes) => StatusDetails::IgnoreDuration {
                minutes,
                until_ms: now.saturating_add(minutes.saturating_mul(MINUTE_MS)),
            },
            Condition::IgnoreUntilRegression => StatusDetails::IgnoreUntilRegression,
        }
    }
}

impl StatusDetails {
    /// The status it goes with.
    pub fn status(&self) -> IssueStatus {
        match self {
            StatusDetails::InNextRelease { .. } | StatusDetails::InRelease { .. } => {
                IssueStatus::Resolved
            }
            _ => IssueStatus::Ignored,
        }
    }

    /// The stored JSON.
    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "null".to_owned())
    }

    /// Reads the stored JSON back.
    pub fn from_stored(s: &str) -> Result<StatusDetails, serde_json::Error> {
        serde_json::from_str(s)
    }

    /// The end of an ignore for a duration (epoch ms).
    pub fn ignore_until_ms(&self) -> Option<i64> {
        match self {
            StatusDetails::IgnoreDuration { until_ms, .. } => Some(*until_ms),
            _ => None,
        }
    }

    /// The API's `status_details`: the key the client sent with its value, plus what it
    /// became (`after_release`, `ignore_until_count`, `ignore_until_users`, `ignore_until`).
    pub fn wire(&self) -> Value {
        match self {
            StatusDetails::InNextRelease { after } => {
                json!({"in_next_release": true, "after_release": after})
            }
            StatusDetails::InRelease { release } => json!({ "in_release": release }),
            StatusDetails::IgnoreCount { count, until_count } => {
                json!({"ignore_count": count, "ignore_until_count": until_count})
            }
            StatusDetails::IgnoreUsers { users, until_users } => {
                json!({"ignore_users": users, "ignore_until_users": until_users})
            }
            StatusDetails::IgnoreDuration { minutes, until_ms } => json!({
                "ignore_duration_minutes": minutes,
                "ignore_until": rfc3339_ms(*until_ms),
            }),
            StatusDetails::IgnoreUntilRegression => json!({"ignore_until_regression": true}),
        }
    }

    /// A phrase for the issue page: `in the next release (after 1.4.1)`,
    /// `until 100 more events (at 250)`.
    pub fn describe(&self) -> String {
        match self {
            StatusDetails::InNextRelease { after: Some(r) } => {
                format!("in the next release (after {r})")
            }
            StatusDetails::InNextRelease { after: None } => {
                "in the next release (no release was known)".to_owned()
            }
            StatusDetails::InRelease { release } => format!("in release {release}"),
            StatusDetails::IgnoreCount { count, until_count } => {
                format!("until {count} more events (at {until_count})")
            }
            StatusDetails::IgnoreUsers { users, until_users } => {
                format!("until {users} more users (at {until_users})")
            }
            StatusDetails::IgnoreDuration { minutes, until_ms } => {
                format!("for {minutes} minutes (until {})", rfc3339_ms(*until_ms))
            }
            StatusDetails::IgnoreUntilRegression => "until it regresses".to_owned(),
        }
    }

    /// The base release a release condition compares events with.
    fn base_release(&self) -> Option<&str> {
        match self {
            StatusDetails::InNextRelease { after } => after.as_deref(),
            StatusDetails::InRelease { release } => Some(release),
            _ => None,
        }
    }
}

/// What a batch's events do to an issue with a condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reopen {
    /// It reopens as a regression (a resolved issue, or an ignore until regression), caused
    /// by an event of `release`.
    Regression {
        /// The release of the event that reopened it.
        release: Option<String>,
    },
    /// An ignore's condition is met: it is unresolved again. `reason` is the condition's
    /// key (`ignore_count`, `ignore_users`, `ignore_duration_minutes`).
    Unignored {
        /// The condition that ran out.
        reason: &'static str,
    },
}

/// What [`evaluate`] needs to know of an issue's events in one batch.
#[derive(Debug, Clone)]
pub struct BatchFacts<'a> {
    /// Distinct releases of the events (events without a release add nothing).
    pub releases: Vec<&'a str>,
    /// Release of the newest event, if it has one.
    pub newest_release: Option<&'a str>,
    /// The issue's event count with these events.
    pub events_after: i64,
    /// The issue's distinct-user count with these events' users.
    pub users_after: i64,
}

/// Releases whose first-seen time [`evaluate`] needs (pairs without a common semantic
/// version): the base release and those of `facts` that do not compare by version with it.
pub fn first_seen_needed<'a>(
    details: Option<&'a StatusDetails>,
    facts: &BatchFacts<'a>,
) -> Vec<&'a str> {
    let Some(base) = details.and_then(StatusDetails::base_release) else {
        return Vec::new();
    };
    let mut out: Vec<&str> = facts
        .releases
        .iter()
        .copied()
        .filter(|r| *r != base && semver_cmp(r, base).is_none())
        .collect();
    if !out.is_empty() {
        out.push(base);
    }
    out
}

/// Whether a batch's events reopen an issue in `status` with `details`: a resolved issue
/// regresses (unless its release condition holds), an ignore ends when its count or user
/// condition is met or it was ignored until regression. `first_seen` gives a release's
/// first-seen time (epoch ms) in the project, counting this batch. `None`: nothing changes.
pub fn evaluate(
    status: IssueStatus,
    details: Option<&StatusDetails>,
    facts: &BatchFacts<'_>,
    first_seen: impl Fn(&str) -> Option<i64>,
) -> Option<Reopen> {
    let regression = |release: Option<&str>| Reopen::Regression {
        release: release.map(str::to_owned),
    };
    match (status, details) {
        (IssueStatus::Resolved, None) => Some(regression(facts.newest_release)),
        (IssueStatus::Resolved, Some(StatusDetails::InNextRelease { after })) => facts
            .releases
            .iter()
            .find(|r| match after {
                None => true,
                Some(after) => is_newer(r, after, &first_seen),
            })
            .map(|r| regression(Some(r))),
        (IssueStatus::Resolved, Some(StatusDetails::InRelease { release })) => facts
            .releases
            .iter()
            .find(|r| **r == release.as_str() || is_newer(r, release, &first_seen))
            .map(|r| regression(Some(r))),
        // A resolve whose stored condition belongs to an ignore: a plain resolve.
        (IssueStatus::Resolved, Some(_)) => Some(regression(facts.newest_release)),
        (IssueStatus::Ignored, Some(StatusDetails::IgnoreCount { until_count, .. })) => {
            (facts.events_after >= *until_count).then_some(Reopen::Unignored {
                reason: "ignore_count",
            })
        }
        (IssueStatus::Ignored, Some(StatusDetails::IgnoreUsers { until_users, .. })) => {
            (facts.users_after >= *until_users).then_some(Reopen::Unignored {
                reason: "ignore_users",
            })
        }
        (IssueStatus::Ignored, Some(StatusDetails::IgnoreUntilRegression)) => {
            Some(regression(facts.newest_release))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(releases: &[&'a str], events_after: i64, users_after: i64) -> BatchFacts<'a> {
        BatchFacts {
            releases: releases.to_vec(),
            newest_release: releases.last().copied(),
            events_after,
            users_after,
        }
    }

    const NO_FIRST_SEEN: fn(&str) -> Option<i64> = |_| None;

    #[test]
    fn requests_take_exactly_one_condition_matching_the_status() {
        let r = DetailsRequest {
            in_release: Some(" 1.4.2 ".into()),
            ..DetailsRequest::default()
        };
        assert_eq!(
            r.condition(IssueStatus::Resolved),
            Ok(Some(Condition::InRelease("1.4.2".into())))
        );
        assert!(matches!(
            r.condition(IssueStatus::Ignored),
            Err(DetailsError::WrongStatus("in_release", "resolved"))
        ));
        let two = DetailsRequest {
            ignore_count: Some(3),
            ignore_users: Some(2),
            ..DetailsRequest::default()
        };
        assert_eq!(
            two.condition(IssueStatus::Ignored),
            Err(DetailsError::NotOne)
        );
        let zero = DetailsRequest {
            ignore_count: Some(0),
            ..DetailsRequest::default()
        };
        assert!(matches!(
            zero.condition(IssueStatus::Ignored),
            Err(DetailsError::OutOfRange(..))
        ));
        assert_eq!(
            DetailsRequest::default().condition(IssueStatus::Unresolved),
            Ok(None)
        );
        let json: DetailsRequest = serde_json::from_str(r#"{"ignore_users": 5}"#).unwrap();
        assert_eq!(
            json.condition(IssueStatus::Ignored),
            Ok(Some(Condition::IgnoreUsers(5)))
        );
        assert!(serde_json::from_str::<DetailsRequest>(r#"{"ignore_forever": 1}"#).is_err());
    }

    #[test]
    fn conditions_become_details_from_the_counters() {
        let d = Condition::IgnoreCount(100).details(None, 50, 3, 0);
        assert_eq!(
            d,
            StatusDetails::IgnoreCount {
                count: 100,
                until_count: 150
            }
        );
        let d = Condition::IgnoreDuration(30).details(None, 0, 0, 1_000);
        assert_eq!(d.ignore_until_ms(), Some(1_000 + 30 * MINUTE_MS));
        let stored = d.to_stored();
        assert_eq!(StatusDetails::from_stored(&stored).unwrap(), d);
        assert_eq!(d.wire()["ignore_duration_minutes"], 30);
    }

    #[test]
    fn next_release_regresses_only_for_newer_releases() {
        let d = StatusDetails::InNextRelease {
            after: Some("1.4.1".into()),
        };
        let eval = |releases: &[&str]| {
            evaluate(
                IssueStatus::Resolved,
                Some(&d),
                &facts(releases, 0, 0),
                NO_FIRST_SEEN,
            )
        };
        assert_eq!(eval(&["1.4.1", "1.3.0"]), None);
        assert_eq!(
            eval(&[]),
            None,
            "events without a release do not regress it"
        );
        assert_eq!(
            eval(&["1.4.0", "1.5.0"]),
            Some(Reopen::Regression {
                release: Some("1.5.0".into())
            })
        );
        let none = StatusDetails::InNextRelease { after: None };
        assert!(evaluate(
            IssueStatus::Resolved,
            Some(&none),
            &facts(&["x"], 0, 0),
            NO_FIRST_SEEN
        )
        .is_some());
    }

    #[test]
    fn in_release_regresses_for_that_release_and_newer() {
        let d = StatusDetails::InRelease {
            release: "build-b".into(),
        };
        let seen = |r: &str| match r {
            "build-a" => Some(1),
            "build-b" => Some(2),
            "build-c" => Some(3),
            _ => None,
        };
        let eval = |r: &[&str]| evaluate(IssueStatus::Resolved, Some(&d), &facts(r, 0, 0), seen);
        assert_eq!(eval(&["build-a"]), None);
        assert!(eval(&["build-b"]).is_some());
        assert!(eval(&["build-c"]).is_some());
        assert_eq!(
            first_seen_needed(Some(&d), &facts(&["build-a"], 0, 0)),
            ["build-a", "build-b"]
        );
        let semver = StatusDetails::InRelease {
            release: "2.0.0".into(),
        };
        assert!(first_seen_needed(Some(&semver), &facts(&["1.0.0"], 0, 0)).is_empty());
    }

    #[test]
    fn ignores_end_when_their_counts_are_reached() {
        let d = StatusDetails::IgnoreCount {
            count: 2,
            until_count: 5,
        };
        let eval = |n| {
            evaluate(
                IssueStatus::Ignored,
                Some(&d),
                &facts(&[], n, 0),
                NO_FIRST_SEEN,
            )
        };
        assert_eq!(eval(4), None);
        assert_eq!(
            eval(5),
            Some(Reopen::Unignored {
                reason: "ignore_count"
            })
        );
        let u = StatusDetails::IgnoreUsers {
            users: 1,
            until_users: 2,
        };
        assert!(evaluate(
            IssueStatus::Ignored,
            Some(&u),
            &facts(&[], 9, 2),
            NO_FIRST_SEEN
        )
        .is_some());
        assert!(evaluate(IssueStatus::Ignored, None, &facts(&[], 9, 9), NO_FIRST_SEEN).is_none());
        let r = StatusDetails::IgnoreUntilRegression;
        assert!(matches!(
            evaluate(
                IssueStatus::Ignored,
                Some(&r),
                &facts(&[], 1, 0),
                NO_FIRST_SEEN
            ),
            Some(Reopen::Regression { .. })
        ));
        let t = StatusDetails::IgnoreDuration {
            minutes: 1,
            until_ms: 0,
        };
        assert!(evaluate(
            IssueStatus::Ignored,
            Some(&t),
            &facts(&[], 1, 1),
            NO_FIRST_SEEN
        )
        .is_none());
    }
}
