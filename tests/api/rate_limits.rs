//! The credential routes' rate limit: per client address, shared by every
//! instance, and who the client is behind trusted proxies.
use reqwest::Method;
use serde_json::json;

use crate::helpers::{backend_test, spawn_app_with, Backend, Res, TestApp, PASSWORD};

/// A failing login carrying these `X-Forwarded-For` header lines, in order.
async fn login_forwarded(app: &TestApp, lines: &[&str]) -> Res {
    let req = lines
        .iter()
        .fold(app.raw(Method::POST, "/login"), |req, line| req.header("x-forwarded-for", *line))
        .json(&json!({"username": "nobody", "password": PASSWORD}));
    TestApp::finish(req).await
}

/// A login that a trusted proxy says came from `ip` (a client-set address
/// first, which must be ignored).
async fn login_via_proxy(app: &TestApp, ip: &str) -> Res {
    login_forwarded(app, &[&format!("10.9.9.9, {ip}")]).await
}

#[actix_web::test]
async fn an_ipv6_client_is_limited_by_its_64_prefix_and_a_mapped_ipv4_address_as_itself() {
    // The client's key is chosen before it is counted: SQLite alone covers it.
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.rate_limit_per_min = 1;
        c.trusted_proxies = warrant::domain::TrustedProxies::Hops(1);
    })
    .await;
    login_via_proxy(&app, "2001:db8:1:2::1").await.assert_problem(401, "invalid_credentials");
    // Another address of the same /64: one host's allocation, not a new client.
    login_via_proxy(&app, "2001:db8:1:2:ffff:ffff:ffff:fffe").await.assert_problem(429, "rate_limited");
    login_via_proxy(&app, "2001:db8:1:3::1").await.assert_problem(401, "invalid_credentials");
    login_via_proxy(&app, "198.51.100.7").await.assert_problem(401, "invalid_credentials");
    login_via_proxy(&app, "::ffff:198.51.100.7").await.assert_problem(429, "rate_limited");
    // Other IPv4 clients are not lumped together as one IPv6 /64.
    login_via_proxy(&app, "::ffff:198.51.100.8").await.assert_problem(401, "invalid_credentials");
}

#[actix_web::test]
async fn behind_two_trusted_proxies_the_client_is_the_second_address_from_the_right() {
    // A CDN in front of a load balancer: the balancer appends the CDN's
    // address, the CDN the client's; anything further left is client-set.
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.rate_limit_per_min = 1;
        c.trusted_proxies = warrant::domain::TrustedProxies::Hops(2);
    })
    .await;
    let app = &app;
    let login = move |chain: &'static str| async move { login_forwarded(app, &[chain]).await };
    login("10.9.9.9, 198.51.100.1, 203.0.113.5").await.assert_problem(401, "invalid_credentials");
    login("10.9.9.8, 198.51.100.1, 203.0.113.5").await.assert_problem(429, "rate_limited");
    login("198.51.100.2, 203.0.113.5").await.assert_problem(401, "invalid_credentials");
    // Fewer entries than proxies: the leftmost, which a trusted proxy wrote.
    login("198.51.100.3").await.assert_problem(401, "invalid_credentials");
    login("198.51.100.3").await.assert_problem(429, "rate_limited");
}

#[actix_web::test]
async fn a_proxy_that_adds_its_own_forwarded_line_is_read_after_the_clients() {
    // HAProxy's `option forwardfor` adds a header line rather than extending
    // the client's: the first line is the client's own, and proves nothing.
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.rate_limit_per_min = 1;
        c.trusted_proxies = warrant::domain::TrustedProxies::Hops(1);
    })
    .await;
    for (spoofed, status) in [("10.0.0.1", 401), ("10.0.0.2", 429)] {
        let res = login_forwarded(&app, &[spoofed, "198.51.100.9"]).await;
        assert_eq!(res.status.as_u16(), status, "client-set {spoofed}");
    }
}

