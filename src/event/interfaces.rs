//! The interfaces an event carries besides exceptions and stacks (sentry-protocol.md 5.1, 5.2):
//! message, user, request, contexts, breadcrumbs and SDK.

use serde_json::Value;

use super::data::Data;
use super::lenient::{fields, Object};

/// The event's message (5.2): a `logentry` object, or a top-level `message` string.
#[derive(Debug, Clone, Copy)]
pub struct LogEntry<'a>(Entry<'a>);

#[derive(Debug, Clone, Copy)]
enum Entry<'a> {
    Object(Object<'a>),
    Text(&'a str),
}

impl<'a> LogEntry<'a> {
    /// A non-empty `logentry`-shaped object, or a non-empty string as its `formatted` text.
    pub(crate) fn of(v: &'a Value) -> Option<Self> {
        match v {
            Value::String(s) if !s.is_empty() => Some(LogEntry(Entry::Text(s))),
            other => Object::non_empty(other).map(|o| LogEntry(Entry::Object(o))),
        }
    }

    /// `logentry.formatted` (5.2): the rendered text (`Failed to sync account 42 after 3 retries`).
    pub fn formatted(&self) -> Option<&'a str> {
        match self.0 {
            Entry::Object(o) => o.str("formatted"),
            Entry::Text(s) => Some(s),
        }
    }

    /// `logentry.message` (5.2): the template (`Failed to sync account %s after %d retries`).
    pub fn template(&self) -> Option<&'a str> {
        match self.0 {
            Entry::Object(o) => o.str("message"),
            Entry::Text(_) => None,
        }
    }

    /// `logentry.params` (5.2): the template's arguments, a list or an object.
    pub fn params(&self) -> Option<Data<'a>> {
        match self.0 {
            Entry::Object(o) => o.data("params"),
            Entry::Text(_) => None,
        }
    }
}

/// Fields of an interface object, in key order.
fn all_fields<'a>(o: Object<'a>) -> impl Iterator<Item = (&'a str, Data<'a>)> + 'a {
    o.members().map(|(k, v)| (k.as_str(), Data::json(v)))
}

/// `user` (5.1): the affected user.
#[derive(Debug, Clone, Copy)]
pub struct User<'a>(pub(super) Object<'a>);

impl<'a> User<'a> {
    fields! { 0 =>
        /// `id` (5.1); normalization turns a numeric id into text.
        id: str("id") -> Option<&'a str>;
        /// `email` (5.1).
        email: str("email") -> Option<&'a str>;
        /// `username` (5.1).
        username: str("username") -> Option<&'a str>;
        /// `ip_address` (5.1); normalization replaced `{{auto}}` by the client's address.
        ip_address: str("ip_address") -> Option<&'a str>;
    }

    /// Every field of `user` (5.1) as sent (`name`, `geo`, `data`, custom keys), in key order.
    pub fn fields(&self) -> impl Iterator<Item = (&'a str, Data<'a>)> + 'a {
        all_fields(self.0)
    }
}

/// `request` (5.1): the HTTP request being handled.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a>(pub(super) Object<'a>);

impl<'a> Request<'a> {
    fields! { 0 =>
        /// `method` (5.1), e.g. `POST`.
        method: str("method") -> Option<&'a str>;
        /// `url` (5.1), without the query string.
        url: str("url") -> Option<&'a str>;
        /// `query_string` (5.1): a string, an object or `[key, value]` pairs.
        query_string: data("query_string") -> Option<Data<'a>>;
        /// `data` (5.1): the request body, any JSON.
        data: data("data") -> Option<Data<'a>>;
        /// `cookies` (5.1): a string, an object or `[key, value]` pairs.
        cookies: data("cookies") -> Option<Data<'a>>;
        /// `env` (5.1): server environment (`REMOTE_ADDR`, …).
        env: data("env") -> Option<Data<'a>>;
    }

    /// `headers` (5.1) as `(name, value)`, from an object or a `[[name, value], …]` list.
    pub fn headers(&self) -> impl Iterator<Item = (Data<'a>, Data<'a>)> + 'a {
        let headers = self.0.get("headers");
        let object = headers
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(k, v)| (Data::key(k), Data::json(v)));
        let pairs = headers
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|pair| match pair.as_array().map(Vec::as_slice) {
                Some([k, v]) => Some((Data::json(k), Data::json(v))),
                _ => None,
            });
        object.chain(pairs)
    }
}

/// One entry of `contexts` (5.1): `os`, `runtime`, `trace`, or a custom one.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    name: &'a str,
    context: Object<'a>,
}

impl<'a> Context<'a> {
    pub(crate) fn new(name: &'a str, context: Object<'a>) -> Self {
        Context { name, context }
    }

