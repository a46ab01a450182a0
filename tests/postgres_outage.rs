//! PostgreSQL stopped hard (`pg_ctl stop -m immediate`) and started again under a running
//! server: while it is down, the server says so (503, error frames) and loses nothing it
//! acknowledged; once it is back, the server carries on by itself. A binary of its own, because
//! stopping the test cluster would disturb every other test sharing it.

mod common;

use std::time::Duration;

use common::Options;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_on_postgres_rides_out_a_database_restart() {
    let Some(cluster) = tokio::task::spawn_blocking(common::pg::cluster).await.unwrap() else { return };
    let server = common::start_with(Options { postgres: true, ..common::unthrottled() }).await;
    let alice = server.register("alice").await;
    let (mut ws, _) = server.connect(&alice.token, None).await;
    let before = ws.send_acked("before the outage").await;

    tokio::task::spawn_blocking(|| cluster.stop_immediate()).await.unwrap();

    let health = server.get("/healthz", None).await;
    assert_eq!(health.status(), 503, "an instance without its database says so");
    let rooms = server.get("/rooms", Some(&alice.token)).await;
    assert_eq!(rooms.status(), 503);
    assert_eq!(rooms.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    ws.send_text("during the outage").await;
    let answer = loop {
        let v = ws.next_json().await.expect("the socket stays open");
        if v["type"] != "join" && v["type"] != "leave" && v["type"] != "presence" {
            break v;
        }
    };
    assert_eq!(
        answer["type"], "error",
        "a send that could not be stored is refused, never acknowledged: {answer}"
    );

    tokio::task::spawn_blocking(|| cluster.start_again()).await.unwrap();

    // Back by itself: the pool replaces the connections the restart closed.
    let mut healthy = false;
    for _ in 0..100 {
        if server.get("/healthz", None).await.status() == 200 {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy, "the server did not recover after the database came back");
    let after = ws.send_acked("after the outage").await;
    assert!(after["id"].as_i64().unwrap() > before["id"].as_i64().unwrap());
    let bob = server.register("bob").await;
    let history: serde_json::Value = server.get("/messages", Some(&bob.token)).await.json().await.unwrap();
    let texts: Vec<&str> = history.as_array().unwrap().iter().filter_map(|m| m["text"].as_str()).collect();
    assert_eq!(texts, ["before the outage", "after the outage"], "{history}");
}
