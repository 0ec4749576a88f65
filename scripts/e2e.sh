#!/usr/bin/env bash
# shellcheck disable=SC2317 # cleanup and the signal handlers run from traps
# End-to-end journey of kilter with the sample project (fixtures/sample-project), asserting every step:
#
#   up (its services postgres and redis from kilter.yaml ready, pods Ready; with real tools both
#   answer on their NodePorts: pg_isready/psql with `kilter env`'s DATABASE_URL, a Redis PING over
#   /dev/tcp) → insert a row → stop (node exited, flag in kilter.yaml) → up (row still there)
#   → db snapshot → destroy --yes (node gone, snapshot kept, ~/.kube/config byte-identical)
#   → up (row gone) → db restore (row back, also through the NodePort) → a second project alongside
#   → destroy both (the shared registry stays) → an app without a Tiltfile (fixtures/apps/node-plain:
#   package.json + server.js): `up` renders its Tiltfile and Tilt runs it, it answers on `kilter env`'s
#   APP_URL, an edit of server.js is live in <= 3 s without a rebuild (measured, in the GitHub step
#   summary), a package.json change reinstalls and is live, `down` leaves its pod, `stop`/`up` bring it
#   back → `kilter registry rm --volumes`. The local registry
#   is checked after the first up: created, wired into the node, Tilt pushed the sample's
#   docker_build image to it; the second project's pods pulled public images (postgres, redis from
#   docker.io) through the docker.io pull-through cache.
#
# The same journey, step for step, is the Rust test tests/e2e.rs, which the test command's e2e stage runs
# (`E2E_TOOLS=fake cargo test --locked --test e2e -- --include-ignored --nocapture`). This script stays as
# the path of GitHub's e2e job (E2E_TOOLS=real, .github/workflows/ci.yml) until tests/e2e.rs has passed
# there with the real tools; until then a change of the journey goes into both.
#
# Usage: scripts/e2e.sh
#
# Env: E2E_TOOLS=real|fake   real (default): kind, kubectl and tilt from PATH and a Docker engine
#                            (the CI e2e job). fake: the test fakes of kind/kubectl/tilt
#                            (`cargo build --example fake-tool`) in their real-Docker backend, i.e. the
#                            REAL Docker engine with the offline kilter-test-node image; there the
#                            "row" is a file inside the node container and pod checks are skipped;
#                            the `kilter db` steps run against a throwaway PostgreSQL on this machine
#                            (the fake kubectl's exec runs the real pg_dump/psql against it; the e2e
#                            empties its database when the cluster is destroyed, as a new cluster's
#                            postgres pod starts empty);
#                            the registry is the offline kilter-test-registry image
#                            (scripts/build-registry-image.sh) under its own name prefix, and the e2e
#                            pushes an image itself in place of Tilt.
#      KILTER_BIN            the kilter binary (default: cargo build, then target/debug/kilter)
#      E2E_NAME              project name (default e2e-<random>); the second project is <name>-b
#      E2E_TIMEOUT           seconds to wait for pods and the web app (default 600)
#      E2E_TPUT_MB           MB of table data for the snapshot/restore throughput step (default 32); the
#                            figures go to the job summary ($GITHUB_STEP_SUMMARY) when it is set
#      E2E_KEEP_ON_FAILURE=1 on failure keep the clusters and the temp dir for inspection
#      E2E_ARTIFACTS_DIR     copy each project's commands.log, tilt.log, tilt.json and status there
#      E2E_FAKE_DB=0         skip the `kilter db` steps with E2E_TOOLS=fake (they need PostgreSQL's server
#                            and client programs: /usr/lib/postgresql/*/bin or `pg_config --bindir`;
#                            without them the steps print SKIPPED, and under CI=true the run fails)
#
# Everything runs under an isolated HOME/XDG tree in a temp dir; the clusters are always deleted at the
# end (unless E2E_KEEP_ON_FAILURE=1 and a step failed).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

TOOLS=${E2E_TOOLS:-real}
TIMEOUT=${E2E_TIMEOUT:-600}
is_true() { [[ ${1:-} == 1 || ${1:-} == true || ${1:-} == yes ]]; }

case $TOOLS in
    real | fake) ;;
    *)
        echo "e2e: E2E_TOOLS must be real or fake, not '$TOOLS'" >&2
        exit 2
        ;;
esac

T0=$SECONDS
STEP_T0=$SECONDS
CURRENT="setup"
TIMES=()
log() { printf 'e2e: %s\n' "$*" >&2; }
fail() {
    printf '\ne2e: FAIL in step "%s": %s\n' "$CURRENT" "$*" >&2
    exit 1
}
step() {
    if [[ $CURRENT != setup ]]; then TIMES+=("$(printf '%5ds  %s' $((SECONDS - STEP_T0)) "$CURRENT")"); fi
    CURRENT=$*
    STEP_T0=$SECONDS
    printf '\n==> [%4ds] %s\n' $((SECONDS - T0)) "$*" >&2
}
ok() { printf '    ok: %s\n' "$*" >&2; }

for tool in docker jq sha256sum; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is not on PATH"
done

# --- work dir ----------------------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kilter-e2e.XXXXXX")
trap 'rm -rf "$WORK"' EXIT # replaced by the full cleanup below

