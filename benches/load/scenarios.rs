//! The eight scenarios (`cluster` in its own file). Each runs on its own fresh server and tokio runtime, under a hard time
//! limit, and returns its tables and a JSON object.

use std::{
    sync::{atomic::Ordering::Relaxed, Arc},
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::{
    client::{self, drain_all, loss, open, open_many, quiesce, spawn_sender, wait_for, Conn, Plan, Shared},
    server::{self, cpu_secs, fd_count, mem_kib, RoomSeed, RssWatch, Target},
    table::{int, mib, ms, ms_f, opt, Table},
    Ctx,
};

pub struct Report {
    pub tables: Vec<Table>,
    pub json: Value,
    pub notes: Vec<String>,
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

pub(crate) fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// The run's setup, printed once before the scenarios.
pub fn setup_table(ctx: &Ctx) -> (Table, Value) {
    let o = &ctx.opts;
    let mut t = Table::kv("chatterbox load benchmark: setup");
    let server_desc = match &o.url {
        Some(u) => format!("attached to {u} (not started or pinned by the bench)"),
        None => format!(
            "fresh `chatterbox serve` per scenario on a temporary database, {}",
            server::SERVER_FLAGS.join(" ")
        ),
    };
    let taskset = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("taskset").is_file()))
        .unwrap_or(false);
    let pinning = if ctx.pinned && o.url.is_none() {
        format!(
            "server on CPU 0 ({}), load generator on CPU 1 (sched_setaffinity, 1 tokio worker)",
            if taskset { "taskset -c 0" } else { "sched_setaffinity before exec: no taskset found" }
        )
    } else if ctx.pinned {
        "load generator on CPU 1 (sched_setaffinity, 1 tokio worker); attached server not pinned".into()
    } else {
        "none (--no-pin or fewer than 2 CPUs): 2 tokio workers".into()
    };
    t.add("server", server_desc.clone());
    t.add("pinning", pinning.clone());
    t.add(
        "accounts",
        format!("seeded through SqliteStore::create_user with one bcrypt cost-{} hash; tokens minted by the bench (HS256)", o.bcrypt_cost),
    );
    t.add("login rate limit", "off (--rate-limit-off: all logins come from 127.0.0.1); the login storm still does real bcrypt cost 12");
    t.add(
        "message text",
        format!("{} bytes (\"lb tm <ns> ph <phase> sd <sender> sq <seq>\" + filler words)", o.size),
    );
    t.add("fd limit (RLIMIT_NOFILE)", ctx.nofile.to_string());
    t.add("CPUs", ctx.cpus.to_string());
    let j = json!({
        "server": server_desc, "pinning": pinning, "server_flags": server::SERVER_FLAGS, "message_bytes": o.size,
        "nofile": ctx.nofile, "cpus": ctx.cpus, "bcrypt_cost": o.bcrypt_cost, "rate_limit_off": true,
    });
    (t, j)
}

pub(crate) fn runtime(pinned: bool) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(if pinned { 1 } else { 2 })
        .max_blocking_threads(16)
        .thread_name("load")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a tokio runtime: {e}"))
}

/// Starts the server for `name`, runs it under its time limit, always stops the server.
pub fn run(name: &str, ctx: &mut Ctx) -> Result<Report, String> {
    if name == "cluster" {
        return crate::cluster::run(ctx);
    }
    if name == "ceiling" {
        return crate::ceiling::run(ctx);
    }
    let o = ctx.opts.clone();
    let step_count = |default: usize| o.steps.as_ref().map(|s| s.len()).unwrap_or(default) as f64;
    let dur = o.duration;
    // Laid out once: the seeding, the server and the senders all follow the same layout.
    let rooms_layout = (name == "rooms").then(|| RoomsLayout::new(&o)).transpose()?;
    let (users, limit) = match name {
        "idle" => (o.conns.unwrap_or(10_000), 900.0),
        "fanout" => (o.conns.unwrap_or(100), 180.0 + step_count(6) * (o.step_secs + 8.0)),
        // The fan-out clients and the editor.
        "living" => (o.conns.unwrap_or(100) + 1, 180.0 + step_count(3) * (o.step_secs + 8.0)),
        "room" => (o.conns.unwrap_or(1000), 240.0 + step_count(6) * (o.step_secs + 8.0)),
        "rooms" => (
            rooms_layout.as_ref().map_or(0, RoomsLayout::conns),
            900.0 + step_count(4) * (o.step_secs + 10.0),
        ),
        // Hashing yields to the chat, so on a saturated core 200 cost-12 logins take minutes.
        "login-storm" => (o.conns.unwrap_or(100).max(o.logins).max(1), 1200.0 + 2.0 * dur.unwrap_or(5.0)),
        "resume" => (2, 300.0 + o.missed as f64 / 500.0),
        "slow-reader" => (o.conns.unwrap_or(100) + 1, 240.0 + 14.0 * dur.unwrap_or(10.0)),
        _ => return Err(format!("unknown scenario {name}")),
    };
    let rooms = match name {
        "idle" => idle_rooms(users, o.rooms_per_user),
        "rooms" => rooms_layout.as_ref().map(RoomsLayout::seed).unwrap_or_default(),
        "resume" => RoomSeed {
            label: format!("resume {}", o.resume_rooms),
            members: vec![vec![0, 1]; o.resume_rooms],
        },
        _ => RoomSeed::default(),
    };
    let limit = o.timeout.unwrap_or(limit);
    let pin_server = ctx.pinned && o.url.is_none();
    eprintln!(
        "load: {name}: seeding {users} accounts and {} private rooms, then starting the server",
        rooms.members.len()
    );
    let target = Target::start(&o, &ctx.hash, users, &rooms, pin_server)?;
    eprintln!(
        "load: {name}: seeded in {:.1} s (rooms {:.1} s); server {} pid {} (time limit {limit:.0} s)",
        target.seed_secs,
        target.room_seed_secs,
        target.addr,
        opt(target.pid)
    );
    let rt = runtime(ctx.pinned)?;
    let c: &Ctx = ctx;
    let t = &target;
    let outcome = rt.block_on(async move {
        let fut = async {
            match name {
                "idle" => idle(c, t).await.map(|r| (r, None)),
                "fanout" => {
                    let steps =
                        o.steps.clone().unwrap_or(vec![1000.0, 2000.0, 5000.0, 10000.0, 15000.0, 20000.0]);
                    let n = o.conns.unwrap_or(100);
                    stepped(c, t, "fanout", Layout::one_room(n, o.senders.unwrap_or(n)), steps).await
                }
                "living" => {
                    let steps = o.steps.clone().unwrap_or(vec![1000.0, 2000.0, 5000.0]);
                    let n = o.conns.unwrap_or(100);
                    let mut layout = Layout::one_room(n, o.senders.unwrap_or(n));
                    let rate = o.rate.unwrap_or(1000.0);
                    layout.desc = format!("{}, plus {} edits and reactions/s", layout.desc, int(rate));
                    layout.editor = Some(rate);
                    stepped(c, t, "living", layout, steps).await
                }
                "room" => {
                    let steps = o.steps.clone().unwrap_or(vec![50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0]);
                    let n = o.conns.unwrap_or(1000);
                    stepped(c, t, "room", Layout::one_room(n, o.senders.unwrap_or(10)), steps).await
                }
                "rooms" => {
                    let steps = o.steps.clone().unwrap_or(vec![5000.0, 10000.0, 20000.0, 30000.0]);
                    let layout = rooms_layout.as_ref().expect("laid out above").layout(&t.rooms);
                    stepped(c, t, "rooms", layout, steps).await
                }
                "login-storm" => login_storm(c, t).await.map(|r| (r, None)),
                "resume" => resume(c, t).await.map(|r| (r, None)),
                "slow-reader" => slow_reader(c, t).await.map(|r| (r, None)),
                _ => unreachable!(),
            }
        };
        match tokio::time::timeout(secs(limit), fut).await {
            Ok(r) => r,
            Err(_) => Err(format!("{name} did not finish within its time limit of {limit:.0} s (--timeout)")),
        }
    });
    // Drops every client task and socket before the server goes.
    rt.shutdown_timeout(Duration::from_secs(3));
    let (warn, error, behind, samples) = target.log_stats();
    let spawned = target.spawned;
    let log_path = target.log_path.clone();
    if let (Err(_), Some(p)) = (&outcome, &log_path) {
        if let Ok(text) = std::fs::read_to_string(p) {
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            eprintln!("load: last server log lines:");
            for l in tail.into_iter().rev() {
                eprintln!("  {l}");
            }
        }
    }
    target.stop();
    let (mut report, fanout_max) = outcome?;
    // Only fanout's maximum sets the login storm's rate (room's steps mean something else).
    if let (Some(m), "fanout") = (fanout_max, name) {
        ctx.fanout_max_rate = Some(m);
    }
    if spawned {
        let mut lt = Table::kv(format!("{name}: server log"));
        lt.add("WARN lines", warn.to_string());
        lt.add("ERROR lines", error.to_string());
        lt.add("\"fell behind\" disconnects logged", behind.to_string());
        for s in &samples {
            lt.add("sample", s.clone());
        }
        report.tables.push(lt);
        report.json["server_log"] =
            json!({"warn": warn, "error": error, "fell_behind": behind, "samples": samples});
    }
    Ok(report)
}

