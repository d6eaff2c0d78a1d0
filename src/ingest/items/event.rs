//! The `event` item: from its bytes to a [`NewEvent`] (lenient JSON, normalization, User-Agent
//! contexts, source-map resolution of JavaScript frames, grouping, payload encoding), then
//! through the group-commit writer. The CPU work runs on the request's task, so it scales with
//! cores while the writer only commits; but that of an event over [`INLINE_EVENT`] runs as a
//! heavy step (`ingest::heavy`), its working copies charged to the bytes-in-flight budget, so
//! that large events neither hold up the async workers nor grow memory past the budget. The
//! item is answered once its transaction committed.

use crate::grouping::{self, Grouping};
use crate::normalize;
use crate::protocol::envelope::Item;
use crate::store::{encode_with, NewEvent, PayloadDictionary};

use super::super::error::IngestError;
use super::super::writer::SubmitError;
use super::{Dropped, HandleFuture, ItemContext, ItemHandler, Outcome};

/// More than one `event` item in an envelope is undefined: the first is stored, the others
/// dropped (sentry-protocol.md 4.4).
const NOT_FIRST: Dropped = Dropped {
    why: "stored only once per envelope: the first event item is kept, later ones are dropped",
};

/// An event whose grouping hash was discarded ("delete and discard future events").
const DISCARDED: Dropped = Dropped {
    why: "dropped: its issue was deleted with \"discard future events\"; undo on the project's settings page",
};

/// Largest event processed on the async worker that read it: a typical event is ~10 KB and
/// takes tens of microseconds; one of 800 KB takes milliseconds, during which that worker
/// answers nobody else.
const INLINE_EVENT: usize = 64 * 1024;

/// Stores error and message events.
pub(super) struct EventHandler;

impl ItemHandler for EventHandler {
    fn handle<'a>(&'a self, cx: &'a ItemContext<'a>, item: &'a Item) -> HandleFuture<'a> {
        Box::pin(store_event(cx, item))
    }
}

/// Checks the size, prepares the event and waits for its commit.
///
/// Errors: 413 over `limits.max_event_bytes`, 400 for a payload that is not a JSON object, 429
/// when the writer's queue is full or the project's rate limit is reached, 503 when the writer stopped or the database is unreachable.
async fn store_event(cx: &ItemContext<'_>, item: &Item) -> Result<Outcome, IngestError> {
    if cx.event_id.is_some() {
        return Ok(Outcome::Dropped(NOT_FIRST));
    }
    let limit = cx.app.config.limits.max_event_bytes;
    if item.payload.len() > limit {
        return Err(IngestError::ItemTooLarge {
            item: "event",
            size: item.payload.len(),
            limit,
        });
    }
    // Per-project rules from memory (`src/retention/policies.rs`): the rate limit before the
    // work of parsing, the discarded hashes once grouping has named the event's.
    let retention = &cx.app.retention;
    let rules = retention.policies.snapshot().await;
    if let Some(limit) = rules.rate_limit(cx.project_id) {
        let now = cx.app.clock.now_ms();
        if let Err(retry_after_secs) = retention.quotas.admit(cx.project_id, limit, now) {
            return Err(IngestError::RateLimited { retry_after_secs });
        }
    }
    let event = process(cx, item).await?;
    if rules.is_discarded(cx.project_id, &event.grouping.hash) {
        metrics::counter!("errata_events_discarded_total").increment(1);
        return Ok(Outcome::Dropped(DISCARDED));
    }
    let event_id = event.fields.event_id;
    match cx.app.writer.submit(event).await {
        Ok(_) => Ok(Outcome::Accepted {
            event_id: Some(event_id),
        }),
        Err(SubmitError::QueueFull) => Err(IngestError::Overloaded {
            retry_after_secs: cx.app.config.ingest.retry_after_secs,
        }),
        Err(SubmitError::Closed) => Err(IngestError::WriterClosed),
        Err(SubmitError::Store(e)) => Err(e.into()),
    }
}

