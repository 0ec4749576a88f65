#!/usr/bin/env bash
# The test command (README "Development"). From the repository root:  scripts/test.sh [STAGE...]
#
# It is `cargo xtask test` (xtask/src/test.rs): fmt, clippy, lint, build, test, real-tools, real-tilt,
# docker, image, registry-image, router-image, real-docker, real-docker-client2, real-kind, e2e, in that
# order, then a summary with the passed/failed/skipped counts. `cargo xtask test --help` lists the stages
# and the environment (CI, KILTER_REAL_DOCKER, KILTER_TEST_SKIP, KILTER_TEST_FAIL_FAST, KILTER_KEEP_DOCKERD).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec cargo xtask test "$@"
