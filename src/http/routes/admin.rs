//! Admin-only account management.
use actix_web::{delete, get, patch, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::{Role, UserId};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::AdminUser;
use crate::http::request::Validator;
use crate::http::wire::{page_params, Page, UserResponse};
use crate::service::Admin;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListUsersQuery {
    /// Page size, 1–100 (default 20).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// `next_cursor` of the previous page (opaque).
    #[param(value_type = Option<String>, min_length = 1, pattern = "^[A-Za-z0-9_-]+$")]
    cursor: Option<String>,
}

/// An account with its number of posts. The fields of a user, spelled out:
/// a flattened one renders as "any & object" in the docs page.
#[derive(Serialize, ToSchema)]
pub struct AdminUserResponse {
    id: i64,
    username: String,
    #[schema(example = "user")]
    role: &'static str,
    #[serde(serialize_with = "crate::http::wire::rfc3339")]
    created_at: chrono::DateTime<chrono::Utc>,
    post_count: i64,
}

#[derive(Deserialize, ToSchema)]
pub struct RoleRequest {
    /// `user` or `admin`.
    #[schema(value_type = String, required = true, example = "admin")]
    role: Option<String>,
}

/// List accounts, oldest first, with their post counts
#[utoipa::path(tag = "admin", params(ListUsersQuery), security(("bearer" = [])),
    responses((status = 200, description = "A page of users, oldest first", body = Page<AdminUserResponse>),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 422, response = Problem)))]
#[get("/admin/users")]
pub async fn list_users(
    _admin: AdminUser,
    query: web::Query<ListUsersQuery>,
    admin: web::Data<Admin>,
) -> Result<web::Json<Page<AdminUserResponse>>, ApiError> {
    let query = query.into_inner();
    let mut v = Validator::default();
    let page = page_params(&mut v, query.limit, query.cursor);
    let (limit, cursor) = v.finish(page)?;
    let rows = admin.list_users(cursor.map(|c| UserId(c.id())), limit + 1).await?;
    Ok(web::Json(Page::from_rows(
        rows,
        limit as usize,
        |(user, _)| user.id.0,
        |(user, post_count)| AdminUserResponse {
            id: user.id.0,
            username: user.username,
            role: user.role.as_str(),
            created_at: user.created_at,
            post_count,
        },
    )))
}

/// Set an account's role
///
/// A change ends the account's sessions; it never leaves zero admins.
#[utoipa::path(tag = "admin", params(("id" = i64, Path, description = "User id")),
    request_body = RoleRequest, security(("bearer" = [])),
    responses((status = 200, description = "Updated; a changed role ends the user's sessions", body = UserResponse),
        (status = 400, response = Problem), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem), (status = 415, response = Problem),
        (status = 422, response = Problem)))]
#[patch("/admin/users/{id}")]
pub async fn update_user_role(
    by: AdminUser,
    id: web::Path<i64>,
    body: web::Json<RoleRequest>,
    admin: web::Data<Admin>,
) -> Result<web::Json<UserResponse>, ApiError> {
    let mut v = Validator::default();
    let role = v.required("role", body.into_inner().role, |raw| raw.parse::<Role>());
    let role = v.finish(role)?;
    Ok(web::Json(admin.set_role(by.0.actor(), UserId(id.into_inner()), role).await?.into()))
}

/// Delete an account, its posts and its sessions
#[utoipa::path(tag = "admin", params(("id" = i64, Path, description = "User id")),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted with their posts; sessions revoked"),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 404, response = Problem),
        (status = 409, response = Problem)))]
#[delete("/admin/users/{id}")]
pub async fn delete_user(
    by: AdminUser,
    id: web::Path<i64>,
    admin: web::Data<Admin>,
) -> Result<HttpResponse, ApiError> {
    admin.delete_user(by.0.actor(), UserId(id.into_inner())).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Turn a user's TOTP off
///
/// For a user who lost their device and their recovery codes. Their
/// sessions go on; their next login needs only the password.
#[utoipa::path(tag = "admin", params(("id" = i64, Path, description = "User id")),
    security(("bearer" = [])),
    responses((status = 204, description = "TOTP is off for that user (or was)"),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 404, response = Problem)))]
#[delete("/admin/users/{id}/mfa")]
pub async fn reset_user_mfa(
    by: AdminUser,
    id: web::Path<i64>,
    admin: web::Data<Admin>,
) -> Result<HttpResponse, ApiError> {
    admin.reset_mfa(by.0.actor(), UserId(id.into_inner())).await?;
    Ok(HttpResponse::NoContent().finish())
}
