#!/usr/bin/env bash
# Snapshot benchmark: `kilter db snapshot` and `kilter db restore` against the direct commands a person
# would type, `kubectl exec … -- pg_dump -Fc > file` and `kubectl exec -i … -- pg_restore … < file`, on two
# databases of one throwaway PostgreSQL server (unix socket), through the same fake kubectl (tests/fake),
# whose `exec` runs the real pg_dump/pg_restore against it:
#
#   random    BENCH_RANDOM_MB (default 231) MB of random bytes (1 KiB bytea rows): incompressible
#   pgbench   `pgbench -i -s BENCH_PGBENCH_SCALE` (default 40, ~600 MB): realistic, compressible
#
# Reports wall times (median of BENCH_ROUNDS alternating rounds, default 3), file sizes, and kilter's own
# peak RSS (VmHWM of the kilter process, read from /proc every 10 ms; kubectl and pg_dump not counted).
#
#   scripts/bench-snapshot.sh
#   BENCH_ROUNDS=5 BENCH_ONLY=pgbench scripts/bench-snapshot.sh
#   BENCH_MBPS="30 100 300 0" scripts/bench-snapshot.sh   # through a channel of N MB/s (0: unlimited)
#
# BENCH_MBPS (default 0) sets the fake kubectl's throughput limit (knob exec_mbps, both directions)
# for kilter and the direct commands alike; each speed gets its own rows.
# BENCH_POD=zstd (default) gives the "pod" zstd (kilter compresses in the pod: `pg_dump -Z 0 | zstd
# -1`); BENCH_POD=plain gives it only the shell and coreutils, as the official postgres images
# (kilter then asks pg_dump for its own gzip level 1, `-Z 1`). The PostgreSQL programs are the
# machine's (16+ would take `-Z zstd:1`).
#
# Targets, at every speed: snapshot and restore >= 1.0x the direct commands, pgbench file <= 0.5x
# of -Fc's, peak RSS <= 64 MB. Exit 1 when one is missed.
# Needs: cargo, PostgreSQL 13+ server programs and pgbench (Debian: `postgresql`, `postgresql-contrib` on
# old releases; KILTER_PG_BINDIR overrides the lookup), runuser (util-linux) when run as root, ~4 GB free
# in /tmp. Takes several minutes. Not run in CI.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
random_mb=${BENCH_RANDOM_MB:-231}
scale=${BENCH_PGBENCH_SCALE:-40}
rounds=${BENCH_ROUNDS:-3}
only=${BENCH_ONLY:-}
read -r -a speeds <<<"${BENCH_MBPS:-0}"
load0=$(cut -d' ' -f1-3 /proc/loadavg)

die() {
  echo "bench-snapshot: $*" >&2
  exit 3
}

# --- PostgreSQL programs ----------------------------------------------------------------------------
programs=(initdb pg_ctl postgres pg_dump pg_restore psql pgbench)
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
  die "PostgreSQL server programs and pgbench not found (apt-get install postgresql, or set KILTER_PG_BINDIR)"
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
  # BENCH_LOG=FILE keeps kilter's commands.log (each command with its duration) for a closer look.
  if [[ -n ${BENCH_LOG:-} && -n ${XDG_CACHE_HOME:-} && -f $XDG_CACHE_HOME/kilter/bench/commands.log ]]; then
    cp "$XDG_CACHE_HOME/kilter/bench/commands.log" "$BENCH_LOG" || true
  fi
  if [[ -f $work/data/postmaster.pid ]]; then
    as_pg "$pg/pg_ctl" -D "$work/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- the server and the two databases -----------------------------------------------------------------
echo "==> PostgreSQL from $pg${pg_user:+ (as $pg_user)}"
mkdir -p "$work/data" "$work/run"
if [[ -n $pg_user ]]; then chown "$pg_user" "$work/data" "$work/run"; fi
as_pg "$pg/initdb" -D "$work/data" -U postgres --auth=trust -E UTF8 --locale=C --no-sync >/dev/null
as_pg "$pg/pg_ctl" -D "$work/data" -o "-k $work/run -c listen_addresses= -F -c max_wal_size=4GB" \
  -w -l "$work/run/server.log" start >/dev/null
psql_() { "$pg/psql" -h "$work/run" -U postgres -X -q -tA -v ON_ERROR_STOP=1 "$@"; }
secs_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }'; }

