//! Authorization rules as pure functions: callers load first (404), then ask.
use super::{Role, UserId};

/// Who is acting: the authenticated caller.
#[derive(Debug, Clone, Copy)]
pub struct Actor {
    pub user_id: UserId,
    pub role: Role,
}

/// Only the author may change a post; admins moderate by deleting.
pub fn may_edit_post(owner_id: UserId, by: Actor) -> bool {
    owner_id == by.user_id
}

/// The author or an admin may delete a post.
pub fn may_delete_post(owner_id: UserId, by: Actor) -> bool {
    owner_id == by.user_id || by.role == Role::Admin
}

/// Whether a permitted deletion rests on the admin role alone (someone
/// else's post): that role is then confirmed in the database as it happens.
pub fn deletes_as_admin(owner_id: UserId, by: Actor) -> bool {
    owner_id != by.user_id && by.role == Role::Admin
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: UserId = UserId(1);

    fn actor(user_id: UserId, role: Role) -> Actor {
        Actor { user_id, role }
    }

    const OTHER: UserId = UserId(2);

    #[test]
    fn only_the_owner_may_edit_a_post() {
        assert!(may_edit_post(OWNER, actor(OWNER, Role::User)));
        assert!(!may_edit_post(OWNER, actor(OTHER, Role::User)));
        assert!(!may_edit_post(OWNER, actor(OTHER, Role::Admin)));
    }

    #[test]
    fn the_owner_or_an_admin_may_delete_a_post() {
        assert!(may_delete_post(OWNER, actor(OWNER, Role::User)));
        assert!(may_delete_post(OWNER, actor(OTHER, Role::Admin)));
        assert!(!may_delete_post(OWNER, actor(OTHER, Role::User)));
    }

    #[test]
    fn only_deleting_someone_elses_post_rests_on_the_admin_role() {
        assert!(deletes_as_admin(OWNER, actor(OTHER, Role::Admin)));
        assert!(!deletes_as_admin(OWNER, actor(OWNER, Role::Admin)));
        assert!(!deletes_as_admin(OWNER, actor(OWNER, Role::User)));
    }
}
