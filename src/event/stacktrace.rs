//! Threads, stack traces and frames (sentry-protocol.md 5.1 `threads`, 5.4).

use serde_json::Value;

use super::data::Data;
use super::frame_text::{Field, FrameText, KeptFrame};
use super::lenient::{fields, Object};

/// One entry of `threads.values` (5.1).
#[derive(Debug, Clone, Copy)]
pub struct Thread<'a>(pub(super) Object<'a>);

impl<'a> Thread<'a> {
    fields! { 0 =>
        /// `name` (5.1) of the thread.
        name: str("name") -> Option<&'a str>;
        /// `crashed` (5.1): the thread that crashed.
        crashed: flag("crashed") -> bool;
        /// `current` (5.1): the thread that captured the event (Python's `attach_stacktrace`).
        current: flag("current") -> bool;
    }

    /// `stacktrace` (5.4).
    pub fn stacktrace(&self) -> Option<Stacktrace<'a>> {
        self.0.object("stacktrace").map(Stacktrace)
    }
}

/// A stack trace (5.4): `{frames, frames_omitted, registers}`.
#[derive(Debug, Clone, Copy)]
pub struct Stacktrace<'a>(pub(super) Object<'a>);

impl<'a> Stacktrace<'a> {
    /// `frames` (5.4), oldest caller first, crashing frame last.
    pub fn frames(&self) -> impl DoubleEndedIterator<Item = Frame<'a>> + Clone + 'a {
        let kept = self.0.frames();
        self.0
            .list("frames")
            .iter()
            .filter_map(move |f| Frame::of(f, kept))
    }
}

/// Frame fields whose equality marks a repeated call (sentry-protocol.md 7.4.3).
const CALL_SITE_FIELDS: &[&str] = &[
    "abs_path", "package", "module", "filename", "function", "lineno", "colno",
];

/// One stack frame (5.4).
///
/// On a normalized event's view (`crate::normalize::Normalized::view`) a frame may be kept as
/// text ([`FrameText`]); its `pre_context`, `post_context`, `vars` and `data` then read as
/// absent: no stage before storage reads them, and a stored event has them all in its tree.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a>(Fields<'a>);

/// Where a frame's members are read from.
#[derive(Debug, Clone, Copy)]
enum Fields<'a> {
    Tree(Object<'a>),
    Kept(KeptFrame<'a>),
}

impl<'a> Fields<'a> {
    fn str(self, key: &str) -> Option<&'a str> {
        match self {
            Fields::Tree(o) => o.str(key),
            Fields::Kept(k) => k.str(key),
        }
    }

    fn u64(self, key: &str) -> Option<u64> {
        match self {
            Fields::Tree(o) => o.u64(key),
            Fields::Kept(k) => k.u64(key),
        }
    }

    fn bool(self, key: &str) -> Option<bool> {
        match self {
            Fields::Tree(o) => o.bool(key),
            Fields::Kept(k) => k.bool(key),
        }
    }

    fn flag(self, key: &str) -> bool {
        match self {
            Fields::Tree(o) => o.flag(key),
            Fields::Kept(k) => k.flag(key),
        }
    }

    fn field(self, key: &str) -> Option<Field<'a>> {
        match self {
            Fields::Tree(o) => o.get(key).map(Field::Tree),
            Fields::Kept(k) => k.field(key),
        }
    }

    fn data(self, key: &str) -> Option<Data<'a>> {
        match self {
            Fields::Tree(o) => o.data(key),
            Fields::Kept(_) => None,
        }
    }

    fn list(self, key: &str) -> &'a [Value] {
        match self {
            Fields::Tree(o) => o.list(key),
            Fields::Kept(_) => &[],
        }
    }

    fn object(self, key: &str) -> Option<Object<'a>> {
        match self {
            Fields::Tree(o) => o.object(key),
            Fields::Kept(_) => None,
        }
    }
}

