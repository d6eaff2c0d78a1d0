//! Envelope framing: the container format of the `/envelope/` endpoint.
//!
//! An envelope is a one-line JSON header followed by zero or more items; each item is a
//! one-line JSON item header followed by a payload (sentry-protocol.md section 4):
//!
//! ```text
//! {"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","sent_at":"2026-01-01T00:00:00.000000Z"}\n
//! {"type":"event","length":41}\n
//! {"message":"hello","level":"info","x":1}\n
//! {"type":"attachment","filename":"a.txt"}\n
//! raw bytes up to the next newline
//! ```
//!
//! The framing follows Relay's parser, the de-facto definition (section 4.1): headers end at
//! `\n` or the end of the body; whitespace before an item header is skipped; an item with a
//! `length` owns exactly that many bytes, which must be followed by `\n` or the end of the body;
//! an item without one runs to the next `\n`. Unknown item types and header fields are kept so
//! that later stages can skip them (forward compatibility, section 4.1 rule 7).
//!
//! Parsing is zero-copy: every [`Item::payload`] is a slice of the body [`Bytes`].

use std::fmt;

use bytes::Bytes;
use serde_json::{Map, Value};

use super::{EventId, ParseEventIdError};

/// Default cap on the number of items in one envelope (sentry-protocol.md 3.2).
pub const DEFAULT_MAX_ITEMS: usize = 100;

/// A parsed envelope: its header and its items in wire order (sentry-protocol.md 4).
#[derive(Clone, Debug)]
pub struct Envelope {
    /// The first line of the body.
    pub header: EnvelopeHeader,
    /// The items in the order they appeared; possibly empty (a header-only envelope is valid).
    pub items: Vec<Item>,
}

/// The envelope header (sentry-protocol.md 4.2).
///
/// Lenient: only the fields the server acts on are typed; everything else, including a
/// `sent_at` that is not a string, is kept verbatim in [`other`](Self::other).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EnvelopeHeader {
    /// `event_id`, 32-hex or hyphenated UUID on the wire. `None` when absent or `null`.
    pub event_id: Option<EventId>,
    /// `dsn`: the full DSN string sent by tunnelled SDKs (section 2.1 source 5), unparsed.
    pub dsn: Option<String>,
    /// `sent_at`: the SDK clock at send time as the RFC 3339 string it sent, unparsed.
    pub sent_at: Option<String>,
    /// Every other header field (`sdk`, `trace`, …), untouched.
    pub other: Map<String, Value>,
}

/// One item: its header and its payload bytes.
#[derive(Clone, Debug)]
pub struct Item {
    /// The item header line.
    pub header: ItemHeader,
    /// The payload: a zero-copy slice of the envelope body, without the terminating newline.
    pub payload: Bytes,
}

/// An item header (sentry-protocol.md 4.3). Fields other than these are ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemHeader {
    /// `type` (required).
    pub ty: ItemType,
    /// `length`: the payload size in bytes when the SDK gave it explicitly.
    pub length: Option<u32>,
    /// `content_type`, informational (`application/json`, `text/plain`, …).
    pub content_type: Option<String>,
    /// `filename`, for attachments.
    pub filename: Option<String>,
    /// `attachment_type` (`event.attachment` when absent, per section 4.3).
    pub attachment_type: Option<String>,
}

/// The `type` of an item (sentry-protocol.md 4.4). Types the server does not know are kept as
/// [`ItemType::Other`] so they can be accepted and dropped.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ItemType {
    /// `event`: an error or message event.
    Event,
    /// `transaction`: a performance transaction.
    Transaction,
    /// `attachment`: raw bytes linked to the envelope's event.
    Attachment,
    /// `session`: one release-health session update.
    Session,
    /// `sessions`: aggregated release-health sessions.
    Sessions,
    /// `client_report`: outcomes the SDK discarded.
    ClientReport,
    /// `check_in`: a cron monitor check-in.
    CheckIn,
    /// `user_report`: legacy user feedback.
    UserReport,
    /// `feedback`: a feedback event.
    Feedback,
    /// Any other type, with its wire name.
    Other(String),
}

