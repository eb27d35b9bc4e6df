//! The account's email and recovery by mail: the owner's view of the
//! account, an address at signup or changed later and verified by link, and
//! a forgotten password reset by link. A mail is stored in the transaction
//! that makes its link (the outbox); the sender delivers it after the
//! commit (`service::Mailer`).
use crate::auth::{hash_link_token, LinkKey};
use crate::db::emails::{EmailState, NewLink};
use crate::db::outbox::NewMail;
use crate::db::{self, DbError, Tx};
use crate::domain::{
    ClientDetails, ClientIp, Email, LinkPurpose, Password, Refusal, User, UserId, RESET_MAILS_PER_WINDOW,
    RESET_MAIL_WINDOW, VERIFY_LINK_TTL,
};
use crate::service::ServiceError;
use crate::telemetry::AUDIT;

use super::Accounts;

/// The account as its owner sees it (`GET /me`).
pub struct Account {
    pub user: User,
    pub email: EmailState,
    pub totp: bool,
    pub passkeys: i64,
}

const MAIL_OFF: ServiceError = ServiceError::NotFound("mail is not configured on this server");

/// Stores a link of `purpose` for `address` and its mail, in `tx`.
pub(super) fn queue_link(
    tx: &mut Tx,
    key: &LinkKey,
    user: UserId,
    purpose: LinkPurpose,
    address: &str,
    ttl: chrono::TimeDelta,
    client: &ClientDetails,
) -> Result<(), DbError> {
    let link = key.new_link();
    let new =
        NewLink { id: &link.id, token_hash: &link.hash, user, purpose, address, expires_at: db::now() + ttl };
    db::emails::insert_link(tx, new)?;
    let mail = NewMail {
        link_id: &link.id,
        recipient: address,
        network: client.network.as_deref(),
        user_agent: client.user_agent.as_deref(),
    };
    db::outbox::enqueue(tx, mail)
}

impl Accounts {
    /// Whether mail is configured (the recovery routes exist).
    pub fn mail_on(&self) -> bool {
        self.reset_ttl.is_some()
    }

    fn reset_ttl(&self) -> Result<chrono::TimeDelta, ServiceError> {
        let ttl = self.reset_ttl.ok_or(MAIL_OFF)?;
        Ok(chrono::TimeDelta::from_std(ttl).unwrap_or(chrono::TimeDelta::minutes(15)))
    }

    /// The caller's account with its email, second factor and passkeys.
    pub async fn account(&self, user: UserId) -> Result<Account, ServiceError> {
        let found = self
            .sessions
            .db()
            .read(move |conn| {
                let Some(user) = db::users::find(conn, user)? else { return Ok(None) };
                let email = db::emails::state(conn, user.id)?;
                let totp = db::mfa::factor(conn, user.id, true)?.is_some();
                let passkeys = db::passkeys::count(conn, user.id)?;
                Ok(Some(Account { user, email, totp, passkeys }))
            })
            .await?;
        found.ok_or(ServiceError::SessionEnded)
    }

    /// Stores `email` as a new account's address, unverified, and mails it
    /// a verification link — in the signup's transaction.
    pub(super) fn add_signup_email(
        &self,
        tx: &mut Tx,
        user: UserId,
        email: &Email,
        client: &ClientDetails,
    ) -> Result<(), DbError> {
        db::emails::refuse_taken(tx, None, email)?;
        db::emails::set_unverified(tx, user, email)?;
        queue_link(tx, &self.links, user, LinkPurpose::VerifyEmail, email.as_str(), VERIFY_LINK_TTL, client)
    }

    /// Asks to change the caller's address (password confirmed): a link to
    /// the new one, which stays pending until it is verified; earlier
    /// verification links are superseded.
    pub async fn change_email(
        &self,
        user: UserId,
        password: String,
        email: Email,
        ip: ClientIp,
        client: ClientDetails,
    ) -> Result<(), ServiceError> {
        self.reset_ttl()?;
        self.check_password(user, password, ip).await?;
        let links = self.links.clone();
        self.sessions
            .write(Some(user), move |tx, _| {
                db::emails::request_change(tx, user, &email)?;
                queue_link(
                    tx,
                    &links,
                    user,
                    LinkPurpose::VerifyEmail,
                    email.as_str(),
                    VERIFY_LINK_TTL,
                    &client,
                )
            })
            .await
            .map_err(|e| match e {
                DbError::Refused(Refusal::Stale) => ServiceError::SessionEnded,
                other => other.into(),
            })?;
        tracing::info!(target: AUDIT, event = "email_verification_sent", user_id = user.0, ip = %ip);
        Ok(())
    }

    /// Makes the address of a verification link the account's verified
    /// email; the link is spent.
    pub async fn verify_email(&self, token: &str, ip: ClientIp) -> Result<(), ServiceError> {
        self.reset_ttl()?;
        let hash = hash_link_token(token);
        let user = self.sessions.write(None, move |tx, _| db::emails::verify_link(tx, &hash)).await?;
        tracing::info!(target: AUDIT, event = "email_verified", user_id = user.0, ip = %ip);
        Ok(())
    }

    /// Mails a reset link to the account whose verified address is `email`,
    /// at most [`RESET_MAILS_PER_WINDOW`] an hour; answers the same, in the
    /// same one transaction, for every address.
    pub async fn forgot_password(
        &self,
        email: Email,
        ip: ClientIp,
        client: ClientDetails,
    ) -> Result<(), ServiceError> {
        let ttl = self.reset_ttl()?;
        let links = self.links.clone();
        let sent = self
            .sessions
            .write(None, move |tx, _| {
                let Some((user, address)) = db::emails::verified_owner(tx, &email)? else { return Ok(None) };
                let since = db::now() - RESET_MAIL_WINDOW;
                if db::emails::links_since(tx, user, LinkPurpose::ResetPassword, since)?
                    >= RESET_MAILS_PER_WINDOW
                {
                    return Ok(None);
                }
                queue_link(tx, &links, user, LinkPurpose::ResetPassword, &address, ttl, &client)?;
                Ok(Some(user))
            })
            .await?;
        if let Some(user) = sent {
            tracing::info!(target: AUDIT, event = "password_reset_requested", user_id = user.0, ip = %ip);
        }
        Ok(())
    }

    /// Sets a new password with a reset link, and ends every session of the
    /// account. TOTP stays on.
    pub async fn reset_password(&self, token: &str, new: Password, ip: ClientIp) -> Result<(), ServiceError> {
        self.reset_ttl()?;
        let hash = hash_link_token(token);
        let new_hash = self.hasher.hash(new).await?;
        let (user, ended) = self
            .sessions
            .write(None, move |tx, policy| db::accounts::reset_password(tx, &hash, &new_hash, policy))
            .await?;
        tracing::info!(target: AUDIT, event = "password_reset", user_id = user.0, sessions_ended = ended, ip = %ip);
        Ok(())
    }
}
