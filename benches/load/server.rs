//! The server under test: a freshly spawned `chatterbox serve` on a temporary database (killed on
//! drop, also on panic), or an attached one (`--url`, `--db`, `--jwt-secret`). Seeds accounts
//! and private rooms through the library, mints tokens, and reads the server's CPU time and
//! memory from /proc.

use std::{
    io::{BufRead, BufReader, Write},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chatterbox::store::{NewRoom, NewUser, RoomKind, SqliteStore, Store, StoreError};

use crate::Opts;

/// The password of every seeded account (the login storm signs in with it).
pub const PASSWORD: &str = "bench-password-1";

/// What the bench passes to `chatterbox serve`, printed in the report.
pub const SERVER_FLAGS: &[&str] = &[
    "--listen",
    "127.0.0.1:0",
    "--message-burst",
    "1000000",
    "--message-rate",
    "1000000",
    "--rate-limit-off",
    "--max-connections",
    "50000",
    // Every bench client connects from 127.0.0.1, like clients behind one reverse proxy.
    "--max-connections-per-ip",
    "50000",
    "--grace-period",
    "2",
];

/// Counts of notable server log lines (stderr), with a few samples.
#[derive(Default)]
pub struct LogStats {
    pub warn: u64,
    pub error: u64,
    pub fell_behind: u64,
    pub samples: Vec<String>,
}

pub struct ServerGuard {
    child: Child,
    stderr_thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SIGTERM for a graceful stop (grace period 2 s), SIGKILL if it is not gone in 5 s.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                _ => {
                    eprintln!("load: server {pid} did not stop after SIGTERM; killing it");
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
            }
        }
        if let Some(t) = self.stderr_thread.take() {
            let _ = t.join();
        }
    }
}

pub struct Target {
    pub addr: SocketAddr,
    pub secret: String,
    pub pid: Option<u32>,
    pub spawned: bool,
    pub log: Arc<Mutex<LogStats>>,
    pub log_path: Option<PathBuf>,
    /// Seeded accounts: (user id, username); client i uses users[i].
    pub users: Vec<(i64, String)>,
    /// Ids of the seeded private rooms, in the order of `RoomSeed::members`.
    pub rooms: Vec<i64>,
    /// Seconds seeding took, accounts and rooms; of which rooms.
    pub seed_secs: f64,
    pub room_seed_secs: f64,
    // Field order matters: the server is killed before its temporary folder is removed.
    guard: Option<ServerGuard>,
    _tmp: Option<tempfile::TempDir>,
}

impl Target {
    pub fn ws_url(&self, token: &str, since: Option<i64>) -> String {
        match since {
            Some(s) => format!("ws://{}/ws?token={token}&since={s}", self.addr),
            None => format!("ws://{}/ws?token={token}", self.addr),
        }
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Signs a token exactly like the server does (HS256, same claims), so the server still
    /// verifies it and reads the account at every handshake.
    pub fn token(&self, i: usize) -> String {
        let (id, name) = &self.users[i];
        mint_token(&self.secret, *id, name)
    }

    pub fn log_stats(&self) -> (u64, u64, u64, Vec<String>) {
        let l = self.log.lock().unwrap();
        (l.warn, l.error, l.fell_behind, l.samples.clone())
    }

    /// Starts a fresh server (or uses the attached one) with at least `n_users` accounts and
    /// the private rooms of `rooms`.
    pub fn start(
        opts: &Opts,
        hash: &str,
        n_users: usize,
        rooms: &RoomSeed,
        pin: bool,
    ) -> Result<Target, String> {
        match &opts.url {
            Some(url) => Self::attach(opts, url, hash, n_users, rooms),
            None => Self::spawn(opts, hash, n_users, rooms, pin),
        }
    }

    fn spawn(
        _opts: &Opts,
        hash: &str,
        n_users: usize,
        rooms: &RoomSeed,
        pin: bool,
    ) -> Result<Target, String> {
        let tmp = tempfile::Builder::new()
            .prefix("chatterbox-load-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary folder: {e}"))?;
        let db = tmp.path().join("bench.db");
        let seeded = seed(&db, hash, n_users, rooms)?;
        let secret = random_hex(32)?;
        let mut db_args = vec![std::ffi::OsString::from("--db"), db.clone().into_os_string()];
        db_args.push("serve".into());
        let log_path = tmp.path().join("server.log");
        let spawned = spawn_serve(&db_args, &secret, if pin { Pin::Cpu0 } else { Pin::Inherit }, &log_path)?;
        let (guard, addr, pid, log) = (spawned.guard, spawned.addr, spawned.pid, spawned.log);
        Ok(Target {
            addr,
            secret,
            pid: Some(pid),
            spawned: true,
            log,
            log_path: Some(log_path),
            users: seeded.users,
            rooms: seeded.rooms,
            seed_secs: seeded.secs,
            room_seed_secs: seeded.room_secs,
            guard: Some(guard),
            _tmp: Some(tmp),
        })
    }

