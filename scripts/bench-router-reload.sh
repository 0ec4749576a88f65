#!/usr/bin/env bash
# Requests dropped while the router reloads (docs/real-tools.md, "Caddy's reload"), with and without
# the sysctl kilter starts the router with (`--sysctl net.ipv4.tcp_migrate_req=1`).
#
# For each of the two routers: BENCH_THREADS threads send `GET /` on new TCP connections to the
# router's published port without pause, while `docker exec <router> caddy reload` swaps between two
# configurations BENCH_RELOADS times. Every answer that is not a 200 (a reset, an empty answer) is a
# dropped request. Prints one row per router.
#
#   scripts/bench-router-reload.sh          # BENCH_RELOADS=40 BENCH_THREADS=4
#
# Needs: a Docker daemon whose kernel has net.ipv4.tcp_migrate_req (Linux >= 5.14), python3, and the
# image of scripts/build-router-image.sh (KILTER_ROUTER_IMAGE overrides it).
set -euo pipefail

reloads=${BENCH_RELOADS:-40}
threads=${BENCH_THREADS:-4}
DOCKER=${DOCKER:-docker}
router_image=${KILTER_ROUTER_IMAGE:-kilter-test-router:latest}

for t in python3 "$DOCKER"; do
    command -v "$t" >/dev/null || {
        echo "bench-router-reload: $t is missing" >&2
        exit 1
    }
done
"$DOCKER" image inspect "$router_image" >/dev/null 2>&1 || {
    echo "bench-router-reload: image $router_image is missing (scripts/build-router-image.sh)" >&2
    exit 1
}

tag="kilter-bench-reload-$$"
work=$(mktemp -d "${TMPDIR:-/tmp}/$tag.XXXXXX")
cleanup() {
    "$DOCKER" rm -f "$tag-on" "$tag-off" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/conf"
for body in a b; do
    cat >"$work/conf/$body.json" <<EOF
{
  "admin": {"listen": "localhost:2019"},
  "apps": {"http": {"servers": {"kilter": {
    "listen": [":80"],
    "automatic_https": {"disable": true},
    "routes": [{"handle": [{"handler": "static_response", "status_code": 200, "body": "$body"}]}]
  }}}}
}
EOF
done
chmod -R a+rX "$work"

echo "| router | reloads | threads | answered | dropped | dropped per reload |"
echo "|---|---|---|---|---|---|"
for mode in on off; do
    sysctl=()
    [[ $mode == on ]] && sysctl=(--sysctl net.ipv4.tcp_migrate_req=1)
    "$DOCKER" run -d --name "$tag-$mode" -p 127.0.0.1:0:80 "${sysctl[@]}" \
        -v "$work/conf:/etc/kilter-router:ro" "$router_image" caddy run --config /etc/kilter-router/a.json >/dev/null
    port=$("$DOCKER" port "$tag-$mode" 80/tcp | head -n1)
    port=${port##*:}
    python3 - "$port" "$reloads" "$threads" "$DOCKER" "$tag-$mode" "$mode" <<'PY'
import socket, subprocess, sys, threading, time

port, reloads, threads, docker, name, mode = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]

def get():
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    return data

for _ in range(200):
    try:
        if b" 200 " in get():
            break
    except OSError:
        pass
    time.sleep(0.05)
else:
    raise SystemExit(f"bench-router-reload: {name} never answered")

stop, ok, bad = False, [0], []
def loop():
    while not stop:
        try:
            d = get()
            if b" 200 " in d.split(b"\r\n", 1)[0]:
                ok[0] += 1
            else:
                bad.append(repr(d[:40]))
        except OSError as e:
            bad.append(repr(e))
ts = [threading.Thread(target=loop) for _ in range(threads)]
for t in ts:
    t.start()
for i in range(reloads):
    conf = ["b", "a"][i % 2]
    subprocess.run([docker, "exec", name, "caddy", "reload", "--config", f"/etc/kilter-router/{conf}.json"],
                   check=True, capture_output=True)
stop = True
for t in ts:
    t.join()
label = "with tcp_migrate_req=1 (kilter's)" if mode == "on" else "without"
print(f"| {label} | {reloads} | {threads} | {ok[0]} | {len(bad)} | {len(bad) / reloads:.2f} |")
PY
    "$DOCKER" rm -f "$tag-$mode" >/dev/null
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min), $(nproc) CPUs; kernel $("$DOCKER" info --format '{{.KernelVersion}}')"
