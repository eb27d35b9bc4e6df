//! HTTP routes, one file per resource. Handlers extract, parse into domain
//! types, call `db`/`auth`, and map to wire types.
mod accounts;
mod admin;
mod health;
mod posts;
mod wire;

use actix_web::{web, Resource};

use crate::error::ApiError;

pub use health::JWKS_MAX_AGE_SECS;

/// A resource whose unmatched methods get the contract's 405 with `Allow`.
fn resource(path: &str, allow: &'static str) -> Resource {
    web::resource(path).default_service(web::to(move || async move { ApiError::MethodNotAllowed { allow } }))
}

/// Registers every route of the contract.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/signup", "POST").route(web::post().to(accounts::signup)))
        .service(resource("/login", "POST").route(web::post().to(accounts::login)))
        .service(resource("/refresh", "POST").route(web::post().to(accounts::refresh)))
        .service(resource("/logout", "DELETE").route(web::delete().to(accounts::logout)))
        .service(resource("/check_session", "GET").route(web::get().to(accounts::check_session)))
        .service(
            resource("/posts", "GET, POST")
                .route(web::get().to(posts::list_posts))
                .route(web::post().to(posts::create_post)),
        )
        .service(
            resource("/posts/{id}", "GET, PATCH, DELETE")
                .route(web::get().to(posts::get_post))
                .route(web::patch().to(posts::update_post))
                .route(web::delete().to(posts::delete_post)),
        )
        .service(resource("/admin/users", "GET").route(web::get().to(admin::list_users)))
        .service(
            resource("/admin/users/{id}", "PATCH, DELETE")
                .route(web::patch().to(admin::update_user_role))
                .route(web::delete().to(admin::delete_user)),
        )
        .service(resource("/.well-known/jwks.json", "GET").route(web::get().to(health::jwks)))
        .service(resource("/healthz", "GET").route(web::get().to(health::healthz)))
        .service(resource("/readyz", "GET").route(web::get().to(health::readyz)));
}