/// CPU seconds of the server and of the bench since a starting point.
struct CpuMark {
    server: Option<f64>,
    me: Option<f64>,
    threads: std::collections::BTreeMap<String, f64>,
    machine: Option<f64>,
    steal: Option<f64>,
    at: Instant,
}

impl CpuMark {
    fn now(pid: Option<u32>) -> CpuMark {
        CpuMark {
            server: cpu_secs(pid),
            me: cpu_secs(None),
            threads: server::cpu_by_name(pid),
            machine: server::machine_busy_secs(),
            steal: server::machine_steal_secs(),
            at: Instant::now(),
        }
    }

    /// Server CPU seconds per thread name since the mark.
    fn threads_since(&self, pid: Option<u32>) -> Vec<(String, f64)> {
        server::cpu_by_name(pid)
            .into_iter()
            .map(|(k, v)| {
                let before = self.threads.get(&k).copied().unwrap_or(0.0);
                (k, v - before)
            })
            .filter(|(_, v)| *v > 0.0)
            .collect()
    }

    /// (server CPU s, server % of one core, bench % of one core, wall s)
    fn since(&self, pid: Option<u32>) -> (Option<f64>, Option<f64>, Option<f64>, f64) {
        let wall = self.at.elapsed().as_secs_f64().max(1e-9);
        let s = cpu_secs(pid).zip(self.server).map(|(b, a)| b - a);
        let m = cpu_secs(None).zip(self.me).map(|(b, a)| b - a);
        (s, s.map(|s| 100.0 * s / wall), m.map(|m| 100.0 * m / wall), wall)
    }

    /// Percent of one core used by everything else on the machine (other processes, and kernel
    /// work not charged to either process) since the mark.
    fn others_pct(&self, pid: Option<u32>) -> Option<f64> {
        let wall = self.at.elapsed().as_secs_f64().max(1e-9);
        let all = server::machine_busy_secs()? - self.machine?;
        let s = cpu_secs(pid)? - self.server?;
        let m = cpu_secs(None)? - self.me?;
        Some((100.0 * (all - s - m) / wall).max(0.0))
    }

    /// Percent of one core the VM's host took away since the mark (included in `others_pct`):
    /// on a shared host it explains latency spikes that are not the server's doing.
    fn steal_pct(&self) -> Option<f64> {
        let wall = self.at.elapsed().as_secs_f64().max(1e-9);
        Some(100.0 * (server::machine_steal_secs()? - self.steal?) / wall)
    }

    fn others_and_steal(&self, pid: Option<u32>) -> (Option<f64>, Option<f64>) {
        (self.others_pct(pid), self.steal_pct())
    }

    /// The summary rows for what else used the machine; returns (others %, stolen %).
    fn machine_rows(&self, pid: Option<u32>, tb: &mut Table) -> (Option<f64>, Option<f64>) {
        let (others, steal) = self.others_and_steal(pid);
        tb.add(
            "everything else on the machine",
            format!("{}% of a core (other processes, unattributed kernel work, stolen time)", pct(others)),
        );
        tb.add("of which stolen by the VM host", format!("{}% of a core", pct(steal)));
        (others, steal)
    }
}

/// Opens clients 0..n for a chatting scenario, which cannot run with any of them missing.
async fn open_all(
    shared: &Arc<Shared>,
    t: &Target,
    n: usize,
    concurrency: usize,
) -> Result<(Vec<Conn>, client::OpenReport), String> {
    let (conns, open) = open_many(shared, t.addr, urls(t, 0..n), concurrency).await;
    if open.failed > 0 {
        return Err(format!("{} of {n} connections failed: {}", open.failed, open.errors_text()));
    }
    Ok((conns, open))
}

/// "p50 / p99 / max ms" of a latency snapshot.
fn p50_p99_max(h: &crate::hist::Snap) -> String {
    format!("{} / {} / {} ms", ms(h.quantile(0.5)), ms(h.quantile(0.99)), ms((h.count > 0).then_some(h.max)))
}

/// "other CPU %" with the part the VM host stole in brackets.
fn others_cell(others: Option<f64>, stolen: Option<f64>) -> String {
    format!("{} ({})", pct(others), pct(stolen))
}

fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.0}")).unwrap_or_else(|| "n/a".into())
}

fn open_conns(conns: &[Conn]) -> usize {
    conns.iter().filter(|c| c.state.open.load(Relaxed)).count()
}

fn urls(t: &Target, range: std::ops::Range<usize>) -> Vec<(usize, String)> {
    range.map(|i| (i, t.ws_url(&t.token(i), None))).collect()
}

fn open_rows(tb: &mut Table, open: &client::OpenReport) {
    tb.add(
        "connections opened",
        format!("{} of {} in {:.2} s ({} retries)", open.opened, open.wanted, open.secs, open.retries),
    );
    tb.add("time to open one (connect to presence) p50 / p99 / max", p50_p99_max(&open.latency));
    if !open.errors.is_empty() {
        tb.add("connection errors", open.errors_text());
    }
}

pub(crate) fn open_json(open: &client::OpenReport) -> Value {
    json!({"wanted": open.wanted, "opened": open.opened, "failed": open.failed, "retries": open.retries,
           "secs": round2(open.secs), "open_p50_ms": ms_f(open.latency.quantile(0.5)),
           "open_p99_ms": ms_f(open.latency.quantile(0.99)), "open_max_ms": ms_f((open.latency.count > 0).then_some(open.latency.max)),
           "errors": open.errors.iter().map(|(k, v)| json!({"error": k, "count": v})).collect::<Vec<_>>()})
}