impl ItemType {
    /// Maps a wire name to a type; unknown names become [`ItemType::Other`].
    pub fn from_name(name: &str) -> ItemType {
        match name {
            "event" => ItemType::Event,
            "transaction" => ItemType::Transaction,
            "attachment" => ItemType::Attachment,
            "session" => ItemType::Session,
            "sessions" => ItemType::Sessions,
            "client_report" => ItemType::ClientReport,
            "check_in" => ItemType::CheckIn,
            "user_report" => ItemType::UserReport,
            "feedback" => ItemType::Feedback,
            other => ItemType::Other(other.to_owned()),
        }
    }

    /// The wire name (`"event"`, `"client_report"`, …).
    pub fn as_str(&self) -> &str {
        match self {
            ItemType::Event => "event",
            ItemType::Transaction => "transaction",
            ItemType::Attachment => "attachment",
            ItemType::Session => "session",
            ItemType::Sessions => "sessions",
            ItemType::ClientReport => "client_report",
            ItemType::CheckIn => "check_in",
            ItemType::UserReport => "user_report",
            ItemType::Feedback => "feedback",
            ItemType::Other(name) => name,
        }
    }
}

impl fmt::Display for ItemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a body is not a well-formed envelope. Every variant is a client error (400), except
/// [`EnvelopeError::TooManyItems`], which is an over-limit (413 or 400, section 3.2/3.3).
///
/// Byte offsets count from the start of the (decompressed) body; item indexes from 0.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// The body is empty or only whitespace.
    #[error("empty body")]
    EmptyBody,
    /// The first line is not a JSON object.
    #[error("envelope header is not valid JSON at byte {offset}: {source}")]
    InvalidHeader {
        /// Byte offset of the error.
        offset: usize,
        /// The JSON error, with its line and column within the header line.
        source: serde_json::Error,
    },
    /// The header's `event_id` is not a UUID.
    #[error("envelope header: {0}")]
    InvalidEventId(#[source] ParseEventIdError),
    /// A typed envelope header field has the wrong JSON type.
    #[error("envelope header: {field} must be {expected}, found {found}")]
    InvalidHeaderField {
        /// The field name.
        field: &'static str,
        /// What was expected (`"a string"`).
        expected: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// An item header line is not a JSON object.
    #[error("item {index}: header is not valid JSON at byte {offset}: {source}")]
    InvalidItemHeader {
        /// Index of the item.
        index: usize,
        /// Byte offset of the error.
        offset: usize,
        /// The JSON error, with its line and column within the header line.
        source: serde_json::Error,
    },
    /// An item header is valid JSON but lacks `type` or has a badly typed `type`/`length`.
    #[error("item {index}: header at byte {offset}: {reason}")]
    InvalidItemHeaderField {
        /// Index of the item.
        index: usize,
        /// Byte offset where the item header starts.
        offset: usize,
        /// What is wrong (`"missing type"`, `"length must be an unsigned 32-bit integer, …"`).
        reason: String,
    },
    /// An explicit `length` reaches past the end of the body (section 4.1 rule 6).
    #[error(
        "item {index}: length {length} runs past the end of the body ({remaining} bytes left)"
    )]
    LengthPastEnd {
        /// Index of the item.
        index: usize,
        /// The declared payload length in bytes.
        length: u32,
        /// Bytes available after the item header.
        remaining: usize,
    },
    /// The byte after a length-delimited payload is neither `\n` nor the end (section 4.1 rule 3).
    #[error(
        "item {index}: expected a newline or the end of the body at byte {offset} after its \
         {length}-byte payload, found '{}'",
        std::ascii::escape_default(*.found)
    )]
    MissingNewline {
        /// Index of the item.
        index: usize,
        /// Byte offset of the offending byte.
        offset: usize,
        /// The declared payload length in bytes.
        length: u32,
        /// The offending byte.
        found: u8,
    },
    /// The envelope has more items than allowed (section 3.2).
    #[error("too many items: the limit is {limit} per envelope")]
    TooManyItems {
        /// The configured maximum.
        limit: usize,
    },
}

