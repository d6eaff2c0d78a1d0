//! The `check_in` item: a cron monitor's check-in (sentry-protocol-more.md 1), recorded by
//! [`crate::monitors::cron::record`] before the request is answered.
//!
//! A malformed check-in (not JSON, a bad `monitor_config`, a bad schedule or time zone, a slug
//! over 50 characters) fails the request with 400 and a message naming the field, so an SDK
//! in debug mode shows it. A check-in that cannot apply is accepted and dropped with its
//! reason (logged once an hour per project, counted in `errata_items_dropped_total`): an
//! unknown monitor without `monitor_config`, a paused monitor, or an update of a check-in that
//! already finished. A finishing check-in for an unknown monitor that names its check-in is
//! first held for a minute, in case the check-in creating the monitor is still on its way
//! ([`cron::early`]).

use crate::monitors::cron::{self, CheckIn, RecordError, Recorded};
use crate::protocol::envelope::Item;

use super::super::error::IngestError;
use super::{Dropped, HandleFuture, ItemContext, ItemHandler, Outcome};

const UNKNOWN_MONITOR: Dropped = Dropped {
    why: "dropped when their monitor does not exist and they carry no monitor_config: send the \
          monitor's config with the check-in (the SDKs' monitor decorators do) or create the \
          monitor on the project's Monitors page",
};
const PAUSED: Dropped = Dropped {
    why: "dropped while their monitor is paused: resume it on its page to record them again",
};
const FINISHED: Dropped = Dropped {
    why: "ignored when they update a check-in that already finished (ok, error, missed or \
          timed out)",
};

/// Records check-ins.
pub(super) struct CheckInHandler;

impl ItemHandler for CheckInHandler {
    fn handle<'a>(&'a self, cx: &'a ItemContext<'a>, item: &'a Item) -> HandleFuture<'a> {
        Box::pin(record(cx, item))
    }
}

/// Errors: 413 over `limits.max_event_bytes`, 400 for a check-in that does not parse, 503
/// when the database is unreachable.
async fn record(cx: &ItemContext<'_>, item: &Item) -> Result<Outcome, IngestError> {
    let limit = cx.app.config.limits.max_event_bytes;
    if item.payload.len() > limit {
        return Err(IngestError::ItemTooLarge {
            item: "check_in",
            size: item.payload.len(),
            limit,
        });
    }
    let checkin = CheckIn::from_bytes(&item.payload).map_err(IngestError::InvalidCheckIn)?;
    let now = cx.app.clock.now_ms();
    let early = &cx.app.items.early_checkins;
    let outcome = match cron::record(&cx.app.store, cx.project_id, &checkin, now).await {
        Ok(Recorded::Stored { guid, .. }) => {
            let overtaken = checkin
                .monitor_config
                .as_ref()
                .and_then(|_| early.take(cx.project_id, &guid, now));
            if let Some(finish) = overtaken {
                match cron::record(&cx.app.store, cx.project_id, &finish, now).await {
                    // Deleted meanwhile: the finish goes with its monitor.
                    Ok(_) | Err(RecordError::UnknownMonitor(_)) => {}
                    Err(RecordError::Store(e)) => return Err(e.into()),
                }
            }
            Outcome::Accepted { event_id: None }
        }
        Ok(Recorded::Paused { .. }) => Outcome::Dropped(PAUSED),
        Ok(Recorded::AlreadyFinished { .. }) => Outcome::Dropped(FINISHED),
        Err(RecordError::UnknownMonitor(_)) if early.hold(cx.project_id, &checkin, now) => {
            Outcome::Accepted { event_id: None }
        }
        Err(RecordError::UnknownMonitor(_)) => Outcome::Dropped(UNKNOWN_MONITOR),
        Err(RecordError::Store(e)) => return Err(e.into()),
    };
    Ok(outcome)
}
