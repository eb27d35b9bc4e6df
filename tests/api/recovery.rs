//! Email and account recovery, against a real SMTP server the test starts.
use std::time::Duration;

use diesel::connection::SimpleConnection;
use reqwest::Method;
use serde_json::json;
use warrant::config::{Config, MailConfig, SmtpServer as Smtp, SmtpTls};

use crate::helpers::{
    backend_test, metric, spawn_app, spawn_app_on, spawn_app_with, test_config, Backend, TestApp, TestDb,
    PASSWORD,
};
use crate::smtp::{Mail, SmtpServer, TestCa, TlsFrom};

const WITHIN: Duration = Duration::from_secs(10);

fn with_mail(config: &mut Config, smtp: &SmtpServer) {
    config.mail = Some(MailConfig {
        smtp: Smtp {
            host: "127.0.0.1".into(),
            port: Some(smtp.port),
            tls: SmtpTls::Opportunistic,
            credentials: None,
        },
        from: "warrant@auth.example.com".into(),
        link_url: "https://app.example.com/auth?from=mail".into(),
        reset_ttl: Duration::from_secs(900),
    });
}

async fn app_with_mail(backend: Backend, smtp: &SmtpServer) -> TestApp {
    spawn_app_with(backend, |c| with_mail(c, smtp)).await
}

/// Signs `name` up with `email`, and verifies it with the mailed link.
async fn verified(app: &TestApp, smtp: &SmtpServer, name: &str, email: &str) -> crate::helpers::Session {
    let before = smtp.mails().len();
    let res = app
        .call(
            Method::POST,
            "/signup",
            None,
            Some(json!({"username": name, "password": PASSWORD, "email": email})),
        )
        .await;
    res.assert_status(201);
    let mails = smtp.wait_for(before + 1, WITHIN).await;
    let mail = mails.iter().rev().find(|m| m.to == email).expect("a verification mail");
    let (action, token) = mail.link();
    assert_eq!(action, "verify-email");
    app.call(Method::POST, "/email/verify", None, Some(json!({"token": token}))).await.assert_status(204);
    crate::helpers::Session {
        id: res.body["user"]["id"].as_i64().unwrap(),
        token: res.body["access_token"].as_str().unwrap().into(),
        refresh: res.body["refresh_token"].as_str().unwrap().into(),
    }
}

async fn metrics(app: &TestApp) -> String {
    app.raw(Method::GET, "/metrics").send().await.unwrap().text().await.unwrap()
}

async fn forgot(app: &TestApp, email: &str) -> Vec<String> {
    let res = app.call(Method::POST, "/password/forgot", None, Some(json!({"email": email}))).await;
    res.assert_status(202);
    assert_eq!(res.body, serde_json::Value::Null, "an empty body, whoever asks");
    // The headers, but those that differ on every answer.
    let mut headers: Vec<String> = res
        .headers
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "date" | "x-request-id"))
        .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap_or_default()))
        .collect();
    headers.sort();
    headers
}

fn resets_to<'a>(mails: &'a [Mail], to: &str) -> Vec<&'a Mail> {
    mails.iter().filter(|m| m.to == to && m.link().0 == "reset-password").collect()
}

