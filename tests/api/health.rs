use std::time::Duration;

use reqwest::Method;

use crate::helpers::{backend_test, spawn_app, spawn_app_with, Backend, TestApp};

backend_test! {
    async fn health_and_readiness_answer_when_all_is_well(backend: Backend) {
        let app = spawn_app(backend).await;
        assert_eq!(app.call(Method::GET, "/healthz", None, None).await.assert_status(200)["status"], "ok");
        assert_eq!(app.call(Method::GET, "/readyz", None, None).await.assert_status(200)["status"], "ready");
    }
}

#[actix_web::test]
#[cfg_attr(not(pg_tests), ignore = "set TEST_DATABASE_URL to also run on PostgreSQL")]
async fn readiness_is_503_when_the_database_is_gone() {
    let app = spawn_app(Backend::Postgres).await;
    app.call(Method::GET, "/readyz", None, None).await.assert_status(200);
    app.db.admin_sql("DROP DATABASE {db} WITH (FORCE)").unwrap();
    let res = app.call(Method::GET, "/readyz", None, None).await;
    res.assert_problem(503, "unavailable");
    assert_eq!(res.header("retry-after"), Some("1"));
    assert_eq!(app.call(Method::GET, "/healthz", None, None).await.status, 200, "the process is still up");
}

/// Ends every server connection the app holds, as a PostgreSQL restart,
/// a failover or a proxy's idle timeout would; returns how many.
fn end_app_connections(app: &TestApp) -> usize {
    app.db.admin_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'").unwrap()
}

#[actix_web::test]
#[cfg_attr(not(pg_tests), ignore = "set TEST_DATABASE_URL to also run on PostgreSQL")]
async fn connections_the_database_ended_are_replaced_and_never_answer_500() {
    let app = spawn_app_with(Backend::Postgres, |c| c.db_pool_size = 4).await;
    let alice = app.signup("alice").await;
    app.create_post(&alice.token, "before").await;

    // Ended while idle: pinged before use, replaced, no request fails.
    assert!(end_app_connections(&app) > 0, "the app had connections to end");
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    for _ in 0..10 {
        app.get("/posts", &alice.token).await.assert_status(200);
    }

    // Ended just before use: each dead connection fails one request with a
    // 503, then is replaced.
    end_app_connections(&app);
    let mut failed = 0;
    for _ in 0..20 {
        let res = app.get("/posts", &alice.token).await;
        if res.status != 200 {
            res.assert_problem(503, "unavailable");
            failed += 1;
        }
    }
    assert!(failed <= 4, "at most one failure per pooled connection, got {failed}");
    app.get("/posts", &alice.token).await.assert_status(200);
    app.call(Method::GET, "/readyz", None, None).await.assert_status(200);
}
