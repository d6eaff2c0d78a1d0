//! The canonical event: a read-only, typed view of a normalized event (sentry-protocol.md 5,
//! as normalization leaves it, section 6).
//!
//! [`crate::normalize`] brings whatever an SDK sent into one JSON shape, once; [`EventView`] is
//! how every later stage reads that shape: grouping, titles and culprits, notification messages
//! and the issue page. Nothing outside normalization and this module looks fields up by name.
//!
//! What the accessors promise:
//!
//! * lists (`exception`, `threads`, `breadcrumbs`) come in payload order, without entries that
//!   are not objects or have no fields (such an entry says nothing); frames come in payload
//!   order, oldest caller first;
//! * a text field reads as `None` when it is absent, `null`, not a string, or empty;
//! * SDK flags (`crashed`, `synthetic`, `is_exception_group`, …) read as Python truthiness, as
//!   the grouping reference (`reference_grouping.py`) reads them; `in_app` is the server's
//!   verdict, resolved once by normalization;
//! * free-form JSON (`extra`, frame `vars`, context fields, request bodies) comes as [`Data`];
//! * everything is borrowed from the event: no accessor allocates or copies.
//!
//! The backing is a `serde_json::Value` tree whose frames may be kept as text instead
//! ([`FrameText`], a normalized event's); the accessors expose neither.

mod data;
mod exception;
pub(crate) mod frame_text;
mod interfaces;
pub(crate) mod lenient;
mod stacktrace;

use serde_json::Value;

use crate::protocol::Level;
use lenient::{fields, Object};

pub use data::Data;
pub use exception::{Exception, ExceptionId, Mechanism};
pub use frame_text::FrameText;
pub use interfaces::{Breadcrumb, Context, LogEntry, Request, Sdk, SdkPackage, Timestamp, User};
pub use stacktrace::{Frame, MinifiedFrame, Stacktrace, Thread};

/// A normalized event, read through typed accessors. Cheap to copy.
#[derive(Debug, Clone, Copy)]
pub struct EventView<'a> {
    event: Object<'a>,
}

impl<'a> EventView<'a> {
    /// A view of a normalized event (`Normalized::event`, a stored payload). Anything but a
    /// JSON object reads as an empty event.
    pub fn new(event: &'a Value) -> Self {
        EventView {
            event: Object::or_empty(event),
        }
    }

    /// A view of a normalized event whose frames may be kept as text in `frames` (what
    /// `Normalized::view` gives).
    pub fn with_frames(event: &'a Value, frames: &'a FrameText) -> Self {
        EventView {
            event: Object::with_frames(event, frames),
        }
    }

