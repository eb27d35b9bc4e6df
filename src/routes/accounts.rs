//! Signup, login, refresh, logout and the caller's own account.
use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, HttpResponseBuilder};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::wire::{TokenResponse, UserResponse};
use crate::auth::{
    hash_refresh_token, new_refresh_token, random_token, AuthUser, PasswordHasher, Revocations, SessionToken,
    Tokens, Verdict,
};
use crate::db::sessions::{CheckedPassword, Refresh, SessionPolicy, Sessions, Started};
use crate::db::{self, Db, DbError};
use crate::domain::{Password, Role, User, Username};
use crate::error::{ApiError, Problem, Validator};
use crate::metrics::Metrics;
use crate::ratelimit::{ClientIp, Throttled};
use crate::telemetry::AUDIT;

// Wire types keep plain optional strings: a wrong JSON type is a 400 from
// the extractor, a missing field or a broken rule a 422 from us.

/// A username and password.
#[derive(Deserialize, ToSchema)]
pub struct CredentialsRequest {
    /// 3–32 characters of `A-Z a-z 0-9 _ . -`; case-insensitively unique.
    #[schema(value_type = String, required = true, example = "alice")]
    username: Option<String>,
    /// 8–128 characters; not one of the 10,000 most common passwords.
    #[schema(value_type = String, required = true, example = "correct horse battery")]
    password: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// The refresh token of the last token response.
    #[schema(value_type = String, required = true)]
    refresh_token: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogoutQuery {
    /// `all` ends every session of the user; `session` (the default) only this one.
    #[param(value_type = Option<String>, example = "all")]
    scope: Option<String>,
}

/// Issues the access token of `session_id` and answers with the token pair.
fn token_response(
    tokens: &Tokens,
    user: User,
    session_id: &str,
    refresh_token: String,
    status: HttpResponseBuilder,
) -> Result<HttpResponse, ApiError> {
    let token =
        tokens.issue(&user, session_id).map_err(|e| ApiError::Internal(format!("signing failed: {e}")))?;
    Ok(TokenResponse::new(token, refresh_token, user).respond(status))
}

/// What signup and login need to start a session, extracted as one.
pub struct SessionStarter {
    db: web::Data<Db>,
    tokens: web::Data<Tokens>,
    revocations: web::Data<Revocations>,
    policy: SessionPolicy,
}

impl FromRequest for SessionStarter {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = || {
            Some(Self {
                db: req.app_data::<web::Data<Db>>()?.clone(),
                tokens: req.app_data::<web::Data<Tokens>>()?.clone(),
                revocations: req.app_data::<web::Data<Revocations>>()?.clone(),
                policy: *req.app_data::<web::Data<SessionPolicy>>()?.get_ref(),
            })
        };
        ready(state().ok_or_else(|| ApiError::Internal("session state is not registered".into())))
    }
}

impl SessionStarter {
    /// Starts a new session for the account whose password was checked
    /// against `password_hash` (storing `renewed` in its place, if given),
    /// and answers with its first token pair, issued for the account as it
    /// is when the session starts. Sessions it ended to stay within the
    /// user's cap are revoked here at once.
    async fn start(
        &self,
        user_id: i64,
        password_hash: String,
        renewed: Option<String>,
        status: HttpResponseBuilder,
    ) -> Result<(HttpResponse, String), ApiError> {
        let session_id = random_token(16);
        let (refresh_token, refresh_hash) = new_refresh_token();
        let (sid, policy) = (session_id.clone(), self.policy);
        let Started { user, evicted } = self
            .db
            .write_for(user_id, move |conn| {
                let password = CheckedPassword { hash: &password_hash, renewed: renewed.as_deref() };
                db::sessions::start(conn, &sid, user_id, password, &refresh_hash, policy)
            })
            .await?
            // The account was deleted, or its password replaced, since the check.
            .ok_or(ApiError::InvalidCredentials)?;
        if !evicted.is_empty() {
            self.revocations.add_local(&evicted, policy);
            tracing::info!(target: AUDIT, event = "sessions_evicted", user_id, session_id = ?evicted);
        }
        Ok((token_response(&self.tokens, user, &session_id, refresh_token, status)?, session_id))
    }
}