impl<'a> Frame<'a> {
    /// Frame `v` of a stack trace of the event whose kept frames are `kept`: a kept frame
    /// when `v` stands for one of them, else `v` if it is an object.
    pub(crate) fn of(v: &'a Value, kept: &'a FrameText) -> Option<Frame<'a>> {
        match kept.frame(v) {
            Some(frame) => Some(Frame(Fields::Kept(frame))),
            None => v
                .is_object()
                .then(|| Frame(Fields::Tree(Object::with_frames(v, kept)))),
        }
    }

    fields! { 0 =>
        /// `function` (5.4), e.g. `charge` or `myapp::config::load`.
        function: str("function") -> Option<&'a str>;
        /// `raw_function` (5.4): the unnormalized name, when the SDK sends both.
        raw_function: str("raw_function") -> Option<&'a str>;
        /// `module` (5.4): Python dotted module, Node file stem; absent for native frames.
        module: str("module") -> Option<&'a str>;
        /// `filename` (5.4): relative path (Python), path or `node:` URL (Node), basename (Rust).
        filename: str("filename") -> Option<&'a str>;
        /// `abs_path` (5.4): absolute path or URL.
        abs_path: str("abs_path") -> Option<&'a str>;
        /// `package` (5.4): native crate or image name.
        package: str("package") -> Option<&'a str>;
        /// `platform` (5.4): a per-frame override of the event's platform.
        platform: str("platform") -> Option<&'a str>;
        /// `lineno` (5.4), 1-based.
        lineno: u64("lineno") -> Option<u64>;
        /// `colno` (5.4), 1-based.
        colno: u64("colno") -> Option<u64>;
        /// `vars` (5.4): local variables, usually an object of `repr()` strings.
        vars: data("vars") -> Option<Data<'a>>;
    }

    /// Whether `package` is set as Python reads it in a condition (any non-empty value; the
    /// in-app rules of 7.4.2 read it so).
    pub(crate) fn has_package(&self) -> bool {
        self.0.flag("package")
    }

    /// `in_app` as the SDK or normalization set it: a JSON boolean, else `None` (the in-app
    /// rules of 7.4.2 fall back to it; [`Frame::in_app`] is the verdict).
    pub(crate) fn in_app_sent(&self) -> Option<bool> {
        self.0.bool("in_app")
    }

    /// `context_line` (5.4): the source line at `lineno` as sent (it may be blank).
    pub fn context_line(&self) -> Option<&'a str> {
        match self.0.field("context_line")? {
            Field::Tree(v) => v.as_str(),
            Field::Text(_, s) => s,
            Field::Bool(_) => None,
        }
    }

    /// `pre_context` (5.4): the source lines before `context_line`, oldest first.
    pub fn pre_context(&self) -> impl ExactSizeIterator<Item = Data<'a>> + 'a {
        self.0.list("pre_context").iter().map(Data::json)
    }

    /// `post_context` (5.4): the source lines after `context_line`.
    pub fn post_context(&self) -> impl ExactSizeIterator<Item = Data<'a>> + 'a {
        self.0.list("post_context").iter().map(Data::json)
    }

    /// The frame as the SDK sent it, when source maps rewrote it (`data.minified`, written by
    /// `crate::artifacts::resolve`).
    pub fn minified(&self) -> Option<MinifiedFrame<'a>> {
        self.0
            .object("data")
            .and_then(|d| d.object("minified"))
            .map(MinifiedFrame)
    }

    /// Why source maps could not resolve the frame (`data.sourcemap_error`).
    pub fn sourcemap_error(&self) -> Option<&'a str> {
        self.0.object("data").and_then(|d| d.str("sourcemap_error"))
    }

    /// The source map that resolved the frame, its URL (`data.sourcemap`).
    pub fn sourcemap(&self) -> Option<&'a str> {
        self.0.object("data").and_then(|d| d.str("sourcemap"))
    }

    /// `in_app` (5.4): whether the frame is application code. Normalization resolved it by the
    /// server's rules (sentry-protocol.md 7.4.2) and keeps the SDK's value as `in_app_sdk`.
    pub fn in_app(&self) -> bool {
        self.in_app_sent() == Some(true)
    }

    /// Whether `other` is the same call site: equal `abs_path`, `package`, `module`,
    /// `filename`, `function`, `lineno` and `colno`, absent and `null` alike (7.4.3 recursion).
    pub fn same_call_site(&self, other: &Frame<'_>) -> bool {
        CALL_SITE_FIELDS
            .iter()
            .all(|k| self.0.field(k) == other.0.field(k))
    }
}

/// A JavaScript frame before source-map resolution: `abs_path`, `function`, `lineno`,
/// `colno` as the SDK sent them.
#[derive(Debug, Clone, Copy)]
pub struct MinifiedFrame<'a>(Object<'a>);

impl<'a> MinifiedFrame<'a> {
    fields! { 0 =>
        /// The minified file's URL.
        abs_path: str("abs_path") -> Option<&'a str>;
        /// The minified function name.
        function: str("function") -> Option<&'a str>;
        /// Line in the minified file, 1-based.
        lineno: u64("lineno") -> Option<u64>;
        /// Column in the minified file, 1-based.
        colno: u64("colno") -> Option<u64>;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn frames_in_order_and_fields() {
        let st = json!({"frames": [
            {"function": "main", "lineno": 3, "in_app": false, "context_line": ""},
            null,
            {"function": "run", "module": "app", "in_app": true, "pre_context": ["a", null],
             "vars": {"x": 1}}
        ]});
        let st = Stacktrace(Object::or_empty(&st));
        let frames: Vec<Frame<'_>> = st.frames().collect();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].lineno(), Some(3));
        assert_eq!(frames[0].context_line(), Some(""));
        assert!(!frames[0].in_app() && frames[1].in_app());
        let last = st.frames().next_back().expect("a frame");
        assert_eq!((last.function(), last.module()), (Some("run"), Some("app")));
        assert_eq!(
            last.pre_context()
                .map(|l| l.to_string())
                .collect::<Vec<_>>(),
            ["a", "null"]
        );
        assert!(last.vars().is_some_and(|v| v.members().is_some()));
    }

    #[test]
    fn call_sites() {
        let list = json!([
            {"function": "f", "lineno": 1, "vars": {"a": 1}},
            {"function": "f", "lineno": 1, "colno": null},
            {"function": "f", "lineno": 2},
        ]);
        let frames: Vec<Frame<'_>> = list
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| Frame(Fields::Tree(Object::or_empty(f))))
            .collect();
        assert!(frames[0].same_call_site(&frames[1]));
        assert!(!frames[1].same_call_site(&frames[2]));
    }

    #[test]
    fn threads() {
        let t = json!({"crashed": 1, "name": "main", "stacktrace": {}});
        let t = Thread(Object::or_empty(&t));
        assert!(t.crashed() && !t.current());
        assert_eq!(t.name(), Some("main"));
        assert!(
            t.stacktrace().is_none(),
            "an empty stack trace says nothing"
        );
    }
}
