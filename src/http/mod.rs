//! The HTTP edge: routes (one file per resource), extractors, middleware,
//! the one error type, wire types and the OpenAPI document. Handlers
//! extract, parse into domain types, call one service and map its answer to
//! a wire type; nothing here runs SQL or knows the backend. May import
//! `service`, `auth` (token checks), `domain`, `metrics`.
pub mod client_ip;
pub mod error;
pub mod extract;
pub mod middleware;
mod openapi;
pub mod request;
mod routes;
mod wire;

use actix_web::{web, HttpResponse, Resource};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use error::ApiError;
use routes::{accounts, admin, discovery, health, me, mfa, posts, revoke, sessions};

pub use routes::discovery::Issuer;

pub use openapi::ApiDoc;

/// Every route the service answers, with its methods. `resource` takes the
/// `Allow` header of its 405 from here (and refuses paths missing here); a
/// test checks the OpenAPI document lists exactly these (but HEAD, which
/// [`head_as_get`] serves for every GET).
pub const ROUTES: &[(&str, &str)] = &[
    ("/signup", "POST"),
    ("/login", "POST"),
    ("/login/mfa", "POST"),
    ("/refresh", "POST"),
    ("/logout", "DELETE"),
    ("/revoke", "POST"),
    ("/sessions", "GET, HEAD, DELETE"),
    ("/sessions/{id}", "DELETE"),
    ("/check_session", "GET, HEAD"),
    ("/me", "DELETE"),
    ("/me/password", "PUT"),
    ("/me/mfa", "GET, HEAD"),
    ("/me/mfa/totp", "POST, DELETE"),
    ("/me/mfa/totp/confirm", "POST"),
    ("/me/mfa/recovery-codes", "POST"),
    ("/posts", "GET, HEAD, POST"),
    ("/posts/{id}", "GET, HEAD, PATCH, DELETE"),
    ("/admin/users", "GET, HEAD"),
    ("/admin/users/{id}", "PATCH, DELETE"),
    ("/admin/users/{id}/mfa", "DELETE"),
    ("/.well-known/jwks.json", "GET, HEAD"),
    ("/.well-known/openid-configuration", "GET, HEAD"),
    ("/.well-known/oauth-authorization-server", "GET, HEAD"),
    ("/healthz", "GET, HEAD"),
    ("/readyz", "GET, HEAD"),
    // Served by the metrics middleware and the docs page.
    ("/metrics", "GET, HEAD"),
    ("/openapi.json", "GET, HEAD"),
    ("/docs", "GET, HEAD"),
];

/// A resource whose unmatched methods get the contract's 405 with `Allow`.
fn resource(path: &'static str) -> Resource {
    let allow = ROUTES
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, allow)| *allow)
        .unwrap_or_else(|| panic!("route {path} is missing from http::ROUTES"));
    web::resource(path)
        .default_service(web::to(move || async move { ApiError::MethodNotAllowed { allow: allow.into() } }))
}

/// Registers every route of the contract.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/signup").route(web::post().to(accounts::signup)))
        .service(resource("/login").route(web::post().to(accounts::login)))
        .service(resource("/login/mfa").route(web::post().to(mfa::login_mfa)))
        .service(resource("/refresh").route(web::post().to(accounts::refresh)))
        .service(resource("/logout").route(web::delete().to(accounts::logout)))
        .service(resource("/revoke").route(web::post().to(revoke::revoke)))
        .service(
            resource("/sessions")
                .route(web::get().to(sessions::list_sessions))
                .route(web::delete().to(sessions::end_other_sessions)),
        )
        .service(resource("/sessions/{id}").route(web::delete().to(sessions::end_session)))
        .service(resource("/check_session").route(web::get().to(accounts::check_session)))
        .service(resource("/me").route(web::delete().to(me::delete_me)))
        .service(resource("/me/password").route(web::put().to(me::change_password)))
        .service(resource("/me/mfa").route(web::get().to(mfa::mfa_status)))
        .service(
            resource("/me/mfa/totp")
                .route(web::post().to(mfa::enrol_totp))
                .route(web::delete().to(mfa::turn_off_totp)),
        )
        .service(resource("/me/mfa/totp/confirm").route(web::post().to(mfa::confirm_totp)))
        .service(resource("/me/mfa/recovery-codes").route(web::post().to(mfa::renew_recovery_codes)))
        .service(
            resource("/posts")
                .route(web::get().to(posts::list_posts))
                .route(web::post().to(posts::create_post)),
        )
        .service(
            resource("/posts/{id}")
                .route(web::get().to(posts::get_post))
                .route(web::patch().to(posts::update_post))
                .route(web::delete().to(posts::delete_post)),
        )
        .service(resource("/admin/users").route(web::get().to(admin::list_users)))
        .service(
            resource("/admin/users/{id}")
                .route(web::patch().to(admin::update_user_role))
                .route(web::delete().to(admin::delete_user)),
        )
        .service(resource("/admin/users/{id}/mfa").route(web::delete().to(admin::reset_user_mfa)))
        .service(resource("/.well-known/jwks.json").route(web::get().to(health::jwks)))
        .service(
            resource("/.well-known/openid-configuration")
                .route(web::get().to(discovery::openid_configuration)),
        )
        .service(
            resource("/.well-known/oauth-authorization-server")
                .route(web::get().to(discovery::oauth_authorization_server)),
        )
        .service(resource("/healthz").route(web::get().to(health::healthz)))
        .service(resource("/readyz").route(web::get().to(health::readyz)))
        .service(resource("/docs").route(
            web::get().to(|| async { HttpResponse::Found().insert_header(("location", "/docs/")).finish() }),
        ))
        // Swagger UI's assets are compiled into the binary: no CDN, works offline.
        .service(SwaggerUi::new("/docs/{tail}*").url("/openapi.json", ApiDoc::openapi()))
        // GET of these is answered before routing (by the metrics middleware
        // and the GET-only resource above); other methods get the 405.
        .service(resource("/openapi.json"))
        .service(resource("/metrics"));
}