impl Envelope {
    /// Parses an envelope body with the default item cap ([`DEFAULT_MAX_ITEMS`]).
    ///
    /// `body` must already be decompressed (see `ingest::decode`). Errors: see [`EnvelopeError`].
    pub fn parse(body: Bytes) -> Result<Envelope, EnvelopeError> {
        Self::parse_with_limits(body, DEFAULT_MAX_ITEMS)
    }

    /// Parses an envelope body, rejecting it once it holds more than `max_items` items.
    ///
    /// Trailing whitespace after the last item is tolerated (it would otherwise be an item
    /// header at EOF that is not JSON); Relay rejects it, SDKs do not send it.
    pub fn parse_with_limits(body: Bytes, max_items: usize) -> Result<Envelope, EnvelopeError> {
        let start = skip_whitespace(&body, 0);
        if start == body.len() {
            return Err(EnvelopeError::EmptyBody);
        }
        let (line_end, mut offset) = line_bounds(&body, start);
        let raw: Map<String, Value> =
            serde_json::from_slice(&body[start..line_end]).map_err(|source| {
                EnvelopeError::InvalidHeader {
                    offset: start + column_offset(&source),
                    source,
                }
            })?;
        let header = EnvelopeHeader::from_map(raw)?;

        let mut items = Vec::new();
        loop {
            let item_start = skip_whitespace(&body, offset);
            if item_start == body.len() {
                break;
            }
            let index = items.len();
            if index == max_items {
                return Err(EnvelopeError::TooManyItems { limit: max_items });
            }
            let (item, next) = parse_item(&body, item_start, index)?;
            items.push(item);
            offset = next;
        }
        Ok(Envelope { header, items })
    }

    /// The payloads of the items of type `ty`, in wire order (zero-copy slices of the body).
    pub fn payloads<'a>(&'a self, ty: &'a ItemType) -> impl Iterator<Item = &'a Bytes> + 'a {
        self.items
            .iter()
            .filter(move |item| item.header.ty == *ty)
            .map(|item| &item.payload)
    }
}

impl EnvelopeHeader {
    fn from_map(mut other: Map<String, Value>) -> Result<EnvelopeHeader, EnvelopeError> {
        let event_id = match take_string(&mut other, "event_id")? {
            Some(s) => Some(s.parse().map_err(EnvelopeError::InvalidEventId)?),
            None => None,
        };
        let dsn = take_string(&mut other, "dsn")?;
        // `sent_at` is informational only, so a badly typed one is not worth a 400.
        let sent_at = match other.get("sent_at") {
            Some(Value::String(_)) => match other.remove("sent_at") {
                Some(Value::String(s)) => Some(s),
                _ => None,
            },
            Some(Value::Null) => {
                other.remove("sent_at");
                None
            }
            _ => None,
        };
        Ok(EnvelopeHeader {
            event_id,
            dsn,
            sent_at,
            other,
        })
    }
}

/// Removes `field` from `map`: a string, or absent/`null`; any other type is an error.
fn take_string(
    map: &mut Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, EnvelopeError> {
    match map.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(EnvelopeError::InvalidHeaderField {
            field,
            expected: "a string",
            found: json_type(&v),
        }),
    }
}

/// Parses the item whose header starts at `start`; returns it and the offset after its payload
/// terminator.
fn parse_item(body: &Bytes, start: usize, index: usize) -> Result<(Item, usize), EnvelopeError> {
    let (header_end, payload_start) = line_bounds(body, start);
    let raw: Map<String, Value> =
        serde_json::from_slice(&body[start..header_end]).map_err(|source| {
            EnvelopeError::InvalidItemHeader {
                index,
                offset: start + column_offset(&source),
                source,
            }
        })?;
    let header =
        ItemHeader::from_map(raw).map_err(|reason| EnvelopeError::InvalidItemHeaderField {
            index,
            offset: start,
            reason,
        })?;

    let payload_end = match header.length {
        Some(length) => {
            let remaining = body.len() - payload_start;
            let end = usize::try_from(length)
                .ok()
                .and_then(|len| payload_start.checked_add(len))
                .filter(|&end| end <= body.len())
                .ok_or(EnvelopeError::LengthPastEnd {
                    index,
                    length,
                    remaining,
                })?;
            match body.get(end) {
                None | Some(b'\n') => end,
                Some(&byte) => {
                    return Err(EnvelopeError::MissingNewline {
                        index,
                        offset: end,
                        length,
                        found: byte,
                    })
                }
            }
        }
        None => line_bounds(body, payload_start).0,
    };
    let item = Item {
        header,
        payload: body.slice(payload_start..payload_end),
    };
    Ok((item, (payload_end + 1).min(body.len())))
}

