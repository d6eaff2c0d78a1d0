//! An uptime check's configuration and its validation: one rule for the API, the command
//! line and the pages. Fields and defaults (issue #16):
//!
//! | field | default | rule |
//! | --- | --- | --- |
//! | `url` | required | `http://` or `https://` with a host, at most 2048 bytes, not a refused target ([`crate::outbound`]) |
//! | `name` | the URL | at most 200 characters |
//! | `method` | `GET` | `GET`, `HEAD` or `POST` |
//! | `headers` | none | object of name → value (or list of `[name, value]`), at most 20, valid HTTP |
//! | `body` | none | POST only, at most 64 KiB |
//! | `interval_seconds` | 60 | 10 to 86400 |
//! | `timeout_seconds` | 10 | 1 to 60, and less than the interval |
//! | `expected_status` | `200-399` (2xx/3xx) | codes and ranges: `200`, `200,204`, `200-299`, `2xx` |
//! | `keyword` | none | text the body must contain (not with HEAD), at most 1000 characters |
//! | `keyword_absent` | false | the body must *not* contain the keyword |
//! | `follow_redirects` | true | each hop is checked against the target rule |
//! | `verify_tls` | true | false accepts any certificate (self-signed) |
//! | `failure_threshold` | 2 | failures in a row before *down*, 1 to 100 |
//! | `recovery_threshold` | 1 | successes in a row before *up*, 1 to 100 |
//! | `cert_warning_days` | 14 | warn this many days before the certificate expires, 0 = never, at most 365 |
//! | `is_public` | false | shown on the project's public status page |
//! | `is_paused` | false | paused checks make no requests |

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

/// Longest URL, bytes.
pub const MAX_URL_LEN: usize = 2048;
/// Longest request body, bytes.
pub const MAX_BODY_LEN: usize = 64 * 1024;
/// Most request headers.
pub const MAX_HEADERS: usize = 20;

/// The request method of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Method {
    /// `GET`.
    #[serde(rename = "GET")]
    Get,
    /// `HEAD`: no body is read, so no keyword.
    #[serde(rename = "HEAD")]
    Head,
    /// `POST` with the check's body.
    #[serde(rename = "POST")]
    Post,
}

impl Method {
    /// Every method.
    pub const ALL: [Method; 3] = [Method::Get, Method::Head, Method::Post];

    /// `GET`, `HEAD`, `POST`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
        }
    }
}

/// Status codes that count as up: a list of inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedStatus(Vec<(u16, u16)>);

impl Default for ExpectedStatus {
    /// 2xx and 3xx.
    fn default() -> Self {
        ExpectedStatus(vec![(200, 399)])
    }
}

impl ExpectedStatus {
    /// Parses `200`, `200,204`, `200-299`, `2xx` (comma-separated, spaces allowed).
    pub fn parse(s: &str) -> Result<ExpectedStatus, String> {
        let code = |p: &str| -> Result<u16, String> {
            p.trim()
                .parse::<u16>()
                .ok()
                .filter(|c| (100..=599).contains(c))
                .ok_or_else(|| format!("{:?} is not a status code (100 to 599)", p.trim()))
        };
        let mut ranges = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let lower = part.to_ascii_lowercase();
            let range = if let Some(first) = lower.strip_suffix("xx") {
                let c = code(&format!("{first}00"))?;
                (c, c + 99)
            } else if let Some((a, b)) = part.split_once('-') {
                let (a, b) = (code(a)?, code(b)?);
                if a > b {
                    return Err(format!("the range {part:?} is empty"));
                }
                (a, b)
            } else {
                let c = code(part)?;
                (c, c)
            };
            ranges.push(range);
        }
        if ranges.is_empty() {
            return Err("no status codes given".into());
        }
        Ok(ExpectedStatus(ranges))
    }

    /// True when `code` is expected.
    pub fn matches(&self, code: u16) -> bool {
        self.0.iter().any(|&(a, b)| (a..=b).contains(&code))
    }
}

