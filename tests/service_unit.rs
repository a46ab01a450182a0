//! `chatterbox service-unit`: the unit it prints for SQLite and for PostgreSQL, checked by
//! `systemd-analyze verify` where systemd's tools are installed (`.ci/install-deps` installs them).

use std::{path::Path, process::Command};

mod common;

use common::cli::{chatterbox, describe, run};

const BIN: &str = env!("CARGO_BIN_EXE_chatterbox");

fn unit(args: &[&str]) -> String {
    let mut cmd = chatterbox();
    cmd.args(args);
    let out = run(cmd, None);
    assert!(out.status.success(), "{}", describe(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// `systemd-analyze verify` on the unit, if the tool exists; says so when it does not.
fn verify(text: &str) {
    let Ok(version) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!(
            "SKIPPED systemd-analyze verify: systemd-analyze is not installed (Debian package systemd)"
        );
        return;
    };
    assert!(version.status.success());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chatterbox.service");
    std::fs::write(&path, text).unwrap();
    // --man=no: the unit names chatterbox's man page, which packagers install, not this machine.
    let out = Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Warnings about the host's other units (systemd-analyze loads the default target's
    // dependencies) are not this unit's business; every line naming ours is.
    let ours: Vec<&str> = stderr.lines().filter(|l| l.contains("chatterbox")).collect();
    assert!(
        out.status.success() && ours.is_empty(),
        "systemd-analyze verify:\n{stderr}\n--- unit ---\n{text}"
    );
}

fn setting<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    text.lines().filter_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('='))).collect()
}

#[test]
fn the_sqlite_unit_runs_this_binary_sandboxed_with_its_state_folder() {
    let text = unit(&["service-unit", "--listen", "0.0.0.0:8080"]);
    let exe = Path::new(BIN).canonicalize().unwrap();
    assert_eq!(
        setting(&text, "ExecStart"),
        [format!("{} serve --listen 0.0.0.0:8080 --db /var/lib/chatterbox/chatterbox.db", exe.display())]
    );
    for expected in [
        "Type=exec",
        "DynamicUser=yes",
        "StateDirectory=chatterbox",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "Restart=on-failure",
        "KillSignal=SIGTERM",
        // 3 x the 10 s grace period (connections, pending commits, presence) and then some.
        "TimeoutStopSec=35s",
        // --max-connections 20000 and the database's descriptors.
        "LimitNOFILE=21024",
        "CapabilityBoundingSet=",
        "WantedBy=multi-user.target",
    ] {
        assert!(text.lines().any(|l| l == expected), "no {expected:?} in:\n{text}");
    }
    assert!(!text.contains("postgresql") && !text.contains("EnvironmentFile"), "{text}");
    verify(&text);

    let elsewhere =
        unit(&["--db", "/srv/chat/chat.db", "service-unit", "--listen", "[::]:443", "--user", "chat"]);
    assert!(elsewhere.lines().any(|l| l == "ReadWritePaths=/srv/chat"), "{elsewhere}");
    assert!(elsewhere.lines().any(|l| l == "User=chat") && !elsewhere.contains("DynamicUser"), "{elsewhere}");
    assert!(elsewhere.lines().any(|l| l == "AmbientCapabilities=CAP_NET_BIND_SERVICE"), "{elsewhere}");
}

#[test]
fn the_postgres_unit_keeps_the_url_out_of_the_unit() {
    let mut cmd = chatterbox();
    cmd.args(["--database-url", "postgres://chat:hunter2@db.example/chat", "service-unit"]);
    let out = run(cmd, None);
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(!text.contains("hunter2") && !text.contains("db.example"), "{text}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("hunter2"), "{}", describe(&out));
    assert_eq!(setting(&text, "EnvironmentFile"), ["/etc/chatterbox/env"]);
    assert!(text.contains("CHATTERBOX_DATABASE_URL"), "the unit says where the URL goes:\n{text}");
    assert!(text.lines().any(|l| l.starts_with("After=") && l.contains("postgresql.service")), "{text}");
    assert!(!text.contains("StateDirectory") && !text.contains("--db"), "{text}");
    verify(&text);
}
