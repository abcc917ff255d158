//! The client's address, trusting `X-Forwarded-For` only from configured proxies.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

use crate::config::{ConfigError, Env};

/// Parses a comma-separated CIDR list (a bare address counts as a /32 or /128).
pub fn parse_cidrs(env: &Env, name: &str, default: &str) -> Result<Vec<IpNet>, ConfigError> {
    env.string_or(name, default)
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| ConfigError {
                    name: name.into(),
                    reason: format!("{s:?} is not an address or CIDR"),
                })
        })
        .collect()
}

/// The client address: the peer, unless the peer is a trusted proxy, in which case the rightmost
/// `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_peer() {
        let trusted = parse_cidrs(&Env::default(), "UNSET_TRUSTED_X", "10.0.0.0/8").unwrap();
        let spoofed = headers("1.2.3.4");
        assert_eq!(
            client_ip("8.8.8.8".parse().unwrap(), &spoofed, &trusted),
            "8.8.8.8".parse::<IpAddr>().unwrap()
        );
        let chain = headers("1.2.3.4, 5.6.7.8, 10.0.0.2");
        assert_eq!(
            client_ip("10.0.0.1".parse().unwrap(), &chain, &trusted),
            "5.6.7.8".parse::<IpAddr>().unwrap()
        );
    }
}
