#!/usr/bin/env bash
# Mutation testing (docs/testing.md): break the product code one small way at a time (cargo-mutants) and
# check that some test fails. From the repository root:
#
#   scripts/mutants.sh                    every group below, one after the other (hours on 2 cores)
#   scripts/mutants.sh ports lock         only these groups
#   scripts/mutants.sh --diff [BASE]      only the lines changed since BASE (default origin/main, else main),
#                                         each changed file tested with its group's tests
#   scripts/mutants.sh --list             the groups, their files and how many mutants each has
#   scripts/mutants.sh --full --iterate lifecycle
#                                         rerun only the mutants the last run of a group missed, against
#                                         the whole suite (cargo-mutants --iterate)
#
# A group is a set of files and the tests that guard them: running the whole suite for every mutant
# (about 2 minutes) would take days for ~1,900 mutants, so each group runs only the unit tests of its
# modules and the integration-test modules that exercise them. A mutant those tests miss may still be
# caught elsewhere; scripts/mutants.sh --full GROUP reruns a group against the whole suite.
#
# Results: target/mutants-out/<group>/mutants.out/{caught,missed,timeout,unviable}.txt, and one line per group
# at the end: caught / (caught + missed + timeout) of the viable mutants. Survivors that are equivalent or
# not worth a test are listed in docs/testing.md.
#
# Env: MUTANTS_JOBS=2          parallel builds (cargo-mutants -j)
#      MUTANTS_TEST_THREADS=6  threads per test binary (the tests mostly wait on fake tools, not the CPU)
#      MUTANTS_TIMEOUT=240     seconds before a mutant's test run counts as a timeout (a hang it caused)
#      MUTANTS_SHARD=K/N       only every N-th mutant, starting at K (cargo-mutants --shard, round-robin):
#                              a sample of a large group, for an estimate when the whole would not fit;
#                              the same K/N over every group is a uniform sample of the whole crate
#      MUTANTS_NAMES=FILE      only the mutants named in FILE, one per line as --list names them
#                              (each becomes an exact --re): those a shard missed when the code
#                              under it changed between shards
#      MUTANTS_PIDNS=0         do not run cargo-mutants in a PID namespace of its own (see below)
#      MUTANTS_FAIL_FAST=0     run every test of a mutant's filter, not stop at the first failure (see below)
#      CARGO_TARGET_DIR=DIR    one target directory for every group's build copy, so the dependencies
#                              are built once, not once per group (only with MUTANTS_JOBS=1: parallel
#                              jobs would share the unhashed kilter and fake-tool binaries)
# Needs cargo-mutants (`cargo install cargo-mutants --locked`; 27.x is known to work).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# group | files (cargo-mutants --file globs, space-separated) | test name filters (unit and `it` tests)
GROUPS_TABLE='
ports     | src/ports.rs                                     | ports:: many:: lifecycle:: errors:: inspect:: router:: services::
lock      | src/lock.rs                                      | lock:: concurrency:: uncovered::
config    | src/config/*.rs                                  | config:: input:: app::
edit      | src/config/edit/*.rs                             | config:: input:: project:: lifecycle:: services:: untouched:: operate:: replay::
schema    | src/config/schema/*.rs                           | config:: input:: app:: services:: router:: errors::
exec      | src/exec/*.rs src/exec/**/*.rs                   | exec:: tilt:: lifecycle:: uncovered:: replay:: output:: realworld:: concurrency:: untouched:: stream::
tools     | src/tools/*.rs src/tools/**/*.rs                 | tools:: many:: lifecycle:: realworld:: contract:: inspect:: tilt:: registry:: router:: uncovered:: errors:: ci:: output::
lifecycle | src/ops/up.rs src/ops/stop.rs src/ops/down.rs src/ops/destroy.rs src/lifecycle/up.rs src/lifecycle/destroy.rs src/lifecycle/services.rs src/lifecycle/workload.rs | lifecycle:: app:: ci:: realworld:: tilt:: output:: untouched:: concurrency:: services:: errors:: registry:: many:: operate:: uncovered::
db        | src/ops/db.rs src/lifecycle/snapshot.rs          | snapshot:: db:: stream:: uncovered::
snapshot  | src/snapshot/*.rs src/snapshot/**/*.rs           | snapshot:: db:: stream::
status    | src/ops/status.rs                                | status inspect:: realworld:: router::
app       | src/app/*.rs src/app/**/*.rs src/lifecycle/app.rs src/ops/render.rs src/ops/eject.rs | app:: input:: tilt::
router    | src/router.rs src/router/*.rs src/lifecycle/router.rs src/lifecycle/routes.rs src/ops/router.rs | router:: inspect::
registry  | src/registry.rs src/registry/*.rs src/shared.rs src/ops/registry.rs | registry:: shared:: lifecycle:: uncovered:: many::
services  | src/services/*.rs src/services/**/*.rs src/ops/add.rs src/ops/remove.rs src/ops/catalog.rs | services:: operate:: input::
ci        | src/ops/ci.rs src/github.rs src/github/*.rs src/lifecycle/bring_up.rs src/lifecycle/mod.rs | ci:: github tilt:: uncovered:: lifecycle::
ops       | src/ops/gc.rs src/ops/doctor.rs src/ops/ls.rs src/ops/env.rs src/ops/restart.rs src/ops/init.rs src/ops/logs.rs src/ops/exec.rs src/ops/completions.rs src/ops/mod.rs | many:: inspect:: operate:: dotenv:: uncovered:: output:: errors:: input:: registry:: ops::doctor:: ops::gc:: ops::ls:: services::env_ services::dotenv_ router:: realworld::doctor
core      | src/cli.rs src/json.rs src/ui.rs src/error.rs src/project.rs src/project/*.rs src/context.rs src/fsutil.rs src/table.rs src/time.rs src/interrupt.rs src/lib.rs src/main.rs | cli ui error project fsutil table time interrupt json app::render errors:: input:: output:: inspect:: lifecycle:: concurrency:: realworld:: ci::
'

groups() { sed -n 's/^\([a-z]*\) *|.*/\1/p' <<<"$GROUPS_TABLE"; }
field() { # field GROUP N
    awk -F'|' -v g="$1" -v n="$2" '{k=$1; gsub(/ /,"",k)} k==g {v=$n; gsub(/^ +| +$/,"",v); print v}' \
        <<<"$GROUPS_TABLE"
}

