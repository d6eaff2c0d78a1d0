//! Request authentication data: which public key an SDK request claims (sentry-protocol.md 2.1).
//!
//! The key can travel in four places of the HTTP request, checked in Relay's order:
//!
//! 1. `X-Sentry-Auth: Sentry sentry_key=<key>, sentry_version=7, sentry_client=<sdk>/<ver>, …`
//! 2. `Authorization: Sentry sentry_key=<key>, …` (same grammar)
//! 3. `Authorization: Basic base64(<key>:)` (the password part is ignored)
//! 4. the query string: `?sentry_key=<key>&sentry_version=7&sentry_client=<sdk>%2F<ver>`
//!
//! The first source found wins; several sources are fine as long as they name the same key
//! (Relay would answer 401 for any repetition, Bugsink takes the first; we follow the spec's
//! middle ground). The fifth source, the envelope header `dsn`, is the envelope endpoint's
//! business (see [`super::dsn`]). Whether the key exists is the store's business; this module
//! only extracts and checks its shape.

use std::fmt;

use axum::http::HeaderMap;
use base64::Engine as _;

/// Highest `sentry_version` this server implements (sentry-protocol.md 2.1).
pub const MAX_PROTOCOL_VERSION: u32 = 7;

/// Credentials extracted from a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Auth {
    /// `sentry_key`: the project key, `[A-Za-z0-9_-]{1,64}`.
    pub public_key: String,
    /// `sentry_version` as sent (`"7"`, raven `"6"`); `None` when absent (Basic auth, old SDKs).
    pub version: Option<String>,
    /// `sentry_client`, e.g. `sentry.python/2.75.0`; informational (quirk detection).
    pub client: Option<String>,
}

/// Where credentials were found, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthSource {
    /// The `X-Sentry-Auth` header.
    XSentryAuth,
    /// `Authorization: Sentry …`.
    AuthorizationSentry,
    /// `Authorization: Basic …`.
    AuthorizationBasic,
    /// The `sentry_key` query parameter.
    Query,
}

impl fmt::Display for AuthSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthSource::XSentryAuth => "the X-Sentry-Auth header",
            AuthSource::AuthorizationSentry => "the Authorization header (Sentry scheme)",
            AuthSource::AuthorizationBasic => "the Authorization header (Basic scheme)",
            AuthSource::Query => "the query string",
        })
    }
}

/// Why a request's credentials are unusable.
///
/// Status mapping (sentry-protocol.md 2.1, 3.3): `Conflict` and `Malformed` → 401,
/// `UnsupportedVersion` → 400. No credentials at all is `Ok(None)`, which the caller turns into 401.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// Two sources name different keys.
    #[error("conflicting sentry keys in {first} and {second}")]
    Conflict {
        /// The source that would have won.
        first: AuthSource,
        /// The source that disagrees with it.
        second: AuthSource,
    },
    /// A source is present but cannot be parsed, or its key has the wrong shape.
    #[error("malformed authentication: {0}")]
    Malformed(String),
    /// `sentry_version` is newer than [`MAX_PROTOCOL_VERSION`].
    #[error("unsupported sentry_version {0}: this server implements up to version 7")]
    UnsupportedVersion(String),
}

