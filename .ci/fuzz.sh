#!/usr/bin/env bash
# Fuzzing step: builds the cargo-fuzz targets in fuzz/, runs each for a bounded time from its
# committed seed corpus (fuzz/corpus/<target>), and fails on any crash, panic or timeout; then
# runs the proptest versions of the same properties (tests/properties.rs).
#
# FUZZ_SECONDS: time per target (default 30). FUZZ_JOBS: targets run at once (default 2, one
# per core; libFuzzer itself is single-threaded). FUZZ_TARGET_DIR: where the fuzz build goes
# (default fuzz/target); a folder outside the clone keeps the build, most of this step's time,
# from one CI run to the next on the same machine. FUZZ_SANITIZER: none (default) or address.
#
# AddressSanitizer is off by default because the targets and the code under test are safe Rust:
# it could only add memory errors inside dependencies' unsafe code, for half as much build time
# again (about 7.5 instead of 5 minutes from clean here) and half the fuzzing speed. Panics,
# failed assertions, timeouts and stack overflows are caught without it.
#
# A failing input is saved under fuzz/artifacts/<target>/; replay it with
#   (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -s none <target> artifacts/<target>/<file>)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

seconds="${FUZZ_SECONDS:-30}"
jobs="${FUZZ_JOBS:-2}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

# cargo-fuzz builds with nightly-only flags (sanitizer coverage, -Zsanitizer). Only the
# stable toolchain is installed, and RUSTC_BOOTSTRAP=1 makes stable rustc accept them. It is set
# for the fuzz build alone (its own target dir), never for the main build.
fuzz() { (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz "$@"); }
build_opts=(--sanitizer "${FUZZ_SANITIZER:-none}")
if [ -n "${FUZZ_TARGET_DIR:-}" ]; then
    build_opts+=(--target-dir "$FUZZ_TARGET_DIR")
fi

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT

run_target() {
    local target="$1"
    # New inputs go to a scratch folder, so the committed corpus stays a small set of seeds.
    mkdir -p "$logs/corpus-$target"
    # -timeout: one input taking longer fails the run. moderation_huge relies on it to catch a
    # super-linear matcher; every other target needs at most a millisecond per input.
    if fuzz run "${build_opts[@]}" "$target" "$logs/corpus-$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=25 -rss_limit_mb=4096 >"$logs/$target.log" 2>&1; then
        echo "fuzz $target: ok, $(grep -Eo 'Done [0-9]+ runs' "$logs/$target.log" | tail -n 1) in ${seconds}s"
    else
        echo "fuzz $target: FAILED; the end of its log:"
        tail -n 80 "$logs/$target.log"
        return 1
    fi
}

fuzz build "${build_opts[@]}"
mapfile -t targets < <(fuzz list)
# Lane i runs targets i, i+jobs, ...: every target takes the same time, so lanes finish together.
lanes=()
for ((lane = 0; lane < jobs; lane++)); do
    (
        status=0
        for ((i = lane; i < ${#targets[@]}; i += jobs)); do
            run_target "${targets[i]}" || status=1
        done
        exit "$status"
    ) &
    lanes+=("$!")
done
failed=0
for pid in "${lanes[@]}"; do
    wait "$pid" || failed=1
done
if [ "$failed" -ne 0 ]; then
    echo "fuzzing found a failure (see above)" >&2
    exit 1
fi

cargo test --locked --test properties