/// The rows every traffic scenario ends with: loss, duplicates, disconnects, server totals.
#[allow(clippy::too_many_arguments)] // one call shape shared by four scenarios; a struct would only rename them
fn totals(
    tb: &mut Table,
    j: &mut Value,
    conns: &[Conn],
    shared: &Shared,
    drained: bool,
    t: &Target,
    mark: &CpuMark,
    rss: &RssWatch,
) {
    let l = loss(conns, shared);
    let (cpu, cpu_pct, me_pct, wall) = mark.since(t.pid);
    let mem = mem_kib(t.pid);
    tb.add(
        "messages sent / accepted",
        format!("{} / {}", int(shared.sent_total() as f64), int(shared.accepted_total() as f64)),
    );
    tb.add("frames the open receivers had to get (their rooms' accepted messages)", int(l.expected as f64));
    tb.add(
        "frames lost (open receivers)",
        format!(
            "{}{}",
            int(l.lost as f64),
            if drained { "" } else { " (not all delivered within the 15 s final drain)" }
        ),
    );
    tb.add("frames duplicated / out of order", int(l.dups as f64));
    let misrouted = shared.misrouted.load(Relaxed);
    if misrouted > 0 {
        tb.add("frames from a room the receiver is not in", int(misrouted as f64));
    }
    if l.extra > 0 {
        tb.add("frames beyond expected", int(l.extra as f64));
    }
    tb.add(
        "receivers closed by the server",
        format!(
            "{} ({}); their missing frames: {}",
            l.receivers_closed,
            shared.closes_text(),
            int(l.lost_on_closed as f64)
        ),
    );
    let errs =
        shared.error_frames.load(Relaxed) + shared.warnings.load(Relaxed) + shared.send_errors.load(Relaxed);
    if errs > 0 {
        tb.add(
            "error/warning frames, send errors",
            format!(
                "{} / {} / {}; first: {}",
                shared.error_frames.load(Relaxed),
                shared.warnings.load(Relaxed),
                shared.send_errors.load(Relaxed),
                shared.first_error.lock().unwrap().clone().unwrap_or_default()
            ),
        );
    }
    tb.add(
        "server CPU (utime+stime)",
        format!("{} s over {:.1} s = {}% of a core", opt(cpu.map(|c| format!("{c:.2}"))), wall, pct(cpu_pct)),
    );
    let threads = mark.threads_since(t.pid);
    if !threads.is_empty() {
        tb.add(
            "server CPU by thread",
            threads.iter().map(|(k, v)| format!("{k}: {v:.2} s")).collect::<Vec<_>>().join(", "),
        );
    }
    if let Some((r, s, d)) = rss.writer_states() {
        tb.add(
            "writer thread sampled (10 ms)",
            format!("running {r:.0} %, sleeping {s:.0} %, disk wait (fsync) {d:.0} %"),
        );
    }
    j["server_cpu_by_thread"] = json!(threads
        .iter()
        .map(|(k, v)| (k.clone(), round2(*v)))
        .collect::<std::collections::BTreeMap<_, _>>());
    j["writer_states_pct"] = json!(rss
        .writer_states()
        .map(|(r, s, d)| json!({"running": round2(r), "sleeping": round2(s), "disk_wait": round2(d)})));
    tb.add("load generator CPU", format!("{}% of a core", pct(me_pct)));
    let (others, steal) = mark.machine_rows(t.pid, tb);
    j["others_cpu_pct"] = json!(others.map(round2));
    j["stolen_cpu_pct"] = json!(steal.map(round2));
    tb.add(
        "server RSS now / peak sampled / VmHWM",
        match mem {
            Some((rss_now, hwm)) => format!("{} / {} / {}", mib(rss_now), mib(rss.peak()), mib(hwm)),
            None => "n/a (no server pid)".into(),
        },
    );
    j["sent"] = json!(shared.sent_total());
    j["accepted"] = json!(shared.accepted_total());
    j["lost"] = json!(l.lost);
    j["duplicates"] = json!(l.dups);
    j["expected_frames"] = json!(l.expected);
    j["misrouted"] = json!(misrouted);
    j["extra"] = json!(l.extra);
    j["receivers_closed"] = json!(l.receivers_closed);
    j["lost_on_closed"] = json!(l.lost_on_closed);
    j["closes"] = json!(shared.closes.lock().unwrap().clone());
    j["error_frames"] = json!(shared.error_frames.load(Relaxed));
    j["warning_frames"] = json!(shared.warnings.load(Relaxed));
    j["send_errors"] = json!(shared.send_errors.load(Relaxed));
    j["drained"] = json!(drained);
    j["server_cpu_secs"] = json!(cpu.map(round2));
    j["server_cpu_pct"] = json!(cpu_pct.map(round2));
    j["loadgen_cpu_pct"] = json!(me_pct.map(round2));
    j["server_rss_kib"] = json!(mem.map(|m| m.0));
    j["server_rss_peak_sampled_kib"] = json!(rss.peak());
    j["server_vmhwm_kib"] = json!(mem.map(|m| m.1));
}

/// Waits until every message sent in `phase` was accepted and reached every open receiver of
/// its room.
pub(crate) async fn drain_phase(shared: &Shared, conns: &[Conn], phase: usize, limit: Duration) -> bool {
    wait_for(limit, Duration::from_millis(10), || {
        let (sent, acc, del) = shared.counts(phase);
        acc + shared.send_errors.load(Relaxed) >= sent && del >= shared.expected(conns, Some(phase))
    })
    .await
}

/// The first `s` of `n` clients, posting to `general` without a `room` (as older clients do).
fn first_senders(n: usize, s: usize) -> Vec<(usize, Vec<i64>)> {
    (0..s.min(n)).map(|i| (i, Vec::new())).collect()
}

/// Starts a paced sender on each of `senders` (client index, the rooms it posts to in turn);
/// `conns` must hold every client, sorted by index. Returns how many were started.
pub(crate) fn start_senders(
    conns: &mut [Conn],
    senders: &[(usize, Vec<i64>)],
    shared: &Arc<Shared>,
    rx: &watch::Receiver<Plan>,
    size: usize,
) -> usize {
    let s = senders.len();
    for (k, (idx, rooms)) in senders.iter().enumerate() {
        let c = &mut conns[*idx];
        debug_assert_eq!(c.state.idx, *idx);
        let sink = c.sink.take().expect("one sender per client");
        // The handle is not needed: senders end when the plan says stop or the runtime ends.
        let offset = k as f64 / s as f64;
        drop(spawn_sender(sink, *idx, Arc::clone(shared), rx.clone(), size, offset, rooms.clone()));
    }
    s
}

pub(crate) fn set_plan(tx: &watch::Sender<Plan>, phase: usize, total_rate: f64, senders: usize) {
    tx.send_replace(Plan { phase, rate: total_rate / senders.max(1) as f64, limit: 0, stop: false });
}

// ---------------------------------------------------------------------------------------------

/// idle's conversations: every user in `per_user` private rooms besides `general`. Room r holds
/// users r, r+1, ..., r+per_user-1 (wrapping), so there are as many rooms as users, each of
/// `per_user` members, and no two alike; with no more users than that, every room holds them all.
fn idle_rooms(n: usize, per_user: usize) -> RoomSeed {
    if per_user == 0 || n == 0 {
        return RoomSeed::default();
    }
    let size = per_user.min(n);
    let count = if n > per_user { n } else { per_user };
    RoomSeed {
        label: format!("idle {n}x{per_user}"),
        members: (0..count).map(|r| (0..size).map(|j| (r + j) % n).collect()).collect(),
    }
}