/// Extracts the credentials of a request from its headers and raw (still URL-encoded) query.
///
/// Returns `Ok(None)` when no source is present. Every present source is parsed and checked, so
/// a malformed one is an error even if an earlier source was fine; a header whose scheme is
/// neither `Sentry` nor `Basic` (e.g. `Authorization: Bearer …`) is not a source.
pub fn from_request_parts(
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Option<Auth>, AuthError> {
    let mut found: Vec<(AuthSource, Auth)> = Vec::new();

    if let Some(value) = headers.get("x-sentry-auth") {
        let value = header_str(value, AuthSource::XSentryAuth)?;
        // Accept the value with or without the `Sentry ` prefix: the header name already says
        // what it is, and some old clients omit it.
        let pairs = strip_scheme(value, "sentry").unwrap_or(value);
        found.push((
            AuthSource::XSentryAuth,
            parse_pairs(pairs, AuthSource::XSentryAuth)?,
        ));
    }

    if let Some(value) = headers.get(axum::http::header::AUTHORIZATION) {
        let value = header_str(value, AuthSource::AuthorizationSentry)?;
        if let Some(pairs) = strip_scheme(value, "sentry") {
            found.push((
                AuthSource::AuthorizationSentry,
                parse_pairs(pairs, AuthSource::AuthorizationSentry)?,
            ));
        } else if let Some(token) = strip_scheme(value, "basic") {
            found.push((AuthSource::AuthorizationBasic, parse_basic(token)?));
        }
    }

    if let Some(query) = query {
        if let Some(auth) = parse_query(query)? {
            found.push((AuthSource::Query, auth));
        }
    }

    let mut found = found.into_iter();
    let Some((first_source, first)) = found.next() else {
        return Ok(None);
    };
    if let Some((second, _)) = found.find(|(_, other)| other.public_key != first.public_key) {
        return Err(AuthError::Conflict {
            first: first_source,
            second,
        });
    }
    Ok(Some(first))
}

fn header_str(value: &axum::http::HeaderValue, source: AuthSource) -> Result<&str, AuthError> {
    value
        .to_str()
        .map_err(|_| AuthError::Malformed(format!("{source} is not visible ASCII")))
}

/// Strips a case-insensitive auth scheme followed by whitespace; `None` if the scheme differs.
fn strip_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let value = value.trim_start();
    let head = value.get(..scheme.len())?;
    let rest = &value[scheme.len()..];
    if head.eq_ignore_ascii_case(scheme) && rest.starts_with([' ', '\t']) {
        Some(rest.trim_start())
    } else {
        None
    }
}

/// Parses `name=value, name=value` (sentry-protocol.md 2.1 header grammar).
fn parse_pairs(pairs: &str, source: AuthSource) -> Result<Auth, AuthError> {
    let pairs = pairs.split(',').filter_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        Some((name.trim().to_owned(), value.trim().to_owned()))
    });
    build(pairs, source)?.ok_or_else(|| AuthError::Malformed(format!("{source} has no sentry_key")))
}

/// Parses the query string; `Ok(None)` when it carries no `sentry_key`.
fn parse_query(query: &str) -> Result<Option<Auth>, AuthError> {
    let pairs = url::form_urlencoded::parse(query.trim_start_matches('?').as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()));
    build(pairs, AuthSource::Query)
}

/// Builds an [`Auth`] from decoded `sentry_*` pairs (first occurrence of each wins);
/// `Ok(None)` when there is no `sentry_key`.
fn build(
    pairs: impl Iterator<Item = (String, String)>,
    source: AuthSource,
) -> Result<Option<Auth>, AuthError> {
    let (mut key, mut version, mut client) = (None, None, None);
    for (name, value) in pairs {
        let slot = match name.as_str() {
            "sentry_key" => &mut key,
            "sentry_version" => &mut version,
            "sentry_client" => &mut client,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(value);
        }
    }
    let Some(key) = key else {
        return Ok(None);
    };
    check_key(&key, source)?;
    if let Some(v) = &version {
        check_version(v, source)?;
    }
    Ok(Some(Auth {
        public_key: key,
        version,
        client: client.filter(|c| !c.is_empty()),
    }))
}

/// `Basic base64(<key>:<ignored>)`.
fn parse_basic(token: &str) -> Result<Auth, AuthError> {
    let source = AuthSource::AuthorizationBasic;
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let decoded = engine
        .decode(token.trim())
        .map_err(|e| AuthError::Malformed(format!("{source} is not base64: {e}")))?;
    let decoded = String::from_utf8(decoded)
        .map_err(|_| AuthError::Malformed(format!("{source} is not UTF-8")))?;
    let key = decoded.split_once(':').map_or(decoded.as_str(), |(k, _)| k);
    check_key(key, source)?;
    Ok(Auth {
        public_key: key.to_owned(),
        version: None,
        client: None,
    })
}

