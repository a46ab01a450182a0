#!/usr/bin/env bash
# The container image tried for real: the Dockerfile's runtime stage built with podman on a
# Debian base made here (no image registry is reachable from CI: debootstrap from Debian's
# mirror, `podman import`), around the release binary. Then: start it with a named volume,
# wait for the HEALTHCHECK to pass, check it runs as the non-root user, register, chat over a
# WebSocket, stop it (graceful: exit 0 within the grace period), start a new container on the
# same volume and find the message there.
#
# The Dockerfile's build stage (rust:*-slim image) is not built here: it needs the registry.
# It runs the same `cargo build --release --locked` as this script does on the host.
#
# Podman quirks of this machine, set here and nowhere else: runc as the runtime (crun fails on
# this cgroup setup) and no default ulimits (the sandbox refuses setrlimit on NPROC/NOFILE).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

want=()
for p in podman runc debootstrap curl python3; do
    command -v "$p" >/dev/null || want+=("$p")
done
if [ ${#want[@]} -gt 0 ]; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
fi

work=$(mktemp -d)
conf="$work/containers.conf"
printf '[containers]\ndefault_ulimits = []\n' >"$conf"
pod() { CONTAINERS_CONF="$conf" as_root podman --runtime runc "$@"; }
name=chatterbox-ci-$$
volume=chatterbox-ci-data-$$
cleanup() {
    pod rm -f "$name" "$name-2" >/dev/null 2>&1 || true
    pod volume rm -f "$volume" >/dev/null 2>&1 || true
    pod rmi -f localhost/chatterbox-ci:test >/dev/null 2>&1 || true
    as_root rm -rf "$work"
}
trap cleanup EXIT

# The base image the runtime stage names, made from Debian's packages (kept between runs).
base=docker.io/library/debian:bookworm-slim
if ! pod image exists "$base"; then
    echo "container: making $base with debootstrap" >&2
    as_root debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >/dev/null
    as_root tar -C "$work/rootfs" -c . | pod import - "$base" >/dev/null
    as_root rm -rf "$work/rootfs"
fi

bin=${CHATTERBOX_BIN:-}
if [ -z "$bin" ]; then
    cargo build --release --locked --bin chatterbox
    bin=target/release/chatterbox
fi

# The runtime stage verbatim, after a stand-in build stage that holds the host-built binary.
mkdir -p "$work/ctx/src/target/release"
cp "$bin" "$work/ctx/src/target/release/chatterbox"
{
    printf 'FROM %s AS build\nCOPY src /src\n\n' "$base"
    sed -n '/^FROM debian:bookworm-slim AS runtime/,$p' Dockerfile
} >"$work/ctx/Containerfile"
grep -q '^FROM debian:bookworm-slim AS runtime' "$work/ctx/Containerfile" || {
    echo "container: the Dockerfile has no 'FROM debian:bookworm-slim AS runtime' stage" >&2
    exit 1
}
pod build --format docker --pull=never -q -t localhost/chatterbox-ci:test -f "$work/ctx/Containerfile" "$work/ctx" >/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start() {
    # Podman schedules the image's HEALTHCHECK with systemd timers, and CI has no systemd: its
    # complaints go to a log shown on failure; `podman healthcheck run` below runs the check.
    pod run -d --name "$1" -p "127.0.0.1:$port:8080" -v "$volume:/data" localhost/chatterbox-ci:test \
        >/dev/null 2>>"$work/podman.log"
    for _ in $(seq 1 100); do
        curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    pod logs "$1" >&2 || true
    cat "$work/podman.log" >&2
    echo "container: $1 never answered /healthz on port $port" >&2
    exit 1
}

start "$name"
uid=$(pod exec "$name" id -u)
[ "$uid" = 10001 ] || { echo "container: runs as uid $uid, not the chatterbox user" >&2; exit 1; }
pod healthcheck run "$name" >/dev/null || { echo "container: HEALTHCHECK failed" >&2; exit 1; }

token=$(curl -fsS -H 'Content-Type: application/json' \
    -d '{"username":"shipper","email":"shipper@example.com","password":"correct horse battery"}' \
    "http://127.0.0.1:$port/register" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

# A WebSocket client in the standard library: handshake, one masked text frame, then read
# frames until the server echoes the message back (the broadcast is the acknowledgement).
python3 - "$port" "$token" <<'PY'
import base64, json, os, socket, struct, sys
port, token = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=10)
key = base64.b64encode(os.urandom(16)).decode()
s.sendall((f"GET /ws?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
head = b""
while b"\r\n\r\n" not in head:
    head += s.recv(1)
assert head.startswith(b"HTTP/1.1 101"), head
def send(obj):
    data = json.dumps(obj).encode()
    mask = os.urandom(4)
    hdr = bytes([0x81]) + (bytes([0x80 | len(data)]) if len(data) < 126 else bytes([0x80 | 126]) + struct.pack(">H", len(data)))
    s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))
def exact(n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        assert chunk, "connection closed"
        out += chunk
    return out
def frame():
    b0, b1 = exact(2)
    n = b1 & 0x7F
    if n == 126: n = struct.unpack(">H", exact(2))[0]
    elif n == 127: n = struct.unpack(">Q", exact(8))[0]
    return b0 & 0x0F, exact(n)
send({"type": "message", "text": "shipped in a container"})
while True:
    op, data = frame()
    if op == 1 and json.loads(data).get("text") == "shipped in a container":
        break
print("container: message delivered over the WebSocket", file=sys.stderr)
PY

# A graceful stop: SIGTERM, the grace period, exit 0.
pod stop -t 30 "$name" >/dev/null 2>>"$work/podman.log"
code=$(pod inspect "$name" --format '{{.State.ExitCode}}')
[ "$code" = 0 ] || { pod logs "$name" >&2; echo "container: exit code $code after stop" >&2; exit 1; }

# The data outlives the container.
start "$name-2"
login=$(curl -fsS -H 'Content-Type: application/json' \
    -d '{"username":"shipper","password":"correct horse battery"}' "http://127.0.0.1:$port/login")
token=$(printf '%s' "$login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$port/rooms/1/messages" \
    | grep -q 'shipped in a container' || { echo "container: the message did not survive in the volume" >&2; exit 1; }
pod stop -t 30 "$name-2" >/dev/null 2>>"$work/podman.log"
echo "container: image built, healthy, non-root, chatted, stopped gracefully, data kept in the volume"