# --- kilter and the tools ----------------------------------------------------------------------------
target_dir=${CARGO_TARGET_DIR:-$ROOT/target}
if [[ $TOOLS == fake ]]; then
    log "building kilter and the fake tools"
    cargo build --locked --quiet --bin kilter --example fake-tool
    FAKE=$target_dir/debug/examples/fake-tool
    [[ -x $FAKE ]] || fail "no fake tool at $FAKE"
    REAL_DOCKER=${KILTER_FAKE_REAL_DOCKER:-}
    if [[ -z $REAL_DOCKER ]]; then
        if [[ -x /usr/bin/docker ]]; then REAL_DOCKER=/usr/bin/docker; else REAL_DOCKER=$(command -v docker); fi
    fi
    mkdir -p "$WORK/bin"
    for t in kind kubectl tilt; do ln -s "$FAKE" "$WORK/bin/$t"; done
    ln -s "$REAL_DOCKER" "$WORK/bin/docker"
    export PATH="$WORK/bin:$PATH"
    export KILTER_FAKE_STATE=$WORK/fake-state KILTER_FAKE_DOCKER=real KILTER_FAKE_REAL_DOCKER=$REAL_DOCKER
    export KILTER_FAKE_NODE_IMAGE=${KILTER_FAKE_NODE_IMAGE:-${KILTER_TEST_IMAGE:-kilter-test-node:latest}}
    # The shared registry from the offline test image, under a prefix of its own (other runs and
    # a developer's real kilter-registry are left alone); offline, the caches mirror it.
    export KILTER_REGISTRY_IMAGE=${KILTER_REGISTRY_TEST_IMAGE:-kilter-test-registry:latest}
    KILTER_REGISTRY_PREFIX=e2e$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
    export KILTER_REGISTRY_PREFIX
    own=http://$KILTER_REGISTRY_PREFIX-registry:5000
    export KILTER_CACHE_UPSTREAMS="docker.io=$own,ghcr.io=$own,quay.io=$own,registry.k8s.io=$own"
fi
REG_PREFIX=${KILTER_REGISTRY_PREFIX:-kilter}
if [[ -n ${KILTER_BIN:-} ]]; then
    KILTER=$KILTER_BIN
else
    if [[ $TOOLS == real ]]; then cargo build --locked --quiet --bin kilter; fi
    KILTER=$target_dir/debug/kilter
fi
[[ -x $KILTER ]] || fail "no kilter binary at $KILTER"

# --- isolated environment (after the build: cargo and rustup need the real HOME) ---------------------
ORIG_HOME=${HOME:-/root}
export HOME=$WORK/home
export XDG_CACHE_HOME=$HOME/.cache XDG_DATA_HOME=$HOME/.local/share XDG_STATE_HOME=$HOME/.local/state
export XDG_CONFIG_HOME=$HOME/.config
# The docker client's own config (contexts, e.g. Docker Desktop) is not what this test isolates.
if [[ -z ${DOCKER_CONFIG:-} && -d $ORIG_HOME/.docker ]]; then export DOCKER_CONFIG=$ORIG_HOME/.docker; fi
unset KUBECONFIG KILTER_DOCKER KILTER_KIND KILTER_KUBECTL KILTER_TILT
export NO_COLOR=1
mkdir -p "$HOME/.kube" "$WORK/projects"

NAME_A=${E2E_NAME:-e2e-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')}
NAME_B=$NAME_A-b
NAME_C=$NAME_A-app
DIR_A=$WORK/projects/$NAME_A
DIR_B=$WORK/projects/$NAME_B
DIR_C=$WORK/projects/$NAME_C
PROJECTS=()

has_verb() { "$KILTER" --help | grep -Eq "^  $1 "; }
DB=0
DB_SKIPPED=""
if [[ $TOOLS == real ]]; then
    DB=1
elif [[ ${E2E_FAKE_DB:-1} == 0 ]]; then
    DB_SKIPPED="E2E_FAKE_DB=0"
else
    DB=1 # the throwaway PostgreSQL starts below (start_fake_pg)
fi
DESTROY_ARGS=(--yes)

# --- cleanup -----------------------------------------------------------------------------------------
collect_artifacts() {
    [[ -n ${E2E_ARTIFACTS_DIR:-} ]] || return 0
    mkdir -p "$E2E_ARTIFACTS_DIR"
    local name dir
    for name in "$NAME_A" "$NAME_B" "$NAME_C"; do
        dir=$XDG_CACHE_HOME/kilter/$name
        [[ -d $dir ]] || continue
        mkdir -p "$E2E_ARTIFACTS_DIR/$name"
        for f in commands.log tilt.log tilt.json kind-config.yaml; do
            if [[ -f $dir/$f ]]; then cp "$dir/$f" "$E2E_ARTIFACTS_DIR/$name/"; fi
        done
    done
    for dir in "${PROJECTS[@]}"; do
        name=$(basename "$dir")
        mkdir -p "$E2E_ARTIFACTS_DIR/$name"
        "$KILTER" -C "$dir" status >"$E2E_ARTIFACTS_DIR/$name/status.txt" 2>&1 || true
    done
    docker ps -a --filter label=io.x-k8s.kind.cluster >"$E2E_ARTIFACTS_DIR/docker-ps.txt" 2>&1 || true
    log "artifacts copied to $E2E_ARTIFACTS_DIR"
}

remove_cluster() {
    local name=$1 ids
    if [[ $TOOLS == real ]]; then
        kind delete cluster --name "kilter-$name" >/dev/null 2>&1 || true
    else
        ids=$(docker ps -aq --filter "label=io.x-k8s.kind.cluster=kilter-$name" 2>/dev/null || true)
        if [[ -n $ids ]]; then
            # shellcheck disable=SC2086 # one id per word
            docker rm -f -v $ids >/dev/null 2>&1 || true
        fi
    fi
}

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM ERR
    collect_artifacts
    if ((rc != 0)) && is_true "${E2E_KEEP_ON_FAILURE:-}"; then
        log "FAILED (exit $rc); E2E_KEEP_ON_FAILURE=1: keeping clusters kilter-$NAME_A / kilter-$NAME_B and $WORK"
        log "clean up later with: kind delete cluster --name kilter-$NAME_A (or docker rm -f the node)"
        exit "$rc"
    fi
    local dir
    for dir in "${PROJECTS[@]}"; do
        "$KILTER" -q -C "$dir" destroy --yes --no-snapshot >/dev/null 2>&1 || true
    done
    remove_cluster "$NAME_A"
    remove_cluster "$NAME_B"
    remove_cluster "$NAME_C"
    if [[ $TOOLS == fake || -n ${E2E_REGISTRY_RM:-} ]]; then
        "$KILTER" -q -C "$WORK" registry rm --yes --volumes >/dev/null 2>&1 || true
    fi
    if [[ $TOOLS == fake && -n ${FAKE:-} ]]; then
        local pid
        for pid in $("$FAKE" ctl tilt-pids 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    fi
    stop_fake_pg
    rm -rf "$WORK"
    if ((rc == 0)); then
        printf '\ne2e: PASSED (E2E_TOOLS=%s) in %d s\n' "$TOOLS" $((SECONDS - T0)) >&2
    else
        printf '\ne2e: FAILED (E2E_TOOLS=%s, exit %d) after %d s\n' "$TOOLS" "$rc" $((SECONDS - T0)) >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
# Name the step and the command when something fails under `set -e` (-E: also inside functions).
set -E
trap 'rc=$?; printf "\ne2e: FAIL in step \"%s\": \`%s\` exited with %d\n" "$CURRENT" "$BASH_COMMAND" "$rc" >&2' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

# --- helpers -----------------------------------------------------------------------------------------
kilter_in() {
    local dir=$1
    shift
    "$KILTER" -C "$dir" "$@"
}
node() { printf 'kilter-%s-control-plane' "$1"; }
node_status() {
    local s
    if s=$(docker inspect -f '{{.State.Status}}' "$(node "$1")" 2>/dev/null); then echo "$s"; else echo absent; fi
}
kubeconfig_of() { printf '%s/kilter/%s/kubeconfig' "$XDG_CACHE_HOME" "$1"; }
snapshots_of() { printf '%s/kilter/%s/snapshots' "$XDG_DATA_HOME" "$1"; }
# snapshot_file PROJECT NAME: the first database's file of snapshot NAME, whichever way the pod sent
# it (`NAME.dump`: pg_dump compressed its own archive; `NAME.dump.zst`: zstd), or nothing.
snapshot_file() {
    local f
    for f in "$(snapshots_of "$1")/$2.dump" "$(snapshots_of "$1")/$2.dump.zst"; do
        if [[ -s $f ]]; then printf '%s' "$f" && return 0; fi
    done
}
# mb_per_s BYTES SECONDS
mb_per_s() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", b / 1000000 / (s > 0 ? s : 0.001) }'; }
port_base() { kilter_in "$1" status --json | jq -r '.ports.nodeport_first'; }

kctl() {
    local name=$1
    shift
    kubectl --kubeconfig "$(kubeconfig_of "$name")" --context "kind-kilter-$name" -n "$name-dev" "$@"
}

# until SECONDS DESCRIPTION COMMAND...: retry every 2 s.
until_ok() {
    local secs=$1 what=$2 end
    shift 2
    end=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < end)) || fail "timed out after ${secs}s waiting for $what"
        sleep 2
    done
}