/// Parses, normalizes, resolves and groups one event and encodes it for the writer: inline
/// when small, else as heavy steps with its working copies charged to the working-copy part
/// of the budget (waiting briefly for room; 429 without it).
async fn process(cx: &ItemContext<'_>, item: &Item) -> Result<NewEvent, IngestError> {
    let received_ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let context = normalize::NormalizeContext {
        received_ms: received_ms as i64,
        envelope_event_id: cx.envelope.event_id,
        client_ip: cx.client_ip,
        timestamp_bounds: cx.app.config.timestamp_bounds(),
    };
    let project_id = cx.project_id;
    let large = item.payload.len() > INLINE_EVENT;
    let mut working = cx.app.gate.working();
    let mut n = if large {
        working
            .grow_waiting(cx.app.gate.working_charge(item.payload.len()))
            .await
            .map_err(|_| IngestError::OverBudget {
                retry_after_secs: cx.app.config.ingest.retry_after_secs,
            })?;
        let payload = item.payload.clone();
        let user_agent = cx.user_agent.map(str::to_owned);
        cx.app
            .gate
            .heavy()
            .run("processing", move || {
                normalized(&payload, &context, user_agent.as_deref())
            })
            .await??
    } else {
        normalized(&item.payload, &context, cx.user_agent)?
    };
    // Between normalization and grouping, so grouping sees original frames; returns at once
    // for other platforms (crate::artifacts::resolve).
    crate::artifacts::resolve::resolve_event(
        &cx.app.store,
        &cx.app.items.sourcemaps,
        project_id,
        &mut n,
    )
    .await;
    // The project's dictionary from memory: a newer one installed meanwhile takes over with
    // the next event, this one keeps the `Arc` it was handed.
    let dictionary = cx.app.store.payload_dictionary(project_id);
    if dictionary.is_none()
        && cx
            .app
            .items
            .dictionary_due
            .event_without_dictionary(project_id, cx.app.config.storage.dictionary_after_events)
    {
        crate::payload_dictionaries::train_soon(&cx.app.jobs);
    }
    if large {
        let heavy = cx.app.gate.heavy();
        heavy
            .run("processing", move || {
                prepare(n, project_id, dictionary.as_deref())
            })
            .await
    } else {
        Ok(prepare(n, project_id, dictionary.as_deref()))
    }
    // `working` is given back here: the queued event is its compressed payload, which the
    // request's body (still charged until the answer) outweighs.
}

/// Parses and normalizes one event; the errors are JSON that is not even lenient JSON, or not
/// an object (400).
fn normalized(
    payload: &[u8],
    context: &normalize::NormalizeContext,
    user_agent: Option<&str>,
) -> Result<normalize::Normalized, IngestError> {
    let mut n = normalize::normalize_payload(payload, context).map_err(|e| match e {
        normalize::PayloadError::Json(e) => IngestError::InvalidEventJson(e),
        normalize::PayloadError::NotObject => IngestError::EventNotObject,
    })?;
    normalize::add_user_agent_contexts(&mut n, user_agent);
    Ok(n)
}

/// Groups a processed event and encodes it for the writer with the project's dictionary.
fn prepare(
    n: normalize::Normalized,
    project_id: i64,
    dictionary: Option<&PayloadDictionary>,
) -> NewEvent {
    let grouping = grouping::group(&n.view());
    new_event(project_id, n, grouping, dictionary)
}

/// The writer's row for normalized event `n` of `project_id`, grouped by `grouping`, its
/// payload encoded ([`encode_with`] of [`normalize::Normalized::write_json`]) with
/// `dictionary` (the project's, if it has one).
pub fn new_event(
    project_id: i64,
    n: normalize::Normalized,
    grouping: Grouping,
    dictionary: Option<&PayloadDictionary>,
) -> NewEvent {
    NewEvent {
        project_id,
        payload: encode_with(|json| n.write_json(json), dictionary),
        fields: n.fields,
        grouping,
    }
}