impl ItemHeader {
    fn from_map(mut raw: Map<String, Value>) -> Result<ItemHeader, String> {
        let ty = match raw.remove("type") {
            Some(Value::String(name)) => ItemType::from_name(&name),
            None | Some(Value::Null) => return Err("missing type".to_owned()),
            Some(v) => return Err(format!("type must be a string, found {}", json_type(&v))),
        };
        let length = match raw.remove("length") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) => Some(n),
                None => {
                    return Err(format!(
                        "length must be an unsigned 32-bit integer, found {n}"
                    ))
                }
            },
            Some(v) => {
                return Err(format!(
                    "length must be an unsigned 32-bit integer, found {}",
                    json_type(&v)
                ))
            }
        };
        // Informational fields: a wrong type is ignored rather than failing the envelope.
        let mut text = |key: &str| match raw.remove(key) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        };
        Ok(ItemHeader {
            ty,
            length,
            content_type: text("content_type"),
            filename: text("filename"),
            attachment_type: text("attachment_type"),
        })
    }
}

/// First offset at or after `from` that is not JSON whitespace (space, tab, CR, LF).
fn skip_whitespace(body: &[u8], from: usize) -> usize {
    body[from..]
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .map_or(body.len(), |i| from + i)
}

/// For a line starting at `from`: (offset of its `\n` or the body length, offset after it).
fn line_bounds(body: &[u8], from: usize) -> (usize, usize) {
    match body[from..].iter().position(|&b| b == b'\n') {
        Some(i) => (from + i, from + i + 1),
        None => (body.len(), body.len()),
    }
}

