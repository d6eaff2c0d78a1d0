//! What a tracker has to read from an event before it can group and store it, read by each JSON
//! library under test into the same [`Needed`], so that every parse stage does the same useful
//! work and none of it can be optimized away (the stages `black_box` the result).
//!
//! Two families of readers:
//! - trees: the whole event becomes a DOM (`serde_json::Value`, `sonic_rs::Value`,
//!   `simd_json::BorrowedValue`), then [`from_tree`] walks it through the [`Node`] trait;
//! - typed: the event (or, for the lazy readers, only the top-level fields that matter) is
//!   deserialized straight into [`Needed`], skipping everything else without building it.
//!
//! Strings are [`Cow`]s borrowed from the input or the tree where the library allows it
//! (`serde(borrow)` on a `Option<Cow<str>>` would always copy, hence the [`Text`] newtype).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// The fields of an event a tracker needs for grouping, filtering and listing.
#[derive(Debug, Default, PartialEq, Deserialize)]
pub struct Needed<'a> {
    /// `level` (`"error"`, …).
    #[serde(borrow, default)]
    pub level: Option<Text<'a>>,
    /// `timestamp`: seconds since the epoch or an RFC 3339 string.
    #[serde(borrow, default)]
    pub timestamp: Option<Timestamp<'a>>,
    /// `release`.
    #[serde(borrow, default)]
    pub release: Option<Text<'a>>,
    /// `environment`.
    #[serde(borrow, default)]
    pub environment: Option<Text<'a>>,
    /// `fingerprint`: the SDK's grouping override, if any.
    #[serde(borrow, default)]
    pub fingerprint: Option<Vec<Text<'a>>>,
    /// `tags`, as an object or as an array of pairs, in document order.
    #[serde(borrow, default)]
    pub tags: Option<Tags<'a>>,
    /// `exception.values`.
    #[serde(borrow, default)]
    pub exception: Option<Exceptions<'a>>,
}

/// `exception` in its object form, `{"values": [...]}`.
#[derive(Debug, Default, PartialEq, Deserialize)]
pub struct Exceptions<'a> {
    /// The chain, cause first.
    #[serde(borrow, default)]
    pub values: Vec<Exception<'a>>,
}

/// One exception of the chain: what grouping and the issue title read.
#[derive(Debug, Default, PartialEq, Deserialize)]
pub struct Exception<'a> {
    /// `type`, e.g. `ValueError`.
    #[serde(borrow, default, rename = "type")]
    pub ty: Option<Text<'a>>,
    /// `value`, the message.
    #[serde(borrow, default)]
    pub value: Option<Text<'a>>,
    /// `stacktrace`.
    #[serde(borrow, default)]
    pub stacktrace: Option<Stacktrace<'a>>,
}

/// `stacktrace`, oldest frame first.
#[derive(Debug, Default, PartialEq, Deserialize)]
pub struct Stacktrace<'a> {
    /// `frames`.
    #[serde(borrow, default)]
    pub frames: Vec<Frame<'a>>,
}

/// The fields of a frame that grouping reads.
#[derive(Debug, Default, PartialEq, Deserialize)]
pub struct Frame<'a> {
    /// `function`.
    #[serde(borrow, default)]
    pub function: Option<Text<'a>>,
    /// `module`.
    #[serde(borrow, default)]
    pub module: Option<Text<'a>>,
    /// `filename`.
    #[serde(borrow, default)]
    pub filename: Option<Text<'a>>,
    /// `in_app`.
    #[serde(default)]
    pub in_app: Option<bool>,
}

/// A string, borrowed from the input when it has no escapes (or when the parser unescapes in
/// place, as simd-json does).
#[derive(Debug, Clone, PartialEq)]
pub struct Text<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

/// `timestamp` in either of the protocol's forms.
#[derive(Debug, Clone, PartialEq)]
pub enum Timestamp<'a> {
    /// Seconds since the epoch.
    Secs(f64),
    /// RFC 3339.
    Text(Cow<'a, str>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Timestamp<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Timestamp<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or a string")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Timestamp::Secs(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Timestamp::Secs(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Timestamp::Secs(v as f64))
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Timestamp::Text(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Timestamp::Text(Cow::Owned(s.to_owned())))
            }
        }
        d.deserialize_any(V)
    }
}

/// `tags`: `{"k": "v", …}` or `[["k", "v"], …]`, as pairs in document order.
#[derive(Debug, Default, PartialEq)]
pub struct Tags<'a>(pub Vec<(Text<'a>, Text<'a>)>);

