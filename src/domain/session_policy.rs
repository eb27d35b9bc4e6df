//! How long sessions, tokens and their traces live.
use chrono::TimeDelta;

/// Clock skew tolerated on a token's `exp`, `nbf` and `iat`, in seconds.
/// Explicit because jsonwebtoken would otherwise apply its own 60 s.
pub const LEEWAY_SECS: u64 = 30;

/// Revocation entries outlive the last token they cover by this much: a
/// token signed as its session ends (a refresh racing a logout), whole-second
/// `iat`, and clocks that differ a little between instances.
const REVOCATION_MARGIN_SECS: i64 = 5;

/// Session lifetimes, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// A refresh token unused this long lapses (`WARRANT_REFRESH_TTL`).
    pub idle: TimeDelta,
    /// A session ends this long after login whatever its use.
    pub absolute: TimeDelta,
    /// How long an access token issued just before its session ended may
    /// still be presented (access TTL, clock leeway and a margin): an ended
    /// session is remembered as revoked this long.
    pub revoked_for: TimeDelta,
    /// Live sessions a user may hold (`WARRANT_MAX_SESSIONS`).
    pub max_per_user: i64,
    /// How long after a refresh token was rotated presenting it again is
    /// answered with the same successor instead of counting as reuse
    /// (`WARRANT_REFRESH_REUSE_INTERVAL`; zero: never).
    pub reuse_grace: TimeDelta,
}

impl SessionPolicy {
    /// Revocation entries must outlive every access token a session issued
    /// before it ended, clock leeway included (tokens never live longer than
    /// the configured lifetime, whatever their `exp`).
    pub fn new(
        access_ttl_secs: i64,
        idle_secs: i64,
        absolute_secs: i64,
        max_per_user: u32,
        reuse_grace_secs: i64,
    ) -> Self {
        Self {
            idle: TimeDelta::seconds(idle_secs),
            absolute: TimeDelta::seconds(absolute_secs),
            revoked_for: TimeDelta::seconds(access_ttl_secs + LEEWAY_SECS as i64 + REVOCATION_MARGIN_SECS),
            max_per_user: i64::from(max_per_user),
            reuse_grace: TimeDelta::seconds(reuse_grace_secs),
        }
    }
}
