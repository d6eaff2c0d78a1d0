//! Normalization: turns the lenient JSON an SDK sent into one canonical event, once, before
//! grouping and storage (sentry-protocol.md section 6).
//!
//! Fixed stages, each in its own module, all mutating the JSON in place (this runs for every
//! event; big subtrees are never cloned or re-serialized):
//!
//! 1. [`fields`]: legacy `sentry.interfaces.*` aliases, `event_id`, `level`, `platform`, the
//!    short strings (`release`, `environment`, …), `fingerprint`, object-typed fields;
//! 2. [`timestamp`]: `timestamp` → RFC 3339 UTC µs (the receive time when outside
//!    [`TimestampBounds`]: too far ahead, or older than the retention period), `received`
//!    recorded;
//! 3. [`message`]: message forms → `logentry`;
//! 4. [`interfaces`]: `exception`/`threads`/`breadcrumbs` → `{"values": [...]}`, stack caps,
//!    per-frame [`in_app`] resolution (`in_app` = server verdict, `in_app_sdk` = SDK's value),
//!    the only place where in-app is decided;
//! 5. [`tags`], [`user`];
//! 6. [`trim`]: oversized strings, and containers nested deeper than a stored event may be;
//! 7. [`title`]: title and culprit.
//!
//! Whatever is dropped or shortened is recorded in the event's `errors` list
//! (`[{type, name, value}]`, see [`notes`]). Unknown keys are left alone.
//!
//! Later stages read the result through [`EventView`] ([`Normalized::view`]), never by key.

mod fields;
mod frame_text;
mod in_app;
mod interfaces;
mod members;
mod message;
mod notes;
mod tags;
mod timestamp;
mod title;
mod trim;
mod user;
mod user_agent;

#[cfg(test)]
mod tests;

use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::net::IpAddr;

pub use crate::event::FrameText;

use crate::event::EventView;
use crate::grouping::main_exception;
use crate::protocol::{json, EventId, Level};

pub use in_app::{re_resolve_in_app, resolve_in_app, resolve_in_app_with, RUST_NOT_APP};
pub use interfaces::{MAX_BREADCRUMBS, MAX_FRAMES};
pub use message::{render as render_logentry, MAX_MESSAGE_CHARS};
pub use timestamp::{format_us as format_timestamp_us, parse_rfc3339, TimestampBounds};
pub use title::MAX_TITLE_CHARS;
pub use trim::MAX_STRING_BYTES;
pub use user_agent::add_contexts as add_user_agent_contexts;

/// Inputs to normalization that do not come from the payload itself.
#[derive(Debug, Clone)]
pub struct NormalizeContext {
    /// When the server received the event, epoch milliseconds.
    pub received_ms: i64,
    /// The envelope header's `event_id`, which wins over the payload's.
    pub envelope_event_id: Option<EventId>,
    /// The client's address, substituted for `user.ip_address: "{{auto}}"`.
    pub client_ip: Option<IpAddr>,
    /// How far `timestamp` may lie from `received_ms` before it is replaced by it.
    pub timestamp_bounds: TimestampBounds,
}

/// The fields of a normalized event that later stages index: what normalization derived,
/// and what the store's [`NewEvent`](crate::store::NewEvent) commits beside the payload.
#[derive(Debug, Clone)]
pub struct EventFields {
    /// The event id (envelope header ∥ payload ∥ generated).
    pub event_id: EventId,
    /// Event time, epoch milliseconds UTC (receive time when the SDK sent none).
    pub timestamp_ms: i64,
    /// Receive time, epoch milliseconds UTC.
    pub received_ms: i64,
    /// Severity, defaulted to `error`.
    pub level: Level,
    /// `platform`, defaulted to `other`.
    pub platform: String,
    /// Display title (sentry-protocol.md 7.4.8), at most 200 characters.
    pub title: String,
    /// `transaction`, else the newest in-app frame as `module in function`.
    pub culprit: Option<String>,
    /// The event's `release`, if any.
    pub release: Option<String>,
    /// The event's `environment`, if any.
    pub environment: Option<String>,
    /// Identity for counting distinct affected users: `id:…`, `email:…`, `username:…` or `ip:…`.
    pub user_key: Option<String>,
    /// Tags as normalized pairs.
    pub tags: Vec<(String, String)>,
}

/// A normalized event: the canonical JSON plus the fields later stages index.
#[derive(Debug, Clone)]
pub struct Normalized {
    /// The indexed fields.
    pub fields: EventFields,
    /// The event's `transaction`, if any.
    pub transaction: Option<String>,
    /// The normalized event JSON: every member some stage reads (all of them when normalized
    /// from a tree, [`normalize`]), frames kept as text ([`Normalized::frame_text`]) standing
    /// as markers; [`Normalized::view`] reads both, [`Normalized::to_value`] is the whole event.
    pub event: Value,
    /// The members no stage reads, as the SDK sent them (JSON text; see `members`); part of
    /// the stored event ([`Normalized::write_json`]) but not of [`Normalized::event`].
    pub passthrough: Vec<(String, Box<RawValue>)>,
    /// Frames kept as the SDK's text (`frame_text`); part of the stored event, of
    /// [`Normalized::event`] only as markers.
    pub frame_text: FrameText,
}