    fn attach(
        opts: &Opts,
        url: &str,
        hash: &str,
        n_users: usize,
        rooms: &RoomSeed,
    ) -> Result<Target, String> {
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("ws://"))
            .ok_or("--url must look like http://127.0.0.1:PORT")?;
        let hostport = rest.split('/').next().unwrap_or("");
        let addr: SocketAddr = hostport
            .replace("localhost", "127.0.0.1")
            .parse()
            .map_err(|_| format!("--url {url}: expected http://127.0.0.1:PORT"))?;
        if !addr.ip().is_loopback() {
            return Err(
                "--url must be a loopback address (127.0.0.1): the bench never sends traffic elsewhere"
                    .into(),
            );
        }
        let db = opts.db.clone().ok_or("--url needs --db (the server's database, to seed accounts)")?;
        let secret = opts
            .jwt_secret
            .clone()
            .ok_or("--url needs --jwt-secret (the server's CHATTERBOX_JWT_SECRET, to mint tokens)")?;
        let seeded = seed(&db, hash, n_users, rooms)?;
        let pid = opts.server_pid.or_else(|| find_listener_pid(addr.port()));
        Ok(Target {
            addr,
            secret,
            pid,
            spawned: false,
            log: Arc::new(Mutex::new(LogStats::default())),
            log_path: None,
            users: seeded.users,
            rooms: seeded.rooms,
            seed_secs: seeded.secs,
            room_seed_secs: seeded.room_secs,
            guard: None,
            _tmp: None,
        })
    }

    pub fn stop(mut self) {
        self.guard.take();
    }
}

/// Where a spawned server may run.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Pin {
    /// CPU 0 only (`taskset -c 0`, or `sched_setaffinity` before exec without taskset).
    Cpu0,
    /// Whatever the bench has (CPU 1 only once it pinned itself).
    Inherit,
    /// Every CPU again, although the bench pinned itself (the cluster's processes share them).
    AnyCpu,
}

/// A spawned `chatterbox serve`, its address and its stderr statistics.
pub struct Spawned {
    pub guard: ServerGuard,
    pub addr: SocketAddr,
    pub pid: u32,
    pub log: Arc<Mutex<LogStats>>,
}

/// Makes a spawned process die with the bench and run where `pin` says.
pub fn child_setup(cmd: &mut Command, pin: Pin) {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            // If the bench dies without running its guards, the child goes with it.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            match pin {
                Pin::Cpu0 => libc::CPU_SET(0, &mut set),
                Pin::AnyCpu => (0..cpus).for_each(|c| libc::CPU_SET(c, &mut set)),
                Pin::Inherit => return Ok(()),
            }
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
            Ok(())
        });
    }
}

