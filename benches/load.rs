//! Load generator and benchmark for `chatterbox serve` (run with `cargo bench --bench load`).
//!
//! It starts the server on a fresh temporary database (or attaches to one with `--url`, `--db`
//! and `--jwt-secret`), seeds accounts directly through the library, mints tokens, opens
//! WebSocket connections with tokio-tungstenite and drives one of ten scenarios:
//!
//! - `idle`: hold 10,000 connections whose users are each in 20 private rooms besides
//!   `general`; RSS per idle connection.
//! - `fanout`: 100 clients all sending, total rate stepped up until delivery stops keeping up.
//! - `living`: fanout's steps while one more client edits and reacts 1,000 times a second.
//! - `room`: 1,000 clients, 10 senders, stepped the same way.
//! - `rooms`: 10,000 clients in 1,000 private rooms of 10, one sender in each, stepped the same
//!   way; each message must reach its room's members only.
//! - `login-storm`: 200 real logins (bcrypt cost 12) while fanout runs at half its maximum.
//! - `resume`: reconnect with `?since=ID` after 10,000 missed messages spread over 100 rooms
//!   (must take < 1 s); with `--changes N`, N edits, reactions and deletions of older messages
//!   happen meanwhile too.
//! - `slow-reader`: one client that never reads while the others chat.
//! - `cluster`: three instances on one PostgreSQL (`cargo bench --bench load -- cluster`, see
//!   `load/cluster.rs`): latency between instances, lost and duplicated, commit throughput.
//! - `ceiling`: no chatterbox at all: how many one-frame writes a second one core makes to
//!   10,000 loopback connections, and what reading them costs (`load/ceiling.rs`): the bound
//!   under every scenario whose frames go out one write each.
//!
//! With no scenario, all ten run in turn, each on its own fresh server (`cluster` is skipped,
//! saying so, when PostgreSQL is not installed and no `--database-url` is given). Results print as
//! aligned tables on stdout (diagnostics on stderr) and, with `--json FILE` (or `--json -`,
//! which moves the tables to stderr), as one JSON object.
//!
//! The 2-core machine is split: the server runs on CPU 0 (`taskset -c 0`), the load generator
//! on CPU 1 (`sched_setaffinity`, one tokio worker); `--no-pin` turns that off.

#[path = "load/ceiling.rs"]
mod ceiling;
#[path = "load/client.rs"]
mod client;
#[path = "load/cluster.rs"]
mod cluster;
#[path = "load/hist.rs"]
mod hist;
#[path = "load/living.rs"]
mod living;
#[path = "load/scenarios.rs"]
mod scenarios;
#[path = "load/server.rs"]
mod server;
#[path = "load/table.rs"]
mod table;

use std::{path::PathBuf, process::ExitCode, time::Instant};

pub const SCENARIOS: &[&str] = &[
    "idle",
    "fanout",
    "living",
    "room",
    "rooms",
    "login-storm",
    "resume",
    "slow-reader",
    "cluster",
    "ceiling",
];

const USAGE: &str = "\
usage: cargo bench --bench load -- [SCENARIO] [FLAGS]