    /// The key under `contexts` (5.1).
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// `type` (5.1), which selects the schema; defaults to the name.
    pub fn ty(&self) -> &'a str {
        self.context.str("type").unwrap_or(self.name)
    }

    /// Every field of the context (5.1), in key order.
    pub fn fields(&self) -> impl Iterator<Item = (&'a str, Data<'a>)> + 'a {
        all_fields(self.context)
    }
}

/// When a breadcrumb happened: SDKs send RFC 3339 text or epoch seconds (5.1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Timestamp<'a> {
    /// `2026-11-22T03:39:40.556Z`.
    Rfc3339(&'a str),
    /// Seconds since the epoch, with a fraction.
    EpochSeconds(f64),
}

/// One entry of `breadcrumbs.values` (5.1), oldest first.
#[derive(Debug, Clone, Copy)]
pub struct Breadcrumb<'a>(pub(super) Object<'a>);

impl<'a> Breadcrumb<'a> {
    /// `timestamp` (5.1).
    pub fn timestamp(&self) -> Option<Timestamp<'a>> {
        match self.0.get("timestamp")? {
            Value::String(s) => Some(Timestamp::Rfc3339(s)),
            Value::Number(n) => n.as_f64().map(Timestamp::EpochSeconds),
            _ => None,
        }
    }

    fields! { 0 =>
        /// `type` (5.1): `default`, `http`, `navigation`, …
        ty: str("type") -> Option<&'a str>;
        /// `category` (5.1): `query`, `ui.click`, a logger name, …
        category: str("category") -> Option<&'a str>;
        /// `level` (5.1), as sent (`info` when absent, by the protocol's default).
        level: str("level") -> Option<&'a str>;
        /// `message` (5.1), usually text.
        message: data("message") -> Option<Data<'a>>;
        /// `data` (5.1): structured details (URL, status code, …).
        data: data("data") -> Option<Data<'a>>;
    }
}

/// `sdk` (5.1): the client that sent the event.
#[derive(Debug, Clone, Copy)]
pub struct Sdk<'a>(pub(super) Object<'a>);

impl<'a> Sdk<'a> {
    fields! { 0 =>
        /// `name` (5.1), e.g. `sentry.python`.
        name: str("name") -> Option<&'a str>;
        /// `version` (5.1).
        version: str("version") -> Option<&'a str>;
    }

    /// `integrations` (5.1): names of the enabled integrations.
    pub fn integrations(&self) -> impl Iterator<Item = Data<'a>> + 'a {
        self.0.list("integrations").iter().map(Data::json)
    }

    /// `packages` (5.1): `{name, version}` of the SDK's packages.
    pub fn packages(&self) -> impl Iterator<Item = SdkPackage<'a>> + 'a {
        self.0
            .list("packages")
            .iter()
            .filter_map(|p| Object::of(p).map(SdkPackage))
    }
}

/// One of `sdk.packages` (5.1).
#[derive(Debug, Clone, Copy)]
pub struct SdkPackage<'a>(Object<'a>);

impl<'a> SdkPackage<'a> {
    fields! { 0 =>
        /// `name` (5.1), e.g. `pypi:sentry-sdk`.
        name: str("name") -> Option<&'a str>;
        /// `version` (5.1).
        version: str("version") -> Option<&'a str>;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn log_entries() {
        let le = json!({"message": "m %s", "formatted": "m x", "params": ["x"]});
        let e = LogEntry::of(&le).expect("entry");
        assert_eq!((e.template(), e.formatted()), (Some("m %s"), Some("m x")));
        assert!(e.params().is_some_and(|p| p.items().is_some()));
        let text = json!("plain");
        let e = LogEntry::of(&text).expect("text");
        assert_eq!((e.template(), e.formatted()), (None, Some("plain")));
        assert!(LogEntry::of(&json!("")).is_none());
        assert!(LogEntry::of(&json!({})).is_none());
    }

    #[test]
    fn request_headers_both_forms() {
        let r = json!({"method": "GET", "headers": {"Accept": "*/*"}});
        let r = Request(Object::or_empty(&r));
        let h: Vec<(String, String)> = r
            .headers()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(h, [("Accept".to_owned(), "*/*".to_owned())]);
        let r = json!({"headers": [["X", 1], ["bad"]]});
        let r = Request(Object::or_empty(&r));
        let h: Vec<(String, String)> = r
            .headers()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(h, [("X".to_owned(), "1".to_owned())]);
        assert_eq!(r.method(), None);
    }

    #[test]
    fn breadcrumb_times_and_contexts() {
        let b = json!({"timestamp": 1.5, "level": "warning"});
        let b = Breadcrumb(Object::or_empty(&b));
        assert_eq!(b.timestamp(), Some(Timestamp::EpochSeconds(1.5)));
        assert_eq!((b.level(), b.message().is_none()), (Some("warning"), true));
        let c = json!({"type": "runtime", "name": "rustc"});
        let c = Context::new("rust", Object::or_empty(&c));
        assert_eq!(
            (c.name(), c.ty(), c.fields().count()),
            ("rust", "runtime", 2)
        );
    }
}
