//! The caller's own account: changing the password, deleting the account.
use reqwest::Method;
use serde_json::json;

use crate::helpers::{backend_test, spawn_app, spawn_app_with, Backend, PASSWORD};

const NEW_PASSWORD: &str = "another horse, another battery";

backend_test! {
    async fn a_password_change_ends_the_other_sessions_and_keeps_this_one(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        let phone = app.login("alice").await;
        let bob = app.signup("bob").await;
        let body = json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD});
        let res = app.call(Method::PUT, "/me/password", Some(&alice.token), Some(body)).await;
        assert_eq!(res.status, 204, "{}", res.body);
        app.get("/check_session", &alice.token).await.assert_status(200);
        app.refresh(&alice.refresh).await;
        app.get("/check_session", &phone.token).await.assert_problem(401, "token_revoked");
        app.try_refresh(&phone.refresh).await.assert_problem(401, "invalid_refresh_token");
        app.get("/check_session", &bob.token).await.assert_status(200);
        app.try_login("alice", PASSWORD).await.assert_problem(401, "invalid_credentials");
        app.try_login("alice", NEW_PASSWORD).await.assert_status(200);
    }

    async fn a_password_change_checks_the_rules_first_then_the_current_password(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        let put = |body: serde_json::Value| app.call(Method::PUT, "/me/password", Some(&alice.token), Some(body));
        let res = put(json!({"current_password": "wrong wrong wrong", "new_password": "short"})).await;
        res.assert_problem(422, "validation_failed");
        put(json!({"current_password": "wrong wrong wrong", "new_password": "password"})).await.assert_problem(422, "validation_failed");
        put(json!({"new_password": NEW_PASSWORD})).await.assert_problem(422, "validation_failed");
        put(json!({"current_password": "wrong wrong wrong", "new_password": NEW_PASSWORD})).await.assert_problem(401, "invalid_credentials");
        app.call(Method::PUT, "/me/password", None, Some(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})))
            .await
            .assert_problem(401, "missing_token");
        app.try_login("alice", PASSWORD).await.assert_status(200);
    }

    async fn deleting_ones_account_takes_its_posts_and_sessions(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        let phone = app.login("alice").await;
        let bob = app.signup("bob").await;
        let post = app.create_post(&alice.token, "mine").await;
        let delete = |body| app.call(Method::DELETE, "/me", Some(&alice.token), Some(body));
        delete(json!({})).await.assert_problem(422, "validation_failed");
        delete(json!({"password": "wrong wrong wrong"})).await.assert_problem(401, "invalid_credentials");
        let res = delete(json!({"password": PASSWORD})).await;
        assert_eq!(res.status, 204, "{}", res.body);
        for token in [&alice.token, &phone.token] {
            app.get("/check_session", token).await.assert_problem(401, "token_revoked");
        }
        app.get(&format!("/posts/{post}"), &bob.token).await.assert_problem(404, "not_found");
        app.try_login("alice", PASSWORD).await.assert_problem(401, "invalid_credentials");
        app.signup("alice").await;
    }

    async fn the_last_admin_cannot_delete_their_account_but_a_wrong_password_comes_first(backend: Backend) {
        let app = spawn_app(backend).await;
        let root = app.admin("root").await;
        let delete = |body| app.call(Method::DELETE, "/me", Some(&root.token), Some(body));
        delete(json!({"password": "wrong wrong wrong"})).await.assert_problem(401, "invalid_credentials");
        delete(json!({"password": PASSWORD})).await.assert_problem(409, "last_admin");
        app.get("/check_session", &root.token).await.assert_status(200);
        let other = app.admin("other").await;
        let res = app.call(Method::DELETE, "/me", Some(&other.token), Some(json!({"password": PASSWORD}))).await;
        assert_eq!(res.status, 204);
    }
}

#[actix_web::test]
async fn a_wrong_current_password_counts_toward_the_login_limit() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.rate_limit_per_min = 2).await;
    let alice = app.signup("alice").await;
    let body = json!({"current_password": "wrong wrong wrong", "new_password": NEW_PASSWORD});
    app.call(Method::PUT, "/me/password", Some(&alice.token), Some(body.clone()))
        .await
        .assert_problem(401, "invalid_credentials");
    app.call(Method::PUT, "/me/password", Some(&alice.token), Some(body))
        .await
        .assert_problem(429, "rate_limited");
    app.try_login("alice", PASSWORD).await.assert_problem(429, "rate_limited");
}
