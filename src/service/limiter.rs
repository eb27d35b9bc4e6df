//! Per-client rate limiting of the credential routes (`/signup`, `/login`,
//! `/refresh`), shared by every instance on the database. The HTTP edge asks
//! before it reads a body (`http::client_ip::Throttled`).
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::time::Duration;

use chrono::Utc;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::ServiceError;
use crate::db::rate_limits::{self, Quota as SharedQuota};
use crate::db::Db;
use crate::domain::TrustedProxies;

/// Requests per minute per client, with a burst of the same size, counted
/// once for every instance on the database. A client is an IPv4 address or
/// an IPv6 /64: one host's usual allocation, inside which an attacker could
/// otherwise take a fresh address (and a fresh count) for every request.
pub struct Limiter {
    limits: Option<Limits>,
    /// Reverse proxies in front whose `X-Forwarded-For` entries are trusted.
    pub trusted_proxies: TrustedProxies,
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
    pub fn new(per_minute: u32, trusted_proxies: TrustedProxies, db: Db) -> Self {
        let limits = NonZeroU32::new(per_minute).map(|n| Limits {
            local: RateLimiter::keyed(Quota::per_minute(n)),
            shared: SharedQuota::per_minute(n),
        });
        Self { limits, trusted_proxies, db }
    }

    /// Counts a request of `ip`; `RateLimited` when it is over the limit.
    pub async fn admit(&self, ip: IpAddr) -> Result<(), ServiceError> {
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
fn rate_limited(wait: Duration) -> ServiceError {
    ServiceError::RateLimited { retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64 }
}

/// The limiter's key for a canonical address: IPv6 cut to its /64.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
        v4 => v4,
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
