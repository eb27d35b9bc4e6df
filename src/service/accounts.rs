//! Signup, login, refresh and the caller's own account: passwords, tokens
//! and sessions together.
use std::sync::Arc;

use crate::auth::mfa::{new_mfa_token, MfaKey};
use crate::auth::{
    new_refresh_token, random_token, IssuedToken, LinkKey, PasswordHasher, Successors, Tokens, Verdict,
};
use crate::db::accounts::{CheckedPassword, Hold, NewSession, Start};
use crate::db::{self, DbError};
use crate::domain::{
    Amr, ClientDetails, ClientIp, Email, GuessSubject, Password, RefreshHash, Refusal, Role, SessionId, User,
    UserId, Username, MFA_TOKEN_TTL,
};
use crate::metrics::Metrics;
use crate::telemetry::AUDIT;

use super::{Guesser, Guesses, ServiceError, Sessions};

/// What a correct password gets.
pub enum Login {
    Started(TokenPair),
    /// TOTP is on: the login waits for a code under this token (single
    /// use, 5 minutes) at `log_in_with_code`.
    SecondFactorDue {
        mfa_token: String,
    },
}

/// The ids a new session is stored under, made before its transaction: a
/// rerun after a conflict stores the same ones.
struct NewTokens {
    session: SessionId,
    refresh_token: String,
    refresh_hash: RefreshHash,
}

impl NewTokens {
    fn generate() -> Self {
        let (refresh_token, refresh_hash) = new_refresh_token();
        Self { session: SessionId(random_token(16)), refresh_token, refresh_hash }
    }
}

/// A session's token pair, as signup, login and refresh answer it.
pub struct TokenPair {
    pub access: IssuedToken,
    pub refresh_token: String,
    pub user: User,
    pub session: SessionId,
}

#[derive(Clone)]
pub struct Accounts {
    sessions: Sessions,
    tokens: Arc<Tokens>,
    hasher: Arc<PasswordHasher>,
    successors: Arc<Successors>,
    mfa_key: Arc<MfaKey>,
    /// Names the service in authenticator apps.
    issuer: String,
    metrics: Metrics,
    guesses: Guesses,
    /// Derives mailed links' tokens.
    links: Arc<LinkKey>,
    /// How long a reset link lasts; `None`: mail is off.
    reset_ttl: Option<std::time::Duration>,
    /// `None`: passkeys are off.
    webauthn: Option<Arc<webauthn_rs::Webauthn>>,
}

/// What the service is built from, besides its sessions.
pub struct AccountsParts {
    pub tokens: Arc<Tokens>,
    pub hasher: Arc<PasswordHasher>,
    pub successors: Arc<Successors>,
    pub mfa_key: Arc<MfaKey>,
    pub issuer: String,
    pub metrics: Metrics,
    pub links: Arc<LinkKey>,
    pub reset_ttl: Option<std::time::Duration>,
    pub webauthn: Option<Arc<webauthn_rs::Webauthn>>,
}

mod email;
mod mfa;
mod own;
mod passkeys;
mod tokens;

pub use email::Account;
pub use mfa::Enrolment;
pub use passkeys::Started as PasskeyCeremony;

impl Accounts {
    pub fn new(sessions: Sessions, parts: AccountsParts) -> Self {
        let AccountsParts {
            tokens,
            hasher,
            successors,
            mfa_key,
            issuer,
            metrics,
            links,
            reset_ttl,
            webauthn,
        } = parts;
        let guesses = Guesses::new(sessions.db().clone(), metrics.clone());
        Self {
            sessions,
            tokens,
            hasher,
            successors,
            mfa_key,
            issuer,
            metrics,
            guesses,
            links,
            reset_ttl,
            webauthn,
        }
    }

    /// A new account, always role `user`, and its first session. With
    /// `email` (mail on), the address is the account's, unverified, and a
    /// verification link is mailed to it.
    pub async fn sign_up(
        &self,
        username: Username,
        password: Password,
        email: Option<Email>,
        ip: ClientIp,
        client: ClientDetails,
    ) -> Result<TokenPair, ServiceError> {
        let hash = self.hasher.hash(password).await?;
        let stored = hash.clone();
        let (this, details) = (self.clone(), client.clone());
        let user = self
            .sessions
            .write(None, move |tx, _| {
                let user = db::users::insert(tx, &username, &stored, Role::User)?;
                if let Some(email) = &email {
                    this.add_signup_email(tx, user.id, email, &details)?;
                }
                Ok(user)
            })
            .await
            .map_err(|e| match e {
                DbError::UniqueViolation => ServiceError::UsernameTaken,
                DbError::Refused(Refusal::EmailTaken) => ServiceError::EmailTaken { at_signup: true },
                other => other.into(),
            })?;
        let Login::Started(pair) = self.start(user.id, hash, None, client, None).await? else {
            // A new account has no second factor.
            return Err(ServiceError::InvalidCredentials);
        };
        tracing::info!(target: AUDIT, event = "signup", user_id = user.id.0, session_id = %pair.session, ip = %ip);
        Ok(pair)
    }

