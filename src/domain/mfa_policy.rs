//! The rules of two-factor login that are not the TOTP algorithm itself.
use chrono::TimeDelta;

/// How long an `mfa_token` (a login waiting for its second factor) lives.
pub const MFA_TOKEN_TTL: TimeDelta = TimeDelta::minutes(5);
/// Codes tried against one `mfa_token` before it dies.
pub const MAX_MFA_ATTEMPTS: i32 = 5;
/// How long an enrolment may wait for its first code.
pub const ENROLMENT_TTL: TimeDelta = TimeDelta::minutes(10);
