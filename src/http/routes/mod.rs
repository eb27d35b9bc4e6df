//! The handlers, one file per resource, and the one list of routes. A
//! handler's attributes declare its route: `#[utoipa::path(…)]` its OpenAPI
//! operation, and actix's `#[get(…)]` (or `post`, …) its method and
//! path, which the OpenAPI operation reads from it. [`declare!`] turns the
//! list into both the services to register and the document's paths; the
//! 405 `Allow` table is derived from the document (see `http::configure`).
pub mod accounts;
pub mod admin;
pub mod discovery;
pub mod health;
pub mod me;
pub mod mfa;
pub mod passkeys;
pub mod posts;
pub mod recovery;
pub mod revoke;
pub mod sessions;

/// From one list of handlers: `services` registers each, and `Paths`
/// documents each.
macro_rules! declare {
    ($($module:ident::$handler:ident),* $(,)?) => {
        /// Registers every route's handler.
        pub fn services(cfg: &mut actix_web::web::ServiceConfig) {
            $(cfg.service($module::$handler);)*
        }

        /// Every route's OpenAPI operation.
        #[derive(utoipa::OpenApi)]
        #[openapi(paths($($module::$handler),*))]
        pub struct Paths;
    };
}

// Matched in this order: the busiest routes first.
declare![
    health::healthz,
    posts::list_posts,
    posts::get_post,
    posts::create_post,
    posts::update_post,
    posts::delete_post,
    accounts::signup,
    accounts::login,
    mfa::login_mfa,
    accounts::refresh,
    accounts::logout,
    revoke::revoke,
    accounts::check_session,
    me::get_me,
    me::change_password,
    me::change_email,
    me::delete_me,
    passkeys::start_passkey_registration,
    passkeys::register_passkey,
    passkeys::list_passkeys,
    passkeys::delete_passkey,
    passkeys::passkey_login_options,
    passkeys::log_in_with_passkey,
    passkeys::list_user_passkeys,
    passkeys::delete_user_passkey,
    recovery::verify_email,
    recovery::forgot_password,
    recovery::reset_password,
    mfa::mfa_status,
    mfa::enrol_totp,
    mfa::confirm_totp,
    mfa::turn_off_totp,
    mfa::renew_recovery_codes,
    sessions::list_sessions,
    sessions::end_session,
    sessions::end_other_sessions,
    admin::list_users,
    admin::update_user_role,
    admin::delete_user,
    admin::reset_user_mfa,
    health::jwks,
    health::readyz,
    discovery::openid_configuration,
    discovery::oauth_authorization_server,
];
