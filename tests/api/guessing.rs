//! Guessing under attack: wrong passwords and wrong second-factor codes
//! are counted per account, across addresses, tokens and replicas; the
//! owner's own networks keep logging in. Clients come from their own
//! loopback addresses: 127.0.N.1 is network N.
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{backend_test, metric_as, spawn_app, Res, TestApp, PASSWORD};
use crate::mfa::{second_step, turn_on, Authenticator};

/// A code the authenticator does not show for any step the service
/// accepts now.
fn wrong_code(phone: &Authenticator) -> String {
    let near: Vec<String> = (-2..=2).map(|step| phone.code(step)).collect();
    (0..10).map(|d| d.to_string().repeat(6)).find(|c| !near.contains(c)).unwrap()
}

/// Logs in with the password from `source`: the `mfa_token` it waits under.
async fn mfa_token_from(app: &TestApp, source: &str, username: &str) -> String {
    let res = app.try_login_from(source, username, PASSWORD).await;
    res.assert_problem(401, "mfa_required");
    res.body["mfa_token"].as_str().unwrap().to_string()
}

async fn second_step_from(app: &TestApp, source: &str, token: &str, code: &str) -> Res {
    let body = json!({"mfa_token": token, "code": code});
    app.call_from(source, Method::POST, "/login/mfa", None, Some(body)).await
}

/// Asserts a 429 for the account, with a wait of at most `most` seconds.
#[track_caller]
fn assert_throttled(res: &Res, most: u64) {
    res.assert_problem(429, "rate_limited");
    let wait: u64 = res.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=most).contains(&wait), "Retry-After {wait}");
}

async fn throttled_total(app: &TestApp, kind: &str) -> f64 {
    let text = app.raw(Method::GET, "/metrics").send().await.unwrap().text().await.unwrap();
    metric_as(&text, &format!("warrant_account_throttled_total{{kind=\"{kind}\"}}"))
}