command -v cargo-mutants >/dev/null 2>&1 || {
    echo "mutants.sh: cargo-mutants is not installed: cargo install cargo-mutants --locked" >&2
    exit 2
}

jobs=${MUTANTS_JOBS:-2}
if [[ -n ${CARGO_TARGET_DIR:-} && $jobs != 1 ]]; then
    echo "mutants.sh: CARGO_TARGET_DIR is shared by every build copy; set MUTANTS_JOBS=1 with it" >&2
    exit 2
fi
threads=${MUTANTS_TEST_THREADS:-6}
timeout=${MUTANTS_TIMEOUT:-240}
full=0
iterate=0
diff_base=""
selected=()
while (($#)); do
    case $1 in
        --list)
            for g in $(groups); do
                files=$(field "$g" 2)
                args=()
                for f in $files; do args+=(-f "$f"); done
                printf '%-10s %5s mutants  %s\n' "$g" "$(cargo mutants --list "${args[@]}" | wc -l)" "$files"
            done
            exit 0
            ;;
        --full) full=1 ;;
        --iterate) iterate=1 ;;
        --diff)
            if [[ ${2:-} != "" && ${2:0:1} != - ]]; then
                diff_base=$2
                shift
            else
                diff_base=$(git rev-parse -q --verify origin/main >/dev/null && echo origin/main || echo main)
            fi
            ;;
        -h | --help)
            sed -n '2,37p' "$0"
            exit 0
            ;;
        -*)
            echo "mutants.sh: unknown option $1 (see --help)" >&2
            exit 2
            ;;
        *)
            [[ -n $(field "$1" 2) ]] || {
                echo "mutants.sh: no group $1 (groups: $(groups | tr '\n' ' '))" >&2
                exit 2
            }
            selected+=("$1")
            ;;
    esac
    shift
