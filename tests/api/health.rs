use reqwest::Method;

use crate::helpers::{backend_test, spawn_app, Backend, TestDb};

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
    let TestDb::Postgres { server_url, name, .. } = &app.db else { unreachable!() };
    use diesel::RunQueryDsl;
    let mut conn = warrant::db::establish_pg(server_url).unwrap();
    diesel::sql_query(format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut conn).unwrap();
    let res = app.call(Method::GET, "/readyz", None, None).await;
    res.assert_problem(503, "unavailable");
    assert_eq!(res.header("retry-after"), Some("1"));
    assert_eq!(app.call(Method::GET, "/healthz", None, None).await.status, 200, "the process is still up");
}
