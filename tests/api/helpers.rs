//! Spawns the real app on port 0 against a fresh database and talks to it
//! over real HTTP.
use std::time::Duration;

use diesel::RunQueryDsl;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use warrant::config::Config;
use warrant::db::{establish_pg, DbConn};
use warrant::startup::Application;

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const PASSWORD: &str = "correct horse battery";

/// Declares a test that runs once per backend: `NAME::sqlite` and
/// `NAME::postgres` (ignored unless `TEST_DATABASE_URL` was set at build).
macro_rules! backend_test {
    ($(async fn $name:ident($backend:ident: Backend) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($backend: $crate::helpers::Backend) $body

            #[actix_web::test]
            async fn sqlite() {
                run($crate::helpers::Backend::Sqlite).await
            }

            #[actix_web::test]
            #[ignore = "PostgreSQL: TEST_DATABASE_URL=postgres://… cargo test -- --include-ignored"]
            async fn postgres() {
                run($crate::helpers::Backend::Postgres).await
            }
        }
    )*};
}
pub(crate) use backend_test;

/// A fresh database, removed when dropped.
pub enum TestDb {
    Sqlite {
        _dir: tempfile::TempDir,
        path: String,
    },
    Postgres {
        server_url: String,
        name: String,
        url: String,
    },
    /// Another instance's database, left to its owner to clean up.
    Shared {
        url: String,
    },
}

impl TestDb {
    pub fn new(backend: Backend) -> Self {
        Self::with_options(backend, "")
    }

    /// A fresh database; on PostgreSQL created with `options` appended to
    /// `CREATE DATABASE` (a locale, say).
    pub fn with_options(backend: Backend, options: &str) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("warrant.db").to_string_lossy().into_owned();
                Self::Sqlite { _dir: dir, path }
            }
            Backend::Postgres => {
                let server_url = std::env::var("TEST_DATABASE_URL")
                    .expect("TEST_DATABASE_URL must be set to run the PostgreSQL tests");
                let name = format!(
                    "warrant_test_{}",
                    warrant::auth::random_token(9).to_lowercase().replace(['-', '_'], "x")
                );
                let mut conn = establish_pg(&server_url).expect("connect to TEST_DATABASE_URL");
                diesel::sql_query(format!("CREATE DATABASE {name} {options}"))
                    .execute(&mut conn)
                    .expect("create test database");
                if pooler().is_some() {
                    // What an operator sets for a transaction-mode pooler.
                    for (setting, value) in [
                        ("statement_timeout", "5s"),
                        ("lock_timeout", "5s"),
                        ("idle_in_transaction_session_timeout", "10s"),
                    ] {
                        diesel::sql_query(format!("ALTER DATABASE {name} SET {setting} = '{value}'"))
                            .execute(&mut conn)
                            .expect("bound the test database's waits");
                    }
                }
                // The server URL's query (`?options=-c …`, say) carries over.
                let (base, query) = server_url.split_once('?').unwrap_or((&server_url, ""));
                let base = &base[..base.rfind('/').expect("URL with a database path")];
                let url = if query.is_empty() {
                    format!("{base}/{name}")
                } else {
                    format!("{base}/{name}?{query}")
                };
                Self::Postgres { server_url, name, url }
            }
        }
    }

    pub fn url(&self) -> String {
        match self {
            Self::Sqlite { path, .. } => path.clone(),
            Self::Postgres { url, .. } | Self::Shared { url } => url.clone(),
        }
    }
}

impl TestDb {
    /// Runs `sql`, with `{db}` standing for this database's name, as the
    /// server's administrator would (from outside the app); returns the
    /// rows affected. PostgreSQL only.
    pub fn admin_sql(&self, sql: &str) -> Result<usize, String> {
        let Self::Postgres { server_url, name, .. } = self else { panic!("admin_sql needs PostgreSQL") };
        let mut conn = establish_pg(server_url).map_err(|e| e.to_string())?;
        diesel::sql_query(sql.replace("{db}", name)).execute(&mut conn).map_err(|e| e.to_string())
    }

