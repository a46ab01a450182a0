#!/usr/bin/env bash
# Dependency checks with cargo-deny, policies in deny.toml:
#   - licenses, bans, sources: every crate in the shipped binary has an allowed licence and comes
#     from crates.io. These need no network beyond crates.io and always run.
#   - advisories: no RustSec advisory applies to a crate in Cargo.lock, except those ignored in
#     deny.toml (each with its reason there).
#
# The advisory database is a git repository on GitHub, which cargo-deny clones. Where GitHub
# cannot be reached, set CHATTERBOX_ADVISORY_DB to a git clone of it made elsewhere (a mirror,
# say): it is used as it is, offline, and cargo-deny still refuses one older than 90 days.
#
# Usage: audit.sh [--allow-no-db]
#   --allow-no-db  when no advisory database can be had, say so loudly and exit 0 instead of 2
#                  (CI uses it: its network reaches crates.io but not GitHub).
#
# Exit status: 0 all checks ran and passed (with --allow-no-db: the advisory check may have been
# skipped, as the output says); 1 a check failed; 2 no advisory database could be had, so the
# advisories were NOT checked.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

allow_no_db=false
case "${1:-}" in
    --allow-no-db) allow_no_db=true ;;
    "") ;;
    *) echo "usage: $0 [--allow-no-db]" >&2; exit 2 ;;
esac

# Pinned, because the offline mode below relies on the folder name this version gives the
# default database; a newer cargo-deny would fail loudly there, never pass silently.
version=0.20.2
if [ "$(cargo deny --version 2>/dev/null)" != "cargo-deny $version" ]; then
    echo "audit.sh: installing cargo-deny $version" >&2
    cargo install --locked "cargo-deny@$version"
fi

# cargo-deny reads the dependency graph with `cargo metadata`, which needs every crate's
# manifest: fetch them first so that the offline runs below work on a fresh machine too.
cargo fetch --locked

deny() { cargo deny --locked --offline "$@"; }

deny check --hide-inclusion-graph licenses bans sources

if [ -n "${CHATTERBOX_ADVISORY_DB:-}" ]; then
    if ! git -C "$CHATTERBOX_ADVISORY_DB" rev-parse --verify -q HEAD >/dev/null; then
        echo "audit.sh: CHATTERBOX_ADVISORY_DB=$CHATTERBOX_ADVISORY_DB is not a git clone of the advisory database; advisories were NOT checked" >&2
        exit 2
    fi
    dbs="$(mktemp -d)"
    trap 'rm -rf "$dbs"' EXIT
    ln -s "$(cd "$CHATTERBOX_ADVISORY_DB" && pwd)" "$dbs/advisory-db-3157b0e258782691"
    sed "s|^\[advisories\]\$|[advisories]\ndb-path = \"$dbs\"|" deny.toml >"$dbs/deny.toml"
    deny --config "$dbs/deny.toml" check advisories
    exit
fi

if ! timeout 300 cargo deny fetch db; then
    echo "audit.sh: ############################################################################" >&2
    echo "audit.sh: the RustSec advisory database could not be fetched from GitHub:" >&2
    echo "audit.sh: ADVISORIES WERE NOT CHECKED. Licences, bans and sources passed." >&2
    echo "audit.sh: set CHATTERBOX_ADVISORY_DB to a git clone of it to check offline." >&2
    echo "audit.sh: ############################################################################" >&2
    if $allow_no_db; then exit 0; fi
    exit 2
fi
deny check advisories
