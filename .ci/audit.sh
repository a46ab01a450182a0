#!/usr/bin/env bash
# Dependency audit step: `cargo deny check advisories` fails when a RustSec advisory applies to a
# crate in Cargo.lock, except those ignored in deny.toml (each with its reason there).
#
# The advisory database is a git repository on GitHub, which cargo-deny clones. Where GitHub
# cannot be reached, set CHATTERBOX_ADVISORY_DB to a git clone of it made elsewhere (for example
# a mirror): it is then used as it is, offline, and cargo-deny still refuses one older than 90
# days.
#
# Exit status: 0 no advisory applies; 1 one does (or cargo-deny failed); 2 no advisory database
# could be had, so NOTHING was audited.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

# Pinned, because the offline mode below relies on the folder name this version gives the
# default database; a newer cargo-deny would fail loudly there, never pass silently.
version=0.20.2
if [ "$(cargo deny --version 2>/dev/null)" != "cargo-deny $version" ]; then
    echo "installing cargo-deny $version" >&2
    cargo install --locked "cargo-deny@$version"
fi

# cargo-deny reads the dependency graph with `cargo metadata`, which needs every crate's
# manifest: fetch them first so that the offline runs below work on a fresh machine too.
cargo fetch --locked

if [ -n "${CHATTERBOX_ADVISORY_DB:-}" ]; then
    if ! git -C "$CHATTERBOX_ADVISORY_DB" rev-parse --verify -q HEAD >/dev/null; then
        echo "audit.sh: CHATTERBOX_ADVISORY_DB=$CHATTERBOX_ADVISORY_DB is not a git clone of the advisory database; nothing was audited" >&2
        exit 2
    fi
    dbs="$(mktemp -d)"
    trap 'rm -rf "$dbs"' EXIT
    ln -s "$(cd "$CHATTERBOX_ADVISORY_DB" && pwd)" "$dbs/advisory-db-3157b0e258782691"
    sed "s|^\[advisories\]\$|[advisories]\ndb-path = \"$dbs\"|" deny.toml >"$dbs/deny.toml"
    cargo deny --locked --offline --config "$dbs/deny.toml" check advisories
    exit
fi

if ! cargo deny fetch db; then
    echo "audit.sh: the RustSec advisory database could not be fetched; NOTHING WAS AUDITED." >&2
    echo "audit.sh: set CHATTERBOX_ADVISORY_DB to a git clone of it to audit offline." >&2
    exit 2
fi
cargo deny --locked --offline check advisories
