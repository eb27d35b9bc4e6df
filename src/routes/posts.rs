//! Posts: anyone signed in reads; the author edits; the author or an admin deletes.
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::wire::{parse_limit, Page, PostResponse};
use crate::auth::AuthUser;
use crate::db::{self, Db, DbError};
use crate::domain::{may_delete_post, may_edit_post, Cursor, PostContent};
use crate::error::{ApiError, Validator};

pub const DEFAULT_PAGE: i64 = 20;
pub const MAX_PAGE: i64 = 100;

#[derive(Deserialize)]
pub struct PostRequest {
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
#[derive(Deserialize)]
pub struct ListPostsQuery {
    limit: Option<String>,
    cursor: Option<String>,
    user_id: Option<String>,
}

const NO_POST: ApiError = ApiError::NotFound("no such post");

/// `GET /posts`: newest first, keyset-paginated, optionally by one author.
pub async fn list_posts(
    _user: AuthUser,
    query: web::Query<ListPostsQuery>,
    db: web::Data<Db>,
) -> Result<web::Json<Page<PostResponse>>, ApiError> {
    let query = query.into_inner();
    let mut v = Validator::default();
    let limit = v.optional("limit", query.limit, |raw| parse_limit(raw, MAX_PAGE));
    let cursor = v.optional("cursor", query.cursor, |raw| Cursor::decode(&raw));
    let author = v.optional("user_id", query.user_id, |raw| {
        raw.parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| "must be a positive whole number".to_string())
    });
    let ((limit, cursor), author) = v.finish(limit.zip(cursor).zip(author))?;
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    let rows = db.run(move |conn| db::posts::list(conn, author, cursor.map(Cursor::id), limit + 1)).await?;
    Ok(web::Json(Page::from_rows(rows, limit as usize, |p| p.id, PostResponse::from)))
}

/// `POST /posts`: owned by the caller.
pub async fn create_post(
    user: AuthUser,
    body: web::Json<PostRequest>,
    db: web::Data<Db>,
) -> Result<HttpResponse, ApiError> {
    let content = body.into_inner().parse()?;
    let author = user.id();
    let post = db.run(move |conn| db::posts::insert(conn, author, &content)).await.map_err(|e| match e {
        // The account was deleted after this token was issued.
        DbError::ForeignKeyViolation => ApiError::TokenRevoked,
        other => other.into(),
    })?;
    Ok(HttpResponse::Created().json(PostResponse::from(post)))
}

/// `GET /posts/{id}`.
pub async fn get_post(
    _user: AuthUser,
    id: web::Path<i64>,
    db: web::Data<Db>,
) -> Result<web::Json<PostResponse>, ApiError> {
    let id = id.into_inner();
    let post = db.run(move |conn| db::posts::find(conn, id)).await?.ok_or(NO_POST)?;
    Ok(web::Json(post.into()))
}

/// `PATCH /posts/{id}`: the author only.
pub async fn update_post(
    user: AuthUser,
    id: web::Path<i64>,
    body: web::Json<PostRequest>,
    db: web::Data<Db>,
) -> Result<web::Json<PostResponse>, ApiError> {
    let (id, actor) = (id.into_inner(), user.actor());
    let content = body.into_inner().parse()?;
    let post = db.run(move |conn| db::posts::find(conn, id)).await?.ok_or(NO_POST)?;
    if !may_edit_post(post.author_id, actor) {
        return Err(ApiError::Forbidden("only the author may edit a post"));
    }
    let post = db.run(move |conn| db::posts::update_content(conn, id, &content)).await?.ok_or(NO_POST)?;
    Ok(web::Json(post.into()))
}

/// `DELETE /posts/{id}`: the author or an admin.
pub async fn delete_post(
    user: AuthUser,
    id: web::Path<i64>,
    db: web::Data<Db>,
) -> Result<HttpResponse, ApiError> {
    let (id, actor) = (id.into_inner(), user.actor());
    let post = db.run(move |conn| db::posts::find(conn, id)).await?.ok_or(NO_POST)?;
    if !may_delete_post(post.author_id, actor) {
        return Err(ApiError::Forbidden("only the author or an admin may delete a post"));
    }
    db.run(move |conn| db::posts::delete(conn, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}
