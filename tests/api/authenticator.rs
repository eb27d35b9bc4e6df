//! A software passkey, written from the WebAuthn spec: ES256 (P-256)
//! credentials, attestation `none`, answers shaped as the browser's
//! `PublicKeyCredential.toJSON()`. Every field can be bent to test a
//! refusal.
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ciborium::Value as Cbor;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub const ORIGIN: &str = "https://app.example.com";
pub const RP_ID: &str = "example.com";

const UP: u8 = 0x01;
const UV: u8 = 0x04;
const AT: u8 = 0x40;

/// What a test bends in an answer.
#[derive(Clone)]
pub struct Bend {
    pub origin: String,
    pub rp_id: String,
    pub flags: u8,
    /// Signs with another key than the registered one.
    pub wrong_key: bool,
}

impl Default for Bend {
    fn default() -> Self {
        Self { origin: ORIGIN.into(), rp_id: RP_ID.into(), flags: UP | UV, wrong_key: false }
    }
}

impl Bend {
    pub fn without_user_verification() -> Self {
        Self { flags: UP, ..Self::default() }
    }
}

pub struct SoftPasskey {
    key: SigningKey,
    pub credential_id: Vec<u8>,
    pub user_handle: Vec<u8>,
    pub counter: u32,
}

fn cbor(value: &Cbor) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).expect("CBOR");
    out
}

fn client_data(kind: &str, options: &Value, origin: &str) -> Vec<u8> {
    let challenge = options["publicKey"]["challenge"].as_str().expect("a challenge");
    json!({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": false})
        .to_string()
        .into_bytes()
}

impl SoftPasskey {
    /// Answers creation `options` (`{"publicKey": …}`): the new passkey and
    /// its `RegistrationResponseJSON`.
    pub fn register(options: &Value, bend: &Bend) -> (Self, Value) {
        let public_key = &options["publicKey"];
        let user_handle = B64.decode(public_key["user"]["id"].as_str().expect("user.id")).expect("base64url");
        let key = new_key();
        let point = key.verifying_key().to_encoded_point(false);
        let cose = cbor(&Cbor::Map(vec![
            (Cbor::Integer(1.into()), Cbor::Integer(2.into())),
            (Cbor::Integer(3.into()), Cbor::Integer((-7).into())),
            (Cbor::Integer((-1).into()), Cbor::Integer(1.into())),
            (Cbor::Integer((-2).into()), Cbor::Bytes(point.x().unwrap().to_vec())),
            (Cbor::Integer((-3).into()), Cbor::Bytes(point.y().unwrap().to_vec())),
        ]));
        let credential_id = random_bytes::<16>().to_vec();
        let mut auth_data = Sha256::digest(bend.rp_id.as_bytes()).to_vec();
        auth_data.push(bend.flags | AT);
        auth_data.extend_from_slice(&0u32.to_be_bytes());
        auth_data.extend_from_slice(&[0u8; 16]);
        auth_data.extend_from_slice(&(credential_id.len() as u16).to_be_bytes());
        auth_data.extend_from_slice(&credential_id);
        auth_data.extend_from_slice(&cose);
        let attestation = cbor(&Cbor::Map(vec![
            (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
            (Cbor::Text("attStmt".into()), Cbor::Map(vec![])),
            (Cbor::Text("authData".into()), Cbor::Bytes(auth_data)),
        ]));
        let id = B64.encode(&credential_id);
        let answer = json!({
            "id": id, "rawId": id, "type": "public-key", "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": B64.encode(client_data("webauthn.create", options, &bend.origin)),
                "attestationObject": B64.encode(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
        });
        (Self { key, credential_id, user_handle, counter: 0 }, answer)
    }

    /// Answers request `options` (a discoverable login): the next counter
    /// value, signed; its `AuthenticationResponseJSON`.
    pub fn sign(&mut self, options: &Value, bend: &Bend) -> Value {
        self.counter += 1;
        let client_data = client_data("webauthn.get", options, &bend.origin);
        let mut auth_data = Sha256::digest(bend.rp_id.as_bytes()).to_vec();
        auth_data.push(bend.flags);
        auth_data.extend_from_slice(&self.counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let key = if bend.wrong_key { new_key() } else { self.key.clone() };
        let signature: Signature = key.sign(&signed);
        let id = B64.encode(&self.credential_id);
        json!({
            "id": id, "rawId": id, "type": "public-key", "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": B64.encode(client_data),
                "authenticatorData": B64.encode(auth_data),
                "signature": B64.encode(signature.to_der().as_bytes()),
                "userHandle": B64.encode(&self.user_handle),
            },
            "clientExtensionResults": {},
        })
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("random bytes");
    bytes
}

fn new_key() -> SigningKey {
    loop {
        if let Ok(key) = SigningKey::from_slice(&random_bytes::<32>()) {
            return key;
        }
    }
}
