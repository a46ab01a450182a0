//! The operator CLI end to end: every `chatterbox` subcommand run as the real binary against a
//! temporary database, checking what an operator sees (exit code, stdout, stderr), the error
//! paths, a database written by a newer chatterbox, and running next to another writer.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::mpsc,
    thread,
    time::Duration,
};

mod common;

use chatterbox::{
    store::{Action, Message, NewMessage, NewUser, SqliteStore, Store, User},
    timefmt,
};
use common::cli::{chatterbox, describe};

const BIN: &str = env!("CARGO_BIN_EXE_chatterbox");

/// Looks like a bcrypt hash, so any leak of it shows up as a `$2` in the output.
const FAKE_HASH: &str = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";

const MESSAGE_HEADER: [&str; 7] =
    ["id", "sender_id", "sender_username", "content", "timestamp", "room", "edited_at"];

// ---------------------------------------------------------------------------------------------
// Running the binary

/// Runs `chatterbox --db DB ARGS...`, feeding `stdin` if given (else no stdin at all).
fn run(db: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = chatterbox();
    cmd.arg("--db").arg(db).args(args);
    run_command(cmd, stdin)
}

/// Runs `chatterbox ARGS...` with no database option at all.
fn run_bare(args: &[&str]) -> Output {
    let mut cmd = chatterbox();
    cmd.args(args);
    run_command(cmd, None)
}

fn run_command(mut cmd: Command, stdin: Option<&str>) -> Output {
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start chatterbox");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        // A command that fails before reading its input closes the pipe early; that is fine.
        if let Err(e) = pipe.write_all(input.as_bytes()) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
        }
    }
    child.wait_with_output().expect("wait for chatterbox")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("stderr is UTF-8")
}

/// Nothing an operator should ever see: panics, backtrace hints, Debug dumps.
fn assert_no_crash(out: &Output) {
    let err = stderr(out);
    for bad in ["panicked", "RUST_BACKTRACE", "stack backtrace", "Error {", "Some(", "Os {"] {
        assert!(!err.contains(bad), "stderr contains {bad:?}\n{}", describe(out));
    }
}

/// Exit 0; returns stdout.
fn success(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(0), "expected success\n{}", describe(out));
    assert_no_crash(out);
    stdout(out)
}

/// Exit 1 with exactly one `chatterbox: error: ...` line on stderr; returns that line.
fn failure(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "expected exit 1\n{}", describe(out));
    assert_no_crash(out);
    let err = stderr(out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected one error line\n{}", describe(out));
    assert!(lines[0].starts_with("chatterbox: error: "), "bad error line\n{}", describe(out));
    assert!(lines[0].len() > "chatterbox: error: ".len() + 10, "error says too little\n{}", describe(out));
    lines[0].to_string()
}

/// Exit 2 (clap's usage error) with a message on stderr and nothing on stdout; returns stderr.
/// A command group without its subcommand prints its help instead of an `error:` line.
fn usage_error(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(2), "expected a usage error\n{}", describe(out));
    assert_no_crash(out);
    assert!(out.stdout.is_empty(), "usage error wrote to stdout\n{}", describe(out));
    let err = stderr(out);
    assert!(
        err.starts_with("error: ") || err.contains("\nUsage: "),
        "usage error not explained\n{}",
        describe(out)
    );
    err
}

// ---------------------------------------------------------------------------------------------
// Databases and seed data (through the library, never SQL, except to simulate other processes)

struct TestDb {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl TestDb {
    /// A path in a fresh folder; no file yet.
    fn missing() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("chatterbox.db");
        TestDb { dir, path }
    }

    /// A migrated, empty database.
    fn migrated() -> Self {
        let db = Self::missing();
        SqliteStore::open_and_migrate(&db.path).expect("create the database");
        db
    }

    fn store(&self) -> SqliteStore {
        SqliteStore::open_existing(&self.path).expect("open the test database")
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        run(&self.path, args, stdin)
    }

    fn user(&self, name: &str) -> User {
        self.store().user_by_username(name).unwrap().unwrap_or_else(|| panic!("no user {name}"))
    }
}

fn add_user(store: &SqliteStore, name: &str, is_admin: bool) -> User {
    let email = format!("{}@example.com", name.trim_start_matches('-'));
    store
        .create_user(&NewUser {
            username: name,
            email: &email,
            password_hash: FAKE_HASH,
            is_admin,
            created_at: &timefmt::now(),
        })
        .expect("create user")
}

/// Inserts the messages in batches of 1,000, all with `timestamp`.
fn add_messages<S: AsRef<str>>(
    store: &SqliteStore,
    sender: &User,
    contents: &[S],
    timestamp: &str,
) -> Vec<Message> {
    let mut stored = Vec::with_capacity(contents.len());
    for chunk in contents.chunks(1000) {
        let batch: Vec<NewMessage> = chunk
            .iter()
            .map(|c| NewMessage {
                room_id: chatterbox::store::GENERAL_ROOM,
                sender_id: sender.id,
                username: sender.username.clone(),
                content: c.as_ref().to_string(),
                mention_candidates: Vec::new(),
                reply_to: None,
            })
            .collect();
        let outcomes = store.insert_messages(&batch, timestamp).expect("insert messages");
        stored.extend(outcomes.into_iter().map(|o| o.expect("a member of general")));
    }
    stored
}

fn ts(day: u32, hour: u32) -> String {
    format!("2026-01-{day:02}T{hour:02}:00:00.000Z")
}

/// The database file and its WAL file (if any), to prove a command changed nothing.
fn snapshot(path: &Path) -> (Vec<u8>, Option<Vec<u8>>) {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    (std::fs::read(path).expect("read database"), std::fs::read(PathBuf::from(wal)).ok())
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------------------------
// CSV

#[derive(Debug, PartialEq)]
struct Row {
    id: i64,
    sender_id: i64,
    sender_username: String,
    content: String,
    timestamp: String,
}

/// Parses a message export with the `csv` crate, checking the header.
fn parse_export(data: &[u8]) -> Vec<Row> {
    let mut reader = csv::ReaderBuilder::new().from_reader(data);
    let header: Vec<String> = reader.headers().expect("CSV header").iter().map(String::from).collect();
    assert_eq!(header, MESSAGE_HEADER, "export header");
    reader
        .records()
        .map(|r| {
            let r = r.expect("well-formed CSV record");
            assert_eq!(r.len(), 7, "seven cells: {r:?}");
            Row {
                id: r[0].parse().expect("numeric id"),
                sender_id: r[1].parse().expect("numeric sender_id"),
                sender_username: r[2].to_string(),
                content: r[3].to_string(),
                timestamp: r[4].to_string(),
            }
        })
        .collect()
}

fn ids(rows: &[Row]) -> Vec<i64> {
    rows.iter().map(|r| r.id).collect()
}

fn msg_ids(msgs: &[Message]) -> Vec<i64> {
    msgs.iter().map(|m| m.id).collect()
}

/// What the export should make of a stored cell by default.
fn neutralised(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_string(),
    }
}

fn assert_rfc3339_utc(ts: &str) {
    assert!(ts.ends_with('Z'), "timestamp {ts:?} is not UTC with Z");
    time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("timestamp {ts:?} is not RFC 3339: {e}"));
}

// =============================================================================================
// Global options and usage errors

