//! Grouping: derives the fingerprint (grouping hash) that decides which issue an event joins.
//!
//! Implements "grouping v1" of sentry-protocol.md 7.4: a client fingerprint (7.4.6) if any,
//! else the first default component that yields values — exception (with exception-group
//! filtering; in-app frames first, then all frames), threads, legacy stacktrace, message,
//! fallback (7.4.1). Frames contribute module/file and a normalized function (7.4.3, 7.4.4);
//! messages and exception values are parameterized (7.4.5). The hash is
//! `sha256("v1" 0x1F <kind family> (0x1E <value>)*)` (7.4.7).
//!
//! Grouping reads the normalized event through [`EventView`]; which frames are in-app was
//! decided by normalization (7.4.2, `normalize::resolve_in_app`).
//!
//! `shared/fixtures/reference_grouping.py` is an executable rendition of the same rules; this
//! module produces identical kinds, values and hashes for the fixtures (see the tests).

mod component;
mod exception;
mod fingerprint;
mod function;
mod message;
mod stack;

#[cfg(test)]
pub(crate) mod tests;

use sha2::{Digest, Sha256};

use crate::event::EventView;

pub use exception::{main_exception, select_exceptions, Selection};
pub use function::{
    normalize_java, normalize_java_module, normalize_js, normalize_native, normalize_ruby,
};
pub use message::normalize_message;

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

/// Groups a normalized event ([`crate::normalize::Normalized::view`], or a stored payload read
/// with [`EventView::new`]). Never fails; an event with nothing usable gets the `fallback`
/// kind.
pub fn group(event: &EventView<'_>) -> Grouping {
    let (default_kind, default_values) = component::default_component(event);
    let (kind, values) = match fingerprint::apply(event, default_kind, &default_values) {
        Some(custom) => custom,
        None => (default_kind.to_owned(), default_values),
    };
    Grouping::of(kind, values)
}

impl Grouping {
    /// The grouping of component `kind` with `values`, hashed by the current rules (also for
    /// Errata's own events, such as a monitor's failures, whose values the caller chooses).
    pub fn of(kind: String, values: Vec<String>) -> Grouping {
        Grouping {
            version: GROUPING_VERSION,
            hash: hash(&kind, &values),
            kind,
            values,
        }
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
