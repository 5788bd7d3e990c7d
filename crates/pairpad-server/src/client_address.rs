//! Which address a request comes from: the TCP peer, or, when the peer is one of the configured
//! `server.trusted_proxies`, the right-most `X-Forwarded-For` entry that is not a trusted proxy.

use std::net::{IpAddr, SocketAddr};

use actix_web::HttpRequest;
use ipnet::IpNet;

/// Finds a request's client address.
#[derive(Clone, Debug, Default)]
pub struct ClientAddresses {
    trusted_proxies: Vec<IpNet>,
}

impl ClientAddresses {
    pub fn new(trusted_proxies: Vec<IpNet>) -> Self {
        Self { trusted_proxies }
    }

    /// The client's address, or `None` when the peer is unknown (not a TCP connection).
    pub fn of(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        let forwarded_for = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','));
        Some(self.client(peer, forwarded_for))
    }

    /// Walks `X-Forwarded-For` from the right (the hop nearest to us) while the address that
    /// reported the hop is a trusted proxy. Entries left of the first untrusted one were written
    /// by whoever sent the request, so they are never believed.
    fn client<'a>(&self, peer: IpAddr, forwarded_for: impl Iterator<Item = &'a str>) -> IpAddr {
        let hops: Vec<&str> = forwarded_for.collect();
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            if !self.is_trusted(client) {
                break;
            }
            match parse_hop(hop) {
                Some(address) => client = address,
                // Garbage from the proxy's client: the proxy is the last address we know.
                None => break,
            }
        }
        client
    }

    fn is_trusted(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.trusted_proxies.iter().any(|proxy| proxy.contains(&address))
    }
}

/// An `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5678`, `[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>().ok().or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let addresses = ClientAddresses::new(vec!["10.0.0.0/8".parse().unwrap(), "127.0.0.1/32".parse().unwrap()]);
        let client = |peer: &str, header: &str| addresses.client(ip(peer), header.split(','));
        // An untrusted peer's header is ignored, whatever it says.
        assert_eq!(client("203.0.113.9", "198.51.100.1"), ip("203.0.113.9"));
        // Behind one proxy, and behind two (the client spoofed an entry on the far left).
        assert_eq!(client("127.0.0.1", "198.51.100.1"), ip("198.51.100.1"));
        assert_eq!(client("127.0.0.1", "6.6.6.6, 198.51.100.1, 10.1.2.3"), ip("198.51.100.1"));
        assert_eq!(client("127.0.0.1", " [2001:db8::1]:443 "), ip("2001:db8::1"));
        // Nothing forwarded, only proxies, or garbage: the nearest address known.
        assert_eq!(client("127.0.0.1", ""), ip("127.0.0.1"));
        assert_eq!(client("127.0.0.1", "10.0.0.2"), ip("10.0.0.2"));
        assert_eq!(client("127.0.0.1", "1.2.3.4, not-an-address"), ip("127.0.0.1"));
        assert_eq!(ClientAddresses::default().client(ip("127.0.0.1"), "1.2.3.4".split(',')), ip("127.0.0.1"));
    }
}
