//! Posts: anyone signed in reads them, their author edits them, the author
//! or an admin deletes them.
use crate::db::users::NoLongerAdmin;
use crate::db::{self, Db, DbError};
use crate::domain::{
    deletes_as_admin, may_delete_post, may_edit_post, Actor, Post, PostContent, PostId, UserId,
};

use super::ServiceError;

const NO_POST: ServiceError = ServiceError::NotFound("no such post");

#[derive(Clone)]
pub struct Posts {
    db: Db,
}

impl Posts {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Newest first, up to `limit`, before `before`, by `author` if given.
    pub async fn list(
        &self,
        author: Option<UserId>,
        before: Option<PostId>,
        limit: i64,
    ) -> Result<Vec<Post>, ServiceError> {
        Ok(db::posts::list(&self.db, author, before, limit).await?)
    }

    pub async fn get(&self, id: PostId) -> Result<Post, ServiceError> {
        db::posts::get(&self.db, id).await?.ok_or(NO_POST)
    }

    /// A new post of `author` (whose name the token carries).
    pub async fn create(
        &self,
        author: Actor,
        author_username: String,
        content: PostContent,
    ) -> Result<Post, ServiceError> {
        let user = author.user_id;
        self.db
            .write_for(user, move |conn| db::posts::insert(conn, user, &author_username, &content))
            .await
            .map_err(|e| match e {
                // The account was deleted after this token was issued.
                DbError::ForeignKeyViolation => ServiceError::SessionEnded,
                other => other.into(),
            })
    }

    /// Load first (404), then decide (403), then change.
    pub async fn edit(&self, by: Actor, id: PostId, content: PostContent) -> Result<Post, ServiceError> {
        let post = self.get(id).await?;
        if !may_edit_post(post.author_id, by) {
            return Err(ServiceError::Forbidden("only the author may edit a post"));
        }
        self.db
            .write_for(by.user_id, move |conn| db::posts::update_content(conn, id, &content))
            .await?
            .ok_or(NO_POST)
    }

    /// Deletes as the author, or as an admin whose role is confirmed in the
    /// same transaction. Deleting is idempotent.
    pub async fn delete(&self, by: Actor, id: PostId) -> Result<(), ServiceError> {
        let post = self.get(id).await?;
        if !may_delete_post(post.author_id, by) {
            return Err(ServiceError::Forbidden("only the author or an admin may delete a post"));
        }
        let as_admin = deletes_as_admin(post.author_id, by).then_some(by.user_id);
        self.db
            .write_for(by.user_id, move |conn| db::posts::delete(conn, id, as_admin))
            .await?
            // The role ended (on any instance) after this token was issued.
            .map_err(|NoLongerAdmin| ServiceError::SessionEnded)
    }
}
