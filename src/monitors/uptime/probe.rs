//! One check: the request, its redirects, the verdict and the certificate.
//!
//! Redirects are followed here, not by reqwest (whose client follows none), so that every
//! hop's URL is checked against the target rule before it is requested ([`outbound::check_url`]
//! for IP literals and `localhost`; the client's resolver for what names resolve to), at most
//! [`MAX_REDIRECTS`] hops, within the one timeout of the check. A `POST` answered by 301, 302
//! or 303 goes on as a `GET` without its body, as browsers do; 307 and 308 keep both.
//!
//! Each request opens a fresh connection (no pool): the response time then includes DNS,
//! connecting and the TLS handshake, as a visitor's first request would, and each `https`
//! response carries the server's certificate, whose expiry the check reads.
//!
//! The verdict, in order: the request failed ([`ErrorClass`] from the error's causes:
//! timeout, DNS, connection, TLS, refused target); the final status is not expected; the
//! keyword is missing (or present, for `keyword_absent`; the first [`MAX_BODY`] bytes of the
//! body are searched). Otherwise the check is up.

use std::error::Error as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use x509_cert::der::Decode;

use super::config::{CheckConfig, Method};
use super::ErrorClass;
use crate::outbound::{self, DnsError, GuardedResolver, TargetError, TargetPolicy};

/// Most redirects followed.
pub const MAX_REDIRECTS: usize = 10;
/// Most body bytes read (and searched for the keyword).
pub const MAX_BODY: usize = 1024 * 1024;

/// A certificate a response came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// SHA-256 of the DER, hex.
    pub sha256: String,
    /// The subject (`CN=shop.example.com`).
    pub subject: String,
    /// Expiry, epoch ms.
    pub not_after_ms: i64,
}

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Status of the final response, if one came.
    pub status_code: Option<u16>,
    /// Time until the body was read or the request failed, ms.
    pub response_ms: i64,
    /// The failure: its class and what happened in words; `None` when up.
    pub error: Option<(ErrorClass, String)>,
    /// The certificate of the first `https` response, if any.
    pub certificate: Option<CertInfo>,
}

impl Outcome {
    /// True when the check is up.
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

/// Makes the requests of checks: two clients (certificates verified, or any accepted), both
/// under the target rule, following no redirects, using no proxy and no connection pool.
#[derive(Debug, Clone)]
pub struct Prober {
    verified: reqwest::Client,
    unverified: reqwest::Client,
    policy: TargetPolicy,
}

impl Prober {
    /// The clients under `policy`. Errors when the TLS backend cannot be initialised.
    pub fn new(policy: TargetPolicy) -> Result<Prober, reqwest::Error> {
        let build = |verify: bool| {
            reqwest::Client::builder()
                .user_agent(concat!("errata-uptime/", env!("CARGO_PKG_VERSION")))
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .pool_max_idle_per_host(0)
                .tls_info(true)
                .danger_accept_invalid_certs(!verify)
                .dns_resolver(Arc::new(GuardedResolver::new(policy)))
                .build()
        };
        Ok(Prober {
            verified: build(true)?,
            unverified: build(false)?,
            policy,
        })
    }

    /// Runs the check `c` once (see the module docs). Never fails: every failure is an
    /// [`Outcome`] with its class.
    pub async fn probe(&self, c: &CheckConfig) -> Outcome {
        let started = Instant::now();
        let limit = Duration::from_secs(u64::try_from(c.timeout_seconds.max(1)).unwrap_or(10));
        let mut certificate = None;
        let elapsed_ms = || i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let fail = |class, reason: String, status_code, certificate| Outcome {
            status_code,
            response_ms: elapsed_ms(),
            error: Some((class, reason)),
            certificate,
        };
        let mut url = match url::Url::parse(&c.url) {
            Ok(u) => u,
            Err(e) => return fail(ErrorClass::Other, format!("invalid URL: {e}"), None, None),
        };
        let mut method = c.method;
        let client = if c.verify_tls {
            &self.verified
        } else {
            &self.unverified
        };
        for hop in 0..=MAX_REDIRECTS {
            if let Err(e) = outbound::check_url(&url, &self.policy) {
                let reason = if hop == 0 {
                    e.to_string()
                } else {
                    format!("redirect to {url} refused: {e}")
                };
                return fail(ErrorClass::Refused, reason, None, certificate);
            }
            let remaining = limit.saturating_sub(started.elapsed());
            if remaining.is_zero() {
                return fail(ErrorClass::Timeout, timed_out(c), None, certificate);
            }
            let mut req = client
                .request(http_method(method), url.clone())
                .timeout(remaining);
            for (name, value) in &c.headers {
                req = req.header(name.as_str(), value.as_str());
            }
            if method == Method::Post {
                if let Some(body) = &c.body {
                    req = req.body(body.clone());
                }
            }
            let res = match req.send().await {
                Ok(res) => res,
                Err(e) => {
                    let (class, reason) = classify(&e, c);
                    let reason = if hop == 0 {
                        reason
                    } else {
                        format!("{reason} (after a redirect to {url})")
                    };
                    return fail(class, reason, None, certificate);
                }
            };
            if certificate.is_none() {
                certificate = res
                    .extensions()
                    .get::<reqwest::tls::TlsInfo>()
                    .and_then(|t| t.peer_certificate())
                    .and_then(read_certificate);
            }
            let status = res.status();
            let location = res
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            if let (true, true, Some(location)) =
                (status.is_redirection(), c.follow_redirects, location)
            {
                url = match url.join(&location) {
                    Ok(next) => next,
                    Err(e) => {
                        return fail(
                            ErrorClass::Other,
                            format!("invalid redirect {location:?}: {e}"),
                            Some(status.as_u16()),
                            certificate,
                        )
                    }
                };
                if matches!(status.as_u16(), 301..=303) && method == Method::Post {
                    method = Method::Get;
                }
                continue;
            }
            return self.finish(c, res, started, certificate).await;
        }
        fail(
            ErrorClass::Other,
            format!("more than {MAX_REDIRECTS} redirects"),
            None,
            certificate,
        )
    }