    /// `platform` (5.1): `python`, `node`, `native`, …; `other` when absent.
    pub fn platform(&self) -> &'a str {
        self.event.str("platform").unwrap_or("other")
    }

    /// `level` (5.1); `error` when absent. Normalization writes the level's name.
    pub fn level(&self) -> Level {
        const LEVELS: [Level; 5] = [
            Level::Debug,
            Level::Info,
            Level::Warning,
            Level::Error,
            Level::Fatal,
        ];
        let name = self.event.str("level");
        name.and_then(|n| LEVELS.into_iter().find(|l| l.as_str() == n))
            .or_else(|| name.and_then(Level::from_name))
            .unwrap_or_default()
    }

    fields! { event =>
        /// `release` (5.1), e.g. `shop@1.2.3`.
        release: str("release") -> Option<&'a str>;
        /// `environment` (5.1), e.g. `production`.
        environment: str("environment") -> Option<&'a str>;
        /// `dist` (5.1): the distribution of the release.
        dist: str("dist") -> Option<&'a str>;
        /// `server_name` (5.1): the host that sent the event.
        server_name: str("server_name") -> Option<&'a str>;
        /// `logger` (5.1): the logger that emitted the event.
        logger: str("logger") -> Option<&'a str>;
        /// `transaction` (5.1): the route or task being handled.
        transaction: str("transaction") -> Option<&'a str>;
    }

    /// `fingerprint` (5.1, 7.4.6): the client's grouping entries as text, in order; empty when
    /// the event has none.
    pub fn fingerprint(&self) -> impl Iterator<Item = &'a str> + Clone + 'a {
        self.event
            .list("fingerprint")
            .iter()
            .filter_map(Value::as_str)
    }

    /// `tags` (5.1) as `(key, value)` pairs in payload order (keys may repeat).
    pub fn tags(&self) -> impl Iterator<Item = (&'a str, &'a str)> + Clone + 'a {
        self.event
            .list("tags")
            .iter()
            .filter_map(|pair| match pair.as_array().map(Vec::as_slice) {
                Some([Value::String(k), Value::String(v)]) => Some((k.as_str(), v.as_str())),
                _ => None,
            })
    }

    /// The first value of tag `key` (5.1).
    pub fn tag(&self, key: &str) -> Option<&'a str> {
        self.tags().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The message (5.2): `logentry`, then a top-level `message` that normalization kept
    /// beside it (a string when `logentry.formatted` existed, an object when `logentry` did).
    pub fn messages(&self) -> impl Iterator<Item = LogEntry<'a>> + 'a {
        let event = self.event;
        ["logentry", "message"]
            .into_iter()
            .filter_map(move |key| event.get(key).and_then(LogEntry::of))
    }

    /// `exception.values` (5.3), innermost first: the last one is the one that was reported.
    /// Which exception titles name is grouping's call (exception groups, 7.4.8); see
    /// `grouping::main_exception`.
    pub fn exceptions(&self) -> impl DoubleEndedIterator<Item = Exception<'a>> + Clone + 'a {
        self.entries("exception").map(|(i, e)| Exception::new(i, e))
    }

    /// `threads.values` (5.1).
    pub fn threads(&self) -> impl DoubleEndedIterator<Item = Thread<'a>> + Clone + 'a {
        self.entries("threads").map(|(_, t)| Thread(t))
    }

    /// The top-level `stacktrace` (5.1, deprecated): read like a single thread's.
    pub fn stacktrace(&self) -> Option<Stacktrace<'a>> {
        self.event.object("stacktrace").map(Stacktrace)
    }

    /// `user` (5.1).
    pub fn user(&self) -> Option<User<'a>> {
        self.event.object("user").map(User)
    }

    /// `request` (5.1).
    pub fn request(&self) -> Option<Request<'a>> {
        self.event.object("request").map(Request)
    }

    /// `contexts` (5.1), by name.
    pub fn contexts(&self) -> impl Iterator<Item = Context<'a>> + 'a {
        self.event
            .object("contexts")
            .into_iter()
            .flat_map(Object::members)
            .filter_map(|(name, c)| Object::of(c).map(|c| Context::new(name, c)))
    }

    /// `breadcrumbs.values` (5.1), oldest first.
    pub fn breadcrumbs(&self) -> impl DoubleEndedIterator<Item = Breadcrumb<'a>> + 'a {
        self.entries("breadcrumbs").map(|(_, b)| Breadcrumb(b))
    }

    /// `extra` (5.1): arbitrary data attached by the application, an object.
    pub fn extra(&self) -> Option<Data<'a>> {
        self.event
            .get("extra")
            .filter(|v| v.is_object())
            .map(Data::json)
    }

    /// The entries of a list interface (`key.values`) that are objects with fields, with
    /// their positions in the list.
    fn entries(
        &self,
        key: &str,
    ) -> impl DoubleEndedIterator<Item = (usize, Object<'a>)> + Clone + 'a {
        let event = self.event;
        event
            .values(key)
            .iter()
            .enumerate()
            .filter_map(move |(i, v)| event.non_empty_child(v).map(|o| (i, o)))
    }

    /// `sdk` (5.1).
    pub fn sdk(&self) -> Option<Sdk<'a>> {
        self.event.object("sdk").map(Sdk)
    }
}
