//! From an event item's bytes to a [`NewEvent`]: lenient JSON, normalization, grouping and
//! payload encoding. Pure CPU work, done on the request's task so it scales with cores while
//! the writer only commits.

use std::net::IpAddr;

use crate::error::ApiError;
use crate::protocol::{json, EventId};
use crate::store::{encode_payload, NewEvent};
use crate::{grouping, normalize};

/// Request facts the event needs.
pub(crate) struct Context {
    pub project_id: i64,
    pub envelope_event_id: Option<EventId>,
    pub client_ip: Option<IpAddr>,
}

/// Parses and processes one event; the only error is JSON that is not an object (400).
pub(crate) fn prepare(payload: &[u8], ctx: &Context) -> Result<NewEvent, ApiError> {
    let value = json::parse_lenient(payload)
        .map_err(|e| ApiError::bad_request(format!("event is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request("event must be a JSON object"));
    }
    let received_ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let n = normalize::normalize(
        value,
        &normalize::NormalizeContext {
            received_ms: received_ms as i64,
            envelope_event_id: ctx.envelope_event_id,
            client_ip: ctx.client_ip,
        },
    );
    let grouping = grouping::group(&n.event);
    Ok(NewEvent {
        project_id: ctx.project_id,
        event_id: n.event_id,
        timestamp_ms: n.timestamp_ms,
        received_ms: n.received_ms,
        level: n.level,
        platform: n.platform,
        title: n.title,
        culprit: n.culprit,
        release: n.release,
        environment: n.environment,
        user_key: n.user_key,
        tags: n.tags,
        payload: encode_payload(&n.event),
        grouping,
    })
}