#[test]
fn database_comes_from_db_flag_or_chatterbox_db_env() {
    let db = TestDb::migrated();
    add_user(&db.store(), "alice", false);

    // The environment variable alone.
    let mut cmd = chatterbox();
    cmd.env("CHATTERBOX_DB", &db.path).args(["user", "list", "--format", "csv"]);
    assert!(success(&run_command(cmd, None)).contains("alice"));

    // --db wins over the environment.
    let elsewhere = TestDb::missing();
    let mut cmd = chatterbox();
    cmd.env("CHATTERBOX_DB", &elsewhere.path).arg("--db").arg(&db.path).args(["user", "list"]);
    assert!(success(&run_command(cmd, None)).contains("alice"));
    assert!(!elsewhere.path.exists());

    // --db is global: it may follow the subcommand.
    let mut cmd = chatterbox();
    cmd.args(["user", "list", "--format", "json", "--db"]).arg(&db.path);
    assert!(success(&run_command(cmd, None)).contains("\"alice\""));

    // The environment pointing at a missing file is an ordinary failure.
    let mut cmd = chatterbox();
    cmd.env("CHATTERBOX_DB", &elsewhere.path).args(["user", "list"]);
    assert!(failure(&run_command(cmd, None)).contains("no database at"));
}

#[test]
fn usage_errors_exit_2() {
    let db = TestDb::migrated();
    add_user(&db.store(), "alice", false);
    let cases: &[(&[&str], &str)] = &[
        (&[], "Usage"),
        (&["frobnicate"], "frobnicate"),
        (&["user", "list", "--bogus"], "--bogus"),
        (&["user", "list", "--format", "xml"], "possible values: table, csv, json"),
        (&["make-admin"], "<USERNAME>"),
        (&["user", "block"], "<USERNAME>"),
        (&["user", "unblock"], "<USERNAME>"),
        (&["user", "create", "dave"], "--email"),
        (&["messages"], "Usage"),
        (&["messages", "export", "--after-id", "abc"], "--after-id"),
        (&["messages", "export", "--since", "garbage"], "--since"),
        (&["messages", "export", "--until", "garbage"], "--until"),
        (&["migrate", "--status=yes"], "--status"),
    ];
    for (args, expected) in cases {
        let err = usage_error(&db.run(args, None));
        assert!(err.contains(expected), "{args:?}: stderr does not mention {expected:?}:\n{err}");
    }
    // Nothing was changed by any of them.
    assert!(!db.user("alice").is_admin);
}

#[test]
fn help_and_version_exit_0() {
    assert!(success(&run_bare(&["--version"])).starts_with("chatterbox "));
    let help = success(&run_bare(&["messages", "export", "--help"]));
    for flag in ["--output", "--since", "--until", "--after-id", "--raw", "--db"] {
        assert!(help.contains(flag), "export --help lacks {flag}:\n{help}");
    }
    // The hidden command stays hidden.
    assert!(!success(&run_bare(&["--help"])).contains("generate"));
}

// =============================================================================================
// Errors about the database itself

#[test]
fn missing_database_is_refused_and_not_created() {
    let db = TestDb::missing();
    let commands: &[&[&str]] = &[
        &["user", "list"],
        &["user", "block", "alice"],
        &["user", "unblock", "alice"],
        &["make-admin", "alice"],
        &["messages", "export", "--csv"],
        &["migrate", "--status"],
    ];
    for args in commands {
        let out = db.run(args, None);
        let err = failure(&out);
        assert!(err.contains("no database at"), "{args:?}: {err}");
        assert!(err.contains("chatterbox migrate"), "{args:?} should say how to create it: {err}");
        assert!(out.stdout.is_empty(), "{args:?} wrote to stdout\n{}", describe(&out));
        assert!(!db.path.exists(), "{args:?} created the database file");
    }
    assert_eq!(file_names(db.dir.path()), Vec::<String>::new());
}

#[test]
fn unreadable_database_is_a_clear_failure() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![0xA5u8; 8192]).unwrap();
    for args in [&["user", "list"][..], &["migrate"], &["migrate", "--status"], &["messages", "export"]] {
        let err = failure(&run(&garbage, args, None));
        assert!(err.contains("not a database"), "{args:?}: {err}");
    }
    assert!(std::fs::read(&garbage).unwrap() == vec![0xA5u8; 8192], "the file was modified");

    // A folder where the file should be.
    let err = failure(&run(dir.path(), &["user", "list"], None));
    assert!(err.contains(&dir.path().display().to_string()), "should name the path: {err}");
}

#[test]
fn database_that_needs_migrating_is_refused_by_operator_commands() {
    let db = TestDb::missing();
    std::fs::write(&db.path, b"").unwrap(); // `touch chatterbox.db`
    for args in [&["user", "list"][..], &["make-admin", "alice"], &["messages", "export", "--csv"]] {
        let err = failure(&db.run(args, None));
        assert!(err.contains("needs migrations"), "{args:?}: {err}");
        assert!(err.contains("V1__initial") && err.contains("chatterbox migrate"), "{args:?}: {err}");
    }
    assert_eq!(std::fs::metadata(&db.path).unwrap().len(), 0, "a refused command wrote to the empty file");
}

// =============================================================================================
// migrate

#[test]
fn migrate_applies_once_then_reports_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/folder/chatterbox.db");

    let out = success(&run(&path, &["migrate"], None));
    assert_eq!(
        out.trim(),
        "applied V1__initial\napplied V2__account_keys\napplied V3__conversations\napplied V4__instances\napplied V5__shared_limits\napplied V6__living_messages\napplied V7__search\napplied V8__moderation",
        "{out}"
    );
    assert!(path.exists());

    let out = success(&run(&path, &["migrate"], None));
    assert!(out.contains("up to date"), "{out}");
    assert!(!out.contains("applied"), "{out}");

    // In WAL mode, so exports do not wait for the daemon's writes.
    let mode: String = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    // The result is a usable database.
    assert!(SqliteStore::open_existing(&path).unwrap().list_users(Default::default()).unwrap().is_empty());
}

#[test]
fn migrate_status_lists_without_changing_anything() {
    // A missing database: an error, and no file appears.
    let db = TestDb::missing();
    let err = failure(&db.run(&["migrate", "--status"], None));
    assert!(err.contains("no database at"), "{err}");
    assert!(!db.path.exists(), "migrate --status created the database");

    // An existing file that was never migrated: all pending, and the file is left as it was.
    std::fs::write(&db.path, b"").unwrap();
    let out = success(&db.run(&["migrate", "--status"], None));
    assert_eq!(
        out.trim(),
        "pending  V1__initial\npending  V2__account_keys\npending  V3__conversations\npending  V4__instances\npending  V5__shared_limits\npending  V6__living_messages\npending  V7__search\npending  V8__moderation",
        "{out}"
    );
    assert_eq!(std::fs::metadata(&db.path).unwrap().len(), 0, "migrate --status wrote to the empty file");

    // The same for a SQLite database in the default (rollback journal) mode.
    std::fs::remove_file(&db.path).unwrap();
    {
        let conn = rusqlite::Connection::open(&db.path).unwrap();
        conn.execute_batch("CREATE TABLE unrelated (x INTEGER)").unwrap();
    }
    let before = snapshot(&db.path);
    let out = success(&db.run(&["migrate", "--status"], None));
    assert_eq!(
        out.trim(),
        "pending  V1__initial\npending  V2__account_keys\npending  V3__conversations\npending  V4__instances\npending  V5__shared_limits\npending  V6__living_messages\npending  V7__search\npending  V8__moderation",
        "{out}"
    );
    assert!(snapshot(&db.path) == before, "migrate --status modified a rollback-journal database");

    // After migrating: applied, with the time it was applied.
    success(&db.run(&["migrate"], None));
    let before = snapshot(&db.path);
    let out = success(&db.run(&["migrate", "--status"], None));
    let lines: Vec<&str> = out.trim().lines().collect();
    assert_eq!(lines.len(), 8, "{out}");
    for (line, name) in lines.iter().zip([
        "V1__initial",
        "V2__account_keys",
        "V3__conversations",
        "V4__instances",
        "V5__shared_limits",
        "V6__living_messages",
        "V7__search",
        "V8__moderation",
    ]) {
        assert!(line.starts_with(&format!("applied  {name}  (")), "{out}");
        let at = line.rsplit_once('(').unwrap().1.trim_end_matches(')');
        assert_rfc3339_utc(at);
    }
    assert!(snapshot(&db.path) == before, "migrate --status modified the database");
}

