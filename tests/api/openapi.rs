use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;
use warrant::http::ALLOWED;

use crate::helpers::{spawn_app, spawn_app_with, Backend};

/// Every route and method whose unmatched methods get a 405, but HEAD: it
/// is GET without the body, which OpenAPI does not list separately.
fn allowed() -> BTreeSet<(String, String)> {
    ALLOWED
        .iter()
        .flat_map(|(path, methods)| methods.split(", ").map(move |m| (path.to_string(), m.to_lowercase())))
        .filter(|(_, method)| method != "head")
        .collect()
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| *k != "parameters")
                .map(move |m| (path.clone(), m.clone()))
        })
        .collect()
}

#[actix_web::test]
async fn every_registered_route_is_documented_and_every_documented_route_is_served() {
    // With a URL issuer, mail and passkeys on, so that the discovery
    // documents, the mail and the passkey routes are served too.
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.issuer = "https://auth.example.com".into();
        c.mail = Some(warrant::config::MailConfig {
            smtp: warrant::config::SmtpServer {
                host: "127.0.0.1".into(),
                port: Some(9),
                tls: warrant::config::SmtpTls::Opportunistic,
                credentials: None,
            },
            from: "warrant@auth.example.com".into(),
            link_url: "https://app.example.com/auth".into(),
            reset_ttl: std::time::Duration::from_secs(900),
        });
        c.webauthn = Some(warrant::config::WebauthnConfig {
            rp_id: "example.com".into(),
            rp_name: "Example".into(),
            origins: vec!["https://app.example.com".parse().unwrap()],
        });
    })
    .await;
    let res = app.call(Method::GET, "/openapi.json", None, None).await;
    let doc = res.assert_status(200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "OpenAPI 3.1");
    assert_eq!(documented(doc), allowed(), "the 405s allow what the document lists");

    for (path, method) in documented(doc) {
        let concrete = path.replace("{id}", "1").replace("{passkey_id}", "1");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let res = app.raw(method.clone(), &concrete).send().await.unwrap();
        assert!(
            ![404, 405].contains(&res.status().as_u16()),
            "{method} {path} is not served: {}",
            res.status()
        );
    }
}

#[actix_web::test]
async fn errors_are_documented_as_problem_details_and_protected_routes_as_bearer() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = app.call(Method::GET, "/openapi.json", None, None).await.body;
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    let problem = &doc["components"]["responses"]["Problem"]["content"];
    assert!(problem.get("application/problem+json").is_some(), "{problem}");
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            for (status, response) in
                responses.iter().filter(|(s, _)| s.starts_with('4') || s.starts_with('5'))
            {
                assert_eq!(response["$ref"], "#/components/responses/Problem", "{method} {path} {status}");
            }
            if op.get("security").is_some() {
                assert!(responses.contains_key("401"), "{method} {path} documents its 401");
            }
            if op["tags"][0] != "operations" {
                assert!(responses.contains_key("503"), "{method} {path} documents the database being down");
            }
        }
    }
}

#[actix_web::test]
async fn the_docs_page_is_served_without_any_external_asset() {
    let app = spawn_app(Backend::Sqlite).await;
    let res = app.client.get(format!("{}/docs", app.base)).send().await.unwrap();
    assert_eq!(res.status(), 200, "redirected to /docs/");
    let html = res.text().await.unwrap();
    assert!(html.to_lowercase().contains("swagger"));
    for external in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
        assert!(!html.contains(external), "the page loads {external}…: {html}");
    }
    let init = app.client.get(format!("{}/docs/swagger-initializer.js", app.base)).send().await.unwrap();
    assert_eq!(init.status(), 200);
    assert!(init.text().await.unwrap().contains("/openapi.json"));
}

#[actix_web::test]
async fn summaries_read_as_plain_text_and_schemas_name_their_fields() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = app.call(Method::GET, "/openapi.json", None, None).await.body;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let summary =
                operation["summary"].as_str().unwrap_or_else(|| panic!("{method} {path}: a summary"));
            // The docs page shows summaries as they are, beside the route.
            assert!(
                !summary.contains('`') && !summary.contains(path.as_str()),
                "{method} {path}: {summary:?}"
            );
        }
    }
    let admin_user = &doc["components"]["schemas"]["AdminUserResponse"];
    assert!(admin_user["allOf"].is_null(), "no flattened schema (rendered as `any & object`)");
    for field in ["id", "username", "role", "created_at", "post_count"] {
        assert!(admin_user["properties"][field].is_object(), "{field}: {admin_user}");
    }
}

#[actix_web::test]
async fn the_docs_page_points_to_the_guides_when_told_where_they_are() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = app.call(Method::GET, "/openapi.json", None, None).await.body;
    assert!(doc.get("externalDocs").is_none(), "no dead link by default");
    let url = "https://git.example.com/warrant#readme";
    let app = spawn_app_with(Backend::Sqlite, |c| c.docs_url = Some(url.into())).await;
    let doc = app.call(Method::GET, "/openapi.json", None, None).await.body;
    assert_eq!(doc["externalDocs"]["url"], url);
}

#[actix_web::test]
async fn every_operation_has_an_id_of_its_own() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = app.call(Method::GET, "/openapi.json", None, None).await.body;
    let mut ids: Vec<String> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| {
            item.as_object().unwrap().values().filter_map(|op| op["operationId"].as_str().map(String::from))
        })
        .collect();
    let all = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), all, "operation ids repeat: {ids:?}");
}
