#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions run through `stage "$@"` and traps look unreachable to shellcheck
# The test command (README "Run the tests"). From the repository root:  scripts/test.sh
#
# Stages, in order:
#   fmt          cargo fmt --all -- --check
#   clippy       cargo clippy --all-targets --locked -- -D warnings
#   lint         scripts/lint.sh (shellcheck, actionlint)
#   build        cargo build --all-targets --locked (also builds the fake tools example)
#   test         cargo test --all-targets --locked --no-fail-fast (unit + fake-tool integration tests; the
#                real-Docker tier's tests are #[ignore]d there and run in the real-docker stage)
#   docker       a Docker daemon for the real-Docker tier; with CI=true one is started when none answers
#                (scripts/dockerd.sh start), and failing to get one is a failure, not a skip
#   image        scripts/build-test-image.sh (kilter-test-node:latest, offline, reused when unchanged)
#   registry-image  scripts/build-registry-image.sh (kilter-test-registry:latest from Debian's
#                docker-registry, installed with apt when missing; the real-Docker registry tests)
#   router-image  scripts/build-router-image.sh (kilter-test-router:latest from Debian's caddy, installed
#                with apt when missing; the real-Docker router tests)
#   real-docker  KILTER_REAL_DOCKER=1 cargo test --locked --test it real_docker -- --include-ignored
#                --test-threads=2
#   real-docker-client2  the same through a second docker client of another version, when PATH has one
#   real-tools   scripts/unpack-real-tools.sh: the real Tilt and kind from ../shared/real-tools into
#                target/real-tools/ (sha256 checked); missing is a failure under CI=true
#   real-tilt    cargo test --locked --test it real_tilt -- --include-ignored: kilter's verbs with the
#                real Tilt v0.37.6 and the fake docker/kind/kubectl
#   real-kind    KILTER_REAL_KIND=1 cargo test --locked --test it real_kind -- --include-ignored: the real
#                kind v0.32.0 and Tilt on the Docker engine (the real-tools docker shim, a stub node
#                image built by scripts/build-kind-node-image.sh), the fake kubectl
#   e2e          E2E_TOOLS=fake scripts/e2e.sh (when the script exists)
#
# Every stage runs even if an earlier, independent one failed; the stages that need a build or a daemon
# are skipped when those failed. The exit code is non-zero if any stage failed.
#
# Skipped tests: a test that cannot run here says so through the harness (tests/it/support/mod.rs
# `skipped`), which appends "what: why" to $KILTER_TEST_SKIP_LOG (a temp file this script exports to every
# stage). The closing summary counts and lists them, with the real-Docker tier when its stage did not run.
# Under CI=true a skip fails the test itself and, should any line reach the log, the run.
#
# Env: CI=true                  real-Docker tier required (start dockerd if needed; no daemon = failure)
#      KILTER_REAL_DOCKER=1     same requirement without CI
#      KILTER_TEST_SKIP=a,b     skip the named stages (e.g. fmt,clippy when CI ran them already)
#      KILTER_TEST_FAIL_FAST=1  stop at the first failing stage
#      KILTER_KEEP_DOCKERD=1    leave a dockerd that this script started running at the end
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

is_true() { [[ ${1:-} == 1 || ${1:-} == true || ${1:-} == yes ]]; }

ci=0
is_true "${CI:-}" && ci=1
require_docker=$ci
is_true "${KILTER_REAL_DOCKER:-}" && require_docker=1
fail_fast=0
is_true "${KILTER_TEST_FAIL_FAST:-}" && fail_fast=1
skip_list=",${KILTER_TEST_SKIP:-},"
gha=0
is_true "${GITHUB_ACTIONS:-}" && gha=1

export KILTER_TEST_IMAGE=${KILTER_TEST_IMAGE:-kilter-test-node:latest}

# Output of every cargo test run, to add up the test counts for the closing line.
test_log=$(mktemp "${TMPDIR:-/tmp}/kilter-test-log.XXXXXX")
# One "what: why" line per test (or part of one) that could not run (tests/it/support/mod.rs `skipped`).
KILTER_TEST_SKIP_LOG=$(mktemp "${TMPDIR:-/tmp}/kilter-test-skips.XXXXXX")
export KILTER_TEST_SKIP_LOG
# Whether the real-docker stage ran the tier's tests (#[ignore]d in the test stage), or why not.
real_docker_ran=0
real_docker_why="the real-docker stage did not run"
# The same for the real-Tilt and real-kind tiers.
real_tilt_ran=0
real_tilt_why="the real-tilt stage did not run"
real_kind_ran=0
real_kind_why="the real-kind stage did not run"
started_dockerd=0
results=()
failed=0
start_all=$(date +%s)

