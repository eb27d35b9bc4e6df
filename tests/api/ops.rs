//! Operations: metrics, CORS, logs, health checks and graceful shutdown.
use std::io::{BufRead, BufReader};
use std::process::Command;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::binary::{serve, Running};
use crate::helpers::{backend_test, metric, spawn_app, spawn_app_with, Backend, TestApp, TestDb, PASSWORD};

/// Starts the real binary on a fresh SQLite file under `dir`.
fn spawn_binary(dir: &tempfile::TempDir, envs: &[(&str, &str)]) -> Running {
    let mut command = Command::new(env!("CARGO_BIN_EXE_warrant"));
    command.arg("serve").env_clear().env("DATABASE_URL", dir.path().join("w.db"));
    command.envs(crate::helpers::pooler().map(|p| ("WARRANT_DB_POOLER", p))).envs(envs.iter().copied());
    serve(command)
}

backend_test! {
    // On PostgreSQL also the exit path of libpq's TLS (see db::establish_pg).
    async fn sigterm_finishes_in_flight_requests_then_exits_zero(backend: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDb::new(backend);
        let url = db.url();
        let Running { server: mut child, base, .. } = spawn_binary(&dir, &[("WARRANT_LOG", "info"), ("DATABASE_URL", &url)]);
        let body = json!({"username": "alice", "password": PASSWORD}).to_string().into_bytes();
        let (head, tail) = body.split_at(10);
        let (head, tail) = (head.to_vec(), tail.to_vec());
        // The body arrives in two parts, SIGTERM lands between them.
        let stream = futures_util::stream::unfold(0, move |step| {
            let (head, tail) = (head.clone(), tail.clone());
            async move {
                match step {
                    0 => Some((Ok::<_, std::io::Error>(head), 1)),
                    1 => {
                        actix_web::rt::time::sleep(Duration::from_millis(800)).await;
                        Some((Ok(tail), 2))
                    }
                    _ => None,
                }
            }
        });
        let client = reqwest::Client::new();
        let request = client
            .post(format!("{base}/signup"))
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(stream))
            .send();
        let in_flight = actix_web::rt::spawn(request);
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        // SAFETY: plain kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);

        let res = in_flight.await.unwrap().expect("the in-flight request was answered");
        assert_eq!(res.status(), 201, "the in-flight signup completed");
        let status = (0..100)
            .find_map(|_| {
                std::thread::sleep(Duration::from_millis(50));
                child.try_wait().unwrap()
            })
            .expect("exits within 5 s");
        assert!(status.success(), "{status:?}");
    }

    async fn with_a_drain_time_sigterm_makes_the_instance_unready_first_and_it_still_serves(backend: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDb::new(backend);
        let url = db.url();
        let envs = [("WARRANT_LOG", "info"), ("DATABASE_URL", url.as_str()), ("WARRANT_SHUTDOWN_DRAIN", "2")];
        let Running { server: mut child, base, .. } = spawn_binary(&dir, &envs);
        let client = reqwest::Client::new();
        let get = |path: &str| client.get(format!("{base}{path}")).send();
        assert_eq!(get("/readyz").await.unwrap().status(), 200);
        // SAFETY: plain kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        let ready = get("/readyz").await.expect("still listening while draining");
        assert_eq!(ready.status(), 503, "a balancer's health check takes it out");
        let body = json!({"username": "alice", "password": PASSWORD});
        let signup = client.post(format!("{base}/signup")).json(&body).send().await.unwrap();
        assert_eq!(signup.status(), 201, "what still reaches it is served");
        assert!(child.try_wait().unwrap().is_none(), "not gone before the drain time");
        let status = (0..100)
            .find_map(|_| {
                std::thread::sleep(Duration::from_millis(50));
                child.try_wait().unwrap()
            })
            .expect("exits within 5 s of the drain");
        assert!(status.success(), "{status:?}");
    }

    async fn metrics_count_requests_by_route_pattern_and_our_own_events(backend: Backend) {
        let app = spawn_app_with(backend, |c| c.rate_limit_per_min = 2).await;
        let alice = app.signup("alice").await;
        app.get("/posts/12345", &alice.token).await;
        app.call(Method::GET, "/no/such/path/42", None, None).await;
        app.try_login("alice", "wrong password!").await;
        app.try_login("alice", PASSWORD).await.assert_problem(429, "rate_limited");
        let res = app.raw(Method::GET, "/metrics").send().await.unwrap();
        assert_eq!(res.status(), 200);
        let text = res.text().await.unwrap();
        assert!(text.contains("warrant_http_requests_total"), "{text}");
        assert!(text.contains("warrant_http_requests_duration_seconds_bucket"));
        assert!(text.contains("endpoint=\"/posts/{id}\""), "labelled by pattern: {text}");
        assert!(!text.contains("12345") && !text.contains("/no/such/path"), "never by raw path");
        assert!(text.contains("warrant_logins_total{result=\"failed\"} 1"));
        assert!(text.contains("warrant_rate_limited_total 1"));
        assert!(text.contains("warrant_password_hashes_in_flight 0"));
        assert!(text.contains("warrant_refreshes_total{result=\"reuse\"} 0"));
        assert!(text.contains("warrant_sessions_revoked_total 0"));
        let open = metric(&text, "warrant_db_connections_open");
        assert!(open >= 1, "the pool is open");
        assert!(metric(&text, "warrant_db_connections_idle") <= open);
        assert_eq!(metric(&text, "warrant_db_connections_lost_total"), 0);
    }

    async fn cors_allows_only_configured_origins_and_answers_preflight_before_auth(backend: Backend) {
        let app = spawn_app_with(backend, |c| c.cors_origins = vec!["https://app.example.com".into()]).await;
        let preflight = |origin: &str| {
            app.raw(Method::OPTIONS, "/posts")
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "authorization, content-type")
                .send()
        };
        let ok = preflight("https://app.example.com").await.unwrap();
        assert!(ok.status().is_success(), "{}", ok.status());
        assert_eq!(ok.headers()["access-control-allow-origin"], "https://app.example.com");
        assert!(ok.headers().get("access-control-allow-credentials").is_none());
        let evil = preflight("https://evil.example").await.unwrap();
        assert!(evil.headers().get("access-control-allow-origin").is_none());
        let res = app.raw(Method::GET, "/healthz").header("origin", "https://app.example.com").send().await.unwrap();
        assert_eq!(res.headers()["access-control-allow-origin"], "https://app.example.com");

        let closed = spawn_app(backend).await;
        let res = closed.raw(Method::GET, "/healthz").header("origin", "https://app.example.com").send().await.unwrap();
        assert!(res.headers().get("access-control-allow-origin").is_none(), "no origins configured: no CORS");
    }
}