/// Starts `chatterbox ARGS SERVER_FLAGS` (ARGS: the database options and `serve`) with `secret`
/// as its token-signing secret, its stderr written to `log_path` and counted; waits for the
/// address it listens on.
pub fn spawn_serve(
    args: &[std::ffi::OsString],
    secret: &str,
    pin: Pin,
    log_path: &Path,
) -> Result<Spawned, String> {
    let bin = env!("CARGO_BIN_EXE_chatterbox");
    let taskset = which("taskset");
    let mut cmd = if pin == Pin::Cpu0 && taskset {
        let mut c = Command::new("taskset");
        c.args(["-c", "0", bin]);
        c
    } else {
        Command::new(bin)
    };
    cmd.args(args).args(SERVER_FLAGS);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("CHATTERBOX_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.env("CHATTERBOX_JWT_SECRET", secret)
        .env("CHATTERBOX_LOG_FORMAT", "text")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    child_setup(&mut cmd, if pin == Pin::Cpu0 && taskset { Pin::Inherit } else { pin });
    let mut child = cmd.spawn().map_err(|e| format!("cannot start {bin}: {e}"))?;
    let pid = child.id();
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(LogStats::default()));
    let mut log_file = std::fs::File::create(log_path).map_err(|e| e.to_string())?;
    let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
    let log2 = Arc::clone(&log);
    let thread = std::thread::Builder::new()
        .name("server-stderr".into())
        .spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = writeln!(log_file, "{line}");
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or("");
                    if let Ok(a) = addr.parse() {
                        let _ = tx.send(a);
                    }
                }
                let mut l = log2.lock().unwrap();
                let is_warn = line.contains(" WARN ");
                let is_err = line.contains(" ERROR ");
                if line.contains("fell behind") {
                    l.fell_behind += 1;
                } else if (is_warn || is_err) && l.samples.len() < 5 {
                    l.samples.push(line.chars().take(300).collect());
                }
                l.warn += is_warn as u64;
                l.error += is_err as u64;
            }
        })
        .map_err(|e| e.to_string())?;
    let mut guard = ServerGuard { child, stderr_thread: Some(thread) };
    let addr = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(a) => a,
        Err(_) => {
            let status = guard.child.try_wait().ok().flatten();
            drop(guard);
            let text = std::fs::read_to_string(log_path).unwrap_or_default();
            return Err(format!(
                    "the server did not report its address within 30 s (exit status {status:?}); its log:\n{text}"
                ));
        }
    };
    Ok(Spawned { guard, addr, pid, log })
}

/// Signs a token exactly like the server does (HS256, same claims), so the server still
/// verifies it and reads the account at every handshake.
pub fn mint_token(secret: &str, id: i64, name: &str) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let claims = serde_json::json!({
        "sub": id.to_string(), "user_id": id, "username": name, "is_admin": false,
        "iat": now, "exp": now + 6 * 3600,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("signing a token")
}

fn which(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false)
}

pub fn random_hex(bytes: usize) -> Result<String, String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| format!("no randomness: {e}"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Private rooms to seed along with the accounts.
#[derive(Default)]
pub struct RoomSeed {
    /// Goes into every room's name (`lb <label> <r>`): it names the layout, so a rerun on an
    /// attached database finds the rooms of the same layout again instead of colliding.
    pub label: String,
    /// The account indexes (into `Target::users`) of each room's members; the first creates it.
    pub members: Vec<Vec<usize>>,
}

pub struct Seeded {
    pub users: Vec<(i64, String)>,
    pub rooms: Vec<i64>,
    pub secs: f64,
    pub room_secs: f64,
}

/// Creates accounts `lb0..lb{n-1}` (or finds them, on an attached database) with one shared
/// bcrypt hash, then the rooms (one transaction each). The store is closed again before the
/// server starts.
fn seed(db: &Path, hash: &str, n: usize, rooms: &RoomSeed) -> Result<Seeded, String> {
    let t0 = Instant::now();
    let (store, _) =
        SqliteStore::open_and_migrate(db).map_err(|e| format!("cannot open {}: {e}", db.display()))?;
    seed_store(&store, t0, hash, n, rooms)
}

/// `seed` into any store (the cluster's PostgreSQL); `t0` is when seeding started.
pub fn seed_store(
    store: &dyn Store,
    t0: Instant,
    hash: &str,
    n: usize,
    rooms: &RoomSeed,
) -> Result<Seeded, String> {
    let created_at = chatterbox::timefmt::now();
    let mut users = Vec::with_capacity(n);
    for i in 0..n {
        let username = format!("lb{i}");
        let email = format!("lb{i}@bench.invalid");
        let new = NewUser {
            username: &username,
            email: &email,
            password_hash: hash,
            is_admin: false,
            created_at: &created_at,
        };
        let user = match store.create_user(&new) {
            Ok(u) => u,
            Err(StoreError::Conflict(_)) => store
                .user_by_username(&username)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("account {username} exists by e-mail only"))?,
            Err(e) => return Err(format!("cannot create account {username}: {e}")),
        };
        if user.is_blocked {
            return Err(format!("account {username} is blocked on this database"));
        }
        users.push((user.id, username));
    }
    let t1 = Instant::now();
    let mut ids = Vec::with_capacity(rooms.members.len());
    let mut member_ids = Vec::new();
    for (r, members) in rooms.members.iter().enumerate() {
        let name = format!("lb {} {r}", rooms.label);
        let key = chatterbox::chat::rooms::name_key(&name);
        member_ids.clear();
        member_ids.extend(members.iter().map(|&i| users[i].0));
        let new = NewRoom {
            kind: RoomKind::Private,
            name: Some(&name),
            name_key: Some(&key),
            topic: None,
            created_by: member_ids.first().copied(),
            members: &member_ids,
            timestamp: &created_at,
        };
        let fail = |e: StoreError| format!("room {name:?}: {e}");
        // An attached database that an earlier run seeded with the same layout has the room.
        let existing = store.rooms_by_name_key(&key).map_err(fail)?.into_iter().next();
        let id = match existing {
            Some(room) => {
                for &u in &member_ids {
                    if !store.is_member(room.id, u).map_err(fail)? {
                        store.add_member(room.id, u, &created_at).map_err(fail)?;
                    }
                }
                room.id
            }
            None => store.create_room(&new).map_err(|e| format!("cannot create room {name:?}: {e}"))?.id,
        };
        ids.push(id);
    }
    Ok(Seeded { users, rooms: ids, secs: t0.elapsed().as_secs_f64(), room_secs: t1.elapsed().as_secs_f64() })
}