async fn idle(ctx: &Ctx, t: &Target) -> Result<Report, String> {
    let o = &ctx.opts;
    let n = o.conns.unwrap_or(10_000);
    let shared = Shared::new(ctx.base);
    let rss = RssWatch::start(t.pid);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = mem_kib(t.pid);
    rss.reset(t.pid);
    let mark = CpuMark::now(t.pid);
    eprintln!("load: idle: opening {n} connections, {} at a time", o.open_concurrency);
    let (conns, open) = open_many(&shared, t.addr, urls(t, 0..n), o.open_concurrency).await;
    eprintln!(
        "load: idle: {} open in {:.1} s; waiting for the join/presence traffic to settle",
        open.opened, open.secs
    );
    let (settle, settled) = quiesce(&shared, Duration::from_secs(1), Duration::from_secs(300)).await;
    eprintln!("load: idle: settled after {settle:.1} s; holding for {} s", o.hold);
    tokio::time::sleep(secs(o.hold)).await;
    let held = open_conns(&conns);
    let after = mem_kib(t.pid);
    let (cpu, cpu_pct, me_pct, wall) = mark.since(t.pid);
    let fds = fd_count(t.pid);
    let per_conn = before.zip(after).map(|(b, a)| (a.0 as f64 - b.0 as f64) * 1024.0 / held.max(1) as f64);
    let mut tb = Table::kv(format!("idle: {n} connections held"));
    let per_user = o.rooms_per_user.min(t.rooms.len());
    tb.add(
        "conversations of each user",
        match per_user {
            0 => "general only (--rooms-per-user 0)".to_string(),
            k => format!(
                "general + {k} private rooms ({} rooms of {} members, seeded in {:.1} s)",
                int(t.rooms.len() as f64),
                k.min(n),
                t.room_seed_secs
            ),
        },
    );
    tb.add("rooms frames received (one per connection)", int(shared.room_frames.load(Relaxed) as f64));
    open_rows(&mut tb, &open);
    tb.add("connections held after settling + hold", format!("{held} of {n}"));
    tb.add("closed by the server", format!("{} ({})", open.opened - held, shared.closes_text()));
    tb.add(
        "join/presence traffic settled after",
        format!("{settle:.1} s{}", if settled { "" } else { " (still busy: gave up waiting)" }),
    );
    tb.add(
        "frames received while opening (join / leave / presence)",
        format!(
            "{} / {} / {}",
            int(shared.joins.load(Relaxed) as f64),
            int(shared.leaves.load(Relaxed) as f64),
            int(shared.presences.load(Relaxed) as f64)
        ),
    );
    let m = |v: Option<(u64, u64)>| v.map(|v| mib(v.0)).unwrap_or_else(|| "n/a".into());
    tb.add("server RSS before connecting", m(before));
    tb.add("server RSS with all connected", m(after));
    tb.add(
        "server peak RSS (sampled / VmHWM)",
        format!("{} / {}", mib(rss.peak()), after.map(|a| mib(a.1)).unwrap_or_default()),
    );
    tb.add(
        "RSS per idle connection",
        per_conn.map(|b| format!("{:.1} KiB", b / 1024.0)).unwrap_or_else(|| "n/a".into()),
    );
    tb.add("server open fds", opt(fds));
    tb.add(
        "server CPU (utime+stime)",
        format!("{} s over {wall:.1} s = {}% of a core", opt(cpu.map(|c| format!("{c:.2}"))), pct(cpu_pct)),
    );
    tb.add("load generator CPU", format!("{}% of a core", pct(me_pct)));
    let (others, steal) = mark.machine_rows(t.pid, &mut tb);
    let mut notes = Vec::new();
    if held < n {
        notes.push(format!("only {held} of {n} connections were held"));
    }
    let json = json!({
        "connections": n, "rooms_per_user": per_user, "rooms": t.rooms.len(), "room_seed_secs": round2(t.room_seed_secs),
        "open": open_json(&open), "held": held, "closes": shared.closes.lock().unwrap().clone(),
        "settle_secs": round2(settle), "settled": settled,
        "joins": shared.joins.load(Relaxed), "leaves": shared.leaves.load(Relaxed), "presences": shared.presences.load(Relaxed),
        "rss_before_kib": before.map(|b| b.0), "rss_after_kib": after.map(|a| a.0), "vmhwm_kib": after.map(|a| a.1),
        "rss_peak_sampled_kib": rss.peak(), "rss_per_conn_bytes": per_conn.map(|b| b.round()),
        "server_fds": fds, "server_cpu_secs": cpu.map(round2), "server_cpu_pct": cpu_pct.map(round2),
        "loadgen_cpu_pct": me_pct.map(round2), "others_cpu_pct": others.map(round2), "stolen_cpu_pct": steal.map(round2),
    });
    Ok(Report { tables: vec![tb], json, notes })
}

// ---------------------------------------------------------------------------------------------

/// Who is in which conversation and who sends where, in a stepped scenario.
struct Layout {
    clients: usize,
    /// Client index -> its room's group (empty: one room, everyone receives every message).
    group_of: Vec<u32>,
    /// (client index, the rooms it posts to in turn; none: `general` without a `room` field).
    senders: Vec<(usize, Vec<i64>)>,
    /// For the table title.
    desc: String,
    /// The committed msg/s the issue asks for at p99 under `p99_ms`, none lost or duplicated.
    goal: Option<Goal>,
    /// Edits and reactions a second from one more client (the account after the others) while
    /// every step runs (the `living` scenario).
    editor: Option<f64>,
}

struct Goal {
    committed: f64,
    p99_ms: f64,
}

impl Layout {
    /// Everyone in `general`, the first `s` sending.
    fn one_room(n: usize, s: usize) -> Layout {
        let senders = first_senders(n, s);
        let desc = format!("{n} clients, {} senders", senders.len());
        Layout { clients: n, group_of: Vec::new(), senders, desc, goal: None, editor: None }
    }
}

/// The `rooms` scenario: `rooms` private rooms of `members` clients each, no client in two.
struct RoomsLayout {
    rooms: usize,
    members: usize,
    senders: usize,
}

impl RoomsLayout {
    fn new(o: &crate::Opts) -> Result<RoomsLayout, String> {
        let conns = o.conns.unwrap_or(10_000);
        let rooms = o.rooms.unwrap_or(1000);
        if rooms == 0 || conns / rooms.max(1) < 2 {
            return Err(format!(
                "rooms: --conns {conns} over --rooms {rooms} leaves fewer than 2 members a room"
            ));
        }
        let members = conns / rooms;
        if !conns.is_multiple_of(rooms) {
            eprintln!("load: rooms: using {} clients, a multiple of --rooms {rooms}", rooms * members);
        }
        Ok(RoomsLayout { rooms, members, senders: o.senders.unwrap_or(rooms).clamp(1, rooms * members) })
    }

    /// The clients used: `--conns` rounded down to a multiple of `--rooms`.
    fn conns(&self) -> usize {
        self.rooms * self.members
    }

    fn seed(&self) -> RoomSeed {
        let m = self.members;
        RoomSeed {
            label: format!("rooms {}x{m}", self.rooms),
            members: (0..self.rooms).map(|r| (r * m..(r + 1) * m).collect()).collect(),
        }
    }

    /// Client i is in room i / members. Sender k is member k / rooms of room k % rooms: every
    /// room gets one sender before any gets a second.
    fn layout(&self, room_ids: &[i64]) -> Layout {
        let (m, r) = (self.members, self.rooms);
        let senders = (0..self.senders).map(|k| ((k % r) * m + (k / r) % m, vec![room_ids[k % r]])).collect();
        Layout {
            clients: self.conns(),
            group_of: (0..self.conns()).map(|i| (i / m) as u32).collect(),
            senders,
            desc: format!("{} clients in {r} private rooms of {m}, {} senders", self.conns(), self.senders),
            goal: Some(Goal { committed: 20_000.0, p99_ms: 50.0 }),
            editor: None,
        }
    }
}

/// Why a step failed on delivery or latency (`--min-delivery`, `--p99-limit`); `p99_label`
/// names the latency measured.
pub(crate) fn step_failures(o: &crate::Opts, frac: f64, p99: Option<u64>, p99_label: &str) -> Vec<String> {
    let mut why = Vec::new();
    if frac < o.min_delivery {
        why.push(format!("delivered {:.1} % < {:.0} %", frac * 100.0, o.min_delivery * 100.0));
    }
    if p99.unwrap_or(u64::MAX) as f64 > o.p99_limit_ms * 1e6 {
        why.push(format!("{p99_label} {} ms > {} ms", ms(p99), o.p99_limit_ms));
    }
    why
}

