//! Every JSON request body through its route's extractor and validation,
//! and any path and query: the real application, in this process (so its
//! code is what the fuzzer's coverage follows), on a fresh SQLite
//! database, spoken to over HTTP as any client would. Whatever is sent,
//! the answer is never a 5xx.
//!
//! Input: the first byte picks a route; the rest is its body, or for the
//! last two choices the path and query after the route's prefix.
#![no_main]
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use warrant::config::Config;
use warrant::startup::Application;

const ROUTES: [(&str, &str); 14] = [
    ("POST", "/signup"),
    ("POST", "/login"),
    ("POST", "/refresh"),
    ("POST", "/revoke"),
    ("POST", "/login/mfa"),
    ("PUT", "/me/password"),
    ("DELETE", "/me"),
    ("POST", "/me/mfa/totp"),
    ("POST", "/me/mfa/totp/confirm"),
    ("DELETE", "/me/mfa/totp"),
    ("POST", "/me/mfa/recovery-codes"),
    ("POST", "/posts"),
    ("PATCH", "/posts/1"),
    ("PATCH", "/admin/users/1"),
];

struct Server {
    addr: SocketAddr,
    token: String,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let db = dir.join("fuzz.db").to_string_lossy().into_owned();
        let config = Config::from_lookup(|name| match name {
            "DATABASE_URL" => Some(db.clone()),
            "WARRANT_BIND" => Some("127.0.0.1:0".into()),
            "WARRANT_RATE_LIMIT_PER_MIN" => Some("0".into()),
            "WARRANT_LOG" => Some("off".into()),
            _ => None,
        })
        .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let app = Application::build(config).unwrap();
                tx.send(app.addr()).unwrap();
                let _ = app.run_until_stopped().await;
            })
        });
        let addr = rx.recv().unwrap();
        let body = br#"{"username":"fuzzer","password":"correct horse battery"}"#;
        let (status, answer) = send(addr, "POST", "/signup", None, body);
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&answer));
        let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
        let (status, _) = send(addr, "POST", "/posts", answer["access_token"].as_str(), br#"{"content":"x"}"#);
        assert_eq!(status, 201);
        Server { addr, token: answer["access_token"].as_str().unwrap().to_owned() }
    })
}

/// One request on a fresh connection: the status and the body.
fn send(addr: SocketAddr, method: &str, target: &str, token: Option<&str>, body: &[u8]) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let text = String::from_utf8_lossy(&answer);
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or(Vec::new(), |(_, b)| b.as_bytes().to_vec());
    (status, body)
}

/// Bytes a request line can carry: visible ASCII, no spaces.
fn as_target(prefix: &str, raw: &[u8]) -> String {
    let tail: String = raw.iter().filter(|b| b.is_ascii_graphic()).map(|&b| b as char).collect();
    format!("{prefix}{tail}")
}

fuzz_target!(|data: &[u8]| {
    let server = server();
    let Some((&pick, rest)) = data.split_first() else { return };
    let token = Some(server.token.as_str());
    let (status, body) = match pick as usize % (ROUTES.len() + 2) {
        n if n < ROUTES.len() => {
            let (method, path) = ROUTES[n];
            send(server.addr, method, path, token, rest)
        }
        n if n == ROUTES.len() => send(server.addr, "GET", &as_target("/posts?", rest), token, b""),
        _ => send(server.addr, "DELETE", &as_target("/sessions/", rest), token, b""),
    };
    // 400 for a request line the HTTP parser refuses is fine; a 5xx never.
    assert!(status != 0 && status < 500, "{status}: {}", String::from_utf8_lossy(&body));
});
