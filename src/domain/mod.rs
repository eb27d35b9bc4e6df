//! Domain types: values that are valid by construction (parsed, not
//! validated), ids as types, the session policy, and the authorization
//! rules as pure functions. Imports nothing of the crate.
mod amr;
mod client_ip;
mod cursor;
mod email;
mod entities;
mod guessing;
mod ids;
mod mfa_policy;
mod password;
mod policy;
mod post_content;
mod refusal;
mod role;
mod session_policy;
mod username;

pub use amr::Amr;
pub use client_ip::{user_agent_label, ClientDetails, ClientIp, TrustedProxies};
pub use cursor::Cursor;
pub use email::{
    Email, LinkPurpose, MAX_EMAIL_CHARS, MIN_EMAIL_CHARS, RESET_MAILS_PER_WINDOW, RESET_MAIL_WINDOW,
    VERIFY_LINK_TTL,
};
pub use entities::{PasskeyInfo, Post, SessionInfo, User};
pub use guessing::{
    Charge, GuessBudget, GuessKind, GuessSubject, GUESS_WINDOW, KNOWN_NETWORK_FOR, MAX_GUESS_WINDOW,
};
pub use ids::{PostId, RefreshHash, SessionId, UserId};
pub use mfa_policy::{ENROLMENT_TTL, MAX_MFA_ATTEMPTS, MFA_TOKEN_TTL};
pub use password::Password;
pub use password::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
pub use policy::{deletes_as_admin, may_delete_post, may_edit_post, Actor};
pub use post_content::{PostContent, MAX_POST_CHARS};
pub use refusal::Refusal;
pub use role::Role;
pub use session_policy::{SessionPolicy, LEEWAY_SECS};
pub use username::{Username, MAX_USERNAME_CHARS, MIN_USERNAME_CHARS};