// =============================================================================================
// A database written by a newer chatterbox

#[test]
fn database_from_a_newer_chatterbox_is_refused_untouched() {
    let db = TestDb::missing();
    success(&db.run(&["migrate"], None));
    add_user(&db.store(), "alice", false);
    {
        let conn = rusqlite::Connection::open(&db.path).unwrap();
        let (applied_on, checksum): (String, String) = conn
            .query_row(
                "SELECT applied_on, checksum FROM refinery_schema_history WHERE version = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        conn.execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) \
             VALUES (999, 'from_the_future', ?1, ?2)",
            rusqlite::params![applied_on, checksum],
        )
        .unwrap();
    }
    let before = snapshot(&db.path);
    let export_file = db.dir.path().join("export.csv");
    let export_path = export_file.to_str().unwrap();

    let commands: &[(&[&str], Option<&str>)] = &[
        (&["user", "list"], None),
        (&["user", "list", "--format", "json"], None),
        (&["migrate"], None),
        (&["messages", "export", "--csv"], None),
        (&["messages", "export", "--csv", "--output", export_path], None),
        (&["make-admin", "alice"], None),
        (&["make-admin", "alice", "--revoke"], None),
        (&["user", "block", "alice", "--reason", "test"], None),
        (&["user", "unblock", "alice"], None),
        (&["user", "create", "zed", "--email", "zed@example.com", "--password-stdin"], Some("password123\n")),
    ];
    for (args, stdin) in commands {
        let out = db.run(args, *stdin);
        let err = failure(&out);
        assert!(err.contains("written by a newer chatterbox"), "{args:?}: {err}");
        assert!(err.contains("V999"), "{args:?} should name the unknown migration: {err}");
        assert!(out.stdout.is_empty(), "{args:?} wrote to stdout\n{}", describe(&out));
        assert!(snapshot(&db.path) == before, "{args:?} modified the database");
    }
    assert!(!export_file.exists(), "a refused export left a file");

    // Listing the migrations is still possible: it shows the unknown one as such, fails so a
    // script notices, and changes nothing.
    let out = db.run(&["migrate", "--status"], None);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains("V1__initial"), "{listed}");
    assert!(
        listed.contains("V999__from_the_future") && listed.contains("unknown to this chatterbox"),
        "{listed}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("written by a newer chatterbox"));
    assert!(snapshot(&db.path) == before, "migrate --status modified the database");
}

// =============================================================================================
// make-admin

#[test]
fn make_admin_grants_and_revokes_idempotently() {
    let db = TestDb::migrated();
    add_user(&db.store(), "alice", false);

    assert_eq!(success(&db.run(&["make-admin", "alice"], None)).trim(), "alice is now an admin");
    assert!(db.user("alice").is_admin);
    assert_eq!(
        success(&db.run(&["make-admin", "alice"], None)).trim(),
        "alice was already an admin; nothing changed"
    );
    assert!(db.user("alice").is_admin);

    assert_eq!(
        success(&db.run(&["make-admin", "alice", "--revoke"], None)).trim(),
        "alice is no longer an admin"
    );
    assert!(!db.user("alice").is_admin);
    assert_eq!(
        success(&db.run(&["make-admin", "--revoke", "alice"], None)).trim(),
        "alice was not an admin; nothing changed"
    );
    assert!(!db.user("alice").is_admin);

    let out = db.run(&["make-admin", "nobody"], None);
    assert!(failure(&out).contains("no user named \"nobody\""), "{}", describe(&out));
    assert!(out.stdout.is_empty());
}

// =============================================================================================
// user list

