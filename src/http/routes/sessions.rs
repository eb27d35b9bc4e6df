//! The caller's sessions: where they are logged in, and ending any of them.
use actix_web::{delete, get, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::{ClientIp, SessionId, SessionInfo};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::AuthUser;
use crate::http::request::Validator;
use crate::service::{ServiceError, Sessions};

/// A live session of the caller.
#[derive(Serialize, ToSchema)]
pub struct SessionResponse {
    /// The `sid` of its access tokens.
    id: String,
    #[serde(serialize_with = "crate::http::wire::rfc3339")]
    created_at: DateTime<Utc>,
    /// Moves at least on every refresh.
    #[serde(serialize_with = "crate::http::wire::rfc3339")]
    last_used_at: DateTime<Utc>,
    /// A short label of the client's user agent ("Firefox on Linux").
    #[schema(example = "Firefox on Linux")]
    user_agent: Option<String>,
    /// The client's network: an IPv4 /24 or an IPv6 /48.
    #[schema(example = "203.0.113.0/24")]
    client_ip: Option<String>,
    /// Whether this is the session of the token that asked.
    current: bool,
}

#[derive(Serialize, ToSchema)]
pub struct SessionList {
    items: Vec<SessionResponse>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EndSessionsQuery {
    /// Must be `others`: every session of the caller but this one.
    #[param(value_type = String, required = true, example = "others")]
    scope: Option<String>,
}

/// The caller's live sessions
///
/// Newest first, with the one this token belongs to marked `current`.
#[utoipa::path(tag = "accounts", security(("bearer" = [])),
    responses((status = 200, description = "The caller's live sessions", body = SessionList),
        (status = 401, response = Problem)))]
#[get("/sessions")]
pub async fn list_sessions(
    user: AuthUser,
    sessions: web::Data<Sessions>,
) -> Result<web::Json<SessionList>, ApiError> {
    let current = user.0.session_id.clone();
    let items = sessions
        .list(user.id())
        .await?
        .into_iter()
        .map(|s: SessionInfo| SessionResponse {
            current: s.id == current,
            id: s.id.0,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            user_agent: s.user_agent,
            client_ip: s.client_ip,
        })
        .collect();
    Ok(web::Json(SessionList { items }))
}

/// End one of the caller's sessions
///
/// Any id that is not one of the caller's live sessions is 404, with no
/// hint whether it exists.
#[utoipa::path(tag = "accounts", params(("id" = String, Path, description = "Session id")),
    security(("bearer" = [])),
    responses((status = 204, description = "Ended"), (status = 401, response = Problem), (status = 404, response = Problem)))]
#[delete("/sessions/{id}")]
pub async fn end_session(
    user: AuthUser,
    id: web::Path<String>,
    ip: ClientIp,
    sessions: web::Data<Sessions>,
) -> Result<HttpResponse, ApiError> {
    let id = SessionId::parse(&id).ok_or(ServiceError::NotFound("no such session"))?;
    sessions.end_for(user.id(), id, false, ip).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// End every session of the caller but this one
#[utoipa::path(tag = "accounts", params(EndSessionsQuery), security(("bearer" = [])),
    responses((status = 204, description = "The caller's other sessions ended"),
        (status = 401, response = Problem), (status = 422, response = Problem)))]
#[delete("/sessions")]
pub async fn end_other_sessions(
    user: AuthUser,
    query: web::Query<EndSessionsQuery>,
    ip: ClientIp,
    sessions: web::Data<Sessions>,
) -> Result<HttpResponse, ApiError> {
    let mut v = Validator::default();
    let scope = v.required("scope", query.into_inner().scope, |scope| match scope.as_str() {
        "others" => Ok(()),
        _ => Err("must be \"others\"".to_string()),
    });
    v.finish(scope)?;
    sessions.end_for(user.id(), user.0.session_id.clone(), true, ip).await?;
    Ok(HttpResponse::NoContent().finish())
}