# The postgres service's database is named after the project.
psql_in() {
    local dir=$1 db
    shift
    db=$(basename "$dir")
    if has_verb exec; then
        kilter_in "$dir" -q exec postgres -- psql -U postgres -d "$db" -v ON_ERROR_STOP=1 -tAc "$*"
    else
        kctl "$db" exec postgres-0 -- psql -U postgres -d "$db" -v ON_ERROR_STOP=1 -tAc "$*"
    fi
}

# `kilter env` in a subshell, then a command that uses its variables (DATABASE_URL, REDIS_URL).
with_env() {
    local dir=$1
    shift
    (
        eval "$(kilter_in "$dir" env)"
        "$@"
    )
}

# From this machine, through the NodePort: pg_isready, then a query with DATABASE_URL.
postgres_answers() {
    local dir=$1
    # shellcheck disable=SC2016 # expanded by the inner shell, after `kilter env`
    with_env "$dir" bash -c 'pg_isready -d "$DATABASE_URL" -t 5 && psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -tAc "select 1" | grep -qx 1'
}

# A Redis PING over bash's /dev/tcp to REDIS_URL's host and port.
redis_answers() {
    local dir=$1
    # shellcheck disable=SC2016 # expanded by the inner shell, after `kilter env`
    with_env "$dir" bash -c '
        hostport=${REDIS_URL#redis://}; hostport=${hostport%%/*}
        exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}" || exit 1
        printf "PING\r\n" >&3
        IFS= read -r -t 5 reply <&3 || exit 1
        [[ $reply == "+PONG"* ]]'
}

web_answers() { curl -fsS --max-time 5 "http://127.0.0.1:$1/" | grep -q 'hello from the kilter sample project'; }

