use reqwest::Method;
use serde_json::json;

use crate::helpers::{backend_test, spawn_app};

backend_test! {
    async fn a_post_is_created_read_updated_and_deleted_by_its_author(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.user("Alice.B").await;
        let res = alice.post("/posts", json!({"content": "hello", "user_id": 999, "id": 5})).await;
        let post = res.assert_status(201).clone();
        assert_eq!(post["content"], "hello");
        assert_eq!(post["user"], json!({"id": alice.id(), "username": "Alice.B"}), "owner is the caller");
        assert_eq!(post["created_at"], post["updated_at"]);
        let path = format!("/posts/{}", post["id"]);

        assert_eq!(alice.get(&path).await.assert_status(200), &post, "answered as stored");
        let updated = alice.patch(&path, json!({"content": "edited"})).await;
        assert_eq!(updated.assert_status(200)["content"], "edited");
        assert_eq!(updated.body["created_at"], post["created_at"]);
        assert_ne!(updated.body["updated_at"], post["updated_at"]);

        alice.delete(&path).await.assert_status(204);
        alice.get(&path).await.assert_problem(404, "not_found");
        alice.delete(&path).await.assert_problem(404, "not_found");
    }

    async fn only_the_author_edits_and_the_author_or_an_admin_deletes(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let root = app.admin_user("root").await;
        let id = app.create_post(&alice.session.token, "alice's").await;
        let path = format!("/posts/{id}");

        bob.patch(&path, json!({"content": "bob was here"})).await.assert_problem(403, "forbidden");
        root.patch(&path, json!({"content": "admin edit"})).await.assert_problem(403, "forbidden");
        bob.delete(&path).await.assert_problem(403, "forbidden");
        assert_eq!(bob.get(&path).await.assert_status(200)["content"], "alice's");

        root.delete(&path).await.assert_status(204);
        alice.get(&path).await.assert_problem(404, "not_found");
        alice.patch("/posts/424242", json!({"content": "x"})).await.assert_problem(404, "not_found");
    }

    async fn non_numeric_or_out_of_range_ids_are_not_found(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        for id in ["abc", "1.5", "-1", "0", "99999999999999999999999", "%20"] {
            app.get(&format!("/posts/{id}"), &alice.token).await.assert_problem(404, "not_found");
            app.delete(&format!("/posts/{id}"), &alice.token).await.assert_problem(404, "not_found");
        }
    }

    async fn content_rules_count_characters_not_bytes(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        let emoji = "😀".repeat(400);
        let res = app.post("/posts", &alice.token, json!({"content": emoji})).await;
        assert_eq!(res.assert_status(201)["content"], emoji, "400 emoji are 1600 bytes but 400 characters");
        let exact = "  keep <b>this</b>\n exactly  ";
        assert_eq!(app.post("/posts", &alice.token, json!({"content": exact})).await.assert_status(201)["content"], exact);
        for bad in [json!("😀".repeat(401)), json!("x".repeat(401)), json!(""), json!(" \n\t\u{3000}"), json!("a\u{0}b"), json!(null)] {
            let res = app.post("/posts", &alice.token, json!({"content": bad})).await;
            res.assert_problem(422, "validation_failed");
            assert_eq!(res.body["errors"][0]["field"], "content");
        }
        app.post("/posts", &alice.token, json!({})).await.assert_problem(422, "validation_failed");
        app.post("/posts", &alice.token, json!({"content": 42})).await.assert_problem(400, "bad_request");
    }

    async fn listing_pages_newest_first_with_an_opaque_cursor(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        let bob = app.signup("bob").await;
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(app.create_post(&alice.token, &format!("a{i}")).await);
            app.create_post(&bob.token, &format!("b{i}")).await;
        }
        ids.reverse();

        let mut seen = Vec::new();
        let mut path = format!("/posts?limit=2&user_id={}", alice.id);
        loop {
            let res = app.get(&path, &bob.token).await;
            let page = res.assert_status(200);
            let items = page["items"].as_array().unwrap();
            assert!(items.len() <= 2);
            seen.extend(items.iter().map(|p| p["id"].as_i64().unwrap()));
            assert!(items.iter().all(|p| p["user"]["id"] == alice.id));
            match page["next_cursor"].as_str() {
                Some(cursor) => path = format!("/posts?limit=2&user_id={}&cursor={cursor}", alice.id),
                None => break,
            }
        }
        assert_eq!(seen, ids, "every post once, newest first");

        let all = app.get("/posts", &alice.token).await;
        assert_eq!(all.assert_status(200)["items"].as_array().unwrap().len(), 10, "default limit 20");
        assert!(all.body["next_cursor"].is_null());
        let full = app.get("/posts?limit=10", &alice.token).await;
        assert!(full.body["next_cursor"].is_null(), "no empty last page");
    }

    async fn bad_list_parameters_are_422_naming_the_parameter(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        for (query, field) in [
            ("limit=0", "limit"),
            ("limit=101", "limit"),
            ("limit=abc", "limit"),
            ("limit=-1", "limit"),
            ("cursor=garbage", "cursor"),
            ("cursor=", "cursor"),
            ("user_id=x", "user_id"),
            ("user_id=-3", "user_id"),
        ] {
            let res = app.get(&format!("/posts?{query}"), &alice.token).await;
            res.assert_problem(422, "validation_failed");
            assert_eq!(res.body["errors"][0]["field"], field, "{query}");
        }
        let res = app.get("/posts?limit=0&cursor=bad", &alice.token).await;
        assert_eq!(res.body["errors"].as_array().unwrap().len(), 2, "every failing parameter is listed");
        app.get("/posts?limit=100", &alice.token).await.assert_status(200);
        app.get("/posts?unknown=1", &alice.token).await.assert_status(200);
    }

    async fn posts_need_a_token(backend: Backend) {
        let app = spawn_app(backend).await;
        for (method, path) in [(Method::GET, "/posts"), (Method::POST, "/posts"), (Method::GET, "/posts/1"),
                               (Method::PATCH, "/posts/1"), (Method::DELETE, "/posts/1")] {
            app.call(method, path, None, Some(json!({"content": "x"}))).await.assert_problem(401, "missing_token");
        }
    }
}
