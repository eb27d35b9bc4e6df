//! Second factors: RFC 6238 TOTP (SHA-1, 6 digits, 30 s steps: what every
//! authenticator app reads), one-time recovery codes, the `mfa_token` of a
//! login halfway through, and the key that seals TOTP secrets at rest.
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

use super::random_token;
use crate::domain::UserId;

/// Seconds per TOTP step.
pub const TOTP_STEP_SECS: u64 = 30;
/// Digits per TOTP code.
const TOTP_DIGITS: usize = 6;
/// Secret bytes: 160 bits, RFC 4226's recommendation.
const TOTP_SECRET_BYTES: usize = 20;
/// Recovery codes per set.
pub const RECOVERY_CODES: usize = 10;
/// Characters of a recovery code (80 bits of base32, shown in groups of 4):
/// enough that a fast hash at rest cannot be searched.
const RECOVERY_CODE_CHARS: usize = 16;

/// A TOTP secret in the clear: generated at enrolment, shown once, then
/// kept only sealed.
pub struct TotpSecret(Vec<u8>);

impl TotpSecret {
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; TOTP_SECRET_BYTES];
        getrandom::fill(&mut bytes).expect("the operating system's random source failed");
        Self(bytes)
    }

    /// A fixed secret, for the API documentation's example only.
    pub fn example() -> Self {
        Self(b"warrant-docs-example".to_vec())
    }

    fn totp(&self, issuer: &str, account: &str) -> TOTP {
        TOTP::new_unchecked(
            Algorithm::SHA1,
            TOTP_DIGITS,
            1,
            TOTP_STEP_SECS,
            self.0.clone(),
            Some(issuer_label(issuer)),
            account.to_string(),
        )
    }

    /// The secret as people type it: base32 without padding.
    pub fn base32(&self) -> String {
        self.totp("", "").get_secret_base32()
    }

    /// The `otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=ISSUER` URI an
    /// authenticator app reads.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        self.totp(issuer, account).get_url()
    }

    /// The code of time step `step`.
    pub fn code_at(&self, step: u64) -> String {
        self.totp("", "").generate(step * TOTP_STEP_SECS)
    }

    /// The time step `code` is the code of, among the step of `unix_secs`
    /// and the one on either side (clock drift); compared in constant time.
    pub fn step_of(&self, code: &str, unix_secs: u64) -> Option<i64> {
        let code = code.trim();
        let now = unix_secs / TOTP_STEP_SECS;
        let mut found = None;
        for step in now.saturating_sub(1)..=now + 1 {
            if bool::from(self.code_at(step).as_bytes().ct_eq(code.as_bytes())) {
                found = Some(step as i64);
            }
        }
        found
    }
}

/// What an authenticator app shows for the account: the issuer's host when
/// it is a URL, else the issuer itself (a `:` would end the URI's label).
fn issuer_label(issuer: &str) -> String {
    match url::Url::parse(issuer) {
        Ok(url) if url.host_str().is_some() => url.host_str().unwrap_or_default().to_string(),
        _ => issuer.replace(':', " "),
    }
}

/// A QR code of `text`, as a standalone SVG document.
pub fn qr_svg(text: &str) -> String {
    match qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M) {
        Ok(code) => code.render::<qrcode::render::svg::Color>().min_dimensions(200, 200).build(),
        // Only a text beyond a QR code's capacity (≈ 2 kB) fails; an
        // otpauth URI is a tenth of that.
        Err(e) => unreachable!("an otpauth URI fits a QR code: {e}"),
    }
}

/// A new set of recovery codes (`xxxx-xxxx-xxxx-xxxx`, lower-case base32)
/// and their hashes, as stored.
pub fn new_recovery_codes() -> (Vec<String>, Vec<String>) {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; RECOVERY_CODE_CHARS];
            getrandom::fill(&mut bytes).expect("the operating system's random source failed");
            let chars: Vec<char> = bytes.iter().map(|b| ALPHABET[usize::from(b % 32)] as char).collect();
            chars.chunks(4).map(|group| group.iter().collect::<String>()).collect::<Vec<_>>().join("-")
        })
        .collect();
    let hashes = codes.iter().map(|code| hash_recovery_code(code)).collect();
    (codes, hashes)
}

/// Whether `code` looks like a recovery code rather than a TOTP code.
pub fn is_recovery_code(code: &str) -> bool {
    normalized(code).len() == RECOVERY_CODE_CHARS
}

/// The stored form of a recovery code: typed with or without dashes or
/// spaces, in either case.
pub fn hash_recovery_code(code: &str) -> String {
    hex_sha256(normalized(code).as_bytes())
}

fn normalized(code: &str) -> String {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect()
}

/// A new `mfa_token` (256 random bits) and its stored hash.
pub fn new_mfa_token() -> (String, String) {
    let token = random_token(32);
    let hash = hash_mfa_token(&token);
    (token, hash)
}

pub fn hash_mfa_token(token: &str) -> String {
    hex_sha256(token.as_bytes())
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Seals TOTP secrets at rest (XChaCha20-Poly1305, the user's id as
/// associated data, so a sealed secret cannot be moved to another account).
/// A sealed value names its key by id, so a secret sealed under a key this
/// instance does not hold is reported, not misread.
pub struct MfaKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

/// The database's copy of the sealing key, used when `WARRANT_MFA_KEY` is unset.
pub const MFA_KEY_SECRET_NAME: &str = "mfa_key";

/// A sealed secret whose key this instance does not have.
#[derive(Debug, thiserror::Error)]
#[error("the TOTP secret is sealed under key {0}, which this instance does not have (WARRANT_MFA_KEY)")]
pub struct UnknownMfaKey(pub String);

impl MfaKey {
    /// The key derived from `material` (any length; SHA-256 of it).
    pub fn new(material: &str) -> Self {
        let key = Sha256::digest(material.as_bytes());
        let id = hex_sha256(&key)[..8].to_string();
        Self { id, cipher: XChaCha20Poly1305::new(&key) }
    }

    /// Fresh key material for the database (256 random bits).
    pub fn generate() -> String {
        random_token(32)
    }

    pub fn seal(&self, user: UserId, secret: &TotpSecret) -> String {
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).expect("the operating system's random source failed");
        let aad = user.0.to_be_bytes();
        let sealed = self
            .cipher
            .encrypt(&XNonce::from(nonce), Payload { msg: &secret.0, aad: &aad })
            .unwrap_or_else(|_| unreachable!("encryption of a short message cannot fail"));
        format!("v1.{}.{}.{}", self.id, STANDARD_NO_PAD.encode(nonce), STANDARD_NO_PAD.encode(sealed))
    }

    pub fn open(&self, user: UserId, sealed: &str) -> Result<TotpSecret, UnknownMfaKey> {
        let mut parts = sealed.split('.');
        let (Some("v1"), Some(id), Some(nonce), Some(body)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(UnknownMfaKey("(unreadable)".into()));
        };
        if id != self.id {
            return Err(UnknownMfaKey(id.into()));
        }
        let aad = user.0.to_be_bytes();
        let nonce = STANDARD_NO_PAD.decode(nonce).ok().and_then(|n| <[u8; 24]>::try_from(n).ok());
        let body = STANDARD_NO_PAD.decode(body).ok();
        nonce
            .zip(body)
            .and_then(|(nonce, body)| {
                self.cipher.decrypt(&XNonce::from(nonce), Payload { msg: &body, aad: &aad }).ok()
            })
            .map(TotpSecret)
            .ok_or_else(|| UnknownMfaKey(id.into()))
    }
}

#[cfg(test)]
mod tests;
