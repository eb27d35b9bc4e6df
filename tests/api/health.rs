use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{backend_test, metric, spawn_app, spawn_app_with, Backend, TestApp};

backend_test! {
    async fn health_and_readiness_answer_when_all_is_well(backend: Backend) {
        let app = spawn_app(backend).await;
        assert_eq!(app.call(Method::GET, "/healthz", None, None).await.assert_status(200)["status"], "ok");
        assert_eq!(app.call(Method::GET, "/readyz", None, None).await.assert_status(200)["status"], "ready");
    }
}

#[actix_web::test]
#[ignore = "PostgreSQL: TEST_DATABASE_URL=postgres://… cargo test -- --include-ignored"]
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
#[ignore = "PostgreSQL: TEST_DATABASE_URL=postgres://… cargo test -- --include-ignored"]
async fn connections_the_database_ended_are_replaced_reads_never_fail_and_nothing_answers_500() {
    let app = spawn_app_with(Backend::Postgres, |c| c.db_pool_size = 4).await;
    let alice = app.signup("alice").await;
    app.create_post(&alice.token, "before").await;

    // Ended while idle: pinged before use, replaced, no request fails.
    assert!(end_app_connections(&app) > 0, "the app had connections to end");
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    for _ in 0..10 {
        app.get("/posts", &alice.token).await.assert_status(200);
    }

    // Ended just before use: a read finds its connection dead and runs again
    // on a new one; no read fails.
    end_app_connections(&app);
    for _ in 0..20 {
        app.get("/posts", &alice.token).await.assert_status(200);
    }

    // Writes are not repeated (the statement may have run before the
    // connection died): the first to find a dead connection fails with a
    // 503, and the pool then checks the others before use.
    end_app_connections(&app);
    let mut failed = 0;
    for i in 0..20 {
        let res = app.post("/posts", &alice.token, json!({"content": format!("after {i}")})).await;
        if res.status != 201 {
            res.assert_problem(503, "unavailable");
            failed += 1;
        }
    }
    assert!(failed <= 1, "only the first write on a dead connection fails, got {failed}");
    app.get("/posts", &alice.token).await.assert_status(200);
    app.call(Method::GET, "/readyz", None, None).await.assert_status(200);
    let metrics = app.raw(Method::GET, "/metrics").send().await.unwrap().text().await.unwrap();
    // Behind a pooler the losses are its own: our connections to it live on.
    if crate::helpers::pooler().is_none() {
        assert!(metric(&metrics, "warrant_db_connections_lost_total") > 0, "operators see the losses");
    }
}
