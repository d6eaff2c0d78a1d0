//! The `[security]` settings a security review asks about, and what enforces them:
//!
//! * who may read `/metrics` ([`SecurityConfig::metrics_access`]): open by default (it holds
//!   counters, no event data); with `metrics_allow` only those addresses or networks, with
//!   `metrics_token` whoever sends `Authorization: Bearer <token>`; with both, either one.
//!   Refused scrapes get 401 (a token would help) or 403;
//! * `Strict-Transport-Security` on every response when `base_url` is `https://`
//!   ([`hsts`]): browsers then never speak plain http to this host for a year. Sent only then,
//!   because on plain http it would be ignored (RFC 6797 §8.1) and a misconfigured proxy could
//!   lock a plain-http deployment out;
//! * whether members (non-admin users) may delete issues (`members_may_delete_issues`, default
//!   no: deleting loses events for good, so it is an admin's decision unless allowed).

use std::net::IpAddr;

use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::Router;
use ipnet::IpNet;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::notify::Secret;

/// The HSTS header's value: one year (365 days in seconds), the least the preload list takes.
/// No `includeSubDomains`: other hosts under the same name are not ours to decide for.
pub const HSTS: &str = "max-age=31536000";

/// The `[security]` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// Addresses (`10.0.0.5`, `::1`) or networks (`10.0.0.0/8`) that may read `/metrics`.
    /// Empty (the default): no address rule. The address is the TCP peer, or the first
    /// `X-Forwarded-For` entry with `ingest.trust_forwarded_for`.
    pub metrics_allow: Vec<String>,
    /// A bearer token that may read `/metrics` (`Authorization: Bearer <token>`). Default
    /// none; never logged.
    pub metrics_token: Option<Secret>,
    /// Members (non-admin users) may delete issues. Default false: only admins.
    pub members_may_delete_issues: bool,
}

impl SecurityConfig {
    /// What deleting an issue (or discarding it) takes: admin, unless
    /// `members_may_delete_issues` lets everyone who may triage do it.
    pub fn delete_permission(&self) -> crate::http::principal::Permission {
        if self.members_may_delete_issues {
            crate::http::principal::Permission::Triage
        } else {
            crate::http::principal::Permission::Project
        }
    }
}

/// Why a `/metrics` request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsRefusal {
    /// A token is configured and the request did not carry it (401).
    Unauthorized,
    /// Only an address list is configured and the caller is not on it (403).
    Forbidden,
}

/// Parses one `metrics_allow` entry: a network in CIDR notation or a single address.
pub fn parse_network(entry: &str) -> Result<IpNet, String> {
    let entry = entry.trim();
    entry
        .parse::<IpNet>()
        .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{entry:?} is neither an IP address nor a network like 10.0.0.0/8"))
}

impl SecurityConfig {
    /// The parsed `metrics_allow` list. Errors name the first entry that is not an address or
    /// network (`errata serve` refuses to start with it).
    pub fn metrics_networks(&self) -> Result<Vec<IpNet>, String> {
        self.metrics_allow
            .iter()
            .filter(|e| !e.trim().is_empty())
            .map(|e| parse_network(e))
            .collect()
    }

    /// Whether a `/metrics` request from `ip` with this `Authorization` header may read.
    pub fn metrics_access(
        &self,
        ip: Option<IpAddr>,
        authorization: Option<&str>,
    ) -> Result<(), MetricsRefusal> {
        // A list that does not parse was refused at start; here it admits nobody.
        let networks = self.metrics_networks().unwrap_or_default();
        let token = self
            .metrics_token
            .as_ref()
            .filter(|t| !t.expose().is_empty());
        if self.metrics_allow.is_empty() && token.is_none() {
            return Ok(());
        }
        if let (Some(token), Some(sent)) = (token, authorization.and_then(bearer)) {
            if same_secret(token.expose(), sent) {
                return Ok(());
            }
        }
        if let Some(ip) = ip.map(|i| i.to_canonical()) {
            if networks.iter().any(|n| n.contains(&ip)) {
                return Ok(());
            }
        }
        Err(if token.is_some() {
            MetricsRefusal::Unauthorized
        } else {
            MetricsRefusal::Forbidden
        })
    }
}

/// The token of an `Authorization: Bearer <token>` header value.
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Compares two secrets in time independent of where they differ (by their SHA-256).
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// Adds `Strict-Transport-Security: max-age=…` to every response of `router` when the
/// configured `base_url` is `https://`; `router` unchanged otherwise.
pub fn hsts(router: Router, config: &Config) -> Router {
    if !config.base_url().starts_with("https://") {
        return router;
    }
    let value = HeaderValue::from_static(HSTS);
    router.layer(axum::middleware::map_response(move |mut res: Response| {
        let value = value.clone();
        async move {
            res.headers_mut()
                .insert(header::STRICT_TRANSPORT_SECURITY, value);
            res
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn metrics_are_open_until_restricted() {
        let open = SecurityConfig::default();
        assert_eq!(open.metrics_access(ip("203.0.113.1"), None), Ok(()));
    }

    #[test]
    fn addresses_networks_and_tokens() {
        let c = SecurityConfig {
            metrics_allow: vec!["10.0.0.0/8".into(), "::1".into(), "192.0.2.7".into()],
            ..SecurityConfig::default()
        };
        assert_eq!(c.metrics_access(ip("10.1.2.3"), None), Ok(()));
        assert_eq!(c.metrics_access(ip("::1"), None), Ok(()));
        assert_eq!(c.metrics_access(ip("::ffff:192.0.2.7"), None), Ok(()));
        assert_eq!(
            c.metrics_access(ip("192.0.2.8"), None),
            Err(MetricsRefusal::Forbidden)
        );
        assert_eq!(c.metrics_access(None, None), Err(MetricsRefusal::Forbidden));

        let t = SecurityConfig {
            metrics_token: Some(Secret::new("s3cret")),
            ..c
        };
        assert_eq!(t.metrics_access(ip("10.1.2.3"), None), Ok(()));
        assert_eq!(
            t.metrics_access(ip("192.0.2.8"), Some("Bearer s3cret")),
            Ok(())
        );
        assert_eq!(
            t.metrics_access(ip("192.0.2.8"), Some("bearer  s3cret ")),
            Ok(())
        );
        for wrong in [
            None,
            Some("Bearer nope"),
            Some("Basic s3cret"),
            Some("s3cret"),
        ] {
            assert_eq!(
                t.metrics_access(ip("192.0.2.8"), wrong),
                Err(MetricsRefusal::Unauthorized),
                "{wrong:?}"
            );
        }
    }

    #[test]
    fn list_entries_must_be_addresses_or_networks() {
        let c = SecurityConfig {
            metrics_allow: vec!["10.0.0.1".into(), "localhost".into()],
            ..SecurityConfig::default()
        };
        let err = c.metrics_networks().unwrap_err();
        assert!(err.contains("localhost"), "{err}");
        assert!(parse_network("10.0.0.0/33").is_err());
    }
}