backend_test! {
    async fn ten_wrong_codes_from_five_addresses_throttle_the_account_even_for_the_right_code(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        let (phone, recovery) = turn_on(&app, &alice, "alice").await;
        let bob = app.signup("bob").await;
        let (bobs_phone, _) = turn_on(&app, &bob, "bob").await;
        // Two wrong guesses from each of five networks, a new mfa_token
        // each time: a TOTP code and a recovery code.
        for n in 1..=5 {
            let source = format!("127.0.{n}.1");
            let token = mfa_token_from(&app, &source, "alice").await;
            second_step_from(&app, &source, &token, &wrong_code(&phone)).await.assert_problem(401, "invalid_code");
            let token = mfa_token_from(&app, &source, "alice").await;
            second_step_from(&app, &source, &token, "aaaa-bbbb-cccc-dddd").await.assert_problem(401, "invalid_code");
        }
        // The password still starts a login; the right code, or an unused
        // recovery code, from a new address gets no further.
        let token = mfa_token_from(&app, "127.0.9.1", "alice").await;
        assert_throttled(&second_step_from(&app, "127.0.9.1", &token, &phone.code(0)).await, 900);
        assert_throttled(&second_step_from(&app, "127.0.9.1", &token, &recovery[0]).await, 900);
        // Refusals spent none of the mfa_token's five attempts.
        assert_throttled(&second_step_from(&app, "127.0.9.1", &token, &phone.code(0)).await, 900);
        assert_throttled(&second_step_from(&app, "127.0.9.1", &token, &phone.code(0)).await, 900);
        assert_throttled(&second_step_from(&app, "127.0.9.1", &token, &phone.code(0)).await, 900);
        assert_throttled(&second_step_from(&app, "127.0.9.1", &token, &phone.code(0)).await, 900);
        assert!(throttled_total(&app, "second_factor").await >= 6.0);
        // Another account on the same addresses is not affected.
        let bobs = mfa_token_from(&app, "127.0.1.1", "bob").await;
        second_step_from(&app, "127.0.1.1", &bobs, &bobs_phone.code(0)).await.assert_status(200);
        // An operator lifts it; the owner's code works again.
        let out = app.cli(&["unthrottle", "alice"], &[], "");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("1 spent budget(s) cleared"));
        let res = second_step_from(&app, "127.0.9.1", &token, &phone.code(1)).await;
        res.assert_status(200);
    }

    async fn replicas_share_the_second_factor_budget(backend: Backend) {
        let app = spawn_app(backend).await;
        let replica = app.replica();
        let alice = app.signup("alice").await;
        let (phone, _) = turn_on(&app, &alice, "alice").await;
        for instance in [&app, &replica, &app, &replica, &app, &replica, &app, &replica, &app, &replica] {
            let token = mfa_token_from(instance, "127.0.1.1", "alice").await;
            second_step(instance, &token, &wrong_code(&phone)).await.assert_problem(401, "invalid_code");
        }
        for instance in [&app, &replica] {
            let token = mfa_token_from(instance, "127.0.2.1", "alice").await;
            assert_throttled(&second_step(instance, &token, &phone.code(0)).await, 900);
        }
    }

    async fn twenty_wrong_passwords_throttle_new_networks_but_not_the_owners(backend: Backend) {
        let app = spawn_app(backend).await;
        // Signed up from 127.0.0.1: the owner's network is 127.0.0.0/24.
        app.signup("alice").await;
        for n in 1..=20 {
            let res = app.try_login_from(&format!("127.0.{n}.1"), "alice", "wrong password").await;
            res.assert_problem(401, "invalid_credentials");
        }
        // A network that never logged in: refused, even with the password.
        assert_throttled(&app.try_login_from("127.0.50.1", "alice", PASSWORD).await, 900);
        assert_throttled(&app.try_login_from("127.0.50.1", "Alice", "wrong password").await, 900);
        // The owner's network carries on, wrong passwords and all.
        app.try_login_from("127.0.0.9", "alice", "wrong password").await.assert_problem(401, "invalid_credentials");
        app.try_login_from("127.0.0.9", "alice", PASSWORD).await.assert_status(200);
        assert!(throttled_total(&app, "password").await >= 2.0);

        // An unknown name answers the same way: a 429 says nothing of existence.
        for n in 1..=20 {
            let res = app.try_login_from(&format!("127.0.{n}.1"), "nobody", "wrong password").await;
            res.assert_problem(401, "invalid_credentials");
        }
        assert_throttled(&app.try_login_from("127.0.50.1", "nobody", PASSWORD).await, 900);
        assert_throttled(&app.try_login_from("127.0.0.9", "nobody", PASSWORD).await, 900);
        // Other accounts log in from anywhere.
        app.signup("bob").await;
        app.try_login_from("127.0.50.1", "bob", PASSWORD).await.assert_status(200);
        // The command line lifts it.
        let out = app.cli(&["unthrottle", "alice"], &[], "");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        app.try_login_from("127.0.50.1", "alice", PASSWORD).await.assert_status(200);
    }

    async fn wrong_current_passwords_on_the_account_routes_spend_the_same_budget(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        // A stolen access token, used from elsewhere.
        let thief = "127.0.7.1";
        for n in 0..20 {
            let (method, path, body) = if n % 2 == 0 {
                (Method::PUT, "/me/password", json!({"current_password": "guess", "new_password": "a brand new one"}))
            } else {
                (Method::DELETE, "/me", json!({"password": "guess"}))
            };
            let res = app.call_from(thief, method, path, Some(&alice.token), Some(body)).await;
            res.assert_problem(401, "invalid_credentials");
        }
        let body = json!({"current_password": PASSWORD, "new_password": "a brand new one"});
        let res = app.call_from(thief, Method::PUT, "/me/password", Some(&alice.token), Some(body)).await;
        assert_throttled(&res, 900);
        assert_throttled(&app.try_login_from("127.0.8.1", "alice", PASSWORD).await, 900);
        app.login("alice").await;
    }

    async fn wrong_codes_when_turning_totp_off_or_renewing_codes_spend_the_second_factor_budget(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        let (phone, _) = turn_on(&app, &alice, "alice").await;
        let wrong = wrong_code(&phone);
        for n in 0..10 {
            let (method, path) =
                if n % 2 == 0 { (Method::DELETE, "/me/mfa/totp") } else { (Method::POST, "/me/mfa/recovery-codes") };
            let body = json!({"password": PASSWORD, "code": wrong});
            app.call(method, path, Some(&alice.token), Some(body)).await.assert_problem(422, "invalid_code");
        }
        let body = json!({"password": PASSWORD, "code": phone.code(0)});
        let res = app.call(Method::DELETE, "/me/mfa/totp", Some(&alice.token), Some(body)).await;
        assert_throttled(&res, 900);
        let res = app.get("/me/mfa", &alice.token).await;
        assert_eq!(res.assert_status(200)["totp"], true);
    }

    async fn confirming_totp_ends_the_other_sessions(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        let stolen = app.login("alice").await;
        turn_on(&app, &alice, "alice").await;
        app.get("/check_session", &alice.token).await.assert_status(200);
        app.get("/check_session", &stolen.token).await.assert_problem(401, "token_revoked");
        app.try_refresh(&stolen.refresh).await.assert_problem(401, "invalid_refresh_token");
    }

    async fn two_enrolments_at_once_both_answer_200(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        let enrol = || app.post("/me/mfa/totp", &alice.token, json!({"password": PASSWORD}));
        let all = futures_util::future::join_all((0..6).map(|_| enrol())).await;
        for res in &all {
            res.assert_status(200);
        }
        // One of them stands: its code confirms.
        let mut confirmed = 0;
        for res in &all {
            let totp = totp_rs::TOTP::from_url(res.body["otpauth_uri"].as_str().unwrap()).unwrap();
            let code = totp.generate_current().unwrap();
            if app.post("/me/mfa/totp/confirm", &alice.token, json!({"code": code})).await.status == 200 {
                confirmed += 1;
            }
        }
        assert_eq!(confirmed, 1);
    }
}

