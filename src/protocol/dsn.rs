//! DSNs: the URL an SDK is configured with (sentry-protocol.md section 1).
//!
//! ```text
//! {scheme}://{public_key}[:{secret_key}]@{host}[:{port}]/[{path}/]{project_id}
//! ```
//!
//! The server parses DSNs found in envelope headers (tunnelled SDKs, section 2.1 source 5) and
//! prints them for project settings. The deprecated secret key is accepted and dropped, so it
//! never reaches logs or the database.

use std::fmt;
use std::str::FromStr;

/// A parsed DSN.
///
/// `Display` prints the canonical form (without any secret key), which parses back to an equal
/// value: `http://publickey@127.0.0.1:9000/prefix/42`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Dsn {
    /// `http` or `https`, lowercase.
    pub scheme: String,
    /// The URL user name: `[A-Za-z0-9_-]{1,64}`.
    pub public_key: String,
    /// Host name or IP literal as it appears in a URL (IPv6 in brackets), lowercase.
    pub host: String,
    /// Explicit port; `None` when absent or the scheme's default (80/443).
    pub port: Option<u16>,
    /// Path segments before the project id: `""` or `"/a/b"` (leading `/`, no trailing `/`).
    pub path_prefix: String,
    /// The last path segment, a decimal integer.
    pub project_id: i64,
}

/// Why a string is not a usable DSN.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseDsnError {
    /// Not a URL at all.
    #[error("invalid DSN: {0}")]
    InvalidUrl(#[from] url::ParseError),
    /// The scheme is not `http` or `https`.
    #[error("invalid DSN: unsupported scheme {0:?} (expected http or https)")]
    UnsupportedScheme(String),
    /// No user-info name.
    #[error("invalid DSN: missing public key")]
    MissingPublicKey,
    /// The user-info name is not `[A-Za-z0-9_-]{1,64}`.
    #[error("invalid DSN: public key is not 1-64 characters of [A-Za-z0-9_-]")]
    InvalidPublicKey,
    /// No host.
    #[error("invalid DSN: missing host")]
    MissingHost,
    /// The path has no last segment.
    #[error("invalid DSN: missing project id")]
    MissingProjectId,
    /// The last path segment is not a decimal integer.
    #[error("invalid DSN: project id {0:?} is not a number")]
    InvalidProjectId(String),
}

impl Dsn {
    /// The envelope endpoint: `{scheme}://{host}[:{port}]{path_prefix}/api/{project_id}/envelope/`.
    pub fn envelope_url(&self) -> String {
        format!("{}/api/{}/envelope/", self.base_url(), self.project_id)
    }

    /// The legacy store endpoint: `…/api/{project_id}/store/`.
    pub fn store_url(&self) -> String {
        format!("{}/api/{}/store/", self.base_url(), self.project_id)
    }

    fn base_url(&self) -> String {
        let mut out = format!("{}://{}", self.scheme, self.host);
        if let Some(port) = self.port {
            out.push_str(&format!(":{port}"));
        }
        out.push_str(&self.path_prefix);
        out
    }
}

impl FromStr for Dsn {
    type Err = ParseDsnError;

    /// Parses a DSN. Query strings and fragments are ignored; a trailing `/` after the project id
    /// is rejected, as the SDKs do.
    fn from_str(s: &str) -> Result<Dsn, ParseDsnError> {
        let url = url::Url::parse(s.trim())?;
        let scheme = url.scheme();
        if scheme != "http" && scheme != "https" {
            return Err(ParseDsnError::UnsupportedScheme(scheme.to_owned()));
        }
        let public_key = url.username();
        if public_key.is_empty() {
            return Err(ParseDsnError::MissingPublicKey);
        }
        let key_ok = public_key.len() <= 64
            && public_key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !key_ok {
            return Err(ParseDsnError::InvalidPublicKey);
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or(ParseDsnError::MissingHost)?;

        let (path_prefix, project) = url.path().rsplit_once('/').unwrap_or(("", url.path()));
        if project.is_empty() {
            return Err(ParseDsnError::MissingProjectId);
        }
        let project_id = project
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| project.parse::<i64>().ok())
            .flatten()
            .ok_or_else(|| ParseDsnError::InvalidProjectId(project.chars().take(64).collect()))?;

        Ok(Dsn {
            scheme: scheme.to_owned(),
            public_key: public_key.to_owned(),
            host: host.to_owned(),
            port: url.port(),
            path_prefix: path_prefix.to_owned(),
            project_id,
        })
    }
}