#[test]
fn user_list_shows_accounts_in_every_format_with_filters() {
    let db = TestDb::migrated();
    let store = db.store();
    let alice = add_user(&store, "alice", true);
    let bob = add_user(&store, "bob", false);
    store.record_violation(bob.id, "bad words", "bad", 3, &timefmt::now()).unwrap();
    chatterbox::chat::accounts::set_blocked(&store, bob.id, true, "test", None).unwrap();
    add_user(&store, "carol", false);
    drop(store);
    // One account with a real bcrypt hash, made by the CLI.
    success(&db.run(
        &["user", "create", "dave", "--email", "dave@example.com", "--password-stdin"],
        Some("correct horse\n"),
    ));

    // Table
    let table = success(&db.run(&["user", "list"], None));
    for col in ["ID", "Username", "E-mail", "Role", "Blocked", "Warnings", "Created"] {
        assert!(table.contains(col), "table lacks column {col}:\n{table}");
    }
    for name in ["alice", "bob", "carol", "dave", "alice@example.com", "admin", &alice.created_at] {
        assert!(table.contains(name), "table lacks {name}:\n{table}");
    }
    let bob_line = table.lines().find(|l| l.contains("bob")).unwrap();
    assert!(
        bob_line.contains("yes") && bob_line.contains(" 1 "),
        "bob is blocked with 1 warning: {bob_line}"
    );

    // JSON: stable snake_case keys, typed values.
    let json: serde_json::Value =
        serde_json::from_str(&success(&db.run(&["user", "list", "--format", "json"], None))).unwrap();
    let users = json.as_array().expect("a JSON array");
    assert_eq!(users.len(), 4);
    let keys =
        ["created_at", "email", "id", "is_admin", "is_blocked", "muted_until", "username", "warning_count"];
    for u in users {
        let mut got: Vec<&str> = u.as_object().unwrap().keys().map(String::as_str).collect();
        got.sort();
        assert_eq!(got, keys, "{u}");
    }
    let b = users.iter().find(|u| u["username"] == "bob").unwrap();
    assert_eq!(b["id"], bob.id);
    assert_eq!(b["email"], "bob@example.com");
    assert_eq!(b["is_admin"], false);
    assert_eq!(b["is_blocked"], true);
    assert_eq!(b["warning_count"], 1);
    assert_rfc3339_utc(b["created_at"].as_str().unwrap());
    let a = users.iter().find(|u| u["username"] == "alice").unwrap();
    assert_eq!(a["is_admin"], true);

    // CSV
    let csv_out = success(&db.run(&["user", "list", "--format", "csv"], None));
    let mut reader = csv::Reader::from_reader(csv_out.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        ["id", "username", "email", "role", "blocked", "warnings", "created_at"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let names: Vec<&str> = rows.iter().map(|r| &r[1]).collect();
    assert_eq!(names, ["alice", "bob", "carol", "dave"]);
    assert_eq!(&rows[1][4], "yes");
    assert_eq!(&rows[0][3], "admin");

    // Filters, in every format.
    let filtered = |filter: &[&str], format: &str| -> Vec<String> {
        let mut args = vec!["user", "list", "--format", format];
        args.extend_from_slice(filter);
        let out = success(&db.run(&args, None));
        if format == "json" {
            let users: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
            users.iter().map(|u| u["username"].as_str().unwrap().to_string()).collect()
        } else {
            let mut reader = csv::Reader::from_reader(out.as_bytes());
            reader.records().map(|r| r.unwrap()[1].to_string()).collect()
        }
    };
    for format in ["json", "csv"] {
        assert_eq!(filtered(&["--blocked"], format), ["bob"], "{format}");
        assert_eq!(filtered(&["--admins"], format), ["alice"], "{format}");
        assert_eq!(filtered(&["--admins", "--blocked"], format), Vec::<String>::new(), "{format}");
    }
    let blocked_table = success(&db.run(&["user", "list", "--blocked"], None));
    assert!(blocked_table.contains("bob") && !blocked_table.contains("alice"), "{blocked_table}");
    let out = db.run(&["user", "list", "--blocked", "--admins"], None);
    assert!(!success(&out).contains("carol"));
    assert!(stderr(&out).contains("no matching users"), "{}", describe(&out));

    // Never a password hash, in any format or filter.
    for format in ["table", "csv", "json"] {
        for filter in [&[][..], &["--blocked"], &["--admins"]] {
            let mut args = vec!["user", "list", "--format", format];
            args.extend_from_slice(filter);
            let out = db.run(&args, None);
            let text = success(&out) + &stderr(&out);
            assert!(!text.contains("$2"), "{args:?} shows a password hash:\n{text}");
            assert!(!text.to_lowercase().contains("password"), "{args:?} mentions passwords:\n{text}");
            assert!(!text.to_lowercase().contains("hash"), "{args:?} mentions hashes:\n{text}");
        }
    }
}

// =============================================================================================
// user create

#[test]
fn user_create_reads_the_password_from_stdin() {
    let db = TestDb::migrated();
    let out = success(&db.run(
        &["user", "create", "dave", "--email", "Dave@Example.com", "--password-stdin"],
        Some("correct horse battery\n"),
    ));
    let dave = db.user("dave");
    assert_eq!(out.trim(), format!("created user dave (id {})", dave.id));
    assert!(!dave.is_admin && !dave.is_blocked);
    assert_eq!(dave.email, "dave@example.com");
    // The password is the first line exactly, without its line ending.
    let creds = db.store().credentials("dave", "").unwrap().unwrap();
    assert!(creds.password_hash.starts_with("$2"), "stored as bcrypt");
    assert!(bcrypt::verify("correct horse battery", &creds.password_hash).unwrap());

    let out = success(&db.run(
        &["user", "create", "erin", "--email", "erin@example.com", "--password-stdin", "--admin"],
        Some("another password\r\nsecond line ignored\n"),
    ));
    let erin = db.user("erin");
    assert_eq!(out.trim(), format!("created admin erin (id {})", erin.id));
    assert!(erin.is_admin);
    let creds = db.store().credentials("erin", "").unwrap().unwrap();
    assert!(bcrypt::verify("another password", &creds.password_hash).unwrap());
}

#[test]
fn user_create_on_a_fresh_install_creates_the_database() {
    let db = TestDb::missing();
    let out = success(&db.run(
        &["user", "create", "root", "--email", "root@example.com", "--password-stdin", "--admin"],
        Some("first admin pw\n"),
    ));
    assert!(out.contains("created admin root"), "{out}");
    assert!(db.user("root").is_admin);
}

#[test]
fn user_create_rejects_bad_input_without_creating_anything() {
    let db = TestDb::migrated();
    add_user(&db.store(), "alice", false);
    let create = |name: &str, email: &str| {
        vec!["user", "create", name, "--email", email, "--password-stdin"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let too_long = "x".repeat(73);
    let cases: Vec<(Vec<String>, Option<&str>, &str)> = vec![
        // No terminal to prompt on, and no --password-stdin.
        (
            vec!["user", "create", "dave", "--email", "dave@example.com"]
                .into_iter()
                .map(String::from)
                .collect(),
            None,
            "--password-stdin",
        ),
        (create("dave", "dave@example.com"), Some(""), "no password"),
        (create("dave", "dave@example.com"), Some("\n"), "no password"),
        (create("dave", "dave@example.com"), Some("short\n"), "at least 8 characters"),
        (create("dave", "dave@example.com"), Some(&too_long), "at most 72 bytes"),
        (create("da", "dave@example.com"), Some("password123\n"), "3 to 32 characters"),
        (create("dave smith", "dave@example.com"), Some("password123\n"), "Username may contain only"),
        (create("dåve", "dave@example.com"), Some("password123\n"), "Username may contain only"),
        (create("dave", "not-an-email"), Some("password123\n"), "valid e-mail address"),
        (create("dave", "dave@localhost"), Some("password123\n"), "valid e-mail address"),
        (create("alice", "other@example.com"), Some("password123\n"), "already taken"),
        (create("ALICE", "other@example.com"), Some("password123\n"), "already taken"),
        (create("dave", "Alice@Example.com"), Some("password123\n"), "e-mail address already exists"),
    ];
    for (args, stdin, expected) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = db.run(&args, *stdin);
        let err = failure(&out);
        assert!(err.contains(expected), "{args:?} with {stdin:?}: expected {expected:?} in {err}");
        assert!(out.stdout.is_empty(), "{args:?}\n{}", describe(&out));
    }
    let users = db.store().list_users(Default::default()).unwrap();
    assert_eq!(users.iter().map(|u| u.username.as_str()).collect::<Vec<_>>(), ["alice"]);
}

#[test]
fn user_create_hashes_at_the_configured_bcrypt_cost() {
    let db = TestDb::migrated();
    let hash_of = |name: &str| db.store().credentials(name, "").unwrap().unwrap().password_hash;
    success(&db.run(
        &["user", "create", "dave", "--email", "dave@example.com", "--password-stdin", "--bcrypt-cost", "10"],
        Some("correct horse battery\n"),
    ));
    assert!(hash_of("dave").starts_with("$2b$10$"), "{}", hash_of("dave"));
    // The daemon's variable applies too, so one setting serves both.
    let mut cmd = chatterbox();
    cmd.env("CHATTERBOX_BCRYPT_COST", "5").arg("--db").arg(&db.path);
    cmd.args(["user", "create", "erin", "--email", "erin@example.com", "--password-stdin"]);
    success(&run_command(cmd, Some("correct horse battery\n")));
    assert!(hash_of("erin").starts_with("$2b$05$"), "{}", hash_of("erin"));
    assert!(bcrypt::verify("correct horse battery", &hash_of("erin")).unwrap());
    // Validated as `serve` validates it.
    let err = failure(&db.run(
        &["user", "create", "fay", "--email", "fay@example.com", "--password-stdin", "--bcrypt-cost", "3"],
        Some("correct horse battery\n"),
    ));
    assert!(err.contains("between 4 and 31"), "{err}");
}

#[test]
fn user_create_refuses_look_alike_and_reserved_names() {
    let db = TestDb::migrated();
    // Stored without look-alike keys, as by an older chatterbox: `user create` fills them first.
    add_user(&db.store(), "alice", false);
    for name in ["aIice", "ALlCE", "a1ice"] {
        let err = failure(&db.run(
            &["user", "create", name, "--email", "other@example.com", "--password-stdin"],
            Some("password123\n"),
        ));
        assert!(err.contains("already taken"), "{name}: {err}");
    }
    for name in ["System", "SYSTEM", "moderation"] {
        let err = failure(&db.run(
            &["user", "create", name, "--email", "other@example.com", "--password-stdin"],
            Some("password123\n"),
        ));
        assert!(err.contains("reserved"), "{name}: {err}");
    }
    let users = db.store().list_users(Default::default()).unwrap();
    assert_eq!(users.iter().map(|u| u.username.as_str()).collect::<Vec<_>>(), ["alice"]);
}

#[test]
fn a_database_that_already_holds_look_alike_names_keeps_working() {
    let db = TestDb::migrated();
    // Two names that count as one now, stored before the rule existed.
    add_user(&db.store(), "alice", false);
    add_user(&db.store(), "aIice", false);
    let out = db.run(
        &["user", "create", "ALlCE", "--email", "other@example.com", "--password-stdin"],
        Some("password123\n"),
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains("already taken"), "{err}");
    assert!(err.contains("looks like another account"), "the operator is told: {err}");
    // Unrelated names are still created.
    success(&db.run(
        &["user", "create", "bob", "--email", "bob@example.com", "--password-stdin"],
        Some("password123\n"),
    ));
    let users = db.store().list_users(Default::default()).unwrap();
    assert_eq!(users.iter().map(|u| u.username.as_str()).collect::<Vec<_>>(), ["alice", "aIice", "bob"]);
}

// =============================================================================================
// user block / unblock

#[test]
fn user_block_and_unblock_are_audited() {
    let db = TestDb::migrated();
    let store = db.store();
    let alice = add_user(&store, "alice", false);
    add_user(&store, "bob", false);

    // Block with a reason: audited with actor "cli".
    let out = success(&db.run(&["user", "block", "alice", "--reason", "spamming links"], None));
    assert_eq!(out.trim(), "blocked alice");
    assert!(db.user("alice").is_blocked);
    let log = store.violations(None, 10).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].user_id, Some(alice.id));
    assert_eq!(log[0].username.as_deref(), Some("alice"));
    assert_eq!(log[0].action, Action::Block);
    assert_eq!(log[0].actor, "cli");
    assert_eq!(log[0].reason.as_deref(), Some("spamming links"));
    assert_rfc3339_utc(&log[0].timestamp);

    // Again: nothing changes, nothing is audited.
    let out = success(&db.run(&["user", "block", "alice"], None));
    assert_eq!(out.trim(), "alice was already blocked; nothing changed");
    assert_eq!(store.violations(None, 10).unwrap().len(), 1);

    // Block without a reason.
    assert_eq!(success(&db.run(&["user", "block", "bob"], None)).trim(), "blocked bob");
    let log = store.violations(None, 10).unwrap();
    assert_eq!((log[0].username.as_deref(), log[0].reason.as_deref()), (Some("bob"), None));

    // Unknown users.
    for cmd in ["block", "unblock"] {
        let out = db.run(&["user", cmd, "nobody"], None);
        assert!(failure(&out).contains("no user named \"nobody\""), "{cmd}");
        assert!(out.stdout.is_empty());
    }
    assert_eq!(store.violations(None, 10).unwrap().len(), 2);
}

#[test]
fn user_unblock_resets_warnings_and_is_audited() {
    let db = TestDb::migrated();
    let store = db.store();
    let alice = add_user(&store, "alice", false);
    // Moderation blocks alice on her third violation.
    for _ in 0..3 {
        store.record_violation(alice.id, "some bad text", "bad", 3, &timefmt::now()).unwrap();
    }
    let before = db.user("alice");
    assert!(before.is_blocked);
    assert_eq!(before.warning_count, 3);
    let audited = store.violations(None, 10).unwrap().len();

    let out = success(&db.run(&["user", "unblock", "alice"], None));
    assert_eq!(out.trim(), "unblocked alice and reset their warnings");
    let after = db.user("alice");
    assert!(!after.is_blocked);
    assert_eq!(after.warning_count, 0);
    let log = store.violations(None, 10).unwrap();
    assert_eq!(log.len(), audited + 1);
    assert_eq!(log[0].action, Action::Unblock);
    assert_eq!(log[0].actor, "cli");
    assert_eq!(log[0].user_id, Some(alice.id));

    // Idempotent: nothing to do, nothing audited.
    let out = success(&db.run(&["user", "unblock", "alice"], None));
    assert_eq!(out.trim(), "alice is not blocked and has no warnings; nothing changed");
    assert_eq!(store.violations(None, 10).unwrap().len(), audited + 1);

    // Not blocked but warned: the warnings are reset (and audited).
    store.record_violation(alice.id, "bad again", "bad", 3, &timefmt::now()).unwrap();
    let out = success(&db.run(&["user", "unblock", "alice"], None));
    assert_eq!(out.trim(), "alice was not blocked; reset their warnings to 0");
    assert_eq!(db.user("alice").warning_count, 0);
    assert_eq!(store.violations(None, 10).unwrap()[0].action, Action::Unblock);
}

#[test]
fn user_block_waits_for_another_writer_instead_of_failing() {
    let db = TestDb::migrated();
    let alice = add_user(&db.store(), "alice", false);

    let (locked_tx, locked_rx) = mpsc::channel();
    let path = db.path.clone();
    let holder = thread::spawn(move || {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        conn.execute(
            "INSERT INTO messages (sender_id, content, timestamp) VALUES (?1, 'held', ?2)",
            rusqlite::params![alice.id, timefmt::now()],
        )
        .unwrap();
        locked_tx.send(()).unwrap();
        thread::sleep(Duration::from_secs(1));
        conn.execute_batch("COMMIT").unwrap();
    });
    locked_rx.recv().unwrap();
    let out = db.run(&["user", "block", "alice", "--reason", "while locked"], None);
    holder.join().unwrap();

    assert_eq!(success(&out).trim(), "blocked alice");
    assert!(!stderr(&out).contains("locked"), "{}", describe(&out));
    assert!(db.user("alice").is_blocked);
    assert_eq!(db.store().violations(None, 1).unwrap()[0].reason.as_deref(), Some("while locked"));
}

// =============================================================================================
// messages export

const TRICKY: &[&str] = &[
    "plain text",
    "comma, inside",
    "quote \" inside",
    "\"starts with a quote\"",
    "line one\nline two",
    "crlf\r\nline",
    "trailing newline\n",
    "emoji 🎉 👩‍👩‍👧 ✓ ünïcödé",
    "",
    "  spaces around  ",
    "'already quoted",
    "a = b is not a formula",
    "=1+1",
    "=HYPERLINK(\"http://evil.example\",\"click\")",
    "+1",
    "-1",
    "@SUM(A1:A9)",
    "\tleading tab",
    "\rleading carriage return",
];

/// Alice's tricky messages plus one from "-mallory", whose name itself looks like a formula.
fn tricky_db() -> (TestDb, Vec<Message>) {
    let db = TestDb::migrated();
    let store = db.store();
    let alice = add_user(&store, "alice", false);
    let mallory = add_user(&store, "-mallory", false);
    let mut msgs = add_messages(&store, &alice, TRICKY, "2026-03-01T12:34:56.789Z");
    msgs.extend(add_messages(&store, &mallory, &["hi, from mallory"], &timefmt::now()));
    (db, msgs)
}

#[test]
fn export_round_trips_content_and_neutralises_formulas() {
    let (db, msgs) = tricky_db();

    let out = db.run(&["messages", "export", "--csv"], None);
    let rows = parse_export(success(&out).as_bytes());
    assert!(out.stderr.is_empty(), "{}", describe(&out));
    assert_eq!(rows.len(), msgs.len());
    for (row, msg) in rows.iter().zip(&msgs) {
        let expected = Row {
            id: msg.id,
            sender_id: msg.sender_id,
            sender_username: neutralised(&msg.username),
            content: neutralised(&msg.content),
            timestamp: msg.timestamp.clone(),
        };
        assert_eq!(row, &expected);
        assert_rfc3339_utc(&row.timestamp);
    }
    // Spot checks of the neutralisation itself.
    let by_content = |c: &str| rows.iter().any(|r| r.content == c);
    assert!(by_content("'=1+1") && by_content("'-1") && by_content("'\tleading tab"));
    assert!(by_content("a = b is not a formula") && by_content("'already quoted"));
    assert_eq!(rows.last().unwrap().sender_username, "'-mallory");

    // --raw: exactly as stored.
    let rows = parse_export(success(&db.run(&["messages", "export", "--csv", "--raw"], None)).as_bytes());
    let expected: Vec<Row> = msgs
        .iter()
        .map(|m| Row {
            id: m.id,
            sender_id: m.sender_id,
            sender_username: m.username.clone(),
            content: m.content.clone(),
            timestamp: m.timestamp.clone(),
        })
        .collect();
    assert_eq!(rows, expected);

    // --csv is optional (CSV is the export format).
    assert_eq!(
        db.run(&["messages", "export"], None).stdout,
        db.run(&["messages", "export", "--csv"], None).stdout
    );
}

#[test]
fn export_of_an_empty_history_is_just_the_header() {
    let db = TestDb::migrated();
    let out = success(&db.run(&["messages", "export", "--csv"], None));
    assert_eq!(out, "id,sender_id,sender_username,content,timestamp,room,edited_at\n");
}

#[test]
fn export_to_a_file_is_atomic_and_complete() {
    let (db, msgs) = tricky_db();
    let out_dir = db.dir.path().join("exports");
    std::fs::create_dir(&out_dir).unwrap();
    let target = out_dir.join("messages.csv");
    // A previous export is replaced as a whole.
    std::fs::write(&target, "old export that is much longer than nothing\n".repeat(1000)).unwrap();

    let to_stdout = success(&db.run(&["messages", "export", "--csv"], None));
    let out = db.run(&["messages", "export", "--csv", "--output", target.to_str().unwrap()], None);
    assert!(success(&out).is_empty(), "--output must keep stdout empty");
    assert!(
        stderr(&out).contains(&format!("wrote {} messages", msgs.len())),
        "should report the count\n{}",
        describe(&out)
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), to_stdout, "file and stdout exports differ");
    assert_eq!(parse_export(&std::fs::read(&target).unwrap()).len(), msgs.len());
    assert_eq!(file_names(&out_dir), ["messages.csv"], "a temporary file was left behind");

    // -o, relative to the working directory.
    let out = run_command(
        {
            let mut c = chatterbox();
            c.current_dir(&out_dir).arg("--db").arg(&db.path).args(["messages", "export", "-o", "rel.csv"]);
            c
        },
        None,
    );
    success(&out);
    assert_eq!(std::fs::read_to_string(out_dir.join("rel.csv")).unwrap(), to_stdout);
    assert_eq!(file_names(&out_dir), ["messages.csv", "rel.csv"]);

    // A folder that does not exist: a clear failure and no file anywhere.
    let missing = out_dir.join("no/such/folder/x.csv");
    let out = db.run(&["messages", "export", "--output", missing.to_str().unwrap()], None);
    assert!(failure(&out).contains("no/such/folder"), "{}", describe(&out));
    assert!(out.stdout.is_empty());

    // The target is a folder: a failure, the folder untouched and no temporary file left.
    let folder = out_dir.join("a-folder");
    std::fs::create_dir(&folder).unwrap();
    failure(&db.run(&["messages", "export", "--output", folder.to_str().unwrap()], None));
    assert!(folder.is_dir());
    assert_eq!(file_names(&out_dir), ["a-folder", "messages.csv", "rel.csv"]);
}

