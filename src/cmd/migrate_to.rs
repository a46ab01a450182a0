//! `chatterbox migrate-to --database-url URL [--format table|csv|json]`: move a SQLite
//! installation (`--db`, or the default file) into a new PostgreSQL database, then verify the
//! copy table by table. Progress goes to stderr, the summary to stdout.

use std::{io::Write, time::Instant};

use anyhow::Context;
use comfy_table::{Cell, CellAlignment};

use crate::{
    cli::{ListFormat, MigrateToArgs},
    store::{
        transfer::{self, Report},
        PgStore, SqliteStore, StoreError,
    },
};

pub fn run(source: &super::Database, target: Option<&str>, args: &MigrateToArgs) -> anyhow::Result<()> {
    let super::Database::Sqlite(path) = source else {
        anyhow::bail!("migrate-to copies from a SQLite file (--db PATH)");
    };
    let url = target.context("migrate-to needs the PostgreSQL target: --database-url URL")?;
    let target_name = super::Database::Postgres(url.to_string());
    let source = match SqliteStore::open_existing(path) {
        Err(StoreError::Missing(_)) => anyhow::bail!(
            "no SQLite database at {}: migrate-to copies an existing installation (--db PATH)",
            path.display()
        ),
        other => other.with_context(|| format!("cannot read the source {}", path.display()))?,
    };
    let (target, applied) = PgStore::open_and_migrate(url)?;
    for m in &applied {
        eprintln!("{target_name}: applied {}", m.label());
    }
    eprintln!("copying {} into {target_name}", path.display());
    let started = Instant::now();
    let report = transfer::sqlite_to_postgres(&source, &target, &mut |table, rows, done| {
        if done {
            eprintln!("  {table}: {rows} rows copied");
        } else if rows > 0 {
            eprintln!("  {table}: {rows} rows...");
        }
    })?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("copied and committed in {seconds:.2} s");

    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    write_report(&mut out, &report, args.format, seconds)?;
    out.flush()?;
    let mismatches = report.mismatches();
    if !mismatches.is_empty() {
        anyhow::bail!("the copy in {target_name} differs from the source: {}", mismatches.join("; "));
    }
    eprintln!("verified: every table of {target_name} has the rows and ids of the source");
    Ok(())
}

fn write_report(
    out: &mut impl Write,
    report: &Report,
    format: ListFormat,
    seconds: f64,
) -> anyhow::Result<()> {
    let max = |id: Option<i64>| id.map(|i| i.to_string()).unwrap_or_default();
    match format {
        ListFormat::Json => {
            #[derive(serde::Serialize)]
            struct Summary<'a> {
                #[serde(flatten)]
                report: &'a Report,
                seconds: f64,
                verified: bool,
            }
            let verified = report.mismatches().is_empty();
            super::write_json(out, &Summary { report, seconds, verified })?;
        }
        ListFormat::Csv => {
            writeln!(out, "table,source_rows,target_rows,source_max_id,target_max_id")?;
            for t in &report.tables {
                writeln!(
                    out,
                    "{},{},{},{},{}",
                    t.table,
                    t.source.rows,
                    t.target.rows,
                    max(t.source.max_id),
                    max(t.target.max_id)
                )?;
            }
        }
        ListFormat::Table => {
            let mut table = super::table(["Table", "Rows", "Highest id", "Verified"]);
            for t in &report.tables {
                table.add_row([
                    Cell::new(t.table),
                    Cell::new(t.target.rows).set_alignment(CellAlignment::Right),
                    Cell::new(max(t.target.max_id)).set_alignment(CellAlignment::Right),
                    Cell::new(if t.source == t.target { "yes" } else { "NO" }),
                ]);
            }
            table.add_row([
                Cell::new("next log position"),
                Cell::new(report.target_log_next).set_alignment(CellAlignment::Right),
                Cell::new(""),
                Cell::new(if report.source_log_next == report.target_log_next { "yes" } else { "NO" }),
            ]);
            writeln!(out, "{table}")?;
        }
    }
    Ok(())
}