impl<'de: 'a, 'a> Deserialize<'de> for Tags<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Tags<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object or an array of pairs")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(m.size_hint().unwrap_or(8));
                while let Some(pair) = m.next_entry::<Text<'de>, Text<'de>>()? {
                    out.push(pair);
                }
                Ok(Tags(out))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(s.size_hint().unwrap_or(8));
                while let Some(pair) = s.next_element::<(Text<'de>, Text<'de>)>()? {
                    out.push(pair);
                }
                Ok(Tags(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A node of a JSON tree, whatever the library: the little [`from_tree`] needs.
pub trait Node {
    /// The member `key` of an object.
    fn field(&self, key: &str) -> Option<&Self>;
    /// A string's text.
    fn text(&self) -> Option<&str>;
    /// A number as `f64`.
    fn number(&self) -> Option<f64>;
    /// A boolean.
    fn boolean(&self) -> Option<bool>;
    /// An array's elements.
    fn items(&self) -> Option<impl Iterator<Item = &Self>>;
    /// An object's members, in document order where the library keeps it.
    fn members(&self) -> Option<impl Iterator<Item = (&str, &Self)>>;
}

fn text<'a, N: Node>(n: &'a N, key: &str) -> Option<Text<'a>> {
    n.field(key)?.text().map(|s| Text(Cow::Borrowed(s)))
}

/// Reads [`Needed`] out of a parsed tree, borrowing its strings.
pub fn from_tree<N: Node>(root: &N) -> Needed<'_> {
    let timestamp = root.field("timestamp").and_then(|t| {
        t.number()
            .map(Timestamp::Secs)
            .or_else(|| t.text().map(|s| Timestamp::Text(Cow::Borrowed(s))))
    });
    let fingerprint = root.field("fingerprint").and_then(|f| {
        f.items().map(|items| {
            items
                .filter_map(|i| i.text().map(|s| Text(Cow::Borrowed(s))))
                .collect()
        })
    });
    let tags = root.field("tags").and_then(|t| {
        if let Some(members) = t.members() {
            Some(
                members
                    .filter_map(|(k, v)| Some((k, v.text()?)))
                    .map(|(k, v)| (Text(Cow::Borrowed(k)), Text(Cow::Borrowed(v))))
                    .collect(),
            )
        } else {
            t.items().map(|items| {
                items
                    .filter_map(|p| {
                        let mut it = p.items()?;
                        Some((it.next()?.text()?, it.next()?.text()?))
                    })
                    .map(|(k, v)| (Text(Cow::Borrowed(k)), Text(Cow::Borrowed(v))))
                    .collect()
            })
        }
        .map(Tags)
    });
    let exception = root
        .field("exception")
        .and_then(|e| e.field("values"))
        .and_then(|v| v.items())
        .map(|values| Exceptions {
            values: values
                .map(|e| Exception {
                    ty: text(e, "type"),
                    value: text(e, "value"),
                    stacktrace: e
                        .field("stacktrace")
                        .and_then(|s| s.field("frames"))
                        .and_then(|f| f.items())
                        .map(|frames| Stacktrace {
                            frames: frames
                                .map(|f| Frame {
                                    function: text(f, "function"),
                                    module: text(f, "module"),
                                    filename: text(f, "filename"),
                                    in_app: f.field("in_app").and_then(|b| b.boolean()),
                                })
                                .collect(),
                        }),
                })
                .collect(),
        });
    Needed {
        level: text(root, "level"),
        timestamp,
        release: text(root, "release"),
        environment: text(root, "environment"),
        fingerprint,
        tags,
        exception,
    }
}

impl Node for serde_json::Value {
    fn field(&self, key: &str) -> Option<&Self> {
        self.as_object()?.get(key)
    }
    fn text(&self) -> Option<&str> {
        self.as_str()
    }
    fn number(&self) -> Option<f64> {
        self.as_f64()
    }
    fn boolean(&self) -> Option<bool> {
        self.as_bool()
    }
    fn items(&self) -> Option<impl Iterator<Item = &Self>> {
        self.as_array().map(|a| a.iter())
    }
    fn members(&self) -> Option<impl Iterator<Item = (&str, &Self)>> {
        self.as_object()
            .map(|o| o.iter().map(|(k, v)| (k.as_str(), v)))
    }
}

