use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use reqwest::header::AUTHORIZATION;
use reqwest::Method;
use serde_json::{json, Value};
use warrant::auth::keys::generate_ed25519_pem;
use warrant::config::{JwtConfig, Secret};

use crate::helpers::{
    backend_test, spawn_app, spawn_app_on, spawn_app_with, Backend, Session, TestApp, TestDb,
};

/// Writes Ed25519 PEM keys to files and returns (dir, paths, pems).
fn key_files(n: usize) -> (tempfile::TempDir, Vec<std::path::PathBuf>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let pems: Vec<String> = (0..n).map(|_| generate_ed25519_pem()).collect();
    let paths = pems
        .iter()
        .enumerate()
        .map(|(i, pem)| {
            let path = dir.path().join(format!("key{i}.pem"));
            std::fs::write(&path, pem).unwrap();
            path
        })
        .collect();
    (dir, paths, pems)
}

async fn jwks(app: &TestApp) -> JwkSet {
    let res = app.call(Method::GET, "/.well-known/jwks.json", None, None).await;
    serde_json::from_value(res.assert_status(200).clone()).unwrap()
}

fn kid_of(token: &str) -> String {
    decode_header(token).unwrap().kid.expect("kid")
}

/// Claims for `session`'s user, in that (real, live) session: a forged
/// token differs from an issued one only where a test changes it.
fn claims(session: &Session) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"iss": "warrant", "aud": "warrant", "sub": session.id.to_string(), "iat": now, "exp": now + 600,
           "jti": "j", "sid": sid_of(&session.token), "role": "user", "username": "alice"})
}

/// The `sid` of an access token.
fn sid_of(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["sid"].as_str().unwrap().to_string()
}

fn sign(pem: &str, kid: &str, typ: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = typ.map(Into::into);
    header.kid = Some(kid.into());
    encode(&header, claims, &EncodingKey::from_ed_pem(pem.as_bytes()).unwrap()).unwrap()
}

