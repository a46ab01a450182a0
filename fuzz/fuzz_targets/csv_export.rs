//! Fuzz target: every text cell of the message and user CSV exports reads back through a CSV
//! reader exactly, except that formula-like cells gain a leading `'` unless the export is raw.
//!
//! Input: one control byte (bit 0: raw export), then cells separated by 0xFF, three per row.
#![no_main]

use chatterbox_fuzz::{export_round_trip, fields, Rows};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&ctrl, rest)) = data.split_first() else { return };
    export_round_trip(&Rows::from_cells(&fields(rest)), ctrl & 1 == 1);
});
