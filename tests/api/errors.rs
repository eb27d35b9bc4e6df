use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{backend_test, spawn_app, TestApp};

fn body_stream(bytes: Vec<u8>) -> reqwest::Body {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = bytes.chunks(8192).map(|c| Ok(c.to_vec())).collect();
    reqwest::Body::wrap_stream(futures_util::stream::iter(chunks))
}

backend_test! {
    async fn malformed_bodies_get_400_and_wrong_content_types_415(backend: Backend) {
        let app = spawn_app(backend).await;
        for raw in ["{", "not json", "[]", "\"alice\"", "42", "null", "{\"username\": 5, \"password\": \"x\"}",
                    "{\"username\": [\"a\"], \"password\": {}}"] {
            let req = app.raw(Method::POST, "/signup").header(CONTENT_TYPE, "application/json").body(raw);
            TestApp::finish(req).await.assert_problem(400, "bad_request");
        }
        let req = app.raw(Method::POST, "/signup").header(CONTENT_TYPE, "text/plain").body("{}");
        TestApp::finish(req).await.assert_problem(415, "unsupported_media_type");
        let req = app.raw(Method::POST, "/signup").body("{\"username\":\"a\"}");
        TestApp::finish(req).await.assert_problem(415, "unsupported_media_type");
        let req = app.raw(Method::POST, "/signup").header(CONTENT_TYPE, "application/json; charset=utf-8")
            .body(json!({"username": "alice", "password": "correct horse"}).to_string());
        TestApp::finish(req).await.assert_status(201);
    }

    async fn bodies_over_64_kib_get_413_chunked_or_not(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        let big = json!({"content": "x".repeat(70 * 1024)}).to_string().into_bytes();
        let req = app.raw(Method::POST, "/posts").bearer_auth(&alice.token).header(CONTENT_TYPE, "application/json")
            .body(big.clone());
        TestApp::finish(req).await.assert_problem(413, "payload_too_large");
        let req = app.raw(Method::POST, "/posts").bearer_auth(&alice.token).header(CONTENT_TYPE, "application/json")
            .body(body_stream(big));
        TestApp::finish(req).await.assert_problem(413, "payload_too_large");
        let req = app.raw(Method::POST, "/signup").header(CONTENT_TYPE, "application/json")
            .body(body_stream(vec![b' '; 100 * 1024]));
        TestApp::finish(req).await.assert_problem(413, "payload_too_large");
    }

    async fn unknown_paths_are_404_and_wrong_methods_405_before_authentication(backend: Backend) {
        let app = spawn_app(backend).await;
        app.call(Method::GET, "/nope", None, None).await.assert_problem(404, "not_found");
        app.call(Method::GET, "/posts/1/comments", None, None).await.assert_problem(404, "not_found");
        for (method, path, allow) in [
            (Method::GET, "/signup", "POST"),
            (Method::DELETE, "/login", "POST"),
            (Method::PUT, "/posts", "GET, HEAD, POST"),
            (Method::POST, "/posts/1", "GET, HEAD, PATCH, DELETE"),
            (Method::GET, "/admin/users/1", "PATCH, DELETE"),
            (Method::POST, "/healthz", "GET, HEAD"),
            (Method::PUT, "/metrics", "GET, HEAD"),
            (Method::POST, "/openapi.json", "GET, HEAD"),
            (Method::DELETE, "/docs", "GET, HEAD"),
        ] {
            let res = app.call(method, path, None, None).await;
            res.assert_problem(405, "method_not_allowed");
            assert_eq!(res.header("allow"), Some(allow), "{path}");
        }
        // HEAD only where GET is served; the 405 has its headers, no body.
        let res = app.call(Method::HEAD, "/admin/users/1", None, None).await;
        assert_eq!((res.status.as_u16(), res.header("allow")), (405, Some("PATCH, DELETE")));
    }

    async fn head_answers_like_get_without_a_body(backend: Backend) {
        // Uptime monitors often probe with HEAD (RFC 9110: GET's headers, no body).
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        for (path, token, status) in [
            ("/healthz", None, 200),
            ("/readyz", None, 200),
            ("/metrics", None, 200),
            ("/.well-known/jwks.json", None, 200),
            ("/posts", Some(alice.token.as_str()), 200),
            ("/posts", None, 401),
            ("/posts/999", Some(alice.token.as_str()), 404),
        ] {
            let get = app.call(Method::GET, path, token, None).await;
            let mut req = app.raw(Method::HEAD, path);
            if let Some(token) = token {
                req = req.bearer_auth(token);
            }
            let head = req.send().await.expect("HEAD sent");
            assert_eq!(head.status().as_u16(), status, "HEAD {path}");
            assert_eq!(get.status.as_u16(), status, "GET {path}");
            assert_eq!(head.headers().get("content-type"), get.headers.get("content-type"), "{path}");
            if status == 401 {
                assert!(head.headers().contains_key("www-authenticate"));
            }
            assert!(head.bytes().await.expect("no body").is_empty(), "HEAD {path} has no body");
        }
    }

    async fn responses_are_never_sniffed_and_never_cached_unless_public(backend: Backend) {
        // Bearer-authenticated answers are personal: no cache may keep them.
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        for res in [
            app.get("/posts", &alice.token).await,
            app.get("/check_session", &alice.token).await,
            app.get("/posts/999", &alice.token).await,
            app.call(Method::GET, "/nope", None, None).await,
            app.call(Method::GET, "/healthz", None, None).await,
        ] {
            assert_eq!(res.header("x-content-type-options"), Some("nosniff"), "{}", res.body);
            assert_eq!(res.header("cache-control"), Some("no-store"), "{}", res.body);
        }
        let jwks = app.call(Method::GET, "/.well-known/jwks.json", None, None).await;
        assert_eq!(jwks.header("cache-control"), Some("public, max-age=600"));
        assert_eq!(jwks.header("x-content-type-options"), Some("nosniff"));
    }

    async fn every_response_carries_a_request_id(backend: Backend) {
        let app = spawn_app(backend).await;
        let a = app.call(Method::GET, "/healthz", None, None).await;
        let b = app.call(Method::GET, "/nope", None, None).await;
        let (a, b) = (a.header("x-request-id").unwrap(), b.header("x-request-id").unwrap());
        assert!(!a.is_empty());
        assert_ne!(a, b);
    }
}