wait_ready() {
    local dir=$1 name
    name=$(basename "$dir")
    [[ $(node_status "$name") == running ]] || fail "node $(node "$name") is $(node_status "$name"), not running"
    local st
    st=$(kilter_in "$dir" status --json)
    [[ $(jq -r .api <<<"$st") == ok ]] || fail "kilter status: API not ok ($(jq -r '.api + ": " + (.api_error // "")' <<<"$st"))"
    [[ $(kilter_in "$dir" status --json | jq -r '[.services[] | select(.ready == true)] | length') == 2 ]] ||
        fail "kilter status does not show postgres and redis ready"
    [[ $(kilter_in "$dir" env --json | jq -r '.env.DATABASE_URL') == postgres://postgres:postgres@127.0.0.1:*/"$name" ]] ||
        fail "kilter env has no host DATABASE_URL"
    if [[ $TOOLS == fake ]]; then
        ok "node running, API ok, services postgres and redis ready (fake kubectl; nothing listens on the NodePorts here)"
        return 0
    fi
    # kilter applied the services and waited for them before it returned.
    kctl "$name" rollout status statefulset/postgres --timeout=10s >/dev/null
    kctl "$name" rollout status statefulset/redis --timeout=10s >/dev/null
    until_ok "$TIMEOUT" "Tilt to apply the manifests" kctl "$name" get deployment/web
    kctl "$name" rollout status deployment/web --timeout="${TIMEOUT}s" >/dev/null
    kctl "$name" wait --for=condition=Ready pod -l app=web --timeout="${TIMEOUT}s" >/dev/null
    until_ok 120 "postgres to accept connections" psql_in "$dir" "SELECT 1"
    until_ok 60 "postgres on its NodePort (pg_isready, psql \$DATABASE_URL)" postgres_answers "$dir"
    until_ok 60 "redis on its NodePort (PING)" redis_answers "$dir"
    # Tilt had the in-cluster DATABASE_URL and passed it to the app.
    local app_url want_url
    app_url=$(kctl "$name" get deployment/web -o jsonpath='{.spec.template.spec.containers[0].env[0].value}')
    want_url="postgres://postgres:postgres@postgres.$name-dev.svc:5432/$name"
    [[ $app_url == "$want_url" ]] || fail "the web app got DATABASE_URL=$app_url, expected $want_url"
    local base
    base=$(port_base "$dir")
    until_ok 120 "the web app on 127.0.0.1:$base" web_answers "$base"
    ok "services ready, postgres and redis answer on their NodePorts, the app got the in-cluster DATABASE_URL, web app answers on 127.0.0.1:$base"
}

ROW=kilter-e2e-row
insert_row() {
    local dir=$1
    if [[ $TOOLS == real ]] || ((DB)); then
        psql_in "$dir" "CREATE TABLE IF NOT EXISTS e2e (v text); INSERT INTO e2e VALUES ('$ROW');" >/dev/null
    fi
    if [[ $TOOLS == fake ]]; then
        docker exec "$(node "$(basename "$dir")")" sh -c "echo $ROW > /var/kilter-e2e-row"
    fi
}
# db_row_state DIR: "present" or "absent" (no table e2e, or no row in it) in the project's database.
# An error (kilter exec, kubectl, psql) fails the step: it never reads as "absent".
db_row_state() {
    local dir=$1 tables n
    tables=$(psql_in "$dir" "SELECT count(*) FROM pg_catalog.pg_tables WHERE tablename = 'e2e'") ||
        fail "could not ask the database of $(basename "$dir") whether table e2e exists"
    case $tables in
        0)
            echo absent
            return 0
            ;;
        1) ;;
        *) fail "unexpected answer counting table e2e: '$tables'" ;;
    esac
    n=$(psql_in "$dir" "SELECT count(*) FROM e2e WHERE v = '$ROW'") || fail "could not read table e2e"
    [[ $n =~ ^[0-9]+$ ]] || fail "unexpected answer counting the row: '$n'"
    if ((n > 0)); then echo present; else echo absent; fi
}
# node_row_state DIR: the same for the row file in the node container (E2E_TOOLS=fake). An error of
# `docker exec` (no node, node not running) fails the step.
node_row_state() {
    local dir=$1 out
    out=$(docker exec "$(node "$(basename "$dir")")" sh -c \
        'if [ -e /var/kilter-e2e-row ]; then cat /var/kilter-e2e-row; else echo "<no file>"; fi') ||
        fail "could not read the row file in node $(node "$(basename "$dir")")"
    case $out in
        "$ROW") echo present ;;
        "<no file>") echo absent ;;
        *) fail "unexpected content of the row file: '$out'" ;;
    esac
}
# row_state DIR: the row that lives as long as the cluster's data (real: the database; fake: the node).
row_state() {
    if [[ $TOOLS == real ]]; then db_row_state "$1"; else node_row_state "$1"; fi
}
# expect_row DIR present|absent WHAT [db]: assert the row's state; a failed read fails too.
expect_row() {
    local dir=$1 want=$2 what=$3 got
    if [[ ${4:-} == db ]]; then got=$(db_row_state "$dir"); else got=$(row_state "$dir"); fi
    [[ $got == "$want" ]] || fail "$what: the row is $got, expected $want"
}