backend_test! {
    async fn an_address_given_at_signup_is_unverified_until_its_mailed_link_is_opened(backend: Backend) {
        let smtp = SmtpServer::start();
        let app = app_with_mail(backend, &smtp).await;
        let res = app
            .call(Method::POST, "/signup", None,
                Some(json!({"username": "alice", "password": PASSWORD, "email": "Alice@Example.com"})))
            .await;
        let token = res.assert_status(201)["access_token"].as_str().unwrap().to_string();
        let me = app.get("/me", &token).await;
        let me = me.assert_status(200);
        assert_eq!((me["username"].as_str(), me["email"].as_str()), (Some("alice"), Some("Alice@Example.com")));
        assert_eq!((me["email_verified"].as_bool(), me["totp"].as_bool(), me["passkeys"].as_i64()), (Some(false), Some(false), Some(0)));
        assert!(me["pending_email"].is_null());

        let mails = smtp.wait_for(1, WITHIN).await;
        assert_eq!(mails.len(), 1);
        let mail = &mails[0];
        assert_eq!(mail.to, "Alice@Example.com");
        assert!(mail.text.contains("https://app.example.com/auth?from=mail&action=verify-email&token="), "{}", mail.text);
        assert!(mail.text.contains("text/html") && mail.text.contains("UTC"), "both parts, with the expiry");
        let (_, link) = mail.link();
        assert!(link.len() >= 22, "at least 128 bits: {link}");
        app.call(Method::POST, "/email/verify", None, Some(json!({"token": link}))).await.assert_status(204);
        assert_eq!(app.get("/me", &token).await.body["email_verified"], true);
        let again = app.call(Method::POST, "/email/verify", None, Some(json!({"token": link}))).await;
        again.assert_problem(422, "invalid_link");
        let bogus = app.call(Method::POST, "/email/verify", None, Some(json!({"token": "nope"}))).await;
        bogus.assert_problem(422, "invalid_link");
    }

    async fn a_new_address_stays_pending_until_verified_and_a_verified_address_belongs_to_one_account(backend: Backend) {
        let smtp = SmtpServer::start();
        let app = app_with_mail(backend, &smtp).await;
        let alice = verified(&app, &smtp, "alice", "alice@example.com").await;
        let bob = verified(&app, &smtp, "bob", "bob@example.com").await;

        let change = |token: String, password: &'static str, email: &'static str| {
            let app = &app;
            async move { app.call(Method::PUT, "/me/email", Some(&token), Some(json!({"password": password, "email": email}))).await }
        };
        change(alice.token.clone(), "wrong password!", "alice@example.org").await.assert_problem(401, "invalid_credentials");
        change(alice.token.clone(), PASSWORD, "not an address").await.assert_problem(422, "validation_failed");
        let first = smtp.mails().len();
        change(alice.token.clone(), PASSWORD, "alice@example.org").await.assert_status(202);
        let me = app.get("/me", &alice.token).await;
        assert_eq!((me.body["email"].as_str(), me.body["email_verified"].as_bool()), (Some("alice@example.com"), Some(true)));
        assert_eq!(me.body["pending_email"], "alice@example.org");
        let superseded = smtp.wait_for(first + 1, WITHIN).await[first].link().1;
        change(alice.token.clone(), PASSWORD, "alice@example.net").await.assert_status(202);
        let latest = smtp.wait_for(first + 2, WITHIN).await[first + 1].clone();
        assert_eq!(latest.to, "alice@example.net");
        let old = app.call(Method::POST, "/email/verify", None, Some(json!({"token": superseded}))).await;
        old.assert_problem(422, "invalid_link");
        app.call(Method::POST, "/email/verify", None, Some(json!({"token": latest.link().1}))).await.assert_status(204);
        let me = app.get("/me", &alice.token).await;
        assert_eq!((me.body["email"].as_str(), me.body["pending_email"].is_null()), (Some("alice@example.net"), true));

        // Bob asks for alice's verified address: he may, but cannot verify it.
        let before = smtp.mails().len();
        change(bob.token.clone(), PASSWORD, "ALICE@example.net").await.assert_status(202);
        let taken = smtp.wait_for(before + 1, WITHIN).await[before].link().1;
        let res = app.call(Method::POST, "/email/verify", None, Some(json!({"token": taken}))).await;
        res.assert_problem(409, "email_taken");
        let res = app
            .call(Method::POST, "/signup", None,
                Some(json!({"username": "carol", "password": PASSWORD, "email": "alice@EXAMPLE.net"})))
            .await;
        res.assert_problem(422, "email_taken");
        // An unverified address blocks nobody.
        let res = app
            .call(Method::POST, "/signup", None,
                Some(json!({"username": "dave", "password": PASSWORD, "email": "alice@example.org"})))
            .await;
        res.assert_status(201);
    }

    async fn forgot_answers_202_to_every_address_and_mails_a_verified_one_three_times_an_hour(backend: Backend) {
        let smtp = SmtpServer::start();
        let app = app_with_mail(backend, &smtp).await;
        verified(&app, &smtp, "alice", "alice@example.com").await;
        let res = app
            .call(Method::POST, "/signup", None,
                Some(json!({"username": "bob", "password": PASSWORD, "email": "bob@example.com"})))
            .await;
        res.assert_status(201);
        smtp.wait_for(2, WITHIN).await;
        let unknown = forgot(&app, "nobody@example.com").await;
        let unverified = forgot(&app, "bob@example.com").await;
        for _ in 0..4 {
            let known = forgot(&app, "ALICE@example.com").await;
            assert_eq!((&known, &unverified), (&unknown, &unknown), "no enumeration: the same headers for all");
        }
        let bad = app.call(Method::POST, "/password/forgot", None, Some(json!({"email": "no-at-sign"}))).await;
        bad.assert_problem(422, "validation_failed");
        let mails = smtp.wait_for(5, WITHIN).await;
        actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
        let mails = if mails.len() > 5 { mails } else { smtp.mails() };
        assert_eq!(resets_to(&mails, "alice@example.com").len(), 3, "three an hour");
        assert!(resets_to(&mails, "bob@example.com").is_empty(), "an unverified address gets none");
        assert!(mails.iter().all(|m| m.to != "nobody@example.com"));
    }

    async fn a_reset_link_sets_the_password_once_ends_every_session_and_a_password_change_voids_the_others(backend: Backend) {
        let smtp = SmtpServer::start();
        let app = app_with_mail(backend, &smtp).await;
        let alice = verified(&app, &smtp, "alice", "alice@example.com").await;
        let second = app.login("alice").await;
        forgot(&app, "alice@example.com").await;
        let mails = smtp.wait_for(2, WITHIN).await;
        let (action, token) = mails[1].link();
        assert_eq!(action, "reset-password");
        assert!(mails[1].text.contains("reset-password") && mails[1].text.contains("127.0.0.0/24"), "who asked");

        let reset = |token: String, password: &'static str| {
            let app = &app;
            async move { app.call(Method::POST, "/password/reset", None, Some(json!({"token": token, "new_password": password}))).await }
        };
        reset(token.clone(), "short").await.assert_problem(422, "validation_failed");
        let replica = app.replica();
        reset(token.clone(), "a brand new password").await.assert_status(204);
        reset(token.clone(), "a brand new password").await.assert_problem(422, "invalid_link");
        for session in [&alice, &second] {
            app.check_session_once_synced(&session.token).await.assert_problem(401, "token_revoked");
            replica.check_session_once_synced(&session.token).await.assert_problem(401, "token_revoked");
        }
        app.try_login("alice", PASSWORD).await.assert_problem(401, "invalid_credentials");
        app.try_login("alice", "a brand new password").await.assert_status(200);

        // A password change voids the reset links not yet used.
        forgot(&app, "alice@example.com").await;
        let unused = smtp.wait_for(3, WITHIN).await[2].link().1;
        let session = app.try_login("alice", "a brand new password").await;
        let token = session.body["access_token"].as_str().unwrap().to_string();
        let res = app
            .call(Method::PUT, "/me/password", Some(&token),
                Some(json!({"current_password": "a brand new password", "new_password": "yet another password"})))
            .await;
        res.assert_status(204);
        reset(unused, "and one more password").await.assert_problem(422, "invalid_link");
    }

    async fn an_expired_link_is_refused_and_addresses_cannot_carry_headers(backend: Backend) {
        let smtp = SmtpServer::start();
        let app = app_with_mail(backend, &smtp).await;
        verified(&app, &smtp, "alice", "alice@example.com").await;
        forgot(&app, "alice@example.com").await;
        let token = smtp.wait_for(2, WITHIN).await[1].link().1;
        app.db.connect().batch_execute("UPDATE email_links SET expires_at = '2000-01-01 00:00:00'").unwrap();
        let res = app
            .call(Method::POST, "/password/reset", None, Some(json!({"token": token, "new_password": "a brand new password"})))
            .await;
        res.assert_problem(422, "invalid_link");
        for email in ["a@b\r\nBcc: victim@example.com", "a@b\nSubject: hi", "a@b, c@d", "<a@b>\r\n"] {
            let res = app.call(Method::POST, "/password/forgot", None, Some(json!({"email": email}))).await;
            res.assert_problem(422, "validation_failed");
            let body = json!({"username": "mallory", "password": PASSWORD, "email": email});
            app.call(Method::POST, "/signup", None, Some(body)).await.assert_problem(422, "validation_failed");
        }
    }

    async fn a_mail_stored_while_smtp_is_down_survives_a_kill_and_goes_out_after_the_restart(backend: Backend) {
        let down = SmtpServer::stopped();
        let db = TestDb::new(backend);
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_warrant"));
        command
            .arg("serve")
            .env_clear()
            .env("DATABASE_URL", db.url())
            .env("WARRANT_LOG", "warn,warrant::startup=info")
            .env("WARRANT_RATE_LIMIT_PER_MIN", "0")
            .env("WARRANT_SMTP_URL", format!("smtp://127.0.0.1:{}", down.port))
            .env("WARRANT_MAIL_FROM", "warrant@auth.example.com")
            .env("WARRANT_LINK_URL", "https://app.example.com/auth")
            .envs(crate::helpers::pooler().map(|p| ("WARRANT_DB_POOLER", p)));
        let running = crate::binary::serve(command);
        let first = TestApp::external(&running.base);
        let body = json!({"username": "alice", "password": PASSWORD, "email": "alice@example.com"});
        first.call(Method::POST, "/signup", None, Some(body)).await.assert_status(201);
        // Let its sender fail once against the dead server (a claim lasts
        // two minutes; a failed send hands the mail back at once).
        actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
        drop(running); // kill -9: the mail is only in the database now
        let up = SmtpServer::start();
        let mut config = test_config(&db);
        with_mail(&mut config, &up);
        let _restarted = spawn_app_on(db, config);
        let mails = up.wait_for(1, Duration::from_secs(15)).await;
        assert_eq!(mails.len(), 1, "the stored mail went out after the restart");
        assert_eq!(mails[0].to, "alice@example.com");
    }

    async fn the_outbox_delivers_a_backlog_once_each(backend: Backend) {
        let smtp = SmtpServer::stopped();
        let app = app_with_mail(backend, &smtp).await;
        let count = 40;
        let started = std::time::Instant::now();
        for n in 0..count {
            let body = json!({"username": format!("user{n}"), "password": PASSWORD, "email": format!("user{n}@example.com")});
            app.call(Method::POST, "/signup", None, Some(body)).await.assert_status(201);
        }
        let stored = started.elapsed();
        smtp.resume();
        let resumed = std::time::Instant::now();
        let mails = smtp.wait_for(count, Duration::from_secs(60)).await;
        let drained = resumed.elapsed();
        let mut to: Vec<String> = mails.iter().map(|m| m.to.clone()).collect();
        to.sort();
        to.dedup();
        assert_eq!((mails.len(), to.len()), (count, count), "every mail, once");
        // A figure for the closing note, not a promise (the sender backs
        // off while the server is down, up to its next retry).
        eprintln!(
            "outbox ({backend:?}): {count} signups with mail in {:.1} s; the backlog drained {:.1} s after SMTP came up",
            stored.as_secs_f64(),
            drained.as_secs_f64()
        );
    }

    async fn mail_waits_while_the_smtp_server_is_down_and_goes_out_when_it_returns(backend: Backend) {
        let smtp = SmtpServer::stopped();
        let app = app_with_mail(backend, &smtp).await;
        let res = app
            .call(Method::POST, "/signup", None,
                Some(json!({"username": "alice", "password": PASSWORD, "email": "alice@example.com"})))
            .await;
        res.assert_status(201);
        actix_web::rt::time::sleep(Duration::from_secs(2)).await;
        let text = metrics(&app).await;
        assert!(metric(&text, "warrant_mail_failed_total{reason=\"transient\"}") >= 1, "{text}");
        smtp.resume();
        let mails = smtp.wait_for(1, Duration::from_secs(15)).await;
        assert_eq!(mails.len(), 1, "delivered once the server is back");
        actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(smtp.mails().len(), 1, "and only once");
        let text = metrics(&app).await;
        assert_eq!(metric(&text, "warrant_mail_sent_total"), 1);
    }

    async fn a_permanent_refusal_is_recorded_and_never_retried(backend: Backend) {
        let smtp = SmtpServer::start();
        let app = app_with_mail(backend, &smtp).await;
        let res = app
            .call(Method::POST, "/signup", None,
                Some(json!({"username": "alice", "password": PASSWORD, "email": "bounce@example.com"})))
            .await;
        res.assert_status(201);
        let deadline = std::time::Instant::now() + WITHIN;
        loop {
            let text = metrics(&app).await;
            if metric(&text, "warrant_mail_failed_total{reason=\"permanent\"}") == 1 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the refusal is recorded: {text}");
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
        actix_web::rt::time::sleep(Duration::from_secs(3)).await;
        let text = metrics(&app).await;
        assert_eq!(metric(&text, "warrant_mail_failed_total{reason=\"permanent\"}"), 1, "not retried");
        assert_eq!(metric(&text, "warrant_mail_queued"), 0);
    }

    async fn two_instances_on_one_database_send_each_mail_once(backend: Backend) {
        let smtp = SmtpServer::start();
        let app = app_with_mail(backend, &smtp).await;
        let replica = app.replica();
        for n in 0..8 {
            let target = if n % 2 == 0 { &app } else { &replica };
            let body = json!({"username": format!("user{n}"), "password": PASSWORD, "email": format!("user{n}@example.com")});
            target.call(Method::POST, "/signup", None, Some(body)).await.assert_status(201);
        }
        smtp.wait_for(8, WITHIN).await;
        actix_web::rt::time::sleep(Duration::from_secs(2)).await;
        let mut to: Vec<String> = smtp.mails().into_iter().map(|m| m.to).collect();
        to.sort();
        to.dedup();
        assert_eq!((smtp.mails().len(), to.len()), (8, 8), "each mail once");
    }

    async fn without_smtp_the_mail_routes_are_404_and_an_email_at_signup_is_422(backend: Backend) {
        let app = spawn_app(backend).await;
        let res = app
            .call(Method::POST, "/signup", None,
                Some(json!({"username": "alice", "password": PASSWORD, "email": "alice@example.com"})))
            .await;
        res.assert_problem(422, "validation_failed");
        assert_eq!(res.body["errors"][0]["field"], "email");
        assert!(res.body["errors"][0]["message"].as_str().unwrap().contains("mail is not configured"));
        let alice = app.signup("alice").await;
        let me = app.get("/me", &alice.token).await;
        assert!(me.assert_status(200)["email"].is_null());
        for (method, path) in [(Method::POST, "/email/verify"), (Method::POST, "/password/forgot"),
            (Method::POST, "/password/reset"), (Method::PUT, "/me/email")] {
            let res = app.call(method, path, Some(&alice.token), Some(json!({"token": "t", "email": "a@b"}))).await;
            res.assert_problem(404, "not_found");
        }
    }
}

