//! Access tokens: RFC 9068-style JWTs, signed with the one configured
//! algorithm and checked strictly on every protected request.
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, decode_header, encode, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use super::{random_token, KeySet};
use crate::domain::{Amr, Role, SessionId, User, UserId, LEEWAY_SECS};

/// The `typ` header of an access token (RFC 9068 §2.1).
const ACCESS_TOKEN_TYP: &str = "at+jwt";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    iat: i64,
    exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    jti: String,
    sid: String,
    role: String,
    username: String,
    /// How the user logged in (RFC 8176).
    #[serde(default)]
    amr: Vec<String>,
}

/// What a verified access token says about its bearer.
#[derive(Debug, Clone)]
pub struct AccessClaims {
    pub user_id: UserId,
    pub username: String,
    pub role: Role,
    pub session_id: SessionId,
    pub expires_at: i64,
}

impl TryFrom<Claims> for AccessClaims {
    type Error = TokenError;

    /// Parsed, not trusted: even a correctly signed token (a leaked key)
    /// names only an id and a session that can exist, so no query is asked
    /// of something the database would refuse (the fuzzer's `token` target
    /// found `"sub": "0"` and a `sid` of any bytes accepted).
    fn try_from(claims: Claims) -> Result<Self, TokenError> {
        let user_id = claims
            .sub
            .parse::<i64>()
            .ok()
            .filter(|id| *id > 0 && id.to_string() == claims.sub)
            .ok_or(TokenError::Invalid("malformed subject"))?;
        Ok(AccessClaims {
            user_id: UserId(user_id),
            role: claims.role.parse().map_err(|_| TokenError::Invalid("unknown role"))?,
            username: claims.username,
            session_id: SessionId::parse(&claims.sid).ok_or(TokenError::Invalid("malformed session id"))?,
            expires_at: claims.exp,
        })
    }
}

/// Why a token was refused. The reason goes into `detail`; it names the
/// failed check, never secret material.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("{0}")]
    Invalid(&'static str),
    #[error("token expired")]
    Expired,
}

/// A signed access token and its lifetime in seconds.
pub struct IssuedToken {
    pub token: String,
    pub expires_in: i64,
}

/// Verified tokens remembered at most; beyond it new ones are not cached.
const VERIFIED_CACHE_CAPACITY: usize = 100_000;

/// Issues and verifies access tokens.
pub struct Tokens {
    /// Tokens whose signature and claims were already checked, by the
    /// SHA-256 of their exact text (≈ 1 µs, and 32 bytes instead of ≈ 400 per
    /// entry). A client sends the same token for its whole lifetime; a repeat
    /// skips the signature check (≈ 25 µs for EdDSA) but never the expiry or
    /// the revocation check. Cleared when the keys change.
    verified: RwLock<HashMap<[u8; 32], AccessClaims>>,
    /// Swapped whole when keys are reloaded (rotation); readers clone the Arc.
    keys: RwLock<Arc<KeySet>>,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_secs: i64,
}

impl Tokens {
    pub fn new(keys: KeySet, issuer: &str, audience: &str, ttl_secs: i64) -> Self {
        let mut validation = Validation::new(keys.algorithm());
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Self {
            verified: RwLock::default(),
            keys: RwLock::new(Arc::new(keys)),
            validation,
            issuer: issuer.into(),
            audience: audience.into(),
            ttl_secs,
        }
    }

    /// The current key set.
    pub fn keys(&self) -> Arc<KeySet> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Replaces the key set (same algorithm) after a reload. When the set of
    /// verifying keys changed, cached verifications are forgotten, so a
    /// removed key's tokens stop working at once.
    pub fn set_keys(&self, keys: KeySet) {
        let mut current = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        if current.jwks() != keys.jwks() {
            self.verified.write().unwrap_or_else(PoisonError::into_inner).clear();
        }
        *current = Arc::new(keys);
    }

