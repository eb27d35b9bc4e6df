//! The refresh grace window: tabs and retries that present one refresh
//! token at once converge on one successor; older tokens, or the same one
//! too late, are reuse as before.
use std::collections::HashSet;
use std::time::Duration;

use futures_util::future::join_all;

use crate::helpers::{backend_test, spawn_app, spawn_app_with};

backend_test! {
    async fn concurrent_refreshes_with_one_token_all_get_the_same_live_successor(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        let results = join_all((0..8).map(|_| app.try_refresh(&alice.refresh))).await;
        let successors: HashSet<String> =
            results.iter().map(|r| r.assert_status(200)["refresh_token"].as_str().unwrap().to_string()).collect();
        assert_eq!(successors.len(), 1, "one successor for every presentation: {results:?}");
        let tokens: HashSet<&str> = results.iter().map(|r| r.body["access_token"].as_str().unwrap()).collect();
        for token in tokens {
            app.get("/check_session", token).await.assert_status(200);
        }
        // The chain goes on from that successor.
        let successor = successors.into_iter().next().unwrap();
        let next = app.refresh(&successor).await;
        app.get("/check_session", &next.token).await.assert_status(200);
    }

    async fn a_retry_on_another_instance_gets_the_same_successor(backend: Backend) {
        let app = spawn_app(backend).await;
        let replica = app.replica();
        let alice = app.signup("alice").await;
        let (here, there) = tokio::join!(app.try_refresh(&alice.refresh), replica.try_refresh(&alice.refresh));
        let here = here.assert_status(200)["refresh_token"].clone();
        assert_eq!(there.assert_status(200)["refresh_token"], here);
        let again = replica.try_refresh(&alice.refresh).await;
        assert_eq!(again.assert_status(200)["refresh_token"], here, "a later repeat in the window too");
    }

    async fn the_grandparent_is_still_reuse_and_ends_the_session(backend: Backend) {
        let app = spawn_app(backend).await;
        let alice = app.signup("alice").await;
        let parent = app.refresh(&alice.refresh).await;
        let live = app.refresh(&parent.refresh).await;
        app.try_refresh(&alice.refresh).await.assert_problem(401, "invalid_refresh_token");
        app.get("/check_session", &live.token).await.assert_problem(401, "token_revoked");
        app.try_refresh(&live.refresh).await.assert_problem(401, "invalid_refresh_token");
    }

    async fn after_the_window_the_parent_is_reuse_and_a_repeat_does_not_extend_it(backend: Backend) {
        let app = spawn_app_with(backend, |c| c.refresh_reuse_interval_secs = 1).await;
        let alice = app.signup("alice").await;
        let live = app.refresh(&alice.refresh).await;
        actix_web::rt::time::sleep(Duration::from_millis(600)).await;
        let repeat = app.try_refresh(&alice.refresh).await;
        assert_eq!(repeat.assert_status(200)["refresh_token"], live.refresh.as_str());
        // 1.2 s after the first rotation, 0.6 s after the repeat.
        actix_web::rt::time::sleep(Duration::from_millis(600)).await;
        app.try_refresh(&alice.refresh).await.assert_problem(401, "invalid_refresh_token");
        app.get("/check_session", &live.token).await.assert_problem(401, "token_revoked");
    }
}