/// For an attached server: the pid owning the listening socket on `port` (needs /proc access).
fn find_listener_pid(port: u16) -> Option<u32> {
    let mut inodes = Vec::new();
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 10 || cols[3] != "0A" {
                continue;
            }
            let p = cols[1].rsplit(':').next().and_then(|h| u16::from_str_radix(h, 16).ok());
            if p == Some(port) {
                inodes.push(format!("socket:[{}]", cols[9]));
            }
        }
    }
    if inodes.is_empty() {
        return None;
    }
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else { continue };
        for fd in fds.flatten() {
            if let Ok(link) = std::fs::read_link(fd.path()) {
                if inodes.iter().any(|i| link.as_os_str() == i.as_str()) {
                    return Some(pid);
                }
            }
        }
    }
    None
}

/// The server's end of one client connection, from /proc/net/tcp (works without a pid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerSide {
    /// An open socket of the server process, with this many bytes in its send queue.
    Held {
        send_queue: u64,
    },
    /// The server closed its socket; the kernel still tries to deliver what was queued.
    Closed {
        send_queue: u64,
    },
    Gone,
}

pub fn server_side(server_port: u16, client_port: u16) -> ServerSide {
    let text = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let port = |s: &str| s.rsplit(':').next().and_then(|h| u16::from_str_radix(h, 16).ok());
    for line in text.lines().skip(1) {
        let c: Vec<&str> = line.split_whitespace().collect();
        if c.len() < 10 || port(c[1]) != Some(server_port) || port(c[2]) != Some(client_port) {
            continue;
        }
        let send_queue = c[4].split(':').next().and_then(|h| u64::from_str_radix(h, 16).ok()).unwrap_or(0);
        return if c[9] == "0" { ServerSide::Closed { send_queue } } else { ServerSide::Held { send_queue } };
    }
    ServerSide::Gone
}

/// CPU seconds (user + system) of a process, from /proc/PID/stat.
pub fn cpu_secs(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    let after = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some(ticks as f64 / hz)
}

/// Busy CPU seconds of the whole machine (all CPUs, everything but idle and iowait), from
/// /proc/stat: with the server's and the generator's own time, shows what else ran meanwhile.
pub fn machine_busy_secs() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let busy = v.first()? + v.get(1)? + v.get(2)? + v.get(5)? + v.get(6)? + v.get(7).copied().unwrap_or(0);
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some(busy as f64 / hz)
}

/// CPU seconds the hypervisor gave to other guests while this VM wanted to run (all CPUs; the
/// steal column of /proc/stat).
pub fn machine_steal_secs() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let steal: u64 = text.lines().next()?.split_whitespace().nth(8)?.parse().ok()?;
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some(steal as f64 / hz)
}

/// (VmRSS, VmHWM) in KiB from /proc/PID/status.
pub fn mem_kib(pid: Option<u32>) -> Option<(u64, u64)> {
    let pid = pid?;
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        text.lines().find(|l| l.starts_with(name))?.split_whitespace().nth(1)?.parse().ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Number of open file descriptors of the process (its sockets, mostly).
pub fn fd_count(pid: Option<u32>) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{}/fd", pid?)).ok()?.count())
}

