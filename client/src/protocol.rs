//! The wire model: a strict, serialize-first event and the envelope writer.
//!
//! Events follow Sentry's event payload (`exception.values[]` innermost first, frames oldest
//! caller first, `contexts`, `breadcrumbs.values`, `platform: "native"`). Everything optional is
//! `Option` and skipped when empty, so the JSON only carries what the SDK knows.
//!
//! An envelope is newline-delimited: one header line, then per item a header line carrying the
//! payload's byte `length`, the payload and a `\n`. Lengths are always written, so payloads may
//! hold any bytes.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A 32-character lowercase hex event id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct EventId(pub uuid::Uuid);

impl EventId {
    /// A new random id.
    pub fn new() -> Self {
        EventId(uuid::Uuid::new_v4())
    }

    /// The nil id, returned when the SDK is disabled or an event was dropped up front.
    pub fn nil() -> Self {
        EventId(uuid::Uuid::nil())
    }

    /// True for the nil id.
    pub fn is_nil(&self) -> bool {
        self.0.is_nil()
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.simple())
    }
}

impl Serialize for EventId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Event severity.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, Default, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Debugging information.
    Debug,
    /// Informational.
    Info,
    /// A warning.
    Warning,
    /// An error (the default for captured errors).
    #[default]
    Error,
    /// A crash (panics).
    Fatal,
}

impl Level {
    /// The protocol name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }
}

/// A point in time, serialized as float seconds since the Unix epoch.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Timestamp(pub SystemTime);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Timestamp(SystemTime::now())
    }

    fn secs_f64(&self) -> f64 {
        self.0
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs_f64()
    }

    /// RFC 3339 in UTC with millisecond precision (`2024-01-02T03:04:05.678Z`).
    pub fn to_rfc3339(&self) -> String {
        let d = self.0.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        let secs = d.as_secs() as i64;
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (y, m, dd) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}.{:03}Z",
            rem / 3600,
            (rem / 60) % 60,
            rem % 60,
            d.subsec_millis()
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Three decimals keep the float exact enough and the payload short.
        s.serialize_f64((self.secs_f64() * 1000.0).round() / 1000.0)
    }
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian, UTC).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A stack frame; see the Sentry frame interface.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Frame {
    /// Demangled function name without the `::h…` hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// Module path of the function (its path minus the last segment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// Crate name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// Short file name: relative to the working directory when under it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Absolute source path from debug info.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abs_path: Option<String>,
    /// 1-based line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lineno: Option<u32>,
    /// 1-based column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub colno: Option<u32>,
    /// Up to five source lines before `context_line`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pre_context: Vec<String>,
    /// The source line of `lineno`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_line: Option<String>,
    /// Up to five source lines after `context_line`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub post_context: Vec<String>,
    /// Whether this frame belongs to the application.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_app: Option<bool>,
    /// Local variables: name → `Debug` form (possibly truncated or `[Filtered]`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, Value>,
    /// Frame annotations. With the `auto-locals` feature, `vars_source` maps each variable in
    /// `vars` to where its value came from: `"locals"` (`locals!`), `"tracing"` (span fields)
    /// or `"debug_info"`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, Value>,
    /// Instruction address as `0x…`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instruction_addr: Option<String>,
}

/// A stack trace, frames oldest caller first.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Stacktrace {
    /// The frames.
    pub frames: Vec<Frame>,
}

/// How an exception was caught.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Mechanism {
    /// `panic`, `generic`, `chained`, `anyhow`…
    #[serde(rename = "type")]
    pub ty: String,
    /// False for crashes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handled: Option<bool>,
    /// The type/value only carry a stack.
    #[serde(skip_serializing_if = "is_false")]
    pub synthetic: bool,
    /// Extra facts (for panics: `location`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, Value>,
}

/// One exception of a chain.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Exception {
    /// Type name.
    #[serde(rename = "type")]
    pub ty: String,
    /// Message (`Display` form).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Module of the type, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// The capturing thread.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<u64>,
    /// How it was caught.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mechanism: Option<Mechanism>,
    /// Where it happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stacktrace: Option<Stacktrace>,
}