impl fmt::Display for ExpectedStatus {
    /// `200-399`, `200,204`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(a, b)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if a == b {
                write!(f, "{a}")?;
            } else {
                write!(f, "{a}-{b}")?;
            }
        }
        Ok(())
    }
}

impl Serialize for ExpectedStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What a check requests and what counts as up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckConfig {
    /// Display name.
    pub name: String,
    /// The URL.
    pub url: String,
    /// Request method.
    pub method: Method,
    /// Request headers, in order.
    pub headers: Vec<(String, String)>,
    /// Request body (POST).
    pub body: Option<String>,
    /// Seconds between checks.
    pub interval_seconds: i64,
    /// Seconds before a check times out.
    pub timeout_seconds: i64,
    /// Status codes that count as up.
    pub expected_status: ExpectedStatus,
    /// Text the body must (or must not) contain.
    pub keyword: Option<String>,
    /// True: the body must not contain the keyword.
    pub keyword_absent: bool,
    /// Follow 3xx answers (each hop checked against the target rule).
    pub follow_redirects: bool,
    /// Verify the TLS certificate.
    pub verify_tls: bool,
    /// Failures in a row before down.
    pub failure_threshold: i64,
    /// Successes in a row before up.
    pub recovery_threshold: i64,
    /// Days before the certificate's expiry to warn; 0 never.
    pub cert_warning_days: i64,
    /// Shown on the public status page.
    pub is_public: bool,
}

impl CheckConfig {
    /// The defaults for `url`.
    pub fn for_url(url: &str) -> CheckConfig {
        CheckConfig {
            name: url.to_owned(),
            url: url.to_owned(),
            method: Method::Get,
            headers: Vec::new(),
            body: None,
            interval_seconds: 60,
            timeout_seconds: 10,
            expected_status: ExpectedStatus::default(),
            keyword: None,
            keyword_absent: false,
            follow_redirects: true,
            verify_tls: true,
            failure_threshold: 2,
            recovery_threshold: 1,
            cert_warning_days: 14,
            is_public: false,
        }
    }
}

/// A field that is not valid; the message names it and says what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The field's name.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

fn bad(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

/// The field names [`apply`] reads (anything else is refused, so typos are not lost).
pub const FIELDS: [&str; 17] = [
    "url",
    "name",
    "method",
    "headers",
    "body",
    "interval_seconds",
    "timeout_seconds",
    "expected_status",
    "keyword",
    "keyword_absent",
    "follow_redirects",
    "verify_tls",
    "failure_threshold",
    "recovery_threshold",
    "cert_warning_days",
    "is_public",
    "is_paused",
];

fn int(
    fields: &Map<String, Value>,
    field: &'static str,
    min: i64,
    max: i64,
) -> Result<Option<i64>, FieldError> {
    match fields.get(field) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .filter(|n| (min..=max).contains(n))
            .map(Some)
            .ok_or_else(|| bad(field, format!("must be a whole number from {min} to {max}"))),
    }
}

fn boolean(fields: &Map<String, Value>, field: &'static str) -> Result<Option<bool>, FieldError> {
    match fields.get(field) {
        None => Ok(None),
        Some(v) => v
            .as_bool()
            .map(Some)
            .ok_or_else(|| bad(field, "must be true or false")),
    }
}

/// A string field: `Some(None)` for null or empty (cleared), `None` when absent.
fn text(
    fields: &Map<String, Value>,
    field: &'static str,
    max: usize,
) -> Result<Option<Option<String>>, FieldError> {
    match fields.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) if s.is_empty() => Ok(Some(None)),
        Some(Value::String(s)) if s.len() > max => {
            Err(bad(field, format!("is longer than {max} bytes")))
        }
        Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(_) => Err(bad(field, "must be a string")),
    }
}

