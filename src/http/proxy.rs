//! Reverse proxies the operator trusts (`--trusted-proxy`), and the client address of a request
//! through them: behind a proxy every connection comes from the proxy, so the limits keyed by
//! client address need the address the proxy saw, from `X-Forwarded-For`.
//!
//! The header is believed only from a trusted peer, and only as far as trusted proxies wrote
//! it: each proxy appends the address it received the request from, so the rightmost entry that
//! is not itself a trusted proxy is the client. Entries to its left are whatever the client
//! sent and prove nothing.

use std::net::{IpAddr, SocketAddr};

use hyper::HeaderMap;

/// One `--trusted-proxy` entry: an address, or a network in CIDR form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    fn parse(entry: &str) -> Result<Network, String> {
        let entry = entry.trim();
        let bad = || format!("{entry:?} is not an IP address or a network like 10.0.0.0/8 or fd00::/8");
        let (addr, prefix) = match entry.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (entry, None),
        };
        let addr = addr.parse::<IpAddr>().map_err(|_| bad())?.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
        };
        Ok(Network { addr, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                same_prefix(net.to_bits().into(), ip.to_bits().into(), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => same_prefix(net.to_bits(), ip.to_bits(), 128, self.prefix),
            _ => false,
        }
    }
}

/// Whether the first `prefix` of the `width` low bits of `a` and `b` agree.
fn same_prefix(a: u128, b: u128, width: u32, prefix: u8) -> bool {
    let host_bits = width - u32::from(prefix);
    host_bits >= width || (a >> host_bits) == (b >> host_bits)
}

/// The trusted proxies; none by default, so `X-Forwarded-For` is ignored unless configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Network>);

impl TrustedProxies {
    /// Parses IP addresses and CIDR networks; the error says which entry is wrong.
    pub fn parse<S: AsRef<str>>(list: &[S]) -> Result<Self, String> {
        list.iter().map(|e| Network::parse(e.as_ref())).collect::<Result<_, _>>().map(TrustedProxies)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }

    /// The address of the client that sent a request arriving from `peer`: `peer` itself unless
    /// it is a trusted proxy, else the rightmost `X-Forwarded-For` entry that is not a trusted
    /// proxy (the leftmost if all are). A header that does not parse is ignored.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        let mut chain = Vec::new();
        for value in headers.get_all("x-forwarded-for") {
            let Ok(value) = value.to_str() else { return peer };
            for entry in value.split(',') {
                match parse_forwarded(entry.trim()) {
                    Some(ip) => chain.push(ip),
                    None => return peer,
                }
            }
        }
        chain.iter().rev().find(|ip| !self.contains(**ip)).or(chain.first()).copied().unwrap_or(peer)
    }
}

/// An `X-Forwarded-For` entry: an address, or one with a port as some proxies write it.
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    let ip = entry.parse::<IpAddr>().or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip())).ok()?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(list).unwrap()
    }

    fn client(p: &TrustedProxies, peer: &str, forwarded: &[&str]) -> String {
        let mut headers = HeaderMap::new();
        for v in forwarded {
            headers.append("x-forwarded-for", v.parse().unwrap());
        }
        p.client(peer.parse().unwrap(), &headers).to_string()
    }

    #[test]
    fn parses_addresses_and_networks_and_names_a_bad_entry() {
        let p = proxies(&["10.0.0.1", "192.168.0.0/16", "fd00::/8", "::ffff:172.16.0.1"]);
        for ip in ["10.0.0.1", "192.168.44.3", "fd12::1", "172.16.0.1", "::ffff:10.0.0.1"] {
            assert!(p.contains(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["10.0.0.2", "192.169.0.1", "fe80::1", "2001:db8::1"] {
            assert!(!p.contains(ip.parse().unwrap()), "{ip}");
        }
        assert!(proxies(&["0.0.0.0/0"]).contains("203.0.113.9".parse().unwrap()));
        for bad in ["proxy.example.com", "10.0.0.0/33", "fd00::/129", "10.0.0.0/", ""] {
            let err = TrustedProxies::parse(&[bad]).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn the_client_is_the_rightmost_address_not_a_trusted_proxy() {
        let p = proxies(&["127.0.0.1", "10.0.0.0/8"]);
        // From a trusted proxy: what it appended, skipping proxies in front of it.
        assert_eq!(client(&p, "127.0.0.1", &["203.0.113.7"]), "203.0.113.7");
        assert_eq!(client(&p, "127.0.0.1", &["1.1.1.1, 203.0.113.7, 10.0.0.5"]), "203.0.113.7");
        assert_eq!(client(&p, "127.0.0.1", &["1.1.1.1", "203.0.113.7:4711"]), "203.0.113.7");
        assert_eq!(client(&p, "127.0.0.1", &["10.0.0.9, 10.0.0.5"]), "10.0.0.9");
        assert_eq!(client(&p, "127.0.0.1", &["2001:db8::1"]), "2001:db8::1");
        // No header, or one that does not parse: the peer.
        assert_eq!(client(&p, "127.0.0.1", &[]), "127.0.0.1");
        assert_eq!(client(&p, "127.0.0.1", &["203.0.113.7, nonsense"]), "127.0.0.1");
        assert_eq!(client(&p, "127.0.0.1", &["203.0.113.7,,1.1.1.1"]), "127.0.0.1");
        // From anyone else the header is the client's own claim: ignored.
        assert_eq!(client(&p, "198.51.100.2", &["203.0.113.7"]), "198.51.100.2");
        assert_eq!(client(&TrustedProxies::default(), "127.0.0.1", &["203.0.113.7"]), "127.0.0.1");
    }
}