fn with(claims: &Value, key: &str, value: Value) -> Value {
    let mut claims = claims.clone();
    claims[key] = value;
    claims
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

backend_test! {
    async fn a_standard_jwt_library_verifies_our_tokens_from_the_jwks_alone(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        let res = app.call(Method::GET, "/.well-known/jwks.json", None, None).await;
        res.assert_status(200);
        assert_eq!(res.header("cache-control"), Some("public, max-age=600"));
        let set: JwkSet = serde_json::from_value(res.body.clone()).unwrap();
        let header = decode_header(&alice.token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.alg, Algorithm::EdDSA);
        let jwk = set.find(&header.kid.unwrap()).expect("the token's kid is published");
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&["warrant"]);
        validation.set_audience(&["warrant"]);
        let data = decode::<Value>(&alice.token, &DecodingKey::from_jwk(jwk).unwrap(), &validation).unwrap();
        for claim in ["iss", "aud", "sub", "iat", "exp", "jti", "sid", "role", "username"] {
            assert!(data.claims.get(claim).is_some(), "claim {claim}");
        }
        assert_eq!(data.claims["sub"], alice.id.to_string());
        assert_eq!(data.claims["role"], "user");
    }

    async fn hostile_tokens_are_refused_as_invalid(backend: Backend) {
        let (_dir, paths, pems) = key_files(1);
        let app = spawn_app_with(backend, |c| c.jwt = JwtConfig::EdDsa { key_files: Some(paths) }).await;
        let alice = app.signup("alice").await;
        let kid = kid_of(&alice.token);
        let good = claims(&alice);
        assert_eq!(app.get("/check_session", &sign(&pems[0], &kid, Some("at+jwt"), &good)).await.status, 200,
            "the forging helper makes tokens the app accepts");

        let parts: Vec<&str> = alice.token.split('.').collect();
        let mut payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        payload["role"] = json!("admin");
        let tampered = format!("{}.{}.{}", parts[0], b64(&payload), parts[2]);
        let alg_none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "at+jwt", "kid": kid})), parts[1]);
        let hs256_with_public_key = {
            let mut header = Header::new(Algorithm::HS256);
            header.typ = Some("at+jwt".into());
            header.kid = Some(kid.clone());
            let x = jwks(&app).await.keys[0].clone();
            let secret = serde_json::to_value(&x).unwrap()["x"].as_str().unwrap().to_string();
            encode(&header, &good, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
        };
        let other_key = generate_ed25519_pem();
        let now = chrono::Utc::now().timestamp();

        let cases: Vec<(&str, String)> = vec![
            ("garbage", "not-a-jwt".into()),
            ("two parts", format!("{}.{}", parts[0], parts[1])),
            ("alg none", alg_none),
            ("tampered role", tampered),
            ("another key with our kid", sign(&other_key, &kid, Some("at+jwt"), &good)),
            ("unknown kid", sign(&pems[0], "nope", Some("at+jwt"), &good)),
            ("HS256 keyed with the public key", hs256_with_public_key),
            ("no typ", sign(&pems[0], &kid, None, &good)),
            ("typ JWT", sign(&pems[0], &kid, Some("JWT"), &good)),
            ("wrong iss", sign(&pems[0], &kid, Some("at+jwt"), &with(&good, "iss", json!("evil")))),
            ("wrong aud", sign(&pems[0], &kid, Some("at+jwt"), &with(&good, "aud", json!("other-api")))),
            ("nbf in the future", sign(&pems[0], &kid, Some("at+jwt"), &with(&good, "nbf", json!(now + 120)))),
            ("no exp", sign(&pems[0], &kid, Some("at+jwt"), &{ let mut c = good.clone(); c.as_object_mut().unwrap().remove("exp"); c })),
            ("non-numeric sub", sign(&pems[0], &kid, Some("at+jwt"), &with(&good, "sub", json!("alice")))),
            ("unknown role", sign(&pems[0], &kid, Some("at+jwt"), &with(&good, "role", json!("root")))),
            // A session this deployment never issued (a leaked key, a token
            // from another deployment sharing it).
            ("unknown session", sign(&pems[0], &kid, Some("at+jwt"), &with(&good, "sid", json!("never-issued")))),
        ];
        for (case, token) in cases {
            let res = app.get("/check_session", &token).await;
            assert_eq!(res.status, 401, "{case}: {}", res.body);
            res.assert_problem(401, "invalid_token");
            assert!(res.header("www-authenticate").unwrap().contains("error=\"invalid_token\""), "{case}");
        }
    }

    async fn tokens_with_a_critical_extension_an_unencoded_payload_or_a_future_iat_are_invalid(backend: Backend) {
        let (_dir, paths, pems) = key_files(1);
        let app = spawn_app_with(backend, |c| c.jwt = JwtConfig::EdDsa { key_files: Some(paths) }).await;
        let alice = app.signup("alice").await;
        let kid = kid_of(&alice.token);
        let signed_with = |edit: &dyn Fn(&mut Header), claims: &Value| {
            let mut header = Header::new(Algorithm::EdDSA);
            header.typ = Some("at+jwt".into());
            header.kid = Some(kid.clone());
            edit(&mut header);
            encode(&header, claims, &EncodingKey::from_ed_pem(pems[0].as_bytes()).unwrap()).unwrap()
        };
        let good = claims(&alice);
        app.get("/check_session", &signed_with(&|_| {}, &good)).await.assert_status(200);
        let b64_true = signed_with(&|h| h.extras.insert("b64", true), &good);
        app.get("/check_session", &b64_true).await.assert_status(200);
        let now = chrono::Utc::now().timestamp();
        let cases: Vec<(&str, String)> = vec![
            ("crit naming a claim", signed_with(&|h| h.crit = Some(vec!["exp".into()]), &good)),
            ("crit naming an extension", signed_with(&|h| {
                h.crit = Some(vec!["http://example.com/ext".into()]);
                h.extras.insert("http://example.com/ext", true);
            }, &good)),
            ("b64 false", signed_with(&|h| {
                h.crit = None;
                h.extras.insert("b64", false);
            }, &good)),
            ("b64 false, critical", signed_with(&|h| {
                h.crit = Some(vec!["b64".into()]);
                h.extras.insert("b64", false);
            }, &good)),
            ("iat in the future", signed_with(&|_| {}, &with(&good, "iat", json!(now + 3600)))),
        ];
        for (case, token) in cases {
            let res = app.get("/check_session", &token).await;
            assert_eq!(res.status, 401, "{case}: {}", res.body);
            res.assert_problem(401, "invalid_token");
        }
        let within_leeway = signed_with(&|_| {}, &with(&good, "iat", json!(now + 10)));
        app.get("/check_session", &within_leeway).await.assert_status(200);
    }

    async fn expired_tokens_get_token_expired_beyond_the_leeway(backend: Backend) {
        let (_dir, paths, pems) = key_files(1);
        let app = spawn_app_with(backend, |c| c.jwt = JwtConfig::EdDsa { key_files: Some(paths) }).await;
        let alice = app.signup("alice").await;
        let kid = kid_of(&alice.token);
        let now = chrono::Utc::now().timestamp();
        let expired = sign(&pems[0], &kid, Some("at+jwt"), &with(&claims(&alice), "exp", json!(now - 60)));
        app.get("/check_session", &expired).await.assert_problem(401, "token_expired");
        let within_leeway = sign(&pems[0], &kid, Some("at+jwt"), &with(&claims(&alice), "exp", json!(now - 5)));
        app.get("/check_session", &within_leeway).await.assert_status(200);
    }

    async fn the_bearer_scheme_is_case_insensitive_other_schemes_are_no_token_and_two_headers_are_refused(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        for scheme in ["Bearer", "bearer", "BEARER"] {
            let req = app.raw(Method::GET, "/check_session").header(AUTHORIZATION, format!("{scheme} {}", alice.token));
            TestApp::finish(req).await.assert_status(200);
        }
        for (value, code) in [
            ("Basic YWxpY2U6cHc=".to_string(), "missing_token"),
            (alice.token.clone(), "missing_token"),
            ("Bearer".to_string(), "invalid_token"),
            ("Bearer    ".to_string(), "invalid_token"),
            (format!("Bearer {} extra", alice.token), "invalid_token"),
        ] {
            let req = app.raw(Method::GET, "/check_session").header(AUTHORIZATION, value.clone());
            TestApp::finish(req).await.assert_problem(401, code);
        }
        // Two headers: a proxy that checks one and an app that reads the
        // other would disagree on who is calling, so neither is read.
        let bearer = format!("Bearer {}", alice.token);
        for (first, second) in [(bearer.as_str(), "Bearer x"), ("Basic YWxpY2U6cHc=", bearer.as_str())] {
            let req = app.raw(Method::GET, "/check_session").header(AUTHORIZATION, first).header(AUTHORIZATION, second);
            TestApp::finish(req).await.assert_problem(401, "invalid_token");
        }
        let res = app.call(Method::GET, &format!("/check_session?access_token={}", alice.token), None, None).await;
        res.assert_problem(401, "missing_token");
        assert_eq!(res.header("www-authenticate"), Some("Bearer"));
    }

    async fn tokens_survive_a_restart_and_replicas_share_keys(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        let first_keys = jwks(&app).await;
        let TestApp { db, config, .. } = app;
        let restarted = spawn_app_on(db, config);
        restarted.get("/check_session", &alice.token).await.assert_status(200);
        assert_eq!(jwks(&restarted).await, first_keys, "the key came from the database");
        restarted.login("alice").await;
    }

    async fn hs256_mode_signs_with_the_secret_and_publishes_no_keys(backend: Backend) {
        let app = spawn_app_with(backend, |c| c.jwt = JwtConfig::Hs256 { secret: Secret::new("s".repeat(40)) }).await;
        let alice = app.signup("alice").await;
        assert_eq!(decode_header(&alice.token).unwrap().alg, Algorithm::HS256);
        app.get("/check_session", &alice.token).await.assert_status(200);
        assert!(jwks(&app).await.keys.is_empty());
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("at+jwt".into());
        let forged = encode(&header, &claims(&alice), &EncodingKey::from_secret(&[b's'; 39])).unwrap();
        app.get("/check_session", &forged).await.assert_problem(401, "invalid_token");
    }

    async fn with_several_key_files_the_first_signs_and_all_verify(backend: Backend) {
        let (_dir, paths, pems) = key_files(2);
        let app = spawn_app_with(backend, |c| c.jwt = JwtConfig::EdDsa { key_files: Some(paths) }).await;
        let alice = app.signup("alice").await;
        let set = jwks(&app).await;
        assert_eq!(set.keys.len(), 2);
        let kids: Vec<String> = set.keys.iter().map(|k| k.common.key_id.clone().unwrap()).collect();
        assert_ne!(kids[0], kids[1]);
        assert_eq!(kid_of(&alice.token), kids[0], "the first key signs");
        let by_second = sign(&pems[1], &kids[1], Some("at+jwt"), &claims(&alice));
        app.get("/check_session", &by_second).await.assert_status(200);
    }
}