/// `{"values": [...]}` wrapper used by `exception`, `threads` and `breadcrumbs`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Values<T> {
    /// The values.
    pub values: Vec<T>,
}

impl<T> Default for Values<T> {
    fn default() -> Self {
        Values { values: Vec::new() }
    }
}

impl<T> Values<T> {
    fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// A thread of the event.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Thread {
    /// OS-independent numeric id (the SDK's per-process counter).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// Thread name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The thread that crashed.
    #[serde(skip_serializing_if = "is_false")]
    pub crashed: bool,
    /// The thread that captured the event.
    #[serde(skip_serializing_if = "is_false")]
    pub current: bool,
    /// The thread's stack (message events with `attach_stacktrace`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stacktrace: Option<Stacktrace>,
}

/// A breadcrumb: something that happened before the event.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Breadcrumb {
    /// When.
    pub timestamp: Timestamp,
    /// `default`, `http`, `navigation`, `debug`, `error`…
    #[serde(rename = "type")]
    pub ty: Cow<'static, str>,
    /// Dotted category, e.g. a logger target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<Cow<'static, str>>,
    /// Human-readable text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<Cow<'static, str>>,
    /// Severity.
    pub level: Level,
    /// Structured data.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, Value>,
}

impl Default for Breadcrumb {
    fn default() -> Self {
        Breadcrumb {
            timestamp: Timestamp::now(),
            ty: Cow::Borrowed("default"),
            category: None,
            message: None,
            level: Level::Info,
            data: BTreeMap::new(),
        }
    }
}

/// The user the event happened to.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct User {
    /// Application id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// E-mail address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Login name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// IP address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// Anything else.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// The SDK that produced the event.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SdkInfo {
    /// `errata.rust`.
    pub name: &'static str,
    /// Crate version.
    pub version: &'static str,
    /// Enabled features.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub integrations: Vec<&'static str>,
}

impl Default for SdkInfo {
    fn default() -> Self {
        let mut integrations = vec!["panic"];
        if cfg!(feature = "log") {
            integrations.push("log");
        }
        if cfg!(feature = "tracing") {
            integrations.push("tracing");
        }
        if cfg!(feature = "anyhow") {
            integrations.push("anyhow");
        }
        if cfg!(feature = "auto-locals") {
            integrations.push("auto-locals");
        }
        SdkInfo {
            name: "errata.rust",
            version: env!("CARGO_PKG_VERSION"),
            integrations,
        }
    }
}

/// An error or message event.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Event {
    /// Unique id.
    pub event_id: EventId,
    /// Capture time.
    pub timestamp: Timestamp,
    /// Always `native` for Rust.
    pub platform: &'static str,
    /// Severity.
    pub level: Level,
    /// Logger name (message events from `log`/`tracing`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logger: Option<String>,
    /// Route or task name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction: Option<String>,
    /// Host name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Application release.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// Deployment environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Plain message (capture_message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Exceptions, innermost first.
    #[serde(skip_serializing_if = "Values::is_empty")]
    pub exception: Values<Exception>,
    /// Threads (the capturing thread, with its name).
    #[serde(skip_serializing_if = "Values::is_empty")]
    pub threads: Values<Thread>,
    /// Breadcrumbs, oldest first.
    #[serde(skip_serializing_if = "Values::is_empty")]
    pub breadcrumbs: Values<Breadcrumb>,
    /// User.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    /// Contexts: `os`, `runtime`, `device`, `app`, `process`…
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub contexts: BTreeMap<String, Value>,
    /// Tags.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Extra data.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Value>,
    /// Grouping override.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fingerprint: Vec<String>,
    /// What the SDK could not do for this event (Sentry's event `errors`: objects with a
    /// `type`, e.g. `{"type": "auto_locals", "reason": "…"}`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<Value>,
    /// SDK info.
    pub sdk: SdkInfo,
}

