//! Admin-only account management.
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::wire::{page_params, Page, UserResponse};
use crate::auth::{AdminUser, Revocations};
use crate::db::sessions::SessionPolicy;
use crate::db::users::AdminChange;
use crate::db::{self, Db};
use crate::domain::{Cursor, Role};
use crate::error::{ApiError, Problem, Validator};
use crate::telemetry::AUDIT;

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
    #[serde(serialize_with = "super::wire::rfc3339")]
    created_at: chrono::DateTime<chrono::Utc>,
    post_count: i64,
}

#[derive(Deserialize, ToSchema)]
pub struct RoleRequest {
    /// `user` or `admin`.
    #[schema(value_type = String, required = true, example = "admin")]
    role: Option<String>,
}

const NO_USER: ApiError = ApiError::NotFound("no such user");

/// Maps the outcome of a change to a user made with admin rights.
fn admin_change<T>(change: AdminChange<T>) -> Result<T, ApiError> {
    match change {
        AdminChange::Done(value) => Ok(value),
        AdminChange::NotFound => Err(NO_USER),
        AdminChange::LastAdmin => Err(ApiError::LastAdmin),
        // The role change or deletion ended this admin's sessions too.
        AdminChange::NotAdmin => Err(ApiError::TokenRevoked),
    }
}

/// List accounts, oldest first, with their post counts
#[utoipa::path(get, path = "/admin/users", tag = "admin", params(ListUsersQuery), security(("bearer" = [])),
    responses((status = 200, description = "A page of users, oldest first", body = Page<AdminUserResponse>),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 422, response = Problem)))]
pub async fn list_users(
    _admin: AdminUser,
    query: web::Query<ListUsersQuery>,
    db: web::Data<Db>,
) -> Result<web::Json<Page<AdminUserResponse>>, ApiError> {
    let query = query.into_inner();
    let mut v = Validator::default();
    let page = page_params(&mut v, query.limit, query.cursor);
    let (limit, cursor) = v.finish(page)?;
    let after = cursor.map(Cursor::id);
    let rows = db.read(move |conn| db::users::list_with_post_counts(conn, after, limit + 1)).await?;
    Ok(web::Json(Page::from_rows(
        rows,
        limit as usize,
        |(u, _)| u.id,
        |(user, post_count)| AdminUserResponse {
            id: user.id,
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
#[utoipa::path(patch, path = "/admin/users/{id}", tag = "admin", params(("id" = i64, Path, description = "User id")),
    request_body = RoleRequest, security(("bearer" = [])),
    responses((status = 200, description = "Updated; a changed role ends the user's sessions", body = UserResponse),
        (status = 400, response = Problem), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem), (status = 415, response = Problem),
        (status = 422, response = Problem)))]
pub async fn update_user_role(
    admin: AdminUser,
    id: web::Path<i64>,
    body: web::Json<RoleRequest>,
    db: web::Data<Db>,
    revocations: web::Data<Revocations>,
    policy: web::Data<SessionPolicy>,
) -> Result<web::Json<UserResponse>, ApiError> {
    let mut v = Validator::default();
    let role = v.required("role", body.into_inner().role, |raw| raw.parse::<Role>());
    let role = v.finish(role)?;
    let (id, policy) = (id.into_inner(), **policy);
    let by = admin.0.id();
    let (user, ended) =
        admin_change(db.write_for(id, move |conn| db::users::set_role(conn, by, id, role, policy)).await?)?;
    revocations.add_local(&ended, policy);
    tracing::info!(target: AUDIT, event = "role_changed", user_id = id, by, role = %role,
        sessions_ended = ended.len());
    Ok(web::Json(user.into()))
}

/// Delete an account, its posts and its sessions
#[utoipa::path(delete, path = "/admin/users/{id}", tag = "admin", params(("id" = i64, Path, description = "User id")),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted with their posts; sessions revoked"),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 404, response = Problem),
        (status = 409, response = Problem)))]
pub async fn delete_user(
    admin: AdminUser,
    id: web::Path<i64>,
    db: web::Data<Db>,
    revocations: web::Data<Revocations>,
    policy: web::Data<SessionPolicy>,
) -> Result<HttpResponse, ApiError> {
    let (id, policy) = (id.into_inner(), **policy);
    let by = admin.0.id();
    let ended = admin_change(db.write_for(id, move |conn| db::users::delete(conn, by, id, policy)).await?)?;
    revocations.add_local(&ended, policy);
    tracing::info!(target: AUDIT, event = "user_deleted", user_id = id, by,
        sessions_ended = ended.len());
    Ok(HttpResponse::NoContent().finish())
}
