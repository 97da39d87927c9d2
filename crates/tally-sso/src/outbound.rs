//! Requests to identity providers (OIDC discovery, token and userinfo endpoints, SAML
//! metadata): addresses an organization's Owner or Admin chose, so they go out with
//! redirects disabled, short timeouts and, when the instance asks (`sso.outbound =
//! "public"`), only to public addresses. The address check runs on every connection
//! (through the resolver), so a name cannot resolve to a public address when checked and
//! a private one when used.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::SsoError;

/// Whether an address is on the public internet: not loopback, private, link-local,
/// shared, documentation, multicast or unspecified.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

/// Resolves names to their public addresses only.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found.into_iter().filter(|addr| is_public(addr.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address (sso.outbound is \"public\")").into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

/// The HTTP client for identity providers.
pub fn client(public_only: bool) -> Result<reqwest::Client, SsoError> {
    let mut builder =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(10));
    if public_only {
        builder = builder.dns_resolver(Arc::new(PublicOnly));
    }
    builder.build().map_err(|error| SsoError::Provider(error.to_string()))
}

/// Refuses a URL that is not http(s), or whose host is a literal non-public address when
/// only public ones are allowed (literals bypass the resolver).
pub fn check_url(url: &str, what: &str, public_only: bool) -> Result<(), SsoError> {
    let parsed = url::Url::parse(url).map_err(|error| SsoError::Config(format!("{what}: {error}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(SsoError::Config(format!("{what} must be an http or https URL")));
    }
    let literal = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        _ => None,
    };
    if public_only && literal.is_some_and(|ip| !is_public(ip)) {
        return Err(SsoError::Config(format!(
            "{what} points at a private address, and this instance only lets single sign-on reach public ones (sso.outbound)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn literal_private_hosts_are_refused_only_when_asked() {
        assert!(check_url("http://127.0.0.1:8080/metadata", "metadata_url", true).is_err());
        assert!(check_url("http://[::1]/metadata", "metadata_url", true).is_err());
        assert!(check_url("http://127.0.0.1:8080/metadata", "metadata_url", false).is_ok());
        assert!(check_url("https://idp.example.com/metadata", "metadata_url", true).is_ok());
        assert!(check_url("ftp://idp.example.com/metadata", "metadata_url", false).is_err());
    }
}