done
((${#selected[@]})) || mapfile -t selected < <(groups)

if ((iterate)) && [[ -n ${MUTANTS_SHARD:-} ]]; then
    # cargo-mutants shards what --iterate leaves, so the shard would hold other mutants.
    echo "mutants.sh: --iterate with MUTANTS_SHARD would shard what the last run left, not test the rest of its shard; rerun the shard without --iterate" >&2
    exit 2
fi

diff_file=""
if [[ -n $diff_base ]]; then
    diff_file=$(mktemp "${TMPDIR:-/tmp}/kilter-mutants-diff.XXXXXX")
    trap 'rm -f "$diff_file"' EXIT
    git diff "$diff_base" -- src >"$diff_file"
    if [[ ! -s $diff_file ]]; then
        echo "mutants.sh: no changes under src/ since $diff_base"
        exit 0
    fi
fi

# A mutant of the process code can turn a group number into 0 or 1, and kill(-1) signals every
# process the user may signal: as root, the whole machine's. In a PID namespace of its own it
# reaches only the run's own processes (cargo-mutants is that namespace's PID 1, which kill(-1)
# spares). Needs root (or user namespaces) and util-linux's unshare; MUTANTS_PIDNS=0 turns it off.
pidns=()
if [[ ${MUTANTS_PIDNS:-1} != 0 ]] && unshare --pid --fork --mount-proc true 2>/dev/null; then
    pidns=(unshare --pid --fork --mount-proc)
fi

# Fail fast: a mutant is caught by its first failing test, so the test binaries stop there
# (libtest's `-Zunstable-options --fail-fast`, in Rust 1.92 and later), instead of running the
# rest of the filter for a minute or two. scripts/mutants-runner.sh runs each test binary: it
# allows the option at run time only, and kills what the tests still running leave behind. The
# baseline is skipped, so a libtest that rejected the option would fail every mutant and report
# it caught: the option is checked once here first. Not with --full (its doctests take no runner).
fail_fast=()
if [[ ${MUTANTS_FAIL_FAST:-1} != 0 ]] && ((!full)); then
    probe=$(mktemp -d "${TMPDIR:-/tmp}/kilter-mutants-probe.XXXXXX")
    printf '#[test]\nfn fails() { panic!() }\n#[test]\nfn passes() {}\n' >"$probe/t.rs"
    # With the option, the run stops after `fails` and never runs `passes`.
    { rustc --edition 2021 --test -o "$probe/t" "$probe/t.rs" 2>/dev/null &&
        RUSTC_BOOTSTRAP=1 "$probe/t" -Zunstable-options --fail-fast --test-threads 1 >"$probe/out" 2>&1; } || true
    if grep -q '^test result: FAILED. 0 passed; 1 failed' "$probe/out" 2>/dev/null; then
        # In random order: libtest sorts by name, and a group's own tests (`tools::`, `services::`)
        # would otherwise run after every test that sorts before them.
        fail_fast=(-Zunstable-options --fail-fast --shuffle)
        runner=$(pwd)/scripts/mutants-runner.sh
        host=$(rustc -vV | sed -n 's/^host: //p')
        export "CARGO_TARGET_$(tr 'a-z-' 'A-Z_' <<<"$host")_RUNNER=$runner"
    else
        echo "mutants.sh: this toolchain's libtest has no --fail-fast; every test of the filter runs" >&2
    fi
    rm -rf "$probe"
fi

summary=()
status=0
for g in "${selected[@]}"; do
    args=(--no-shuffle -j "$jobs" --timeout "$timeout" --baseline skip -o "target/mutants-out/$g")
    for f in $(field "$g" 2); do args+=(-f "$f"); done
    [[ -n $diff_file ]] && args+=(--in-diff "$diff_file")
    ((iterate)) && args+=(--iterate)
    [[ -n ${MUTANTS_SHARD:-} ]] && args+=(--shard "$MUTANTS_SHARD" --sharding round-robin)
    if [[ -n ${MUTANTS_NAMES:-} ]]; then
        while IFS= read -r name; do
            # the regex metacharacters escaped, so that the name matches only itself
            # shellcheck disable=SC2001 # one sed over the whole name is clearer than a loop
            [[ -n $name ]] && args+=(--re "^$(sed 's/[][\\.+*?(){}|^$#&~-]/\\&/g' <<<"$name")\$")
        done <"$MUTANTS_NAMES"
    fi
    if ((full)); then
        test_args=(-- -- --test-threads "$threads")
    else
        read -ra filters <<<"$(field "$g" 3)"
        test_args=(-- --lib --test it -- --test-threads "$threads" "${fail_fast[@]}" "${filters[@]}")
    fi
    # A run that finds no mutant (a --diff that does not touch the group) writes nothing: the
    # last run's results must not be counted as this one's (--iterate reads them, so they stay).
    ((iterate)) || rm -rf "target/mutants-out/$g/mutants.out"
    mkdir -p "target/mutants-out/$g"
    echo "==> mutants: $g ($(field "$g" 2))"
    rc=0
    "${pidns[@]}" cargo mutants "${args[@]}" "${test_args[@]}" || rc=$?
    # cargo-mutants: 0 all caught, 2 some missed, 3 some timed out, 4 the baseline failed, 1 usage
    case $rc in 0 | 2 | 3) ;; *) status=1 ;; esac
    out="target/mutants-out/$g/mutants.out"
    count() { if [[ -s $out/$1.txt ]]; then grep -c . "$out/$1.txt"; else echo 0; fi; }
    c=$(count caught) m=$(count missed) t=$(count timeout) u=$(count unviable)
    viable=$((c + m + t))
    pct=$(awk -v c="$c" -v t="$t" -v v="$viable" 'BEGIN { if (v) printf "%.1f", 100 * (c + t) / v; else print "-" }')
    summary+=("$(printf '%-10s caught %4d  timeout %3d  missed %4d  unviable %4d  caught %s%%' "$g" "$c" "$t" "$m" "$u" "$pct")")
done

echo
echo "==================== mutants summary ===================="
printf '%s\n' "${summary[@]}"
echo "(a timeout counts as caught: the mutant made a test hang past ${timeout}s; missed: listed in target/mutants-out/<group>/mutants.out/missed.txt)"
exit "$status"
