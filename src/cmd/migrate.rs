//! `chatterbox migrate [--status]`: apply pending migrations, or list them.

use std::io::Write;

use crate::cli::MigrateArgs;

pub fn run(db: &super::Database, args: &MigrateArgs) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if args.status {
        let states = super::migration_status(db)?;
        for m in &states {
            match (&m.applied_on, m.known) {
                (Some(at), true) => writeln!(out, "applied  {}  ({at})", m.label())?,
                (Some(at), false) => {
                    writeln!(out, "applied  {}  ({at})  unknown to this chatterbox", m.label())?
                }
                (None, _) => writeln!(out, "pending  {}", m.label())?,
            }
        }
        out.flush()?;
        if states.iter().any(|m| !m.known) {
            anyhow::bail!(
                "this database was written by a newer chatterbox; upgrade chatterbox before using it"
            );
        }
        return Ok(());
    }
    let (_, applied) = super::open_and_migrate(db)?;
    if applied.is_empty() {
        writeln!(out, "{db}: up to date, nothing to apply")?;
    }
    for m in applied {
        writeln!(out, "applied {}", m.label())?;
    }
    Ok(())
}