    /// A connection of our own to the app's database, for what no route
    /// does (planting state from an older release, reading a stored hash).
    pub fn connect(&self) -> DbConn {
        let url = self.url();
        if url.starts_with("postgres") {
            DbConn::Pg(establish_pg(&url).expect("connect to the test database"))
        } else {
            DbConn::Sqlite(diesel::Connection::establish(&url).expect("open the test database"))
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Self::Postgres { .. } = self {
            let _ = self.admin_sql("DROP DATABASE IF EXISTS {db} WITH (FORCE)");
        }
    }
}

/// `WARRANT_DB_POOLER` for the app and the command line, from `TEST_DB_POOLER`.
pub fn pooler() -> Option<String> {
    std::env::var("TEST_DB_POOLER").ok().filter(|p| !p.is_empty())
}

/// The configuration tests start from: defaults, a fresh database, port 0.
pub fn test_config(db: &TestDb) -> Config {
    let url = db.url();
    Config::from_lookup(|name| match name {
        "DATABASE_URL" => Some(url.clone()),
        "WARRANT_BIND" => Some("127.0.0.1:0".into()),
        // Every test client is 127.0.0.1; the rate-limit tests set their own.
        "WARRANT_RATE_LIMIT_PER_MIN" => Some("10000".into()),
        // TEST_DB_POOLER=transaction: TEST_DATABASE_URL is a transaction-mode pooler.
        "WARRANT_DB_POOLER" => pooler().filter(|_| matches!(db, TestDb::Postgres { .. })),
        "WARRANT_LOG" => Some(std::env::var("TEST_LOG").unwrap_or_else(|_| "off".into())),
        _ => None,
    })
    .expect("test configuration")
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub config: Config,
    pub db: TestDb,
}

/// A response with its body parsed as JSON (`Value::Null` when empty or not JSON).
#[derive(Debug)]
pub struct Res {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Res {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json answer with this status and contract code.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "status; body: {}", self.body);
        assert_eq!(self.body["code"], code, "code; body: {}", self.body);
        assert_eq!(self.header("content-type"), Some("application/problem+json"));
        assert_eq!(self.body["status"], status);
        assert!(self.body["detail"].as_str().is_some_and(|d| !d.is_empty()), "detail: {}", self.body);
        assert!(self.body["title"].is_string() && self.body["type"].is_string());
        if status == 401 {
            assert!(
                self.header("www-authenticate").is_some_and(|h| h.starts_with("Bearer")),
                "WWW-Authenticate"
            );
        }
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        &self.body
    }
}

/// The value of an unlabelled counter or integer gauge in a Prometheus text
/// exposition.
#[track_caller]
pub fn metric(exposition: &str, name: &str) -> i64 {
    metric_as(exposition, name)
}

/// The value of an unlabelled metric, read as `T`.
#[track_caller]
pub fn metric_as<T: std::str::FromStr>(exposition: &str, name: &str) -> T {
    let line = exposition
        .lines()
        .find(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with(' ')))
        .unwrap_or_else(|| panic!("no metric {name}"));
    line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{line}"))
}

/// A signed-up user as tests see them.
pub struct Session {
    pub id: i64,
    pub token: String,
    pub refresh: String,
}

impl Session {
    fn from_token_response(body: &Value) -> Self {
        Session {
            id: body["user"]["id"].as_i64().expect("user id"),
            token: body["access_token"].as_str().expect("access token").into(),
            refresh: body["refresh_token"].as_str().expect("refresh token").into(),
        }
    }
}

/// A signed-in user's client: every call carries their access token
/// (`alice.get("/posts")`).
pub struct User<'a> {
    pub app: &'a TestApp,
    pub session: Session,
}