/// Byte offset within a single-line JSON document of a serde_json error.
fn column_offset(err: &serde_json::Error) -> usize {
    err.column().saturating_sub(1)
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn fixtures_dir() -> PathBuf {
        PathBuf::from(crate::protocol::PYTHON_FIXTURES)
    }

    fn parse(s: &[u8]) -> Result<Envelope, EnvelopeError> {
        Envelope::parse(Bytes::copy_from_slice(s))
    }

    fn types(env: &Envelope) -> Vec<&str> {
        env.items.iter().map(|i| i.header.ty.as_str()).collect()
    }

    fn payloads(env: &Envelope) -> Vec<&[u8]> {
        env.items.iter().map(|i| &i.payload[..]).collect()
    }

    #[test]
    fn every_python_fixture_parses_with_manifest_item_types() {
        let dir = fixtures_dir();
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
        let mut checked = 0;
        for (name, fixture) in manifest["fixtures"].as_object().unwrap() {
            for request in fixture["requests"].as_array().unwrap() {
                let file = request["file"].as_str().unwrap();
                let body = std::fs::read(dir.join(file)).unwrap();
                let env = Envelope::parse(Bytes::from(body))
                    .unwrap_or_else(|e| panic!("{name}/{file}: {e}"));
                let expected: Vec<&str> = request["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap())
                    .collect();
                assert_eq!(types(&env), expected, "{file}");
                for item in &env.items {
                    // Python always sends explicit lengths; they must match what was sliced.
                    assert_eq!(
                        Some(item.payload.len() as u32),
                        item.header.length,
                        "{file}"
                    );
                }
                checked += 1;
            }
        }
        assert!(checked >= 30, "only {checked} fixtures found");
        // Also every *.envelope on disk, in case the manifest misses one.
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) == Some("envelope") {
                let body = std::fs::read(&path).unwrap();
                Envelope::parse(Bytes::from(body)).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            }
        }
    }

    #[test]
    fn python_headers_are_typed() {
        let body = std::fs::read(fixtures_dir().join("with_attachment.envelope")).unwrap();
        let env = Envelope::parse(Bytes::from(body)).unwrap();
        assert_eq!(
            env.header.event_id.unwrap().to_string(),
            "7711d0074ce44307af83314e6f1fd4b4"
        );
        assert!(env.header.sent_at.as_deref().unwrap().ends_with('Z'));
        assert!(env.header.other.contains_key("trace"));
        assert!(!env.header.other.contains_key("event_id"));

        let session = fixtures_dir().join("session_with_error.session.envelope");
        let env = Envelope::parse(Bytes::from(std::fs::read(session).unwrap())).unwrap();
        assert_eq!(env.header, EnvelopeHeader::default());
        assert_eq!(env.items[0].header.ty, ItemType::Session);
    }

    #[test]
    fn payloads_of_one_type_in_wire_order() {
        let env = parse(
            b"{}\n{\"type\":\"event\"}\n{\"a\":1}\n{\"type\":\"session\"}\n{}\n\
              {\"type\":\"event\"}\n{\"b\":2}\n",
        )
        .unwrap();
        let events: Vec<&[u8]> = env.payloads(&ItemType::Event).map(|p| &p[..]).collect();
        assert_eq!(events, [&b"{\"a\":1}"[..], b"{\"b\":2}"]);
        assert_eq!(env.payloads(&ItemType::Session).count(), 1);
        assert_eq!(env.payloads(&ItemType::CheckIn).count(), 0);
    }

    #[test]
    fn attachments_are_split_by_length() {
        let path: &Path = &fixtures_dir().join("with_attachment.envelope");
        let body = Bytes::from(std::fs::read(path).unwrap());
        let env = Envelope::parse(body.clone()).unwrap();
        assert_eq!(types(&env), ["event", "attachment", "attachment"]);

        let log = &env.items[1];
        assert_eq!(log.header.filename.as_deref(), Some("debug.log"));
        assert_eq!(log.header.content_type.as_deref(), Some("text/plain"));
        assert_eq!(log.header.length, Some(40));
        assert_eq!(
            &log.payload[..],
            b"line 1\nline 2\n\nlast line without newline"
        );

        let state = &env.items[2];
        assert_eq!(state.header.filename.as_deref(), Some("state.json"));
        assert_eq!(&state.payload[..], br#"{"state": "dump"}"#);

        // Zero-copy: the payload points into the body buffer.
        let range = body.as_ptr_range();
        assert!(range.contains(&state.payload.as_ptr()));
    }

    #[test]
    fn header_only_bodies() {
        let env = parse(b"{}").unwrap();
        assert!(env.items.is_empty());
        assert_eq!(env.header, EnvelopeHeader::default());

        let env = parse(b"{}\n").unwrap();
        assert!(env.items.is_empty());

        let env = parse(br#"{"event_id":"9EC79C33-EC99-42AB-8353-589FCB2E04DC","dsn":"http://k@h/1","sdk":{"name":"x"}}"#).unwrap();
        assert_eq!(
            env.header.event_id.unwrap().to_string(),
            "9ec79c33ec9942ab8353589fcb2e04dc"
        );
        assert_eq!(env.header.dsn.as_deref(), Some("http://k@h/1"));
        assert_eq!(env.header.other["sdk"]["name"], "x");
    }

    #[test]
    fn empty_body_is_an_error() {
        assert!(matches!(parse(b""), Err(EnvelopeError::EmptyBody)));
        assert!(matches!(parse(b" \n\r\n"), Err(EnvelopeError::EmptyBody)));
        assert_eq!(parse(b"").unwrap_err().to_string(), "empty body");
    }

    #[test]
    fn implicit_length_items_node_style() {
        let env = parse(b"{}\n{\"type\":\"event\"}\n{\"a\":1}\n{\"type\":\"session\"}\n{\"b\":2}")
            .unwrap();
        assert_eq!(types(&env), ["event", "session"]);
        assert_eq!(payloads(&env), [&b"{\"a\":1}"[..], b"{\"b\":2}"]);
        assert_eq!(env.items[0].header.length, None);
    }

    #[test]
    fn blank_lines_between_items_are_skipped() {
        let env = parse(
            b"{}\n\n{\"type\":\"event\",\"length\":2}\nab\n\n \r\n{\"type\":\"attachment\"}\nxyz\n\n",
        )
        .unwrap();
        assert_eq!(types(&env), ["event", "attachment"]);
        assert_eq!(payloads(&env), [&b"ab"[..], b"xyz"]);
    }

    #[test]
    fn item_header_at_eof_has_empty_payload() {
        let env = parse(b"{}\n{\"type\":\"attachment\"}").unwrap();
        assert_eq!(payloads(&env), [&b""[..]]);
        let env = parse(b"{}\n{\"type\":\"attachment\",\"length\":0}").unwrap();
        assert_eq!(payloads(&env), [&b""[..]]);
        let env = parse(b"{}\n{\"type\":\"attachment\"}\n").unwrap();
        assert_eq!(payloads(&env), [&b""[..]]);
    }

    #[test]
    fn explicit_length_without_trailing_newline() {
        let env = parse(b"{}\n{\"type\":\"event\",\"length\":3}\nabc").unwrap();
        assert_eq!(payloads(&env), [&b"abc"[..]]);
    }

    #[test]
    fn length_past_end_is_an_error() {
        let err = parse(b"{}\n{\"type\":\"event\",\"length\":500}\nabc").unwrap_err();
        assert!(matches!(
            err,
            EnvelopeError::LengthPastEnd {
                index: 0,
                length: 500,
                remaining: 3
            }
        ));
        assert_eq!(
            err.to_string(),
            "item 0: length 500 runs past the end of the body (3 bytes left)"
        );
        // Header at EOF with a non-zero length.
        let err = parse(b"{}\n{\"type\":\"event\",\"length\":1}").unwrap_err();
        assert!(matches!(
            err,
            EnvelopeError::LengthPastEnd { remaining: 0, .. }
        ));
    }

    #[test]
    fn byte_after_length_must_be_newline() {
        let body = b"{}\n{\"type\":\"event\",\"length\":2}\nabc\n";
        let err = parse(body).unwrap_err();
        assert!(
            matches!(
                err,
                EnvelopeError::MissingNewline {
                    index: 0,
                    offset: 33,
                    length: 2,
                    found: b'c'
                }
            ),
            "{err:?}"
        );
        assert_eq!(body[33], b'c');
        // A CR after the payload is not a terminator either.
        assert!(parse(b"{}\n{\"type\":\"event\",\"length\":2}\nab\r\n").is_err());
    }

    #[test]
    fn invalid_json_headers_report_item_and_offset() {
        let err = parse(b"{\"event_id\":").unwrap_err();
        assert!(
            matches!(err, EnvelopeError::InvalidHeader { .. }),
            "{err:?}"
        );

        let err = parse(b"[1]\n").unwrap_err();
        assert!(
            matches!(err, EnvelopeError::InvalidHeader { .. }),
            "{err:?}"
        );

        let body = b"{}\n{\"type\":\"event\"}\n{}\n{\"type\":\"event\",}\n{}";
        let err = parse(body).unwrap_err();
        match &err {
            EnvelopeError::InvalidItemHeader { index, offset, .. } => {
                assert_eq!(*index, 1);
                assert_eq!(body[*offset], b'}');
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err
            .to_string()
            .starts_with("item 1: header is not valid JSON at byte 39: "));

        // Not JSON at all, e.g. a payload without a length that contained a newline.
        let err = parse(b"{}\n{\"type\":\"event\"}\nline1\nline2\n").unwrap_err();
        assert!(matches!(
            err,
            EnvelopeError::InvalidItemHeader {
                index: 1,
                offset: 26,
                ..
            }
        ));
    }

    #[test]
    fn bad_header_fields() {
        let err = parse(br#"{"event_id":"nope"}"#).unwrap_err();
        assert!(matches!(err, EnvelopeError::InvalidEventId(_)), "{err:?}");
        let err = parse(br#"{"dsn":42}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "envelope header: dsn must be a string, found a number"
        );
        // `sent_at` of the wrong type is kept aside, not fatal.
        let env = parse(br#"{"sent_at":1.5,"event_id":null}"#).unwrap();
        assert_eq!(env.header.sent_at, None);
        assert_eq!(env.header.event_id, None);
        assert_eq!(env.header.other["sent_at"], 1.5);

        let err = parse(b"{}\n{\"length\":1}\nx").unwrap_err();
        assert_eq!(err.to_string(), "item 0: header at byte 3: missing type");
        let err = parse(b"{}\n{\"type\":\"event\",\"length\":-1}\nx").unwrap_err();
        assert!(matches!(err, EnvelopeError::InvalidItemHeaderField { .. }));
        let err = parse(b"{}\n{\"type\":\"event\",\"length\":\"1\"}\nx").unwrap_err();
        assert!(matches!(err, EnvelopeError::InvalidItemHeaderField { .. }));
    }

    #[test]
    fn crlf_and_binary_inside_length_delimited_payload() {
        let payload: &[u8] = b"a\r\nb\r\n\xef\xbb\xbf\x00\xff\n";
        let mut body = b"{}\n{\"type\":\"attachment\",\"length\":12}\n".to_vec();
        assert_eq!(payload.len(), 12);
        body.extend_from_slice(payload);
        body.extend_from_slice(b"\n{\"type\":\"event\"}\n{}\n");
        let env = parse(&body).unwrap();
        assert_eq!(payloads(&env), [payload, b"{}"]);
    }

    #[test]
    fn crlf_terminated_headers_are_tolerated() {
        let env = parse(b"{}\r\n{\"type\":\"event\",\"length\":2}\r\nab\n").unwrap();
        assert_eq!(payloads(&env), [&b"ab"[..]]);
    }

    #[test]
    fn unknown_types_and_fields_are_kept() {
        let env = parse(
            b"{\"future\":true}\n{\"type\":\"profile_chunk\",\"platform\":\"x\",\"content_type\":7}\nzz\n",
        )
        .unwrap();
        assert_eq!(
            env.items[0].header.ty,
            ItemType::Other("profile_chunk".into())
        );
        assert_eq!(env.items[0].header.ty.as_str(), "profile_chunk");
        assert_eq!(env.items[0].header.content_type, None);
        assert_eq!(env.header.other["future"], true);
    }

    #[test]
    fn item_type_names_round_trip() {
        for name in [
            "event",
            "transaction",
            "attachment",
            "session",
            "sessions",
            "client_report",
            "check_in",
            "user_report",
            "feedback",
            "log",
        ] {
            assert_eq!(ItemType::from_name(name).as_str(), name);
        }
        assert_eq!(ItemType::from_name("check_in"), ItemType::CheckIn);
    }

    #[test]
    fn item_limit() {
        let mut body = b"{}\n".to_vec();
        for _ in 0..3 {
            body.extend_from_slice(b"{\"type\":\"session\"}\n{}\n");
        }
        let body = Bytes::from(body);
        assert_eq!(
            Envelope::parse_with_limits(body.clone(), 3)
                .unwrap()
                .items
                .len(),
            3
        );
        let err = Envelope::parse_with_limits(body, 2).unwrap_err();
        assert!(matches!(err, EnvelopeError::TooManyItems { limit: 2 }));

        let mut many = b"{}\n".to_vec();
        for _ in 0..=DEFAULT_MAX_ITEMS {
            many.extend_from_slice(b"{\"type\":\"session\"}\n{}\n");
        }
        assert!(matches!(
            parse(&many),
            Err(EnvelopeError::TooManyItems { limit: 100 })
        ));
    }
}