    /// A new session — or, for an account with TOTP on, the token to
    /// complete the login with at `log_in_with_code`. An unknown name, a
    /// name that breaks the rules and a wrong password all cost one argon2
    /// verify and get the same answer, TOTP or not. Each guess spends the
    /// name's password budget (see `Guesses`); once it is spent, only
    /// networks the account logs in from get a verify.
    pub async fn log_in(
        &self,
        username: &str,
        password: String,
        ip: ClientIp,
        client: ClientDetails,
    ) -> Result<Login, ServiceError> {
        let found = match Username::parse(username) {
            Ok(name) => {
                self.sessions.db().read(move |conn| db::users::find_credentials(conn, &name.key())).await?
            }
            Err(_) => None,
        };
        let (user, hash) = found.map_or((None, None), |(user, hash)| (Some(user.id), Some(hash)));
        let guessed = GuessSubject::password_of(username);
        let guesser = Guesser { account: user, network: client.network.as_deref(), ip };
        self.guesses.charge(&guessed, guesser).await?;
        let verdict = self.hasher.verify(password, hash.clone()).await?;
        let (Some((user, hash)), Verdict::Match { renewed }) = (user.zip(hash), verdict) else {
            self.metrics.logins.with_label_values(&["failed"]).inc();
            // The account's id when the name exists (guessing at one account
            // shows up), never the name typed: people type passwords there.
            tracing::info!(target: AUDIT, event = "login_failed", user_id = user.map(|u| u.0), ip = %ip);
            return Err(ServiceError::InvalidCredentials);
        };
        let login = self.start(user, hash, renewed, client, Some(guessed)).await?;
        match &login {
            Login::Started(pair) => {
                self.metrics.logins.with_label_values(&["ok"]).inc();
                tracing::info!(target: AUDIT, event = "login", user_id = user.0, session_id = %pair.session, ip = %ip);
            }
            Login::SecondFactorDue { .. } => {
                self.metrics.logins.with_label_values(&["mfa_required"]).inc();
                tracing::info!(target: AUDIT, event = "login_mfa_required", user_id = user.0, ip = %ip);
            }
        }
        Ok(login)
    }

    /// Starts a session for the account whose password was checked against
    /// `hash` (storing `renewed` in its place, if given), issued for the
    /// account as it is when the session starts; sessions beyond the cap
    /// end with it. An account with TOTP on gets no session but the token
    /// its login waits under. The password's charge to `guessed` is
    /// refunded. `InvalidCredentials` when the account was deleted, or its
    /// password replaced, since the check.
    async fn start(
        &self,
        user: UserId,
        hash: String,
        renewed: Option<String>,
        client: ClientDetails,
        guessed: Option<GuessSubject>,
    ) -> Result<Login, ServiceError> {
        let new = NewTokens::generate();
        let (mfa_token, mfa_hash) = new_mfa_token();
        let (sid, refresh_hash) = (new.session.clone(), new.refresh_hash.clone());
        let started = self
            .sessions
            .write(Some(user), move |tx, policy| {
                let password = Some(CheckedPassword { hash: &hash, renewed: renewed.as_deref() });
                let new = NewSession {
                    id: &sid,
                    user,
                    password,
                    first_token: &refresh_hash,
                    client: &client,
                    amr: Amr::Password,
                    guessed: guessed.as_ref(),
                };
                let hold = Hold { token_hash: &mfa_hash, expires_at: db::now() + MFA_TOKEN_TTL };
                db::accounts::start_session(tx, new, Some(hold), policy)
            })
            .await?;
        Ok(match started {
            Start::Started(account) => Login::Started(self.begin(account, new, Amr::Password)?),
            Start::SecondFactorDue => Login::SecondFactorDue { mfa_token },
        })
    }

    /// The pair of a session that just started (stored with `new`'s ids):
    /// known here from now on, so its tokens are honoured without a lookup.
    fn begin(&self, user: User, new: NewTokens, amr: Amr) -> Result<TokenPair, ServiceError> {
        self.sessions.started(&new.session, user.id);
        self.pair(user, new.session, new.refresh_token, amr)
    }

    /// The caller's account. A deleted user's sessions are revoked; this
    /// covers the instant between.
    pub async fn me(&self, user: UserId) -> Result<User, ServiceError> {
        self.sessions
            .db()
            .read(move |conn| db::users::find(conn, user))
            .await?
            .ok_or(ServiceError::SessionEnded)
    }

    fn pair(
        &self,
        user: User,
        session: SessionId,
        refresh_token: String,
        amr: Amr,
    ) -> Result<TokenPair, ServiceError> {
        let access = self.tokens.issue(&user, &session, amr).map_err(ServiceError::Signing)?;
        Ok(TokenPair { access, refresh_token, user, session })
    }
}
