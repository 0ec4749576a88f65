#!/usr/bin/env bash
# Tilt's two ways of getting a rebuilt image into a kind cluster, after a one-layer change:
#
#   push       `docker push` to kilter's local registry (only the changed layer travels), versus
#   kind load  `docker save IMAGE | docker exec -i <node> …` (the whole image travels every time);
#              streaming it into `cat > /dev/null` inside a running container is a lower bound for
#              `kind load docker-image`, which then also imports it with ctr.
#
# The image is ~300 MB in several layers of random (incompressible) bytes on top of the offline test
# node image, plus a small "app" layer that hyperfine's --prepare rebuilds with new bytes before every
# run. The registry is kilter's own (`kilter registry start`, under a throwaway name prefix and HOME),
# from KILTER_REGISTRY_IMAGE (default: the offline kilter-test-registry image).
#
#   scripts/bench-registry.sh        # BENCH_RUNS=5 BENCH_IMAGE_MB=300 BENCH_LAYERS=6 BENCH_APP_KB=1024
#
# Needs: a Docker daemon, hyperfine, python3, the images of scripts/build-test-image.sh and
# scripts/build-registry-image.sh. Prints a Markdown table row and how busy the machine was.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
runs=${BENCH_RUNS:-5}
size_mb=${BENCH_IMAGE_MB:-300}
layers=${BENCH_LAYERS:-6}
app_kb=${BENCH_APP_KB:-1024}
DOCKER=${DOCKER:-docker}
node_image=${KILTER_TEST_IMAGE:-kilter-test-node:latest}
registry_image=${KILTER_REGISTRY_IMAGE:-kilter-test-registry:latest}

for t in hyperfine python3 "$DOCKER"; do
    command -v "$t" >/dev/null || {
        echo "bench-registry: $t is required" >&2
        exit 3
    }
done
"$DOCKER" info >/dev/null 2>&1 || {
    echo "bench-registry: no Docker daemon (scripts/dockerd.sh start)" >&2
    exit 3
}
"$DOCKER" image inspect "$node_image" >/dev/null 2>&1 || "$here/scripts/build-test-image.sh"
"$DOCKER" image inspect "$registry_image" >/dev/null 2>&1 || "$here/scripts/build-registry-image.sh"

echo "==> building the release binary" >&2
(cd "$here" && cargo build --release --locked --bin kilter -q)
kilter="${CARGO_TARGET_DIR:-$here/target}/release/kilter"

work=$(mktemp -d "${TMPDIR:-/tmp}/kilter-bench-registry.XXXXXX")
prefix=bench$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
node=$prefix-node
image=""
cleanup() {
    set +e
    "$DOCKER" rm -f "$node" >/dev/null 2>&1
    "$kilter" -q registry rm --yes --volumes >/dev/null 2>&1
    if [[ -n $image ]]; then "$DOCKER" rmi -f "$image" >/dev/null 2>&1; fi
    "$DOCKER" image prune -f --filter "label=io.kilter.bench=$prefix" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

# kilter's registry, isolated from any real one on this machine.
mkdir -p "$work/home"
export HOME=$work/home XDG_CACHE_HOME=$work/home/.cache XDG_STATE_HOME=$work/home/.local/state \
    XDG_DATA_HOME=$work/home/.local/share NO_COLOR=1 KILTER_PROGRESS=never
export KILTER_REGISTRY_PREFIX=$prefix KILTER_REGISTRY_IMAGE=$registry_image
export KILTER_REGISTRY_PORT=${BENCH_REGISTRY_PORT:-5001}
echo "==> kilter registry start" >&2
"$kilter" -C "$work" registry start
port=$("$kilter" -C "$work" registry status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["port"])')
image=127.0.0.1:$port/kilter-bench:latest

echo "==> building a ${size_mb} MB image in $layers layers (+ a ${app_kb} KB app layer)" >&2
ctx=$work/ctx
mkdir -p "$ctx"
per=$((size_mb / layers))
{
    echo "FROM $node_image"
    echo "LABEL io.kilter.bench=$prefix"
    for i in $(seq "$layers"); do
        head -c "${per}M" /dev/urandom >"$ctx/layer$i"
        echo "COPY layer$i /data/layer$i"
    done
    echo "COPY app /app"
} >"$ctx/Dockerfile"
head -c "${app_kb}K" /dev/urandom >"$ctx/app"
build() { DOCKER_BUILDKIT=0 "$DOCKER" build -q -t "$image" "$ctx" >/dev/null 2>&1; }
build
"$DOCKER" push -q "$image" >/dev/null # the base layers are in the registry from now on
bytes=$("$DOCKER" image inspect -f '{{.Size}}' "$image")

# The stand-in node: a running container to stream the saved image into.
"$DOCKER" run -d --name "$node" "$node_image" >/dev/null

# Before every run: a new app layer (the one-layer change), rebuilt from the build cache.
prepare="head -c ${app_kb}K /dev/urandom > $ctx/app && DOCKER_BUILDKIT=0 $DOCKER build -q -t $image $ctx >/dev/null 2>&1"
push="$DOCKER push -q $image >/dev/null"
load="$DOCKER save $image | $DOCKER exec -i $node sh -c 'cat > /dev/null'"
load_avg=$(cut -d' ' -f1-3 /proc/loadavg)
echo "==> hyperfine: $runs runs each (load average before: $load_avg)" >&2
hyperfine --style basic --runs "$runs" --warmup 1 --prepare "$prepare" \
    --export-json "$work/results.json" -n push "$push" -n "kind load (lower bound)" "$load" >&2

python3 - "$work/results.json" "$bytes" "$runs" "$load_avg" "$(uptime)" <<'PY'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
bytes_, runs, load_before, uptime = int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5].strip()
push = res["push"]["median"]
load = res["kind load (lower bound)"]["median"]
print()
print(f"image: {bytes_ / 1e6:.0f} MB; median of {runs} runs; load average before: {load_before}; after: {uptime}")
print()
print("| one-layer change of the image | push to kilter's registry | docker save \\| docker exec -i node cat (kind load lower bound) | speed-up | target |")
print("|---|---|---|---|---|")
print(f"| median time | {push * 1000:.0f} ms | {load * 1000:.0f} ms | {load / push:.1f}× | ≥ 5× |")
PY
