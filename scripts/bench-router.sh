#!/usr/bin/env bash
# Request latency through the shared router versus straight to the NodePort (README "Performance").
#
#   direct   GET / on 127.0.0.1:<port> published by a busybox httpd container (what a NodePort is
#            from the host: a port docker publishes on 127.0.0.1)
#   router   GET / with `Host: web.bench.localhost` on 127.0.0.1:<router port>, through Caddy in the
#            router image, which proxies to `<httpd container>:8080` over a docker network, with a
#            configuration of the shape kilter renders (reverse_proxy by host, a 404 catch-all)
#
# Each request is a new TCP connection (as a browser's first request, or curl), measured from connect to
# the last byte in one python3 process; BENCH_REQUESTS of each, interleaved in rounds of 100, after a
# warm-up. Prints the medians, the p95s, the ratio and the issue's target (router ≤ 1.5 × direct + 1 ms).
#
#   scripts/bench-router.sh          # BENCH_REQUESTS=1000
#
# Needs: a Docker daemon, python3, the images of scripts/build-test-image.sh and
# scripts/build-router-image.sh (KILTER_TEST_IMAGE, KILTER_ROUTER_IMAGE override them).
set -euo pipefail

requests=${BENCH_REQUESTS:-1000}
DOCKER=${DOCKER:-docker}
node_image=${KILTER_TEST_IMAGE:-kilter-test-node:latest}
router_image=${KILTER_ROUTER_IMAGE:-kilter-test-router:latest}

for t in python3 "$DOCKER"; do
    command -v "$t" >/dev/null || {
        echo "bench-router: $t is missing" >&2
        exit 1
    }
done
for i in "$node_image" "$router_image"; do
    "$DOCKER" image inspect "$i" >/dev/null 2>&1 || {
        echo "bench-router: image $i is missing (scripts/build-test-image.sh, scripts/build-router-image.sh)" >&2
        exit 1
    }
done

tag="kilter-bench-router-$$"
work=$(mktemp -d "${TMPDIR:-/tmp}/$tag.XXXXXX")
cleanup() {
    "$DOCKER" rm -f "$tag-web" "$tag-router" >/dev/null 2>&1 || true
    "$DOCKER" network rm "$tag" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

"$DOCKER" network create "$tag" >/dev/null
"$DOCKER" run -d --name "$tag-web" --network "$tag" -p 127.0.0.1:0:8080 "$node_image" \
    sh -c 'mkdir -p /www && echo hello from the node > /www/index.html && exec httpd -f -p 8080 -h /www' >/dev/null
mkdir -p "$work/conf"
cat >"$work/conf/caddy.json" <<EOF
{
  "admin": {"listen": "localhost:2019"},
  "apps": {"http": {"servers": {"kilter": {
    "listen": [":80"],
    "automatic_https": {"disable": true},
    "routes": [
      {"match": [{"host": ["web.bench.localhost"]}],
       "handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": "$tag-web:8080"}]}],
       "terminal": true},
      {"handle": [{"handler": "static_response", "status_code": 404, "body": "no such name"}],
       "terminal": true}
    ]
  }}}}
}
EOF
chmod -R a+rX "$work"
"$DOCKER" run -d --name "$tag-router" --network "$tag" -p 127.0.0.1:0:80 \
    -v "$work/conf:/etc/kilter-router:ro" "$router_image" caddy run --config /etc/kilter-router/caddy.json >/dev/null
direct=$("$DOCKER" port "$tag-web" 8080/tcp | head -n1)
direct=${direct##*:}
router=$("$DOCKER" port "$tag-router" 80/tcp | head -n1)
router=${router##*:}

python3 - "$requests" "$direct" "$router" <<'PY'
import socket, statistics, sys, time

n, direct, router = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])

def get(port, host):
    t = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    dt = time.perf_counter() - t
    if b" 200 " not in data.split(b"\r\n", 1)[0] or b"hello from the node" not in data:
        raise SystemExit(f"bench-router: unexpected answer on {port}: {data[:200]!r}")
    return dt

# Wait until both answer, then warm up.
for _ in range(200):
    try:
        get(direct, "localhost"); get(router, "web.bench.localhost"); break
    except (OSError, SystemExit):
        time.sleep(0.05)
for _ in range(50):
    get(direct, "localhost"); get(router, "web.bench.localhost")

d, r = [], []
for _ in range(n // 100):
    d += [get(direct, "localhost") for _ in range(100)]
    r += [get(router, "web.bench.localhost") for _ in range(100)]

ms = lambda v: v * 1000
md, mr = ms(statistics.median(d)), ms(statistics.median(r))
p95 = lambda v: ms(sorted(v)[int(len(v) * 0.95)])
target = 1.5 * md + 1.0
print(f"| requests | direct median | router median | ratio | direct p95 | router p95 | target (≤ 1.5× + 1 ms) |")
print(f"|---|---|---|---|---|---|---|")
print(f"| {len(d)} each | {md:.3f} ms | {mr:.3f} ms | {mr/md:.2f}× | {p95(d):.3f} ms | {p95(r):.3f} ms | {target:.3f} ms: {'met' if mr <= target else 'NOT met'} |")
PY
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min), $(nproc) CPUs"
