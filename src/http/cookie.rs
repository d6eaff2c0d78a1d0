//! Cookies on the wire: reading one from the request's `Cookie` headers, and the attributes of
//! every cookie Errata sets (`Path=/; HttpOnly; SameSite=Lax`, plus `Secure` when the browser
//! talks https to us).

use axum::http::{header, HeaderMap, HeaderValue};

use crate::config::Config;

/// The value of cookie `name` in the request's `Cookie` headers (RFC 6265 §5.4: `name=value`
/// pairs separated by `;`); `None` when absent or empty.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// True when the browser talks https to us: the base URL says so, or a trusted proxy
/// (`trust_forwarded_for`) reports `X-Forwarded-Proto: https`.
pub fn behind_https(config: &Config, headers: &HeaderMap) -> bool {
    config.base_url().starts_with("https://")
        || (config.ingest.trust_forwarded_for
            && headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("https")))
}

/// A `Set-Cookie` value for `name=value` living `max_age_secs` seconds (0 deletes it):
/// HttpOnly so scripts cannot read it, SameSite=Lax so other sites' forms do not carry it,
/// Secure when [`behind_https`]. `value` must be cookie-safe (our values are hex).
pub fn set_cookie(
    config: &Config,
    headers: &HeaderMap,
    name: &str,
    value: &str,
    max_age_secs: u64,
) -> HeaderValue {
    let secure = if behind_https(config, headers) {
        "; Secure"
    } else {
        ""
    };
    let text =
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_name() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; errata_session=abc"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("b=2; e="));
        assert_eq!(cookie(&h, "errata_session"), Some("abc"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "c"), None);
        assert_eq!(cookie(&h, "e"), None, "empty is absent");
    }

    #[test]
    fn set_cookie_flags_follow_the_scheme() {
        let mut config = Config::default();
        let plain = HeaderMap::new();
        let v = set_cookie(&config, &plain, "n", "v", 60);
        assert_eq!(v, "n=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60");
        let mut proxied = HeaderMap::new();
        proxied.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(!behind_https(&config, &proxied), "untrusted proxy header");
        config.ingest.trust_forwarded_for = true;
        let v = set_cookie(&config, &proxied, "n", "", 0);
        assert!(v.to_str().unwrap().ends_with("Max-Age=0; Secure"), "{v:?}");
    }
}