impl User<'_> {
    pub fn id(&self) -> i64 {
        self.session.id
    }

    pub async fn get(&self, path: &str) -> Res {
        self.app.get(path, &self.session.token).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Res {
        self.app.post(path, &self.session.token, body).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Res {
        self.app.patch(path, &self.session.token, body).await
    }

    pub async fn delete(&self, path: &str) -> Res {
        self.app.delete(path, &self.session.token).await
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Spawns the app after `tweak` has adjusted its configuration.
pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let db = TestDb::new(backend);
    let mut config = test_config(&db);
    tweak(&mut config);
    spawn_app_on(db, config)
}

/// Spawns the app on an existing database (a restart, or a second replica).
pub fn spawn_app_on(db: TestDb, config: Config) -> TestApp {
    // Quiet unless TEST_LOG asks (see test_config); the first call installs it.
    warrant::telemetry::init(&config.log);
    let app = Application::build(config.clone()).expect("the app starts");
    // TEST_SEQUENCE_CACHE=N: every sequence hands out ids N at a time per
    // connection, so ids no longer arrive in commit order (as on a
    // distributed engine); the suite must not care.
    if let (Ok(cache), TestDb::Postgres { .. }) = (std::env::var("TEST_SEQUENCE_CACHE"), &db) {
        let cache: u32 = cache.parse().expect("TEST_SEQUENCE_CACHE is a number");
        let sql = format!(
            "DO $$ DECLARE s record; BEGIN FOR s IN SELECT sequencename FROM pg_sequences LOOP \
             EXECUTE format('ALTER SEQUENCE %I CACHE {cache}', s.sequencename); END LOOP; END $$"
        );
        diesel::sql_query(sql)
            .execute(&mut establish_pg(&db.url()).expect("connect"))
            .expect("sequences cached");
    }
    let base = format!("http://{}", app.addr());
    actix_web::rt::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
    TestApp { base, client, config, db }
}

impl TestApp {
    /// Sends a request; `token` becomes `Authorization: Bearer`.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Res {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        Self::finish(req).await
    }

    /// [`TestApp::call`] from `source`, a loopback address of its own
    /// (every 127.x.y.z works as a source here): 127.0.N.1 is network N to
    /// the service's per-network rules.
    pub async fn call_from(
        &self,
        source: &str,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Res {
        let client = reqwest::Client::builder()
            .local_address(Some(source.parse().expect("a source address")))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let mut req = client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        Self::finish(req).await
    }

    /// A login attempt from `source` (see [`TestApp::call_from`]).
    pub async fn try_login_from(&self, source: &str, username: &str, password: &str) -> Res {
        let body = json!({"username": username, "password": password});
        self.call_from(source, Method::POST, "/login", None, Some(body)).await
    }

    pub async fn finish(req: reqwest::RequestBuilder) -> Res {
        let res = req.send().await.expect("request sent");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.expect("body read");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Res { status, headers, body }
    }

    /// A request builder for cases the helpers do not cover (raw bodies, headers).
    pub fn raw(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    pub async fn get(&self, path: &str, token: &str) -> Res {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Res {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Res {
        self.call(Method::PATCH, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Res {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    pub async fn try_signup(&self, username: &str, password: &str) -> Res {
        self.call(Method::POST, "/signup", None, Some(json!({"username": username, "password": password})))
            .await
    }

    pub async fn try_login(&self, username: &str, password: &str) -> Res {
        self.call(Method::POST, "/login", None, Some(json!({"username": username, "password": password})))
            .await
    }

    /// Talks to a server started elsewhere (the real binary).
    pub fn external(base: &str) -> TestApp {
        let db = TestDb::Shared { url: "unused-external.db".into() };
        let config = test_config(&db);
        TestApp { base: base.into(), client: reqwest::Client::new(), config, db }
    }

    /// A second instance on this app's database (a replica).
    pub fn replica(&self) -> TestApp {
        spawn_app_on(TestDb::Shared { url: self.db.url() }, self.config.clone())
    }

    pub async fn try_refresh(&self, refresh_token: &str) -> Res {
        self.call(Method::POST, "/refresh", None, Some(json!({"refresh_token": refresh_token}))).await
    }

    /// Rotates `refresh_token`, which must be live.
    pub async fn refresh(&self, refresh_token: &str) -> Session {
        Session::from_token_response(self.try_refresh(refresh_token).await.assert_status(200))
    }

    /// Signs up `username` with [`PASSWORD`].
    pub async fn signup(&self, username: &str) -> Session {
        let res = self.try_signup(username, PASSWORD).await;
        Session::from_token_response(res.assert_status(201))
    }

    /// A client for `username`, signed up with [`PASSWORD`].
    pub async fn user(&self, username: &str) -> User<'_> {
        User { app: self, session: self.signup(username).await }
    }

    /// A client for `username`, made an admin (see [`TestApp::admin`]).
    pub async fn admin_user(&self, username: &str) -> User<'_> {
        User { app: self, session: self.admin(username).await }
    }

    /// Logs in again: a new session and token.
    pub async fn login(&self, username: &str) -> Session {
        let res = self.try_login(username, PASSWORD).await;
        Session::from_token_response(res.assert_status(200))
    }

    /// Runs the real `warrant` binary against this app's database, with
    /// extra environment variables and `stdin` piped in.
    pub fn cli(&self, args: &[&str], envs: &[(&str, &str)], stdin: &str) -> std::process::Output {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut child = Command::new(env!("CARGO_BIN_EXE_warrant"))
            .args(args)
            .env_clear()
            .env("DATABASE_URL", self.db.url())
            .env("WARRANT_LOG", "off")
            .envs(pooler().map(|p| ("WARRANT_DB_POOLER", p)))
            .envs(envs.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the warrant binary runs");
        let mut input = child.stdin.take().expect("stdin");
        // The child may exit without reading (bad arguments): ignore EPIPE.
        let _ = input.write_all(stdin.as_bytes());
        drop(input);
        child.wait_with_output().expect("the warrant binary finishes")
    }

    /// `GET /check_session` with `token` once it stops answering 200, or
    /// after two seconds: sessions ended by another process (the command
    /// line, a replica) reach this instance at its next revocation sync.
    pub async fn check_session_once_synced(&self, token: &str) -> Res {
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        loop {
            let res = self.get("/check_session", token).await;
            if res.status != 200 || std::time::Instant::now() > deadline {
                return res;
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Makes `username` an admin the way an operator would (`warrant
    /// create-admin`), then logs in so the token carries the role.
    pub async fn admin(&self, username: &str) -> Session {
        let out = self.cli(&["create-admin", username], &[("WARRANT_ADMIN_PASSWORD", PASSWORD)], "");
        assert!(out.status.success(), "create-admin: {}", String::from_utf8_lossy(&out.stderr));
        self.login(username).await
    }

    pub async fn create_post(&self, token: &str, content: &str) -> i64 {
        let res = self.post("/posts", token, json!({"content": content})).await;
        res.assert_status(201)["id"].as_i64().expect("post id")
    }
}