/// fanout, room and rooms: the clients of `layout`, its senders sending; total rate stepped
/// through `steps` until a step fails. Returns the report and the highest total msg/s sustained.
async fn stepped(
    ctx: &Ctx,
    t: &Target,
    name: &str,
    layout: Layout,
    steps: Vec<f64>,
) -> Result<(Report, Option<f64>), String> {
    let o = &ctx.opts;
    let n = layout.clients;
    let shared = Shared::grouped(ctx.base, layout.group_of);
    eprintln!("load: {name}: opening {n} connections");
    let (mut conns, open) = open_all(&shared, t, n, o.open_concurrency).await?;
    let (settle, _) = quiesce(&shared, Duration::from_millis(300), Duration::from_secs(300)).await;
    let (plan_tx, plan_rx) = watch::channel(Plan::default());
    let s = start_senders(&mut conns, &layout.senders, &shared, &plan_rx, o.size);
    // The editor's changes run through every step (warm-up included).
    let editing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut editor_task = None;
    let mut editor_counts = None;
    if let Some(rate) = layout.editor {
        let mut editor = crate::living::seed(&t.ws_url(&t.token(n), None), 200).await?;
        let _ = quiesce(&shared, Duration::from_millis(300), Duration::from_secs(60)).await;
        editor_counts = Some(Arc::clone(&editor.counts));
        let stop = Arc::clone(&editing);
        editor_task = Some(tokio::spawn(async move {
            let r = editor.run(rate, None, crate::living::Mix::LIVE, &stop).await;
            (r, editor)
        }));
    }
    let rss = RssWatch::start(t.pid);
    rss.reset(t.pid);
    let mark = CpuMark::now(t.pid);

    // Warm-up: one second at the first step's rate (not reported; counted for loss).
    set_plan(&plan_tx, 0, steps[0], s);
    tokio::time::sleep(Duration::from_secs(1)).await;
    set_plan(&plan_tx, 0, 0.0, s);
    drain_phase(&shared, &conns, 0, Duration::from_secs(3)).await;

    let mut tb = Table::new(
        format!("{name}: {}, {:.0} s per step", layout.desc, o.step_secs),
        &[
            "target msg/s",
            "sent/s",
            "committed msg/s",
            "delivered frames/s",
            "delivered %",
            "lost",
            "dup",
            "p50 ms",
            "p99 ms",
            "max ms",
            "server CPU %",
            "writer fsync %",
            "gen CPU %",
            "other CPU % (stolen)",
            "result",
        ],
    );
    let mut rows_json = Vec::new();
    let mut best: Option<(f64, f64, f64)> = None; // (target, accepted/s, delivered/s)
    let mut stop_reason = "every step kept up".to_string();
    let mut notes = Vec::new();
    // The first step meeting the goal: (target, committed/s, delivered/s, p99, generator CPU %).
    let mut goal_met = None;
    for (k, &rate) in steps.iter().enumerate() {
        let phase = k + 1;
        if phase >= client::MAX_PHASES {
            break;
        }
        eprintln!("load: {name}: step {phase}: {rate} msg/s");
        let closes_before = shared.closes_total();
        let (dups_before, misrouted_before) = (shared.dups.load(Relaxed), shared.misrouted.load(Relaxed));
        let step_mark = CpuMark::now(t.pid);
        let w0 = rss.writer_raw();
        let t0_ns = shared.now_ns();
        set_plan(&plan_tx, phase, rate, s);
        tokio::time::sleep(secs(o.step_secs)).await;
        set_plan(&plan_tx, phase, 0.0, s);
        let drained = drain_phase(&shared, &conns, phase, Duration::from_secs(3)).await;
        let (_, cpu_pct, me_pct, _) = step_mark.since(t.pid);
        let (others, stolen) = step_mark.others_and_steal(t.pid);
        let w1 = rss.writer_raw();
        let wtotal: u64 = (0..4).map(|i| w1[i] - w0[i]).sum();
        let fsync_pct = (wtotal > 0).then(|| 100.0 * (w1[2] - w0[2]) as f64 / wtotal as f64);
        let st = shared.phase(phase);
        let expected = shared.expected(&conns, Some(phase));
        let lost = expected.saturating_sub(st.delivered);
        let dups = shared.dups.load(Relaxed) - dups_before;
        let misrouted = shared.misrouted.load(Relaxed) - misrouted_before;
        let span = ((st.last_rx_ns.saturating_sub(t0_ns)) as f64 / 1e9).max(o.step_secs);
        let delivered_rate = st.delivered as f64 / span;
        let frac = if expected > 0 { st.delivered as f64 / expected as f64 } else { 0.0 };
        let (p50, p99, max) =
            (st.hist.quantile(0.5), st.hist.quantile(0.99), (st.hist.count > 0).then_some(st.hist.max));
        let new_closes = shared.closes_total() - closes_before;
        let mut why = step_failures(o, frac, p99, "p99");
        if misrouted > 0 {
            why.push(format!("{misrouted} frames reached clients outside the sender's room"));
        }
        if new_closes > 0 {
            why.push(format!("{new_closes} clients disconnected ({})", shared.closes_text()));
        }
        let sent_rate = st.sent as f64 / o.step_secs;
        if sent_rate < 0.95 * rate {
            notes.push(format!(
                "step {rate} msg/s: the generator only sent {sent_rate:.0} msg/s (sends block when the server stops reading, or the generator is saturated)"
            ));
        }
        if me_pct.unwrap_or(0.0) > 90.0 {
            notes.push(format!(
                "step {rate} msg/s: the load generator used {}% of its core: its own latency may be part of the numbers",
                pct(me_pct)
            ));
        }
        let ok = why.is_empty();
        tb.row(vec![
            int(rate),
            int(sent_rate),
            int(st.accepted as f64 / o.step_secs),
            int(delivered_rate),
            format!("{:.1}", frac * 100.0),
            int(lost as f64),
            int(dups as f64),
            ms(p50),
            ms(p99),
            ms(max),
            pct(cpu_pct),
            pct(fsync_pct),
            pct(me_pct),
            others_cell(others, stolen),
            if ok { "ok".into() } else { "FAIL".into() },
        ]);
        rows_json.push(json!({
            "target_rate": rate, "sent_rate": round2(sent_rate), "accepted_rate": round2(st.accepted as f64 / o.step_secs),
            "delivered_frames_per_sec": round2(delivered_rate), "expected_frames": expected, "delivered_frames": st.delivered,
            "delivered_fraction": frac, "lost": lost, "duplicated": dups, "misrouted": misrouted, "p50_ms": ms_f(p50), "p99_ms": ms_f(p99), "max_ms": ms_f(max),
            "mean_ms": ms_f(st.hist.mean()), "server_cpu_pct": cpu_pct.map(round2), "writer_fsync_wait_pct": fsync_pct.map(round2),
            "loadgen_cpu_pct": me_pct.map(round2), "others_cpu_pct": others.map(round2), "stolen_cpu_pct": stolen.map(round2), "drained_within_3s": drained, "ok": ok, "why": why,
        }));
        let acc_rate = st.accepted as f64 / o.step_secs;
        if let Some(g) = &layout.goal {
            let p99_ok = p99.is_some_and(|p| (p as f64) < g.p99_ms * 1e6);
            // 1 % of slack for pacing: a step at exactly the goal's rate may commit a few less.
            if acc_rate >= 0.99 * g.committed
                && p99_ok
                && lost == 0
                && dups == 0
                && misrouted == 0
                && new_closes == 0
            {
                goal_met.get_or_insert((rate, acc_rate, delivered_rate, p99, me_pct));
            }
        }
        if ok {
            if best.is_none_or(|b| delivered_rate > b.2) {
                best = Some((rate, acc_rate, delivered_rate));
            }
        } else {
            stop_reason = format!("step {} msg/s: {}", int(rate), why.join("; "));
            break;
        }
    }
    plan_tx.send_replace(Plan { stop: true, ..Plan::default() });
    editing.store(true, Relaxed);
    let mut editor_json = Value::Null;
    let mut editor_row = None;
    if let (Some(task), Some(counts)) = (editor_task.take(), editor_counts) {
        let (outcome, _editor) = task.await.map_err(|e| format!("editor task: {e}"))?;
        let sent = outcome?;
        let p99s: Vec<Option<u64>> =
            rows_json.iter().map(|r| r["p99_ms"].as_f64().map(|ms| (ms * 1e6) as u64)).collect();
        let worst = p99s.iter().flatten().max().copied();
        let met = !p99s.is_empty() && p99s.iter().all(|p| p.is_some_and(|p| p <= 25_000_000));
        editor_row = Some((
            format!(
                "{} edits and reactions sent, {} change frames delivered, {} refused; worst step p99 {} ms",
                int(sent as f64),
                int(shared.living_frames.load(Relaxed) as f64),
                int(counts.errors.load(Relaxed) as f64),
                ms(worst)
            ),
            if met { "met: p99 <= 25 ms at every step" } else { "NOT met at every step" },
        ));
        editor_json = json!({ "sent": sent, "change_frames": shared.living_frames.load(Relaxed),
            "refused": counts.errors.load(Relaxed), "worst_p99_ms": ms_f(worst), "goal_met": met });
    }
    let drained = drain_all(&conns, &shared, Duration::from_secs(15)).await;
    let mut sum = Table::kv(format!("{name}: summary"));
    if let Some((what, verdict)) = editor_row {
        sum.add("living messages", what);
        sum.add(
            "issue 13 target: fan-out p99 <= 25 ms with 1,000 edits and reactions/s",
            verdict.to_string(),
        );
    }
    open_rows(&mut sum, &open);
    sum.add("connections held at the end", format!("{} of {n}", open_conns(&conns)));
    sum.add(
        "max sustained",
        match best {
            Some((r, a, d)) => {
                format!("{} delivered frames/s ({} msg/s committed, step {} msg/s)", int(d), int(a), int(r))
            }
            None => "none: the first step already failed".into(),
        },
    );
    sum.add("stopped because", stop_reason.clone());
    if let Some(g) = &layout.goal {
        sum.add(
            format!(
                "issue 11 target: >= {} msg/s committed, all delivered, p99 < {} ms, 0 lost, 0 duplicated",
                int(g.committed),
                g.p99_ms
            )
            .as_str(),
            match goal_met {
                Some((r, a, d, p99, gen)) => format!(
                    "met at step {} msg/s: {} msg/s committed, {} frames/s delivered, p99 {} ms (generator CPU {}%)",
                    int(r),
                    int(a),
                    int(d),
                    ms(p99),
                    pct(gen)
                ),
                None => "NOT met at any step".into(),
            },
        );
    }
    let mut j = json!({
        "clients": n, "senders": s, "step_secs": o.step_secs, "open": open_json(&open), "settle_secs": round2(settle),
        "steps": rows_json, "stop_reason": stop_reason,
        "max_sustained_delivered_frames_per_sec": best.map(|b| round2(b.2)),
        "max_sustained_accepted_msgs_per_sec": best.map(|b| round2(b.1)),
        "max_sustained_step_rate": best.map(|b| b.0),
        "goal_met_at_step_rate": goal_met.map(|g| g.0),
        "living": editor_json,
    });
    totals(&mut sum, &mut j, &conns, &shared, drained, t, &mark, &rss);
    Ok((Report { tables: vec![tb, sum], json: j, notes }, best.map(|b| b.0)))
}

