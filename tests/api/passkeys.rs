//! Passkeys, end to end with a software authenticator: registration behind
//! the password, discoverable login, and every refusal.
use reqwest::Method;
use serde_json::{json, Value};
use warrant::config::{Config, WebauthnConfig};

use crate::authenticator::{Bend, SoftPasskey, ORIGIN, RP_ID};
use crate::helpers::{backend_test, spawn_app, spawn_app_with, Backend, Res, Session, TestApp, PASSWORD};

fn with_passkeys(config: &mut Config) {
    config.webauthn = Some(WebauthnConfig {
        rp_id: RP_ID.into(),
        rp_name: "Example".into(),
        origins: vec![ORIGIN.parse().unwrap()],
    });
}

async fn app_with_passkeys(backend: Backend) -> TestApp {
    spawn_app_with(backend, with_passkeys).await
}

async fn start_registration(app: &TestApp, user: &Session) -> Value {
    let res = app.post("/me/passkeys/registration", &user.token, json!({"password": PASSWORD})).await;
    res.assert_status(200).clone()
}

async fn finish_registration(
    app: &TestApp,
    user: &Session,
    ceremony: &Value,
    answer: Value,
    name: Option<&str>,
) -> Res {
    let mut body = json!({"ceremony": ceremony["ceremony"], "credential": answer});
    if let Some(name) = name {
        body["name"] = name.into();
    }
    app.post("/me/passkeys", &user.token, body).await
}

/// Registers a software passkey for `user`.
async fn registered(app: &TestApp, user: &Session) -> SoftPasskey {
    let ceremony = start_registration(app, user).await;
    let (passkey, answer) = SoftPasskey::register(&ceremony["options"], &Bend::default());
    finish_registration(app, user, &ceremony, answer, Some("Laptop")).await.assert_status(201);
    passkey
}

async fn login_options(app: &TestApp) -> Value {
    app.call(Method::POST, "/login/passkey/options", None, None).await.assert_status(200).clone()
}

async fn log_in(app: &TestApp, passkey: &mut SoftPasskey, bend: &Bend) -> Res {
    let ceremony = login_options(app).await;
    let answer = passkey.sign(&ceremony["options"], bend);
    app.call(
        Method::POST,
        "/login/passkey",
        None,
        Some(json!({"ceremony": ceremony["ceremony"], "credential": answer})),
    )
    .await
}

fn amr_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap())
            .unwrap();
    claims["amr"].clone()
}

