//! `POST /revoke`: a client ends its session with a refresh or an access
//! token, form-encoded (RFC 7009) or as JSON.
use reqwest::Method;
use serde_json::json;

use crate::helpers::{backend_test, spawn_app, spawn_app_with, Backend, TestApp};

async fn revoke_form(app: &TestApp, body: &str) -> crate::helpers::Res {
    let req = app
        .raw(Method::POST, "/revoke")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string());
    TestApp::finish(req).await
}

backend_test! {
    async fn a_refresh_token_revoked_form_encoded_ends_its_session_only(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        let other = app.login("alice").await;
        let res = revoke_form(&app, &format!("token={}&token_type_hint=refresh_token", alice.refresh)).await;
        assert_eq!(res.status, 200);
        assert_eq!(res.body, serde_json::Value::Null, "an empty body");
        app.get("/check_session", &alice.token).await.assert_problem(401, "token_revoked");
        app.try_refresh(&alice.refresh).await.assert_problem(401, "invalid_refresh_token");
        app.get("/check_session", &other.token).await.assert_status(200);
    }

    async fn an_access_token_revoked_as_json_ends_its_session(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        let res = app.call(Method::POST, "/revoke", None, Some(json!({"token": alice.token}))).await;
        assert_eq!(res.status, 200);
        app.get("/check_session", &alice.token).await.assert_problem(401, "token_revoked");
        app.try_refresh(&alice.refresh).await.assert_problem(401, "invalid_refresh_token");
    }

    async fn used_unknown_and_malformed_tokens_are_200_and_a_missing_one_is_422(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        let rotated = app.refresh(&alice.refresh).await;
        // The used token belongs to the session: revoking it ends the session.
        assert_eq!(revoke_form(&app, &format!("token={}", alice.refresh)).await.status, 200);
        app.get("/check_session", &rotated.token).await.assert_problem(401, "token_revoked");
        for token in ["unknown-token", "a.b.c", "%00%ff", ""] {
            let res = revoke_form(&app, &format!("token={token}")).await;
            if token.is_empty() {
                assert_eq!(res.status, 200, "an empty token is a token that names nothing");
            } else {
                assert_eq!(res.status, 200, "{token}: {}", res.body);
            }
        }
        revoke_form(&app, "token_type_hint=refresh_token").await.assert_problem(422, "validation_failed");
        app.call(Method::POST, "/revoke", None, Some(json!({}))).await.assert_problem(422, "validation_failed");
        app.call(Method::POST, "/revoke", None, Some(json!({"token": 5}))).await.assert_problem(400, "bad_request");
        let plain = app.raw(Method::POST, "/revoke").header("content-type", "text/plain").body("token=x");
        TestApp::finish(plain).await.assert_problem(415, "unsupported_media_type");
        let big = format!("token={}", "x".repeat(70 * 1024));
        revoke_form(&app, &big).await.assert_problem(413, "payload_too_large");
    }
}

#[actix_web::test]
async fn revoke_counts_toward_the_same_per_client_limit_as_refresh() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.rate_limit_per_min = 2).await;
    app.try_refresh("unknown").await.assert_problem(401, "invalid_refresh_token");
    assert_eq!(revoke_form(&app, "token=unknown").await.status, 200);
    revoke_form(&app, "token=unknown").await.assert_problem(429, "rate_limited");
    app.try_refresh("unknown").await.assert_problem(429, "rate_limited");
}