fn headers(v: &Value) -> Result<Vec<(String, String)>, FieldError> {
    let pairs: Vec<(String, String)> = match v {
        Value::Null => Vec::new(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(bad(
                    "headers",
                    format!("the value of {k:?} must be a string"),
                )),
            })
            .collect::<Result<_, _>>()?,
        Value::Array(list) => list
            .iter()
            .map(|pair| match pair.as_array().map(Vec::as_slice) {
                Some([Value::String(k), Value::String(v)]) => Ok((k.clone(), v.clone())),
                _ => Err(bad(
                    "headers",
                    "each header must be a [name, value] pair of strings",
                )),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(bad("headers", "must be an object of name → value")),
    };
    if pairs.len() > MAX_HEADERS {
        return Err(bad("headers", format!("at most {MAX_HEADERS} headers")));
    }
    for (name, value) in &pairs {
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(bad(
                "headers",
                format!("{name:?} is not a valid header name"),
            ));
        }
        if reqwest::header::HeaderValue::from_str(value).is_err() {
            return Err(bad(
                "headers",
                format!("the value of {name:?} is not a valid header value"),
            ));
        }
        if name.eq_ignore_ascii_case("host") {
            return Err(bad("headers", "the Host header comes from the URL"));
        }
    }
    Ok(pairs)
}

/// Applies the fields present in `fields` onto `config` (and returns the pause flag when
/// given), then checks the whole: unknown fields, types, ranges, and the rules between
/// fields (timeout below interval, a body only with POST, no keyword with HEAD). The URL's
/// target rule is [`super::manage`]'s (it needs DNS).
pub fn apply(
    config: &mut CheckConfig,
    fields: &Map<String, Value>,
) -> Result<Option<bool>, FieldError> {
    if let Some(unknown) = fields.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(FieldError {
            field: "body",
            message: format!("unknown field {unknown:?} (known: {})", FIELDS.join(", ")),
        });
    }
    if let Some(url) = text(fields, "url", MAX_URL_LEN)? {
        let url = url.ok_or_else(|| bad("url", "is required"))?;
        let parsed = url::Url::parse(url.trim()).map_err(|e| {
            bad(
                "url",
                format!("is not a URL ({e}): give the whole https://… address"),
            )
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(bad(
                "url",
                "must start with http:// or https:// and name a host",
            ));
        }
        if config.name == config.url {
            config.name = parsed.to_string();
        }
        config.url = parsed.to_string();
    }
    if let Some(name) = text(fields, "name", 200)? {
        config.name = name.unwrap_or_else(|| config.url.clone());
    }
    if let Some(m) = fields.get("method") {
        let s = m.as_str().unwrap_or_default().to_ascii_uppercase();
        config.method = Method::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| bad("method", "must be GET, HEAD or POST"))?;
    }
    if let Some(v) = fields.get("headers") {
        config.headers = headers(v)?;
    }
    if let Some(body) = text(fields, "body", MAX_BODY_LEN)? {
        config.body = body;
    }
    if let Some(v) = int(fields, "interval_seconds", 10, 86_400)? {
        config.interval_seconds = v;
    }
    if let Some(v) = int(fields, "timeout_seconds", 1, 60)? {
        config.timeout_seconds = v;
    }
    if let Some(v) = fields.get("expected_status") {
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Array(list) => list
                .iter()
                .map(|x| match x {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(","),
            _ => String::new(),
        };
        config.expected_status =
            ExpectedStatus::parse(&s).map_err(|e| bad("expected_status", e))?;
    }
    if let Some(k) = text(fields, "keyword", 1000)? {
        config.keyword = k;
    }
    if let Some(v) = boolean(fields, "keyword_absent")? {
        config.keyword_absent = v;
    }
    if let Some(v) = boolean(fields, "follow_redirects")? {
        config.follow_redirects = v;
    }
    if let Some(v) = boolean(fields, "verify_tls")? {
        config.verify_tls = v;
    }
    if let Some(v) = int(fields, "failure_threshold", 1, 100)? {
        config.failure_threshold = v;
    }
    if let Some(v) = int(fields, "recovery_threshold", 1, 100)? {
        config.recovery_threshold = v;
    }
    if let Some(v) = int(fields, "cert_warning_days", 0, 365)? {
        config.cert_warning_days = v;
    }
    if let Some(v) = boolean(fields, "is_public")? {
        config.is_public = v;
    }
    if config.timeout_seconds >= config.interval_seconds {
        return Err(bad(
            "timeout_seconds",
            format!(
                "must be less than the interval ({} s)",
                config.interval_seconds
            ),
        ));
    }
    if config.body.is_some() && config.method != Method::Post {
        return Err(bad("body", "only a POST check sends a body"));
    }
    if config.keyword.is_some() && config.method == Method::Head {
        return Err(bad(
            "keyword",
            "a HEAD check reads no body to look for it in",
        ));
    }
    boolean(fields, "is_paused")
}