backend_test! {
    async fn a_registered_passkey_logs_in_with_no_name_typed_and_no_second_factor(backend: Backend) {
        let app = app_with_passkeys(backend).await;
        let alice = app.signup("alice").await;
        let wrong = app.post("/me/passkeys/registration", &alice.token, json!({"password": "wrong password!"})).await;
        wrong.assert_problem(401, "invalid_credentials");
        let ceremony = start_registration(&app, &alice).await;
        let options = &ceremony["options"]["publicKey"];
        assert_eq!(options["rp"]["id"], RP_ID);
        assert!(options["challenge"].as_str().unwrap().len() >= 22, "16 bytes or more");
        assert!(options["pubKeyCredParams"].as_array().unwrap().iter().any(|p| p["alg"] == -7), "ES256");
        assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
        assert_eq!(options["authenticatorSelection"]["userVerification"], "required");
        assert_eq!(options["attestation"], "none");
        let (mut passkey, answer) = SoftPasskey::register(&ceremony["options"], &Bend::default());
        let created = finish_registration(&app, &alice, &ceremony, answer, Some("Laptop")).await;
        let created = created.assert_status(201);
        assert_eq!(created["name"], "Laptop");
        assert!(created["last_used_at"].is_null());

        // TOTP on: a passkey login still asks for no code.
        crate::mfa::turn_on(&app, &alice, "alice").await;
        let res = log_in(&app, &mut passkey, &Bend::default()).await;
        let body = res.assert_status(200);
        assert_eq!(body["user"]["id"], alice.id);
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(amr_of(token), json!(["hwk", "user"]));
        app.get("/check_session", token).await.assert_status(200);
        let me = app.get("/me", token).await;
        assert_eq!((me.body["passkeys"].as_i64(), me.body["totp"].as_bool()), (Some(1), Some(true)));
        let listed = app.get("/me/passkeys", token).await;
        let items = listed.assert_status(200)["items"].as_array().unwrap().clone();
        assert_eq!(items.len(), 1);
        assert!(items[0]["last_used_at"].is_string(), "last_used_at moves");

        // The next registration excludes it.
        let next = start_registration(&app, &alice).await;
        let excluded = next["options"]["publicKey"]["excludeCredentials"].as_array().unwrap();
        assert_eq!(excluded.len(), 1);
    }

    async fn a_login_that_does_not_verify_is_refused_whatever_the_reason(backend: Backend) {
        let app = app_with_passkeys(backend).await;
        let alice = app.signup("alice").await;
        let mut passkey = registered(&app, &alice).await;
        let bends = [
            Bend { origin: "https://evil.example.com".into(), ..Bend::default() },
            Bend { origin: "https://app.other.com".into(), ..Bend::default() },
            Bend { rp_id: "other.com".into(), ..Bend::default() },
            Bend::without_user_verification(),
            Bend { wrong_key: true, ..Bend::default() },
        ];
        for bend in &bends {
            log_in(&app, &mut passkey, bend).await.assert_problem(401, "invalid_passkey");
        }
        // A credential never registered, claiming alice's handle.
        let ceremony = start_registration(&app, &app.signup("bob").await).await;
        let (mut stranger, _) = SoftPasskey::register(&ceremony["options"], &Bend::default());
        stranger.user_handle = passkey.user_handle.clone();
        log_in(&app, &mut stranger, &Bend::default()).await.assert_problem(401, "invalid_passkey");

        // A ceremony is single-use.
        let ceremony = login_options(&app).await;
        let answer = passkey.sign(&ceremony["options"], &Bend::default());
        let body = json!({"ceremony": ceremony["ceremony"], "credential": answer});
        app.call(Method::POST, "/login/passkey", None, Some(body.clone())).await.assert_status(200);
        app.call(Method::POST, "/login/passkey", None, Some(body)).await.assert_problem(401, "invalid_passkey");
        let garbage = json!({"ceremony": "nope", "credential": {"id": 1}});
        app.call(Method::POST, "/login/passkey", None, Some(garbage)).await.assert_problem(401, "invalid_passkey");

        // A counter that goes back: a cloned authenticator.
        passkey.counter = 10;
        log_in(&app, &mut passkey, &Bend::default()).await.assert_status(200);
        passkey.counter = 3;
        log_in(&app, &mut passkey, &Bend::default()).await.assert_problem(401, "invalid_passkey");
        passkey.counter = 20;
        log_in(&app, &mut passkey, &Bend::default()).await.assert_status(200);
    }

    async fn a_registration_answers_only_its_own_ceremony_once(backend: Backend) {
        let app = app_with_passkeys(backend).await;
        let alice = app.signup("alice").await;
        let bob = app.signup("bob").await;
        let ceremony = start_registration(&app, &alice).await;
        let (_, answer) = SoftPasskey::register(&ceremony["options"], &Bend::default());
        let stolen = finish_registration(&app, &bob, &ceremony, answer.clone(), None).await;
        stolen.assert_problem(422, "invalid_passkey");
        // Taken by bob's attempt: single-use.
        finish_registration(&app, &alice, &ceremony, answer, None).await.assert_problem(422, "invalid_passkey");
        let ceremony = start_registration(&app, &alice).await;
        let (_, answer) = SoftPasskey::register(&ceremony["options"], &Bend { origin: "https://evil.com".into(), ..Bend::default() });
        finish_registration(&app, &alice, &ceremony, answer, None).await.assert_problem(422, "invalid_passkey");
        let ceremony = start_registration(&app, &alice).await;
        let (_, answer) = SoftPasskey::register(&ceremony["options"], &Bend::without_user_verification());
        finish_registration(&app, &alice, &ceremony, answer, None).await.assert_problem(422, "invalid_passkey");
        let ceremony = start_registration(&app, &alice).await;
        let (_, answer) = SoftPasskey::register(&ceremony["options"], &Bend::default());
        let created = finish_registration(&app, &alice, &ceremony, answer, None).await;
        assert_eq!(created.assert_status(201)["name"], "Passkey 1");
    }

    async fn a_deleted_passkey_or_account_logs_in_no_more_and_admins_see_a_users_passkeys(backend: Backend) {
        let app = app_with_passkeys(backend).await;
        let alice = app.signup("alice").await;
        let bob = app.signup("bob").await;
        let root = app.admin("root").await;
        let mut first = registered(&app, &alice).await;
        let mut second = registered(&app, &alice).await;
        let items = app.get(&format!("/admin/users/{}/passkeys", alice.id), &root.token).await;
        let items = items.assert_status(200)["items"].as_array().unwrap().clone();
        assert_eq!(items.len(), 2);
        app.get(&format!("/admin/users/{}/passkeys", alice.id), &bob.token).await.assert_problem(403, "forbidden");
        let (first_id, second_id) = (items[0]["id"].as_i64().unwrap(), items[1]["id"].as_i64().unwrap());
        app.delete(&format!("/me/passkeys/{first_id}"), &bob.token).await.assert_problem(404, "not_found");
        app.delete(&format!("/me/passkeys/{first_id}"), &alice.token).await.assert_status(204);
        log_in(&app, &mut first, &Bend::default()).await.assert_problem(401, "invalid_passkey");
        log_in(&app, &mut second, &Bend::default()).await.assert_status(200);
        app.delete(&format!("/admin/users/{}/passkeys/{second_id}", alice.id), &root.token).await.assert_status(204);
        log_in(&app, &mut second, &Bend::default()).await.assert_problem(401, "invalid_passkey");

        let mut third = registered(&app, &alice).await;
        let res = app.call(Method::DELETE, "/me", Some(&alice.token), Some(json!({"password": PASSWORD}))).await;
        res.assert_status(204);
        log_in(&app, &mut third, &Bend::default()).await.assert_problem(401, "invalid_passkey");
    }

    async fn a_ceremony_started_on_one_instance_finishes_on_another(backend: Backend) {
        let app = app_with_passkeys(backend).await;
        let replica = app.replica();
        let alice = app.signup("alice").await;
        let ceremony = start_registration(&app, &alice).await;
        let (mut passkey, answer) = SoftPasskey::register(&ceremony["options"], &Bend::default());
        finish_registration(&replica, &alice, &ceremony, answer, None).await.assert_status(201);
        let ceremony = login_options(&replica).await;
        let answer = passkey.sign(&ceremony["options"], &Bend::default());
        let body = json!({"ceremony": ceremony["ceremony"], "credential": answer});
        app.call(Method::POST, "/login/passkey", None, Some(body)).await.assert_status(200);
    }

    async fn without_a_relying_party_every_passkey_route_is_404(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        for (method, path) in [
            (Method::POST, "/me/passkeys/registration"), (Method::POST, "/me/passkeys"), (Method::GET, "/me/passkeys"),
            (Method::DELETE, "/me/passkeys/1"), (Method::POST, "/login/passkey/options"), (Method::POST, "/login/passkey"),
        ] {
            app.call(method, path, Some(&alice.token), Some(json!({}))).await.assert_problem(404, "not_found");
        }
        assert_eq!(app.get("/me", &alice.token).await.body["passkeys"], 0);
    }
}