impl Node for sonic_rs::Value {
    fn field(&self, key: &str) -> Option<&Self> {
        use sonic_rs::JsonContainerTrait;
        self.as_object()?.get(&key)
    }
    fn text(&self) -> Option<&str> {
        sonic_rs::JsonValueTrait::as_str(self)
    }
    fn number(&self) -> Option<f64> {
        sonic_rs::JsonValueTrait::as_f64(self)
    }
    fn boolean(&self) -> Option<bool> {
        sonic_rs::JsonValueTrait::as_bool(self)
    }
    fn items(&self) -> Option<impl Iterator<Item = &Self>> {
        sonic_rs::JsonContainerTrait::as_array(self).map(|a| a.iter())
    }
    fn members(&self) -> Option<impl Iterator<Item = (&str, &Self)>> {
        sonic_rs::JsonContainerTrait::as_object(self).map(|o| o.iter())
    }
}

impl Node for simd_json::BorrowedValue<'_> {
    fn field(&self, key: &str) -> Option<&Self> {
        use simd_json::prelude::*;
        self.as_object()?.get(key)
    }
    fn text(&self) -> Option<&str> {
        simd_json::prelude::ValueAsScalar::as_str(self)
    }
    fn number(&self) -> Option<f64> {
        simd_json::prelude::ValueAsScalar::cast_f64(self)
    }
    fn boolean(&self) -> Option<bool> {
        simd_json::prelude::ValueAsScalar::as_bool(self)
    }
    fn items(&self) -> Option<impl Iterator<Item = &Self>> {
        simd_json::prelude::ValueAsArray::as_array(self).map(|a| a.iter())
    }
    fn members(&self) -> Option<impl Iterator<Item = (&str, &Self)>> {
        // halfbrown keeps small maps as vectors, so this is document order for tags.
        simd_json::prelude::ValueAsObject::as_object(self)
            .map(|o| o.iter().map(|(k, v)| (k.as_ref(), v)))
    }
}

/// The parse stages' readers, each from the event item's bytes to [`Needed`] plus whatever it
/// must keep alive (a tree, a mutable copy), which the caller drops after `black_box`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parser {
    /// `serde_json::Value` tree, then [`from_tree`].
    SerdeValue,
    /// serde_json: the top-level object as `HashMap<&str, &RawValue>`, then the needed members
    /// deserialized typed from their raw text.
    SerdeRaw,
    /// serde_json straight into [`Needed`], everything else skipped.
    SerdeTyped,
    /// `sonic_rs::Value` tree, then [`from_tree`].
    SonicValue,
    /// sonic-rs lazy: `to_object_iter` over the top level (members skipped, checked), the
    /// needed ones deserialized typed from their raw text.
    SonicLazy,
    /// sonic-rs straight into [`Needed`].
    SonicTyped,
    /// `simd_json::BorrowedValue` of a mutable copy (thread-local buffers), then
    /// [`from_tree`].
    SimdValue,
    /// simd-json straight into [`Needed`], from a mutable copy (thread-local buffers).
    SimdTyped,
}

impl Parser {
    /// Every reader, in the order the self-test prints them.
    pub const ALL: [Parser; 8] = [
        Parser::SerdeValue,
        Parser::SerdeRaw,
        Parser::SerdeTyped,
        Parser::SonicValue,
        Parser::SonicLazy,
        Parser::SonicTyped,
        Parser::SimdValue,
        Parser::SimdTyped,
    ];

