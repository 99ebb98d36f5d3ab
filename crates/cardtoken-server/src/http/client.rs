//! The client's address, for the card-testing defence: the connection's peer, or, when the peer is a
//! configured trusted proxy, the nearest address in `X-Forwarded-For` that is not one. A header from
//! anyone else is ignored (it is trivially forged).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::config::Cidr;
use crate::domain::Error;

use super::AppState;

pub struct ClientIp(pub Option<IpAddr>);

/// The client address of a request from `peer` carrying `forwarded` (`X-Forwarded-For` values, in order).
pub fn client_address(peer: IpAddr, forwarded: &[&str], trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<IpAddr> =
        forwarded.iter().flat_map(|h| h.split(',')).filter_map(|a| a.trim().parse::<IpAddr>().ok()).collect();
    // From the right: each trusted proxy appended the address it got the request from.
    hops.iter().rev().copied().find(|ip| !is_trusted(*ip)).or_else(|| hops.first().copied()).unwrap_or(peer)
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>().copied() else {
            return Ok(ClientIp(None));
        };
        let forwarded: Vec<&str> =
            parts.headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect();
        Ok(ClientIp(Some(client_address(peer.ip(), &forwarded, &state.config.trusted_proxies))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let trusted: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Straight from the internet: the header is the client's own word, ignored.
        assert_eq!(client_address(ip("203.0.113.9"), &["1.2.3.4"], &trusted), ip("203.0.113.9"));
        // Through our proxy: the address it saw.
        assert_eq!(client_address(ip("10.0.0.2"), &["198.51.100.7"], &trusted), ip("198.51.100.7"));
        // A client forging the header through our proxy: the proxy appended the real one, rightmost.
        assert_eq!(client_address(ip("10.0.0.2"), &["1.2.3.4, 198.51.100.7"], &trusted), ip("198.51.100.7"));
        // Two proxies of ours.
        assert_eq!(client_address(ip("10.0.0.2"), &["198.51.100.7, 10.0.0.3"], &trusted), ip("198.51.100.7"));
        assert_eq!(client_address(ip("::1"), &[], &trusted), ip("::1"));
    }
}
