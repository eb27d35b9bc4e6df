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

use std::collections::BTreeMap;
use std::sync::LazyLock;

use actix_web::{guard, web, HttpResponse};
use utoipa::openapi::path::PathItem;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use error::ApiError;

pub use routes::discovery::Issuer;

pub use openapi::ApiDoc;

/// Every path the service answers, with the methods it allows there, as
/// the `Allow` header of its 405 says them: read from the OpenAPI document,
/// which lists every route (`routes::declare!`) and those middleware
/// serves. HEAD is allowed wherever GET is ([`head_as_get`]).
pub static ALLOWED: LazyLock<BTreeMap<String, String>> = LazyLock::new(|| {
    let doc = ApiDoc::openapi();
    doc.paths.paths.iter().map(|(path, item)| (path.clone(), allow(item))).collect()
});

fn allow(item: &PathItem) -> String {
    let methods = [
        ("GET", item.get.is_some()),
        ("HEAD", item.get.is_some()),
        ("POST", item.post.is_some()),
        ("PUT", item.put.is_some()),
        ("PATCH", item.patch.is_some()),
        ("DELETE", item.delete.is_some()),
    ];
    methods.iter().filter(|(_, served)| *served).map(|(method, _)| *method).collect::<Vec<_>>().join(", ")
}

/// Registers every route of the contract, then, for each path, the 405
/// that answers the methods it does not serve. `guides`, when given, is
/// where the OpenAPI document's `externalDocs` (and so the docs page)
/// points readers for the guides.
pub fn configure(cfg: &mut web::ServiceConfig, guides: Option<&str>) {
    let mut doc = ApiDoc::openapi();
    if let Some(url) = guides {
        doc.external_docs = Some(
            utoipa::openapi::external_docs::ExternalDocsBuilder::new()
                .url(url)
                .description(Some("Guides: clients, API, configuration, deployment, operations"))
                .build(),
        );
    }
    routes::services(cfg);
    cfg.service(
        web::resource("/docs")
            .guard(guard::Get())
            .to(|| async { HttpResponse::Found().insert_header(("location", "/docs/")).finish() }),
    )
    // Swagger UI's assets are compiled into the binary: no CDN, works offline.
    .service(SwaggerUi::new("/docs/{tail}*").url("/openapi.json", doc));
    // GET /metrics is answered before routing, by the metrics middleware.
    for (path, allow) in ALLOWED.iter() {
        let allow = allow.clone();
        cfg.service(web::resource(path.as_str()).to(move || {
            let allow = allow.clone();
            async move { ApiError::MethodNotAllowed { allow } }
        }));
    }
}
