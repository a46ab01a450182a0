//! The `cluster` scenario (issue 12): three `chatterbox serve --database-url` instances and
//! PostgreSQL on this machine.
//!
//! `cargo bench --bench load -- cluster` starts a throwaway PostgreSQL (`initdb` into a
//! temporary folder, listening on a Unix socket there only, as the `postgres` user through
//! `runuser` when run as root; its settings are PostgreSQL's defaults, fsync and synchronous
//! commit on) or attaches to one with `--database-url URL` (an empty database, or one an earlier
//! run seeded). It seeds `--conns` accounts (300) through `PgStore`, starts three instances
//! and connects client i to instance i % 3. Then:
//!
//! - latency steps: the first `--senders` clients (30, ten per instance) post into `general`,
//!   which everyone is in, at each rate of `--steps` (1000,2000,5000 msg/s) for `--step-secs`;
//!   per step: committed msg/s, delivered frames/s, lost, duplicated, and the delivery latency
//!   from a sender on one instance to the receivers on the two others (p50/p99), until a step
//!   fails like fanout's do;
//! - commit throughput: the other clients, each alone in a private room of its own (so fan-out
//!   costs nothing), push `--commit-total` messages (60000) as fast as the instances take them;
//!   messages/s committed = the rise of the message count in the database / the time until the
//!   last one was acknowledged.
//!
//! Targets: >= 10,000 msg/s committed through PostgreSQL; p99 < 50 ms between instances at 1,000
//! msg/s with 300 clients over three instances. On a 2-core machine nothing is pinned here: the
//! three instances, PostgreSQL and the generator (two workers) share every core, so the figures
//! are the whole machine's.

use std::{
    ffi::OsString,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Command,
    sync::atomic::Ordering::Relaxed,
    time::{Duration, Instant},
};

use chatterbox::store::PgStore;
use serde_json::json;
use tokio::sync::watch;

use crate::{
    client::{open_many, quiesce, wait_for, Conn, Plan, Shared, MAX_PHASES},
    scenarios::{drain_phase, open_json, round2, runtime, set_plan, start_senders, step_failures, Report},
    server::{
        child_setup, cpu_secs, machine_busy_secs, mint_token, random_hex, seed_store, spawn_serve, Pin,
        RoomSeed, Spawned,
    },
    table::{int, ms, ms_f, opt, Table},
    Ctx,
};

const INSTANCES: usize = 3;
/// The targets.
const COMMIT_GOAL: f64 = 10_000.0;
const LATENCY_GOAL_RATE: f64 = 1_000.0;
const LATENCY_GOAL_P99_MS: f64 = 50.0;

/// Whether the scenario can run: a `--database-url`, or PostgreSQL's binaries to start one.
pub fn available(opts: &crate::Opts) -> Result<(), String> {
    if opts.database_url.is_some() || find_bin().is_some() {
        return Ok(());
    }
    Err(MISSING.into())
}

const MISSING: &str = "PostgreSQL's initdb and pg_ctl were not found (PATH, /usr/lib/postgresql/*/bin): \
    install Debian's `postgresql` package (`bash .ci/install-deps`) or pass --database-url";

/// A throwaway PostgreSQL cluster in a temporary folder; stopped and removed on drop.
struct Postgres {
    dir: PathBuf,
    bin: PathBuf,
    run_as: Option<String>,
}

