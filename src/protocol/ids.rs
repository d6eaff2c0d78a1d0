use std::fmt;
use std::str::FromStr;

/// An event id: a UUID printed as 32 lowercase hex digits without dashes, as Relay prints it.
///
/// Parsing accepts the 32-hex form and the 36-character hyphenated form in any case
/// (sentry-protocol.md 4.2, observed: the Rust SDK sends the hyphenated form).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(uuid::Uuid);

/// The text was not a UUID in either accepted form.
#[derive(Debug, thiserror::Error)]
#[error("invalid event id {0:?}: expected 32 hex digits or a hyphenated UUID")]
pub struct ParseEventIdError(pub String);

impl EventId {
    /// A fresh random (v4) id, for events that arrive without one.
    pub fn new_random() -> Self {
        Self(uuid::Uuid::new_v4())
    }

    /// The id as 32 lowercase hex digits.
    pub fn simple(&self) -> String {
        self.0.simple().to_string()
    }
}

impl FromStr for EventId {
    type Err = ParseEventIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let ok = s.len() == 32 || (s.len() == 36 && s.matches('-').count() == 4);
        if !ok {
            return Err(ParseEventIdError(s.chars().take(64).collect()));
        }
        uuid::Uuid::try_parse(s)
            .map(Self)
            .map_err(|_| ParseEventIdError(s.chars().take(64).collect()))
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.simple())
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({})", self.0.simple())
    }
}

impl serde::Serialize for EventId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_both_forms_and_prints_simple() {
        let a: EventId = "9ec79c33ec9942ab8353589fcb2e04dc".parse().unwrap();
        let b: EventId = "9EC79C33-EC99-42AB-8353-589FCB2E04DC".parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(b.to_string(), "9ec79c33ec9942ab8353589fcb2e04dc");
    }

    #[test]
    fn rejects_garbage() {
        assert!("nope".parse::<EventId>().is_err());
        assert!("9ec79c33ec9942ab8353589fcb2e04dz"
            .parse::<EventId>()
            .is_err());
    }
}
