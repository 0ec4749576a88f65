#!/usr/bin/env bash
# kilter's own cost next to the raw commands it runs (issue #6).
#
# Fake tools with a fixed latency per call (BENCH_LATENCY_MS, default 50) stand in for docker, kind,
# kubectl and tilt, so the figures measure kilter and not the machine. Everything runs in a
# throwaway HOME; nothing touches ~/.kube or a real cluster.
#
#   scripts/bench.sh                 # 1-5
#   BENCH_SNAPSHOT=1 scripts/bench.sh  # also 6 (random-bytes and pgbench PostgreSQL databases; slow)
#   BENCH_ONLY=7 scripts/bench.sh    # one section only (1, 2, 3, 3c, 3d, 4, 5, 7)
#
# Needs: hyperfine (Debian package), python3.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
latency=${BENCH_LATENCY_MS:-50}
runs=${BENCH_RUNS:-20}

for t in hyperfine python3; do
  command -v "$t" >/dev/null || { echo "bench: $t is required (apt-get install hyperfine)" >&2; exit 3; }
done

echo "==> building release binaries"
(cd "$here" && cargo build --release --locked --bin kilter --example fake-tool -q)
target=${CARGO_TARGET_DIR:-$here/target}
kilter="$target/release/kilter"
fake="$target/release/examples/fake-tool"

