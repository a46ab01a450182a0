//! `chatterbox backup FILE [--force] [--format table|csv|json]`: a verified copy of the SQLite
//! database, also while the daemon runs. On PostgreSQL the database server's own tool does it:
//! the command says so, with the `pg_dump` command for the URL, and exits 2.

use std::io::Write;

use anyhow::Context;
use comfy_table::{Cell, CellAlignment};

use crate::{
    cli::{BackupArgs, ListFormat},
    store::{backup::BackupReport, StoreError},
};

/// Exit code when the command cannot do the job on this database (a usage error, as clap's).
const EXIT_USE_PG_DUMP: i32 = 2;

pub fn run(db: &super::Database, args: &BackupArgs) -> anyhow::Result<()> {
    let source = match db {
        super::Database::Sqlite(path) => path,
        super::Database::Postgres(url) => {
            eprintln!(
                "chatterbox: error: backup copies a SQLite file; back up PostgreSQL with its own pg_dump \
                 (and restore with pg_restore):\n  {}",
                pg_dump_command(url, &args.file.display().to_string())
            );
            std::process::exit(EXIT_USE_PG_DUMP);
        }
    };
    let report = match crate::store::backup::backup(source, &args.file, args.force) {
        Err(StoreError::Missing(_)) => {
            anyhow::bail!("no database at {} to back up (give it with --db PATH)", source.display())
        }
        Err(StoreError::DiskFull) => anyhow::bail!(
            "the disk holding {} is full: no backup written (the partial copy was removed)",
            args.file.display()
        ),
        other => other.with_context(|| format!("cannot back up {}", source.display()))?,
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    write_report(&mut out, &report, args.format)?;
    out.flush()?;
    eprintln!(
        "backed up {} to {} ({} bytes); integrity check: {}",
        source.display(),
        report.file.display(),
        report.bytes,
        report.integrity
    );
    Ok(())
}

fn write_report(out: &mut impl Write, report: &BackupReport, format: ListFormat) -> anyhow::Result<()> {
    match format {
        ListFormat::Json => super::write_json(out, report)?,
        ListFormat::Csv => {
            writeln!(out, "table,rows")?;
            for t in &report.tables {
                writeln!(out, "{},{}", t.table, t.rows)?;
            }
        }
        ListFormat::Table => {
            let mut table = super::table(["Table", "Rows"]);
            for t in &report.tables {
                table.add_row([Cell::new(t.table), Cell::new(t.rows).set_alignment(CellAlignment::Right)]);
            }
            writeln!(out, "{table}")?;
        }
    }
    Ok(())
}

/// The `pg_dump` command that backs up the database of `url` into `file`, in the custom format
/// `pg_restore` reads. The URL is spelled out as options so its password can be left out: a
/// `PGPASSWORD=...` placeholder stands where the URL has one.
pub fn pg_dump_command(url: &str, file: &str) -> String {
    let mut words = Vec::new();
    let Ok(config) = url.parse::<postgres::Config>() else {
        return format!("pg_dump --format=custom --file={} --dbname=<your database URL>", quote(file));
    };
    if config.get_password().is_some() {
        words.push("PGPASSWORD=...".to_string());
    }
    words.push("pg_dump --format=custom".to_string());
    match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(host)) => words.push(format!("--host={}", quote(host))),
        #[cfg(unix)]
        Some(postgres::config::Host::Unix(dir)) => {
            words.push(format!("--host={}", quote(&dir.display().to_string())))
        }
        None => {}
    }
    if let Some(port) = config.get_ports().first() {
        words.push(format!("--port={port}"));
    }
    if let Some(user) = config.get_user() {
        words.push(format!("--username={}", quote(user)));
    }
    if let Some(db) = config.get_dbname().or(config.get_user()) {
        words.push(format!("--dbname={}", quote(db)));
    }
    words.push(format!("--file={}", quote(file)));
    words.join(" ")
}

/// A word for a POSIX shell: as it is when it has nothing the shell would act on.
fn quote(word: &str) -> String {
    let plain =
        !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pg_dump_command_spells_out_the_url_without_its_password() {
        assert_eq!(
            pg_dump_command("postgres://chat:s3cret@db.example:5433/chatterbox", "/backups/chat.dump"),
            "PGPASSWORD=... pg_dump --format=custom --host=db.example --port=5433 --username=chat \
             --dbname=chatterbox --file=/backups/chat.dump"
        );
        assert_eq!(
            pg_dump_command("host=/run/postgresql user=chat dbname=chat", "it's.dump"),
            "pg_dump --format=custom --host=/run/postgresql --username=chat --dbname=chat --file='it'\\''s.dump'"
        );
    }
}
