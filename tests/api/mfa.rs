//! Two-factor login (TOTP): enrolment, the login's second step, recovery
//! codes, turning it off, and the resets. Codes are computed here from the
//! `otpauth://` URI the enrolment returned, as an authenticator app would.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};
use totp_rs::TOTP;

use crate::helpers::{backend_test, spawn_app, Res, Session, TestApp, PASSWORD};

/// An authenticator app: the TOTP of an enrolment.
pub(crate) struct Authenticator(TOTP);

impl Authenticator {
    /// The code of the step `offset` steps from now.
    pub(crate) fn code(&self, offset: i64) -> String {
        let now = chrono::Utc::now().timestamp();
        self.0.generate((now + offset * 30) as u64)
    }
}

/// Seconds a test's codes stay in one step: it starts its codes with at
/// least this much of the step left, so none straddles a step's end.
const STEADY_SECS: i64 = 15;

/// Waits, if need be, until the current 30 s step has `STEADY_SECS` left:
/// a code computed near a step's end may be checked in the next step,
/// where "one step back" is two (a flake seen under CI load).
async fn steady_step() {
    let left = 30 - chrono::Utc::now().timestamp_millis().rem_euclid(30_000) / 1000;
    if left < STEADY_SECS {
        actix_web::rt::time::sleep(std::time::Duration::from_secs(left as u64 + 1)).await;
    }
}

/// The `amr` claim of an access token.
fn amr_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["amr"].clone()
}

/// Reads the QR code of an SVG as a scanner would: draws its dark
/// rectangles (`M{x} {y}h{w}v{h}H{x}V{y}`) onto a bitmap and decodes it.
fn scan(svg: &str) -> String {
    let attr = |name: &str| -> usize {
        let start = svg.find(&format!(" {name}=\"")).expect("attribute") + name.len() + 3;
        svg[start..].split('"').next().unwrap().parse().expect("a number")
    };
    let (w, h) = (attr("width"), attr("height"));
    let mut dark = vec![false; w * h];
    let path = svg.split(" d=\"").nth(1).expect("a path").split('"').next().unwrap();
    for rect in path.split('M').filter(|r| !r.is_empty()) {
        let nums: Vec<usize> = rect
            .split(|c: char| !c.is_ascii_digit())
            .filter(|n| !n.is_empty())
            .map(|n| n.parse().unwrap())
            .collect();
        let (x, y, rw, rh) = (nums[0], nums[1], nums[2], nums[3]);
        for row in y..y + rh {
            for col in x..x + rw {
                dark[row * w + col] = true;
            }
        }
    }
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| if dark[y * w + x] { 0 } else { 255 });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the SVG");
    grids[0].decode().expect("the QR code decodes").1
}

