//! What a batch commits: the events ([`NewEvent`]), where their issue aggregates go
//! ([`Aggregates`]), and their JSON columns, encoded before the batch reaches a writer thread
//! ([`Encoded`]).

use std::collections::BTreeMap;

use crate::grouping::Grouping;
use crate::normalize::EventFields;
use crate::store::StoreError;

/// Longest tag key / value (bytes) kept in `issue_tags`; longer pairs are skipped there (the
/// event payload keeps them). Guards the unique index, which PostgreSQL limits to ~2.7 kB.
const MAX_TAG_KEY: usize = 200;
const MAX_TAG_VALUE: usize = 1000;

/// One event ready to be committed: normalized, grouped, payload encoded.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Owning project.
    pub project_id: i64,
    /// What normalization derived; `(project_id, fields.event_id)` is unique, a repeat is a
    /// duplicate.
    pub fields: EventFields,
    /// The grouping result that decides the issue.
    pub grouping: Grouping,
    /// The normalized event JSON, encoded by [`encode_payload`](crate::store::encode_payload).
    pub payload: Vec<u8>,
}

/// Where a batch's issue aggregates are applied
/// ([`Store::commit_batch`](crate::store::Store::commit_batch)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregates {
    /// In the batch's own transaction: counts are exact as soon as the batch commits.
    Inline,
    /// Left to [`Store::roll_up`](crate::store::Store::roll_up): cheaper under load, counts
    /// lag until the roll-up.
    Deferred,
}

/// The JSON columns of a batch, one entry per event in order, encoded before the batch reaches
/// the SQLite writer thread.
pub(in crate::store) struct Encoded {
    /// `pending_aggregates.tags`: the pairs the event counts in `issue_tags` ([`event_tags`]),
    /// as a JSON array of `[key, value]`; empty unless the batch defers its aggregates.
    pub tags: Vec<String>,
}

impl Encoded {
    /// Encodes `events` for a batch whose aggregates go where `aggregates` says. Errors:
    /// [`StoreError::Other`] if serde_json fails (it does not on strings).
    pub(in crate::store) fn of(
        events: &[NewEvent],
        aggregates: Aggregates,
    ) -> Result<Encoded, StoreError> {
        let json_error = |err: serde_json::Error| {
            StoreError::Other(format!("cannot encode event columns: {err}"))
        };
        let mut out = Encoded {
            tags: Vec::with_capacity(events.len()),
        };
        if aggregates == Aggregates::Deferred {
            for e in events {
                let tags: Vec<(&str, &str)> = event_tags(e).into_iter().collect();
                out.tags
                    .push(serde_json::to_string(&tags).map_err(json_error)?);
            }
        }
        Ok(out)
    }
}

/// The `(key, value)` pairs one event counts in `issue_tags`: its tags (first value of a
/// repeated key wins), overridden by the event's own `level`, `release` and `environment`.
pub(super) fn event_tags(e: &NewEvent) -> BTreeMap<&str, &str> {
    tag_pairs(
        e.fields.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        e.fields.level.as_str(),
        e.fields.release.as_deref(),
        e.fields.environment.as_deref(),
    )
}

/// [`event_tags`] of a stored event: its `tags` pairs, level, release and environment.
pub(in crate::store) fn tag_pairs<'a>(
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    level: &'a str,
    release: Option<&'a str>,
    environment: Option<&'a str>,
) -> BTreeMap<&'a str, &'a str> {
    let mut pairs = BTreeMap::new();
    for (key, value) in tags {
        if key.len() <= MAX_TAG_KEY && value.len() <= MAX_TAG_VALUE {
            pairs.entry(key).or_insert(value);
        }
    }
    pairs.insert("level", level);
    for (key, value) in [("release", release), ("environment", environment)] {
        if let Some(value) = value {
            if value.len() <= MAX_TAG_VALUE {
                pairs.insert(key, value);
            }
        }
    }
    pairs
}