/// The claims of an access token, as a JSON object.
fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap())
        .unwrap()
}

backend_test! {
    async fn a_token_pairing_an_admins_sub_with_another_users_session_is_refused(backend: Backend) {
        use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
        use warrant::config::{JwtConfig, Secret};
        let secret = "s".repeat(40);
        let key = secret.clone();
        let app = crate::helpers::spawn_app_with(backend, |c| c.jwt = JwtConfig::Hs256 { secret: Secret::new(key) }).await;
        let root = app.admin("root").await;
        let mallory = app.signup("mallory").await;
        app.get("/admin/users", &root.token).await.assert_status(200);
        // With the signing key: root's sub and role, mallory's live session.
        let mut claims = claims_of(&mallory.token);
        let roots = claims_of(&root.token);
        for field in ["sub", "role", "username"] {
            claims[field] = roots[field].clone();
        }
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("at+jwt".into());
        let forged = encode(&header, &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap();
        let res = app.get("/admin/users", &forged).await;
        assert_eq!(res.status, 401, "{}", res.body);
        assert!(["invalid_token", "token_revoked"].contains(&res.body["code"].as_str().unwrap()));
        // A replica that has not seen either session yet refuses it too.
        let replica = app.replica();
        assert_eq!(replica.get("/admin/users", &forged).await.status, 401);
        replica.get("/admin/users", &root.token).await.assert_status(200);
    }

    async fn path_ids_that_cannot_be_ids_are_404_without_a_database_fault(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        let long = "a".repeat(65);
        for path in ["/sessions/%00", "/sessions/a%20b", "/sessions/%C3%A4", &format!("/sessions/{long}")] {
            app.delete(path, &alice.token).await.assert_problem(404, "not_found");
        }
        for path in ["/posts/%00", "/posts/99999999999999999999", "/posts/-1x"] {
            app.get(path, &alice.token).await.assert_problem(404, "not_found");
        }
        let text = app.raw(Method::GET, "/metrics").send().await.unwrap().text().await.unwrap();
        let faults: f64 = text
            .lines()
            .filter(|l| l.starts_with("warrant_db_faults_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        assert_eq!(faults, 0.0, "{text}");
    }

    async fn ending_a_session_the_list_no_longer_shows_is_404(backend: Backend) {
        let app = crate::helpers::spawn_app_with(backend, |c| c.refresh_ttl_secs = 1).await;
        let alice = app.signup("alice").await;
        let idle = app.login("alice").await;
        actix_web::rt::time::sleep(std::time::Duration::from_millis(1200)).await;
        let listed = app.get("/sessions", &alice.token).await;
        assert_eq!(listed.assert_status(200)["items"].as_array().unwrap().len(), 0, "both lapsed from the list");
        let sid = claims_of(&idle.token)["sid"].as_str().unwrap().to_string();
        app.delete(&format!("/sessions/{sid}"), &alice.token).await.assert_problem(404, "not_found");
    }
}
