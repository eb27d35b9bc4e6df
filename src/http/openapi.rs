//! The OpenAPI 3.1 document, generated from the handlers' annotations so it
//! cannot drift from the code, and the offline docs page.
use utoipa::openapi::path::{HttpMethod, OperationBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::routes::Paths;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "warrant",
        description = "A stateless JWT-bearer identity service. Errors are RFC 9457 problem details \
            (`application/problem+json`) with a stable `code`; access tokens are EdDSA (or HS256) JWTs \
            verifiable with `/.well-known/jwks.json`.",
        license(name = "MIT")
    ),
    components(schemas(super::error::FieldError), responses(super::error::Problem)),
    modifiers(&Operations),
    tags(
        (name = "accounts", description = "Signup, login, sessions"),
        (name = "two-factor", description = "TOTP second factor and recovery codes"),
        (name = "passkeys", description = "WebAuthn passkeys: registration and passwordless login"),
        (name = "posts", description = "Posts owned by users"),
        (name = "admin", description = "Admin-only account management"),
        (name = "operations", description = "Health, keys, metrics, documentation"),
    )
)]
pub struct ApiDoc;

/// Every route's operation (from `routes::declare!`), the bearer scheme,
/// the routes served by middleware rather than handlers, and the 503 every
/// database-backed route can answer.
struct Operations;

impl Modify for Operations {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi.merge(Paths::openapi());
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build(),
            ),
        );
        // Every route but the operational ones reaches the database, which
        // may be unreachable or overloaded.
        for item in openapi.paths.paths.values_mut() {
            let operations =
                [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
            for operation in operations.into_iter().flatten() {
                let operational = operation.tags.iter().flatten().any(|tag| tag == "operations");
                if !operational {
                    let unavailable = RefOr::Ref(Ref::from_response_name("Problem"));
                    operation.responses.responses.entry("503".into()).or_insert(unavailable);
                }
            }
        }
        for (path, summary, content_type) in [
            ("/metrics", "Prometheus metrics (text format 0.0.4)", "text/plain"),
            ("/openapi.json", "This OpenAPI 3.1 document", "application/json"),
            ("/docs", "Interactive API documentation (served offline)", "text/html"),
        ] {
            let response = ResponseBuilder::new()
                .description(summary)
                .content(content_type, ContentBuilder::new().build());
            let operation = OperationBuilder::new()
                .tag("operations")
                .summary(Some(summary))
                .response("200", response)
                .build();
            openapi.paths.add_path_operation(path, vec![HttpMethod::Get], operation);
        }
    }
}
