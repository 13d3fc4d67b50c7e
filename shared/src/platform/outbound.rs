//! Where the functions' own HTTP requests may go. A URL that reaches us in data (a recording's
//! address in a webhook, a calendar's base URL in a company file) must not turn a Lambda into a
//! client of whatever it names: the Lambda runtime API on loopback, an address inside a VPC, the
//! instance metadata range.
//!
//! - [`OutboundPolicy`]: the hosts a kind of request may go to (`https://` hosts by name, and for
//!   the local stack exact origins such as `http://127.0.0.1:8123`);
//! - [`PublicOnlyResolver`]: DNS that answers only public addresses, so a permitted name that
//!   resolves (or is re-pointed) to a private, loopback or link-local address is refused; it
//!   runs on every connection, so also after every redirect;
//! - [`guarded_client_builder`]: a client with both, no proxy (a proxy would resolve names
//!   itself) and, with a policy, every redirect checked against it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

/// One permitted destination.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    /// Any `https://` URL on this host (lower case), default port or not.
    HttpsHost(String),
    /// Exactly this origin (scheme, host, port): the local stack's stand-ins.
    Origin(String, String, u16),
}

/// The destinations of one kind of request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    rules: Vec<Rule>,
}

impl OutboundPolicy {
    /// A comma-separated list: host names (`dxc03zgurdly9.cloudfront.net`: https only) and exact
    /// origins (`http://127.0.0.1:8123`). Blank entries are ignored; anything else is an error.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut rules = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry.contains("://") {
                let url = Url::parse(entry).map_err(|_| format!("{entry:?} is not an origin"))?;
                let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
                    return Err(format!("{entry:?} is not an origin"));
                };
                if url.path() != "/" || url.query().is_some() || !url.username().is_empty() {
                    return Err(format!("{entry:?}: an origin has no path or user"));
                }
                rules.push(Rule::Origin(
                    url.scheme().to_owned(),
                    host.to_ascii_lowercase(),
                    port,
                ));
            } else if entry
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
                && entry.contains('.')
            {
                rules.push(Rule::HttpsHost(entry.to_ascii_lowercase()));
            } else {
                return Err(format!("{entry:?} is not a host name or an origin"));
            }
        }
        Ok(Self { rules })
    }

    /// Whether a request to `url` is permitted.
    pub fn allows(&self, url: &Url) -> bool {
        let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
            return false;
        };
        if !url.username().is_empty() || url.password().is_some() {
            return false;
        }
        self.rules.iter().any(|rule| match rule {
            Rule::HttpsHost(h) => url.scheme() == "https" && *h == host,
            Rule::Origin(scheme, h, port) => {
                url.scheme() == scheme && *h == host && url.port_or_known_default() == Some(*port)
            }
        })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The permitted origins as a Content-Security-Policy lists them (`https://host`,
    /// `http://127.0.0.1:8123`).
    pub fn csp_sources(&self) -> Vec<String> {
        self.rules
            .iter()
            .map(|rule| match rule {
                Rule::HttpsHost(h) => format!("https://{h}"),
                Rule::Origin(scheme, h, port) => format!("{scheme}://{h}:{port}"),
            })
            .collect()
    }
}

