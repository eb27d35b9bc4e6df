use serde_json::json;

use crate::helpers::{backend_test, spawn_app, Backend};

backend_test! {
    async fn admin_routes_are_forbidden_to_users(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        app.get("/admin/users", &alice.token).await.assert_problem(403, "forbidden");
        app.patch(&format!("/admin/users/{}", alice.id), &alice.token, json!({"role": "admin"}))
            .await
            .assert_problem(403, "forbidden");
        app.delete(&format!("/admin/users/{}", alice.id), &alice.token).await.assert_problem(403, "forbidden");
    }

    async fn admins_list_users_with_post_counts_page_by_page(backend: Backend) {
        let app = spawn_app(backend).await;
        let root = app.admin("root").await;
        let alice = app.signup("alice").await;
        app.signup("bob").await;
        app.create_post(&alice.token, "one").await;
        app.create_post(&alice.token, "two").await;

        let first = app.get("/admin/users?limit=2", &root.token).await;
        let page = first.assert_status(200);
        let items = page["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0]["username"], "root");
        assert_eq!(items[0]["role"], "admin");
        assert_eq!(items[1]["username"], "alice");
        assert_eq!(items[1]["post_count"], 2);
        assert!(items[1].get("password_hash").is_none());
        let cursor = page["next_cursor"].as_str().expect("a next page");
        let second = app.get(&format!("/admin/users?limit=2&cursor={cursor}"), &root.token).await;
        let items = second.assert_status(200)["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["username"], "bob");
        assert_eq!(items[0]["post_count"], 0);
        assert!(second.body["next_cursor"].is_null());
        app.get("/admin/users?limit=0", &root.token).await.assert_problem(422, "validation_failed");
    }

    async fn admins_change_roles_but_never_remove_the_last_admin(backend: Backend) {
        let app = spawn_app(backend).await;
        let root = app.admin("root").await;
        let alice = app.signup("alice").await;
        let res = app.patch(&format!("/admin/users/{}", alice.id), &root.token, json!({"role": "admin", "id": 1})).await;
        assert_eq!(res.assert_status(200)["role"], "admin");
        assert_eq!(res.body["id"], alice.id);
        let alice = app.login("alice").await;
        app.get("/admin/users", &alice.token).await.assert_status(200);

        app.patch(&format!("/admin/users/{}", root.id), &alice.token, json!({"role": "user"})).await.assert_status(200);
        let res = app.patch(&format!("/admin/users/{}", alice.id), &alice.token, json!({"role": "user"})).await;
        res.assert_problem(409, "last_admin");
        app.delete(&format!("/admin/users/{}", alice.id), &alice.token).await.assert_problem(409, "last_admin");

        for bad in [json!({"role": "root"}), json!({"role": "Admin"}), json!({}), json!({"role": null})] {
            let res = app.patch(&format!("/admin/users/{}", root.id), &alice.token, bad).await;
            res.assert_problem(422, "validation_failed");
            assert_eq!(res.body["errors"][0]["field"], "role");
        }
        app.patch("/admin/users/999999", &alice.token, json!({"role": "user"})).await.assert_problem(404, "not_found");
        app.patch("/admin/users/abc", &alice.token, json!({"role": "user"})).await.assert_problem(404, "not_found");
    }

    async fn deleting_a_user_deletes_their_posts(backend: Backend) {
        let app = spawn_app(backend).await;
        let root = app.admin("root").await;
        let alice = app.signup("alice").await;
        let post = app.create_post(&alice.token, "soon gone").await;
        app.delete(&format!("/admin/users/{}", alice.id), &root.token).await.assert_status(204);
        app.get(&format!("/posts/{post}"), &root.token).await.assert_problem(404, "not_found");
        app.delete(&format!("/admin/users/{}", alice.id), &root.token).await.assert_problem(404, "not_found");
        app.try_login("alice", crate::helpers::PASSWORD).await.assert_problem(401, "invalid_credentials");
        // The deletion revoked their sessions.
        app.get("/check_session", &alice.token).await.assert_problem(401, "token_revoked");
        app.post("/posts", &alice.token, json!({"content": "ghost"})).await.assert_problem(401, "token_revoked");
        app.signup("alice").await;
    }
}

#[actix_web::test]
#[ignore = "PostgreSQL: TEST_DATABASE_URL=postgres://… cargo test -- --include-ignored"]
async fn a_demoted_admin_loses_admin_writes_at_once_on_every_instance() {
    // B learns of the ended session within the sync interval; a stolen admin
    // token firing deletions at B must not get that long.
    let a = spawn_app(Backend::Postgres).await;
    let b = a.replica();
    let root = a.admin("root").await;
    let eve = a.admin("eve").await;
    let carol = a.signup("carol").await;
    let post = a.create_post(&carol.token, "still here").await;

    a.patch(&format!("/admin/users/{}", eve.id), &root.token, json!({"role": "user"}))
        .await
        .assert_status(200);
    b.delete(&format!("/admin/users/{}", carol.id), &eve.token).await.assert_problem(401, "token_revoked");
    b.patch(&format!("/admin/users/{}", carol.id), &eve.token, json!({"role": "admin"}))
        .await
        .assert_problem(401, "token_revoked");
    b.delete(&format!("/posts/{post}"), &eve.token).await.assert_problem(401, "token_revoked");

    a.get(&format!("/posts/{post}"), &root.token).await.assert_status(200);
    let carol_now = a.get("/check_session", &carol.token).await;
    assert_eq!(carol_now.assert_status(200)["role"], "user");
}