// ---------------------------------------------------------------------------------------------

async fn login_storm(ctx: &Ctx, t: &Target) -> Result<Report, String> {
    let o = &ctx.opts;
    let n = o.conns.unwrap_or(100);
    let rate = o.rate.or(ctx.fanout_max_rate.map(|r| r / 2.0)).unwrap_or(2500.0);
    let rate_src = if o.rate.is_some() {
        "--rate"
    } else if ctx.fanout_max_rate.is_some() {
        "half of fanout's maximum in this run"
    } else {
        "default (fanout did not run first)"
    };
    let dur = o.duration.unwrap_or(5.0);
    let shared = Shared::new(ctx.base);
    let (mut conns, open) = open_all(&shared, t, n, o.open_concurrency).await?;
    quiesce(&shared, Duration::from_millis(300), Duration::from_secs(60)).await;
    let (plan_tx, plan_rx) = watch::channel(Plan::default());
    let s = start_senders(&mut conns, &first_senders(n, o.senders.unwrap_or(n)), &shared, &plan_rx, o.size);
    let rss = RssWatch::start(t.pid);
    rss.reset(t.pid);
    let mark = CpuMark::now(t.pid);
    // Warm-up, then "before".
    set_plan(&plan_tx, 0, rate, s);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut phase_marks = Vec::new();
    eprintln!("load: login-storm: chat at {rate} msg/s; {dur} s before the storm");
    phase_marks.push((1, "before", CpuMark::now(t.pid)));
    set_plan(&plan_tx, 1, rate, s);
    tokio::time::sleep(secs(dur)).await;
    let phase1 = (phase_marks[0].2.since(t.pid), phase_marks[0].2.others_and_steal(t.pid));

    eprintln!("load: login-storm: {} logins at once", o.logins);
    let storm_mark = CpuMark::now(t.pid);
    set_plan(&plan_tx, 2, rate, s);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(900))
        .build()
        .map_err(|e| format!("http client: {e}"))?;
    let url = t.http_url("/login");
    let mut set = tokio::task::JoinSet::new();
    for i in 0..o.logins {
        let http = http.clone();
        let url = url.clone();
        let user = t.users[i % t.users.len()].1.clone();
        set.spawn(async move {
            let t0 = Instant::now();
            let r =
                http.post(&url).json(&json!({"username": user, "password": server::PASSWORD})).send().await;
            let outcome = match r {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let body = resp.text().await.unwrap_or_default();
                    if status == 200 && body.contains("\"access_token\"") {
                        Ok(())
                    } else {
                        Err(format!("HTTP {status}"))
                    }
                }
                Err(e) => Err(if e.is_timeout() { "timed out".into() } else { format!("{e}") }),
            };
            (t0.elapsed().as_nanos() as u64, outcome)
        });
    }
    let login_hist = crate::hist::Histo::default();
    let mut ok = 0u64;
    let mut errors: std::collections::BTreeMap<String, u64> = Default::default();
    let gather = async {
        while let Some(r) = set.join_next().await {
            match r {
                Ok((ns, Ok(()))) => {
                    ok += 1;
                    login_hist.record(ns);
                }
                Ok((ns, Err(e))) => {
                    login_hist.record(ns);
                    *errors.entry(e).or_default() += 1;
                }
                Err(e) => *errors.entry(format!("task: {e}")).or_default() += 1,
            }
        }
    };
    let finished = tokio::time::timeout(Duration::from_secs(900), gather).await.is_ok();
    let storm = (storm_mark.since(t.pid), storm_mark.others_and_steal(t.pid));
    eprintln!("load: login-storm: storm over after {:.1} s; {dur} s after", storm.0 .3);
    let after_mark = CpuMark::now(t.pid);
    set_plan(&plan_tx, 3, rate, s);
    tokio::time::sleep(secs(dur)).await;
    let after = (after_mark.since(t.pid), after_mark.others_and_steal(t.pid));
    plan_tx.send_replace(Plan { stop: true, ..Plan::default() });
    let drained = drain_all(&conns, &shared, Duration::from_secs(15)).await;

    let mut tb = Table::new(
        format!("login-storm: chat ({n} clients, {s} senders, {} msg/s: {rate_src}) before / during / after {} logins", int(rate), o.logins),
        &["phase", "secs", "accepted/s", "delivered frames/s", "p50 ms", "p99 ms", "max ms", "server CPU %", "gen CPU %", "other CPU % (stolen)"],
    );
    let mut pj = Vec::new();
    for (p, label, m) in [(1, "before", phase1), (2, "during storm", storm), (3, "after", after)] {
        phase_row(&mut tb, &mut pj, label, &shared.phase(p), m.0 .3, m.0 .1, m.0 .2, m.1);
    }
    let ls = login_hist.snapshot();
    let mut lt = Table::kv("login-storm: logins (real POST /login, bcrypt cost 12)");
    lt.add("logins started at once", o.logins.to_string());
    lt.add("succeeded", ok.to_string());
    lt.add(
        "failed",
        if errors.is_empty() {
            "0".into()
        } else {
            errors.iter().map(|(k, v)| format!("{v} x {k}")).collect::<Vec<_>>().join(", ")
        },
    );
    if !finished {
        lt.add("unfinished", "some logins were still running after 900 s".to_string());
    }
    lt.add("login latency p50 / p99 / max", p50_p99_max(&ls));
    lt.add("storm duration", format!("{:.1} s ({:.1} logins/s)", storm.0 .3, ok as f64 / storm.0 .3));
    let mut sum = Table::kv("login-storm: summary");
    open_rows(&mut sum, &open);
    let mut j = json!({
        "clients": n, "senders": s, "rate": rate, "rate_source": rate_src, "open": open_json(&open), "phases": pj,
        "logins": {"attempted": o.logins, "ok": ok, "errors": errors, "finished": finished,
                   "p50_ms": ms_f(ls.quantile(0.5)), "p99_ms": ms_f(ls.quantile(0.99)), "max_ms": ms_f((ls.count > 0).then_some(ls.max)),
                   "storm_secs": round2(storm.0 .3)},
    });
    totals(&mut sum, &mut j, &conns, &shared, drained, t, &mark, &rss);
    let notes = vec!["the server runs with --rate-limit-off (all logins come from 127.0.0.1, which the per-address limit would otherwise refuse after 10)".to_string()];
    Ok(Report { tables: vec![tb, lt, sum], json: j, notes })
}