#[test]
fn export_filters_by_time_and_id() {
    let db = TestDb::migrated();
    let store = db.store();
    let alice = add_user(&store, "alice", false);
    let day1 = add_messages(&store, &alice, &["d1 a", "d1 b"], &ts(1, 10));
    let day2 = add_messages(&store, &alice, &["d2 a", "d2 b", "d2 c"], &ts(2, 10));
    let day3 = add_messages(&store, &alice, &["d3 a"], &ts(3, 23));
    let all: Vec<i64> = [&day1, &day2, &day3].iter().flat_map(|d| msg_ids(d)).collect();
    let export = |args: &[&str]| {
        let mut full = vec!["messages", "export", "--csv"];
        full.extend_from_slice(args);
        ids(&parse_export(success(&db.run(&full, None)).as_bytes()))
    };
    let cat = |parts: &[&Vec<Message>]| parts.iter().flat_map(|p| msg_ids(p)).collect::<Vec<_>>();

    assert_eq!(export(&[]), all);
    // Dates mean midnight UTC; --since is inclusive, --until exclusive.
    assert_eq!(export(&["--since", "2026-01-02"]), cat(&[&day2, &day3]));
    assert_eq!(export(&["--until", "2026-01-03"]), cat(&[&day1, &day2]));
    assert_eq!(export(&["--since", "2026-01-02", "--until", "2026-01-03"]), msg_ids(&day2));
    assert_eq!(export(&["--since", "2026-01-02T10:00:00Z"]), cat(&[&day2, &day3]));
    assert_eq!(export(&["--until", "2026-01-02T10:00:00Z"]), msg_ids(&day1));
    // Offsets are converted to UTC: 11:00+01:00 is 10:00Z.
    assert_eq!(export(&["--until", "2026-01-02T11:00:00+01:00"]), msg_ids(&day1));
    assert_eq!(export(&["--since", "2026-01-02T11:00:00+01:00"]), cat(&[&day2, &day3]));
    assert_eq!(export(&["--since", "2026-01-02T10:00:00.001Z"]), msg_ids(&day3));
    assert_eq!(export(&["--since", "2027-01-01"]), Vec::<i64>::new());
    // Incremental exports.
    assert_eq!(export(&["--after-id", &day1[1].id.to_string()]), cat(&[&day2, &day3]));
    assert_eq!(export(&["--after-id", &day3[0].id.to_string()]), Vec::<i64>::new());
    assert_eq!(export(&["--after-id", "0"]), all);
    assert_eq!(
        export(&["--after-id", &day2[0].id.to_string(), "--until", "2026-01-03"]),
        day2[1..].iter().map(|m| m.id).collect::<Vec<_>>()
    );

    // Invalid times name the flag; nothing is written.
    for (flag, value) in [
        ("--since", "yesterday"),
        ("--until", "2026-13-01"),
        ("--since", "2026-01-02 10:00"),
        ("--until", ""),
        ("--since", "1700000000"),
    ] {
        // A usage error (exit 2), like any other invalid option value.
        let err = usage_error(&db.run(&["messages", "export", "--csv", flag, value], None));
        assert!(err.contains(flag), "{flag} {value:?}: {err}");
        assert!(err.contains("RFC 3339"), "{flag} {value:?} should say what is expected: {err}");
    }
    let out_file = db.dir.path().join("bad.csv");
    usage_error(&db.run(&["messages", "export", "--since", "nope", "-o", out_file.to_str().unwrap()], None));
    assert!(!out_file.exists());
}

