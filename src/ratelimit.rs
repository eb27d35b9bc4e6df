//! Per-client-IP rate limiting of the credential routes (`/signup`,
//! `/login`, `/refresh`), as an extractor that runs before the body is read.
use std::future::{ready, Ready};
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;
use crate::metrics::Metrics;

/// The client's address: the TCP peer, or — only when the operator declared
/// N trusted proxies in front (`WARRANT_TRUST_PROXY=true` for one, or N) —
/// the N-th `X-Forwarded-For` entry from the right: each trusted proxy
/// appended one, and entries further left are client-set. An IPv4 client
/// seen through a dual-stack socket (`::ffff:a.b.c.d`) is its IPv4 address.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    pub fn of(req: &HttpRequest) -> Self {
        let hops = req.app_data::<web::Data<Limiter>>().map_or(0, |l| l.trusted_proxies);
        let forwarded = (hops > 0).then(|| forwarded_client(req, hops)).flatten();
        Self(forwarded.or_else(|| req.peer_addr().map(|a| a.ip())).map(|ip| ip.to_canonical()))
    }
}

/// The `hops`-th `X-Forwarded-For` entry from the right, across every line
/// of the header (a proxy may add a line of its own instead of extending the
/// client's); the leftmost when there are fewer entries than proxies.
fn forwarded_client(req: &HttpRequest, hops: usize) -> Option<IpAddr> {
    let mut entries = Vec::new();
    for line in req.headers().get_all("x-forwarded-for") {
        entries.extend(line.to_str().ok()?.split(',').map(str::trim));
    }
    entries.get(entries.len().saturating_sub(hops))?.parse().ok()
}

impl std::fmt::Display for ClientIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => f.write_str("unknown"),
        }
    }
}

impl FromRequest for ClientIp {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::of(req)))
    }
}

/// Requests per minute per client, with a burst of the same size. A client
/// is an IPv4 address or an IPv6 /64: one host's usual allocation, inside
/// which an attacker could otherwise take a fresh address (and a fresh entry
/// in this map) for every request.
pub struct Limiter {
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    trusted_proxies: usize,
}

impl Limiter {
    /// `per_minute == 0` disables limiting.
    pub fn new(per_minute: u32, trusted_proxies: usize) -> Self {
        let limiter = NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n)));
        Self { limiter, trusted_proxies }
    }

    /// `Err(seconds to wait)` when `ip` is over its limit.
    fn check(&self, ip: IpAddr) -> Result<(), u64> {
        let Some(limiter) = &self.limiter else { return Ok(()) };
        limiter.check_key(&client_key(ip)).map_err(|not_until| {
            not_until.wait_time_from(DefaultClock::default().now()).as_secs_f64().ceil().max(1.0) as u64
        })
    }

    /// Drops state of clients that are back under their limit.
    pub fn shrink(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// The limiter's key for a canonical address: IPv6 cut to its /64.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
        v4 => v4,
    }
}

/// A credential-route request that passed the rate limit; carries the IP
/// for audit logs.
#[derive(Debug, Clone, Copy)]
pub struct Throttled(pub ClientIp);

impl FromRequest for Throttled {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let ip = ClientIp::of(req);
        let verdict = match (req.app_data::<web::Data<Limiter>>(), ip.0) {
            (Some(limiter), Some(addr)) => limiter.check(addr).map_err(|retry_after_secs| {
                if let Some(metrics) = req.app_data::<web::Data<Metrics>>() {
                    metrics.rate_limited.inc();
                }
                tracing::info!(target: crate::telemetry::AUDIT, event = "rate_limited", ip = %ip, path = req.path());
                ApiError::RateLimited { retry_after_secs }
            }),
            _ => Ok(()),
        };
        ready(verdict.map(|()| Throttled(ip)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_are_keyed_by_their_64_prefix_and_ipv4_by_the_whole_address() {
        let key = |ip: &str| client_key(ip.parse().unwrap()).to_string();
        assert_eq!(key("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:2::1"), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:3::1"), "2001:db8:1:3::");
        assert_eq!(key("198.51.100.7"), "198.51.100.7");
    }
}
