//! Grouping: derives the fingerprint (grouping hash) that decides which issue an event joins.
//!
//! Implements "grouping v1" of sentry-protocol.md 7.4: a client fingerprint (7.4.6) if any,
//! else the first default component that yields values — exception (with exception-group
//! filtering; in-app frames first, then all frames), threads, legacy stacktrace, message,
//! fallback (7.4.1). Frames contribute module/file and a normalized function (7.4.3, 7.4.4);
//! messages and exception values are parameterized (7.4.5). The hash is
//! `sha256("v1" 0x1F <kind family> (0x1E <value>)*)` (7.4.7).
//!
//! `shared/fixtures/reference_grouping.py` is an executable rendition of the same rules; this
//! module produces identical kinds, values and hashes for the fixtures (see the tests).

mod component;
mod exception;
mod fingerprint;
mod function;
mod in_app;
mod message;
mod stack;

#[cfg(test)]
mod tests;

use std::borrow::Cow;

use serde_json::Value;
use sha2::{Digest, Sha256};

pub use component::{event_platform, message_text};
pub use exception::{event_exceptions, select_exceptions, Selection};
pub use fingerprint::crash_frame;
pub use function::{
    normalize_java, normalize_java_module, normalize_js, normalize_native, normalize_ruby,
};
pub use in_app::{resolve_in_app, resolve_in_app_with, RUST_NOT_APP};
pub use message::normalize_message;
pub use stack::frame_platform;

/// The version of the grouping rules, stored beside every hash.
pub const GROUPING_VERSION: &str = "v1";

/// Result of grouping one event (sentry-protocol.md 7.4).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Grouping {
    /// Version of the rules that produced the hash (`"v1"`).
    pub version: &'static str,
    /// Component kind, e.g. `exception-app`, `message`, `fingerprint+exception-app`.
    pub kind: String,
    /// SHA-256 over version, kind family and values, 64 lowercase hex.
    pub hash: String,
    /// The contributing values (`type:…`, `module:…`, `fn:…`, `message:…`, `fp:…`).
    pub values: Vec<String>,
}

/// Groups a normalized event.
///
/// Also accepts an un-normalized payload (legacy aliases, `{values}`/list/object forms, SDK
/// `in_app` values): in-app is re-resolved per frame with [`resolve_in_app`], which gives the
/// same answer on a normalized event. Never fails; an event with nothing usable gets the
/// `fallback` kind.
pub fn group(event: &Value) -> Grouping {
    let (default_kind, default_values) = component::default_component(event);
    let (kind, values) = match fingerprint::apply(event, default_kind, &default_values) {
        Some(custom) => custom,
        None => (default_kind.to_owned(), default_values),
    };
    let hash = hash(&kind, &values);
    Grouping {
        version: GROUPING_VERSION,
        kind,
        hash,
        values,
    }
}

/// `sha256("v1" 0x1F <kind family> (0x1E <value>)*)` as 64 lowercase hex (7.4.7). The family
/// is the kind up to its first `-`, so `exception-app` and `exception-system` hash alike and
/// `fingerprint+exception-app` hashes as `fingerprint+exception`.
pub fn hash(kind: &str, values: &[String]) -> String {
    let family = kind.split('-').next().unwrap_or(kind);
    let mut h = Sha256::new();
    h.update(GROUPING_VERSION.as_bytes());
    h.update([0x1f]);
    h.update(family.as_bytes());
    for v in values {
        h.update([0x1e]);
        h.update(v.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Python's `str()` of a JSON value, which the reference applies to types, values and
/// fingerprint entries: strings as is, `True`/`False`, `None`, numbers as JSON prints them.
pub(crate) fn py_str(v: &Value) -> Cow<'_, str> {
    match v {
        Value::String(s) => Cow::Borrowed(s),
        Value::Bool(true) => Cow::Borrowed("True"),
        Value::Bool(false) => Cow::Borrowed("False"),
        Value::Null => Cow::Borrowed("None"),
        other => Cow::Owned(other.to_string()),
    }
}

/// Owned [`py_str`]: how a JSON scalar reads as text (used for rendering message params).
pub(crate) fn py_str_owned(v: &Value) -> String {
    py_str(v).into_owned()
}