#[actix_web::test]
async fn a_forgot_password_that_cannot_be_stored_is_503_and_no_mail_goes_out() {
    let smtp = SmtpServer::start();
    let db = TestDb::new(Backend::Sqlite);
    let mut config = test_config(&db);
    with_mail(&mut config, &smtp);
    config.db_timeout = Duration::from_secs(1);
    let app = spawn_app_on(db, config);
    verified(&app, &smtp, "alice", "alice@example.com").await;
    let mut holder = app.db.connect();
    holder.batch_execute("BEGIN IMMEDIATE").unwrap();
    let res =
        app.call(Method::POST, "/password/forgot", None, Some(json!({"email": "alice@example.com"}))).await;
    res.assert_problem(503, "unavailable");
    assert!(res.header("retry-after").is_some());
    holder.batch_execute("ROLLBACK").unwrap();
    actix_web::rt::time::sleep(Duration::from_secs(2)).await;
    assert!(resets_to(&smtp.mails(), "alice@example.com").is_empty(), "nothing stored, nothing sent");
}

/// Mail leaves over TLS whose certificate the binary verified, signed in
/// with the URL's user and (percent-decoded) password: after `STARTTLS`
/// (`?tls=required`) or from the first byte (`smtps://`). To a server whose
/// certificate no trusted authority signed nothing is sent, the password
/// least of all.
#[actix_web::test]
async fn mail_goes_over_verified_tls_with_the_urls_password_and_nothing_to_a_server_it_cannot_verify() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let trusted = dir.path().join("ca.pem");
    std::fs::write(&trusted, ca.pem()).unwrap();
    let serve = |smtp_url: String, trust: bool| {
        let here = tempfile::tempdir_in(dir.path()).unwrap();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_warrant"));
        command
            .arg("serve")
            .current_dir(here.path())
            .env_clear()
            .env("WARRANT_LOG", "warn,warrant::startup=info")
            .env("WARRANT_SMTP_URL", smtp_url)
            .env("WARRANT_LINK_URL", "https://app.example.com/auth")
            .env("WARRANT_MAIL_FROM", "warrant@auth.example.com");
        if trust {
            command.env("SSL_CERT_FILE", &trusted);
        }
        (crate::binary::serve(command), here)
    };
    let sign_up = |base: String| async move {
        let res = reqwest::Client::new()
            .post(format!("{base}/signup"))
            .json(&json!({"username": "alice", "password": PASSWORD, "email": "alice@example.com"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    };

    for (from, url) in [(TlsFrom::StartTls, "smtp://{}?tls=required"), (TlsFrom::FirstByte, "smtps://{}")] {
        let smtp = SmtpServer::secure(ca.acceptor(), from, "warrant", "s3cret pass");
        let server = format!("warrant:s3cret%20pass@localhost:{}", smtp.port);
        let (running, _db) = serve(url.replace("{}", &server), true);
        sign_up(running.base.clone()).await;
        let mails = smtp.wait_for(1, WITHIN).await;
        assert_eq!(mails.len(), 1, "{url}: {:?}", smtp.events());
        assert!(mails[0].tls && mails[0].link().0 == "verify-email", "{url}");
        assert_eq!(smtp.events(), ["AUTH warrant:s3cret pass"], "{url}");
    }

    let smtp = SmtpServer::secure(ca.acceptor(), TlsFrom::StartTls, "warrant", "s3cret pass");
    let (running, _db) =
        serve(format!("smtp://warrant:s3cret%20pass@localhost:{}?tls=required", smtp.port), false);
    sign_up(running.base.clone()).await;
    let deadline = std::time::Instant::now() + WITHIN;
    while !smtp.events().iter().any(|e| e.starts_with("TLS refused")) && std::time::Instant::now() < deadline
    {
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    let events = smtp.events();
    assert!(events.iter().any(|e| e.starts_with("TLS refused")), "it tried: {events:?}");
    assert!(!events.iter().any(|e| e.starts_with("AUTH")), "no password to an unverified server: {events:?}");
    assert!(smtp.mails().is_empty(), "no mail to an unverified server");
}