/// Keys are `[A-Za-z0-9_-]{1,64}` (sentry-protocol.md 1).
fn check_key(key: &str, source: AuthSource) -> Result<(), AuthError> {
    let ok = (1..=64).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        let shown: String = key.chars().take(70).collect();
        Err(AuthError::Malformed(format!(
            "sentry_key {shown:?} in {source} is not 1-64 characters of [A-Za-z0-9_-]"
        )))
    }
}

/// Versions are integers (a `.0` suffix is tolerated); anything up to 7 is accepted.
fn check_version(version: &str, source: AuthSource) -> Result<(), AuthError> {
    let whole = version.strip_suffix(".0").unwrap_or(version);
    match whole.parse::<u32>() {
        Ok(v) if v <= MAX_PROTOCOL_VERSION => Ok(()),
        Ok(_) => Err(AuthError::UnsupportedVersion(version.to_owned())),
        Err(_) => {
            let shown: String = version.chars().take(20).collect();
            Err(AuthError::Malformed(format!(
                "sentry_version {shown:?} in {source} is not a number"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn auth(key: &str, version: Option<&str>, client: Option<&str>) -> Auth {
        Auth {
            public_key: key.into(),
            version: version.map(Into::into),
            client: client.map(Into::into),
        }
    }

    const PYTHON: &str =
        "Sentry sentry_key=publickey, sentry_version=7, sentry_client=sentry.python/2.75.0";

    #[test]
    fn none_when_absent() {
        assert_eq!(from_request_parts(&HeaderMap::new(), None), Ok(None));
        assert_eq!(
            from_request_parts(&headers(&[("authorization", "Bearer abc")]), Some("a=b")),
            Ok(None)
        );
    }

    #[test]
    fn x_sentry_auth() {
        let got = from_request_parts(&headers(&[("x-sentry-auth", PYTHON)]), None).unwrap();
        assert_eq!(
            got,
            Some(auth("publickey", Some("7"), Some("sentry.python/2.75.0")))
        );
        // raven: version 6, timestamp and secret, no space trimming issues, lowercase scheme.
        let raven = "sentry sentry_timestamp=1700000000.1,sentry_client=raven-python/6.10.0,\
                     sentry_version=6 ,sentry_key=abc123,  sentry_secret=s3cr3t, unknown=x";
        let got = from_request_parts(&headers(&[("x-sentry-auth", raven)]), None).unwrap();
        assert_eq!(
            got,
            Some(auth("abc123", Some("6"), Some("raven-python/6.10.0")))
        );
        // Without the scheme prefix.
        let got = from_request_parts(&headers(&[("x-sentry-auth", "sentry_key=k")]), None).unwrap();
        assert_eq!(got, Some(auth("k", None, None)));
    }

    #[test]
    fn authorization_sentry() {
        let got = from_request_parts(&headers(&[("authorization", PYTHON)]), None).unwrap();
        assert_eq!(got.unwrap().public_key, "publickey");
    }

    #[test]
    fn authorization_basic() {
        use base64::engine::general_purpose::STANDARD;
        let token = STANDARD.encode("publickey:");
        let got = from_request_parts(
            &headers(&[("authorization", &format!("Basic {token}"))]),
            None,
        )
        .unwrap();
        assert_eq!(got, Some(auth("publickey", None, None)));
        // Password ignored; unpadded base64 accepted.
        let token = STANDARD
            .encode("k_1:whatever")
            .trim_end_matches('=')
            .to_owned();
        let got = from_request_parts(
            &headers(&[("authorization", &format!("basic {token}"))]),
            None,
        )
        .unwrap();
        assert_eq!(got.unwrap().public_key, "k_1");
        let err = from_request_parts(&headers(&[("authorization", "Basic !!!")]), None);
        assert!(matches!(err, Err(AuthError::Malformed(_))));
    }

    #[test]
    fn query_string_with_url_encoding() {
        let got = from_request_parts(
            &HeaderMap::new(),
            Some("sentry_key=abc-DEF_9&sentry_version=7&sentry_client=sentry.javascript.node%2F11.12.0"),
        )
        .unwrap();
        assert_eq!(
            got,
            Some(auth(
                "abc-DEF_9",
                Some("7"),
                Some("sentry.javascript.node/11.12.0")
            ))
        );
        // Percent-encoded key characters decode before validation; leading '?' tolerated.
        let got = from_request_parts(&HeaderMap::new(), Some("?foo=1&sentry_%6Bey=a%2Db")).unwrap();
        assert_eq!(got.unwrap().public_key, "a-b");
        // No sentry_key: not a source.
        assert_eq!(
            from_request_parts(&HeaderMap::new(), Some("sentry_version=7")),
            Ok(None)
        );
    }

    #[test]
    fn first_source_wins_when_keys_agree() {
        let h = headers(&[
            ("x-sentry-auth", PYTHON),
            (
                "authorization",
                "Sentry sentry_key=publickey, sentry_version=6",
            ),
        ]);
        let got = from_request_parts(&h, Some("sentry_key=publickey")).unwrap();
        assert_eq!(got.unwrap().version.as_deref(), Some("7"));
    }

    #[test]
    fn different_keys_conflict() {
        let err = from_request_parts(
            &headers(&[("x-sentry-auth", PYTHON)]),
            Some("sentry_key=other"),
        )
        .unwrap_err();
        assert_eq!(
            err,
            AuthError::Conflict {
                first: AuthSource::XSentryAuth,
                second: AuthSource::Query
            }
        );
        assert_eq!(
            err.to_string(),
            "conflicting sentry keys in the X-Sentry-Auth header and the query string"
        );
    }

    #[test]
    fn malformed() {
        for value in [
            "Sentry sentry_version=7",
            "Sentry sentry_key=",
            "Sentry sentry_key=has space",
            "Sentry sentry_key=a/b",
            "Sentry sentry_key=k, sentry_version=seven",
        ] {
            let got = from_request_parts(&headers(&[("x-sentry-auth", value)]), None);
            assert!(
                matches!(got, Err(AuthError::Malformed(_))),
                "{value}: {got:?}"
            );
        }
        let long = "k".repeat(65);
        let got = from_request_parts(
            &HeaderMap::new(),
            Some(format!("sentry_key={long}").as_str()),
        );
        assert!(matches!(got, Err(AuthError::Malformed(_))));
        let ok = "k".repeat(64);
        assert!(
            from_request_parts(&HeaderMap::new(), Some(format!("sentry_key={ok}").as_str()))
                .is_ok()
        );
        // Non-ASCII header bytes.
        let mut h = HeaderMap::new();
        h.insert(
            "x-sentry-auth",
            HeaderValue::from_bytes(b"Sentry sentry_key=\xff").unwrap(),
        );
        assert!(matches!(
            from_request_parts(&h, None),
            Err(AuthError::Malformed(_))
        ));
    }

    #[test]
    fn versions() {
        for v in ["6", "7", "5", "7.0"] {
            let value = format!("Sentry sentry_key=k, sentry_version={v}");
            assert!(
                from_request_parts(&headers(&[("x-sentry-auth", &value)]), None).is_ok(),
                "{v}"
            );
        }
        let got = from_request_parts(
            &headers(&[("x-sentry-auth", "Sentry sentry_key=k, sentry_version=8")]),
            None,
        );
        assert_eq!(got, Err(AuthError::UnsupportedVersion("8".into())));
    }
}
