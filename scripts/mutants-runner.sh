#!/usr/bin/env bash
# The cargo runner scripts/mutants.sh sets for the test binaries (CARGO_TARGET_<triple>_RUNNER):
#
#   scripts/mutants-runner.sh TEST-BINARY ARGS...
#
# 1. Lets the binary's libtest take `-Zunstable-options --fail-fast` (stop at the first failing
#    test): RUSTC_BOOTSTRAP=1 is set here, at run time only, so the build is the ordinary one.
# 2. Runs the binary in a PID namespace of its own, under a shell that waits for it. A run that
#    stops at the first failure exits while other tests are still running, and their fake Tilt,
#    kind and docker processes would live on into the next mutant's run (holding its ports). When
#    the namespace's first process (the shell) exits, the kernel kills everything left in it.
#
# Without unshare (or the right to make namespaces) it runs the binary as it is.
set -uo pipefail
export RUSTC_BOOTSTRAP=1
if unshare --pid --fork --mount-proc true 2>/dev/null; then
    exec unshare --pid --fork --mount-proc --kill-child -- /bin/sh -c '"$@"; exit $?' sh "$@"
fi
exec "$@"