// ---------------------------------------------------------------------------------------------

async fn resume(ctx: &Ctx, t: &Target) -> Result<Report, String> {
    let o = &ctx.opts;
    let missed = o.missed as u64;
    let shared = Shared::new(ctx.base);
    let presence = Duration::from_secs(30);
    // With --changes: B's messages in general, posted before A leaves, that B then edits,
    // reacts to and deletes while A is away.
    let changes = o.changes as u64;
    let mut editor = match changes {
        0 => None,
        c => Some(crate::living::seed(&t.ws_url(&t.token(1), None), (c as usize / 2).clamp(10, 2000)).await?),
    };
    // A connects once to learn where it is, then goes away.
    let url_a = t.ws_url(&t.token(0), None);
    let mut a = open(&shared, t.addr, 0, &url_a, None, presence).await.map_err(|e| e.1)?;
    let since = a.state.last_id.load(Relaxed);
    if let Some(mut sink) = a.sink.take() {
        use futures_util::SinkExt;
        let _ = tokio::time::timeout(Duration::from_secs(2), sink.close()).await;
    }
    drop(a);
    // B sends the messages A misses.
    let url_b = t.ws_url(&t.token(1), None);
    let mut b = open(&shared, t.addr, 1, &url_b, None, presence).await.map_err(|e| e.1)?;
    let rate = o.rate.unwrap_or(5000.0);
    eprintln!(
        "load: resume: sending {missed} messages at {rate} msg/s while client A is away (since={since})"
    );
    let (plan_tx, plan_rx) = watch::channel(Plan::default());
    // B is in every room A is in (the seeded ones) and posts to them in turn; with none, to general.
    let rooms = t.rooms.clone();
    let _sender = spawn_sender(b.sink.take().unwrap(), 1, Arc::clone(&shared), plan_rx, o.size, 0.0, rooms);
    let fill_t0 = Instant::now();
    plan_tx.send_replace(Plan { phase: 1, rate, limit: missed, stop: false });
    let filled = wait_for(Duration::from_secs(60 + missed / 100), Duration::from_millis(10), || {
        shared.counts(1).1 >= missed || !b.state.open.load(Relaxed)
    })
    .await;
    let fill_secs = fill_t0.elapsed().as_secs_f64();
    let accepted = shared.counts(1).1;
    if !filled || accepted < missed {
        return Err(format!(
            "only {accepted} of {missed} messages were accepted in {fill_secs:.1} s ({})",
            shared.closes_text()
        ));
    }
    plan_tx.send_replace(Plan { stop: true, ..Plan::default() });
    let mut changes_secs = 0.0;
    if let Some(editor) = editor.as_mut() {
        let t0 = Instant::now();
        let never = std::sync::atomic::AtomicBool::new(false);
        let sent = editor.run(rate, Some(changes), crate::living::Mix::MIXED, &never).await?;
        // The last change committed and delivered: the editor's own socket saw it.
        let seen = wait_for(Duration::from_secs(60), Duration::from_millis(10), || {
            editor.counts.changes_seen.load(Relaxed) + editor.counts.errors.load(Relaxed) >= sent
        })
        .await;
        changes_secs = t0.elapsed().as_secs_f64();
        if !seen || editor.counts.errors.load(Relaxed) > 0 {
            return Err(format!(
                "of {sent} changes, {} were seen and {} refused",
                editor.counts.changes_seen.load(Relaxed),
                editor.counts.errors.load(Relaxed)
            ));
        }
    }

    let mut tb = Table::new(
        format!(
            "resume: reconnect with ?since={since} after {} missed messages{} in {}",
            int(missed as f64),
            match changes {
                0 => String::new(),
                c => format!(" and {} edits, reactions and deletions", int(c as f64)),
            },
            match t.rooms.len() {
                0 => "general".to_string(),
                k => format!("{k} private rooms"),
            }
        ),
        &[
            "attempt",
            "frames received",
            "change frames",
            "time to all (ms)",
            "time to presence (ms)",
            "lost",
            "duplicated",
            "< 1 s",
        ],
    );
    let mut aj = Vec::new();
    let mut worst: u64 = 0;
    let mut all_ok = true;
    let url = t.ws_url(&t.token(0), Some(since));
    for k in 1..=o.repeat.max(1) {
        let dups0 = shared.dups.load(Relaxed);
        let t0 = shared.now_ns();
        let r = open(&shared, t.addr, 0, &url, Some(since), presence).await;
        let conn = match r {
            Ok(c) => c,
            Err((_, e)) => return Err(format!("reconnect {k}: {e}")),
        };
        let got = conn.state.history.load(Relaxed);
        let replayed_changes = conn.state.history_changes.load(Relaxed);
        let last_ns = conn.state.history_last_ns.load(Relaxed);
        let pres_ns = conn.state.presence_ns.load(Relaxed);
        let to_all = last_ns.saturating_sub(t0);
        let to_presence = pres_ns.saturating_sub(t0);
        let dups = shared.dups.load(Relaxed) - dups0;
        let lost = missed.saturating_sub(got);
        // Exactly the missed ones: more would be messages of rooms A is not in.
        let ok = got == missed && to_all < 1_000_000_000 && dups == 0;
        all_ok &= ok;
        worst = worst.max(to_all);
        tb.row(vec![
            k.to_string(),
            int(got as f64),
            int(replayed_changes as f64),
            ms(Some(to_all)),
            ms(Some(to_presence)),
            int(lost as f64),
            int(dups as f64),
            if ok { "yes".into() } else { "NO".into() },
        ]);
        aj.push(json!({"attempt": k, "received": got, "change_frames": replayed_changes, "time_to_all_ms": ms_f(Some(to_all)),
            "time_to_presence_ms": ms_f(Some(to_presence)), "lost": lost, "duplicates": dups, "ok": ok}));
        drop(conn);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut sum = Table::kv("resume: summary");
    sum.add(
        "messages missed",
        format!("{} in {} rooms (round robin)", int(missed as f64), t.rooms.len().max(1)),
    );
    sum.add(
        "refill (one sender, pipelined)",
        format!("{fill_secs:.2} s = {} msg/s accepted", int(accepted as f64 / fill_secs)),
    );
    if changes > 0 {
        sum.add(
            "changes while away (one client, pipelined)",
            format!(
                "{} edits, reactions and deletions in {changes_secs:.2} s, of {} messages posted before",
                int(changes as f64),
                int(editor.as_ref().map_or(0, |e| e.ids.len()) as f64)
            ),
        );
    }
    sum.add("worst time to receive all", format!("{} ms", ms(Some(worst))));
    sum.add(
        "result",
        if all_ok { "PASS (all under 1 s, none lost or duplicated)".to_string() } else { "FAIL".to_string() },
    );
    let mem = mem_kib(t.pid);
    sum.add(
        "server RSS now / VmHWM",
        mem.map(|m| format!("{} / {}", mib(m.0), mib(m.1))).unwrap_or("n/a".into()),
    );
    let j = json!({
        "missed": missed, "changes": changes, "rooms": t.rooms.len().max(1), "since": since, "refill_secs": round2(fill_secs), "refill_rate": round2(accepted as f64 / fill_secs),
        "attempts": aj, "worst_ms": ms_f(Some(worst)), "pass": all_ok,
        "server_rss_kib": mem.map(|m| m.0), "server_vmhwm_kib": mem.map(|m| m.1),
    });
    Ok(Report { tables: vec![tb, sum], json: j, notes: Vec::new() })
}

// ---------------------------------------------------------------------------------------------

async fn slow_reader(ctx: &Ctx, t: &Target) -> Result<Report, String> {
    let o = &ctx.opts;
    let n = o.conns.unwrap_or(100);
    let rate = o.rate.unwrap_or(1000.0);
    let base_secs = o.duration.unwrap_or(10.0);
    let max_slow = base_secs * 12.0;
    let shared = Shared::new(ctx.base);
    let (mut conns, open) = open_all(&shared, t, n, o.open_concurrency).await?;
    quiesce(&shared, Duration::from_millis(300), Duration::from_secs(60)).await;
    let (plan_tx, plan_rx) = watch::channel(Plan::default());
    let s = start_senders(&mut conns, &first_senders(n, o.senders.unwrap_or(10)), &shared, &plan_rx, o.size);
    let rss = RssWatch::start(t.pid);
    let mark = CpuMark::now(t.pid);
    set_plan(&plan_tx, 0, rate, s);
    tokio::time::sleep(Duration::from_secs(1)).await;
    eprintln!("load: slow-reader: {base_secs} s without the slow reader");
    let m1 = CpuMark::now(t.pid);
    set_plan(&plan_tx, 1, rate, s);
    tokio::time::sleep(secs(base_secs)).await;
    let p1 = (m1.since(t.pid), m1.others_and_steal(t.pid));

    // The slow reader: a tiny receive buffer (no autotuning) and never a read after the handshake.
    let rss_before = mem_kib(t.pid).map(|m| m.0);
    rss.reset(t.pid);
    let slow_idx = n;
    let url = t.ws_url(&t.token(slow_idx), None);
    let slow = client::connect(t.addr, &url, Some(4096)).await.map_err(|e| format!("slow reader: {e}"))?;
    let slow_t0 = Instant::now();
    let slow_port = slow.get_ref().local_addr().map(|a| a.port()).unwrap_or(0);
    let mut max_queue = 0u64;
    eprintln!(
        "load: slow-reader: slow client connected; chatting until the server drops it (at most {max_slow} s)"
    );
    let m2 = CpuMark::now(t.pid);
    set_plan(&plan_tx, 2, rate, s);
    let mut dropped_after: Option<f64> = None;
    let mut rss_at_drop = None;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let el = slow_t0.elapsed().as_secs_f64();
        if dropped_after.is_none() {
            match server::server_side(t.addr.port(), slow_port) {
                server::ServerSide::Held { send_queue } => max_queue = max_queue.max(send_queue),
                _ => {
                    dropped_after = Some(el);
                    rss_at_drop = mem_kib(t.pid).map(|m| m.0);
                    eprintln!("load: slow-reader: the server closed the slow client after {el:.1} s");
                }
            }
        }
        let stop_at = dropped_after.map(|d| d + base_secs.min(5.0)).unwrap_or(max_slow);
        if el >= stop_at || el >= max_slow {
            break;
        }
    }
    let p2 = (m2.since(t.pid), m2.others_and_steal(t.pid));
    let slow_peak = rss.peak();
    let m3 = CpuMark::now(t.pid);
    set_plan(&plan_tx, 3, rate, s);
    tokio::time::sleep(secs(base_secs.min(5.0))).await;
    let p3 = (m3.since(t.pid), m3.others_and_steal(t.pid));
    plan_tx.send_replace(Plan { stop: true, ..Plan::default() });
    let drained = drain_all(&conns, &shared, Duration::from_secs(15)).await;

    // Now read what the slow client was sent, to see how the server ended it.
    let mut slow_msgs = 0u64;
    let mut slow_end = String::from("still open after 10 s of reading");
    let mut slow = slow;
    let read_all = async {
        while let Some(m) = slow.next().await {
            match m {
                Ok(Message::Text(_)) => slow_msgs += 1,
                Ok(Message::Close(Some(cf))) => {
                    slow_end = format!("close frame {} {:?}", u16::from(cf.code), cf.reason.as_str());
                    return;
                }
                Ok(Message::Close(None)) => {
                    slow_end = "close frame without code".into();
                    return;
                }
                Ok(_) => {}
                Err(e) => {
                    slow_end = format!("read error: {e}");
                    return;
                }
            }
        }
        slow_end = "connection ended without a close frame".into();
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), read_all).await;

    let mut tb = Table::new(
        format!(
            "slow-reader: {n} clients ({s} senders, {} msg/s) with and without one client that never reads",
            int(rate)
        ),
        &[
            "phase",
            "secs",
            "accepted/s",
            "delivered frames/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "server CPU %",
            "gen CPU %",
            "other CPU % (stolen)",
        ],
    );
    let mut pj = Vec::new();
    for (p, label, m) in [(1, "without slow reader", p1), (2, "slow reader connected", p2), (3, "after", p3)]
    {
        phase_row(&mut tb, &mut pj, label, &shared.phase(p), m.0 .3, m.0 .1, m.0 .2, m.1);
    }
    let mut sum = Table::kv("slow-reader: summary");
    sum.add(
        "slow client disconnected by the server",
        match dropped_after {
            Some(d) => format!("yes, {d:.1} s after it connected (its server socket closed)"),
            None => format!("NO (the server still held it after {max_slow:.0} s)"),
        },
    );
    sum.add(
        "bytes stuck in the server's kernel send queue (max seen)",
        format!("{} KiB (kernel memory, not in the server's RSS)", int(max_queue as f64 / 1024.0)),
    );
    sum.add(
        "what the slow client finally read",
        format!("{} message frames, then {slow_end}", int(slow_msgs as f64)),
    );
    let rss_growth = rss_before.map(|b| slow_peak.saturating_sub(b));
    sum.add(
        "server RSS before / peak while slow / at drop",
        format!(
            "{} / {} / {} (growth {})",
            rss_before.map(mib).unwrap_or("n/a".into()),
            mib(slow_peak),
            rss_at_drop.map(mib).unwrap_or("n/a".into()),
            rss_growth.map(mib).unwrap_or("n/a".into())
        ),
    );
    open_rows(&mut sum, &open);
    let mut j = json!({
        "clients": n, "senders": s, "rate": rate, "open": open_json(&open), "phases": pj,
        "slow_dropped_after_secs": dropped_after.map(round2), "slow_max_send_queue_bytes": max_queue, "slow_frames_read": slow_msgs, "slow_end": slow_end,
        "rss_before_kib": rss_before, "rss_peak_while_slow_kib": slow_peak, "rss_at_drop_kib": rss_at_drop,
        "rss_growth_kib": rss_growth,
    });
    totals(&mut sum, &mut j, &conns, &shared, drained, t, &mark, &rss);
    Ok(Report { tables: vec![tb, sum], json: j, notes: Vec::new() })
}

