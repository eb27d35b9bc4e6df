use chrono::{DateTime, Utc};

use super::Role;

/// An account as the API shows it (never with its password hash).
#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

/// A post with its author's public identity.
#[derive(Debug, Clone)]
pub struct Post {
    pub id: i64,
    pub content: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub author_id: i64,
    pub author_username: String,
}
