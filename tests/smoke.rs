//! The shortest end-to-end path: two users chat over the WebSocket.

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_see_each_others_messages() {
    let server = common::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let (mut b, _) = server.connect(&bob.token, None).await;
    a.send_text("hello bob").await;
    let got = b.next_non_presence().await.unwrap();
    assert_eq!(got["type"], "message");
    assert_eq!(got["user"], "alice");
    assert_eq!(got["text"], "hello bob");
    let echo = a.next_non_presence().await.unwrap();
    assert_eq!(echo["id"], got["id"]);
    server.stop().await;
}

// The same tests with their servers on PostgreSQL (`common::postgres_too`).
common::postgres_too!(two_users_see_each_others_messages,);
