//! Passkeys (WebAuthn, through webauthn-rs): registration behind the
//! password, the caller's list, and discoverable login — no name typed, the
//! credential's user handle finds the account. Ceremony states live in the
//! database (single-use, 5 minutes), so any instance finishes what another
//! started.
use std::sync::Arc;

use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Uuid,
};
use webauthn_rs::Webauthn;

use crate::auth::random_token;
use crate::db::accounts::NewSession;
use crate::db::passkeys::{Ceremony, StoredPasskey};
use crate::db::{self, DbError};
use crate::domain::{Amr, ClientDetails, ClientIp, PasskeyInfo, UserId};
use crate::service::ServiceError;
use crate::telemetry::AUDIT;

use super::{Accounts, NewTokens, TokenPair};

/// A ceremony lasts this long.
const CEREMONY_TTL: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// A ceremony started: its id, and the options for the browser
/// (`{"publicKey": …}`).
pub struct Started {
    pub ceremony: String,
    pub options: serde_json::Value,
}

const OFF: ServiceError = ServiceError::NotFound("passkeys are not configured on this server");

fn refused(at_login: bool, why: impl std::fmt::Display) -> ServiceError {
    tracing::info!(reason = %why, "passkey refused");
    ServiceError::InvalidPasskey { at_login }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, ServiceError> {
    serde_json::to_string(value).map_err(|e| ServiceError::Db(DbError::Other(format!("serializing: {e}"))))
}

impl Accounts {
    fn webauthn(&self) -> Result<Arc<Webauthn>, ServiceError> {
        self.webauthn.clone().ok_or(OFF)
    }

    /// Whether passkeys are configured (their routes exist).
    pub fn passkeys_on(&self) -> bool {
        self.webauthn.is_some()
    }

    /// Starts registering a passkey for the caller (password confirmed):
    /// a discoverable credential with user verification, none of the
    /// caller's existing ones again.
    pub async fn start_passkey_registration(
        &self,
        user: UserId,
        password: String,
        ip: ClientIp,
    ) -> Result<Started, ServiceError> {
        let webauthn = self.webauthn()?;
        self.check_password(user, password, ip).await?;
        let new_handle = Uuid::new_v4().to_string();
        let (account, handle, existing) = self
            .sessions
            .db()
            .write_for(user, move |conn| {
                let account = db::users::find(conn, user)?;
                let handle = db::passkeys::handle(conn, user, &new_handle)?;
                Ok((account, handle, db::passkeys::list(conn, user)?))
            })
            .await?;
        let account = account.ok_or(ServiceError::SessionEnded)?;
        let handle =
            Uuid::parse_str(&handle).map_err(|e| ServiceError::Db(DbError::Other(format!("handle: {e}"))))?;
        let exclude = existing
            .iter()
            .filter_map(|stored| serde_json::from_str::<Passkey>(&stored.credential).ok())
            .map(|passkey| passkey.cred_id().clone())
            .collect::<Vec<_>>();
        let (options, state) = webauthn
            .start_passkey_registration(handle, &account.username, &account.username, Some(exclude))
            .map_err(|e| refused(false, e))?;
        let mut options = serde_json::to_value(options).map_err(|e| refused(false, e))?;
        // A passkey is a discoverable credential: webauthn-rs asks for one
        // only as "discouraged".
        if let Some(selection) = options.pointer_mut("/publicKey/authenticatorSelection") {
            selection["residentKey"] = "required".into();
            selection["requireResidentKey"] = true.into();
        }
        let ceremony = self.store_ceremony(Ceremony::Registration, Some(user), to_json(&state)?).await?;
        Ok(Started { ceremony, options })
    }

    /// Finishes a registration the caller started: the new passkey.
    pub async fn finish_passkey_registration(
        &self,
        user: UserId,
        ceremony: String,
        credential: RegisterPublicKeyCredential,
        name: Option<String>,
        ip: ClientIp,
    ) -> Result<PasskeyInfo, ServiceError> {
        let webauthn = self.webauthn()?;
        let taken = self.take_ceremony(ceremony, Ceremony::Registration).await?;
        let Some((Some(owner), state)) = taken.filter(|(owner, _)| *owner == Some(user)) else {
            return Err(refused(false, "unknown, used, expired or another user's ceremony"));
        };
        let state: PasskeyRegistration = serde_json::from_str(&state).map_err(|e| refused(false, e))?;
        let passkey =
            webauthn.finish_passkey_registration(&credential, &state).map_err(|e| refused(false, e))?;
        let credential_id = base64_url(passkey.cred_id().as_ref());
        let stored = to_json(&passkey)?;
        let created = self
            .sessions
            .db()
            .write_for(owner, move |conn| {
                let name = match &name {
                    Some(name) => name.clone(),
                    None => format!("Passkey {}", db::passkeys::count(conn, owner)? + 1),
                };
                db::passkeys::insert(conn, owner, &credential_id, &name, &stored)
            })
            .await
            .map_err(|e| match e {
                DbError::UniqueViolation => refused(false, "this credential is registered already"),
                other => other.into(),
            })?;
        tracing::info!(target: AUDIT, event = "passkey_registered", user_id = user.0, passkey_id = created.id, ip = %ip);
        Ok(created.info())
    }

    /// The caller's passkeys.
    pub async fn passkeys(&self, user: UserId) -> Result<Vec<PasskeyInfo>, ServiceError> {
        let stored = self.sessions.db().read(move |conn| db::passkeys::list(conn, user)).await?;
        Ok(stored.into_iter().map(StoredPasskey::info).collect())
    }

    /// Deletes one of `user`'s passkeys; `by` is who asked (the owner or an
    /// admin). `NotFound` for any id not theirs.
    pub async fn delete_passkey(
        &self,
        user: UserId,
        id: i64,
        by: UserId,
        ip: ClientIp,
    ) -> Result<(), ServiceError> {
        let deleted =
            self.sessions.db().write_for(user, move |conn| db::passkeys::delete(conn, user, id)).await?;
        if !deleted {
            return Err(ServiceError::NotFound("no such passkey"));
        }
        tracing::info!(target: AUDIT, event = "passkey_deleted", user_id = user.0, passkey_id = id, by = by.0, ip = %ip);
        Ok(())
    }

    /// Starts a discoverable login: no account named, any passkey of this
    /// relying party may answer.
    pub async fn start_passkey_login(&self) -> Result<Started, ServiceError> {
        let webauthn = self.webauthn()?;
        let (options, state) = webauthn.start_discoverable_authentication().map_err(|e| refused(true, e))?;
        let options = serde_json::to_value(options).map_err(|e| refused(true, e))?;
        let ceremony = self.store_ceremony(Ceremony::Login, None, to_json(&state)?).await?;
        Ok(Started { ceremony, options })
    }

    /// Finishes a passkey login: a session whose tokens say
    /// `["hwk", "user"]`, with no second factor asked (a user-verified
    /// passkey is two). A signature counter that goes back is refused.
    pub async fn log_in_with_passkey(
        &self,
        ceremony: String,
        credential: PublicKeyCredential,
        ip: ClientIp,
        client: ClientDetails,
    ) -> Result<TokenPair, ServiceError> {
        let webauthn = self.webauthn()?;
        let mut user = None;
        let verified = self.verify_passkey_login(&webauthn, ceremony, &credential, &mut user).await;
        let (account, passkey_id) = match verified {
            Ok(found) => found,
            Err(e) => {
                self.metrics.logins.with_label_values(&["failed"]).inc();
                tracing::info!(target: AUDIT, event = "login_passkey_failed", user_id = user.map(|u: UserId| u.0), ip = %ip);
                return Err(e);
            }
        };
        let new = NewTokens::generate();
        let (sid, refresh_hash) = (new.session.clone(), new.refresh_hash.clone());
        let started = self
            .sessions
            .write(Some(account), move |tx, policy| {
                let session = NewSession {
                    id: &sid,
                    user: account,
                    password: None,
                    first_token: &refresh_hash,
                    client: &client,
                    amr: Amr::Passkey,
                    guessed: None,
                };
                db::accounts::start_session(tx, session, None, policy)
            })
            .await
            .map_err(|e| match e {
                DbError::Refused(_) => refused(true, "the account is gone"),
                other => other.into(),
            })?;
        let db::accounts::Start::Started(account) = started else { return Err(refused(true, "no session")) };
        self.metrics.logins.with_label_values(&["ok"]).inc();
        tracing::info!(target: AUDIT, event = "login_passkey", user_id = account.id.0, passkey_id,
            session_id = %new.session, ip = %ip);
        self.begin(account, new, Amr::Passkey)
    }

    /// The account and passkey a login credential verifies as, its new
    /// counter stored. `user` learns the account as soon as it is known,
    /// for the audit line of a failure.
    async fn verify_passkey_login(
        &self,
        webauthn: &Webauthn,
        ceremony: String,
        credential: &PublicKeyCredential,
        user: &mut Option<UserId>,
    ) -> Result<(UserId, i64), ServiceError> {
        let (_, state) = self
            .take_ceremony(ceremony, Ceremony::Login)
            .await?
            .ok_or_else(|| refused(true, "unknown, used or expired ceremony"))?;
        let state: DiscoverableAuthentication = serde_json::from_str(&state).map_err(|e| refused(true, e))?;
        let (handle, credential_id) =
            webauthn.identify_discoverable_authentication(credential).map_err(|e| refused(true, e))?;
        let (handle, credential_id) = (handle.to_string(), base64_url(credential_id));
        let found = self
            .sessions
            .db()
            .read(move |conn| {
                let Some(owner) = db::passkeys::user_of_handle(conn, &handle)? else { return Ok(None) };
                Ok(Some((owner, db::passkeys::list(conn, owner)?)))
            })
            .await?;
        let (owner, stored) = found.ok_or_else(|| refused(true, "unknown user handle"))?;
        *user = Some(owner);
        let mut keys = Vec::new();
        for row in stored {
            let passkey: Passkey = serde_json::from_str(&row.credential).map_err(|e| refused(true, e))?;
            if base64_url(passkey.cred_id().as_ref()) == credential_id {
                keys.push((row.id, passkey));
            }
        }
        let Some((passkey_id, mut passkey)) = keys.pop() else {
            return Err(refused(true, "unknown credential"));
        };
        let result = webauthn
            .finish_discoverable_authentication_v2(credential, state, &passkey)
            .map_err(|e| refused(true, e))?;
        passkey.update_credential(&result);
        let stored = to_json(&passkey)?;
        self.sessions
            .db()
            .write_for(owner, move |conn| db::passkeys::used(conn, passkey_id, &stored))
            .await?;
        Ok((owner, passkey_id))
    }

    async fn store_ceremony(
        &self,
        kind: Ceremony,
        user: Option<UserId>,
        state: String,
    ) -> Result<String, ServiceError> {
        let id = random_token(24);
        let stored = id.clone();
        let expires_at = db::now() + CEREMONY_TTL;
        self.sessions
            .db()
            .write(move |conn| db::passkeys::start_ceremony(conn, &stored, kind, user, &state, expires_at))
            .await?;
        Ok(id)
    }

    async fn take_ceremony(
        &self,
        id: String,
        kind: Ceremony,
    ) -> Result<Option<(Option<UserId>, String)>, ServiceError> {
        Ok(self.sessions.db().write(move |conn| db::passkeys::take_ceremony(conn, &id, kind)).await?)
    }
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