impl Default for Event {
    fn default() -> Self {
        Event {
            event_id: EventId::new(),
            timestamp: Timestamp::now(),
            platform: "native",
            level: Level::Error,
            logger: None,
            transaction: None,
            server_name: None,
            release: None,
            environment: None,
            message: None,
            exception: Values::default(),
            threads: Values::default(),
            breadcrumbs: Values::default(),
            user: None,
            contexts: BTreeMap::new(),
            tags: BTreeMap::new(),
            extra: BTreeMap::new(),
            fingerprint: Vec::new(),
            errors: Vec::new(),
            sdk: SdkInfo::default(),
        }
    }
}

/// One reason/category/quantity row of a client report.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DiscardedEvent {
    /// `queue_overflow`, `ratelimit_backoff`, `network_error`, `before_send`, `sample_rate`.
    pub reason: String,
    /// Data category (`error`, `default`…).
    pub category: String,
    /// How many.
    pub quantity: u64,
}

/// What the SDK dropped, sent as a `client_report` item.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ClientReport {
    /// When the report was made.
    pub timestamp: Timestamp,
    /// The drops.
    pub discarded_events: Vec<DiscardedEvent>,
}

/// Item types the SDK writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ItemType {
    /// An error/message event.
    Event,
    /// Dropped-data statistics.
    ClientReport,
    /// A cron monitor's check-in ([`crate::monitor`]).
    CheckIn,
}

impl ItemType {
    /// The protocol name.
    pub fn as_str(&self) -> &'static str {
        match self {
            ItemType::Event => "event",
            ItemType::ClientReport => "client_report",
            ItemType::CheckIn => "check_in",
        }
    }

    /// The rate-limit data category.
    pub fn category(&self) -> &'static str {
        match self {
            ItemType::Event => "error",
            ItemType::ClientReport => "internal",
            ItemType::CheckIn => "monitor",
        }
    }
}

/// One serialized item.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// What it is.
    pub ty: ItemType,
    /// JSON payload.
    pub payload: Vec<u8>,
}

/// An envelope: header fields plus items, written with [`Envelope::to_bytes`].
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Envelope {
    /// The event id, when the envelope carries an event.
    pub event_id: Option<EventId>,
    /// The DSN, so spooled envelopes can be sent to the right project later.
    pub dsn: Option<String>,
    /// The items.
    pub items: Vec<Item>,
}

impl Envelope {
    /// An envelope carrying one event.
    pub fn from_event(event: &Event) -> Result<Envelope, serde_json::Error> {
        Ok(Envelope {
            event_id: Some(event.event_id),
            dsn: None,
            items: vec![Item {
                ty: ItemType::Event,
                payload: serde_json::to_vec(event)?,
            }],
        })
    }

    /// Adds a client report item.
    pub fn add_client_report(&mut self, report: &ClientReport) -> Result<(), serde_json::Error> {
        self.items.push(Item {
            ty: ItemType::ClientReport,
            payload: serde_json::to_vec(report)?,
        });
        Ok(())
    }

    /// True when the envelope carries no item.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut header = serde_json::Map::new();
        if let Some(id) = self.event_id {
            header.insert("event_id".into(), Value::String(id.to_string()));
        }
        if let Some(dsn) = &self.dsn {
            header.insert("dsn".into(), Value::String(dsn.clone()));
        }
        header.insert(
            "sent_at".into(),
            Value::String(Timestamp::now().to_rfc3339()),
        );
        let sdk = SdkInfo::default();
        header.insert(
            "sdk".into(),
            serde_json::json!({"name": sdk.name, "version": sdk.version}),
        );
        let mut out = Value::Object(header).to_string().into_bytes();
        out.push(b'\n');
        for item in &self.items {
            let h = serde_json::json!({"type": item.ty.as_str(), "length": item.payload.len()});
            out.extend_from_slice(h.to_string().as_bytes());
            out.push(b'\n');
            out.extend_from_slice(&item.payload);
            out.push(b'\n');
        }
        out
    }
}

