//! `chatterbox service-unit [--db PATH | --database-url URL] [--listen ADDR] [--user NAME]`:
//! print a systemd unit that runs this binary's `serve` as a sandboxed service.
//!
//! The limits in it follow `serve`'s own defaults (read from its clap definition, so they
//! cannot drift): the file limit from `--max-connections`, the stop timeout from
//! `--grace-period`.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
};

use anyhow::Context;
use clap::{Args, Command};

use crate::cli::{ServeArgs, ServiceUnitArgs};

/// Where the database lives under `StateDirectory=chatterbox`.
const STATE_DB: &str = "/var/lib/chatterbox/chatterbox.db";
/// The file that holds `CHATTERBOX_DATABASE_URL` for a PostgreSQL service.
const ENV_FILE: &str = "/etc/chatterbox/env";
/// Descriptors besides connections: the SQLite pool (a database, WAL and shared-memory file
/// each), the listener, the log tailer's and the PostgreSQL pool's sockets, with room to spare.
const FD_HEADROOM: u64 = 1024;

pub fn run(db: Option<&Path>, database_url: Option<&str>, args: &ServiceUnitArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("cannot find this binary's path")?;
    let exe = exe.canonicalize().unwrap_or(exe);
    let store = match (database_url, db) {
        (Some(_), _) => Store::Postgres,
        (None, Some(path)) => Store::Sqlite(absolute(path)?),
        (None, None) => Store::Sqlite(PathBuf::from(STATE_DB)),
    };
    print!("{}", unit(&exe, &store, args));
    if matches!(store, Store::Postgres) {
        eprintln!(
            "put the database URL into {ENV_FILE}, readable by root only, as \
             CHATTERBOX_DATABASE_URL=postgres://... (the unit reads it from there)"
        );
    }
    Ok(())
}

pub enum Store {
    Sqlite(PathBuf),
    Postgres,
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    Ok(std::env::current_dir().context("cannot find the current folder")?.join(path))
}

/// The unit's text.
pub fn unit(exe: &Path, store: &Store, args: &ServiceUnitArgs) -> String {
    let max_connections: u64 = serve_default("max_connections");
    let grace: u64 = serve_default("grace_period");
    let mut u = String::new();
    let mut line = |s: &str| {
        u.push_str(s);
        u.push('\n');
    };
    line("# Written by `chatterbox service-unit`; save as /etc/systemd/system/chatterbox.service,");
    line("# then: systemctl daemon-reload && systemctl enable --now chatterbox");
    line("[Unit]");
    line("Description=chatterbox chat server");
    line("Documentation=man:chatterbox-serve(1)");
    line("Wants=network-online.target");
    match store {
        Store::Sqlite(_) => line("After=network-online.target"),
        Store::Postgres => line("After=network-online.target postgresql.service"),
    }
    line("");
    line("[Service]");
    line("Type=exec");
    let mut exec = format!(
        "ExecStart={} serve --listen {}",
        systemd_word(&exe.display().to_string()),
        systemd_word(&args.listen)
    );
    if let Store::Sqlite(path) = store {
        let _ = write!(exec, " --db {}", systemd_word(&path.display().to_string()));
    }
    line(&exec);
    line("# `systemctl reload chatterbox` rereads --tls-cert and --tls-key (renewed certificates).");
    line("ExecReload=/bin/kill -HUP $MAINPID");
    match store {
        Store::Sqlite(_) => {}
        Store::Postgres => {
            line(
                "# The database URL may hold a password, so it is not in this unit (which anyone may read):",
            );
            line(&format!(
                "# {ENV_FILE} (chmod 600) holds CHATTERBOX_DATABASE_URL=postgres://user:password@host/db"
            ));
            line(&format!("EnvironmentFile={ENV_FILE}"));
        }
    }
    line("Restart=on-failure");
    line("RestartSec=2s");
    line("KillSignal=SIGTERM");
    line(&format!(
        "# Shutdown waits up to the grace period ({grace} s) for connections, then as long for the pending"
    ));
    line("# messages to commit and as long again for this instance's presence to be removed.");
    line(&format!("TimeoutStopSec={}s", 3 * grace + 5));
    line(&format!(
        "# One descriptor per connection (--max-connections {max_connections}) and the database's."
    ));
    line(&format!("LimitNOFILE={}", max_connections + FD_HEADROOM));
    line("");
    line("# Sandboxing: the service sees the system read-only, no home folders, its own /tmp and /dev.");
    match &args.user {
        Some(user) => line(&format!("User={}", systemd_word(user))),
        None => line("DynamicUser=yes"),
    }
    if let Store::Sqlite(path) = store {
        line("StateDirectory=chatterbox");
        line("StateDirectoryMode=0700");
        let dir = path.parent().unwrap_or(Path::new("/"));
        if !dir.starts_with("/var/lib/chatterbox") {
            line("# The database is outside the state folder: that folder must be writable by the service.");
            line(&format!("ReadWritePaths={}", systemd_word(&dir.display().to_string())));
        }
    }
    line("UMask=0077");
    for setting in [
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "NoNewPrivileges=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
        "ProtectProc=invisible",
        "ProcSubset=pid",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "RestrictNamespaces=yes",
        "RestrictRealtime=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "MemoryDenyWriteExecute=yes",
        "SystemCallArchitectures=native",
        "SystemCallFilter=@system-service",
        "SystemCallErrorNumber=EPERM",
    ] {
        line(setting);
    }
    if port(&args.listen).is_some_and(|p| p < 1024) {
        line("# A port below 1024 needs this one capability, and no other.");
        line("AmbientCapabilities=CAP_NET_BIND_SERVICE");
        line("CapabilityBoundingSet=CAP_NET_BIND_SERVICE");
    } else {
        line("CapabilityBoundingSet=");
    }
    line("");
    line("[Install]");
    line("WantedBy=multi-user.target");
    u
}

/// A default of `serve`'s flag `id`, from its clap definition.
fn serve_default<T: std::str::FromStr>(id: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    let serve = ServeArgs::augment_args(Command::new("serve"));
    let arg = serve.get_arguments().find(|a| a.get_id() == id).expect("a serve flag");
    let value = arg.get_default_values().first().expect("a default").to_string_lossy();
    value.parse().expect("a number")
}

fn port(listen: &str) -> Option<u16> {
    listen.rsplit_once(':').and_then(|(_, p)| p.parse().ok())
}

/// One word of a systemd command line or setting: `%` and `$` would be expanded, and a space
/// would split it.
fn systemd_word(word: &str) -> String {
    let escaped = word.replace('%', "%%").replace('$', "$$").replace('\\', "\\\\").replace('"', "\\\"");
    if escaped.contains(char::is_whitespace) {
        format!("\"{escaped}\"")
    } else {
        escaped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_the_serve_defaults() {
        assert_eq!(serve_default::<u64>("max_connections"), 20_000);
        assert_eq!(serve_default::<u64>("grace_period"), 10);
    }

    #[test]
    fn words_are_escaped_for_systemd() {
        assert_eq!(systemd_word("/opt/my chat/chatterbox"), "\"/opt/my chat/chatterbox\"");
        assert_eq!(systemd_word("/srv/100%$"), "/srv/100%%$$");
    }
}
