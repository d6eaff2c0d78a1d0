//! Exceptions and their mechanism (sentry-protocol.md 5.3).

use std::hash::{Hash, Hasher};

use serde_json::Value;

use super::lenient::{fields, Object};
use super::stacktrace::Stacktrace;

/// One entry of `exception.values` (5.3).
#[derive(Debug, Clone, Copy)]
pub struct Exception<'a> {
    index: usize,
    exc: Object<'a>,
}

impl<'a> Exception<'a> {
    pub(crate) fn new(index: usize, exc: Object<'a>) -> Self {
        Exception { index, exc }
    }

    /// The position in `exception.values`: identifies the exception within its event.
    pub fn index(&self) -> usize {
        self.index
    }

    fields! { exc =>
        /// `type` (5.3), e.g. `ValueError`; missing on some synthetic exceptions.
        ty: str("type") -> Option<&'a str>;
        /// `value` (5.3), the message; normalization has turned any JSON into text.
        value: str("value") -> Option<&'a str>;
        /// `module` (5.3), where the type is defined.
        module: str("module") -> Option<&'a str>;
    }

    /// `mechanism` (5.3): how the exception was captured.
    pub fn mechanism(&self) -> Option<Mechanism<'a>> {
        self.exc.object("mechanism").map(Mechanism)
    }

    /// `mechanism.synthetic` (5.3): type and value are only a vehicle for a stack trace.
    pub fn is_synthetic(&self) -> bool {
        self.mechanism().is_some_and(|m| m.is_synthetic())
    }

    /// `stacktrace` (5.3, 5.4).
    pub fn stacktrace(&self) -> Option<Stacktrace<'a>> {
        self.exc.object("stacktrace").map(Stacktrace)
    }
}

/// `exception.mechanism` (5.3).
#[derive(Debug, Clone, Copy)]
pub struct Mechanism<'a>(Object<'a>);

impl<'a> Mechanism<'a> {
    fields! { 0 =>
        /// `type` (5.3): `generic`, `chained`, `excepthook`, `panic`, …
        ty: str("type") -> Option<&'a str>;
        /// `handled` (5.3): `Some(false)` marks a crash / unhandled error.
        handled: bool("handled") -> Option<bool>;
        /// `synthetic` (5.3): the exception's type and value carry no meaning.
        is_synthetic: flag("synthetic") -> bool;
        /// `is_exception_group` (5.3): a group node (Python `ExceptionGroup`).
        is_exception_group: flag("is_exception_group") -> bool;
    }

    /// `exception_id` (5.3): this exception's id in the group tree (0 = root).
    pub fn exception_id(&self) -> Option<ExceptionId<'a>> {
        self.0.get("exception_id").map(ExceptionId::of)
    }

    /// `parent_id` (5.3): the id of the group or cause this exception belongs to.
    pub fn parent_id(&self) -> Option<ExceptionId<'a>> {
        self.0.get("parent_id").map(ExceptionId::of)
    }
}

/// A `mechanism.exception_id` / `parent_id` (5.3). SDKs send integers; as in the grouping
/// reference (a Python dict key) numbers compare by value (`1 == 1.0`), booleans as 0 and 1.
#[derive(Debug, Clone, Copy)]
pub struct ExceptionId<'a>(IdRepr<'a>);

#[derive(Debug, Clone, Copy)]
enum IdRepr<'a> {
    /// The bits of the number as an `f64`.
    Number(u64),
    Text(&'a str),
    Other(&'a Value),
}

impl<'a> ExceptionId<'a> {
    /// The root of an exception-group tree: id 0.
    pub const ROOT: ExceptionId<'static> = ExceptionId(IdRepr::Number(0));

    fn of(v: &'a Value) -> Self {
        ExceptionId(match v {
            Value::Number(n) => IdRepr::Number(n.as_f64().unwrap_or(f64::NAN).to_bits()),
            Value::Bool(b) => IdRepr::Number(if *b { 1.0f64 } else { 0.0 }.to_bits()),
            Value::String(s) => IdRepr::Text(s),
            other => IdRepr::Other(other),
        })
    }
}

impl PartialEq for ExceptionId<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self.0, other.0) {
            (IdRepr::Number(a), IdRepr::Number(b)) => a == b,
            (IdRepr::Text(a), IdRepr::Text(b)) => a == b,
            (IdRepr::Other(a), IdRepr::Other(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for ExceptionId<'_> {}

impl Hash for ExceptionId<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self.0 {
            IdRepr::Number(bits) => (0u8, bits).hash(state),
            IdRepr::Text(s) => (1u8, s).hash(state),
            // Lists and objects as ids: equal values only need to collide.
            IdRepr::Other(_) => 2u8.hash(state),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id(v: Value) -> bool {
        let mech = json!({"exception_id": v});
        Mechanism(Object::or_empty(&mech)).exception_id() == Some(ExceptionId::ROOT)
    }

    #[test]
    fn ids_compare_as_python_dict_keys() {
        assert!(id(json!(0)));
        assert!(id(json!(0.0)));
        assert!(id(json!(false)));
        assert!(!id(json!("0")));
        assert!(!id(json!(1)));
        assert!(!id(json!([0])));
        let a = json!({"x": [1]});
        let b = json!({"x": [1]});
        assert_eq!(ExceptionId::of(&a), ExceptionId::of(&b));
        assert_eq!(ExceptionId::of(&json!("a")), ExceptionId::of(&json!("a")));
        assert!(Mechanism(Object::or_empty(&json!({"exception_id": null})))
            .exception_id()
            .is_none());
    }

    #[test]
    fn mechanism_flags_read_leniently() {
        let exc = json!({"type": "E", "value": "", "mechanism": {"type": "generic",
            "handled": false, "synthetic": 1, "is_exception_group": "yes"}});
        let e = Exception::new(0, Object::or_empty(&exc));
        assert_eq!((e.ty(), e.value(), e.module()), (Some("E"), None, None));
        let m = e.mechanism().expect("mechanism");
        assert_eq!((m.ty(), m.handled()), (Some("generic"), Some(false)));
        assert!(m.is_synthetic() && m.is_exception_group() && e.is_synthetic());
        assert!(e.stacktrace().is_none());
    }
}