#[test]
fn export_into_a_closed_pipe_exits_0_quietly() {
    let db = TestDb::migrated();
    let store = db.store();
    let alice = add_user(&store, "alice", false);
    let contents: Vec<String> =
        (0..20_000).map(|i| format!("message number {i}, long enough to fill the pipe quickly")).collect();
    add_messages(&store, &alice, &contents, &timefmt::now());

    let out = Command::new("bash")
        .args(["-c", r#"set -o pipefail; "$0" --db "$1" messages export --csv | head -1"#, BIN])
        .arg(&db.path)
        .env_remove("CHATTERBOX_DB")
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run bash");
    assert_eq!(success(&out), "id,sender_id,sender_username,content,timestamp,room,edited_at\n");
    assert!(out.stderr.is_empty(), "stderr should be empty\n{}", describe(&out));
}

#[test]
fn export_reads_committed_rows_while_another_connection_writes() {
    let db = TestDb::migrated();
    let store = db.store();
    let alice = add_user(&store, "alice", false);
    let committed = add_messages(&store, &alice, &["one", "two", "three"], &timefmt::now());
    drop(store);

    let writer = rusqlite::Connection::open(&db.path).unwrap();
    writer.execute_batch("BEGIN IMMEDIATE").unwrap();
    writer
        .execute(
            "INSERT INTO messages (sender_id, content, timestamp) VALUES (?1, 'not committed', ?2)",
            rusqlite::params![alice.id, timefmt::now()],
        )
        .unwrap();

    let stdout_export = db.run(&["messages", "export", "--csv"], None);
    let file = db.dir.path().join("during-write.csv");
    let file_export = db.run(&["messages", "export", "--output", file.to_str().unwrap()], None);
    writer.execute_batch("COMMIT").unwrap();

    let rows = parse_export(success(&stdout_export).as_bytes());
    assert_eq!(ids(&rows), msg_ids(&committed));
    assert!(rows.iter().all(|r| r.content != "not committed"));
    success(&file_export);
    assert_eq!(ids(&parse_export(&std::fs::read(&file).unwrap())), msg_ids(&committed));

    // Once committed, the next export sees it.
    let rows = parse_export(success(&db.run(&["messages", "export"], None)).as_bytes());
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[3].content, "not committed");
}

#[test]
fn export_output_follows_a_symlink_and_keeps_it() {
    let (db, msgs) = tricky_db();
    let expected = success(&db.run(&["messages", "export"], None));
    let (exports, real) = (db.dir.path().join("exports"), db.dir.path().join("real"));
    std::fs::create_dir(&exports).unwrap();
    std::fs::create_dir(&real).unwrap();
    std::fs::write(real.join("messages.csv"), "previous export\n").unwrap();
    std::os::unix::fs::symlink("../real/messages.csv", exports.join("latest.csv")).unwrap();
    // A link to a file that does not exist yet.
    std::os::unix::fs::symlink("../real/new.csv", exports.join("new.csv")).unwrap();

    for (name, points_to) in [("latest.csv", "../real/messages.csv"), ("new.csv", "../real/new.csv")] {
        let link = exports.join(name);
        let out = db.run(&["messages", "export", "--output", link.to_str().unwrap()], None);
        assert!(stderr(&out).contains(&format!("wrote {} messages", msgs.len())), "{}", describe(&out));
        assert!(success(&out).is_empty());
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "{name} was replaced");
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new(points_to));
        assert_eq!(std::fs::read_to_string(&link).unwrap(), expected, "{name}");
    }
    // The link target was replaced in its own folder; no temporary file anywhere.
    assert_eq!(file_names(&exports), ["latest.csv", "new.csv"]);
    assert_eq!(file_names(&real), ["messages.csv", "new.csv"]);

    // A symlink loop is a clear failure.
    std::os::unix::fs::symlink("loop-b", exports.join("loop-a")).unwrap();
    std::os::unix::fs::symlink("loop-a", exports.join("loop-b")).unwrap();
    let err = failure(&db.run(&["messages", "export", "-o", exports.join("loop-a").to_str().unwrap()], None));
    assert!(err.contains("symbolic links"), "{err}");
}