/// Create an account and its first session
///
/// The account's role is always `user`.
#[utoipa::path(post, path = "/signup", tag = "accounts", request_body = CredentialsRequest,
    responses((status = 201, description = "Account created; first token pair", body = TokenResponse),
        (status = 400, response = Problem), (status = 413, response = Problem), (status = 415, response = Problem),
        (status = 422, response = Problem), (status = 429, response = Problem)))]
pub async fn signup(
    Throttled(ip): Throttled,
    body: web::Json<CredentialsRequest>,
    hasher: web::Data<PasswordHasher>,
    sessions: SessionStarter,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut v = Validator::default();
    let username = v.required("username", body.username, |raw| Username::parse(&raw));
    let password = v.required("password", body.password, Password::parse);
    let (username, password) = v.finish(username.zip(password))?;
    let hash = hasher.hash(password).await?;
    let stored = hash.clone();
    let user_id = sessions
        .db
        .write(move |conn| db::users::insert(conn, &username, &stored, Role::User))
        .await
        .map_err(|e| match e {
            DbError::UniqueViolation => ApiError::UsernameTaken,
            other => other.into(),
        })?
        .id;
    let (response, sid) = sessions.start(user_id, hash, None, HttpResponse::Created()).await?;
    tracing::info!(target: AUDIT, event = "signup", user_id, session_id = %sid, ip = %ip);
    Ok(response)
}

/// Log in: a new session
///
/// An unknown name, a name that breaks the rules and a wrong password all
/// cost one argon2 verify and get the same answer.
#[utoipa::path(post, path = "/login", tag = "accounts", request_body = CredentialsRequest,
    responses((status = 200, description = "A new session's token pair", body = TokenResponse),
        (status = 400, response = Problem), (status = 401, response = Problem), (status = 413, response = Problem),
        (status = 415, response = Problem), (status = 422, response = Problem), (status = 429, response = Problem)))]
pub async fn login(
    Throttled(ip): Throttled,
    body: web::Json<CredentialsRequest>,
    hasher: web::Data<PasswordHasher>,
    sessions: SessionStarter,
    metrics: web::Data<Metrics>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut v = Validator::default();
    let username = v.required("username", body.username, Ok);
    let password = v.required("password", body.password, Ok);
    let (username, password) = v.finish(username.zip(password))?;
    let found = match Username::parse(&username) {
        Ok(name) => sessions.db.read(move |conn| db::users::find_credentials(conn, &name.key())).await?,
        Err(_) => None,
    };
    let (user_id, hash) = found.map_or((None, None), |(user, hash)| (Some(user.id), Some(hash)));
    let verdict = hasher.verify(password, hash.clone()).await?;
    match (user_id.zip(hash), verdict) {
        (Some((user_id, hash)), Verdict::Match { renewed }) => {
            let (response, sid) = sessions.start(user_id, hash, renewed, HttpResponse::Ok()).await?;
            metrics.logins.with_label_values(&["ok"]).inc();
            tracing::info!(target: AUDIT, event = "login", user_id, session_id = %sid, ip = %ip);
            Ok(response)
        }
        _ => {
            metrics.logins.with_label_values(&["failed"]).inc();
            // The account's id when the name exists (guessing at one account
            // shows up), never the name typed: people type passwords there.
            tracing::info!(target: AUDIT, event = "login_failed", user_id, ip = %ip);
            Err(ApiError::InvalidCredentials)
        }
    }
}

/// Trade a refresh token for a new token pair
///
/// The refresh token rotates; one that was already used ends its whole
/// session.
#[utoipa::path(post, path = "/refresh", tag = "accounts", request_body = RefreshRequest,
    responses((status = 200, description = "The rotated token pair", body = TokenResponse),
        (status = 400, response = Problem), (status = 401, response = Problem), (status = 413, response = Problem),
        (status = 415, response = Problem), (status = 422, response = Problem), (status = 429, response = Problem)))]
