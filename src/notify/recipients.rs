//! Recipient lists in the familiar mail form: `Jose <jose@example.com>, Adin <adin@example.com>`.
//!
//! Entries are separated by commas (or semicolons/newlines) outside quotes and angle
//! brackets; each is `Display Name <addr>`, `"Quoted, Name" <addr>` or a bare `addr`. The
//! address must look like `local@domain` (lettre validates it fully when sending).

use std::fmt;

/// One parsed recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// Display name, if given (quotes removed).
    pub name: Option<String>,
    /// The address, `local@domain`.
    pub address: String,
}

/// A recipient list entry that is not a mailbox.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid recipient {entry:?}: {reason}")]
pub struct ParseRecipientError {
    /// The offending entry as written.
    pub entry: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for Recipient {
    /// The canonical form stored as a channel target: `Name <addr>` or `addr`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) if name.contains([',', '"', '<', '>', ';']) => {
                write!(f, "\"{}\" <{}>", name.replace('"', "'"), self.address)
            }
            Some(name) => write!(f, "{name} <{}>", self.address),
            None => f.write_str(&self.address),
        }
    }
}

impl std::str::FromStr for Recipient {
    type Err = ParseRecipientError;

    fn from_str(entry: &str) -> Result<Self, Self::Err> {
        let err = |reason| ParseRecipientError {
            entry: entry.to_owned(),
            reason,
        };
        let trimmed = entry.trim();
        let (name, address) = match trimmed.rfind('<') {
            Some(open) => {
                let rest = &trimmed[open + 1..];
                let close = rest.find('>').ok_or_else(|| err("missing '>'"))?;
                if !rest[close + 1..].trim().is_empty() {
                    return Err(err("text after '>'"));
                }
                let name = trimmed[..open].trim().trim_matches('"').trim();
                let name = (!name.is_empty()).then(|| name.to_owned());
                (name, rest[..close].trim())
            }
            None => (None, trimmed),
        };
        let (local, domain) = address
            .split_once('@')
            .ok_or_else(|| err("address has no '@'"))?;
        if local.is_empty() || domain.is_empty() || domain.contains('@') {
            return Err(err("address is not local@domain"));
        }
        if address.chars().any(|c| c.is_whitespace() || c == ',') {
            return Err(err("address contains a space or comma"));
        }
        Ok(Recipient {
            name,
            address: address.to_owned(),
        })
    }
}

/// Parses a whole list; empty entries are skipped, so `""` is an empty list.
///
/// Errors with the first entry that is not a mailbox.
pub fn parse_list(list: &str) -> Result<Vec<Recipient>, ParseRecipientError> {
    split_entries(list)
        .into_iter()
        .filter(|e| !e.trim().is_empty())
        .map(str::parse)
        .collect()
}

/// Splits on `,` `;` and newlines that are outside `"…"` and `<…>`.
fn split_entries(list: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut angled, mut start) = (false, false, 0);
    for (i, c) in list.char_indices() {
        match c {
            '"' if !angled => quoted = !quoted,
            '<' if !quoted => angled = true,
            '>' if !quoted => angled = false,
            ',' | ';' | '\n' if !quoted && !angled => {
                out.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&list[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_familiar_form() {
        let list = parse_list("Jose <jose@example.com>, Adin <adin@example.com>").unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].name.as_deref(), Some("Jose"));
        assert_eq!(list[0].address, "jose@example.com");
        assert_eq!(list[1].to_string(), "Adin <adin@example.com>");
    }

    #[test]
    fn bare_quoted_and_empty_entries() {
        let list = parse_list("ops@example.com; \"Doe, Jane\" <jane@example.com>,, \n").unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].name, None);
        assert_eq!(list[1].name.as_deref(), Some("Doe, Jane"));
        assert_eq!(list[1].to_string(), "\"Doe, Jane\" <jane@example.com>");
        assert_eq!(parse_list("").unwrap(), vec![]);
    }

    #[test]
    fn rejects_non_addresses() {
        for bad in [
            "Jose",
            "Jose <jose>",
            "<@x>",
            "a b@c",
            "Jose <j@x.org> trailing",
            "J <j@x.org",
        ] {
            assert!(parse_list(bad).is_err(), "{bad}");
        }
        let e = parse_list("ok@x.org, nope").unwrap_err();
        assert_eq!(e.entry, " nope");
    }
}