cleanup() {
    local rc=$?
    if ((started_dockerd)) && ! is_true "${KILTER_KEEP_DOCKERD:-}"; then
        echo
        echo "==> stopping the dockerd this run started"
        "$ROOT/scripts/dockerd.sh" stop || true
    fi
    rm -f "$test_log" "$KILTER_TEST_SKIP_LOG"
    exit "$rc"
}
# Each stage runs as a background job in its own process group (job control on), and the script waits for
# it: `wait` returns at once on a signal, so Ctrl-C or a CI timeout's TERM reaches the whole stage (cargo,
# the test binaries, scripts/e2e.sh and their children), and the EXIT trap still stops our dockerd.
set -m
child=0
on_signal() {
    if ((child)); then
        kill -TERM -- "-$child" 2>/dev/null || true
        wait "$child" 2>/dev/null || true
    fi
    exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

record() { results+=("$(printf '%-12s %-8s %8s s  %s' "$1" "$2" "$3" "${4:-}")"); }

# stage NAME COMMAND...: run one stage with a header, its time and its result.
stage() {
    local name=$1 t0 rc=0
    shift
    if [[ $skip_list == *",$name,"* ]]; then
        echo
        echo "==> [$name] skipped (KILTER_TEST_SKIP)"
        record "$name" skipped 0.0 "KILTER_TEST_SKIP"
        return 0
    fi
    echo
    if ((gha)); then echo "::group::$name"; fi
    echo "==> [$name] $*"
    t0=$(now)
    "$@" &
    child=$!
    wait "$child" || rc=$?
    child=0
    local secs
    secs=$(elapsed "$t0")
    if ((gha)); then echo "::endgroup::"; fi
    if ((rc == 0)); then
        echo "<== [$name] ok (${secs} s)"
        record "$name" ok "$secs"
    else
        echo "<== [$name] FAILED with exit code $rc (${secs} s)" >&2
        if ((gha)); then echo "::error::test.sh stage '$name' failed (exit $rc)"; fi
        record "$name" FAILED "$secs" "exit $rc"
        failed=1
        if ((fail_fast)); then
            summary
            exit 1
        fi
    fi
    return "$rc"
}

skip() {
    echo
    echo "==> [$1] skipped: $2"
    record "$1" skipped 0.0 "$2"
}

# Cargo test with its output kept for the totals.
cargo_test() { "$@" 2>&1 | tee -a "$test_log"; }

summary() {
    local passed failedn ignored skips=()
    read -r passed failedn ignored < <(
        awk '/^test result:/ {
                for (i = 1; i <= NF; i++) {
                    if ($(i+1) ~ /^passed;?$/) p += $i
                    if ($(i+1) ~ /^failed;?$/) f += $i
                    if ($(i+1) ~ /^ignored;?$/) g += $i
                }
            } END { printf "%d %d %d\n", p, f, g }' "$test_log"
    )
    echo
    echo "==================== scripts/test.sh summary ===================="
    printf '%s\n' "${results[@]}"
    echo "total: $(elapsed "$start_all") s"
    mapfile -t skips <"$KILTER_TEST_SKIP_LOG"
    # The test stage's ignored tests are the real-tool tiers: they count once their stage ran them, and
    # are skipped otherwise.
    if ((!real_docker_ran && ignored > 0)); then
        skips+=("the real-Docker tier (#[ignore]d in the test stage): ${real_docker_why}")
    fi
    if ((!real_tilt_ran && ignored > 0)); then
        skips+=("the real-Tilt tier (#[ignore]d in the test stage): ${real_tilt_why}")
    fi
    if ((!real_kind_ran && ignored > 0)); then
        skips+=("the real-kind tier (#[ignore]d in the test stage): ${real_kind_why}")
    fi
    if ((${#skips[@]})); then
        echo "skipped:"
        printf '  %s\n' "${skips[@]}"
    fi
    # The closing line, counted over every `cargo test` run above.
    echo "tests: ${passed} passed, ${failedn} failed, ${#skips[@]} skipped"
    if ((ci)) && [[ -s $KILTER_TEST_SKIP_LOG ]]; then
        echo "error: CI=true and tests were skipped (listed above); every test must run here" >&2
        failed=1
    fi
}

# --- static checks -------------------------------------------------------------------------------------
stage fmt cargo fmt --all -- --check || true
stage clippy cargo clippy --all-targets --locked -- -D warnings || true
stage lint scripts/lint.sh || true

# --- build and the fast tests --------------------------------------------------------------------------
built=0
if stage build cargo build --all-targets --locked; then built=1; fi
if ((built)); then
    stage test cargo_test cargo test --all-targets --locked --no-fail-fast || true
else
    skip test "the build failed"
fi

# --- the real Tilt (and kind) from ../shared/real-tools ---------------------------------------------------
real_tools_ok=0
real_tools() {
    local rc=0
    scripts/unpack-real-tools.sh || rc=$?
    if ((rc == 3 && !ci)); then
        echo "(not a failure outside CI: the real-tools tiers are skipped)"
        return 3
    fi
    return "$rc"
}
real_tools_rc=0
failed_before=$failed
stage real-tools real_tools || real_tools_rc=$?
if ((real_tools_rc == 0)); then
    real_tools_ok=1
elif ((real_tools_rc == 3 && !ci)); then
    # A missing ../shared/real-tools outside CI was recorded as a failure by `stage`; make it a skip.
    unset 'results[${#results[@]}-1]'
    failed=$failed_before
    real_tilt_why="../shared/real-tools is missing (scripts/unpack-real-tools.sh)"
    skip real-tools "$real_tilt_why"
fi
if ((built && real_tools_ok)); then
    real_tilt_ran=1
    KILTER_REAL_TILT=$ROOT/target/real-tools/tilt stage real-tilt \
        cargo_test cargo test --locked --test it real_tilt -- --include-ignored --test-threads=2 || true
else
    [[ $real_tilt_why == "the real-tilt stage did not run" ]] && real_tilt_why="the build or scripts/unpack-real-tools.sh failed"
    skip real-tilt "$real_tilt_why"
fi

# --- real Docker engine --------------------------------------------------------------------------------
docker_ok=0
ensure_docker() {
    if "$ROOT/scripts/dockerd.sh" status -q; then
        "$ROOT/scripts/dockerd.sh" status
        return 0
    fi
    if ((require_docker)); then
        echo "no Docker daemon answers; CI=true or KILTER_REAL_DOCKER=1, so starting one"
        "$ROOT/scripts/dockerd.sh" start || {
            echo "error: could not start a Docker daemon; the real-Docker tier is required here" >&2
            return 1
        }
        return 0
    fi
    return 3 # not available, not required
}

docker_rc=0
docker_why="no Docker daemon"
if [[ $skip_list == *",docker,"* ]]; then
    skip docker "KILTER_TEST_SKIP"
    docker_why="the docker stage was skipped (KILTER_TEST_SKIP)"
    docker_rc=3
else
    # Probe first so that "not available" is a skip, not a failure, outside CI.
    if "$ROOT/scripts/dockerd.sh" status -q; then
        stage docker ensure_docker || docker_rc=$?
    elif ((require_docker)); then
        # Set before the start (stages run in a child process): the EXIT trap then stops the daemon even if
        # we are interrupted half-way; `dockerd.sh stop` only ever stops a dockerd that it started.
        started_dockerd=1
        stage docker ensure_docker || docker_rc=$?
    else
        docker_rc=3
        skip docker "no Docker daemon (start one with scripts/dockerd.sh start, or set CI=true / KILTER_REAL_DOCKER=1)"
    fi
fi
if ((docker_rc == 0)); then docker_ok=1; fi

if ((docker_ok)); then
    image_ok=0
    if stage image scripts/build-test-image.sh; then image_ok=1; fi
    if ! stage registry-image scripts/build-registry-image.sh; then image_ok=0; fi
    if ! stage router-image scripts/build-router-image.sh; then image_ok=0; fi
    if ((built && image_ok)); then
        real_docker_ran=1
        KILTER_REAL_DOCKER=1 stage real-docker \
            cargo_test cargo test --locked --test it real_docker -- --include-ignored --test-threads=2 || true
        # A second docker client of another version on PATH (this machine kind has docker 28.2.2 in
        # /usr/local/bin next to Debian's 20.10): run the tier through it too, since messages and exit
        # codes differ between clients.
        default_client=/usr/bin/docker
        other_client=$(command -v docker || true)
        if [[ -n $other_client && $other_client != "$default_client" && -x $default_client ]] &&
            [[ $("$other_client" --version 2>/dev/null) != $("$default_client" --version 2>/dev/null) ]]; then
            KILTER_REAL_DOCKER=1 KILTER_FAKE_REAL_DOCKER=$other_client stage real-docker-client2 \
                cargo_test cargo test --locked --test it real_docker -- --include-ignored --test-threads=2 || true
        fi
    else
        real_docker_why="the build or the test image failed"
        skip real-docker "$real_docker_why"
    fi
else
    real_docker_why=$docker_why
    skip image "$docker_why"
    skip real-docker "$docker_why"
fi

# --- the real kind and Tilt on the real engine (the docker shim, a stub node image) ------------------------
if ((built && docker_ok && real_tools_ok)); then
    real_kind_ran=1
    KILTER_REAL_KIND=1 KILTER_REQUIRE_REAL_TOOLS=$ci stage real-kind \
        cargo_test cargo test --locked --test it real_kind -- --include-ignored --test-threads=1 || true
else
    real_kind_why="needs the build, a Docker daemon and the real tools"
    skip real-kind "$real_kind_why"
fi

# --- the end-to-end script with fake kind/kubectl/tilt and the real engine -----------------------------
if [[ -x scripts/e2e.sh || -f scripts/e2e.sh ]]; then
    if ((built && docker_ok)); then
        E2E_TOOLS=fake stage e2e bash scripts/e2e.sh || true
    else
        skip e2e "needs the build and a Docker daemon"
    fi
else
    skip e2e "scripts/e2e.sh does not exist yet"
fi

summary
exit "$failed"