#[actix_web::test]
async fn the_startup_line_says_what_the_first_start_set_up_and_a_restart_reuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = spawn_binary(&dir, &[("WARRANT_LOG", "info")]);
    for said in ["w.db", "migrations_applied=8", "EdDSA key generated and stored in the database"] {
        assert!(first.listening.contains(said), "{said:?} in {}", first.listening);
    }
    drop(first);
    let again = spawn_binary(&dir, &[("WARRANT_LOG", "info")]);
    for said in ["migrations_applied=0", "EdDSA keys from the database"] {
        assert!(again.listening.contains(said), "{said:?} in {}", again.listening);
    }
}

#[actix_web::test]
async fn the_service_keeps_serving_when_its_log_reader_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    // A log shipper that dies, or `warrant | head`: every later log write fails.
    let Running { server: mut child, base, stderr, .. } = spawn_binary(&dir, &[("WARRANT_LOG", "info")]);
    drop(stderr);
    let app = TestApp::external(&base);
    for _ in 0..3 {
        app.call(Method::GET, "/healthz", None, None).await.assert_status(200);
    }
    app.signup("alice").await;
    assert!(child.try_wait().unwrap().is_none(), "still running");
}

#[actix_web::test]
async fn the_healthcheck_command_reports_the_server_state_and_json_logs_carry_request_fields() {
    let dir = tempfile::tempdir().unwrap();
    let Running { server: mut child, base, stderr, .. } =
        spawn_binary(&dir, &[("WARRANT_LOG", "info"), ("WARRANT_LOG_FORMAT", "json")]);
    let bind = base.trim_start_matches("http://").to_string();
    let check = |bind: &str| {
        Command::new(env!("CARGO_BIN_EXE_warrant"))
            .arg("healthcheck")
            .env_clear()
            .env("WARRANT_BIND", bind)
            .env("DATABASE_URL", dir.path().join("w.db"))
            .output()
            .unwrap()
    };
    assert!(check(&bind).status.success());
    let res = reqwest::get(format!("{base}/healthz")).await.unwrap();
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_string();
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
    assert!(!check(&bind).status.success(), "nothing listens any more");

    let lines: Vec<serde_json::Value> = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect();
    let line = lines
        .iter()
        .find(|l| l["span"]["request_id"] == request_id.as_str())
        .unwrap_or_else(|| panic!("a JSON line for request {request_id}: {lines:?}"));
    assert_eq!(line["status"], 200);
    assert_eq!(line["span"]["route"], "/healthz");
    assert_eq!(line["span"]["method"], "GET");
    assert!(line["latency_ms"].is_number());
}

