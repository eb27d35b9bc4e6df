//! Posts: anyone signed in reads; the author edits; the author or an admin deletes.
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::wire::{page_params, Page, PostResponse};
use crate::auth::AuthUser;
use crate::db::posts::NoLongerAdmin;
use crate::db::{self, Db, DbError};
use crate::domain::{deletes_as_admin, may_delete_post, may_edit_post, Cursor, PostContent};
use crate::error::{ApiError, Problem, Validator};

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

const NO_POST: ApiError = ApiError::NotFound("no such post");

/// List posts, newest first
///
/// Keyset-paginated, optionally by one author.
#[utoipa::path(get, path = "/posts", tag = "posts", params(ListPostsQuery), security(("bearer" = [])),
    responses((status = 200, description = "A page of posts, newest first", body = Page<PostResponse>),
        (status = 401, response = Problem), (status = 422, response = Problem)))]
pub async fn list_posts(
    _user: AuthUser,
    query: web::Query<ListPostsQuery>,
    db: web::Data<Db>,
) -> Result<web::Json<Page<PostResponse>>, ApiError> {
    let query = query.into_inner();
    let mut v = Validator::default();
    let page = page_params(&mut v, query.limit, query.cursor);
    let author = v.optional("user_id", query.user_id, |raw| {
        raw.parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| "must be a positive whole number".to_string())
    });
    let ((limit, cursor), author) = v.finish(page.zip(author))?;
    let before = cursor.map(Cursor::id);
    let rows = db.read(move |conn| db::posts::list(conn, author, before, limit + 1)).await?;
    Ok(web::Json(Page::from_rows(rows, limit as usize, |p| p.id, PostResponse::from)))
}

/// Create a post, owned by the caller
#[utoipa::path(post, path = "/posts", tag = "posts", request_body = PostRequest, security(("bearer" = [])),
    responses((status = 201, description = "Created", body = PostResponse),
        (status = 400, response = Problem), (status = 401, response = Problem), (status = 413, response = Problem),
        (status = 415, response = Problem), (status = 422, response = Problem)))]
pub async fn create_post(
    user: AuthUser,
    body: web::Json<PostRequest>,
    db: web::Data<Db>,
) -> Result<HttpResponse, ApiError> {
    let content = body.into_inner().parse()?;
    let AuthUser(claims) = user;
    let post = db
        .write_for(claims.user_id, move |conn| {
            db::posts::insert(conn, claims.user_id, &claims.username, &content)
        })
        .await
        .map_err(|e| match e {
            // The account was deleted after this token was issued.
            DbError::ForeignKeyViolation => ApiError::TokenRevoked,
            other => other.into(),
        })?;
    Ok(HttpResponse::Created().json(PostResponse::from(post)))
}

/// One post
#[utoipa::path(get, path = "/posts/{id}", tag = "posts", params(("id" = i64, Path, description = "Post id")),
    security(("bearer" = [])),
    responses((status = 200, description = "The post", body = PostResponse),
        (status = 401, response = Problem), (status = 404, response = Problem)))]
pub async fn get_post(
    _user: AuthUser,
    id: web::Path<i64>,
    db: web::Data<Db>,
) -> Result<web::Json<PostResponse>, ApiError> {
    let id = id.into_inner();
    let post = db.read(move |conn| db::posts::find(conn, id)).await?.ok_or(NO_POST)?;
    Ok(web::Json(post.into()))
}

/// Edit a post (its author only)
#[utoipa::path(patch, path = "/posts/{id}", tag = "posts", params(("id" = i64, Path, description = "Post id")),
    request_body = PostRequest, security(("bearer" = [])),
    responses((status = 200, description = "Updated", body = PostResponse),
        (status = 400, response = Problem), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 413, response = Problem), (status = 415, response = Problem),
        (status = 422, response = Problem)))]
pub async fn update_post(
    user: AuthUser,
    id: web::Path<i64>,
    body: web::Json<PostRequest>,
    db: web::Data<Db>,
) -> Result<web::Json<PostResponse>, ApiError> {
    let (id, actor) = (id.into_inner(), user.actor());
    let content = body.into_inner().parse()?;
    let post = db.read(move |conn| db::posts::find(conn, id)).await?.ok_or(NO_POST)?;
    if !may_edit_post(post.author_id, actor) {
        return Err(ApiError::Forbidden("only the author may edit a post"));
    }
    let post = db
        .write_for(actor.user_id, move |conn| db::posts::update_content(conn, id, &content))
        .await?
        .ok_or(NO_POST)?;
    Ok(web::Json(post.into()))
}

/// Delete a post (its author or an admin)
#[utoipa::path(delete, path = "/posts/{id}", tag = "posts", params(("id" = i64, Path, description = "Post id")),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted"),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 404, response = Problem)))]
pub async fn delete_post(
    user: AuthUser,
    id: web::Path<i64>,
    db: web::Data<Db>,
) -> Result<HttpResponse, ApiError> {
    let (id, actor) = (id.into_inner(), user.actor());
    let post = db.read(move |conn| db::posts::find(conn, id)).await?.ok_or(NO_POST)?;
    if !may_delete_post(post.author_id, actor) {
        return Err(ApiError::Forbidden("only the author or an admin may delete a post"));
    }
    let as_admin = deletes_as_admin(post.author_id, actor).then_some(actor.user_id);
    db.write_for(actor.user_id, move |conn| db::posts::delete(conn, id, as_admin))
        .await?
        // The role ended (on any instance) after this token was issued.
        .map_err(|NoLongerAdmin| ApiError::TokenRevoked)?;
    Ok(HttpResponse::NoContent().finish())
}
