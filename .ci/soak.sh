#!/usr/bin/env bash
# Soak test: the release server under steady chat load, with users joining and leaving, for
# --minutes (30 by default). Every 10 s it samples the server's resident memory and open file
# descriptors into a CSV; at the end it checks that both stayed flat (the highest value of the
# last window, after a warm-up, within 10 % of the highest of the first window), that the server
# logged no ERROR or WARN line, that the load generator saw every message acknowledged in order,
# and that SIGTERM stops the server with exit 0. Exits non-zero if any check fails.
#
# Usage: bash .ci/soak.sh [--minutes N] [--users N] [--rate R] [--keep]
#   --minutes N  how long the load runs, at least 1 (decimals work: 2.5); default 30
#   --users N    simulated users, each joining, chatting, leaving and rejoining; default 40
#   --rate R     messages a second per connected user; default 1
#   --keep       keep the database too (the CSV and the logs are always kept)
#
# Windows: warm-up is the first sixth of the run, and the last 15 s (when every simulated user
# winds down at once) are left out; each window is half of what remains, at most 10 minutes
# (30 min: warm-up 5 min, first window 5-15 min, last window 19:45-29:45).
# The load generator is the ignored test `soak_load_generator` in tests/faults.rs; the server
# runs with --rate-limit-off so the generator's sign-ins are never refused. Traffic stays on
# 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=30
users=40
rate=1
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) minutes="$2"; shift 2 ;;
        --users) users="$2"; shift 2 ;;
        --rate) rate="$2"; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "soak.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done
seconds=$(awk -v m="$minutes" 'BEGIN { printf "%d", m * 60 }')
if [ "$seconds" -lt 60 ]; then
    echo "soak.sh: --minutes must be at least 1" >&2
    exit 2
fi
interval=10

work=$(mktemp -d "${TMPDIR:-/tmp}/chatterbox-soak.XXXXXX")
csv="$work/samples.csv"
server_log="$work/server.log"
load_log="$work/load.log"
server_pid=""
load_pid=""
cleanup() {
    for pid in $load_pid $server_pid; do
        kill "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT

echo "soak: building the release server and the load generator" >&2
cargo build --release --locked --bin chatterbox
load_bin=$(cargo test --locked --test faults --no-run --message-format=json \
    | grep -o '"executable":"[^"]*"' | tail -n 1 | cut -d'"' -f4)
[ -x "$load_bin" ] || { echo "soak: cannot find the tests/faults.rs binary" >&2; exit 1; }

target_dir=$(cargo metadata --format-version 1 --no-deps | grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)
"$target_dir/release/chatterbox" --db "$work/chat.db" serve --listen 127.0.0.1:0 --rate-limit-off \
    2>"$server_log" &
server_pid=$!
addr=""
for _ in $(seq 1 600); do
    addr=$(grep -o 'listening on http://[^ ]*' "$server_log" | head -n 1 | sed 's|listening on http://||' || true)
    [ -n "$addr" ] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$server_log" >&2; echo "soak: the server exited" >&2; exit 1; }
    sleep 0.1
done
[ -n "$addr" ] || { echo "soak: the server did not start listening" >&2; exit 1; }
echo "soak: server pid $server_pid on http://$addr; $users users at $rate msg/s each for $minutes min" >&2
echo "soak: results in $work" >&2

CHATTERBOX_SOAK_URL="http://$addr" CHATTERBOX_SOAK_SECONDS="$seconds" CHATTERBOX_SOAK_USERS="$users" \
    CHATTERBOX_SOAK_RATE="$rate" CHATTERBOX_SOAK_TAG="s$$" \
    "$load_bin" --ignored --exact soak_load_generator --nocapture >"$load_log" 2>&1 &
load_pid=$!

echo "elapsed_s,rss_kb,fds" >"$csv"
start=$(date +%s)
limit=$((seconds + 300))
while kill -0 "$load_pid" 2>/dev/null; do
    elapsed=$(($(date +%s) - start))
    if [ "$elapsed" -gt "$limit" ]; then
        echo "soak: the load generator is still running after ${limit}s; stopping it" >&2
        kill "$load_pid" 2>/dev/null || true
        break
    fi
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$server_pid/status" 2>/dev/null || echo "")
    fds=$(ls "/proc/$server_pid/fd" 2>/dev/null | wc -l)
    if [ -z "$rss" ]; then
        echo "soak: the server died during the run" >&2
        break
    fi
    echo "$elapsed,$rss,$fds" >>"$csv"
    sleep "$interval"
done
load_status=0
wait "$load_pid" || load_status=$?
load_pid=""

server_status=""
if kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"
    for _ in $(seq 1 300); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    server_status=0
    wait "$server_pid" || server_status=$?
else
    server_status=0
    wait "$server_pid" || server_status=$?
    server_status="died ($server_status)"
fi
server_pid=""

# Verdicts.
failed=0
verdict() { # name ok detail
    if [ "$2" = 1 ]; then echo "PASS  $1: $3"; else echo "FAIL  $1: $3"; failed=1; fi
}
read -r first_rss last_rss first_fds last_fds samples < <(awk -F, -v total="$seconds" '
    NR == 1 { next }
    {
        warm = total / 6; end = total - 15; w = (end - warm) / 2; if (w > 600) w = 600
        n++
        if ($1 >= warm && $1 < warm + w) { if ($2 > fr) fr = $2; if ($3 > ff) ff = $3 }
        if ($1 >= end - w && $1 <= end) { if ($2 > lr) lr = $2; if ($3 > lf) lf = $3 }
    }
    END { printf "%d %d %d %d %d\n", fr, lr, ff, lf, n }' "$csv")
flat() { # first last absolute-slack -> 1 when last <= max(first * 1.1, first + slack)
    awk -v a="$1" -v b="$2" -v s="$3" 'BEGIN { lim = a * 1.1; if (a + s > lim) lim = a + s; print (a > 0 && b > 0 && b <= lim) ? 1 : 0 }'
}
verdict "samples" "$([ "$samples" -ge 6 ] && echo 1 || echo 0)" "$samples taken every ${interval}s ($csv)"
verdict "memory flat" "$(flat "$first_rss" "$last_rss" 2048)" \
    "RSS max ${first_rss} kB in the first window, ${last_rss} kB in the last"
verdict "descriptors flat" "$(flat "$first_fds" "$last_fds" 10)" \
    "open fds max ${first_fds} in the first window, ${last_fds} in the last"
problems=$(grep -cE ' (ERROR|WARN) |panicked' "$server_log" || true)
verdict "server log" "$([ "$problems" -eq 0 ] && echo 1 || echo 0)" "$problems ERROR/WARN lines ($server_log)"
if [ "$problems" -gt 0 ]; then grep -E ' (ERROR|WARN) |panicked' "$server_log" | head -n 20; fi
summary=$(grep -o 'soak load: .*' "$load_log" | tail -n 1 || true)
verdict "load" "$([ "$load_status" -eq 0 ] && echo 1 || echo 0)" "${summary:-no summary} ($load_log)"
if [ "$load_status" -ne 0 ]; then tail -n 30 "$load_log"; fi
verdict "SIGTERM" "$([ "$server_status" = 0 ] && echo 1 || echo 0)" "server exit status $server_status"

if [ "$keep" = 0 ]; then rm -f "$work"/chat.db*; fi
if [ "$failed" = 0 ]; then echo "soak: PASSED"; else echo "soak: FAILED"; fi
exit "$failed"
