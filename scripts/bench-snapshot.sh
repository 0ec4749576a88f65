#!/usr/bin/env bash
# Snapshot benchmark (issue #4): `kilter db snapshot` against a direct
# `kubectl exec … -- pg_dump -Fc > file` of the same >= 500 MB database, through the same fake
# kubectl (tests/fake), whose `exec` runs the real pg_dump against a throwaway PostgreSQL server on
# a unix socket. Also kilter's own peak RSS during the snapshot (VmHWM of the kilter process, read
# from /proc every 20 ms; children such as kubectl and pg_dump are not counted).
#
#   scripts/bench-snapshot.sh
#   BENCH_DB_MB=512 BENCH_ROUNDS=3 scripts/bench-snapshot.sh
#
# Targets: direct time / kilter time >= 0.90; peak RSS <= 30 MB.
# Needs: cargo, PostgreSQL 13+ server programs (Debian: `postgresql`; KILTER_PG_BINDIR overrides the
# lookup), runuser (util-linux) when run as root, ~3 GB free in /tmp. Takes a few minutes. Not run in CI.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
db_mb=${BENCH_DB_MB:-512}
rounds=${BENCH_ROUNDS:-3}

die() {
  echo "bench-snapshot: $*" >&2
  exit 3
}

# --- PostgreSQL programs ----------------------------------------------------------------------------
programs=(initdb pg_ctl postgres pg_dump pg_restore psql)
has_all() {
  local p
  for p in "${programs[@]}"; do [[ -x $1/$p ]] || return 1; done
}
pg=${KILTER_PG_BINDIR:-}
if [[ -z $pg ]]; then
  for d in $(compgen -G '/usr/lib/postgresql/*/bin' | sort -V -r || true); do
    if has_all "$d"; then pg=$d && break; fi
  done
fi
if [[ -z $pg ]] && command -v pg_config >/dev/null; then pg=$(pg_config --bindir); fi
if [[ -z $pg ]] || ! has_all "$pg"; then
  die "PostgreSQL server programs not found (apt-get install postgresql, or set KILTER_PG_BINDIR)"
fi

pg_user=""
if [[ $(id -u) == 0 ]]; then
  command -v runuser >/dev/null || die "running as root needs runuser (util-linux) to start PostgreSQL"
  if id postgres >/dev/null 2>&1; then pg_user=postgres; else pg_user=nobody; fi
fi
as_pg() {
  if [[ -n $pg_user ]]; then runuser -u "$pg_user" -- "$@"; else "$@"; fi
}

# --- binaries ---------------------------------------------------------------------------------------
echo "==> building release binaries"
(cd "$here" && cargo build --release --locked --bin kilter --example fake-tool -q)
target=${CARGO_TARGET_DIR:-$here/target}
kilter="$target/release/kilter"
fake="$target/release/examples/fake-tool"

