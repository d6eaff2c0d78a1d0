//! Per-item dispatch: every item of an envelope goes, in wire order, to what [`TABLE`]
//! registers for its type (sentry-protocol.md 4.4).
//!
//! An entry is either a [`Route::Handler`], which stores the item (`event`; `check_in`,
//! cron monitors' check-ins; the user feedback of `feedback` and `user_report`,
//! `feedback.rs`), or a
//! [`Route::Drop`], which accepts the item and drops it. A dropped item is counted in
//! `errata_items_dropped_total{type}` and logged at INFO once per type, project and hour, saying
//! why and what to change in the SDK (`dropped.rs`). Types missing from the table are dropped
//! too, counted as `type="unknown"` so that a client cannot grow the metric's label set.
//!
//! Adding a handler is one file implementing [`ItemHandler`] plus one line in [`TABLE`].
//! A handler gets the app state, the authenticated project, the envelope header (`event_id`,
//! `dsn`, `sent_at`), the client address and the event stored by an earlier item of the same
//! envelope ([`ItemContext`]); it returns an [`Outcome`]. An error fails the whole request
//! with its status (the SDK sees it); a handler that would rather accept the envelope and
//! skip a bad item returns [`Outcome::Dropped`] with its reason.
//!
//! The response's `id` is the first event id an item returned, else the envelope header's.
//! So an envelope with an event and its attachments or feedback stores the event and answers
//! with its id whatever becomes of the other items.

mod check_in;
mod dropped;
mod event;
pub(super) mod feedback;

use std::net::IpAddr;

use futures::future::BoxFuture;

use crate::protocol::envelope::{EnvelopeHeader, Item};
use crate::protocol::EventId;
use crate::AppState;

use super::error::IngestError;

pub use dropped::{DropNotices, Dropped};
pub use event::new_event;

/// What the server does with each item type. Looked up by the wire name, first match wins;
/// `event` comes first because nearly every request carries one.
pub static TABLE: &[(&str, Route)] = &[
    ("event", Route::Handler(&event::EventHandler)),
    ("attachment", Route::Drop(dropped::ATTACHMENT)),
    ("check_in", Route::Handler(&check_in::CheckInHandler)),
    ("feedback", Route::Handler(&feedback::FeedbackHandler)),
    ("user_report", Route::Handler(&feedback::UserReportHandler)),
    ("transaction", Route::Drop(dropped::PERFORMANCE)),
    ("span", Route::Drop(dropped::PERFORMANCE)),
    ("session", Route::Drop(dropped::RELEASE_HEALTH)),
    ("sessions", Route::Drop(dropped::RELEASE_HEALTH)),
    ("client_report", Route::Drop(dropped::CLIENT_REPORT)),
    ("log", Route::Drop(dropped::LOGS)),
    ("otel_log", Route::Drop(dropped::LOGS)),
    ("profile", Route::Drop(dropped::PROFILING)),
    ("profile_chunk", Route::Drop(dropped::PROFILING)),
    ("replay_event", Route::Drop(dropped::REPLAY)),
    ("replay_recording", Route::Drop(dropped::REPLAY)),
    ("replay_video", Route::Drop(dropped::REPLAY)),
    ("statsd", Route::Drop(dropped::METRICS)),
    ("metric_buckets", Route::Drop(dropped::METRICS)),
    ("trace_metric", Route::Drop(dropped::METRICS)),
];

/// Where an item type goes.
#[derive(Clone, Copy)]
pub enum Route {
    /// Handled (stored) by this handler.
    Handler(&'static dyn ItemHandler),
    /// Accepted and dropped, for this reason.
    Drop(Dropped),
}

/// Handles the items of one type.
pub trait ItemHandler: Sync {
    /// Handles one item. Errors fail the request: they are for input the SDK must be told about
    /// (an event that is not JSON is a 400) or for a store that could not take the item.
    fn handle<'a>(&'a self, cx: &'a ItemContext<'a>, item: &'a Item) -> HandleFuture<'a>;
}

/// The future an [`ItemHandler`] returns (boxed, so that handlers can sit in one table).
pub type HandleFuture<'a> = BoxFuture<'a, Result<Outcome, IngestError>>;

/// What a handler knows about the envelope its item came in.
pub struct ItemContext<'a> {
    /// The server state: store, writer, configuration, clock.
    pub app: &'a AppState,
    /// The project the request was authenticated for.
    pub project_id: i64,
    /// The envelope header: `event_id`, `dsn`, `sent_at` and the rest. Empty for a legacy
    /// `/store/` event.
    pub envelope: &'a EnvelopeHeader,
    /// The client's address (`X-Forwarded-For` when trusted).
    pub client_ip: Option<IpAddr>,
    /// The event an earlier item of this envelope stored, if any.
    pub event_id: Option<EventId>,
    /// The HTTP request's `User-Agent` (a browser SDK's is the user's browser).
    pub user_agent: Option<&'a str>,
}

/// What became of one item.
#[derive(Clone, Copy, Debug)]
pub enum Outcome {
    /// Stored; `event_id` names the event it created, for the response.
    Accepted {
        /// The stored event's id.
        event_id: Option<EventId>,
    },
    /// Not stored, for the given reason (counted and logged by the dispatcher).
    Dropped(Dropped),
}

/// State the item handlers keep between requests: one per server.
#[derive(Debug, Default)]
pub struct ItemState {
    /// When each dropped item type was last logged, per project.
    pub notices: DropNotices,
    /// Parsed source maps and their lookups, for resolving JavaScript frames.
    pub sourcemaps: crate::artifacts::SourceMaps,
    /// The log lines of refused requests, limited per reason.
    pub rejections: crate::ingest::rejections::RejectionLog,
    /// Finishing check-ins that came before the check-in creating their monitor.
    pub early_checkins: crate::monitors::cron::EarlyFinishes,
    /// Events per project encoded without a payload dictionary (an early training pass).
    pub dictionary_due: crate::payload_dictionaries::Due,
}

/// Label and route for types [`TABLE`] does not list.
const UNKNOWN: (&str, Route) = ("unknown", Route::Drop(dropped::UNKNOWN));

/// Dispatches each item of an envelope in wire order and returns the id to answer with: the
/// first event id an item returned, else the envelope header's.
///
/// Stops at the first handler error, which fails the request; items before it have been
/// handled.
pub(super) async fn dispatch(
    mut cx: ItemContext<'_>,
    items: &[Item],
) -> Result<Option<EventId>, IngestError> {
    for item in items {
        let name = item.header.ty.as_str();
        let (label, route) = TABLE
            .iter()
            .find(|(ty, _)| *ty == name)
            .copied()
            .unwrap_or(UNKNOWN);
        let outcome = match route {
            Route::Handler(handler) => handler.handle(&cx, item).await?,
            Route::Drop(why) => Outcome::Dropped(why),
        };
        match outcome {
            Outcome::Accepted { event_id: Some(id) } => {
                cx.event_id.get_or_insert(id);
            }
            Outcome::Accepted { event_id: None } => {}
            Outcome::Dropped(why) => dropped::record(&cx, label, name, why),
        }
    }
    Ok(cx.event_id.or(cx.envelope.event_id))
}
