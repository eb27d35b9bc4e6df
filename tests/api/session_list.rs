//! The caller's sessions as clients see them: listed, and ended one by one
//! or all but this one.
use reqwest::Method;
use serde_json::Value;

use crate::helpers::{backend_test, spawn_app, Res, Session, TestApp, PASSWORD};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

async fn login_with_agent(app: &TestApp, agent: &str) -> Session {
    let req = app
        .raw(Method::POST, "/login")
        .header("user-agent", agent)
        .json(&serde_json::json!({"username": "alice", "password": PASSWORD}));
    let res = TestApp::finish(req).await;
    Session {
        id: res.body["user"]["id"].as_i64().unwrap(),
        token: res.body["access_token"].as_str().unwrap().into(),
        refresh: res.body["refresh_token"].as_str().unwrap().into(),
    }
}

fn items(res: &Res) -> Vec<Value> {
    res.assert_status(200)["items"].as_array().unwrap().clone()
}

backend_test! {
    async fn sessions_are_listed_newest_first_with_what_the_user_recognises(backend: Backend) {
        let app = spawn_app(backend).await;
        let first = app.signup("alice").await;
        let second = login_with_agent(&app, FIREFOX).await;
        app.signup("bob").await;
        let listed = items(&app.get("/sessions", &second.token).await);
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert_eq!(listed[0]["current"], true);
        assert_eq!(listed[1]["current"], false);
        assert_eq!(listed[0]["user_agent"], "Firefox on Linux");
        assert_eq!(listed[0]["client_ip"], "127.0.0.0/24");
        for session in &listed {
            for field in ["id", "created_at", "last_used_at"] {
                assert!(session[field].is_string(), "{field}: {session}");
            }
        }
        // A refresh moves last_used_at.
        let before = listed[1]["last_used_at"].clone();
        std::thread::sleep(std::time::Duration::from_millis(5));
        app.refresh(&first.refresh).await;
        let after = items(&app.get("/sessions", &second.token).await);
        let first_now = after.iter().find(|s| s["current"] == false).unwrap();
        assert_ne!(first_now["last_used_at"], before);
    }

    async fn a_session_ended_by_id_is_refused_everywhere_and_other_ids_are_404(backend: Backend) {
        let app = spawn_app(backend).await;
        let replica = app.replica();
        let phone = app.signup("alice").await;
        let laptop = app.login("alice").await;
        let bob = app.signup("bob").await;
        let listed = items(&app.get("/sessions", &laptop.token).await);
        let phone_id = listed.iter().find(|s| s["current"] == false).unwrap()["id"].as_str().unwrap().to_string();
        let bobs = items(&app.get("/sessions", &bob.token).await)[0]["id"].as_str().unwrap().to_string();
        app.delete(&format!("/sessions/{bobs}"), &laptop.token).await.assert_problem(404, "not_found");
        app.get("/check_session", &bob.token).await.assert_status(200);
        let res = app.delete(&format!("/sessions/{phone_id}"), &laptop.token).await;
        assert_eq!(res.status, 204, "{}", res.body);
        app.get("/check_session", &phone.token).await.assert_problem(401, "token_revoked");
        replica.check_session_once_synced(&phone.token).await.assert_problem(401, "token_revoked");
        app.try_refresh(&phone.refresh).await.assert_problem(401, "invalid_refresh_token");
        app.delete(&format!("/sessions/{phone_id}"), &laptop.token).await.assert_problem(404, "not_found");
        app.delete("/sessions/no-such-session", &laptop.token).await.assert_problem(404, "not_found");
        assert_eq!(items(&app.get("/sessions", &laptop.token).await).len(), 1);
    }

    async fn ending_the_other_sessions_keeps_this_one(backend: Backend) {
        let app = spawn_app(backend).await;
        let replica = app.replica();
        let one = app.signup("alice").await;
        let two = app.login("alice").await;
        let this = app.login("alice").await;
        app.delete("/sessions", &this.token).await.assert_problem(422, "validation_failed");
        app.delete("/sessions?scope=all", &this.token).await.assert_problem(422, "validation_failed");
        let res = app.delete("/sessions?scope=others", &this.token).await;
        assert_eq!(res.status, 204, "{}", res.body);
        for other in [&one, &two] {
            app.get("/check_session", &other.token).await.assert_problem(401, "token_revoked");
            replica.check_session_once_synced(&other.token).await.assert_problem(401, "token_revoked");
        }
        app.get("/check_session", &this.token).await.assert_status(200);
        let listed = items(&app.get("/sessions", &this.token).await);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0]["current"], true);
        app.call(Method::GET, "/sessions", None, None).await.assert_problem(401, "missing_token");
    }
}