/// (thread name, CPU seconds) of every thread of the process, from /proc/PID/task.
pub fn thread_cpu(pid: Option<u32>) -> Vec<(String, f64)> {
    let Some(pid) = pid else { return Vec::new() };
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return out };
    for t in dir.flatten() {
        let Ok(text) = std::fs::read_to_string(t.path().join("stat")) else { continue };
        let (Some(a), Some(b)) = (text.find('('), text.rfind(')')) else { continue };
        let name = text[a + 1..b].to_string();
        let f: Vec<&str> = text[b + 1..].split_whitespace().collect();
        let ticks = f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        out.push((name, ticks as f64 / hz));
    }
    out
}

/// CPU seconds per thread name (the writer thread, and "chatterbox": the runtime's workers,
/// its blocking pool and the main thread, which all carry that name).
pub fn cpu_by_name(pid: Option<u32>) -> std::collections::BTreeMap<String, f64> {
    let mut m = std::collections::BTreeMap::new();
    for (name, secs) in thread_cpu(pid) {
        *m.entry(name).or_insert(0.0) += secs;
    }
    m
}

fn task_state(path: &str) -> Option<u8> {
    let text = std::fs::read_to_string(path).ok()?;
    let after = &text[text.rfind(')')? + 1..];
    after.trim_start().bytes().next()
}

/// Samples the server every 10 ms: its VmRSS (every 100 ms; `peak()` is the largest since the
/// last `reset()`) and the state of its message-writer thread (R running, S sleeping, D waiting
/// on the disk: fsync), to tell CPU-bound from commit-bound.
pub struct RssWatch {
    peak: std::sync::atomic::AtomicU64,
    /// Samples of the writer thread's state: [R, S, D, other].
    writer: [std::sync::atomic::AtomicU64; 4],
}

impl RssWatch {
    pub fn start(pid: Option<u32>) -> Arc<RssWatch> {
        let w = Arc::new(RssWatch { peak: Default::default(), writer: Default::default() });
        if let Some(p) = pid {
            let w2 = Arc::clone(&w);
            tokio::spawn(async move {
                let writer_stat = std::fs::read_dir(format!("/proc/{p}/task")).ok().and_then(|d| {
                    d.flatten().map(|t| t.path().join("stat")).find(|stat| {
                        std::fs::read_to_string(stat).map(|s| s.contains("(chatterbox-writ")).unwrap_or(false)
                    })
                });
                let writer_stat = writer_stat.map(|p| p.to_string_lossy().into_owned());
                let mut tick = tokio::time::interval(Duration::from_millis(10));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                let mut k = 0u64;
                loop {
                    tick.tick().await;
                    if Arc::strong_count(&w2) == 1 {
                        break;
                    }
                    if k.is_multiple_of(10) {
                        match mem_kib(pid) {
                            Some((rss, _)) => {
                                w2.peak.fetch_max(rss, std::sync::atomic::Ordering::Relaxed);
                            }
                            None => break,
                        }
                    }
                    k += 1;
                    if let Some(st) = writer_stat.as_deref().and_then(task_state) {
                        let i = match st {
                            b'R' => 0,
                            b'S' => 1,
                            b'D' => 2,
                            _ => 3,
                        };
                        w2.writer[i].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
        w
    }

    pub fn reset(&self, pid: Option<u32>) {
        let now = mem_kib(pid).map(|m| m.0).unwrap_or(0);
        self.peak.store(now, std::sync::atomic::Ordering::Relaxed);
        for c in &self.writer {
            c.store(0, std::sync::atomic::Ordering::Relaxed);
        }
    }

    pub fn peak(&self) -> u64 {
        self.peak.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn writer_raw(&self) -> [u64; 4] {
        std::array::from_fn(|i| self.writer[i].load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Percent of samples the writer thread was running / sleeping / in disk wait.
    pub fn writer_states(&self) -> Option<(f64, f64, f64)> {
        let v: Vec<u64> = self.writer.iter().map(|c| c.load(std::sync::atomic::Ordering::Relaxed)).collect();
        let total: u64 = v.iter().sum();
        (total > 0).then(|| {
            let p = |x: u64| 100.0 * x as f64 / total as f64;
            (p(v[0]), p(v[1]), p(v[2]))
        })
    }
}
