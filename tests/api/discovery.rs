//! The issuer's discovery document: served when the issuer is the service's
//! URL, with every URL under it.
use reqwest::Method;

use crate::helpers::{spawn_app, spawn_app_with, Backend};

#[actix_web::test]
async fn with_a_url_issuer_both_discovery_documents_point_under_it() {
    let issuer = "https://auth.example.com";
    let app = spawn_app_with(Backend::Sqlite, |c| c.issuer = issuer.into()).await;
    for path in ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"] {
        let res = app.call(Method::GET, path, None, None).await;
        let doc = res.assert_status(200);
        assert_eq!(doc["issuer"], issuer, "{path}");
        assert_eq!(doc["jwks_uri"], format!("{issuer}/.well-known/jwks.json"));
        assert_eq!(doc["revocation_endpoint"], format!("{issuer}/revoke"));
        assert_eq!(doc["id_token_signing_alg_values_supported"][0], "EdDSA");
    }
    // Tokens carry that issuer, exactly.
    let alice = app.signup("alice").await;
    let payload = alice.token.split('.').nth(1).unwrap();
    use base64::Engine;
    let claims: serde_json::Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap())
            .unwrap();
    assert_eq!(claims["iss"], issuer);
}

#[actix_web::test]
async fn without_a_url_issuer_there_is_no_discovery_document() {
    let app = spawn_app(Backend::Sqlite).await;
    for path in ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"] {
        app.call(Method::GET, path, None, None).await.assert_problem(404, "not_found");
    }
}

#[test]
fn an_issuer_that_looks_like_a_url_must_be_a_usable_one() {
    let config = |issuer: &str| {
        let issuer = issuer.to_string();
        warrant::config::Config::from_lookup(move |name| (name == "WARRANT_ISSUER").then(|| issuer.clone()))
    };
    for good in ["warrant", "https://auth.example.com", "http://localhost:8080", "https://example.com/auth"] {
        assert!(config(good).is_ok(), "{good}");
    }
    for bad in [
        "https://",
        "ftp://auth.example.com",
        "https://auth.example.com?x=1",
        "https://auth.example.com/#f",
        "https://u@auth.example.com",
    ] {
        let err = config(bad).expect_err(bad);
        assert_eq!(err.var, "WARRANT_ISSUER", "{bad}");
    }
}