dbs=()
if [[ -z $only || $only == random ]]; then
  dbs+=(random)
  echo "==> database random: ${random_mb} MB of random bytes (1 KiB per row)"
  t0=$EPOCHREALTIME
  psql_ -d postgres -c 'CREATE DATABASE random'
  if psql_ -d random -c 'CREATE EXTENSION pgcrypto' 2>/dev/null; then
    payload='gen_random_bytes(1024)'
  else
    payload="(SELECT decode(string_agg(md5(random()::text || g::text || i::text), ''), 'hex') FROM generate_series(1, 64) i)"
  fi
  psql_ -d random -c "CREATE TABLE blobs (id bigint PRIMARY KEY, payload bytea NOT NULL)"
  psql_ -d random -c "INSERT INTO blobs SELECT g, $payload FROM generate_series(1, $((random_mb * 1024))) g"
  echo "    done in $(secs_since "$t0") s"
fi
if [[ -z $only || $only == pgbench ]]; then
  dbs+=(pgbench)
  echo "==> database pgbench: pgbench -i -s $scale"
  t0=$EPOCHREALTIME
  psql_ -d postgres -c 'CREATE DATABASE pgbench'
  "$pg/pgbench" -h "$work/run" -U postgres -i -q -s "$scale" pgbench >/dev/null 2>&1
  echo "    done in $(secs_since "$t0") s"
fi
psql_ -d postgres -c 'CHECKPOINT'

# --- the fake cluster -----------------------------------------------------------------------------------
mkdir -p "$work/bin" "$work/home" "$work/state" "$work/proj" "$work/files"
for t in docker kind kubectl tilt; do ln -s "$fake" "$work/bin/$t"; done
export PATH="$work/bin:$PATH" HOME="$work/home" XDG_CACHE_HOME="$work/home/.cache" XDG_DATA_HOME="$work/home/.local/share" \
  XDG_STATE_HOME="$work/home/.local/state" KILTER_FAKE_STATE="$work/state" NO_COLOR=1 KILTER_PROGRESS=never
unset KUBECONFIG CI || true
export KILTER_FAKE_CREATE_MS=0
printf 'name: bench\n' >"$work/proj/kilter.yaml"
cd "$work/proj"
"$kilter" -q up --no-tilt
"$fake" ctl workload bench-dev postgres --kind statefulset --image postgres:15 >/dev/null
# The pg programs, then the shell and coreutils of kilter's stream checks in the pod.
pod=${BENCH_POD:-zstd}
mkdir -p "$work/pod"
for t in sh mktemp mkfifo tee wc sha256sum cat rm; do ln -s "$(command -v "$t")" "$work/pod/$t"; done
case $pod in
  zstd) ln -s "$(command -v zstd)" "$work/pod/zstd" ;;
  plain) ;;
  *) die "BENCH_POD is zstd or plain, not $pod" ;;
esac
"$fake" ctl set exec_path "$pg:$work/pod"
"$fake" ctl set pg_host "$work/run"
"$fake" ctl set pg_port 5432
kc="$XDG_CACHE_HOME/kilter/bench/kubeconfig"
snapdir="$XDG_DATA_HOME/kilter/bench/snapshots"
exec_=(kubectl --context kind-kilter-bench exec)

