//! The per-project e-mail digest setting as people write it: a number of minutes (at most
//! one e-mail per that many minutes per recipient about the project; the rest folded into one
//! digest), or `off`. The same words on the settings page, in the API
//! (`/api/v1/projects/{id}/email-digest`) and in `errata project update
//! --email-digest-minutes`; the folding itself is `store::deliveries::project_digest`.

use crate::store::MAX_DIGEST_MINUTES;

/// A digest interval that is neither `off` nor a number of minutes in range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("e-mail digest {0:?}: give minutes from 1 to {MAX_DIGEST_MINUTES}, or off (0)")]
pub struct InvalidDigest(pub String);

/// Parses `15`, `15m`, `off`, `0` or an empty value (`None`: every notification by itself).
pub fn parse_minutes(value: &str) -> Result<Option<i64>, InvalidDigest> {
    let v = value.trim();
    if matches!(v, "" | "off" | "none" | "0") {
        return Ok(None);
    }
    match v.strip_suffix('m').unwrap_or(v).trim().parse::<i64>() {
        Ok(0) => Ok(None),
        Ok(n) if (1..=MAX_DIGEST_MINUTES).contains(&n) => Ok(Some(n)),
        _ => Err(InvalidDigest(value.to_owned())),
    }
}

/// `at most one e-mail per 15 minutes` / `off`.
pub fn describe(minutes: Option<i64>) -> String {
    match minutes {
        Some(n) => format!("at most one e-mail per {n} minutes"),
        None => "off".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_or_off() {
        assert_eq!(parse_minutes("15"), Ok(Some(15)));
        assert_eq!(parse_minutes(" 30m "), Ok(Some(30)));
        for off in ["", "off", "0", "none"] {
            assert_eq!(parse_minutes(off), Ok(None), "{off}");
        }
        for bad in ["-1", "soon", "10081"] {
            assert!(parse_minutes(bad).is_err(), "{bad}");
        }
        assert_eq!(describe(Some(15)), "at most one e-mail per 15 minutes");
    }
}
