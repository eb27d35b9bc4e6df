use chrono::{DateTime, Utc};

use super::{PostId, Role, UserId};

/// An account as the API shows it (never with its password hash).
#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

/// A post with its author's public identity.
#[derive(Debug, Clone)]
pub struct Post {
    pub id: PostId,
    pub content: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub author_id: UserId,
    pub author_username: String,
}

/// A passkey as its user sees it (never its credential).
#[derive(Debug, Clone)]
pub struct PasskeyInfo {
    pub id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A live session as its user sees it.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id: super::SessionId,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub client_ip: Option<String>,
}