    /// Forgets cached verifications of expired tokens.
    pub fn prune_verified(&self) {
        let oldest_valid = chrono::Utc::now().timestamp() - LEEWAY_SECS as i64;
        self.verified
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, c| c.expires_at >= oldest_valid);
    }

    /// Signs an access token for `user` in session `session_id`, whose user
    /// logged in by `amr`.
    pub fn issue(
        &self,
        user: &User,
        session_id: &SessionId,
        amr: Amr,
    ) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user.id.to_string(),
            iat: now,
            exp: now + self.ttl_secs,
            nbf: None,
            jti: random_token(16),
            sid: session_id.0.clone(),
            role: user.role.as_str().into(),
            username: user.username.clone(),
            amr: amr.methods().iter().map(|m| m.to_string()).collect(),
        };
        let keys = self.keys();
        let (kid, key) = keys.signing();
        let mut header = Header::new(keys.algorithm());
        header.typ = Some(ACCESS_TOKEN_TYP.into());
        header.kid = kid.map(Into::into);
        Ok(IssuedToken { token: encode(&header, &claims, key)?, expires_in: self.ttl_secs })
    }

    /// Reads the claims without any check. Only in the `bench-skip-auth`
    /// build, which measures what verification costs.
    #[cfg(feature = "bench-skip-auth")]
    pub fn decode_unchecked(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let claims = jsonwebtoken::dangerous::insecure_decode::<Claims>(token)
            .map_err(|_| TokenError::Invalid("malformed token"))?
            .claims;
        AccessClaims::try_from(claims)
    }

    /// Checks signature, algorithm, `typ`, `iss`, `aud`, `exp` and `nbf`.
    /// Header URLs and embedded keys (`jku`, `x5u`, `jwk`) are never used.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let cached = self.verified.read().unwrap_or_else(PoisonError::into_inner).get(&digest).cloned();
        let claims = match cached {
            Some(claims) => claims,
            None => {
                let claims = self.verify_uncached(token)?;
                let mut verified = self.verified.write().unwrap_or_else(PoisonError::into_inner);
                if verified.len() < VERIFIED_CACHE_CAPACITY {
                    verified.insert(digest, claims.clone());
                }
                claims
            }
        };
        // The same check jsonwebtoken applies to `exp`, on the capped expiry.
        if claims.expires_at < chrono::Utc::now().timestamp() - LEEWAY_SECS as i64 {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    fn verify_uncached(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let header = decode_header(token).map_err(|_| TokenError::Invalid("malformed token"))?;
        let keys = self.keys();
        if header.alg != keys.algorithm() {
            return Err(TokenError::Invalid("algorithm not allowed"));
        }
        let typ_ok = header.typ.as_deref().is_some_and(|typ| {
            typ.eq_ignore_ascii_case(ACCESS_TOKEN_TYP) || typ.eq_ignore_ascii_case("application/at+jwt")
        });
        if !typ_ok {
            return Err(TokenError::Invalid("not an access token"));
        }
        // RFC 7515 §4.1.11: a critical extension we do not understand (we
        // understand none) makes the token invalid. An unencoded payload
        // (RFC 7797 `b64: false`) would be verified over other bytes than a
        // client reads.
        if header.crit.is_some() {
            return Err(TokenError::Invalid("unsupported critical header parameter"));
        }
        if header.extras.get::<serde_json::Value>("b64").ok().flatten().is_some_and(|b64| b64 != true) {
            return Err(TokenError::Invalid("unencoded payloads are not accepted"));
        }
        let key = keys.verifying(header.kid.as_deref()).ok_or(TokenError::Invalid("unknown signing key"))?;
        let claims = decode::<Claims>(token, key, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::ImmatureSignature => TokenError::Invalid("token not yet valid"),
                ErrorKind::InvalidIssuer => TokenError::Invalid("wrong issuer"),
                ErrorKind::InvalidAudience => TokenError::Invalid("wrong audience"),
                ErrorKind::InvalidSignature => TokenError::Invalid("bad signature"),
                ErrorKind::InvalidAlgorithm => TokenError::Invalid("algorithm not allowed"),
                ErrorKind::MissingRequiredClaim(_) => TokenError::Invalid("missing claim"),
                _ => TokenError::Invalid("malformed token"),
            })?
            .claims;
        // A token lives at most the configured lifetime, even one signed
        // under a longer one: revocations are kept only that long (plus
        // leeway), so a lowered WARRANT_ACCESS_TTL must bind older tokens too.
        if claims.iat > chrono::Utc::now().timestamp().saturating_add(LEEWAY_SECS as i64) {
            return Err(TokenError::Invalid("issued in the future"));
        }
        let lifetime_end = claims.iat.saturating_add(self.ttl_secs);
        let mut access = AccessClaims::try_from(claims)?;
        access.expires_at = access.expires_at.min(lifetime_end);
        Ok(access)
    }
}

#[cfg(test)]
mod tests;