# --- E2E_TOOLS=fake: a throwaway PostgreSQL on this machine for the db steps -------------------------
# The fake kubectl's `exec` runs the real client programs against it (knobs exec_path, pg_host and
# pg_port through KILTER_FAKE_*; tests/fake/README.md). It stands in for the server in the postgres
# pod, whose database is named after the project.
PG_ROOT=""
PG_BIN=""
PG_AS=()
pg_bindir() {
    local d p ok
    for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r) $(pg_config --bindir 2>/dev/null); do
        ok=1
        for p in initdb pg_ctl postgres pg_dump pg_restore psql; do [[ -x $d/$p ]] || ok=0; done
        if ((ok)); then
            echo "$d"
            return 0
        fi
    done
    return 1
}
# start_fake_pg: prints why on stderr and returns 1 when it cannot.
start_fake_pg() {
    PG_BIN=$(pg_bindir) || {
        echo "PostgreSQL's programs (initdb, pg_ctl, postgres, pg_dump, pg_restore, psql) are not in /usr/lib/postgresql/*/bin or \`pg_config --bindir\`" >&2
        return 1
    }
    # The server refuses to run as root.
    if [[ $(id -u) == 0 ]]; then
        if id postgres >/dev/null 2>&1; then PG_AS=(runuser -u postgres --); else PG_AS=(runuser -u nobody --); fi
    fi
    PG_ROOT=$(mktemp -d /tmp/kilter-e2e-pg.XXXXXX) # short: the socket path has a length limit
    chmod 755 "$PG_ROOT"
    mkdir "$PG_ROOT/data" "$PG_ROOT/run"
    if ((${#PG_AS[@]})); then chown "${PG_AS[2]}" "$PG_ROOT/data" "$PG_ROOT/run"; fi
    "${PG_AS[@]}" "$PG_BIN/initdb" -D "$PG_ROOT/data" -U postgres --auth=trust -E UTF8 --locale=C --no-sync \
        >"$PG_ROOT/initdb.log" 2>&1 || {
        cat "$PG_ROOT/initdb.log" >&2
        return 1
    }
    "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_ROOT/data" -o "-k $PG_ROOT/run -c listen_addresses= -F" -w -t 30 \
        -l "$PG_ROOT/run/server.log" start >/dev/null 2>&1 || {
        cat "$PG_ROOT/run/server.log" >&2
        return 1
    }
    # The pg programs, then the shell and coreutils of kilter's stream checks in the pod.
    export KILTER_FAKE_EXEC_PATH=$PG_BIN:/usr/bin:/bin KILTER_FAKE_PG_HOST=$PG_ROOT/run KILTER_FAKE_PG_PORT=5432
}
stop_fake_pg() {
    [[ -n $PG_ROOT ]] || return 0
    "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_ROOT/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_ROOT"
    PG_ROOT=""
}
# fake_pg_sql DB SQL: psql on the throwaway server itself (not through kilter).
fake_pg_sql() {
    "$PG_BIN/psql" -h "$PG_ROOT/run" -U postgres -d "$1" -X -q -tA -v ON_ERROR_STOP=1 -c "$2"
}
# A new cluster's postgres pod starts with an empty database: so does the throwaway server's.
fake_pg_fresh_db() {
    fake_pg_sql postgres "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" >/dev/null
    fake_pg_sql postgres "CREATE DATABASE \"$1\"" >/dev/null
}

new_project() {
    local dir=$1 name
    name=$(basename "$dir")
    cp -R "$ROOT/fixtures/sample-project" "$dir"
    sed -i.bak "s/^name: sample\$/name: $name/" "$dir/kilter.yaml" && rm -f "$dir/kilter.yaml.bak"
    grep -q "^name: $name\$" "$dir/kilter.yaml" || fail "could not set the name in $dir/kilter.yaml"
    [[ $(node_status "$name") == absent ]] || fail "a cluster kilter-$name already exists; pick another E2E_NAME"
    PROJECTS+=("$dir")
}

# The catalog of a shared registry container (`wget` is in registry:3 and in the test image).
catalog_of() { docker exec "$1" wget -qO- http://localhost:5000/v2/_catalog; }
catalog_has() { catalog_of "$1" | grep -q "\"$2\""; }

# --- the journey -------------------------------------------------------------------------------------
log "E2E_TOOLS=$TOOLS, kilter $("$KILTER" --version), projects $NAME_A and $NAME_B, work dir $WORK"
if [[ $TOOLS == real ]]; then
    for tool in kind kubectl tilt curl pg_isready psql; do command -v "$tool" >/dev/null 2>&1 || fail "$tool is not on PATH"; done
    log "$(kind version); kubectl $(kubectl version --client -o json | jq -r .clientVersion.gitVersion); tilt $(tilt version)"
else
    docker image inspect "$KILTER_FAKE_NODE_IMAGE" >/dev/null 2>&1 || "$ROOT/scripts/build-test-image.sh"
    docker image inspect "$KILTER_REGISTRY_IMAGE" >/dev/null 2>&1 || "$ROOT/scripts/build-registry-image.sh"
    log "fake kind/kubectl/tilt, real docker $REAL_DOCKER, node image $KILTER_FAKE_NODE_IMAGE"
fi
docker info >/dev/null 2>&1 || fail "no Docker daemon answers"
if [[ $TOOLS == fake ]] && ((DB)); then
    if start_fake_pg 2>"$WORK/pg.err"; then
        fake_pg_fresh_db "$NAME_A"
        fake_pg_fresh_db "$NAME_B"
        log "db steps: throwaway PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') at $PG_ROOT/run"
    else
        DB=0
        DB_SKIPPED="no usable PostgreSQL: $(cat "$WORK/pg.err")"
        if is_true "${CI:-}"; then fail "the db steps need PostgreSQL under CI=true: $DB_SKIPPED"; fi
    fi
fi
# Without the db steps, destroy skips its automatic pre-destroy snapshot too.
if ((DB == 0)); then
    DESTROY_ARGS+=(--no-snapshot)
    printf 'e2e: SKIPPED the db snapshot/restore steps: %s\n' "$DB_SKIPPED" >&2
    # Counted in the test command's summary, like a test's `support::skipped`.
    if [[ -n ${KILTER_TEST_SKIP_LOG:-} ]]; then
        printf 'e2e db snapshot/restore steps: %s\n' "$DB_SKIPPED" >>"$KILTER_TEST_SKIP_LOG"
    fi
fi

printf 'dummy kubeconfig: kilter must never touch this file\n' >"$HOME/.kube/config"
KUBE_SHA=$(sha256sum <"$HOME/.kube/config")
new_project "$DIR_A"

step "up ($NAME_A) and pods Ready"
kilter_in "$DIR_A" up --timeout 300s
wait_ready "$DIR_A"

step "local registry: created, wired into the node, serving pushes"
REG_PORT=$(kilter_in "$DIR_A" status --json | jq -r '.registry.host // empty' | sed 's/^localhost://')
[[ -n $REG_PORT ]] || fail "kilter status shows no local registry"
[[ $(docker inspect -f '{{.State.Status}}' "$REG_PREFIX-registry") == running ]] || fail "$REG_PREFIX-registry is not running"
[[ $(docker exec "$(node "$NAME_A")" cat "/etc/containerd/certs.d/localhost:$REG_PORT/hosts.toml") == *"http://$REG_PREFIX-registry:5000"* ]] ||
    fail "the node has no hosts.toml for localhost:$REG_PORT"
if [[ $TOOLS == real ]]; then
    # The sample's Tiltfile builds kilter-sample-web with docker_build: Tilt pushes it here.
    until_ok "$TIMEOUT" "Tilt to push kilter-sample-web to the local registry" catalog_has "$REG_PREFIX-registry" kilter-sample-web
    ok "Tilt pushed kilter-sample-web to localhost:$REG_PORT (the registry's catalog lists it)"
else
    docker tag "$KILTER_FAKE_NODE_IMAGE" "127.0.0.1:$REG_PORT/kilter-e2e-probe:1"
    docker push "127.0.0.1:$REG_PORT/kilter-e2e-probe:1" >/dev/null
    docker rmi "127.0.0.1:$REG_PORT/kilter-e2e-probe:1" >/dev/null
    catalog_has "$REG_PREFIX-registry" kilter-e2e-probe || fail "the pushed image is not in the catalog"
    ok "docker push to 127.0.0.1:$REG_PORT landed in the registry (fake Tilt pushes nothing)"
fi

step "insert a row"
insert_row "$DIR_A"
expect_row "$DIR_A" present "right after inserting it"
if [[ $TOOLS == fake ]] && ((DB)); then expect_row "$DIR_A" present "in the database" db; fi
ok "row inserted"

step "stop: node exited, flag in kilter.yaml"
cp -p "$DIR_A/kilter.yaml" "$WORK/kilter.yaml.before-stop"
kilter_in "$DIR_A" stop
st=$(node_status "$NAME_A")
[[ $st == exited ]] || fail "node is $st after stop, expected exited"
grep -Eq '^  stopped: true' "$DIR_A/kilter.yaml" || fail "kilter.yaml has no cluster.stopped flag"
[[ $(kilter_in "$DIR_A" status --json | jq -r '.node + " " + (.flag_stopped|tostring)') == "stopped true" ]] ||
    fail "kilter status does not report stopped + flag"
ok "node exited, cluster.stopped: true written"

step "up again: the row is still there"
id_before=$(docker inspect -f '{{.Id}}' "$(node "$NAME_A")")
kilter_in "$DIR_A" up --timeout 300s
[[ $(docker inspect -f '{{.Id}}' "$(node "$NAME_A")") == "$id_before" ]] || fail "the node was recreated, not resumed"
cmp "$WORK/kilter.yaml.before-stop" "$DIR_A/kilter.yaml" ||
    fail "kilter.yaml is not byte-identical to what it was before stop: $(diff "$WORK/kilter.yaml.before-stop" "$DIR_A/kilter.yaml" || true)"
wait_ready "$DIR_A"
expect_row "$DIR_A" present "after stop/up"
ok "same node resumed, kilter.yaml byte-identical to before stop, row kept"

if ((DB)); then
    step "db snapshot"
    kilter_in "$DIR_A" db snapshot e2e
    [[ -n $(snapshot_file "$NAME_A" e2e) ]] || fail "no snapshot file e2e.dump or e2e.dump.zst in $(snapshots_of "$NAME_A")"
    ok "snapshot e2e written ($(basename "$(snapshot_file "$NAME_A" e2e)"))"
fi

step "destroy --yes: node gone, snapshots kept, ~/.kube/config untouched"
kilter_in "$DIR_A" destroy "${DESTROY_ARGS[@]}"
[[ $(node_status "$NAME_A") == absent ]] || fail "the node still exists after destroy"
[[ -z $(docker ps -aq --filter "label=io.x-k8s.kind.cluster=kilter-$NAME_A") ]] || fail "containers of the cluster remain"
if ((DB)); then
    [[ -n $(snapshot_file "$NAME_A" e2e) ]] || fail "destroy removed the snapshot"
fi
[[ $(sha256sum <"$HOME/.kube/config") == "$KUBE_SHA" ]] || fail "$HOME/.kube/config changed"
kept=""
if ((DB)); then kept=", snapshot kept"; fi
if [[ $TOOLS == fake ]] && ((DB)); then fake_pg_fresh_db "$NAME_A"; fi
ok "node gone$kept, ~/.kube/config byte-identical"

step "up after destroy: the row is gone"
kilter_in "$DIR_A" up --timeout 300s
wait_ready "$DIR_A"
expect_row "$DIR_A" absent "after destroy and up"
if [[ $TOOLS == fake ]] && ((DB)); then expect_row "$DIR_A" absent "in the fresh database" db; fi
ok "fresh cluster, no row"

if ((DB)); then
    step "db restore: the row is back"
    kilter_in "$DIR_A" db restore e2e
    expect_row "$DIR_A" present "after db restore" db
    if [[ $TOOLS == real ]]; then
        # shellcheck disable=SC2016 # expanded by the inner shell, after `kilter env`
        row=$(with_env "$DIR_A" bash -c 'psql "$DATABASE_URL" -tAc "select v from e2e"')
        [[ $row == "$ROW" ]] || fail "the restored row does not come back through the NodePort: '$row'"
    fi
    ok "row restored from snapshot e2e (and read back through DATABASE_URL)"

    # The real channel's throughput (README "Performance" models it with the fake kubectl's
    # exec_mbps): a database of known size, snapshotted and restored through `kubectl exec`.
    step "throughput of a snapshot and a restore (${E2E_TPUT_MB:-32} MB of table data)"
    psql_in "$DIR_A" "CREATE TABLE tput AS SELECT g AS id, repeat(md5(g::text || random()::text), 31) AS v FROM generate_series(1, ${E2E_TPUT_MB:-32} * 1000) g" >/dev/null
    db_bytes=$(psql_in "$DIR_A" "SELECT pg_database_size(current_database())")
    t0=$EPOCHREALTIME
    kilter_in "$DIR_A" -q db snapshot tput
    snap_s=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
    file=$(snapshot_file "$NAME_A" tput)
    [[ -n $file ]] || fail "no snapshot file tput.dump or tput.dump.zst"
    file_bytes=$(stat -c %s "$file")
    psql_in "$DIR_A" "DELETE FROM tput WHERE id > 10" >/dev/null
    t0=$EPOCHREALTIME
    kilter_in "$DIR_A" -q db restore tput
    rest_s=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
    [[ $(psql_in "$DIR_A" "SELECT count(*) FROM tput") == $((${E2E_TPUT_MB:-32} * 1000)) ]] || fail "the restore did not bring tput's rows back"
    psql_in "$DIR_A" "DROP TABLE tput" >/dev/null
    kilter_in "$DIR_A" -q db rm tput
    summary="snapshot of a ${db_bytes}-byte database in ${snap_s} s ($(mb_per_s "$db_bytes" "$snap_s") MB/s of database, file $(basename "$file") ${file_bytes} bytes); restore in ${rest_s} s ($(mb_per_s "$db_bytes" "$rest_s") MB/s) [E2E_TOOLS=$TOOLS]"
    if [[ -n ${GITHUB_STEP_SUMMARY:-} ]]; then
        printf '### kilter db snapshot/restore throughput\n\n%s\n' "$summary" >>"$GITHUB_STEP_SUMMARY"
    fi
    ok "$summary"
fi

step "a second project alongside ($NAME_B)"
new_project "$DIR_B"
kilter_in "$DIR_B" up --timeout 300s
wait_ready "$DIR_B"
[[ $(node_status "$NAME_A") == running ]] || fail "$NAME_A is not running any more"
ports_a=$(docker port "$(node "$NAME_A")" | awk -F: '{print $NF}' | sort -n)
ports_b=$(docker port "$(node "$NAME_B")" | awk -F: '{print $NF}' | sort -n)
# Each node publishes its project's 20 NodePorts (from `kilter status`), and nothing is shared.
for name in "$NAME_A" "$NAME_B"; do
    if [[ $name == "$NAME_A" ]]; then published=$ports_a dir=$DIR_A; else published=$ports_b dir=$DIR_B; fi
    [[ -n $published ]] || fail "docker port shows no published ports for $(node "$name")"
    base=$(port_base "$dir")
    [[ $base =~ ^[0-9]+$ ]] || fail "kilter status shows no NodePort base for $name: '$base'"
    for ((p = base; p < base + 20; p++)); do
        grep -qx "$p" <<<"$published" || fail "$(node "$name") does not publish NodePort $p: $(tr '\n' ' ' <<<"$published")"
    done
done
[[ -z $(comm -12 <(echo "$ports_a") <(echo "$ports_b")) ]] || fail "the two projects publish the same host ports"
ls_json=$("$KILTER" ls --json)
for name in "$NAME_A" "$NAME_B"; do
    [[ $(jq -r --arg n "$name" '.projects[] | select(.project == $n) | .state' <<<"$ls_json") == running ]] ||
        fail "kilter ls does not show $name running"
done
if [[ $TOOLS == real ]]; then
    web_answers "$(port_base "$DIR_A")" || fail "$NAME_A's web app stopped answering"
    web_answers "$(port_base "$DIR_B")" || fail "$NAME_B's web app does not answer"
fi
ok "both running, disjoint published ports ($(wc -l <<<"$ports_a") + $(wc -l <<<"$ports_b")), kilter ls shows both"
if [[ $TOOLS == real ]]; then
    # postgres:15 comes from docker.io: the nodes pulled it through the shared cache.
    catalog_has "$REG_PREFIX-cache-docker.io" library/postgres ||
        fail "the docker.io cache does not list library/postgres: $(catalog_of "$REG_PREFIX-cache-docker.io")"
    ok "the pods pulled postgres through $REG_PREFIX-cache-docker.io (its catalog lists library/postgres)"
fi

step "destroy both"
kilter_in "$DIR_A" destroy "${DESTROY_ARGS[@]}"
kilter_in "$DIR_B" destroy "${DESTROY_ARGS[@]}"
for name in "$NAME_A" "$NAME_B"; do
    [[ $(node_status "$name") == absent ]] || fail "kilter-$name still exists"
done
[[ $(sha256sum <"$HOME/.kube/config") == "$KUBE_SHA" ]] || fail "$HOME/.kube/config changed"
ok "no cluster left, ~/.kube/config byte-identical"

step "an app without a Tiltfile ($NAME_C): kilter renders its Tiltfile and Tilt runs it"
# fixtures/apps/node-plain: package.json (a `dev` script, no dependencies) and server.js, no
# Tiltfile. kilter detects it, renders a Dockerfile, the Deployment + NodePort Service and a
# Tiltfile into the cache, and runs Tilt on that.
cp -R "$ROOT/fixtures/apps/node-plain" "$DIR_C"
printf 'name: %s\n' "$NAME_C" >"$DIR_C/kilter.yaml"
[[ $(node_status "$NAME_C") == absent ]] || fail "a cluster kilter-$NAME_C already exists; pick another E2E_NAME"
PROJECTS+=("$DIR_C")
kilter_in "$DIR_C" up --timeout 300s
render_dir=$XDG_CACHE_HOME/kilter/$NAME_C/render
for f in Tiltfile Dockerfile app.yaml; do [[ -f $render_dir/$f ]] || fail "kilter up rendered no $f into $render_dir"; done
[[ $(jq -r .tiltfile "$XDG_CACHE_HOME/kilter/$NAME_C/tilt.json") == "$render_dir/Tiltfile" ]] ||
    fail "Tilt does not run the rendered Tiltfile: $(cat "$XDG_CACHE_HOME/kilter/$NAME_C/tilt.json")"
st=$(kilter_in "$DIR_C" status --json)
[[ $(jq -r .tilt.tiltfile_source <<<"$st") == rendered ]] || fail "kilter status does not say the rendered Tiltfile runs"
APP_URL=$(kilter_in "$DIR_C" env --json | jq -r .env.APP_URL)
[[ $APP_URL == "http://127.0.0.1:$(port_base "$DIR_C")" ]] || fail "kilter env prints APP_URL=$APP_URL, not the block's first port"
app_says() { curl -fsS --max-time 2 "$APP_URL/" 2>/dev/null | grep -qF "$1"; }
# until_live SECONDS TEXT: poll every 0.1 s (until_ok's 2 s would blur the measurement).
until_live() {
    local end=$((SECONDS + $1))
    until app_says "$2"; do
        ((SECONDS < end)) || fail "timed out after $1 s waiting for $APP_URL to say '$2'"
        sleep 0.1
    done
}
app_pod() { kctl "$NAME_C" get pods -l app.kubernetes.io/name=app -o jsonpath='{.items[0].metadata.name}'; }
if [[ $TOOLS == fake ]]; then
    ok "rendered, Tilt runs $render_dir/Tiltfile, APP_URL=$APP_URL (fake tilt builds nothing: no HTTP checks)"
else
    until_ok "$TIMEOUT" "the app on $APP_URL" app_says "hello from kilter (v1.0.0)"
    ok "the app answers on $APP_URL"

    step "an edit of server.js is live without a rebuild"
    pod=$(app_pod)
    t0=$(date +%s%N)
    sed -i.bak 's/hello from kilter/hello again from kilter/' "$DIR_C/server.js" && rm -f "$DIR_C/server.js.bak"
    until_live 60 "hello again from kilter (v1.0.0)"
    live_ms=$((($(date +%s%N) - t0) / 1000000))
    [[ $(app_pod) == "$pod" ]] || fail "the edit replaced the pod ($pod → $(app_pod)): that was a rebuild, not a live update"
    ok "live in ${live_ms} ms, same pod $pod (sync + restart, no rebuild)"
    if [[ -n ${GITHUB_STEP_SUMMARY:-} ]]; then
        # shellcheck disable=SC2016 # Markdown code spans, not expansions
        printf '### kilter: live update of a Node app without a Tiltfile\n\n| change | live after |\n|---|---|\n| `server.js` edited | %d ms |\n' "$live_ms" >>"$GITHUB_STEP_SUMMARY"
    fi
    ((live_ms <= 3000)) || fail "the edit took ${live_ms} ms to be live (more than 3 s)"

    step "a change of package.json reinstalls and is live"
    # The image's own `RUN npm install` is in tilt.log already: count the installs from here on.
    installs=$(grep -c 'npm install' "$XDG_CACHE_HOME/kilter/$NAME_C/tilt.log" || true)
    t0=$(date +%s%N)
    sed -i.bak 's/"version": "1.0.0"/"version": "1.0.1"/' "$DIR_C/package.json" && rm -f "$DIR_C/package.json.bak"
    until_live 120 "hello again from kilter (v1.0.1)"
    pkg_ms=$((($(date +%s%N) - t0) / 1000000))
    (($(grep -c 'npm install' "$XDG_CACHE_HOME/kilter/$NAME_C/tilt.log" || true) > installs)) ||
        fail "tilt.log shows no npm install after the package.json change"
    [[ $(app_pod) == "$pod" ]] || fail "the package.json change replaced the pod: a rebuild, not the install step"
    ok "reinstalled and live in ${pkg_ms} ms"
    if [[ -n ${GITHUB_STEP_SUMMARY:-} ]]; then
        # shellcheck disable=SC2016 # Markdown code spans, not expansions
        printf '| `package.json` changed (npm install, restart) | %d ms |\n\n' "$pkg_ms" >>"$GITHUB_STEP_SUMMARY"
    fi
fi

step "down stops the app's Tilt and leaves its pod; stop and up bring it back"
kilter_in "$DIR_C" down
[[ ! -f $XDG_CACHE_HOME/kilter/$NAME_C/tilt.json ]] || fail "kilter down left tilt.json"
[[ $(node_status "$NAME_C") == running ]] || fail "kilter down stopped the cluster"
if [[ $TOOLS == real ]]; then
    [[ -n $(app_pod) ]] || fail "kilter down removed the app's pod"
    app_says "hello again from kilter" || fail "the app stopped answering after kilter down"
fi
kilter_in "$DIR_C" stop
[[ $(node_status "$NAME_C") == exited ]] || fail "kilter stop left the node $(node_status "$NAME_C")"
kilter_in "$DIR_C" up --timeout 300s
[[ $(jq -r .tiltfile "$XDG_CACHE_HOME/kilter/$NAME_C/tilt.json") == "$render_dir/Tiltfile" ]] || fail "Tilt does not run the rendered Tiltfile after up"
if [[ $TOOLS == real ]]; then
    until_ok "$TIMEOUT" "the app on $APP_URL after stop and up" app_says "hello again from kilter (v1.0.1)"
fi
kilter_in "$DIR_C" destroy "${DESTROY_ARGS[@]}"
[[ $(node_status "$NAME_C") == absent ]] || fail "kilter-$NAME_C still exists"
ok "down kept the pod, stop/up brought the app back, destroyed"

step "the shared registry outlives the projects; registry rm --volumes removes it"
[[ $(docker inspect -f '{{.State.Status}}' "$REG_PREFIX-registry") == running ]] || fail "destroy touched the shared registry"
"$KILTER" -C "$WORK" registry rm --yes --volumes
[[ -z $(docker ps -aq --filter "name=^$REG_PREFIX-") ]] || fail "shared containers remain after registry rm"
ok "registry and caches removed with their volumes"

step "done"
printf '\nstep times:\n%s\n' "$(printf '%s\n' "${TIMES[@]}")" >&2
