//! Posts: anyone signed in reads; the author edits; the author or an admin deletes.
use actix_web::http::header::ContentType;
use actix_web::{delete, get, patch, post, web, HttpResponse};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::domain::{PostContent, PostId, UserId};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::AuthUser;
use crate::http::request::Validator;
use crate::http::wire::{page_params, Page, PostResponse};
use crate::service::Posts;

#[derive(Deserialize, ToSchema)]
pub struct PostRequest {
    /// 1–400 characters, not only whitespace, no NUL; kept exactly.
    #[schema(value_type = String, required = true, example = "hello, world")]
    content: Option<String>,
}

impl PostRequest {
    fn parse(self) -> Result<PostContent, ApiError> {
        let mut v = Validator::default();
        let content = v.required("content", self.content, PostContent::parse);
        v.finish(content)
    }
}

/// Query values stay strings so a bad one is a 422 naming it.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListPostsQuery {
    /// Page size, 1–100 (default 20).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100, example = 20)]
    limit: Option<String>,
    /// `next_cursor` of the previous page (opaque).
    #[param(value_type = Option<String>, min_length = 1, pattern = "^[A-Za-z0-9_-]+$")]
    cursor: Option<String>,
    /// Only this author's posts.
    #[param(value_type = Option<i64>, minimum = 1)]
    user_id: Option<String>,
}

/// List posts, newest first
///
/// Keyset-paginated, optionally by one author.
#[utoipa::path(tag = "posts", params(ListPostsQuery), security(("bearer" = [])),
    responses((status = 200, description = "A page of posts, newest first", body = Page<PostResponse>),
        (status = 401, response = Problem), (status = 422, response = Problem)))]
#[get("/posts")]
pub async fn list_posts(
    _user: AuthUser,
    query: web::Query<ListPostsQuery>,
    posts: web::Data<Posts>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let mut v = Validator::default();
    let page = page_params(&mut v, query.limit, query.cursor);
    let author = v.optional("user_id", query.user_id, |raw| {
        raw.parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .map(UserId)
            .ok_or_else(|| "must be a positive whole number".to_string())
    });
    let ((limit, cursor), author) = v.finish(page.zip(author))?;
    let before = cursor.map(|c| PostId(c.id()));
    let rows = posts.list(author, before, limit + 1).await?;
    let page = Page::from_rows(rows, limit as usize, |p| p.id.0, PostResponse::from);
    Ok(HttpResponse::Ok().content_type(ContentType::json()).body(page.to_json()))
}

/// Create a post, owned by the caller
#[utoipa::path(tag = "posts", request_body = PostRequest, security(("bearer" = [])),
    responses((status = 201, description = "Created", body = PostResponse),
        (status = 400, response = Problem), (status = 401, response = Problem), (status = 413, response = Problem),
        (status = 415, response = Problem), (status = 422, response = Problem)))]
#[post("/posts")]
pub async fn create_post(
    user: AuthUser,
    body: web::Json<PostRequest>,
    posts: web::Data<Posts>,
) -> Result<HttpResponse, ApiError> {
    let content = body.into_inner().parse()?;
    let post = posts.create(user.actor(), user.0.username.clone(), content).await?;
    Ok(HttpResponse::Created().json(PostResponse::from(post)))
}

/// One post
#[utoipa::path(tag = "posts", params(("id" = i64, Path, description = "Post id")),
    security(("bearer" = [])),
    responses((status = 200, description = "The post", body = PostResponse),
        (status = 401, response = Problem), (status = 404, response = Problem)))]
#[get("/posts/{id}")]
pub async fn get_post(
    _user: AuthUser,
    id: web::Path<i64>,
    posts: web::Data<Posts>,
) -> Result<web::Json<PostResponse>, ApiError> {
    Ok(web::Json(posts.get(PostId(id.into_inner())).await?.into()))
}

/// Edit a post (its author only)
#[utoipa::path(tag = "posts", params(("id" = i64, Path, description = "Post id")),
    request_body = PostRequest, security(("bearer" = [])),
    responses((status = 200, description = "Updated", body = PostResponse),
        (status = 400, response = Problem), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 413, response = Problem), (status = 415, response = Problem),
        (status = 422, response = Problem)))]
#[patch("/posts/{id}")]
pub async fn update_post(
    user: AuthUser,
    id: web::Path<i64>,
    body: web::Json<PostRequest>,
    posts: web::Data<Posts>,
) -> Result<web::Json<PostResponse>, ApiError> {
    let content = body.into_inner().parse()?;
    Ok(web::Json(posts.edit(user.actor(), PostId(id.into_inner()), content).await?.into()))
}

/// Delete a post (its author or an admin)
#[utoipa::path(tag = "posts", params(("id" = i64, Path, description = "Post id")),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted"),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 404, response = Problem)))]
#[delete("/posts/{id}")]
pub async fn delete_post(
    user: AuthUser,
    id: web::Path<i64>,
    posts: web::Data<Posts>,
) -> Result<HttpResponse, ApiError> {
    posts.delete(user.actor(), PostId(id.into_inner())).await?;
    Ok(HttpResponse::NoContent().finish())
}
