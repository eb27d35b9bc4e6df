//! The keys that sign and verify access tokens, and their public JWK Set.
use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

use crate::config::{JwtConfig, Secret};
use chrono::{NaiveDateTime, TimeDelta};

use crate::db::keys::StoredKey;
use crate::db::{self, Db, DbConn, DbError};

/// PKCS#8 v1 DER prefix of an Ed25519 private key (RFC 8410); the 32-byte
/// seed follows it.
const ED25519_PKCS8_PREFIX: [u8; 16] =
    [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

/// How long verifiers may cache the JWK Set (`Cache-Control: max-age`).
pub const JWKS_MAX_AGE_SECS: i64 = 600;

/// How long a rotated key is published before it signs: one JWKS cache
/// lifetime, plus the instances' key reload interval, so every verifier has
/// seen it first.
pub const ROTATION_LEAD: TimeDelta = TimeDelta::seconds(JWKS_MAX_AGE_SECS + 10);

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("WARRANT_JWT_KEY_FILE: {0}")]
    File(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Signing key, verification keys by `kid`, and the published JWK Set.
pub struct KeySet {
    alg: Algorithm,
    signing_kid: Option<String>,
    signing_key: EncodingKey,
    verifying: HashMap<String, DecodingKey>,
    /// HS256 tokens carry no `kid`; they verify with the one secret.
    secret: Option<DecodingKey>,
    jwks: JwkSet,
}

impl KeySet {
    /// One shared secret; nothing is published.
    pub fn hs256(secret: &Secret) -> Self {
        let bytes = secret.expose().as_bytes();
        Self {
            alg: Algorithm::HS256,
            signing_kid: None,
            signing_key: EncodingKey::from_secret(bytes),
            verifying: HashMap::new(),
            secret: Some(DecodingKey::from_secret(bytes)),
            jwks: JwkSet { keys: Vec::new() },
        }
    }

    /// Ed25519 keys from PKCS#8 PEM: the first signs, all verify and are
    /// published, each under its RFC 7638 thumbprint as `kid`.
    pub fn ed25519(pems: &[String]) -> Result<Self, String> {
        let keys = pems.iter().map(|pem| Ed25519Key::parse(pem)).collect::<Result<Vec<_>, _>>()?;
        let mut keys = keys.into_iter();
        let first = keys.next().ok_or("no key given")?;
        let (signing_kid, signing_key) = (first.kid.clone(), first.private);
        let mut verifying = HashMap::from([(first.kid, first.public)]);
        let mut published = vec![first.jwk];
        for key in keys {
            verifying.insert(key.kid, key.public);
            published.push(key.jwk);
        }
        Ok(Self {
            alg: Algorithm::EdDSA,
            signing_kid: Some(signing_kid),
            signing_key,
            verifying,
            secret: None,
            jwks: JwkSet { keys: published },
        })
    }

    /// The database's keys as of `now`: the newest key whose `signs_from`
    /// has come signs; newer ones are published ahead of signing; older ones
    /// verify until `retire_after` past the moment their successor took over
    /// (when the last token they signed has expired), then drop out.
    pub fn from_stored(
        stored: &[StoredKey],
        now: NaiveDateTime,
        retire_after: TimeDelta,
    ) -> Result<Self, String> {
        let mut stored: Vec<&StoredKey> = stored.iter().collect();
        stored.sort_by_key(|k| k.signs_from);
        let signer = stored.iter().rposition(|k| k.signs_from <= now).unwrap_or(0);
        let retired = |i: usize| i < signer && stored[i + 1].signs_from + retire_after <= now;
        let mut pems = vec![stored.get(signer).ok_or("no key stored")?.private_key_pem.clone()];
        pems.extend(
            (0..stored.len())
                .filter(|&i| i != signer && !retired(i))
                .map(|i| stored[i].private_key_pem.clone()),
        );
        Self::ed25519(&pems)
    }

    /// The keys of `WARRANT_JWT_KEY_FILE`'s files (the first signs).
    pub fn from_files(files: &[std::path::PathBuf]) -> Result<Self, KeyError> {
        let pems = files
            .iter()
            .map(|f| std::fs::read_to_string(f).map_err(|e| KeyError::File(format!("{}: {e}", f.display()))))
            .collect::<Result<Vec<_>, _>>()?;
        Self::ed25519(&pems).map_err(KeyError::File)
    }

    /// Loads the keys `config` asks for, with a phrase for the startup log
    /// saying where they came from. With keys in the database, the first
    /// start generates one; replicas starting together agree on it.
    pub fn load(
        config: &JwtConfig,
        db: &Db,
        retire_after: TimeDelta,
    ) -> Result<(Self, &'static str), KeyError> {
        match config {
            JwtConfig::Hs256 { secret } => Ok((Self::hs256(secret), "HS256 secret")),
            JwtConfig::EdDsa { key_files: Some(files) } => {
                Ok((Self::from_files(files)?, "EdDSA keys from WARRANT_JWT_KEY_FILE"))
            }
            JwtConfig::EdDsa { key_files: None } => Ok(db.write_blocking(|conn| {
                let generated =
                    db::keys::insert_unless_fresh(conn, NaiveDateTime::MIN, db::now(), new_stored_key)?;
                let origin = match generated {
                    Some(_) => "EdDSA key generated and stored in the database",
                    None => "EdDSA keys from the database",
                };
                Ok::<_, DbError>((Self::stored(conn, retire_after)?, origin))
            })?),
        }
    }

    /// Re-reads the database's keys, off the async workers; first, with
    /// `rotate_every`, adds a new key once the newest has signed that long
    /// (published now, signing after [`ROTATION_LEAD`]).
    pub async fn reload(
        db: &Db,
        retire_after: TimeDelta,
        rotate_every: Option<TimeDelta>,
    ) -> Result<Self, DbError> {
        db.write(move |conn| {
            if let Some(period) = rotate_every {
                let now = db::now();
                let added = db::keys::insert_unless_fresh(conn, now - period, now + ROTATION_LEAD, new_stored_key)?;
                if let Some(kid) = added {
                    tracing::info!(kid, signs_from = %(now + ROTATION_LEAD), "signing key rotated on schedule");
                }
            }
            Self::stored(conn, retire_after)
        })
        .await
    }

    /// The database's keys as of now.
    fn stored(conn: &mut DbConn, retire_after: TimeDelta) -> Result<Self, DbError> {
        let stored = db::keys::load_all(conn)?;
        Self::from_stored(&stored, db::now(), retire_after)
            .map_err(|e| DbError::Other(format!("signing keys: {e}")))
    }

    /// The algorithm's JOSE name (`EdDSA`, `HS256`).
    pub fn algorithm_name(&self) -> &'static str {
        match self.alg {
            Algorithm::HS256 => "HS256",
            _ => "EdDSA",
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The `kid` and key new tokens are signed with.
    pub fn signing(&self) -> (Option<&str>, &EncodingKey) {
        (self.signing_kid.as_deref(), &self.signing_key)
    }

    /// The key that verifies a token with this `kid` (HS256: the secret).
    pub fn verifying(&self, kid: Option<&str>) -> Option<&DecodingKey> {
        match (kid, &self.secret) {
            (_, Some(secret)) => Some(secret),
            (Some(kid), None) => self.verifying.get(kid),
            (None, None) => None,
        }
    }

    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }
}

/// One parsed Ed25519 key with its public half and thumbprint.
struct Ed25519Key {
    kid: String,
    private: EncodingKey,
    public: DecodingKey,
    jwk: Jwk,
}

impl Ed25519Key {
    fn parse(pem: &str) -> Result<Self, String> {
        let private = EncodingKey::from_ed_pem(pem.as_bytes())
            .map_err(|e| format!("not an Ed25519 PKCS#8 PEM key: {e}"))?;
        let mut jwk = Jwk::from_encoding_key(&private, Algorithm::EdDSA).map_err(|e| e.to_string())?;
        let kid = jwk.thumbprint(ThumbprintHash::SHA256).map_err(|e| e.to_string())?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_algorithm = Some(KeyAlgorithm::EdDSA);
        let public = DecodingKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
        Ok(Self { kid, private, public, jwk })
    }
}

/// A fresh key for the database: `(kid, pem)`.
pub fn new_stored_key() -> Result<(String, String), DbError> {
    let pem = generate_ed25519_pem();
    Ed25519Key::parse(&pem).map(|key| (key.kid, pem)).map_err(DbError::Other)
}

/// A fresh Ed25519 private key as PKCS#8 PEM.
pub fn generate_ed25519_pem() -> String {
    let mut der = ED25519_PKCS8_PREFIX.to_vec();
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("the operating system's random source failed");
    der.extend_from_slice(&seed);
    format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", STANDARD.encode(der))
}

#[cfg(test)]
mod tests;
