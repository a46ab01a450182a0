//! The operator CLI on PostgreSQL (`--database-url`, `CHATTERBOX_DATABASE_URL`): the real binary
//! against a database of the test cluster (`common::pg`), and the rule that a command names one
//! database only.

mod common;

use std::process::{Output, Stdio};

use common::cli::{chatterbox, describe, run};

/// `chatterbox --database-url URL ARGS...`
fn on(url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = chatterbox();
    cmd.args(["--database-url", url]).args(args);
    run(cmd, stdin)
}

fn success(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(0), "{}", describe(out));
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn failure(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{}", describe(out));
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert!(err.starts_with("chatterbox: error: ") && err.lines().count() == 1, "{}", describe(out));
    assert!(!err.contains("panicked"), "{}", describe(out));
    err
}

#[test]
fn db_and_database_url_together_are_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    let url = "postgres://nobody@127.0.0.1:1/none";
    let mut both = chatterbox();
    both.arg("--db").arg(&db).args(["--database-url", url, "migrate"]);
    let mut env_and_flag = chatterbox();
    env_and_flag.env("CHATTERBOX_DATABASE_URL", url).arg("--db").arg(&db).args(["user", "list"]);
    let mut envs = chatterbox();
    envs.env("CHATTERBOX_DATABASE_URL", url).env("CHATTERBOX_DB", &db).args(["migrate", "--status"]);
    for cmd in [both, env_and_flag, envs] {
        let out = run(cmd, None);
        assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--database-url") && err.contains("--db"), "{err}");
    }
    assert!(!db.exists(), "nothing was created");
}

#[test]
fn an_unreachable_postgres_is_a_clear_failure() {
    let url = "postgres://nobody:secret-password@127.0.0.1:1/none?connect_timeout=2";
    for args in [&["migrate"][..], &["migrate", "--status"], &["user", "list"]] {
        let err = failure(&on(url, args, None));
        assert!(err.contains("cannot connect to postgres 127.0.0.1:1/none"), "{err}");
        assert!(!err.contains("secret-password"), "the password leaked: {err}");
    }
}

#[test]
fn every_operator_command_works_on_postgres() {
    let Some(url) = common::pg::database() else { return };
    let out = success(&on(&url, &["migrate", "--status"], None));
    assert_eq!(
        out.trim(),
        "pending  V1__initial\npending  V2__account_keys\npending  V3__conversations\npending  V4__instances\npending  V5__shared_limits\npending  V6__living_messages\npending  V7__search\npending  V8__moderation"
    );
    // Operator commands other than `migrate` and `user create` refuse an unmigrated database.
    assert!(failure(&on(&url, &["user", "list"], None)).contains("run `chatterbox migrate` first"));

    let out = success(&on(&url, &["migrate"], None));
    assert_eq!(
        out.trim(),
        "applied V1__initial\napplied V2__account_keys\napplied V3__conversations\napplied V4__instances\napplied V5__shared_limits\napplied V6__living_messages\napplied V7__search\napplied V8__moderation"
    );
    let out = success(&on(&url, &["migrate"], None));
    assert!(out.contains("up to date") && !out.contains("postgres@"), "{out}");
    let out = success(&on(&url, &["migrate", "--status"], None));
    assert_eq!(out.lines().filter(|l| l.starts_with("applied  V")).count(), 8, "{out}");

    let create =
        ["user", "create", "alice", "--email", "alice@example.com", "--password-stdin", "--bcrypt-cost", "4"];
    assert!(success(&on(&url, &create, Some("correct horse\n"))).contains("created user alice"));
    let again =
        ["user", "create", "ALICE", "--email", "other@example.com", "--password-stdin", "--bcrypt-cost", "4"];
    assert!(failure(&on(&url, &again, Some("correct horse\n"))).contains("username"));
    assert!(success(&on(&url, &["make-admin", "alice"], None)).contains("alice is now an admin"));
    assert!(
        success(&on(&url, &["user", "block", "alice", "--reason", "test"], None)).contains("blocked alice")
    );
    let csv = success(&on(&url, &["user", "list", "--format", "csv"], None));
    assert!(csv.contains("alice,alice@example.com,admin,yes,0"), "{csv}");
    assert!(success(&on(&url, &["user", "unblock", "alice"], None)).contains("unblocked alice"));
    let export = success(&on(&url, &["messages", "export", "--csv"], None));
    assert_eq!(export.lines().next(), Some("id,sender_id,sender_username,content,timestamp,room,edited_at"));

    // The environment variable works as the flag does.
    let mut cmd = chatterbox();
    cmd.env("CHATTERBOX_DATABASE_URL", &url).args(["user", "list", "--format", "json"]);
    assert!(success(&run(cmd, None)).contains("\"alice\""));
}

/// `serve` on PostgreSQL: migrates a new database, listens, answers, stores; its log names the
/// database but never the URL's password.
#[test]
fn serve_runs_on_postgres_and_never_logs_the_password() {
    use std::io::{BufRead, BufReader};
    let Some(url) = common::pg::database() else { return };
    // The test cluster trusts every local connection, so any password is accepted.
    let url = url.replacen("postgres://postgres@", "postgres://postgres:hunter2secret@", 1);
    let mut cmd = chatterbox();
    cmd.env("CHATTERBOX_DATABASE_URL", &url)
        .args(["serve", "--listen", "127.0.0.1:0", "--bcrypt-cost", "4"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    let addr = loop {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "serve ended early:\n{log}");
        log.push_str(&line);
        if let Some(at) = line.find("listening on http://") {
            let rest = &line[at + "listening on http://".len()..];
            break rest
                .split_whitespace()
                .next()
                .unwrap()
                .trim_end_matches(|c: char| !c.is_ascii_digit())
                .to_string();
        }
    };
    let http = reqwest::blocking::Client::new();
    assert_eq!(http.get(format!("http://{addr}/healthz")).send().unwrap().status(), 200);
    let body =
        serde_json::json!({ "username": "carol", "email": "carol@example.com", "password": "correct horse" });
    assert_eq!(http.post(format!("http://{addr}/register")).json(&body).send().unwrap().status(), 201);
    let _ = child.kill();
    let _ = child.wait();
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
    log.push_str(&rest);
    assert!(log.contains("applied migration"), "{log}");
    assert!(!log.contains("hunter2secret"), "the password leaked into the log:\n{log}");
    assert!(success(&on(&url, &["user", "list", "--format", "csv"], None)).contains("carol"));
}
