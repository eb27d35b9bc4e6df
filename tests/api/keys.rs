//! Signing keys in the database: rotation on schedule and by command,
//! published before they sign.
use std::time::{Duration, Instant};

use jsonwebtoken::decode_header;
use reqwest::Method;

use crate::helpers::{backend_test, spawn_app, spawn_app_with, Backend};

backend_test! {
    async fn keys_rotate_on_schedule_published_before_they_sign(backend: Backend) {
        let app = spawn_app_with(backend, |c| {
            c.key_rotation = Some(chrono::TimeDelta::seconds(1));
            c.key_reload = Duration::from_millis(300);
        })
        .await;
        // A replica checks the same schedule: still one new key, not two.
        let replica = app.replica();
        let before = app.signup("alice").await;
        let jwks = || async { app.call(Method::GET, "/.well-known/jwks.json", None, None).await.body };
        // Keys are reloaded (and rotation checked) every 300 ms here.
        let deadline = Instant::now() + Duration::from_secs(5);
        while jwks().await["keys"].as_array().unwrap().len() < 2 && Instant::now() < deadline {
            actix_web::rt::time::sleep(Duration::from_millis(250)).await;
        }
        assert_eq!(jwks().await["keys"].as_array().unwrap().len(), 2, "a second key is published");
        let after = app.login("alice").await;
        assert_eq!(decode_header(&after.token).unwrap().kid, decode_header(&before.token).unwrap().kid,
            "the new key does not sign before the JWKS cache lifetime has passed");
        // The new key counts as fresh from when it will sign: no rotation
        // storm, over several reloads of both instances.
        actix_web::rt::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(jwks().await["keys"].as_array().unwrap().len(), 2);
        let seen_by_replica = replica.call(Method::GET, "/.well-known/jwks.json", None, None).await.body;
        assert_eq!(seen_by_replica["keys"].as_array().unwrap().len(), 2);
    }

    async fn rotate_key_publishes_a_new_key_before_it_signs(backend: Backend) {
        let app = spawn_app_with(backend, |c| c.key_reload = Duration::from_millis(300)).await;
        let before = app.signup("alice").await;
        let out = app.cli(&["rotate-key"], &[], "");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let deadline = Instant::now() + Duration::from_secs(10);
        let keys = loop {
            let res = app.call(Method::GET, "/.well-known/jwks.json", None, None).await;
            let keys = res.body["keys"].as_array().unwrap().clone();
            if keys.len() == 2 || Instant::now() > deadline {
                break keys;
            }
            actix_web::rt::time::sleep(Duration::from_millis(250)).await;
        };
        assert_eq!(keys.len(), 2, "the new key is published within the reload interval");
        let after = app.login("alice").await;
        assert_eq!(decode_header(&after.token).unwrap().kid, decode_header(&before.token).unwrap().kid,
            "the old key keeps signing until the JWKS cache lifetime has passed");
        app.get("/check_session", &before.token).await.assert_status(200);
    }
}

#[actix_web::test]
async fn rotate_key_refuses_when_keys_do_not_come_from_the_database() {
    let app = spawn_app(Backend::Sqlite).await;
    let out = app.cli(
        &["rotate-key"],
        &[("WARRANT_JWT_ALG", "HS256"), ("WARRANT_JWT_SECRET", &"s".repeat(32))],
        "",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("rotate-key"));
}
