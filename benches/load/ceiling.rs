//! `ceiling`: what this machine allows any server, with no chatterbox at all.
//!
//! A child process (this bench binary again, `__ceiling-writer`), pinned where the server would
//! be, accepts N loopback TCP connections and writes to them round robin as fast as it can, one
//! `write` per frame (or per batch of frames), doing nothing else; the generator reads them as it
//! reads the server's frames in the other scenarios. The writes per second it reaches on one
//! core, and the CPU both sides spend per frame, bound what a server built on one write per
//! delivered frame can deliver here: chatterbox's per-frame cost is this plus its own work.

use std::{
    io::{BufRead, BufReader, Read, Write},
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use serde_json::json;

use crate::{
    scenarios::{runtime, Report},
    server::cpu_secs,
    table::Table,
    Ctx,
};

/// The child's first argument.
pub const WRITER_ARG: &str = "__ceiling-writer";

/// Bytes of one frame: a WebSocket text frame carrying a `message` frame whose text is `size`
/// bytes (the JSON around the text is about 150 bytes: id, room, sender, timestamp, mentions).
fn frame_bytes(size: usize) -> usize {
    size + 150 + 4
}

/// One measured configuration.
struct Shape {
    conns: usize,
    /// Frames per `write`: 1 is a quiet room (every frame its own write), more is a busy one
    /// whose socket takes a committed batch at once, as in fan-out.
    per_write: usize,
}

pub fn run(ctx: &mut Ctx) -> Result<Report, String> {
    let o = ctx.opts.clone();
    let conns = o.conns.unwrap_or(10_000);
    // Both ends of every connection are this machine's: the child holds one, we hold the other.
    if (conns as u64) + 100 > ctx.nofile {
        return Err(format!(
            "--conns {conns} needs RLIMIT_NOFILE above {} (it is {})",
            conns + 100,
            ctx.nofile
        ));
    }
    let shapes = [
        Shape { conns, per_write: 1 },
        Shape { conns: 100, per_write: 1 },
        Shape { conns: 100, per_write: 10 },
    ];
    let bytes = frame_bytes(o.size);
    let mut t = Table::new(
        format!(
            "ceiling: one process writing {bytes}-byte frames round robin to loopback TCP connections, \
             flat out for {} s, {}",
            o.step_secs,
            if ctx.pinned { "on CPU 0; the generator reads on CPU 1" } else { "unpinned" }
        ),
        &[
            "connections",
            "frames per write",
            "writes/s",
            "frames/s",
            "writer µs per write",
            "writer CPU %",
            "generator CPU %",
            "generator µs per frame",
            "frames received",
        ],
    );
    let mut rows = Vec::new();
    for shape in &shapes {
        eprintln!("load: ceiling: {} connections, {} frames per write", shape.conns, shape.per_write);
        let r = measure(ctx, shape, bytes, o.step_secs)?;
        let frames = r.writes * shape.per_write as u64;
        let per_sec = |n: u64| n as f64 / r.secs;
        t.row(vec![
            shape.conns.to_string(),
            shape.per_write.to_string(),
            format!("{:.0}", per_sec(r.writes)),
            format!("{:.0}", per_sec(frames)),
            format!("{:.2}", r.writer_cpu * 1e6 / r.writes.max(1) as f64),
            format!("{:.0}", r.writer_cpu / r.secs * 100.0),
            format!("{:.0}", r.reader_cpu / r.secs * 100.0),
            format!("{:.2}", r.reader_cpu * 1e6 / frames.max(1) as f64),
            if r.received == r.written {
                "all".into()
            } else {
                format!("{} of {} bytes", r.received, r.written)
            },
        ]);
        rows.push(json!({
            "connections": shape.conns, "frames_per_write": shape.per_write,
            "writes_per_sec": per_sec(r.writes), "frames_per_sec": per_sec(frames),
            "writer_cpu_secs": r.writer_cpu, "generator_cpu_secs": r.reader_cpu, "secs": r.secs,
            "bytes_written": r.written, "bytes_received": r.received,
        }));
    }
    let notes =
        vec!["no chatterbox runs here: the writer makes nothing but write(2) calls, so its writes/s on \
         one core bound the frames/s any server can deliver on that core when every frame is its \
         own write (quiet rooms), and writer + generator µs per frame bound what the whole machine \
         can carry"
            .to_string()];
    Ok(Report { tables: vec![t], json: json!({ "frame_bytes": bytes, "rows": rows }), notes })
}

struct Measured {
    writes: u64,
    secs: f64,
    writer_cpu: f64,
    reader_cpu: f64,
    received: u64,
    /// Bytes the writer wrote (a full socket buffer may take part of a write).
    written: u64,
}

fn measure(ctx: &Ctx, shape: &Shape, bytes: usize, secs: f64) -> Result<Measured, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the bench binary: {e}"))?;
    let mut child = Command::new(exe)
        .args([
            WRITER_ARG,
            &shape.conns.to_string(),
            &bytes.to_string(),
            &shape.per_write.to_string(),
            &secs.to_string(),
            if ctx.pinned { "0" } else { "-" },
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the ceiling writer: {e}"))?;
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).map_err(|e| e.to_string())?;
    let port: u16 = line.trim().parse().map_err(|_| format!("the ceiling writer said {line:?}"))?;
    let rt = runtime(ctx.pinned)?;
    let received = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&received);
    let conns = shape.conns;
    rt.block_on(async move {
        for _ in 0..conns {
            let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .map_err(|e| format!("cannot connect to the ceiling writer: {e}"))?;
            let _ = stream.set_nodelay(true);
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                let mut buf = vec![0u8; 4096];
                while let Ok(n @ 1..) = stream.read(&mut buf).await {
                    counter.fetch_add(n as u64, Ordering::Relaxed);
                }
            });
        }
        Ok::<_, String>(())
    })?;
    let mut stdin = child.stdin.take().unwrap();
    // The connections settle before the clock starts.
    std::thread::sleep(Duration::from_millis(500));
    let cpu0 = cpu_secs(None).unwrap_or(0.0);
    stdin.write_all(b"go\n").map_err(|e| e.to_string())?;
    let mut report = String::new();
    out.read_to_string(&mut report).map_err(|e| e.to_string())?;
    let status = child.wait().map_err(|e| e.to_string())?;
    let f: Vec<f64> = report.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    let [writes, secs_taken, writer_cpu, written] = f[..] else {
        return Err(format!("the ceiling writer ended with {status} and said {report:?}"));
    };
    // The writer is done; what it wrote may still be in flight to the readers.
    let deadline = Instant::now() + Duration::from_secs(10);
    while received.load(Ordering::Relaxed) < written as u64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let reader_cpu = cpu_secs(None).unwrap_or(0.0) - cpu0;
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(Measured {
        writes: writes as u64,
        secs: secs_taken,
        writer_cpu,
        reader_cpu,
        received: received.load(Ordering::Relaxed),
        written: written as u64,
    })
}