pub async fn refresh(
    Throttled(ip): Throttled,
    body: web::Json<RefreshRequest>,
    db: web::Data<Db>,
    tokens: web::Data<Tokens>,
    revocations: web::Data<Revocations>,
    policy: web::Data<SessionPolicy>,
    metrics: web::Data<Metrics>,
) -> Result<HttpResponse, ApiError> {
    let mut v = Validator::default();
    let presented = v.required("refresh_token", body.into_inner().refresh_token, Ok);
    let presented = hash_refresh_token(&v.finish(presented)?);
    let (successor, successor_hash) = new_refresh_token();
    let policy = **policy;
    let outcome =
        db.write(move |conn| db::sessions::rotate(conn, &presented, &successor_hash, policy)).await?;
    let result = match &outcome {
        Refresh::Rotated { .. } => "ok",
        Refresh::Reused { .. } => "reuse",
        Refresh::Invalid => "invalid",
    };
    metrics.refreshes.with_label_values(&[result]).inc();
    match outcome {
        Refresh::Rotated { user, session_id } => {
            tracing::info!(target: AUDIT, event = "refresh", user_id = user.id, session_id = %session_id, ip = %ip);
            token_response(&tokens, user, &session_id, successor, HttpResponse::Ok())
        }
        Refresh::Reused { user_id, ended } => {
            revocations.add_local(&ended, policy);
            tracing::warn!(target: AUDIT, event = "refresh_reuse_detected", user_id, session_id = ?ended, ip = %ip);
            Err(ApiError::InvalidRefreshToken)
        }
        Refresh::Invalid => Err(ApiError::InvalidRefreshToken),
    }
}

/// End this session, or every session of the user
///
/// Idempotent: a token whose session already ended still gets 204 for its
/// own session (but 401 for `scope=all`).
#[utoipa::path(delete, path = "/logout", tag = "accounts", params(LogoutQuery), security(("bearer" = [])),
    responses((status = 204, description = "Session(s) ended"),
        (status = 401, response = Problem), (status = 422, response = Problem)))]
pub async fn logout(
    SessionToken(claims): SessionToken,
    query: web::Query<LogoutQuery>,
    ip: ClientIp,
    db: web::Data<Db>,
    revocations: web::Data<Revocations>,
    policy: web::Data<SessionPolicy>,
) -> Result<HttpResponse, ApiError> {
    let mut v = Validator::default();
    let all = v.optional("scope", query.into_inner().scope, |scope| match scope.as_str() {
        "all" => Ok(true),
        "session" => Ok(false),
        _ => Err("must be \"all\" or \"session\"".to_string()),
    });
    let all = v.finish(all)?.unwrap_or(false);
    // Only a live session may end the others: a token whose session ended
    // (perhaps because it was stolen) keeps only the idempotent logout of
    // its own session.
    if all && revocations.is_revoked(&claims.session_id) {
        return Err(ApiError::TokenRevoked);
    }
    let (user_id, sid, policy) = (claims.user_id, claims.session_id, **policy);
    let which_sid = sid.clone();
    let ended = db
        .write_for(user_id, move |conn| {
            let which = if all { Sessions::OfUser(user_id) } else { Sessions::One(&which_sid) };
            db::sessions::end(conn, which, policy)
        })
        .await?;
    revocations.add_local(&ended, policy);
    tracing::info!(target: AUDIT, event = "logout", user_id, session_id = %sid, all, ended = ended.len(), ip = %ip);
    Ok(HttpResponse::NoContent().finish())
}

/// The account the token belongs to
#[utoipa::path(get, path = "/check_session", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, description = "The caller's account", body = UserResponse),
        (status = 401, response = Problem)))]
pub async fn check_session(user: AuthUser, db: web::Data<Db>) -> Result<web::Json<UserResponse>, ApiError> {
    let id = user.id();
    let found = db.read(move |conn| db::users::find(conn, id)).await?;
    // Deleting a user revokes their sessions; this covers the instant between.
    found.map(|u| web::Json(u.into())).ok_or(ApiError::TokenRevoked)
}