impl fmt::Display for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}@{}", self.scheme, self.public_key, self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        write!(f, "{}/{}", self.path_prefix, self.project_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dsn(s: &str) -> Dsn {
        s.parse().unwrap()
    }

    #[test]
    fn fixture_dsn() {
        let d = dsn("http://publickey@127.0.0.1:9000/42");
        assert_eq!(
            d,
            Dsn {
                scheme: "http".into(),
                public_key: "publickey".into(),
                host: "127.0.0.1".into(),
                port: Some(9000),
                path_prefix: String::new(),
                project_id: 42,
            }
        );
        assert_eq!(d.to_string(), "http://publickey@127.0.0.1:9000/42");
        assert_eq!(d.envelope_url(), "http://127.0.0.1:9000/api/42/envelope/");
        assert_eq!(d.store_url(), "http://127.0.0.1:9000/api/42/store/");
    }

    #[test]
    fn path_prefix() {
        let d = dsn("https://3f2a9c@errors.example.com/sentry/v1/7");
        assert_eq!(d.path_prefix, "/sentry/v1");
        assert_eq!(d.port, None);
        assert_eq!(d.project_id, 7);
        assert_eq!(
            d.to_string(),
            "https://3f2a9c@errors.example.com/sentry/v1/7"
        );
        assert_eq!(
            d.envelope_url(),
            "https://errors.example.com/sentry/v1/api/7/envelope/"
        );
    }

    #[test]
    fn secret_is_accepted_and_dropped() {
        let d = dsn("https://public:secret@ERRORS.example.com:443/1");
        assert_eq!(d.public_key, "public");
        assert_eq!(d.host, "errors.example.com");
        assert_eq!(d.port, None);
        assert_eq!(d.to_string(), "https://public@errors.example.com/1");
        assert!(!format!("{d:?}").contains("secret"));
    }

    #[test]
    fn round_trips() {
        for s in [
            "http://publickey@127.0.0.1:9000/42",
            "https://k_-9@[::1]:8443/a/b/123",
            "http://k@localhost/0",
        ] {
            let d = dsn(s);
            assert_eq!(d.to_string(), s);
            assert_eq!(dsn(&d.to_string()), d);
        }
    }

    #[test]
    fn errors() {
        let err = |s: &str| s.parse::<Dsn>().unwrap_err();
        assert_eq!(
            err("http://k@host/abc"),
            ParseDsnError::InvalidProjectId("abc".into())
        );
        assert_eq!(
            err("http://k@host/-1"),
            ParseDsnError::InvalidProjectId("-1".into())
        );
        assert_eq!(err("http://k@host/42/"), ParseDsnError::MissingProjectId);
        assert_eq!(err("http://k@host/"), ParseDsnError::MissingProjectId);
        assert_eq!(err("http://host/42"), ParseDsnError::MissingPublicKey);
        assert_eq!(err("http://a%20b@host/42"), ParseDsnError::InvalidPublicKey);
        assert_eq!(
            err("ftp://k@host/42"),
            ParseDsnError::UnsupportedScheme("ftp".into())
        );
        assert!(matches!(err("not a dsn"), ParseDsnError::InvalidUrl(_)));
        assert_eq!(
            err("http://k@host/99999999999999999999"),
            ParseDsnError::InvalidProjectId("99999999999999999999".into())
        );
    }
}
