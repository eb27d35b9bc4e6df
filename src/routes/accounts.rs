//! Signup, login and the caller's own account.
use actix_web::{web, HttpResponse};
use chrono::TimeDelta;
use serde::Deserialize;

use super::wire::{TokenResponse, UserResponse};
use crate::auth::{random_token, AuthUser, PasswordHasher, Tokens};
use crate::config::Config;
use crate::db::{self, Db, DbError};
use crate::domain::{Password, Role, User, Username};
use crate::error::{ApiError, Validator};

/// Wire types keep plain optional strings: a wrong JSON type is a 400 from
/// the extractor, a missing field or a broken rule a 422 from us.
#[derive(Deserialize)]
pub struct CredentialsRequest {
    username: Option<String>,
    password: Option<String>,
}

/// Starts a session for `user` and answers with its first access token.
async fn start_session(
    db: &Db,
    tokens: &Tokens,
    config: &Config,
    user: User,
    status: actix_web::HttpResponseBuilder,
) -> Result<HttpResponse, ApiError> {
    let session_id = random_token(16);
    let lifetime = TimeDelta::seconds(config.refresh_ttl_secs);
    let (sid, user_id) = (session_id.clone(), user.id);
    db.run(move |conn| db::sessions::start(conn, &sid, user_id, lifetime)).await?;
    let token =
        tokens.issue(&user, &session_id).map_err(|e| ApiError::Internal(format!("signing failed: {e}")))?;
    Ok(TokenResponse::new(token, user).respond(status))
}

/// `POST /signup`: a new account, always role `user`.
pub async fn signup(
    body: web::Json<CredentialsRequest>,
    db: web::Data<Db>,
    hasher: web::Data<PasswordHasher>,
    tokens: web::Data<Tokens>,
    config: web::Data<Config>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut v = Validator::default();
    let username = v.required("username", body.username, |raw| Username::parse(&raw));
    let password = v.required("password", body.password, Password::parse);
    let (username, password) = v.finish(username.zip(password))?;
    let hash = hasher.hash(password).await?;
    let user = db.run(move |conn| db::users::insert(conn, &username, &hash, Role::User)).await.map_err(
        |e| match e {
            DbError::UniqueViolation => ApiError::UsernameTaken,
            other => other.into(),
        },
    )?;
    tracing::info!(user_id = user.id, "signup");
    start_session(&db, &tokens, &config, user, HttpResponse::Created()).await
}

/// `POST /login`: an unknown name, a name that breaks the rules and a wrong
/// password all cost one argon2 verify and get the same answer.
pub async fn login(
    body: web::Json<CredentialsRequest>,
    db: web::Data<Db>,
    hasher: web::Data<PasswordHasher>,
    tokens: web::Data<Tokens>,
    config: web::Data<Config>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut v = Validator::default();
    let username = v.required("username", body.username, Ok);
    let password = v.required("password", body.password, Ok);
    let (username, password) = v.finish(username.zip(password))?;
    let found = match Username::parse(&username) {
        Ok(name) => db.run(move |conn| db::users::find_credentials(conn, &name.key())).await?,
        Err(_) => None,
    };
    let (user, hash) = found.map_or((None, None), |(user, hash)| (Some(user), Some(hash)));
    let verified = hasher.verify(password, hash).await?;
    match user {
        Some(user) if verified => {
            tracing::info!(user_id = user.id, "login succeeded");
            start_session(&db, &tokens, &config, user, HttpResponse::Ok()).await
        }
        _ => {
            tracing::info!("login failed");
            Err(ApiError::InvalidCredentials)
        }
    }
}

/// `GET /check_session`: the account the token belongs to.
pub async fn check_session(user: AuthUser, db: web::Data<Db>) -> Result<web::Json<UserResponse>, ApiError> {
    let id = user.id();
    let found = db.run(move |conn| db::users::find(conn, id)).await?;
    // A deleted account's tokens are as good as revoked.
    found.map(|u| web::Json(u.into())).ok_or(ApiError::TokenRevoked)
}