scenarios (default: all of them, in this order, each on a fresh server):
  idle          hold --conns connections (10000) whose users each belong to
                --rooms-per-user (20) private rooms besides general; RSS per idle connection
  fanout        --conns clients (100), all sending; total rate stepped through --steps
                (1000,2000,5000,10000,15000,20000 msg/s) until delivery falls below 97 %
                of expected or p99 exceeds 250 ms
  living        fanout's clients (--conns 100) stepped through --steps (1000,2000,5000
                msg/s) while one more client sends --rate (1000) edits and reactions/s of
                its own messages; p99 per step (issue 13's target: <= 25 ms)
  room          --conns clients (1000) with --senders (10) senders; stepped like fanout
                (--steps default 50,100,200,500,1000,2000 msg/s)
  rooms         --conns clients (10000) in --rooms (1000) private rooms of conns/rooms
                members (disjoint); --senders (one a room) post to their own room; stepped
                like fanout (--steps default 5000,10000,20000,30000 msg/s); a message must
                reach its room's members only; committed msg/s, delivered frames/s, and
                whether issue 11's target (>= 20000 msg/s, p99 < 50 ms, none lost) is met
  login-storm   --logins (200) real POST /login at once while 100 clients chat at --rate
                (default: half of fanout's maximum sustained rate when fanout ran first,
                else 2500 msg/s)
  resume        reconnect with ?since=ID after --missed (10000) messages spread over
                --resume-rooms (100) private rooms of the resuming user (0: general); time
                to receive them all, each once (must be < 1 s); --repeat (3) reconnects;
                --changes N (0): also N edits (40 %), reactions (40 %) and deletions
                (20 %) of messages posted before the client left, sent meanwhile
  slow-reader   one client that never reads while --conns (100) clients with --senders (10)
                chat at --rate (1000 msg/s); others' p99 with and without it, server RSS
  cluster       three `serve --database-url` instances on a throwaway PostgreSQL (or
                --database-url); --conns (300) clients, client i on instance i % 3;
                --senders (30) post to general, stepped through --steps (1000,2000,5000
                msg/s): p50/p99 from a sender to receivers on the other instances, lost,
                duplicated; then the other clients, each alone in a private room, push
                --commit-total (60000) messages: msg/s committed (count in PostgreSQL /
                elapsed). Targets: >= 10000 msg/s committed; p99 < 50 ms at 1000 msg/s
  ceiling       no server: a process on CPU 0 writes message-sized frames round robin,
                flat out, one write(2) each, to --conns (10000) loopback connections,
                then to 100, then 10 frames per write to 100; writes/s and the CPU per
                frame of writer and generator: what any server could do on this machine

flags:
  --url URL            attach to a running server (http://127.0.0.1:PORT) instead of
                       starting one; needs --db PATH and --jwt-secret SECRET
  --server-pid PID     pid of the attached server (else found through /proc/net/tcp)
  --database-url URL   cluster: run on this PostgreSQL database instead of a throwaway one
  --commit-total N     cluster: messages pushed in the commit throughput step (60000)
  --json FILE|-        also write the results as JSON (to stdout with -, tables to stderr)
  --no-pin             do not pin the server to CPU 0 and the generator to CPU 1
  --conns N            clients in the scenario
  --senders S          how many of them send
  --rate R             total msg/s (login-storm, slow-reader, resume's refill); living:
                       edits and reactions/s (1000)
  --changes N          resume: edits, reactions and deletions while away (0)
  --steps A,B,...      total msg/s of each step (fanout, room, rooms)
  --step-secs D        seconds per step (5)
  --duration D         seconds of each measured phase (login-storm before/after: 5;
                       slow-reader baseline: 10, its slow phase at most 12x this)
  --size BYTES         text length of each message (100)
  --open-concurrency N handshakes in flight while opening (200)
  --hold SECS          idle: how long the connections are held before measuring (5)
  --rooms-per-user N   idle: private rooms each user is in besides general (20); room r
                       holds users r..r+N-1, so N rooms of N members each (0: none)
  --rooms N            rooms: private rooms the clients are split into (1000)
  --resume-rooms N     resume: rooms the missed messages are spread over (100; 0: general)
  --logins N           login-storm: logins at once (200)
  --missed N           resume: messages missed while away (10000)
  --repeat N           resume: reconnects measured (3)
  --p99-limit MS       step fails above this p99 (250)
  --min-delivery F     step fails below this fraction delivered (0.97)
  --timeout SECS       hard limit per scenario (default depends on the scenario)
  --bcrypt-cost N      cost of the seeded password hash (12, the server's default)
  --bench              ignored (cargo passes it)";

#[derive(Debug, Clone)]
pub struct Opts {
    pub scenario: Option<String>,
    pub url: Option<String>,
    pub db: Option<PathBuf>,
    pub jwt_secret: Option<String>,
    pub server_pid: Option<u32>,
    pub json: Option<String>,
    pub no_pin: bool,
    pub conns: Option<usize>,
    pub senders: Option<usize>,
    pub rate: Option<f64>,
    pub steps: Option<Vec<f64>>,
    pub step_secs: f64,
    pub duration: Option<f64>,
    pub size: usize,
    pub open_concurrency: usize,
    pub hold: f64,
    pub logins: usize,
    pub missed: usize,
    pub changes: usize,
    pub repeat: usize,
    pub rooms: Option<usize>,
    pub rooms_per_user: usize,
    pub resume_rooms: usize,
    pub p99_limit_ms: f64,
    pub min_delivery: f64,
    pub timeout: Option<f64>,
    pub bcrypt_cost: u32,
    pub database_url: Option<String>,
    pub commit_total: usize,
}

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        scenario: None,
        url: None,
        db: None,
        jwt_secret: None,
        server_pid: None,
        json: None,
        no_pin: false,
        conns: None,
        senders: None,
        rate: None,
        steps: None,
        step_secs: 5.0,
        duration: None,
        size: 100,
        open_concurrency: 200,
        hold: 5.0,
        logins: 200,
        missed: 10_000,
        changes: 0,
        repeat: 3,
        rooms: None,
        rooms_per_user: 20,
        resume_rooms: 100,
        p99_limit_ms: 250.0,
        min_delivery: 0.97,
        timeout: None,
        bcrypt_cost: 12,
        database_url: None,
        commit_total: 60_000,
    };
    let mut args = std::env::args().skip(1);
    fn num<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, String> {
        let v = v.ok_or(format!("{flag} needs a value"))?;
        v.parse().map_err(|_| format!("{flag}: invalid value {v:?}"))
    }
    while let Some(a) = args.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut val = || inline.clone().or_else(|| args.next());
        match flag.as_str() {
            "--bench" => {}
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--url" => o.url = val(),
            "--db" => o.db = val().map(PathBuf::from),
            "--jwt-secret" => o.jwt_secret = val(),
            "--server-pid" => o.server_pid = Some(num(&flag, val())?),
            "--json" => o.json = Some(val().ok_or("--json needs FILE or -")?),
            "--no-pin" => o.no_pin = true,
            "--conns" => o.conns = Some(num(&flag, val())?),
            "--senders" => o.senders = Some(num(&flag, val())?),
            "--rate" => o.rate = Some(num(&flag, val())?),
            "--steps" => {
                let v = val().ok_or("--steps needs a list like 1000,2000,5000")?;
                let steps: Result<Vec<f64>, _> = v.split(',').map(|s| s.trim().parse::<f64>()).collect();
                let steps = steps.map_err(|_| format!("--steps: invalid list {v:?}"))?;
                if steps.is_empty() || steps.iter().any(|s| *s <= 0.0) || steps.len() > 40 {
                    return Err("--steps: 1 to 40 positive rates".into());
                }
                o.steps = Some(steps);
            }
            "--step-secs" => o.step_secs = num(&flag, val())?,
            "--duration" => o.duration = Some(num(&flag, val())?),
            "--size" => o.size = num(&flag, val())?,
            "--open-concurrency" => o.open_concurrency = num(&flag, val())?,
            "--hold" => o.hold = num(&flag, val())?,
            "--logins" => o.logins = num(&flag, val())?,
            "--missed" => o.missed = num(&flag, val())?,
            "--changes" => o.changes = num(&flag, val())?,
            "--repeat" => o.repeat = num(&flag, val())?,
            "--rooms" => o.rooms = Some(num(&flag, val())?),
            "--rooms-per-user" => o.rooms_per_user = num(&flag, val())?,
            "--resume-rooms" => o.resume_rooms = num(&flag, val())?,
            "--p99-limit" => o.p99_limit_ms = num(&flag, val())?,
            "--min-delivery" => o.min_delivery = num(&flag, val())?,
            "--timeout" => o.timeout = Some(num(&flag, val())?),
            "--bcrypt-cost" => o.bcrypt_cost = num(&flag, val())?,
            "--database-url" => o.database_url = val(),
            "--commit-total" => o.commit_total = num(&flag, val())?,
            s if s.starts_with('-') => return Err(format!("unknown flag {s}\n\n{USAGE}")),
            s => {
                if o.scenario.is_some() {
                    return Err(format!("one scenario at a time (got {s:?} too)"));
                }
                if s != "all" && !SCENARIOS.contains(&s) {
                    return Err(format!("unknown scenario {s:?}; one of {} or all", SCENARIOS.join(", ")));
                }
                o.scenario = Some(s.to_string());
            }
        }
    }
    if o.size < 40 || o.size > 1900 {
        return Err("--size must be between 40 and 1900 bytes".into());
    }
    if o.step_secs <= 0.0 || o.hold < 0.0 {
        return Err("--step-secs must be positive and --hold not negative".into());
    }
    if o.url.is_some() && (o.db.is_none() || o.jwt_secret.is_none()) {
        return Err("--url needs --db and --jwt-secret as well".into());
    }
    Ok(o)
}

/// Raises RLIMIT_NOFILE to the hard limit (the spawned server inherits it). Returns the limit.
fn raise_nofile() -> u64 {
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 0;
        }
        if r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        }
        r.rlim_cur as u64
    }
}

