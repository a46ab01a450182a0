//! `chatterbox messages export --csv [--output FILE] [--since T] [--until T] [--after-id N]`:
//! stream messages as CSV, in constant memory, to stdout or atomically to a file.

use std::{
    io::{BufWriter, Write},
    path::Path,
};

use anyhow::Context;

use crate::{chat::export, cli::ExportArgs, store::MessageFilter, timefmt};

pub fn run(db: &Path, args: &ExportArgs) -> anyhow::Result<()> {
    let parse = |s: &Option<String>| s.as_deref().map(timefmt::parse_bound).transpose();
    let filter = MessageFilter {
        since: parse(&args.since).map_err(anyhow::Error::msg).context("--since")?,
        until: parse(&args.until).map_err(anyhow::Error::msg).context("--until")?,
        after_id: args.after_id,
    };
    let store = super::open(db)?;
    match &args.output {
        None => {
            let mut out = BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
            export::write_messages(&store, &filter, &mut out, args.raw)?;
            out.flush()?;
        }
        Some(path) => {
            // A temporary file in the target folder, renamed over the target only when complete:
            // a cron job that dies half-way leaves the previous export, never half a file.
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            let tmp = tempfile::NamedTempFile::new_in(dir)
                .with_context(|| format!("cannot create a file in {}", dir.display()))?;
            let mut out = BufWriter::with_capacity(64 * 1024, tmp);
            let rows = export::write_messages(&store, &filter, &mut out, args.raw)?;
            let tmp = out.into_inner().map_err(|e| e.into_error())?;
            tmp.as_file().sync_all()?;
            // Keep the permissions of the file being replaced (a reader set up by the operator
            // must still be able to read it); a new export stays private (0600): messages are
            // personal data.
            if let Ok(meta) = std::fs::metadata(path) {
                let _ = std::fs::set_permissions(tmp.path(), meta.permissions());
            }
            tmp.persist(path)
                .map_err(|e| e.error)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {rows} messages to {}", path.display());
        }
    }
    Ok(())
}
