//! Login and registration limits hold across instances (issue 12): guesses and registrations
//! spread over several servers on one database get the budget of one server, not one each. On
//! PostgreSQL (three instances) and on one SQLite file (two servers).

mod common;

use std::net::{IpAddr, Ipv4Addr};

use chatterbox::chat::ratelimit::Rate;
use common::{Options, TestServer, PASSWORD};
use serde_json::json;

/// Attempts per address (and per address and account) that one server alone would allow: a
/// burst of 3, refilling once per 1,000 s, so nothing refills during a test.
const BUDGET: usize = 3;

fn limited(database_url: Option<String>) -> Options {
    let mut opts = Options { database_url, ..Options::default() };
    opts.chat.auth_rate = Some(Rate::new(BUDGET as f64, 0.001));
    opts
}

/// Three instances on one new PostgreSQL database; None when PostgreSQL is skipped.
async fn three_on_postgres() -> Option<Vec<TestServer>> {
    let url = tokio::task::spawn_blocking(common::pg::database).await.unwrap()?;
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(common::start_with(limited(Some(url.clone()))).await);
    }
    Some(servers)
}

/// Two servers on one SQLite file.
async fn two_on_sqlite() -> Vec<TestServer> {
    let first = common::start_with(limited(None)).await;
    let second = common::start_with(Options { db: Some(first.db.clone()), ..limited(None) }).await;
    vec![first, second]
}

/// An HTTP client whose requests come from 127.0.0.`n`.
fn client_from(n: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
        .build()
        .expect("an HTTP client")
}

/// The status of a login, checking that a 429 says when to try again.
async fn login(client: &reqwest::Client, server: &TestServer, name: &str, password: &str) -> u16 {
    let body = json!({ "username": name, "password": password });
    let resp = client.post(server.url("/login")).json(&body).send().await.unwrap();
    let status = resp.status().as_u16();
    if status == 429 {
        let retry = resp.headers().get("retry-after").expect("Retry-After on a 429");
        assert!(retry.to_str().unwrap().parse::<u64>().unwrap() >= 1);
    }
    status
}

async fn register(client: &reqwest::Client, server: &TestServer, name: &str) -> u16 {
    let body = json!({ "username": name, "email": format!("{name}@example.com"), "password": PASSWORD });
    client.post(server.url("/register")).json(&body).send().await.unwrap().status().as_u16()
}

/// Wrong passwords from one address, round-robin over the servers: the budget of one server,
/// then every server refuses, the right password included.
async fn guesses_from_one_address_get_one_budget(servers: &[TestServer]) {
    servers[0].account_in_store("alice").await;
    let client = client_from(1);
    for i in 0..BUDGET {
        assert_eq!(
            login(&client, &servers[i % servers.len()], "alice", "wrong password").await,
            401,
            "guess {i}"
        );
    }
    for (n, server) in servers.iter().enumerate() {
        assert_eq!(login(&client, server, "alice", "wrong password").await, 429, "server {n}");
        assert_eq!(login(&client, server, "alice", PASSWORD).await, 429, "server {n}");
    }
    // Another address is not held back.
    assert_eq!(login(&client_from(2), &servers[servers.len() - 1], "alice", PASSWORD).await, 200);
}

/// Guesses against one account from many addresses, each within its own budget and spread over
/// the servers, spend the account's one budget: a guesser is then refused everywhere, while the
/// owner, from an address that never failed, still signs in.
async fn guesses_from_many_addresses_spend_one_account_budget(servers: &[TestServer]) {
    servers[0].account_in_store("victim").await;
    let guessers = 5u8;
    // ACCOUNT_FAILURE_FACTOR times one address's budget: exactly spent by the five.
    assert_eq!(chatterbox::chat::ratelimit::ACCOUNT_FAILURE_FACTOR, f64::from(guessers));
    let mut turn = 0;
    for n in 10..10 + guessers {
        for _ in 0..BUDGET {
            let server = &servers[turn % servers.len()];
            turn += 1;
            assert_eq!(login(&client_from(n), server, "victim", "wrong password").await, 401, "address {n}");
        }
    }
    assert_eq!(login(&client_from(20), &servers[1], "victim", PASSWORD).await, 200, "the owner");
    // A new guesser gets one try; after its failure on one server the others refuse it too.
    assert_eq!(login(&client_from(21), &servers[0], "victim", "wrong password").await, 401);
    for server in &servers[1..] {
        assert_eq!(login(&client_from(21), server, "victim", "another guess").await, 429);
    }
}

/// Registrations from one address, round-robin over the servers: the budget of one server.
async fn registrations_from_one_address_get_one_budget(servers: &[TestServer]) {
    let client = client_from(3);
    let mut statuses = Vec::new();
    for i in 0..3 * BUDGET {
        statuses.push(register(&client, &servers[i % servers.len()], &format!("newcomer{i}")).await);
    }
    let mut expected = vec![201; BUDGET];
    expected.resize(3 * BUDGET, 429);
    assert_eq!(statuses, expected);
    let users = servers[0].chat.list_users(Default::default()).await.unwrap();
    let made = users.iter().filter(|u| u.username.starts_with("newcomer")).count();
    assert_eq!(made, BUDGET, "no refused registration made an account");
}

async fn stop(servers: Vec<TestServer>) {
    for server in servers {
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_spread_over_three_postgres_instances_get_the_budget_of_one() {
    let Some(servers) = three_on_postgres().await else { return };
    guesses_from_one_address_get_one_budget(&servers).await;
    guesses_from_many_addresses_spend_one_account_budget(&servers).await;
    stop(servers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_spread_over_three_postgres_instances_get_the_budget_of_one() {
    let Some(servers) = three_on_postgres().await else { return };
    registrations_from_one_address_get_one_budget(&servers).await;
    stop(servers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_sqlite_file_share_the_login_and_registration_limits() {
    let servers = two_on_sqlite().await;
    guesses_from_one_address_get_one_budget(&servers).await;
    guesses_from_many_addresses_spend_one_account_budget(&servers).await;
    registrations_from_one_address_get_one_budget(&servers).await;
    stop(servers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_the_database_cannot_check_refuses_the_attempt_with_503() {
    let server = common::start_with(limited(None)).await;
    server.account_in_store("alice").await;
    // Another process holds the database's write lock past the busy timeout: reads still work,
    // but the limits cannot be counted.
    let other = rusqlite::Connection::open(&server.db).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let body = json!({ "username": "alice", "password": PASSWORD });
    let resp = server.http.post(server.url("/login")).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 503, "a login whose limits were not checked is not let through");
    assert_eq!(resp.headers().get("retry-after").unwrap(), "1");
    other.execute_batch("ROLLBACK").unwrap();
    assert_eq!(login(&server.http, &server, "alice", PASSWORD).await, 200);
    server.stop().await;
}
