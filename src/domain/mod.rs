//! Domain types: values that are valid by construction, and the rules.
mod cursor;
mod entities;
mod password;
mod policy;
mod post_content;
mod role;
mod username;

pub use cursor::Cursor;
pub use entities::{Post, User};
pub use password::Password;
pub use password::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
pub use policy::{deletes_as_admin, may_delete_post, may_edit_post, Actor};
pub use post_content::{PostContent, MAX_POST_CHARS};
pub use role::Role;
pub use username::{Username, MAX_USERNAME_CHARS, MIN_USERNAME_CHARS};