work=$(mktemp -d /tmp/kilter-bench-snap.XXXXXX)
chmod 755 "$work"
# shellcheck disable=SC2317 # invoked through the EXIT trap
cleanup() {
  if [[ -f $work/data/postmaster.pid ]]; then
    as_pg "$pg/pg_ctl" -D "$work/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- the server ---------------------------------------------------------------------------------------
echo "==> PostgreSQL from $pg${pg_user:+ (as $pg_user)}"
mkdir -p "$work/data" "$work/run"
if [[ -n $pg_user ]]; then chown "$pg_user" "$work/data" "$work/run"; fi
as_pg "$pg/initdb" -D "$work/data" -U postgres --auth=trust -E UTF8 --locale=C --no-sync >/dev/null
as_pg "$pg/pg_ctl" -D "$work/data" -o "-k $work/run -c listen_addresses= -F -c max_wal_size=4GB" \
  -w -l "$work/run/server.log" start >/dev/null
psql_() { "$pg/psql" -h "$work/run" -U postgres -X -q -tA -v ON_ERROR_STOP=1 "$@"; }
psql_ -d postgres -c 'CREATE DATABASE bench'

echo "==> filling a ${db_mb} MB table with random bytes (1 KiB per row)"
rows=$((db_mb * 1024))
t0=$EPOCHREALTIME
if psql_ -d bench -c 'CREATE EXTENSION pgcrypto' 2>/dev/null; then
  payload='gen_random_bytes(1024)'
else
  payload="(SELECT decode(string_agg(md5(random()::text || g::text || i::text), ''), 'hex') FROM generate_series(1, 64) i)"
fi
psql_ -d bench -c "CREATE TABLE blobs (id bigint PRIMARY KEY, payload bytea NOT NULL)"
psql_ -d bench -c "INSERT INTO blobs SELECT g, $payload FROM generate_series(1, $rows) g"
psql_ -d bench -c 'CHECKPOINT'
db_bytes=$(psql_ -d bench -c "SELECT pg_database_size('bench')")
echo "    $((db_bytes / 1048576)) MiB in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }') s"

# --- the fake cluster -----------------------------------------------------------------------------------
mkdir -p "$work/bin" "$work/home" "$work/state" "$work/proj"
for t in docker kind kubectl tilt; do ln -s "$fake" "$work/bin/$t"; done
export PATH="$work/bin:$PATH" HOME="$work/home" XDG_CACHE_HOME="$work/home/.cache" XDG_DATA_HOME="$work/home/.local/share" \
  XDG_STATE_HOME="$work/home/.local/state" KILTER_FAKE_STATE="$work/state" NO_COLOR=1 KILTER_PROGRESS=never
unset KUBECONFIG CI || true
export KILTER_FAKE_CREATE_MS=0
printf 'name: bench\ndatabase:\n  service: postgres\n  user: postgres\n' >"$work/proj/kilter.yaml"
cd "$work/proj"
"$kilter" -q up --no-tilt
"$fake" ctl workload bench-dev postgres --kind statefulset --image postgres:15 >/dev/null
"$fake" ctl set exec_path "$pg"
"$fake" ctl set pg_host "$work/run"
"$fake" ctl set pg_port 5432
kc="$XDG_CACHE_HOME/kilter/bench/kubeconfig"
snapdir="$XDG_DATA_HOME/kilter/bench/snapshots"

# --- measurements -----------------------------------------------------------------------------------------
direct_cmd=(kubectl --context kind-kilter-bench exec postgres-0 -n bench-dev -- pg_dump -Fc -U postgres bench)
direct_times=()
kilter_times=()
peaks=()
dump_bytes=0

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

run_direct() {
  local t0 t1
  t0=$EPOCHREALTIME
  KUBECONFIG="$kc" "${direct_cmd[@]}" >"$work/direct.dump"
  t1=$EPOCHREALTIME
  dump_bytes=$(stat -c %s "$work/direct.dump")
  rm -f "$work/direct.dump"
  direct_times+=("$(elapsed "$t0" "$t1")")
}

run_kilter() {
  local name=$1 t0 t1 pid hwm=0 v
  t0=$EPOCHREALTIME
  "$kilter" -q db snapshot "$name" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    if [[ -n $v ]] && ((v > hwm)); then hwm=$v; fi
    sleep 0.02
  done
  wait "$pid" || die "kilter db snapshot $name failed"
  t1=$EPOCHREALTIME
  [[ -f $snapdir/$name.dump && -f $snapdir/$name.json ]] || die "snapshot $name is missing"
  "$kilter" -q db rm "$name"
  kilter_times+=("$(elapsed "$t0" "$t1")")
  peaks+=("$hwm")
}

echo "==> warm-up (one direct dump)"
run_direct
direct_times=()
for i in $(seq "$rounds"); do
  echo "==> round $i of $rounds"
  if ((i % 2)); then
    run_direct
    run_kilter "bench-$i"
  else
    run_kilter "bench-$i"
    run_direct
  fi
  echo "    direct ${direct_times[-1]} s, kilter ${kilter_times[-1]} s, kilter peak RSS ${peaks[-1]} KiB"
done

median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
max() { printf '%s\n' "$@" | sort -g | tail -n1; }
t_d=$(median "${direct_times[@]}")
t_k=$(median "${kilter_times[@]}")
peak=$(max "${peaks[@]}")
ratio=$(awk -v d="$t_d" -v k="$t_k" 'BEGIN { printf "%.2f", d / k }')
peak_mb=$(awk -v p="$peak" 'BEGIN { printf "%.1f", p / 1024 }')
dump_mb=$((dump_bytes / 1048576))

echo
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr); $("$pg/postgres" --version)"
echo "database: $((db_bytes / 1048576)) MiB (pg_database_size); pg_dump -Fc output: $dump_mb MiB; median of $rounds rounds"
echo
echo "| measurement | kilter | direct | ratio (direct/kilter) | target |"
echo "|---|---|---|---|---|"
echo "| snapshot of a $((db_bytes / 1048576)) MiB database ($dump_mb MiB dump) | ${t_k} s | ${t_d} s | $ratio | ≥ 0.90 |"
echo "| kilter peak RSS during the snapshot (VmHWM) | $peak_mb MiB | - | - | ≤ 30 MB |"

fail=0
awk -v r="$ratio" 'BEGIN { exit !(r >= 0.90) }' || { echo "bench-snapshot: ratio $ratio is below 0.90" >&2; fail=1; }
awk -v p="$peak" 'BEGIN { exit !(p <= 30 * 1000) }' || { echo "bench-snapshot: peak RSS $peak_mb MiB is above 30 MB" >&2; fail=1; }
exit "$fail"
