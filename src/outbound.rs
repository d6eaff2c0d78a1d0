//! Requests the server makes on a user's behalf (notification webhooks, uptime checks), and
//! the rule that keeps them off private networks.
//!
//! A user who may add a webhook URL must not be able to make the server call its own
//! loopback services, the LAN behind it or a cloud metadata endpoint (server-side request
//! forgery, OWASP's SSRF prevention cheat sheet). So by default a target is refused when it
//! is, or resolves to, a loopback, private, link-local, shared (CGNAT), unique-local,
//! multicast, documentation or otherwise reserved address (IANA's special-purpose address
//! registries, RFC 6890). Internal deployments and tests allow them with a setting
//! ([`TargetPolicy::allow_private`]). Cloud metadata endpoints (`169.254.169.254`,
//! `169.254.170.2`, `fd00:ec2::254`, `100.100.100.200`) are refused even then: no webhook or
//! uptime check has a reason to call them, and they hand out credentials ([`refusal`]).
//!
//! The rule is applied twice: to the URL when it is entered ([`check_url`]: IP literals and
//! `localhost` names, no DNS, so forms work offline), and to every address a request
//! actually connects to ([`client`]'s resolver drops private addresses after DNS
//! resolution, which also defeats a name that resolves to a public address when checked and
//! to a private one later). The client follows no redirects and ignores proxy variables, so
//! nothing bypasses the resolver.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether private targets are allowed, and the setting that allows them (named in
/// refusals, e.g. `notify.allow_private_targets (ERRATA_NOTIFY_ALLOW_PRIVATE_TARGETS)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetPolicy {
    /// Allow loopback, private and other non-public addresses.
    pub allow_private: bool,
    /// The setting a refusal tells the user about.
    pub setting: &'static str,
}

/// A target the policy refuses, or a URL that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Not an absolute `http(s)://host…` URL.
    #[error("{0}")]
    NotHttp(String),
    /// The host is (or resolves only to) an address the policy refuses.
    #[error("{host} is {reason}: refused unless {setting} is set (for internal deployments)")]
    Private {
        /// The host as given.
        host: String,
        /// What kind of address it is (`a loopback address`, …).
        reason: &'static str,
        /// The setting that allows it.
        setting: &'static str,
    },
    /// The host is (or resolves only to) a cloud metadata address: refused whatever the
    /// settings say.
    #[error("{host} is a cloud metadata address: always refused")]
    Metadata {
        /// The host as given.
        host: String,
    },
}

/// What [`refusal`] says of a cloud metadata address.
pub const METADATA: &str = "a cloud metadata address";

impl TargetError {
    /// The refusal of `host` for `reason` (from [`refusal`]) under the setting `setting`.
    pub fn refused(host: String, reason: &'static str, setting: &'static str) -> TargetError {
        if reason == METADATA {
            TargetError::Metadata { host }
        } else {
            TargetError::Private {
                host,
                reason,
                setting,
            }
        }
    }
}

/// Why `ip` is not a public unicast address (`"a loopback address"`, …), or `None` for a
/// public one. IPv4-mapped and NAT64 IPv6 addresses are judged by the IPv4 address they carry.
pub fn non_public_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address (cloud metadata lives here)")
    } else if a == 0 {
        Some("an unspecified address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared (carrier-grade NAT) address")
    } else if ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        Some("a multicast, broadcast or reserved address")
    } else if ip.is_documentation() || (a, b, c) == (192, 0, 0) || (a == 198 && (b & 0xfe) == 18) {
        Some("a documentation, benchmarking or protocol address")
    } else {
        None
    }
}

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_reason(v4);
    }
    let seg = ip.segments();
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [a, b] = seg[6].to_be_bytes();
        let [c, d] = seg[7].to_be_bytes();
        return v4_reason(Ipv4Addr::new(a, b, c, d));
    }
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() {
        Some("an unspecified address")
    } else if ip.is_unique_local() || (seg[0] & 0xffc0) == 0xfec0 {
        Some("a private (unique-local) address")
    } else if ip.is_unicast_link_local() {
        Some("a link-local address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if (seg[0] == 0x2001 && seg[1] == 0x0db8) || seg[..4] == [0x100, 0, 0, 0] {
        Some("a documentation or discard address")
    } else {
        None
    }
}

/// Why the policy refuses `ip`, or `None` when it allows it: cloud metadata addresses always,
/// other non-public ones unless [`TargetPolicy::allow_private`].
pub fn refusal(ip: IpAddr, policy: &TargetPolicy) -> Option<&'static str> {
    let metadata = match ip {
        IpAddr::V4(v4) => [
            [169, 254, 169, 254],
            [169, 254, 170, 2],
            [100, 100, 100, 200],
        ]
        .contains(&v4.octets()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => return refusal(IpAddr::V4(v4), policy),
            None => v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254),
        },
    };
    if metadata {
        return Some(METADATA);
    }
    non_public_reason(ip).filter(|_| !policy.allow_private)
}

/// A name that could not be resolved (no such host, no DNS server): what the resolver of
/// [`client`] fails with, so callers can tell a DNS failure from other connection errors.
#[derive(Debug, thiserror::Error)]
#[error("DNS lookup of {host} failed: {source}")]
pub struct DnsError {
    /// The name.
    pub host: String,
    /// The resolver's error.
    pub source: std::io::Error,
}