    /// The stage name in `floor.sh`.
    pub fn name(self) -> &'static str {
        match self {
            Parser::SerdeValue => "parse-serde",
            Parser::SerdeRaw => "parse-raw",
            Parser::SerdeTyped => "parse-typed",
            Parser::SonicValue => "parse-sonic",
            Parser::SonicLazy => "parse-sonic-lazy",
            Parser::SonicTyped => "parse-sonic-typed",
            Parser::SimdValue => "parse-simd",
            Parser::SimdTyped => "parse-simd-typed",
        }
    }

    /// Parses `payload` and hands what it read to `f` (the reader's borrows end with `f`).
    /// Returns the parser's error text on invalid JSON or a missing/odd needed field.
    pub fn read<R>(self, payload: &[u8], f: impl FnOnce(&Needed<'_>) -> R) -> Result<R, String> {
        let err = |e: &dyn fmt::Display| e.to_string();
        match self {
            Parser::SerdeValue => {
                // As the server does (`protocol::json`): one UTF-8 check, then the `str` reader.
                let s = std::str::from_utf8(payload).map_err(|e| err(&e))?;
                let v: serde_json::Value = serde_json::from_str(s).map_err(|e| err(&e))?;
                Ok(f(&from_tree(&v)))
            }
            Parser::SerdeRaw => {
                let s = std::str::from_utf8(payload).map_err(|e| err(&e))?;
                let top: HashMap<&str, &serde_json::value::RawValue> =
                    serde_json::from_str(s).map_err(|e| err(&e))?;
                let n = raw_members::<SerdeText>(|k| top.get(k).map(|r| r.get()))?;
                Ok(f(&n))
            }
            Parser::SerdeTyped => {
                let s = std::str::from_utf8(payload).map_err(|e| err(&e))?;
                let n: Needed = serde_json::from_str(s).map_err(|e| err(&e))?;
                Ok(f(&n))
            }
            Parser::SonicValue => {
                let v: sonic_rs::Value = sonic_rs::from_slice(payload).map_err(|e| err(&e))?;
                Ok(f(&from_tree(&v)))
            }
            Parser::SonicLazy => {
                let mut found: [Option<&str>; 7] = [None; 7];
                for member in sonic_rs::to_object_iter(payload) {
                    let (k, v) = member.map_err(|e| err(&e))?;
                    if let Some(i) = TOP.iter().position(|t| *t == &*k) {
                        // A slice input gives borrowed raw text; the lifetime is the payload's.
                        match v.as_raw_cow() {
                            Cow::Borrowed(raw) => found[i] = Some(raw),
                            Cow::Owned(_) => return Err("sonic-rs copied raw text".to_owned()),
                        }
                    }
                }
                let n = raw_members::<SonicText>(|k| {
                    TOP.iter().position(|t| *t == k).and_then(|i| found[i])
                })?;
                Ok(f(&n))
            }
            Parser::SonicTyped => {
                let n: Needed = sonic_rs::from_slice(payload).map_err(|e| err(&e))?;
                Ok(f(&n))
            }
            Parser::SimdValue => with_simd_buffers(payload, |copy, buffers| {
                let v = simd_json::to_borrowed_value_with_buffers(copy, buffers)
                    .map_err(|e| err(&e))?;
                Ok(f(&from_tree(&v)))
            }),
            Parser::SimdTyped => with_simd_buffers(payload, |copy, buffers| {
                let n: Needed = simd_json::serde::from_slice_with_buffers(copy, buffers)
                    .map_err(|e| err(&e))?;
                Ok(f(&n))
            }),
        }
    }
}

/// The top-level members [`Needed`] is read from.
const TOP: [&str; 7] = [
    "level",
    "timestamp",
    "release",
    "environment",
    "fingerprint",
    "tags",
    "exception",
];

/// Builds [`Needed`] from the raw text of its top-level members (`raw(key)`), each
/// deserialized on its own into its own type by `P`: the lazy readers' second step.
fn raw_members<'a, P: RawParse>(
    raw: impl Fn(&str) -> Option<&'a str>,
) -> Result<Needed<'a>, String> {
    let mut n = Needed::default();
    if let Some(t) = raw("level") {
        n.level = P::parse(t)?;
    }
    if let Some(t) = raw("timestamp") {
        n.timestamp = P::parse(t)?;
    }
    if let Some(t) = raw("release") {
        n.release = P::parse(t)?;
    }
    if let Some(t) = raw("environment") {
        n.environment = P::parse(t)?;
    }
    if let Some(t) = raw("fingerprint") {
        n.fingerprint = P::parse(t)?;
    }
    if let Some(t) = raw("tags") {
        n.tags = P::parse(t)?;
    }
    if let Some(t) = raw("exception") {
        n.exception = P::parse(t)?;
    }
    Ok(n)
}

/// A library's typed deserialization of one member's raw text.
trait RawParse {
    fn parse<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, String>;
}

struct SerdeText;

impl RawParse for SerdeText {
    fn parse<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }
}

struct SonicText;

impl RawParse for SonicText {
    fn parse<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, String> {
        sonic_rs::from_str(text).map_err(|e| e.to_string())
    }
}

fn with_simd_buffers<R>(
    payload: &[u8],
    f: impl FnOnce(&mut [u8], &mut simd_json::Buffers) -> Result<R, String>,
) -> Result<R, String> {
    thread_local! {
        static BUFFERS: std::cell::RefCell<(Vec<u8>, simd_json::Buffers)> =
            std::cell::RefCell::new((Vec::new(), simd_json::Buffers::new(16 * 1024)));
    }
    BUFFERS.with(|b| {
        let (copy, buffers) = &mut *b.borrow_mut();
        copy.clear();
        copy.extend_from_slice(payload);
        f(copy, buffers)
    })
}