impl Postgres {
    fn start() -> Result<Postgres, String> {
        let bin = find_bin().ok_or(MISSING)?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let run_as = (unsafe { libc::geteuid() } == 0).then(|| "postgres".to_string());
        let dir = tempfile::Builder::new()
            .prefix("chatterbox-load-pg-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary folder: {e}"))?
            .keep();
        let pg = Postgres { dir, bin, run_as };
        std::fs::create_dir(pg.dir.join("sock")).map_err(|e| e.to_string())?;
        if let Some(user) = &pg.run_as {
            let ok = Command::new("chown").arg("-R").arg(format!("{user}:")).arg(&pg.dir).status();
            if !ok.is_ok_and(|s| s.success()) {
                return Err(format!("cannot give {} to the `{user}` user", pg.dir.display()));
            }
        }
        let out = pg
            .tool("initdb")
            .arg("-D")
            .arg(pg.dir.join("data"))
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-instructions"])
            .output()
            .map_err(|e| format!("initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!("initdb failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        let options =
            format!("-k {} -c listen_addresses='' -c max_connections=200", pg.dir.join("sock").display());
        let out = pg
            .tool("pg_ctl")
            .arg("-D")
            .arg(pg.dir.join("data"))
            .arg("-l")
            .arg(pg.dir.join("server.log"))
            .args(["-o", &options, "-w", "start"])
            .output()
            .map_err(|e| format!("pg_ctl: {e}"))?;
        if !out.status.success() {
            let log = std::fs::read_to_string(pg.dir.join("server.log")).unwrap_or_default();
            return Err(format!("pg_ctl start failed: {}{log}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(pg)
    }

    /// A PostgreSQL tool as the cluster's owner, on every CPU whatever the bench's pinning.
    fn tool(&self, name: &str) -> Command {
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(self.bin.join(name));
                c
            }
            None => Command::new(self.bin.join(name)),
        };
        child_setup(&mut cmd, Pin::AnyCpu);
        cmd
    }

    fn url(&self, db: &str) -> String {
        let socket: String = self
            .dir
            .join("sock")
            .to_string_lossy()
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        format!("postgres://postgres@{socket}/{db}")
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .tool("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "fast", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The folder holding `initdb` and `pg_ctl`: on PATH, else Debian's newest
/// /usr/lib/postgresql/N/bin.
fn find_bin() -> Option<PathBuf> {
    let has = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Some(d) = std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).find(|d| has(d))) {
        return Some(d);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<u32>().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| has(bin))
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// The messages stored so far.
async fn stored_count(url: &str) -> Result<i64, String> {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).map_err(|e| e.to_string())?;
        let row = c.query_one("SELECT count(*) FROM messages", &[]).map_err(|e| e.to_string())?;
        Ok(row.get::<_, i64>(0))
    })
    .await
    .map_err(|e| e.to_string())?
}

/// CPU seconds of the instances together.
fn instances_cpu(pids: &[u32]) -> Option<f64> {
    pids.iter().map(|p| cpu_secs(Some(*p))).sum()
}

pub fn run(ctx: &Ctx) -> Result<Report, String> {
    let o = &ctx.opts;
    available(o)?;
    // Nothing is pinned here: PostgreSQL and the instances (which inherit this thread's CPUs when
    // started) float over every core, and so does the generator (two workers). Pinned to the
    // generator's one core they would all share it while the other stayed idle, and a generator
    // held to one worker would be the first to fall behind reading 300,000 frames a second.
    if ctx.pinned {
        crate::unpin_self(ctx.cpus);
    }
    let n = o.conns.unwrap_or(300);
    let senders = o.senders.unwrap_or(30);
    if n < INSTANCES * 2 || senders == 0 || senders >= n {
        return Err(format!(
            "cluster: --conns {n} and --senders {senders}: need 0 < senders < conns, conns >= 6"
        ));
    }
    let steps = o.steps.clone().unwrap_or(vec![1000.0, 2000.0, 5000.0]);
    let limit = o.timeout.unwrap_or(300.0 + steps.len() as f64 * (o.step_secs + 8.0));

    let pg = match &o.database_url {
        Some(_) => None,
        None => {
            eprintln!("load: cluster: starting a throwaway PostgreSQL");
            Some(Postgres::start()?)
        }
    };
    let url = match (&o.database_url, &pg) {
        (Some(url), _) => url.clone(),
        (None, Some(pg)) => {
            let mut admin =
                postgres::Client::connect(&pg.url("postgres"), postgres::NoTls).map_err(|e| e.to_string())?;
            admin.batch_execute("CREATE DATABASE chatterbox").map_err(|e| e.to_string())?;
            pg.url("chatterbox")
        }
        (None, None) => unreachable!(),
    };
    // The throughput senders are each alone in a private room.
    let solo =
        RoomSeed { label: format!("cluster solo {n}"), members: (senders..n).map(|i| vec![i]).collect() };
    eprintln!("load: cluster: seeding {n} accounts and {} private rooms", solo.members.len());
    let t0 = Instant::now();
    let (store, _) = PgStore::open_and_migrate(&url).map_err(|e| format!("cannot open {url}: {e}"))?;
    let seeded = seed_store(&store, t0, &ctx.hash, n, &solo)?;
    drop(store);

    let secret = random_hex(32)?;
    let logs =
        tempfile::Builder::new().prefix("chatterbox-load-cluster-").tempdir().map_err(|e| e.to_string())?;
    let args: Vec<OsString> = vec!["--database-url".into(), url.clone().into(), "serve".into()];
    let mut instances: Vec<Spawned> = Vec::new();
    for k in 0..INSTANCES {
        instances.push(spawn_serve(
            &args,
            &secret,
            Pin::AnyCpu,
            &logs.path().join(format!("instance{k}.log")),
        )?);
    }
    let addrs: Vec<SocketAddr> = instances.iter().map(|s| s.addr).collect();
    let pids: Vec<u32> = instances.iter().map(|s| s.pid).collect();
    eprintln!("load: cluster: instances {addrs:?} (pids {pids:?}); time limit {limit:.0} s");

    let tokens: Vec<String> = seeded.users.iter().map(|(id, name)| mint_token(&secret, *id, name)).collect();
    let rt = runtime(false)?;
    let plan = Layout { n, senders, steps, addrs, pids, tokens, rooms: seeded.rooms, url: url.clone() };
    let outcome = rt.block_on(async {
        match tokio::time::timeout(Duration::from_secs_f64(limit), body(ctx, &plan)).await {
            Ok(r) => r,
            Err(_) => {
                Err(format!("cluster did not finish within its time limit of {limit:.0} s (--timeout)"))
            }
        }
    });
    rt.shutdown_timeout(Duration::from_secs(3));
    let mut log_rows = Vec::new();
    for (k, s) in instances.iter().enumerate() {
        let l = s.log.lock().unwrap();
        log_rows.push((k, l.warn, l.error, l.samples.clone()));
    }
    drop(instances);
    drop(pg);
    let mut report = outcome?;
    let mut lt = Table::kv("cluster: instance logs");
    for (k, warn, error, samples) in &log_rows {
        lt.add(&format!("instance {k}: WARN / ERROR lines"), format!("{warn} / {error}"));
        for s in samples {
            lt.add("sample", s.clone());
        }
    }
    report.json["instance_logs"] = json!(log_rows
        .iter()
        .map(|(k, w, e, s)| json!({"instance": k, "warn": w, "error": e, "samples": s}))
        .collect::<Vec<_>>());
    report.tables.push(lt);
    Ok(report)
}

struct Layout {
    n: usize,
    senders: usize,
    steps: Vec<f64>,
    addrs: Vec<SocketAddr>,
    pids: Vec<u32>,
    tokens: Vec<String>,
    /// The solo room of client `senders + k`.
    rooms: Vec<i64>,
    url: String,
}

async fn body(ctx: &Ctx, l: &Layout) -> Result<Report, String> {
    let o = &ctx.opts;
    let shared = Shared::clustered(ctx.base, (0..l.n).map(|i| (i % INSTANCES) as u8).collect());
    eprintln!("load: cluster: opening {} connections over {INSTANCES} instances", l.n);
    let mut conns: Vec<Conn> = Vec::new();
    let mut opened = Vec::new();
    for (k, addr) in l.addrs.iter().enumerate() {
        let urls = (k..l.n)
            .step_by(INSTANCES)
            .map(|i| (i, format!("ws://{addr}/ws?token={}", l.tokens[i])))
            .collect();
        let (c, open) = open_many(&shared, *addr, urls, o.open_concurrency).await;
        if open.failed > 0 {
            return Err(format!("instance {k}: {} connections failed: {}", open.failed, open.errors_text()));
        }
        conns.extend(c);
        opened.push(open_json(&open));
    }
    conns.sort_by_key(|c| c.state.idx);
    quiesce(&shared, Duration::from_millis(300), Duration::from_secs(120)).await;

    let (lat_tx, lat_rx) = watch::channel(Plan::default());
    let latency_senders: Vec<(usize, Vec<i64>)> = (0..l.senders).map(|i| (i, Vec::new())).collect();
    let s = start_senders(&mut conns, &latency_senders, &shared, &lat_rx, o.size);
    let (thr_tx, thr_rx) = watch::channel(Plan::default());
    let throughput_senders: Vec<(usize, Vec<i64>)> =
        (l.senders..l.n).zip(&l.rooms).map(|(i, room)| (i, vec![*room])).collect();
    let t = start_senders(&mut conns, &throughput_senders, &shared, &thr_rx, o.size);

    // Warm-up: one second at the first step's rate (not reported).
    set_plan(&lat_tx, 0, l.steps[0], s);
    tokio::time::sleep(Duration::from_secs(1)).await;
    set_plan(&lat_tx, 0, 0.0, s);
    drain_phase(&shared, &conns, 0, Duration::from_secs(5)).await;

    let mut tb = Table::new(
        format!(
            "cluster: {} clients over {INSTANCES} instances, {s} senders in general, {:.0} s per step",
            l.n, o.step_secs
        ),
        &[
            "target msg/s",
            "sent/s",
            "committed msg/s",
            "delivered frames/s",
            "delivered %",
            "lost",
            "dup",
            "p50 ms other inst.",
            "p99 ms other inst.",
            "p99 ms all",
            "max ms",
            "instances CPU %",
            "machine CPU %",
            "result",
        ],
    );
    let mut rows = Vec::new();
    let mut goal_step: Option<(f64, Option<u64>, u64, u64)> = None;
    let mut stop_reason = "every step kept up".to_string();
    for (k, &rate) in l.steps.iter().enumerate() {
        let phase = k + 1;
        if phase + 1 >= MAX_PHASES {
            break;
        }
        eprintln!("load: cluster: step {phase}: {rate} msg/s");
        let dups_before = shared.dups.load(Relaxed);
        let closes_before = shared.closes_total();
        let (cpu0, busy0, w0) = (instances_cpu(&l.pids), machine_busy_secs(), Instant::now());
        let t0_ns = shared.now_ns();
        set_plan(&lat_tx, phase, rate, s);
        tokio::time::sleep(Duration::from_secs_f64(o.step_secs)).await;
        set_plan(&lat_tx, phase, 0.0, s);
        let drained = drain_phase(&shared, &conns, phase, Duration::from_secs(3)).await;
        let wall = w0.elapsed().as_secs_f64();
        let cpu = instances_cpu(&l.pids).zip(cpu0).map(|(b, a)| 100.0 * (b - a) / wall);
        let busy = machine_busy_secs().zip(busy0).map(|(b, a)| 100.0 * (b - a) / wall);
        let st = shared.phase(phase);
        let cross = shared.cross_phase(phase);
        let expected = shared.expected(&conns, Some(phase));
        let lost = expected.saturating_sub(st.delivered);
        let dups = shared.dups.load(Relaxed) - dups_before;
        let closes = shared.closes_total() - closes_before;
        let span = ((st.last_rx_ns.saturating_sub(t0_ns)) as f64 / 1e9).max(o.step_secs);
        let frac = if expected > 0 { st.delivered as f64 / expected as f64 } else { 0.0 };
        let (p50, p99) = (cross.quantile(0.5), cross.quantile(0.99));
        let mut why = step_failures(o, frac, p99, "p99 between instances");
        if closes > 0 {
            why.push(format!("{closes} clients disconnected ({})", shared.closes_text()));
        }
        let ok = why.is_empty();
        let committed = st.accepted as f64 / o.step_secs;
        tb.row(vec![
            int(rate),
            int(st.sent as f64 / o.step_secs),
            int(committed),
            int(st.delivered as f64 / span),
            format!("{:.1}", frac * 100.0),
            int(lost as f64),
            int(dups as f64),
            ms(p50),
            ms(p99),
            ms(st.hist.quantile(0.99)),
            ms((st.hist.count > 0).then_some(st.hist.max)),
            opt(cpu.map(|c| format!("{c:.0}"))),
            opt(busy.map(|c| format!("{c:.0}"))),
            if ok { "ok".into() } else { "FAIL".into() },
        ]);
        rows.push(json!({
            "target_rate": rate, "sent_rate": round2(st.sent as f64 / o.step_secs), "committed_rate": round2(committed),
            "delivered_frames_per_sec": round2(st.delivered as f64 / span), "expected_frames": expected,
            "delivered_frames": st.delivered, "lost": lost, "duplicated": dups,
            "cross_instance_p50_ms": ms_f(p50), "cross_instance_p99_ms": ms_f(p99), "cross_instance_samples": cross.count,
            "all_p50_ms": ms_f(st.hist.quantile(0.5)), "all_p99_ms": ms_f(st.hist.quantile(0.99)),
            "max_ms": ms_f((st.hist.count > 0).then_some(st.hist.max)), "instances_cpu_pct": cpu.map(round2),
            "machine_cpu_pct": busy.map(round2), "drained_within_3s": drained, "ok": ok, "why": why,
        }));
        if rate == LATENCY_GOAL_RATE {
            goal_step = Some((rate, p99, lost, dups));
        }
        if !ok {
            stop_reason = format!("step {} msg/s: {}", int(rate), why.join("; "));
            break;
        }
    }
    lat_tx.send_replace(Plan { stop: true, ..Plan::default() });

    // Commit throughput: every solo sender pushes its share as fast as it is taken.
    let phase = (l.steps.len() + 1).min(MAX_PHASES - 1);
    let each = o.commit_total.div_ceil(t.max(1)) as u64;
    let total = each * t as u64;
    eprintln!("load: cluster: commit throughput: {total} messages from {t} clients");
    let before = stored_count(&l.url).await?;
    let accepted_before = shared.phase(phase).accepted;
    let (cpu0, busy0) = (instances_cpu(&l.pids), machine_busy_secs());
    let t0 = Instant::now();
    thr_tx.send_replace(Plan { phase, rate: 1e6, limit: each, stop: false });
    let done = wait_for(Duration::from_secs(120), Duration::from_millis(2), || {
        shared.phase(phase).accepted >= accepted_before + total
    })
    .await;
    let secs = t0.elapsed().as_secs_f64();
    let cpu = instances_cpu(&l.pids).zip(cpu0).map(|(b, a)| 100.0 * (b - a) / secs);
    let busy = machine_busy_secs().zip(busy0).map(|(b, a)| 100.0 * (b - a) / secs);
    thr_tx.send_replace(Plan { stop: true, ..Plan::default() });
    let after = stored_count(&l.url).await?;
    let committed = (after - before) as f64 / secs;
    let st = shared.phase(phase);
    let lost = total.saturating_sub(st.accepted - accepted_before);
    let mut thr = Table::kv(format!("cluster: commit throughput, {t} clients each alone in a private room"));
    thr.add("messages pushed", format!("{} ({each} a client)", int(total as f64)));
    thr.add(
        "messages committed (count in PostgreSQL)",
        format!(
            "{} in {secs:.2} s{}",
            int((after - before) as f64),
            if done { "" } else { " (not all within 120 s)" }
        ),
    );
    thr.add("committed msg/s", int(committed));
    thr.add(
        "echo to the sender p50 / p99 ms",
        format!("{} / {}", ms(st.hist.quantile(0.5)), ms(st.hist.quantile(0.99))),
    );
    thr.add("lost (pushed, never acknowledged)", int(lost as f64));
    thr.add(
        "instances CPU % / machine CPU %",
        format!("{} / {}", opt(cpu.map(|c| format!("{c:.0}"))), opt(busy.map(|c| format!("{c:.0}")))),
    );

    let mut sum = Table::kv("cluster: summary");
    sum.add(
        "PostgreSQL",
        if o.database_url.is_some() {
            "attached (--database-url)"
        } else {
            "throwaway, started by the bench (defaults: fsync and synchronous_commit on)"
        },
    );
    sum.add(
        "accounts",
        "seeded through PgStore (the setup table's SQLite line is about the other scenarios)",
    );
    sum.add(
        "connections opened",
        format!("{} over {INSTANCES} instances (client i on instance i % 3)", conns.len()),
    );
    sum.add("stopped because", stop_reason.clone());
    sum.add("duplicated frames (whole run)", int(shared.dups.load(Relaxed) as f64));
    sum.add(
        &format!("target: >= {} msg/s committed through PostgreSQL", int(COMMIT_GOAL)),
        if committed >= COMMIT_GOAL {
            format!("met: {} msg/s", int(committed))
        } else {
            format!("NOT met: {} msg/s", int(committed))
        },
    );
    let latency_goal = match goal_step {
        Some((_, p99, lost, dups)) => {
            let met = p99.is_some_and(|p| (p as f64) < LATENCY_GOAL_P99_MS * 1e6) && lost == 0 && dups == 0;
            format!(
                "{}: p99 {} ms, {lost} lost, {dups} duplicated",
                if met { "met" } else { "NOT met" },
                ms(p99)
            )
        }
        None => "not measured (no 1000 msg/s step in --steps)".into(),
    };
    sum.add(
        &format!(
            "target: p99 < {LATENCY_GOAL_P99_MS} ms between instances at {} msg/s, {} clients",
            int(LATENCY_GOAL_RATE),
            l.n
        ),
        latency_goal.clone(),
    );
    let j = json!({
        "clients": l.n, "instances": INSTANCES, "latency_senders": s, "throughput_senders": t, "step_secs": o.step_secs,
        "open": opened, "steps": rows, "stop_reason": stop_reason,
        "throughput": {"messages": total, "committed": after - before, "secs": round2(secs), "committed_per_sec": round2(committed),
                       "lost": lost, "echo_p50_ms": ms_f(st.hist.quantile(0.5)), "echo_p99_ms": ms_f(st.hist.quantile(0.99)),
                       "all_within_120s": done, "instances_cpu_pct": cpu.map(round2), "machine_cpu_pct": busy.map(round2)},
        "duplicates": shared.dups.load(Relaxed),
        "commit_goal_met": committed >= COMMIT_GOAL, "latency_goal": latency_goal,
    });
    drop(conns);
    Ok(Report { tables: vec![tb, thr, sum], json: j, notes: Vec::new() })
}