/// Whether `ip` is an address on the public internet: not loopback, private (RFC 1918, ULA),
/// link-local (the metadata range), carrier-grade NAT, unspecified, multicast, documentation
/// or reserved, and no IPv4 address hidden in an IPv6 one that is any of these.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || (first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
                || first == 0x0064 // NAT64 (64:ff9b::/96 and local-use)
                || v6.segments()[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 192 && b == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

/// The system's resolver, with every non-public address left out: a name that resolves only to
/// such addresses fails to connect ("no public address").
#[derive(Debug, Default, Clone, Copy)]
pub struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} has no public address").into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// A client builder whose connections go only to public addresses (names through
/// [`PublicOnlyResolver`]; an address written in a URL is the caller's to check with
/// [`OutboundPolicy::allows`] or [`is_public`]), never through a proxy, following at most
/// `max_redirects` redirects, each to a URL `policy` allows (no policy: none followed).
pub fn guarded_client_builder(
    policy: Option<OutboundPolicy>,
    max_redirects: usize,
) -> reqwest::ClientBuilder {
    let redirects = match policy {
        Some(policy) => reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > max_redirects {
                attempt.error("too many redirects")
            } else if !policy.allows(attempt.url()) || !literal_ip_allowed(attempt.url(), &policy) {
                attempt.error("redirect to a host that is not allowed")
            } else {
                attempt.follow()
            }
        }),
        None => reqwest::redirect::Policy::none(),
    };
    crate::platform::http::client_builder()
        .no_proxy()
        .dns_resolver(Arc::new(PublicOnlyResolver))
        .redirect(redirects)
}

/// An address written into a URL skips DNS (and so [`PublicOnlyResolver`]): it must be public,
/// or one the policy names as an exact origin (the local stack's `127.0.0.1`).
pub fn literal_ip_allowed(url: &Url, policy: &OutboundPolicy) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let Ok(ip) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    else {
        return true;
    };
    is_public(ip)
        || policy
            .rules
            .iter()
            .any(|r| matches!(r, Rule::Origin(..)) && policy.allows(url))
}

/// The loopback addresses, for tests and the local stack's origins.
pub const LOOPBACK: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::LOCALHOST),
    IpAddr::V6(Ipv6Addr::LOCALHOST),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).expect("url")
    }

    #[test]
    fn a_policy_names_https_hosts_and_exact_origins() {
        let policy =
            OutboundPolicy::parse(" dxc03zgurdly9.cloudfront.net, http://127.0.0.1:8123 ,")
                .expect("valid");
        for ok in [
            "https://dxc03zgurdly9.cloudfront.net/abc/recording.wav",
            "https://DXC03ZGURDLY9.cloudfront.net:443/x",
            "http://127.0.0.1:8123/recordings/call_1.wav",
        ] {
            assert!(policy.allows(&url(ok)), "{ok}");
        }
        for refused in [
            "http://dxc03zgurdly9.cloudfront.net/abc/recording.wav",
            "https://evil.cloudfront.net/x",
            "https://dxc03zgurdly9.cloudfront.net.evil.com/x",
            "https://user:pw@dxc03zgurdly9.cloudfront.net/x",
            "http://127.0.0.1:8124/x",
            "https://127.0.0.1:8123/x",
            "http://localhost:8123/x",
            "http://169.254.169.254/latest/meta-data/",
            "file:///etc/passwd",
        ] {
            assert!(!policy.allows(&url(refused)), "{refused}");
        }
        for bad in [
            "*.cloudfront.net",
            "http://127.0.0.1:8123/path",
            "localhost",
            "a b",
        ] {
            assert!(OutboundPolicy::parse(bad).is_err(), "{bad}");
        }
        assert!(OutboundPolicy::parse("").expect("empty").is_empty());
    }

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2001:db8::1",
        ] {
            let ip: IpAddr = private.parse().expect("ip");
            assert!(!is_public(ip), "{private}");
        }
        for public in [
            "1.1.1.1",
            "52.28.1.1",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
        ] {
            let ip: IpAddr = public.parse().expect("ip");
            assert!(is_public(ip), "{public}");
        }
        let policy = OutboundPolicy::parse("http://127.0.0.1:8123").expect("valid");
        assert!(literal_ip_allowed(&url("http://127.0.0.1:8123/x"), &policy));
        assert!(!literal_ip_allowed(&url("http://10.0.0.1/x"), &policy));
        assert!(literal_ip_allowed(&url("https://93.184.216.34/x"), &policy));
    }

    #[tokio::test]
    async fn names_that_resolve_to_private_addresses_are_refused() {
        let resolver = PublicOnlyResolver;
        let name: Name = "localhost".parse().expect("name");
        assert!(resolver.resolve(name).await.is_err());
    }
}