#[actix_web::test]
async fn a_bad_key_file_stops_startup_naming_the_variable() {
    let db = TestDb::new(Backend::Sqlite);
    let mut config = crate::helpers::test_config(&db);
    config.jwt = JwtConfig::EdDsa { key_files: Some(vec!["/nonexistent/key.pem".into()]) };
    let err = warrant::startup::Application::build(config).err().expect("startup fails");
    assert!(err.to_string().starts_with("WARRANT_JWT_KEY_FILE"), "{err}");
}

#[actix_web::test]
#[ignore = "PostgreSQL: TEST_DATABASE_URL=postgres://… cargo test -- --include-ignored"]
async fn replicas_starting_together_on_an_empty_database_agree_on_one_key() {
    let db = TestDb::new(Backend::Postgres);
    let config = crate::helpers::test_config(&db);
    let apps: Vec<warrant::startup::Application> = std::thread::scope(|s| {
        let starts: Vec<_> =
            (0..4).map(|_| s.spawn(|| warrant::startup::Application::build(config.clone()))).collect();
        starts.into_iter().map(|h| h.join().expect("no panic").expect("every replica starts")).collect()
    });
    let mut key_sets = Vec::new();
    for app in apps {
        let base = format!("http://{}", app.addr());
        actix_web::rt::spawn(app.run_until_stopped());
        let set: JwkSet =
            reqwest::get(format!("{base}/.well-known/jwks.json")).await.unwrap().json().await.unwrap();
        key_sets.push(set);
    }
    assert_eq!(key_sets[0].keys.len(), 1, "exactly one key was generated");
    assert!(key_sets.iter().all(|set| *set == key_sets[0]), "all replicas publish the same key");
}