#[actix_web::test]
async fn the_json_log_never_contains_passwords_or_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let Running { server: mut child, base, stderr, .. } =
        spawn_binary(&dir, &[("WARRANT_LOG", "debug"), ("WARRANT_LOG_FORMAT", "json")]);
    let app = TestApp::external(&base);
    let alice = app.signup("alice").await;
    app.try_login("alice", "a wrong secret pw").await;
    app.refresh(&alice.refresh).await;
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
    let log: String = BufReader::new(stderr).lines().map_while(Result::ok).collect::<Vec<_>>().join("\n");
    let failed =
        log.lines().find(|l| l.contains("\"event\":\"login_failed\"")).expect("audit events are logged");
    assert!(failed.contains(&format!("\"user_id\":{}", alice.id)), "the account guessed at: {failed}");
    for secret in [PASSWORD, "a wrong secret pw", &alice.token, &alice.refresh, "$argon2id$"] {
        assert!(!log.contains(secret), "the log leaks {secret:?}");
    }
}

#[actix_web::test]
async fn malformed_http_from_a_client_is_refused_without_an_error_in_the_log() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let Running { server: mut child, base, stderr, .. } = spawn_binary(&dir, &[("WARRANT_LOG", "info")]);
    let addr = base.trim_start_matches("http://");
    for garbage in ["GARBAGE\r\n\r\n", "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"] {
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        conn.write_all(garbage.as_bytes()).unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    }
    reqwest::get(format!("{base}/healthz")).await.unwrap();
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
    let log: String = BufReader::new(stderr).lines().map_while(Result::ok).collect::<Vec<_>>().join("\n");
    assert!(log.contains("request finished"), "the log is on: {log}");
    assert!(!log.contains("ERROR"), "a client's garbage is not a server error: {log}");
}

#[actix_web::test]
async fn a_body_that_does_not_arrive_in_time_gets_400_and_its_connection_closed() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let Running { server: mut child, base, stderr, .. } =
        spawn_binary(&dir, &[("WARRANT_LOG", "info"), ("WARRANT_BODY_TIMEOUT", "1")]);
    let addr = base.trim_start_matches("http://");
    let body = json!({"username": "alice", "password": PASSWORD}).to_string();
    let head = format!(
        "POST /signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let (part, rest) = body.split_at(10);

    // The headers, a few bytes, then nothing: answered at the deadline.
    let mut stalled = std::net::TcpStream::connect(addr).unwrap();
    stalled.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stalled.write_all(format!("{head}{part}").as_bytes()).unwrap();
    let mut answer = String::new();
    stalled.read_to_string(&mut answer).expect("answered, then closed");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    assert!(answer.contains("\"code\":\"bad_request\"") && answer.contains("within 1 s"), "{answer:?}");

    // A body in two parts that ends in time is read as usual.
    let mut slow = std::net::TcpStream::connect(addr).unwrap();
    slow.write_all(format!("{head}{part}").as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    slow.write_all(rest.as_bytes()).unwrap();
    let mut answer = [0u8; 12];
    slow.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 201");

    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
    let log: String = BufReader::new(stderr).lines().map_while(Result::ok).collect::<Vec<_>>().join("\n");
    assert!(!log.contains("ERROR"), "a slow client is not a server error: {log}");
}

#[actix_web::test]
async fn a_new_sqlite_database_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    // It holds the private signing keys.
    let app = spawn_app(Backend::Sqlite).await;
    app.signup("alice").await;
    let db = app.db.url();
    for file in [db.clone(), format!("{db}-wal")] {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{file}: {mode:o}");
    }
}