backend_test! {
    async fn credential_routes_are_rate_limited_per_client_ip(backend: Backend) {
        let app = spawn_app_with(backend, |c| c.rate_limit_per_min = 3).await;
        for _ in 0..3 {
            app.try_login("nobody", PASSWORD).await.assert_problem(401, "invalid_credentials");
        }
        let res = app.try_login("nobody", PASSWORD).await;
        res.assert_problem(429, "rate_limited");
        let retry: u64 = res.header("retry-after").expect("Retry-After").parse().unwrap();
        assert!((1..=20).contains(&retry), "{retry}");
        app.try_signup("alice", PASSWORD).await.assert_problem(429, "rate_limited");
        app.try_refresh("x").await.assert_problem(429, "rate_limited");
        // The second step of a login shares the budget: guessing codes costs it too.
        let code = json!({"mfa_token": "x", "code": "123456"});
        app.call(Method::POST, "/login/mfa", None, Some(code)).await.assert_problem(429, "rate_limited");
        let spoofed = app.raw(Method::POST, "/login").header("x-forwarded-for", "203.0.113.9")
            .json(&json!({"username": "nobody", "password": PASSWORD}));
        TestApp::finish(spoofed).await.assert_problem(429, "rate_limited");
        app.call(Method::GET, "/healthz", None, None).await.assert_status(200);
    }

    async fn the_rate_limit_is_one_budget_for_every_instance_on_the_database(backend: Backend) {
        let a = spawn_app_with(backend, |c| c.rate_limit_per_min = 5).await;
        let b = a.replica();
        // Eight at once on each: each instance alone would let five through.
        let all = [&a, &b].into_iter().flat_map(|app| (0..8).map(move |_| app.try_refresh("x")));
        let responses = futures_util::future::join_all(all).await;
        let passed = responses.iter().filter(|r| r.status == 401).count();
        assert_eq!(passed, 5, "{:?}", responses.iter().map(|r| r.status).collect::<Vec<_>>());
        let refused = responses.iter().find(|r| r.status == 429).expect("a refusal");
        refused.assert_problem(429, "rate_limited");
        let retry: u64 = refused.header("retry-after").expect("Retry-After").parse().unwrap();
        assert!((1..=15).contains(&retry), "{retry}");
        a.try_login("nobody", PASSWORD).await.assert_problem(429, "rate_limited");
    }

    async fn behind_a_trusted_proxy_the_forwarded_address_is_the_client(backend: Backend) {
        let app = spawn_app_with(backend, |c| {
            c.rate_limit_per_min = 1;
            c.trusted_proxies = warrant::domain::TrustedProxies::Hops(1);
        }).await;
        login_via_proxy(&app, "198.51.100.1").await.assert_problem(401, "invalid_credentials");
        login_via_proxy(&app, "198.51.100.1").await.assert_problem(429, "rate_limited");
        login_via_proxy(&app, "198.51.100.2").await.assert_problem(401, "invalid_credentials");
    }
}

#[actix_web::test]
async fn with_proxy_networks_forwarded_addresses_are_believed_only_from_those_networks() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.trusted_proxies = warrant::domain::TrustedProxies::parse("127.0.5.0/24, 10.0.0.0/8", 10).unwrap();
    })
    .await;
    let base = app.base.clone();
    let signup_from = |source: &'static str, name: &'static str| {
        let body = json!({"username": name, "password": PASSWORD});
        let client = reqwest::Client::builder().local_address(Some(source.parse().unwrap())).build().unwrap();
        let req = client
            .post(format!("{base}/signup"))
            .header("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.1.2.3")
            .json(&body);
        TestApp::finish(req)
    };
    let app = &app;
    let network_of = |res: Res| async move {
        let token = res.assert_status(201)["access_token"].as_str().unwrap().to_string();
        app.get("/sessions", &token).await.body["items"][0]["client_ip"].as_str().unwrap().to_string()
    };
    // Through a proxy: the rightmost address outside the proxies' networks.
    assert_eq!(network_of(signup_from("127.0.5.1", "alice").await).await, "198.51.100.0/24");
    // Straight from a client that sets the header itself: its own address.
    assert_eq!(network_of(signup_from("127.0.0.1", "bob").await).await, "127.0.0.0/24");
}