/// Errors of [`parse_envelope`].
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// A header line is not JSON.
    #[error("invalid header json: {0}")]
    Json(#[from] serde_json::Error),
    /// An item's `length` runs past the end.
    #[error("item length {0} runs past the end of the envelope")]
    Truncated(usize),
    /// The byte after a payload is not a newline.
    #[error("missing newline after item payload")]
    MissingNewline,
}

/// A parsed envelope (headers and raw payloads), used to read spooled files and in tests.
#[derive(Debug, Clone)]
pub struct ParsedEnvelope {
    /// The envelope header.
    pub header: Value,
    /// `(item header, payload)` pairs.
    pub items: Vec<(Value, Vec<u8>)>,
}

impl ParsedEnvelope {
    /// Payloads of items of the given type, parsed as JSON (unparsable ones are skipped).
    pub fn json_items(&self, ty: &str) -> Vec<Value> {
        self.items
            .iter()
            .filter(|(h, _)| h.get("type").and_then(Value::as_str) == Some(ty))
            .filter_map(|(_, p)| serde_json::from_slice(p).ok())
            .collect()
    }
}

/// Parses an envelope following Relay's framing rules (explicit and implicit lengths).
pub fn parse_envelope(bytes: &[u8]) -> Result<ParsedEnvelope, EnvelopeError> {
    fn line(bytes: &[u8], pos: usize) -> (&[u8], usize) {
        match bytes[pos..].iter().position(|&b| b == b'\n') {
            Some(n) => (&bytes[pos..pos + n], pos + n + 1),
            None => (&bytes[pos..], bytes.len()),
        }
    }
    let (h, mut pos) = line(bytes, 0);
    let header: Value = serde_json::from_slice(h)?;
    let mut items = Vec::new();
    while pos < bytes.len() {
        while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if pos >= bytes.len() {
            break;
        }
        let (ih, next) = line(bytes, pos);
        let item_header: Value = serde_json::from_slice(ih)?;
        pos = next;
        let payload = match item_header.get("length").and_then(Value::as_u64) {
            Some(len) => {
                let len = len as usize;
                let end = pos.checked_add(len).ok_or(EnvelopeError::Truncated(len))?;
                if end > bytes.len() {
                    return Err(EnvelopeError::Truncated(len));
                }
                let p = bytes[pos..end].to_vec();
                if end < bytes.len() && bytes[end] != b'\n' {
                    return Err(EnvelopeError::MissingNewline);
                }
                pos = (end + 1).min(bytes.len());
                p
            }
            None => {
                let (p, next) = line(bytes, pos);
                pos = next;
                p.to_vec()
            }
        };
        items.push((item_header, payload));
    }
    Ok(ParsedEnvelope { header, items })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instant() {
        let t = Timestamp(UNIX_EPOCH + Duration::from_millis(1_700_000_000_123));
        assert_eq!(t.to_rfc3339(), "2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn envelope_roundtrips_with_lengths() {
        let mut ev = Event {
            message: Some("line1\nline2".into()),
            ..Event::default()
        };
        ev.tags.insert("k".into(), "v".into());
        let mut env = Envelope::from_event(&ev).unwrap();
        env.add_client_report(&ClientReport {
            timestamp: Timestamp::now(),
            discarded_events: vec![],
        })
        .unwrap();
        let bytes = env.to_bytes();
        let parsed = parse_envelope(&bytes).unwrap();
        assert_eq!(parsed.items.len(), 2);
        assert_eq!(
            parsed.items[0].0["length"].as_u64().unwrap() as usize,
            parsed.items[0].1.len()
        );
        let event = &parsed.json_items("event")[0];
        assert_eq!(event["message"], "line1\nline2");
        assert_eq!(event["platform"], "native");
        assert_eq!(parsed.header["event_id"], ev.event_id.to_string());
    }

    #[test]
    fn truncated_envelope_is_rejected() {
        let bytes = b"{}\n{\"type\":\"event\",\"length\":50}\n{}";
        assert!(matches!(
            parse_envelope(bytes),
            Err(EnvelopeError::Truncated(50))
        ));
    }
}