work=$(mktemp -d /tmp/kilter-bench.XXXXXX)
cleanup() {
  # stop any fake tilt this run started
  if [ -d "$work/state/tilt" ]; then
    for f in "$work"/state/tilt/*.json; do
      [ -e "$f" ] || continue
      pid=$(basename "$f" .json)
      kill -9 "$pid" 2>/dev/null || true
    done
  fi
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/bin" "$work/home" "$work/state" "$work/proj"
for t in docker kind kubectl tilt; do ln -s "$fake" "$work/bin/$t"; done
export PATH="$work/bin:$PATH" HOME="$work/home" XDG_CACHE_HOME="$work/home/.cache" XDG_DATA_HOME="$work/home/.local/share" \
  XDG_STATE_HOME="$work/home/.local/state" KILTER_FAKE_STATE="$work/state" NO_COLOR=1 KILTER_PROGRESS=never
unset KUBECONFIG CI || true
export KILTER_FAKE_LATENCY_MS="$latency" KILTER_FAKE_CREATE_MS=0
printf 'name: bench\n' >"$work/proj/kilter.yaml"
printf "print('bench')\n" >"$work/proj/Tiltfile"
cd "$work/proj"

"$kilter" -q up
kc="$XDG_CACHE_HOME/kilter/bench/kubeconfig"
tilt_port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$XDG_CACHE_HOME/kilter/bench/tilt.json")
log="$XDG_CACHE_HOME/kilter/bench/commands.log"

results="$work/results"
mkdir -p "$results"
hf() { # name, then commands
  local name=$1; shift
  hyperfine -N --style none --warmup 2 --runs "$runs" --export-json "$results/$name.json" "$@" >/dev/null
}
median() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(r[int(sys.argv[2])]["median"])' "$results/$1.json" "$2"; }
ms() { python3 -c 'import sys; print(f"{float(sys.argv[1])*1000:.1f}")' "$1"; }
ratio() { python3 -c 'import sys; print(f"{float(sys.argv[1])/float(sys.argv[2]):.2f}")' "$1" "$2"; }
only=${BENCH_ONLY:-}
want() { [ -z "$only" ] || [ "$only" = "$1" ]; }
rows=()
row() { rows+=("$(printf '| %s | %s | %s | %s | %s |' "$@")"); }

# Raw sequences run through one shell invocation (its own startup, ~1 ms, is included on purpose:
# a person types them into a shell too).
raw_status="docker inspect --type container kilter-bench-control-plane >/dev/null; KUBECONFIG=$kc kubectl --context kind-kilter-bench get pods -n bench-dev -o json >/dev/null; tilt get session Tiltfile -o json --port $tilt_port >/dev/null"
raw_up="docker inspect --type container kilter-bench-control-plane >/dev/null; KUBECONFIG=$kc kubectl --context kind-kilter-bench get --raw /readyz >/dev/null; KUBECONFIG=$kc kubectl --context kind-kilter-bench get nodes -o json >/dev/null"

if want 1; then
echo "==> 1. status vs raw probes (latency ${latency} ms per tool call)"
hf status "$kilter status" "/bin/sh -c '$raw_status'"
s_k=$(median status 0); s_r=$(median status 1)
row "1. \`kilter status\` (running project) vs docker inspect + kubectl get pods + tilt get session" "$(ms "$s_k") ms" "$(ms "$s_r") ms" "$(ratio "$s_k" "$s_r")" "≤ 0.70"
fi

if want 2; then
echo "==> 2. up on a running, healthy project (--no-tilt) vs the raw checks"
# Processes an `up` spawned: its commands.log lines, less the polls' summary lines (`  # probe …`).
count_procs() {
  local before
  before=$(wc -l <"$log")
  "$@" >/dev/null
  tail -n +"$((before + 1))" "$log" | grep -vc '  # probe ' || true
}
hf up "$kilter -q up --no-tilt" "/bin/sh -c '$raw_up'"
u_k=$(median up 0); u_r=$(median up 1)
procs=$(count_procs "$kilter" -q up --no-tilt)
row "2. \`kilter up --no-tilt\` (already running) vs docker inspect + readyz + get nodes" "$(ms "$u_k") ms" "$(ms "$u_r") ms" "$(ratio "$u_k" "$u_r")" "≤ 1.20"
row "2b. processes spawned by that \`up\` (commands.log lines, local registry wiring checked)" "$procs" "3" "-" "≤ 5"
# The same without the local registry (KILTER_REGISTRY=off): what the registry check costs.
hf up_noreg "env KILTER_REGISTRY=off $kilter -q up --no-tilt"
n_k=$(median up_noreg 0)
procs_noreg=$(count_procs env KILTER_REGISTRY=off "$kilter" -q up --no-tilt)
row "2c. the same \`up\` with KILTER_REGISTRY=off (no registry wiring to check)" "$(ms "$n_k") ms, $procs_noreg processes" "-" "-" "-"
fi

if want 3; then
echo "==> 3. resume: time from API-ready to \`kilter up\` returning (median of 10)"
delay=1000
lags=()
for _ in $(seq 10); do
  "$kilter" -q stop
  KILTER_FAKE_READY_DELAY_MS=$delay "$kilter" -q up --no-tilt
  end_ns=$(date +%s%N)
  started=$(KILTER_FAKE_LATENCY_MS=0 docker inspect --format '{{json .}}' kilter-bench-control-plane | python3 -c 'import json,sys; print(json.load(sys.stdin)["State"]["StartedAt"])')
  lag=$(python3 - "$started" "$end_ns" "$delay" <<'PY'
import sys, datetime
s, end_ns, delay = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
date, frac = (s.rstrip("Z").split(".") + ["0"])[:2]
t = datetime.datetime.strptime(date, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc).timestamp()
t += float("0." + frac)
print(f"{end_ns / 1e9 - (t + delay / 1000):.4f}")
PY
)
  lags+=("$lag")
done
resume=$(python3 -c 'import statistics,sys; print(statistics.median(map(float, sys.argv[1:])))' "${lags[@]}")
row "3. resume: API ready → \`kilter up --no-tilt\` returns (median of 10)" "$(ms "$resume") ms" "-" "-" "≤ 300 ms"
fi

if want 3c; then
echo "==> 3c. resume with a resetting API port: API serving → \`kilter up\` returns (median of 10)"
# docker-proxy accepts and resets until the API server serves (the fake's api_proxy_ms); each
# kubectl probe started before that retries for 5 s, so only overlapping probes notice in time.
lags=()
for _ in $(seq 10); do
  "$kilter" -q stop
  KILTER_FAKE_API_PROXY_MS=$delay "$kilter" -q up --no-tilt
  end_ns=$(date +%s%N)
  started=$(KILTER_FAKE_LATENCY_MS=0 docker inspect --format '{{json .}}' kilter-bench-control-plane | python3 -c 'import json,sys; print(json.load(sys.stdin)["State"]["StartedAt"])')
  lag=$(python3 - "$started" "$end_ns" "$delay" <<'PY'
import sys, datetime
s, end_ns, delay = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
date, frac = (s.rstrip("Z").split(".") + ["0"])[:2]
t = datetime.datetime.strptime(date, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc).timestamp()
t += float("0." + frac)
print(f"{end_ns / 1e9 - (t + delay / 1000):.4f}")
PY
)
  lags+=("$lag")
done
resume_reset=$(python3 -c 'import statistics,sys; print(statistics.median(map(float, sys.argv[1:])))' "${lags[@]}")
row "3c. resume with a resetting API: API serving → \`kilter up --no-tilt\` returns (median of 10)" "$(ms "$resume_reset") ms" "-" "-" "≤ 300 ms"
fi

if want 3d; then
echo "==> 3d. status while the API port accepts and resets (the API never serves)"
KILTER_FAKE_API_PROXY_MS=never hyperfine -N --style none --runs 5 --export-json "$results/status_reset.json" "$kilter status" >/dev/null
sr=$(median status_reset 0)
row "3d. \`kilter status\` with a resetting API (kubectl alone: 5.2 s for /readyz, 55 s for pods)" "$(ms "$sr") ms" "-" "-" "≤ 3 s"
fi

if want 4; then
echo "==> 4. ls with 50 more running projects"
nodes="kilter-bench-control-plane"
for i in $(seq 50); do
  KILTER_FAKE_LATENCY_MS=0 kind create cluster --name "kilter-p$i" --kubeconfig "$work/kc-$i" >/dev/null 2>&1
  nodes="$nodes kilter-p$i-control-plane"
done
# The raw equivalent: list the nodes, then sample the running ones (CPU and memory).
raw_ls="docker ps -a --filter label=io.x-k8s.kind.cluster --format '{{json .}}' >/dev/null; docker stats --no-stream --format '{{json .}}' $nodes >/dev/null"
hf ls "$kilter ls" "/bin/sh -c \"$raw_ls\""
l_k=$(median ls 0); l_r=$(median ls 1)
shim="$work/shim.log"
KILTER_SHIM_LOG="$shim" "$kilter" ls >/dev/null
docker_calls=$(grep -c '^docker ' "$shim" || true)
row "4. \`kilter ls\` (51 running projects) vs docker ps + docker stats" "$(ms "$l_k") ms" "$(ms "$l_r") ms" "$(ratio "$l_k" "$l_r")" "≤ 1.20"
row "4b. docker calls made by \`kilter ls\`" "$docker_calls" "2" "-" "= 2"
fi

if want 5; then
echo "==> 5. --version and binary size"
hf version "$kilter --version"
v_k=$(median version 0)
size=$(stat -c %s "$kilter")
row "5. \`kilter --version\`" "$(ms "$v_k") ms" "-" "-" "-"
row "5b. release binary size" "$(python3 -c "print(f'{$size/1048576:.1f} MiB')")" "-" "-" "-"
fi

if want 7; then
  echo "==> 7. up + stop + up on a 5 MB kilter.yaml (fakes without latency: kilter's own cost)"
  # ~5 MB of settings kilter keeps but does not read: a long mapping, a long list, a flow list on
  # one line and comments. Reading and editing kilter.yaml must stay linear in its size.
  mkdir -p "$work/big"
  python3 - "$work/big/kilter.yaml" <<'PY'
import sys
parts = ["name: big\n", "env:\n"]
parts += [f"  KEY_{i}: value number {i}\n" for i in range(60000)]
parts += ["dev:\n"] + [f"  - item {i} of a long list\t# note {i}\n" for i in range(40000)]
parts += ["tilt: [" + ", ".join(f"x{i}" for i in range(100000)) + "]\n"]
parts += [f"# comment line {i}: kept as written\n" for i in range(40000)]
open(sys.argv[1], "w").write("".join(parts))
PY
  big_size=$(stat -c %s "$work/big/kilter.yaml")
  printf "print('big')\n" >"$work/big/Tiltfile"
  (cd "$work/big" && KILTER_FAKE_LATENCY_MS=0 "$kilter" -q up --no-tilt)
  cp "$work/big/kilter.yaml" "$work/big.orig"
  cycle="cd $work/big && $kilter -q up --no-tilt && $kilter -q stop && $kilter -q up --no-tilt"
  KILTER_FAKE_LATENCY_MS=0 hyperfine -N --style none --warmup 1 --runs 5 --export-json "$results/bigyaml.json" "/bin/sh -c '$cycle'" >/dev/null
  cmp -s "$work/big.orig" "$work/big/kilter.yaml" || { echo "bench: up/stop/up changed the 5 MB kilter.yaml" >&2; exit 1; }
  printf 'name: big\n' >"$work/big/kilter.yaml"
  KILTER_FAKE_LATENCY_MS=0 hyperfine -N --style none --warmup 1 --runs 5 --export-json "$results/smallyaml.json" "/bin/sh -c '$cycle'" >/dev/null
  by=$(median bigyaml 0); sy=$(median smallyaml 0)
  mb=$(python3 -c "import sys; print(f'{int(sys.argv[1])/1e6:.1f}')" "$big_size")
  row "7. \`up --no-tilt\` + \`stop\` + \`up --no-tilt\` on a $mb MB kilter.yaml vs a one-line one (fakes without latency)" "$(ms "$by") ms" "$(ms "$sy") ms" "$(ratio "$by" "$sy")" "< 2 s"
  (cd "$work/big" && KILTER_FAKE_LATENCY_MS=0 "$kilter" -q destroy --yes --no-snapshot >/dev/null 2>&1) || true
fi

if [ "${BENCH_SNAPSHOT:-0}" = 1 ]; then
  echo "==> 6. snapshot (scripts/bench-snapshot.sh)"
  PATH="/usr/local/bin:/usr/bin:/bin" "$here/scripts/bench-snapshot.sh"
fi

echo
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr); fake tool latency ${latency} ms; hyperfine $runs runs"
echo
echo "| measurement | kilter | raw | ratio | target |"
echo "|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