/// Turns TOTP on for `session`'s account: its authenticator and recovery
/// codes. The code confirmed with is of the previous step (clock drift),
/// early in a step, so the test's codes that follow keep to it.
pub(crate) async fn turn_on(
    app: &TestApp,
    session: &Session,
    username: &str,
) -> (Authenticator, Vec<String>) {
    let res = app.post("/me/mfa/totp", &session.token, json!({"password": PASSWORD})).await;
    let enrolment = res.assert_status(200);
    let uri = enrolment["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with(&format!("otpauth://totp/warrant:{username}?")), "{uri}");
    let totp = TOTP::from_url(uri).expect("an authenticator app reads the URI");
    assert_eq!(totp.get_secret_base32(), enrolment["secret"].as_str().unwrap());
    let app_ = Authenticator(totp);
    steady_step().await;
    let res = app.post("/me/mfa/totp/confirm", &session.token, json!({"code": app_.code(-1)})).await;
    let codes: Vec<String> =
        serde_json::from_value(res.assert_status(200)["recovery_codes"].clone()).unwrap();
    (app_, codes)
}

/// Logs in with the password: the `mfa_token` of the `mfa_required` answer.
pub(crate) async fn mfa_token(app: &TestApp, username: &str) -> String {
    let res = app.try_login(username, PASSWORD).await;
    res.assert_problem(401, "mfa_required");
    assert!(res.body.get("access_token").is_none() && res.body.get("refresh_token").is_none());
    res.body["mfa_token"].as_str().expect("an mfa_token").to_string()
}

pub(crate) async fn second_step(app: &TestApp, mfa_token: &str, code: &str) -> Res {
    app.call(Method::POST, "/login/mfa", None, Some(json!({"mfa_token": mfa_token, "code": code}))).await
}

backend_test! {
    async fn enrolment_answers_a_secret_its_uri_and_a_qr_code_of_it(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        let res = app.post("/me/mfa/totp", &alice.token, json!({"password": "wrong password"})).await;
        res.assert_problem(401, "invalid_credentials");
        let res = app.post("/me/mfa/totp", &alice.token, json!({})).await;
        res.assert_problem(422, "validation_failed");
        let res = app.post("/me/mfa/totp", &alice.token, json!({"password": PASSWORD})).await;
        let body = res.assert_status(200);
        let uri = body["otpauth_uri"].as_str().unwrap();
        assert_eq!(scan(body["qr_svg"].as_str().unwrap()), uri);
        assert!(uri.contains(&format!("secret={}", body["secret"].as_str().unwrap())));
        assert!(uri.contains("issuer=warrant"));
        // Not on until confirmed.
        let res = app.get("/me/mfa", &alice.token).await;
        assert_eq!(res.assert_status(200), &json!({"totp": false, "recovery_codes_left": 0}));
        app.login("alice").await;
        let res = app.post("/me/mfa/totp/confirm", &alice.token, json!({"code": "000000x"})).await;
        res.assert_problem(422, "invalid_code");
    }

    async fn a_confirmed_enrolment_makes_login_need_a_code_that_works_once(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        assert_eq!(amr_of(&alice.token), json!(["pwd"]));
        let (phone, codes) = turn_on(&app, &alice, "alice").await;
        assert_eq!(codes.len(), 10);
        let res = app.get("/me/mfa", &alice.token).await;
        assert_eq!(res.assert_status(200), &json!({"totp": true, "recovery_codes_left": 10}));
        let res = app.post("/me/mfa/totp", &alice.token, json!({"password": PASSWORD})).await;
        res.assert_problem(409, "mfa_already_enabled");

        // The code confirmed with was spent; the next step's works, once.
        let token = mfa_token(&app, "alice").await;
        second_step(&app, &token, &phone.code(-1)).await.assert_problem(401, "invalid_code");
        let res = second_step(&app, &token, &phone.code(0)).await;
        let body = res.assert_status(200);
        let access = body["access_token"].as_str().unwrap();
        assert_eq!(amr_of(access), json!(["pwd", "otp"]));
        app.get("/check_session", access).await.assert_status(200);
        // A refresh keeps the session's amr.
        let refreshed = app.refresh(body["refresh_token"].as_str().unwrap()).await;
        assert_eq!(amr_of(&refreshed.token), json!(["pwd", "otp"]));
        // The mfa_token is single use; the code too.
        second_step(&app, &token, &phone.code(1)).await.assert_problem(401, "invalid_mfa_token");
        let token = mfa_token(&app, "alice").await;
        second_step(&app, &token, &phone.code(0)).await.assert_problem(401, "invalid_code");
        // Clock drift: one step ahead is accepted, two steps either way not.
        second_step(&app, &token, &phone.code(2)).await.assert_problem(401, "invalid_code");
        second_step(&app, &token, &phone.code(-2)).await.assert_problem(401, "invalid_code");
        second_step(&app, &token, &phone.code(1)).await.assert_status(200);
    }

    async fn a_wrong_password_answers_as_for_any_account(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        turn_on(&app, &alice, "alice").await;
        let res = app.try_login("alice", "wrong password").await;
        res.assert_problem(401, "invalid_credentials");
        assert!(res.body.get("mfa_token").is_none());
        second_step(&app, "no-such-token", "123456").await.assert_problem(401, "invalid_mfa_token");
        let res = app.call(Method::POST, "/login/mfa", None, Some(json!({"code": "123456"}))).await;
        res.assert_problem(422, "validation_failed");
    }

    async fn five_wrong_codes_end_the_mfa_token(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        let (phone, _) = turn_on(&app, &alice, "alice").await;
        let token = mfa_token(&app, "alice").await;
        let wrong = if phone.code(0) == "000000" { "111111" } else { "000000" };
        for _ in 0..5 {
            second_step(&app, &token, wrong).await.assert_problem(401, "invalid_code");
        }
        second_step(&app, &token, &phone.code(0)).await.assert_problem(401, "invalid_mfa_token");
        // A new login starts afresh.
        let token = mfa_token(&app, "alice").await;
        second_step(&app, &token, &phone.code(0)).await.assert_status(200);
    }

    async fn a_recovery_code_logs_in_once(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        let (_, codes) = turn_on(&app, &alice, "alice").await;
        let token = mfa_token(&app, "alice").await;
        // Typed in capitals, without dashes.
        let typed = codes[3].to_uppercase().replace('-', "");
        let res = second_step(&app, &token, &typed).await;
        assert_eq!(amr_of(res.assert_status(200)["access_token"].as_str().unwrap()), json!(["pwd", "otp"]));
        let res = app.get("/me/mfa", &alice.token).await;
        assert_eq!(res.assert_status(200)["recovery_codes_left"], 9);
        let token = mfa_token(&app, "alice").await;
        second_step(&app, &token, &codes[3]).await.assert_problem(401, "invalid_code");
        second_step(&app, &token, &codes[4]).await.assert_status(200);
    }

    async fn new_recovery_codes_take_the_password_and_a_current_code_and_replace_the_old_ones(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        let renew = |password: &str, code: &str| {
            app.post("/me/mfa/recovery-codes", &alice.token, json!({"password": password, "code": code}))
        };
        renew(PASSWORD, "123456").await.assert_problem(404, "not_found");
        let (phone, old) = turn_on(&app, &alice, "alice").await;
        renew("wrong password", &phone.code(0)).await.assert_problem(401, "invalid_credentials");
        let res = app.post("/me/mfa/recovery-codes", &alice.token, json!({"password": PASSWORD})).await;
        res.assert_problem(422, "validation_failed");
        renew(PASSWORD, "12345").await.assert_problem(422, "invalid_code");
        let res = renew(PASSWORD, &phone.code(0)).await;
        let new: Vec<String> = serde_json::from_value(res.assert_status(200)["recovery_codes"].clone()).unwrap();
        assert_eq!(new.len(), 10);
        // The code was spent with the renewal.
        renew(PASSWORD, &phone.code(0)).await.assert_problem(422, "invalid_code");
        let token = mfa_token(&app, "alice").await;
        second_step(&app, &token, &old[0]).await.assert_problem(401, "invalid_code");
        second_step(&app, &token, &new[0]).await.assert_status(200);
    }

    async fn turning_totp_off_needs_the_password_and_a_code_and_ends_other_sessions(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        let (phone, _) = turn_on(&app, &alice, "alice").await;
        let token = mfa_token(&app, "alice").await;
        let laptop = second_step(&app, &token, &phone.code(0)).await;
        let laptop = laptop.assert_status(200)["access_token"].as_str().unwrap().to_string();
        let off = |password: &str, code: &str| {
            let body = json!({"password": password, "code": code});
            app.call(Method::DELETE, "/me/mfa/totp", Some(&alice.token), Some(body))
        };
        off("wrong password", &phone.code(1)).await.assert_problem(401, "invalid_credentials");
        off(PASSWORD, "12345").await.assert_problem(422, "invalid_code");
        // The code of the login just now was spent.
        off(PASSWORD, &phone.code(0)).await.assert_problem(422, "invalid_code");
        let res = off(PASSWORD, &phone.code(1)).await;
        assert_eq!(res.status, 204, "{}", res.body);
        app.get("/check_session", &alice.token).await.assert_status(200);
        app.get("/check_session", &laptop).await.assert_problem(401, "token_revoked");
        let res = app.get("/me/mfa", &alice.token).await;
        assert_eq!(res.assert_status(200), &json!({"totp": false, "recovery_codes_left": 0}));
        assert_eq!(amr_of(&app.login("alice").await.token), json!(["pwd"]));
        off(PASSWORD, &phone.code(1)).await.assert_problem(404, "not_found");
    }

    async fn a_password_change_voids_a_login_waiting_for_its_code(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        let (phone, _) = turn_on(&app, &alice, "alice").await;
        let token = mfa_token(&app, "alice").await;
        let body = json!({"current_password": PASSWORD, "new_password": "another horse, another battery"});
        let res = app.call(Method::PUT, "/me/password", Some(&alice.token), Some(body)).await;
        assert_eq!(res.status, 204, "{}", res.body);
        second_step(&app, &token, &phone.code(0)).await.assert_problem(401, "invalid_mfa_token");
    }

    async fn of_two_completions_of_one_login_exactly_one_wins(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        let (phone, _) = turn_on(&app, &alice, "alice").await;
        let token = mfa_token(&app, "alice").await;
        let code = phone.code(0);
        let both = futures_util::future::join_all([second_step(&app, &token, &code), second_step(&app, &token, &code)]).await;
        let (a, b) = (&both[0], &both[1]);
        let won = [a, b].iter().filter(|r| r.status == 200).count();
        assert_eq!(won, 1, "{} {}", a.body, b.body);
        let lost = if a.status == 200 { b } else { a };
        assert_eq!(lost.status, 401, "{}", lost.body);
    }

    async fn an_admin_or_the_command_line_turns_a_lost_device_off(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        let bob = app.signup("bob").await;
        turn_on(&app, &alice, "alice").await;
        let path = format!("/admin/users/{}/mfa", alice.id);
        app.delete(&path, &bob.token).await.assert_problem(403, "forbidden");
        let root = app.admin("root").await;
        app.delete("/admin/users/999999/mfa", &root.token).await.assert_problem(404, "not_found");
        let res = app.delete(&path, &root.token).await;
        assert_eq!(res.status, 204, "{}", res.body);
        assert_eq!(amr_of(&app.login("alice").await.token), json!(["pwd"]));

        turn_on(&app, &alice, "alice").await;
        mfa_token(&app, "alice").await;
        let out = app.cli(&["reset-mfa", "alice"], &[], "");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("turned off"));
        app.login("alice").await;
        let out = app.cli(&["reset-mfa", "nobody"], &[], "");
        assert!(!out.status.success());
    }
}
