//! A throwaway PostgreSQL cluster for tests, started by the test binary itself, without Docker:
//! `initdb` into a temporary folder, `pg_ctl start` listening on a Unix socket in that folder
//! only, one database per test. As root it runs as the `postgres` user (PostgreSQL refuses to run
//! as root). A watchdog process stops the cluster and removes the folder when the test binary
//! ends, however it ends.
//!
//! Missing PostgreSQL binaries fail the test with a message saying how to install them, unless
//! `CHATTERBOX_SKIP_POSTGRES=1` is set (then `database()` returns None and the PostgreSQL half
//! of a test is skipped). `.ci/install-deps` installs them.
#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::{
        atomic::{AtomicUsize, Ordering},
        OnceLock,
    },
};

/// Any number: the socket lives in a folder of its own, so it cannot collide.
const PORT: u16 = 5432;

pub struct Cluster {
    dir: PathBuf,
    socket_dir: PathBuf,
    /// Root runs the server and its tools as this user.
    run_as: Option<String>,
    bin: PathBuf,
    /// The server's command-line options (`pg_ctl -o`).
    options: String,
}

static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// The cluster of this test binary, started on first use; None when skipped.
pub fn cluster() -> Option<&'static Cluster> {
    CLUSTER.get_or_init(start).as_ref()
}

/// A new empty database on the cluster, as a `--database-url`; None when PostgreSQL is skipped.
pub fn database() -> Option<String> {
    let cluster = cluster()?;
    let name = format!("t{}_{}", std::process::id(), NEXT_DB.fetch_add(1, Ordering::SeqCst));
    let mut admin = postgres::Client::connect(&cluster.url("postgres"), postgres::NoTls)
        .expect("connect to the test cluster");
    admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create a test database");
    Some(cluster.url(&name))
}

impl Cluster {
    /// The URL of database `name` on this cluster (a Unix socket folder as the host).
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@{}:{PORT}/{name}", encode(&self.socket_dir))
    }

    /// Runs a PostgreSQL tool (`pg_ctl`, ...) of this cluster's version as the cluster's owner.
    pub fn tool(&self, name: &str) -> Command {
        as_user(self.run_as.as_deref(), &self.bin.join(name))
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Stops the server at once, as a crash or a power cut would (`pg_ctl stop -m immediate`).
    /// Only for a test binary of its own: every test of the binary shares the cluster.
    pub fn stop_immediate(&self) {
        let out = self
            .tool("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "stop"])
            .output()
            .unwrap();
        assert!(out.status.success(), "pg_ctl stop: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Starts the server again after `stop_immediate` (it recovers from its WAL).
    pub fn start_again(&self) {
        pg_ctl_start(self.run_as.as_deref(), &self.bin, &self.dir, &self.options);
    }
}

fn pg_ctl_start(run_as: Option<&str>, bin: &Path, dir: &Path, options: &str) {
    let out = as_user(run_as, &bin.join("pg_ctl"))
        .arg("-D")
        .arg(dir.join("data"))
        .arg("-l")
        .arg(dir.join("server.log"))
        .args(["-o", options, "-w", "start"])
        .output()
        .expect("run pg_ctl");
    assert!(
        out.status.success(),
        "pg_ctl start failed: {}{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
    );
}

fn skipped() -> bool {
    std::env::var("CHATTERBOX_SKIP_POSTGRES").is_ok_and(|v| v == "1")
}

fn start() -> Option<Cluster> {
    let Some(bin) = find_bin() else {
        if skipped() {
            eprintln!(
                "PostgreSQL is not installed; skipping its half of the test (CHATTERBOX_SKIP_POSTGRES=1)"
            );
            return None;
        }
        panic!(
            "PostgreSQL's initdb and pg_ctl were not found (PATH, /usr/lib/postgresql/*/bin). Install them \
             with `bash .ci/install-deps` (Debian's `postgresql` package), or set CHATTERBOX_SKIP_POSTGRES=1 \
             to skip the PostgreSQL half of the tests"
        );
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let run_as = root.then(|| "postgres".to_string());
    let dir = tempfile::Builder::new().prefix("chatterbox-pg-").tempdir().expect("temporary folder").keep();
    let socket_dir = dir.join("sock");
    std::fs::create_dir(&socket_dir).unwrap();
    if let Some(user) = &run_as {
        let status = Command::new("chown").arg("-R").arg(format!("{user}:")).arg(&dir).status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "cannot give {} to the `{user}` user (PostgreSQL refuses to run as root)",
            dir.display()
        );
    }
    let data = dir.join("data");
    let out = as_user(run_as.as_deref(), &bin.join("initdb"))
        .args(["-D"])
        .arg(&data)
        .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"])
        .output()
        .expect("run initdb");
    assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
    // fsync off: nothing survives an OS crash, which tests do not have; a killed or
    // `stop -m immediate` server still keeps every commit it acknowledged (the outage test
    // relies on that, so synchronous_commit stays on).
    let options = format!(
        "-k {} -p {PORT} -c listen_addresses='' -c fsync=off -c full_page_writes=off -c max_connections=400",
        socket_dir.display()
    );
    pg_ctl_start(run_as.as_deref(), &bin, &dir, &options);
    watchdog(&dir, &bin, run_as.as_deref());
    Some(Cluster { dir, socket_dir, run_as, bin, options })
}

/// Stops the cluster and removes its folder once this process has ended.
// Never waited for: it outlives this process on purpose.
#[allow(clippy::zombie_processes)]
fn watchdog(dir: &Path, bin: &Path, run_as: Option<&str>) {
    let stop = as_user(run_as, &bin.join("pg_ctl"));
    let stop = std::iter::once(stop.get_program())
        .chain(stop.get_args())
        .map(|a| shell_quote(&a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ");
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {stop} -D {data} -m immediate stop >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        data = shell_quote(&dir.join("data").to_string_lossy()),
        dir = shell_quote(&dir.to_string_lossy()),
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the cluster's watchdog");
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn as_user(user: Option<&str>, program: &Path) -> Command {
    match user {
        Some(user) => {
            let mut c = Command::new("runuser");
            c.args(["-u", user, "--"]).arg(program);
            c
        }
        None => Command::new(program),
    }
}

/// The folder holding `initdb` and `pg_ctl`: on PATH, else Debian's newest
/// /usr/lib/postgresql/N/bin.
fn find_bin() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file());
    if on_path.is_some() {
        return on_path;
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<u32>().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// Percent-encodes a socket folder for the host part of a URL.
fn encode(path: &Path) -> String {
    path.to_string_lossy()
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
