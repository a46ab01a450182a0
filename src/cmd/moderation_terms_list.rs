//! `chatterbox moderation terms list [--list block|allow] [--format table|csv|json]`: the live
//! term lists as stored (a daemon seeds the block list from `--blocklist` at its first start).

use std::io::{IsTerminal, Write};

use comfy_table::Cell;

use crate::{
    chat::export::{escape_controls, neutralise},
    cli::{ListFormat, TermsListArgs},
    store::TermList,
};

pub fn run(db: &super::Database, args: &TermsListArgs) -> anyhow::Result<()> {
    let store = super::open_store(db)?;
    let only = args.list.map(TermList::from);
    let terms: Vec<_> = store.terms()?.into_iter().filter(|t| only.is_none_or(|l| t.list == l)).collect();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.format {
        ListFormat::Json => super::write_json(&mut out, &terms)?,
        ListFormat::Csv => {
            // Terms are typed by admins: a cell starting with "=" must not become a formula in a
            // spreadsheet, and control characters must not act on a terminal.
            let terminal = std::io::stdout().is_terminal();
            let cell = |s: &str| {
                let s = neutralise(s).into_owned();
                if terminal {
                    escape_controls(&s).into_owned()
                } else {
                    s
                }
            };
            let mut w = csv::Writer::from_writer(&mut out);
            w.write_record(["term", "list", "added_by", "added_at"])?;
            for t in &terms {
                w.write_record([
                    cell(&t.term),
                    t.list.as_str().to_string(),
                    cell(&t.added_by),
                    t.added_at.clone(),
                ])?;
            }
            w.flush()?;
        }
        ListFormat::Table => {
            let mut table = super::table(["Term", "List", "Added by", "Added"]);
            for t in &terms {
                table.add_row([
                    Cell::new(escape_controls(&t.term)),
                    Cell::new(t.list.as_str()),
                    Cell::new(escape_controls(&t.added_by)),
                    Cell::new(escape_controls(&t.added_at)),
                ]);
            }
            writeln!(out, "{table}")?;
            if terms.is_empty() {
                eprintln!("no terms (a daemon seeds the block list from --blocklist at its first start)");
            }
        }
    }
    out.flush()?;
    Ok(())
}