/// One chat phase (before / during / after) as a table row and a JSON object: the login-storm
/// and slow-reader scenarios report their phases the same way.
#[allow(clippy::too_many_arguments)]
fn phase_row(
    tb: &mut Table,
    pj: &mut Vec<Value>,
    label: &str,
    st: &crate::client::PhaseStats,
    wall: f64,
    server: Option<f64>,
    generator: Option<f64>,
    (others, stolen): (Option<f64>, Option<f64>),
) {
    let (p50, p99, max) =
        (st.hist.quantile(0.5), st.hist.quantile(0.99), (st.hist.count > 0).then_some(st.hist.max));
    tb.row(vec![
        label.into(),
        format!("{wall:.1}"),
        int(st.accepted as f64 / wall),
        int(st.delivered as f64 / wall),
        ms(p50),
        ms(p99),
        ms(max),
        pct(server),
        pct(generator),
        others_cell(others, stolen),
    ]);
    pj.push(json!({"phase": label, "secs": round2(wall), "accepted_rate": round2(st.accepted as f64 / wall),
        "delivered_frames_per_sec": round2(st.delivered as f64 / wall), "p50_ms": ms_f(p50), "p99_ms": ms_f(p99),
        "max_ms": ms_f(max), "server_cpu_pct": server.map(round2),
        "loadgen_cpu_pct": generator.map(round2), "others_cpu_pct": others.map(round2),
        "stolen_cpu_pct": stolen.map(round2)}));
}