impl Normalized {
    /// Appends the whole normalized event (`event` and `passthrough`) to `out` as one JSON
    /// object, members in key order.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match &self.event {
            Value::Object(map) => {
                members::write_event(map, &self.passthrough, &self.frame_text, out)
            }
            // `normalize` always makes an object; this keeps the function total.
            other => {
                let _ = serde_json::to_writer(&mut *out, other);
            }
        }
    }

    /// The whole normalized event as a tree (for tests and tools; the hot path writes JSON
    /// text with [`Normalized::write_json`] instead).
    pub fn to_value(&self) -> Value {
        let mut out = Vec::new();
        self.write_json(&mut out);
        serde_json::from_slice(&out).unwrap_or(Value::Null)
    }

    /// The normalized event, read through its typed accessors.
    pub fn view(&self) -> EventView<'_> {
        EventView::with_frames(&self.event, &self.frame_text)
    }

    /// Brings the frames kept as text into [`Normalized::event`], for a stage that rewrites
    /// frames in the tree (source-map resolution, `crate::artifacts::resolve`).
    pub fn frames_into_tree(&mut self) {
        if self.frame_text.is_empty() {
            return;
        }
        if let Value::Object(map) = &mut self.event {
            for (key, value) in map.iter_mut() {
                frame_text::into_tree(value, frame_text::At::of_member(key), &self.frame_text);
            }
        }
        self.frame_text = FrameText::default();
    }

    /// Recomputes what normalization derived from the frames, after a later stage rewrote
    /// them (source-map resolution, `crate::artifacts::resolve`): the culprit names the newest
    /// in-app frame.
    pub fn frames_rewritten(&mut self) {
        let view = self.view();
        self.fields.culprit = title::culprit(&view, main_exception(&view));
    }
}

/// Why an event item's bytes could not be normalized (400 at ingest).
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// Not JSON even leniently (`protocol::json`): serde_json's error with line and column.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// JSON, but not an object.
    #[error("the event payload is not a JSON object")]
    NotObject,
}

/// Normalizes an event item's JSON bytes: the members some stage reads are parsed into a tree
/// and normalized as by [`normalize`]; the others are kept as their text (`members`). Input
/// that does not split cleanly (not UTF-8, `NaN`, lone surrogate escapes, numbers out of
/// range, not an object) takes the lenient whole-tree path ([`json::parse_lenient`]), which
/// repairs what it can and names what it cannot.
///
/// Errors: [`PayloadError`].
pub fn normalize_payload(
    payload: &[u8],
    ctx: &NormalizeContext,
) -> Result<Normalized, PayloadError> {
    if let Some(split) = std::str::from_utf8(payload)
        .ok()
        .and_then(|text| members::split(text).ok())
    {
        let notes = notes::Notes::default();
        return Ok(normalize_members(split, notes, ctx));
    }
    match json::parse_lenient(payload)? {
        Value::Object(map) => Ok(normalize_members(
            members::Members::tree(map),
            Default::default(),
            ctx,
        )),
        _ => Err(PayloadError::NotObject),
    }
}

/// Normalizes one event payload. Never fails: malformed optional fields are dropped and noted
/// in the event's `errors` list; a payload that is not even an object becomes an empty event.
pub fn normalize(event: Value, ctx: &NormalizeContext) -> Normalized {
    let mut notes = notes::Notes::default();
    let map = match event {
        Value::Object(map) => map,
        other => {
            notes.invalid("", &other);
            Map::new()
        }
    };
    normalize_members(members::Members::tree(map), notes, ctx)
}

/// [`normalize`] of the members read, the passed-through ones and the frames' kept text carried
/// along untouched, adding to `notes`.
fn normalize_members(
    members: members::Members,
    mut notes: notes::Notes,
    ctx: &NormalizeContext,
) -> Normalized {
    let members::Members {
        read: mut map,
        passthrough,
        mut frame_text,
    } = members;
    fields::map_aliases(&mut map);
    let event_id = fields::event_id(&mut map, ctx.envelope_event_id, &mut notes);
    let received_us = ctx.received_ms.saturating_mul(1000);
    let timestamp_us =
        timestamp::normalize(&mut map, received_us, ctx.timestamp_bounds, &mut notes);
    map.insert(
        "received".to_owned(),
        Value::String(timestamp::format_us(received_us)),
    );
    let level = fields::level(&mut map, &mut notes);
    let platform = fields::platform(&mut map, &mut notes);
    let mut strings: [Option<String>; 6] = Default::default();
    for (slot, &(key, max)) in strings.iter_mut().zip(fields::STRING_FIELDS) {
        *slot = fields::lenient_string(&mut map, key, max, &mut notes);
    }
    let [release, environment, _dist, _server_name, _logger, transaction] = strings;
    message::normalize(&mut map, &mut notes);
    interfaces::normalize(&mut map, &platform, &mut frame_text, &mut notes);
    let tags = tags::normalize(&mut map, &mut notes);
    let user_key = user::normalize(&mut map, ctx.client_ip, &mut notes);
    fields::fingerprint(&mut map, &mut notes);
    fields::check_objects(&mut map, &mut notes);

    let mut event = Value::Object(map);
    trim::trim_strings(&mut event, &mut notes);
    let view = EventView::with_frames(&event, &frame_text);
    let main = main_exception(&view);
    let title = title::title(&view, main);
    let culprit = title::culprit(&view, main);
    if let Value::Object(map) = &mut event {
        notes.write_into(map);
    }

    Normalized {
        fields: EventFields {
            event_id,
            timestamp_ms: timestamp_us.div_euclid(1000),
            received_ms: ctx.received_ms,
            level,
            platform,
            title,
            culprit,
            release,
            environment,
            user_key,
            tags,
        },
        transaction,
        event,
        passthrough,
        frame_text,
    }
}