# --- measurements -----------------------------------------------------------------------------------------
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
max() { printf '%s\n' "$@" | sort -g | tail -n1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

# Run kilter with "$@", set $took (s) and $hwm (KiB, kilter's own peak RSS).
kilter_timed() {
  local t0 pid v
  hwm=0
  t0=$EPOCHREALTIME
  "$kilter" -q "$@" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    if [[ -n $v ]] && ((v > hwm)); then hwm=$v; fi
    sleep 0.01
  done
  wait "$pid" || die "kilter $* failed"
  took=$(elapsed "$t0" "$EPOCHREALTIME")
}

rows=()
fail=0
for mbps in "${speeds[@]}"; do
"$fake" ctl set exec_mbps "$mbps"
if [[ $mbps == 0 ]]; then at=""; else at=" at $mbps MB/s"; fi
for db in "${dbs[@]}"; do
  printf 'name: bench\ndatabase:\n  service: postgres\n  user: postgres\n  name: %s\n' "$db" >kilter.yaml
  db_bytes=$(psql_ -d postgres -c "SELECT pg_database_size('$db')")
  direct_snap=() direct_rest=() kilter_snap=() kilter_rest=() inner_rest=() peaks=()
  direct_file="$work/files/$db.dump"
  run_direct() {
    local t0
    t0=$EPOCHREALTIME
    KUBECONFIG="$kc" "${exec_[@]}" postgres-0 -n bench-dev -- pg_dump -Fc -U postgres "$db" >"$direct_file"
    direct_snap+=("$(elapsed "$t0" "$EPOCHREALTIME")")
    t0=$EPOCHREALTIME
    KUBECONFIG="$kc" "${exec_[@]}" -i postgres-0 -n bench-dev -- pg_restore --clean --if-exists --no-owner \
      -U postgres -d "$db" <"$direct_file"
    direct_rest+=("$(elapsed "$t0" "$EPOCHREALTIME")")
    direct_bytes=$(stat -c %s "$direct_file")
  }
  run_kilter() {
    kilter_timed db snapshot "$1" --force
    kilter_snap+=("$took")
    peaks+=("$hwm")
    kilter_bytes=$(du -cb "$snapdir/$1".dump* | tail -n1 | cut -f1)
    kilter_timed db restore "$1"
    kilter_rest+=("$took")
    peaks+=("$hwm")
    # How long the `cat … | kubectl exec -i … pg_restore` pipeline itself took (commands.log).
    inner_rest+=("$(awk -F'\t' '/pg_restore/ { d = $3 } END { sub(/s$/, "", d); print d }' "$XDG_CACHE_HOME/kilter/bench/commands.log")")
    "$kilter" -q db rm "$1"
  }
  echo "==> $db$at: $(mib "$db_bytes") MiB; warm-up"
  run_direct
  direct_snap=() direct_rest=()
  for i in $(seq "$rounds"); do
    if ((i % 2)); then run_direct && run_kilter "b$i"; else run_kilter "b$i" && run_direct; fi
    echo "    round $i: snapshot direct ${direct_snap[-1]} s, kilter ${kilter_snap[-1]} s;" \
      "restore direct ${direct_rest[-1]} s, kilter ${kilter_rest[-1]} s (its pipeline ${inner_rest[-1]} s); peak RSS $((${peaks[-1]} > ${peaks[-2]} ? ${peaks[-1]} : ${peaks[-2]})) KiB"
  done
  ds=$(median "${direct_snap[@]}") ks=$(median "${kilter_snap[@]}")
  dr=$(median "${direct_rest[@]}") kr=$(median "${kilter_rest[@]}")
  peak=$(max "${peaks[@]}")
  rs=$(ratio "$ds" "$ks") rr=$(ratio "$dr" "$kr") rf=$(ratio "$kilter_bytes" "$direct_bytes")
  snap_t=1.0 rest_t=1.0 size_t=""
  if [[ $db == pgbench ]]; then size_t=0.5; fi
  rows+=("| $db$at: snapshot of $(mib "$db_bytes") MiB | $ks s | $ds s | $rs | ≥ $snap_t |")
  rows+=("| $db$at: restore | $kr s | $dr s | $rr | ≥ $rest_t |")
  rows+=("| $db$at: file size | $(mib "$kilter_bytes") MiB | $(mib "$direct_bytes") MiB | $rf (kilter/direct) | ${size_t:+≤ $size_t} |")
  rows+=("| $db$at: kilter's peak RSS (snapshot, restore) | $(mib $((peak * 1024))) MiB | – | – | ≤ 64 MB |")
  awk -v r="$rs" -v t="$snap_t" 'BEGIN { exit !(r >= t) }' || { echo "bench-snapshot: $db snapshot ratio $rs < $snap_t" >&2; fail=1; }
  awk -v r="$rr" -v t="$rest_t" 'BEGIN { exit !(r >= t) }' || { echo "bench-snapshot: $db restore ratio $rr < $rest_t" >&2; fail=1; }
  if [[ -n $size_t ]]; then
    awk -v r="$rf" -v t="$size_t" 'BEGIN { exit !(r <= t) }' || { echo "bench-snapshot: $db file ratio $rf > $size_t" >&2; fail=1; }
  fi
  awk -v p="$peak" 'BEGIN { exit !(p * 1024 <= 64 * 1000 * 1000) }' || { echo "bench-snapshot: $db peak RSS $peak KiB > 64 MB" >&2; fail=1; }
  rm -f "$direct_file"
done
done

echo
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr); $("$pg/postgres" --version); load average at the start: $load0"
echo "median of $rounds alternating rounds; ratio = direct/kilter for times; pod: $pod"
echo
echo "| measurement | kilter | direct | ratio | target |"
echo "|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
exit "$fail"
