//! DSN parsing: `{scheme}://{public_key}[:{secret}]@{host}[:{port}]/[{path}/]{project_id}`.
//!
//! The envelope endpoint is `{scheme}://{host}[:{port}][/{path}]/api/{project_id}/envelope/`
//! and requests authenticate with the `X-Sentry-Auth` header carrying the public key.

use std::fmt;
use std::str::FromStr;

/// Why a DSN could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseDsnError {
    /// Not `http` or `https`.
    #[error("unsupported scheme (expected http or https)")]
    Scheme,
    /// No `key@` user-info.
    #[error("missing public key")]
    MissingKey,
    /// No host.
    #[error("missing host")]
    MissingHost,
    /// The port is not a number.
    #[error("invalid port")]
    Port,
    /// The last path segment is not a numeric project id.
    #[error("missing or non-numeric project id")]
    ProjectId,
}

/// A parsed DSN.
#[derive(Clone, PartialEq, Eq)]
pub struct Dsn {
    scheme: String,
    public_key: String,
    host: String,
    port: Option<u16>,
    path: String,
    project_id: u64,
    raw: String,
}

impl Dsn {
    /// The public key (sent as `sentry_key`).
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// The numeric project id.
    pub fn project_id(&self) -> u64 {
        self.project_id
    }

    /// `host[:port]`.
    pub fn host(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }

    /// The envelope endpoint URL.
    pub fn envelope_url(&self) -> String {
        format!(
            "{}://{}{}/api/{}/envelope/",
            self.scheme,
            self.host(),
            self.path,
            self.project_id
        )
    }

    /// The `X-Sentry-Auth` header value.
    pub fn auth_header(&self) -> String {
        format!(
            "Sentry sentry_key={}, sentry_version=7, sentry_client=errata.rust/{}",
            self.public_key,
            env!("CARGO_PKG_VERSION")
        )
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The DSN as given (including any deprecated secret).
    pub fn as_str(&self) -> &str {
        &self.raw
    }
}

impl fmt::Debug for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key grants ingestion; keep it out of logs.
        write!(
            f,
            "Dsn({}://***@{}{}/{})",
            self.scheme,
            self.host(),
            self.path,
            self.project_id
        )
    }
}

impl fmt::Display for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl FromStr for Dsn {
    type Err = ParseDsnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let raw = s.trim();
        let (scheme, rest) = raw.split_once("://").ok_or(ParseDsnError::Scheme)?;
        if scheme != "http" && scheme != "https" {
            return Err(ParseDsnError::Scheme);
        }
        let (userinfo, rest) = rest.rsplit_once('@').ok_or(ParseDsnError::MissingKey)?;
        let public_key = userinfo.split(':').next().unwrap_or_default();
        if public_key.is_empty() {
            return Err(ParseDsnError::MissingKey);
        }
        let (hostport, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => {
                (h, Some(p.parse::<u16>().map_err(|_| ParseDsnError::Port)?))
            }
            _ => (hostport, None),
        };
        if host.is_empty() {
            return Err(ParseDsnError::MissingHost);
        }
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let path = path.trim_end_matches('/');
        let (prefix, id) = path.rsplit_once('/').ok_or(ParseDsnError::ProjectId)?;
        let project_id = id.parse::<u64>().map_err(|_| ParseDsnError::ProjectId)?;
        Ok(Dsn {
            scheme: scheme.to_owned(),
            public_key: public_key.to_owned(),
            host: host.to_owned(),
            port,
            path: prefix.to_owned(),
            project_id,
            raw: raw.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dsn_with_port_and_path() {
        let d: Dsn = "http://abc:sec@127.0.0.1:9000/prefix/42".parse().unwrap();
        assert_eq!(d.public_key(), "abc");
        assert_eq!(d.project_id(), 42);
        assert_eq!(
            d.envelope_url(),
            "http://127.0.0.1:9000/prefix/api/42/envelope/"
        );
        assert!(!format!("{d:?}").contains("abc"));
    }

    #[test]
    fn rejects_bad_dsns() {
        assert_eq!(
            "ftp://k@h/1".parse::<Dsn>().unwrap_err(),
            ParseDsnError::Scheme
        );
        assert_eq!(
            "http://h/1".parse::<Dsn>().unwrap_err(),
            ParseDsnError::MissingKey
        );
        assert_eq!(
            "http://k@h/x".parse::<Dsn>().unwrap_err(),
            ParseDsnError::ProjectId
        );
    }
}