/// The child: `__ceiling-writer CONNS FRAME_BYTES PER_WRITE SECS CPU|-`. Prints its port, takes
/// the connections, waits for "go" on stdin, writes flat out, prints "writes secs cpu_secs bytes".
pub fn writer_main(args: &[String]) -> std::process::ExitCode {
    let parse = |i: usize| args.get(i).and_then(|s| s.parse::<f64>().ok());
    let (Some(conns), Some(bytes), Some(per_write), Some(secs)) = (parse(0), parse(1), parse(2), parse(3))
    else {
        eprintln!("load: {WRITER_ARG} CONNS FRAME_BYTES PER_WRITE SECS CPU|-");
        return std::process::ExitCode::from(2);
    };
    if let Some(cpu) = args.get(4).and_then(|s| s.parse::<usize>().ok()) {
        if let Err(e) = crate::set_affinity([cpu]) {
            eprintln!("load: ceiling writer: sched_setaffinity failed: {e}; not pinned");
        }
    }
    let listener = match std::net::TcpListener::bind("127.0.0.1:0") {
        Ok(l) => l,
        Err(e) => {
            eprintln!("load: ceiling writer: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("{}", listener.local_addr().map(|a| a.port()).unwrap_or(0));
    let _ = std::io::stdout().flush();
    let mut socks = Vec::with_capacity(conns as usize);
    while socks.len() < conns as usize {
        match listener.accept() {
            Ok((s, _)) => {
                let _ = s.set_nodelay(true);
                let _ = s.set_nonblocking(true);
                socks.push(s);
            }
            Err(e) => {
                eprintln!("load: ceiling writer: accept: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    let mut go = String::new();
    let _ = std::io::stdin().read_line(&mut go);
    // Frames of `bytes` each: a WebSocket header and JSON-ish filler.
    let mut frame = vec![b'x'; bytes as usize * per_write as usize];
    for chunk in frame.chunks_mut(bytes as usize) {
        chunk[0] = 0x81;
        chunk[1] = 126;
    }
    let cpu0 = cpu_secs(None).unwrap_or(0.0);
    let start = Instant::now();
    let (mut writes, mut written) = (0u64, 0u64);
    let mut i = 0;
    // A full socket buffer (the reader behind) takes part of a write or none: counted in bytes,
    // the writer moves on to the next connection.
    while start.elapsed().as_secs_f64() < secs {
        for _ in 0..64 {
            if let Ok(n) = (&socks[i]).write(&frame) {
                writes += u64::from(n == frame.len());
                written += n as u64;
            }
            i = (i + 1) % socks.len();
        }
    }
    let taken = start.elapsed().as_secs_f64();
    let cpu = cpu_secs(None).unwrap_or(0.0) - cpu0;
    println!("{writes} {taken} {cpu} {written}");
    let _ = std::io::stdout().flush();
    std::process::ExitCode::SUCCESS
}