/// Pins this process (the calling thread, before any other thread exists, so all inherit it)
/// to CPU 1. Returns whether pinning is in effect.
fn pin_self() -> bool {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    if cpus < 2 {
        eprintln!("load: fewer than 2 CPUs available: not pinning");
        return false;
    }
    if let Err(e) = set_affinity(1..2) {
        eprintln!("load: sched_setaffinity failed: {e}; not pinning");
        return false;
    }
    true
}

/// Lets the calling thread (and the threads it starts from now on) run on every CPU again: for
/// a scenario whose server side is not pinned either (`cluster`).
pub fn unpin_self(cpus: usize) {
    if let Err(e) = set_affinity(0..cpus) {
        eprintln!("load: sched_setaffinity failed: {e}; the generator stays pinned");
    }
}

/// Lets the calling thread (and the threads it starts from now on) run on `cpus` only.
pub fn set_affinity(cpus: impl IntoIterator<Item = usize>) -> std::io::Result<()> {
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for cpu in cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// What all scenarios share.
pub struct Ctx {
    pub opts: Opts,
    pub base: Instant,
    pub pinned: bool,
    pub nofile: u64,
    pub hash: String,
    /// CPUs of the machine (before this process pinned itself to one).
    pub cpus: usize,
    /// Highest total msg/s that fanout sustained in this run (login-storm runs at half).
    pub fanout_max_rate: Option<f64>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(ceiling::WRITER_ARG) {
        return ceiling::writer_main(&args[1..]);
    }
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("load: {e}");
            return ExitCode::from(2);
        }
    };
    let nofile = raise_nofile();
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let pinned = !opts.no_pin && pin_self();
    let base = Instant::now();
    eprintln!("load: hashing the shared password once (bcrypt cost {})", opts.bcrypt_cost);
    let hash = match bcrypt::hash(server::PASSWORD, opts.bcrypt_cost) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("load: bcrypt: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The message text must never trip the server's moderation (a block would end the run):
    // check a spread of marker values against the server's own default word list.
    let matcher = chatterbox::chat::moderation::Matcher::default_terms();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for k in 0..20_000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let sample = client::message_text(
            x % 10_000_000_000_000,
            (k % 48) as usize,
            (x % 10_001) as usize,
            k,
            opts.size,
        );
        if let Some(term) = matcher.find(&sample) {
            eprintln!("load: the message text {sample:?} contains the blocked term {term:?}");
            return ExitCode::FAILURE;
        }
    }
    let names: Vec<&str> = match opts.scenario.as_deref() {
        None | Some("all") => SCENARIOS.to_vec(),
        Some(s) => vec![SCENARIOS.iter().find(|n| **n == s).copied().unwrap()],
    };
    let json_to_stdout = opts.json.as_deref() == Some("-");
    let mut ctx = Ctx { opts, base, pinned, nofile, hash, cpus, fanout_max_rate: None };
    let setup = scenarios::setup_table(&ctx);
    let emit = |text: &str| {
        if json_to_stdout {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    };
    emit(&setup.0.render());
    let mut results = serde_json::Map::new();
    let mut failed = false;
    let all = names.len() > 1;
    for name in names {
        if let (true, "cluster", Err(why)) = (all, name, cluster::available(&ctx.opts)) {
            eprintln!("load: === {name} === skipped: {why}");
            emit(&format!("{name}: skipped: {why}\n"));
            results.insert(name.to_string(), serde_json::json!({"skipped": why}));
            continue;
        }
        eprintln!("load: === {name} ===");
        let t0 = Instant::now();
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| scenarios::run(name, &mut ctx)));
        let secs = t0.elapsed().as_secs_f64();
        match outcome {
            Ok(Ok(report)) => {
                let mut text = String::new();
                for t in &report.tables {
                    text.push_str(&t.render());
                    text.push('\n');
                }
                for n in &report.notes {
                    text.push_str(&format!("note: {n}\n"));
                }
                text.push_str(&format!("({name} took {secs:.1} s)\n"));
                emit(&text);
                let mut j = report.json;
                j["wall_secs"] = serde_json::json!((secs * 10.0).round() / 10.0);
                results.insert(name.to_string(), j);
            }
            Ok(Err(e)) => {
                failed = true;
                eprintln!("load: {name} failed after {secs:.1} s: {e}");
                emit(&format!("{name}: FAILED: {e}\n"));
                results.insert(name.to_string(), serde_json::json!({"error": e, "wall_secs": secs}));
            }
            Err(_) => {
                failed = true;
                eprintln!("load: {name} panicked after {secs:.1} s (server stopped)");
                results.insert(name.to_string(), serde_json::json!({"error": "panic", "wall_secs": secs}));
            }
        }
    }
    if let Some(dest) = &ctx.opts.json {
        let doc = serde_json::json!({ "setup": setup.1, "scenarios": results });
        let text = serde_json::to_string_pretty(&doc).unwrap();
        if dest == "-" {
            println!("{text}");
        } else if let Err(e) = std::fs::write(dest, text + "\n") {
            eprintln!("load: cannot write {dest}: {e}");
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