#[test]
fn export_output_refuses_another_users_symlink_in_a_shared_folder() {
    use std::os::unix::{ffi::OsStrExt, fs::PermissionsExt};

    let (db, _) = tricky_db();
    // Like /tmp: sticky and world-writable. Another user plants a link to a file of ours there.
    let shared = db.dir.path().join("tmp");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let victim = db.dir.path().join("cron-job");
    std::fs::write(&victim, "untouched\n").unwrap();
    let link = shared.join("messages.csv");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let c_link = std::ffi::CString::new(link.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; lchown has no other preconditions.
    let rc = unsafe { libc::lchown(c_link.as_ptr(), 65534, 65534) };
    if rc != 0 {
        // Not root: the test user cannot give a link away, and what it owns is followed.
        assert_ne!(unsafe { libc::geteuid() }, 0, "lchown failed as root");
        eprintln!("skipped: lchown needs root");
        return;
    }

    let err = failure(&db.run(&["messages", "export", "--csv", "--output", link.to_str().unwrap()], None));
    assert!(err.contains(link.to_str().unwrap()) && err.contains("sticky world-writable"), "{err}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched\n");
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(file_names(&shared), ["messages.csv"]);
    assert_eq!(file_names(db.dir.path()), ["chatterbox.db", "cron-job", "tmp"]);
}

#[test]
fn export_output_writes_into_a_fifo() {
    use std::os::unix::{fs::FileTypeExt, fs::OpenOptionsExt, io::AsRawFd};

    let (db, _) = tricky_db();
    let expected = success(&db.run(&["messages", "export"], None));
    let fifo = db.dir.path().join("export.fifo");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo has no other preconditions.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");

    // The reader is opened without blocking, and a writer of our own keeps it from seeing the
    // end until the export has run, whether or not the export ever opens the FIFO.
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .expect("open reader");
    let keep_open = std::fs::OpenOptions::new().write(true).open(&fifo).expect("open writer");
    // SAFETY: fcntl on a descriptor we own, only changing its O_NONBLOCK flag.
    unsafe {
        let flags = libc::fcntl(reader.as_raw_fd(), libc::F_GETFL);
        assert_eq!(libc::fcntl(reader.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK), 0);
    }
    let drain = thread::spawn(move || {
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut &reader, &mut data).expect("read the FIFO");
        data
    });
    let out = db.run(&["messages", "export", "--output", fifo.to_str().unwrap()], None);
    drop(keep_open);
    let received = drain.join().unwrap();
    success(&out);
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "the FIFO was replaced");
    assert_eq!(String::from_utf8(received).unwrap(), expected);
    assert_eq!(file_names(db.dir.path()), ["chatterbox.db", "export.fifo"]);
}

#[test]
fn export_output_dash_is_stdout() {
    let (db, _) = tricky_db();
    let expected = success(&db.run(&["messages", "export"], None));
    let cwd = tempfile::tempdir().unwrap();
    let mut cmd = chatterbox();
    cmd.current_dir(cwd.path()).arg("--db").arg(&db.path).args(["messages", "export", "--output", "-"]);
    let out = run_command(cmd, None);
    assert_eq!(success(&out), expected);
    assert!(out.stderr.is_empty(), "{}", describe(&out));
    assert_eq!(file_names(cwd.path()), Vec::<String>::new(), "a file was created");
}

#[test]
fn export_output_to_dev_null_keeps_the_device() {
    use std::os::unix::fs::FileTypeExt;

    let (db, msgs) = tricky_db();
    let out = db.run(&["messages", "export", "--output", "/dev/null"], None);
    assert!(
        stderr(&out).contains(&format!("wrote {} messages to /dev/null", msgs.len())),
        "{}",
        describe(&out)
    );
    success(&out);
    assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device());
}