    /// Reads the final response's body (up to [`MAX_BODY`]) and gives the verdict.
    async fn finish(
        &self,
        c: &CheckConfig,
        mut res: reqwest::Response,
        started: Instant,
        certificate: Option<CertInfo>,
    ) -> Outcome {
        let status = res.status();
        let code = status.as_u16();
        let mut body: Vec<u8> = Vec::new();
        let mut error = None;
        if c.method != Method::Head {
            loop {
                match res.chunk().await {
                    Ok(Some(chunk)) => {
                        let room = MAX_BODY.saturating_sub(body.len());
                        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                        if body.len() >= MAX_BODY {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        error = Some(classify(&e, c));
                        break;
                    }
                }
            }
        }
        let response_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let status_words = match status.canonical_reason() {
            Some(words) => format!("{code} {words}"),
            None => code.to_string(),
        };
        let error = error
            .or_else(|| {
                (!c.expected_status.matches(code))
                    .then(|| (ErrorClass::Status, status_words.clone()))
            })
            .or_else(|| {
                let keyword = c.keyword.as_deref()?;
                let found = String::from_utf8_lossy(&body).contains(keyword);
                match (found, c.keyword_absent) {
                    (false, false) => Some((
                        ErrorClass::Keyword,
                        format!("{status_words}, but the body does not contain {keyword:?}"),
                    )),
                    (true, true) => Some((
                        ErrorClass::Keyword,
                        format!("{status_words}, but the body contains {keyword:?}"),
                    )),
                    _ => None,
                }
            });
        Outcome {
            status_code: Some(code),
            response_ms,
            error,
            certificate,
        }
    }
}

fn http_method(m: Method) -> reqwest::Method {
    match m {
        Method::Get => reqwest::Method::GET,
        Method::Head => reqwest::Method::HEAD,
        Method::Post => reqwest::Method::POST,
    }
}

fn timed_out(c: &CheckConfig) -> String {
    format!(
        "no complete answer within {} s (timeout)",
        c.timeout_seconds
    )
}

/// The class of a failed request and what happened in words, from the error's causes.
fn classify(e: &reqwest::Error, c: &CheckConfig) -> (ErrorClass, String) {
    if e.is_timeout() {
        return (ErrorClass::Timeout, timed_out(c));
    }
    for err in causes(e) {
        if let Some(t) = err.downcast_ref::<TargetError>() {
            return (ErrorClass::Refused, t.to_string());
        }
        if let Some(d) = err.downcast_ref::<DnsError>() {
            return (ErrorClass::Dns, d.to_string());
        }
        if let Some(t) = err.downcast_ref::<rustls::Error>() {
            return (ErrorClass::Tls, format!("TLS handshake failed: {t}"));
        }
    }
    for err in causes(e) {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            match io.kind() {
                K::ConnectionRefused => {
                    return (ErrorClass::Connection, "connection refused".to_owned())
                }
                K::TimedOut => return (ErrorClass::Timeout, timed_out(c)),
                K::ConnectionReset
                | K::ConnectionAborted
                | K::BrokenPipe
                | K::UnexpectedEof
                | K::NotConnected
                | K::AddrNotAvailable => {
                    return (ErrorClass::Connection, format!("connection failed: {io}"))
                }
                _ => {}
            }
        }
    }
    // reqwest's own text carries the URL, which the result shows beside it already.
    let mut text = if e.is_body() || e.is_decode() {
        "the answer broke off".to_owned()
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    let class = if e.is_connect() {
        ErrorClass::Connection
    } else {
        ErrorClass::Other
    };
    (class, text)
}

/// Every cause of `e`, outermost first. An `io::Error` wrapping another error is looked into
/// ([`std::io::Error::get_ref`]): its own `source` skips the wrapped error, which is where
/// TLS and resolver failures are.
fn causes<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut out = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        if out.len() > 32 {
            break;
        }
        out.push(err);
        next = match err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    out
}

/// The SHA-256, subject and expiry of a DER certificate; `None` when it does not parse.
pub fn read_certificate(der: &[u8]) -> Option<CertInfo> {
    let cert = x509_cert::Certificate::from_der(der).ok()?;
    let not_after = cert.tbs_certificate.validity.not_after.to_unix_duration();
    Some(CertInfo {
        sha256: hex::encode(Sha256::digest(der)),
        subject: cert.tbs_certificate.subject.to_string(),
        not_after_ms: i64::try_from(not_after.as_millis()).ok()?,
    })
}