/// A duration as the command line takes it: `60`, `60s`, `5m`, `1h`, `1d` → seconds.
pub fn parse_seconds(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 30s, 5m or 1h"))?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{s:?} is not a duration like 30s, 5m or 1h")),
    };
    Ok(n.saturating_mul(unit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn expected_status_reads_codes_ranges_and_classes() {
        let e = ExpectedStatus::parse("200, 204,300-302, 5xx").unwrap();
        for ok in [200, 204, 301, 503] {
            assert!(e.matches(ok), "{ok}");
        }
        for no in [201, 303, 404] {
            assert!(!e.matches(no), "{no}");
        }
        assert_eq!(e.to_string(), "200,204,300-302,500-599");
        assert_eq!(ExpectedStatus::default().to_string(), "200-399");
        for bad in ["", "abc", "300-200", "99", "600", "7xx"] {
            assert!(ExpectedStatus::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fields_apply_with_defaults_and_rules() {
        let mut c = CheckConfig::for_url("");
        apply(
            &mut c,
            &fields(json!({"url": "https://shop.example.com/healthz"})),
        )
        .unwrap();
        assert_eq!(c.name, "https://shop.example.com/healthz");
        assert_eq!((c.interval_seconds, c.timeout_seconds), (60, 10));
        assert_eq!((c.failure_threshold, c.recovery_threshold), (2, 1));
        assert_eq!(c.cert_warning_days, 14);
        let paused = apply(
            &mut c,
            &fields(
                json!({"method": "post", "body": "{}", "headers": {"X-Token": "a"},
                           "expected_status": [200, "204"], "is_paused": true}),
            ),
        )
        .unwrap();
        assert_eq!(paused, Some(true));
        assert_eq!(c.method, Method::Post);
        assert_eq!(c.expected_status.to_string(), "200,204");
        for (input, field) in [
            (json!({"interval_seconds": 5}), "interval_seconds"),
            (json!({"timeout_seconds": 61}), "timeout_seconds"),
            (
                json!({"interval_seconds": 10, "timeout_seconds": 10}),
                "timeout_seconds",
            ),
            (json!({"url": "ftp://x/"}), "url"),
            (json!({"url": "not a url"}), "url"),
            (json!({"method": "GET"}), "body"),
            (
                json!({"method": "HEAD", "body": null, "keyword": "ok"}),
                "keyword",
            ),
            (json!({"headers": {"bad header": "x"}}), "headers"),
            (json!({"intervall": 60}), "body"),
            (json!({"failure_threshold": 0}), "failure_threshold"),
        ] {
            let mut copy = c.clone();
            let err = apply(&mut copy, &fields(input.clone())).expect_err(&input.to_string());
            assert_eq!(err.field, field, "{input}: {err}");
        }
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_seconds("60"), Ok(60));
        assert_eq!(parse_seconds("30s"), Ok(30));
        assert_eq!(parse_seconds("5m"), Ok(300));
        assert_eq!(parse_seconds("1d"), Ok(86_400));
        assert!(parse_seconds("5 minutes").is_err());
    }
}