/// Checks a URL as entered: `http` or `https` with a host; an IP-literal host or a
/// `localhost` name must pass the policy. Names are not resolved here (see the module docs).
pub fn check_url(url: &url::Url, policy: &TargetPolicy) -> Result<(), TargetError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(TargetError::NotHttp(format!(
            "the URL must start with http:// or https:// (not {}://)",
            url.scheme()
        )));
    }
    let refused = |host: String, reason| TargetError::refused(host, reason, policy.setting);
    let reason = match url.host() {
        None => return Err(TargetError::NotHttp("the URL has no host".into())),
        Some(url::Host::Ipv4(ip)) => refusal(IpAddr::V4(ip), policy),
        Some(url::Host::Ipv6(ip)) => refusal(IpAddr::V6(ip), policy),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            (name == "localhost" || name.ends_with(".localhost"))
                .then_some("a loopback name")
                .filter(|_| !policy.allow_private)
        }
    };
    match reason {
        Some(reason) => Err(refused(
            url.host_str().unwrap_or_default().to_owned(),
            reason,
        )),
        None => Ok(()),
    }
}

/// Resolves names with the system resolver and keeps only the addresses the policy allows;
/// a name left without any fails with a [`TargetError::Private`].
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    policy: TargetPolicy,
}

impl GuardedResolver {
    /// A resolver under `policy`, for clients built elsewhere (uptime checks).
    pub fn new(policy: TargetPolicy) -> GuardedResolver {
        GuardedResolver { policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Collected at once: the iterator borrows the name, which errors take.
            let found: Result<Vec<SocketAddr>, std::io::Error> =
                tokio::net::lookup_host((host.as_str(), 0))
                    .await
                    .map(Iterator::collect);
            let all = match found {
                Ok(all) => all,
                Err(source) => {
                    return Err(Box::new(DnsError { host, source })
                        as Box<dyn std::error::Error + Send + Sync>)
                }
            };
            let mut first_refusal = None;
            let allowed: Vec<SocketAddr> = all
                .into_iter()
                .filter(|a| match refusal(a.ip(), &policy) {
                    Some(reason) => {
                        first_refusal.get_or_insert(reason);
                        false
                    }
                    None => true,
                })
                .collect();
            match (allowed.is_empty(), first_refusal) {
                (true, Some(reason)) => {
                    Err(Box::new(TargetError::refused(host, reason, policy.setting))
                        as Box<dyn std::error::Error + Send + Sync>)
                }
                _ => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}

/// An HTTP client for requests on a user's behalf: every request times out after
/// `timeout`, connects only to addresses the policy allows, follows no redirects and uses no
/// proxy. Errors when the TLS backend cannot be initialised.
pub fn client(timeout: Duration, policy: TargetPolicy) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("errata/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver { policy }))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: TargetPolicy = TargetPolicy {
        allow_private: false,
        setting: "test.allow_private",
    };

    fn check(url: &str, policy: &TargetPolicy) -> Result<(), TargetError> {
        check_url(&url::Url::parse(url).expect("url"), policy)
    }

    #[test]
    fn classifies_special_purpose_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "192.0.2.7",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
            "2001:db8::1",
        ] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert!(non_public_reason(ip).is_some(), "{ip} is not public");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "100.128.0.1",
        ] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert_eq!(non_public_reason(ip), None, "{ip} is public");
        }
    }

    #[test]
    fn urls_with_private_literals_or_localhost_are_refused() {
        for url in [
            "http://127.0.0.1:9000/hook",
            "https://[::1]/x",
            "https://169.254.10.1/latest/meta-data",
            "https://localhost/x",
            "https://api.LOCALHOST./x",
            // WHATWG URL parsing turns these spellings into 127.0.0.1 too.
            "http://2130706433/",
            "http://0x7f.1/",
        ] {
            let err = check(url, &POLICY).expect_err(url);
            assert!(
                err.to_string()
                    .contains("refused unless test.allow_private"),
                "{err}"
            );
        }
        let allowed = TargetPolicy {
            allow_private: true,
            ..POLICY
        };
        assert_eq!(check("http://127.0.0.1:9000/hook", &allowed), Ok(()));
        for metadata in [
            "http://169.254.169.254/latest/meta-data",
            "http://[fd00:ec2::254]/",
            "http://[::ffff:169.254.169.254]/",
            "http://100.100.100.200/",
        ] {
            let err = check(metadata, &allowed).expect_err(metadata);
            assert!(err.to_string().contains("cloud metadata"), "{err}");
        }
        assert_eq!(check("https://hooks.slack.com/services/x", &POLICY), Ok(()));
        assert!(matches!(
            check("ftp://example.com/x", &allowed),
            Err(TargetError::NotHttp(_))
        ));
    }

    #[tokio::test]
    async fn the_resolver_drops_private_addresses() {
        let guarded = GuardedResolver { policy: POLICY };
        let err = guarded
            .resolve("localhost".parse().expect("name"))
            .await
            .err()
            .expect("localhost resolves only to loopback");
        assert!(err.to_string().contains("loopback"), "{err}");
        let open = GuardedResolver {
            policy: TargetPolicy {
                allow_private: true,
                ..POLICY
            },
        };
        let addrs: Vec<SocketAddr> = open
            .resolve("localhost".parse().expect("name"))
            .await
            .expect("resolves")
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty());
    }

    #[tokio::test]
    async fn the_client_refuses_a_loopback_listener_by_name() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let c = client(Duration::from_secs(5), POLICY).expect("client");
        let err = c
            .get(format!("http://localhost:{port}/"))
            .send()
            .await
            .expect_err("refused");
        let mut text = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(s) = source {
            text.push_str(&format!(": {s}"));
            source = s.source();
        }
        assert!(text.contains("loopback"), "{text}");
    }
}
