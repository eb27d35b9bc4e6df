//! Per-client-IP rate limiting of the credential routes (`/signup`,
//! `/login`, `/refresh`), as an extractor that runs before the body is read.
use std::future::{ready, Future, Ready};
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::pin::Pin;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use chrono::Utc;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::db::rate_limits::{self, Quota as SharedQuota};
use crate::db::Db;
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

/// Requests per minute per client, with a burst of the same size, counted
/// once for every instance on the database. A client is an IPv4 address or
/// an IPv6 /64: one host's usual allocation, inside which an attacker could
/// otherwise take a fresh address (and a fresh count) for every request.
pub struct Limiter {
    limits: Option<Limits>,
    trusted_proxies: usize,
    db: Db,
}

struct Limits {
    /// This instance's own count, consulted first: it sees a share of the
    /// client's requests, so a client over it is over the shared count too
    /// (give or take one interval), and a flood is refused without a
    /// database write per request.
    local: DefaultKeyedRateLimiter<IpAddr>,
    /// The count every instance shares, in the database.
    shared: SharedQuota,
}

impl Limiter {
    /// `per_minute == 0` disables limiting.
    pub fn new(per_minute: u32, trusted_proxies: usize, db: Db) -> Self {
        let limits = NonZeroU32::new(per_minute).map(|n| Limits {
            local: RateLimiter::keyed(Quota::per_minute(n)),
            shared: SharedQuota::per_minute(n),
        });
        Self { limits, trusted_proxies, db }
    }

    /// Counts a request of `ip`; `RateLimited` when it is over the limit.
    async fn admit(&self, ip: IpAddr) -> Result<(), ApiError> {
        let Some(limits) = &self.limits else { return Ok(()) };
        let key = client_key(ip);
        limits
            .local
            .check_key(&key)
            .map_err(|not_until| rate_limited(not_until.wait_time_from(DefaultClock::default().now())))?;
        let (client, quota) = (key.to_string(), limits.shared);
        let counted = self
            .db
            .write(move |conn| rate_limits::admit(conn, &client, Utc::now().timestamp_micros(), quota));
        match counted.await? {
            None => Ok(()),
            Some(wait_micros) => Err(rate_limited(Duration::from_micros(wait_micros.unsigned_abs()))),
        }
    }

    /// Drops local state of clients that are back under their limit (the
    /// database's is pruned with the rest of it).
    pub fn shrink(&self) {
        if let Some(limits) = &self.limits {
            limits.local.retain_recent();
            limits.local.shrink_to_fit();
        }
    }
}

/// The refusal for a client that may try again after `wait` (whole seconds,
/// at least one, as `Retry-After` has it).
fn rate_limited(wait: Duration) -> ApiError {
    ApiError::RateLimited { retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64 }
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
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let ip = ClientIp::of(req);
        let limiter = req.app_data::<web::Data<Limiter>>().cloned();
        let metrics = req.app_data::<web::Data<Metrics>>().cloned();
        let path = req.path().to_owned();
        Box::pin(async move {
            let (Some(limiter), Some(addr)) = (limiter, ip.0) else { return Ok(Self(ip)) };
            let verdict = limiter.admit(addr).await;
            if let Err(ApiError::RateLimited { .. }) = verdict {
                if let Some(metrics) = metrics {
                    metrics.rate_limited.inc();
                }
                tracing::info!(target: crate::telemetry::AUDIT, event = "rate_limited", ip = %ip, path);
            }
            verdict.map(|()| Self(ip))
        })
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