#[actix_web::test]
async fn metrics_are_served_as_prometheus_text() {
    let app = spawn_app(Backend::Sqlite).await;
    let res = app.raw(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
}

#[actix_web::test]
async fn migrate_applies_pending_migrations_once_and_a_bad_config_stops_with_the_variable_named() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], envs: &[(&str, &str)]| {
        Command::new(env!("CARGO_BIN_EXE_warrant"))
            .args(args)
            .env_clear()
            .env("DATABASE_URL", dir.path().join("m.db"))
            .env("WARRANT_LOG", "off")
            .envs(envs.iter().copied())
            .output()
            .unwrap()
    };
    let first = run(&["migrate"], &[]);
    assert!(first.status.success());
    let applied = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(applied.contains("migration(s) applied") && !applied.starts_with("0 "), "{applied}");
    let again = run(&["migrate"], &[]);
    assert!(String::from_utf8_lossy(&again.stdout).starts_with("0 migration(s) applied"));

    let bad = run(&["serve"], &[("WARRANT_ACCESS_TTL", "15m")]);
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("WARRANT_ACCESS_TTL"), "{stderr}");
}

#[actix_web::test]
async fn loading_the_docs_page_logs_no_warning() {
    let dir = tempfile::tempdir().unwrap();
    let Running { server: mut child, base, stderr, .. } = spawn_binary(&dir, &[("WARRANT_LOG", "info")]);
    for path in
        ["/docs", "/docs/", "/docs/index.html", "/docs/swagger-ui.css", "/docs/swagger-initializer.js"]
    {
        let res = reqwest::get(format!("{base}{path}")).await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
    let metrics = reqwest::get(format!("{base}/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("endpoint=\"/docs/{tail}*\""), "one label for every asset: {metrics}");
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
    let log: String = BufReader::new(stderr).lines().map_while(Result::ok).collect::<Vec<_>>().join("\n");
    assert!(!log.contains(" WARN "), "{log}");
    assert!(log.contains("/docs/{tail}*"), "requests are logged with the pattern: {log}");
}

#[test]
fn a_database_that_cannot_be_opened_stops_startup_with_one_line_naming_database_url() {
    for url in ["/nonexistent/directory/warrant.db", "postgres://nobody@127.0.0.1:1/warrant"] {
        for command in ["serve", "migrate"] {
            let out = Command::new(env!("CARGO_BIN_EXE_warrant"))
                .arg(command)
                .env_clear()
                .env("DATABASE_URL", url)
                .env("WARRANT_LOG", "off")
                .output()
                .unwrap();
            assert!(!out.status.success());
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
            assert!(stderr.starts_with("warrant: DATABASE_URL: "), "{stderr:?}");
            assert!(!stderr.contains("database: database"), "{stderr:?}");
        }
    }
}

#[actix_web::test]
#[ignore = "PostgreSQL: TEST_DATABASE_URL=postgres://… cargo test -- --include-ignored"]
async fn behind_a_transaction_pooler_startup_refuses_a_database_that_does_not_bound_its_waits() {
    let db = TestDb::new(Backend::Postgres);
    for setting in ["statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout"] {
        db.admin_sql(&format!("ALTER DATABASE {{db}} SET {setting} = 0")).unwrap();
    }
    let mut config = crate::helpers::test_config(&db);
    config.database_url = config.database_url.clone().through(warrant::db::Pooler::Transaction);
    let err = warrant::startup::Application::build(config.clone()).err().expect("startup refuses");
    let line = err.to_string();
    assert!(line.starts_with("DATABASE_URL: WARRANT_DB_POOLER=transaction: "), "{line}");
    assert!(
        line.contains("statement_timeout, lock_timeout, idle_in_transaction_session_timeout unset"),
        "{line}"
    );
    assert!(!line.contains('\n'), "one line: {line}");
    for (setting, value) in
        [("statement_timeout", "5s"), ("lock_timeout", "5s"), ("idle_in_transaction_session_timeout", "10s")]
    {
        db.admin_sql(&format!("ALTER DATABASE {{db}} SET {setting} = '{value}'")).unwrap();
    }
    // A real pooler keeps its server connections, with the old settings,
    // until told to reconnect; PostgreSQL itself applies them at once.
    if crate::helpers::pooler().is_none() {
        let app = crate::helpers::spawn_app_on(db, config);
        app.signup("alice").await;
    }
}