#[test]
fn interrupted_export_leaves_no_temporary_file() {
    use std::os::unix::process::ExitStatusExt;

    let db = TestDb::migrated();
    let store = db.store();
    let alice = add_user(&store, "alice", false);
    let contents: Vec<String> = (0..200_000)
        .map(|i| format!("message {i}: long enough that the export takes a while to write"))
        .collect();
    add_messages(&store, &alice, &contents, &timefmt::now());
    drop(store);
    let dir = db.dir.path().join("exports");
    std::fs::create_dir(&dir).unwrap();
    let target = dir.join("messages.csv");

    for signal in [libc::SIGINT, libc::SIGTERM] {
        std::fs::write(&target, "previous export\n").unwrap();
        let mut cmd = chatterbox();
        cmd.arg("--db").arg(&db.path).args(["messages", "export", "--output", target.to_str().unwrap()]);
        let mut child =
            cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let pid = child.id() as libc::pid_t;
        // Wait for the temporary file, then freeze the export to know it is still mid-way.
        while file_names(&dir).len() < 2 {
            assert!(child.try_wait().unwrap().is_none(), "the export ended before it could be interrupted");
        }
        // SAFETY: kill on our own child's pid, which cannot have been reused: it is not reaped.
        unsafe { libc::kill(pid, libc::SIGSTOP) };
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            "previous export\n",
            "the export finished before it could be interrupted; it needs more rows"
        );
        // SAFETY: as above.
        unsafe {
            libc::kill(pid, signal);
            libc::kill(pid, libc::SIGCONT);
        }
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.signal(),
            Some(signal),
            "the export must end by the signal\n{}",
            describe(&out)
        );
        assert_eq!(file_names(&dir), ["messages.csv"], "a temporary file was left behind (signal {signal})");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "previous export\n");
    }
}

const TERMINAL_TRAPS: &[&str] = &[
    "\u{1b}]0;pwned\u{7}title",
    "\u{1b}[2J\u{1b}[Hcleared",
    "\u{202e}gnp.exe",
    "csi\u{9b}31m",
    "del\u{7f}",
    "cr\roverwrite",
    "tab\there",
    "line one\nline two",
];

/// What a terminal shows of each of `TERMINAL_TRAPS`.
const TERMINAL_SHOWN: &[&str] = &[
    "\\x1b]0;pwned\\x07title",
    "\\x1b[2J\\x1b[Hcleared",
    "\\u{202e}gnp.exe",
    "csi\\u{9b}31m",
    "del\\x7f",
    "cr\\roverwrite",
    "tab\\there",
    "line one\nline two",
];

/// Runs `chatterbox --db DB ARGS...` with stdout on a pseudo-terminal; its stdout in the result
/// is what the terminal received, with the terminal's CR LF turned back into LF.
fn run_on_terminal(db: &Path, args: &[&str]) -> Output {
    use std::os::fd::{FromRawFd, OwnedFd};

    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize { ws_row: 50, ws_col: 200, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: openpty fills in two new descriptors; no name buffer or termios is passed.
    let rc = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &size) };
    assert_eq!(rc, 0, "openpty");
    // SAFETY: both descriptors were just opened by openpty and are owned by nothing else.
    let (master, slave) = unsafe { (std::fs::File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut cmd = chatterbox();
    cmd.arg("--db").arg(db).args(args).stdin(Stdio::null()).stdout(Stdio::from(slave)).stderr(Stdio::piped());
    let child = cmd.spawn().expect("start chatterbox");
    // The parent's copy of the terminal's end must close, or the reader never sees the end.
    drop(cmd);
    let reader = thread::spawn(move || {
        let mut data = Vec::new();
        let mut buf = [0u8; 4096];
        // Once the child is gone, the master reports EIO: that is the end.
        while let Ok(n @ 1..) = std::io::Read::read(&mut &master, &mut buf) {
            data.extend_from_slice(&buf[..n]);
        }
        data
    });
    let mut out = child.wait_with_output().expect("wait for chatterbox");
    let shown = String::from_utf8(reader.join().unwrap()).expect("terminal output is UTF-8");
    out.stdout = shown.replace("\r\n", "\n").into_bytes();
    out
}

/// No byte or character that would act on a terminal (other than line feeds).
fn assert_terminal_safe(text: &str, what: &str) {
    let bad = text.chars().find(|&c| {
        (c.is_control() && c != '\n') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    });
    assert_eq!(bad, None, "{what} passes a control character to the terminal:\n{text}");
}

#[test]
fn export_to_a_terminal_escapes_control_characters() {
    let db = TestDb::migrated();
    let store = db.store();
    let eve = add_user(&store, "eve\u{1b}[8m", false);
    let msgs = add_messages(&store, &eve, TERMINAL_TRAPS, &timefmt::now());

    let out = run_on_terminal(&db.path, &["messages", "export"]);
    let shown = success(&out);
    assert_terminal_safe(&shown, "messages export");
    let rows = parse_export(shown.as_bytes());
    assert_eq!(rows.iter().map(|r| r.content.as_str()).collect::<Vec<_>>(), TERMINAL_SHOWN);
    assert!(rows.iter().all(|r| r.sender_username == "eve\\x1b[8m"), "{rows:?}");
    // --output - is stdout, so it is escaped the same way.
    assert_eq!(success(&run_on_terminal(&db.path, &["messages", "export", "-o", "-"])), shown);

    // To a pipe (and so to a file), the export stays exact.
    let rows = parse_export(success(&db.run(&["messages", "export", "--raw"], None)).as_bytes());
    assert_eq!(rows.iter().map(|r| r.content.clone()).collect::<Vec<_>>(), TERMINAL_TRAPS);
    assert_eq!(ids(&rows), msg_ids(&msgs));
    assert!(rows.iter().all(|r| r.sender_username == eve.username));
}

#[test]
fn user_list_escapes_control_characters_for_people() {
    let db = TestDb::migrated();
    let store = db.store();
    add_user(&store, "eve\u{1b}[8m", false);
    add_user(&store, "\u{202e}nimda", true);
    add_user(&store, "bell\u{7}\u{9b}", false);

    // The table is for people: escaped even in a pipe.
    let table = success(&db.run(&["user", "list"], None));
    assert_terminal_safe(&table, "user list (table)");
    for shown in ["eve\\x1b[8m", "\\u{202e}nimda", "bell\\x07\\u{9b}", "eve\\x1b[8m@example.com"] {
        assert!(table.contains(shown), "table lacks {shown:?}:\n{table}");
    }

    // CSV in a pipe is exact; on a terminal, escaped.
    let csv = success(&db.run(&["user", "list", "--format", "csv"], None));
    assert!(
        csv.contains("eve\u{1b}[8m,") && csv.contains("\u{202e}nimda,") && csv.contains("bell\u{7}\u{9b},")
    );
    let shown = success(&run_on_terminal(&db.path, &["user", "list", "--format", "csv"]));
    assert_terminal_safe(&shown, "user list --format csv");
    assert!(shown.contains("eve\\x1b[8m,") && shown.contains("\\u{202e}nimda,"), "{shown}");

    // JSON escapes them its own way: safe text, exact values.
    let json = success(&db.run(&["user", "list", "--format", "json"], None));
    assert_terminal_safe(&json, "user list --format json");
    let users: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    let names: Vec<&str> = users.iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["eve\u{1b}[8m", "\u{202e}nimda", "bell\u{7}\u{9b}"]);
}

#[test]
fn serve_refuses_a_token_ttl_too_long_to_represent() {
    use std::io::BufRead;

    let db = TestDb::missing();
    let mut cmd = chatterbox();
    cmd.arg("--db").arg(&db.path).args(["serve", "--listen", "127.0.0.1:0", "--token-ttl", "9999999999999d"]);
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut log = String::new();
    for line in std::io::BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.contains("listening on") {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the server started with a token lifetime it cannot represent:\n{log}{line}");
        }
        log.push_str(&line);
        log.push('\n');
    }
    let status = child.wait().unwrap();
    // Like every other invalid `serve` option: exit 1 with one line saying what is allowed.
    assert_eq!(status.code(), Some(1), "{log}");
    assert_eq!(log.lines().count(), 1, "{log}");
    assert!(log.starts_with("chatterbox: error: invalid --token-ttl \"9999999999999d\""), "{log}");
    assert!(log.contains("at most 3650d"), "{log}");
    assert!(!db.path.exists(), "the database was created");
}
