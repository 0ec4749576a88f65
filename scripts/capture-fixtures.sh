#!/usr/bin/env bash
# Capture real tool output into fixtures/ for the parser unit tests.
#
# What can be captured on a machine without kind or a Kubernetes API (this project's dev machines):
# docker's own output for a kind-shaped node container (kind's labels, restart policy and published
# ports, on the offline test image from scripts/build-test-image.sh), running and stopped.
# kubectl/kind fixtures are written by hand from docs/real-tools.md; fixtures/README.md says which.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
docker=${DOCKER:-docker}
image=${KILTER_TEST_IMAGE:-kilter-test-node:latest}
name=kilter-capture-control-plane
out="$here/fixtures/docker"

"$docker" image inspect "$image" >/dev/null 2>&1 || "$here/scripts/build-test-image.sh"
"$docker" rm -f "$name" >/dev/null 2>&1 || true
trap '"$docker" rm -f "$name" >/dev/null 2>&1 || true' EXIT

"$docker" run -d --name "$name" --hostname "$name" \
  --label io.x-k8s.kind.cluster=kilter-capture --label io.x-k8s.kind.role=control-plane \
  --restart=on-failure:1 --publish=127.0.0.1:0:6443/TCP \
  --publish=127.0.0.1:30340:30340/TCP --publish=127.0.0.1:30341:30341/TCP "$image" >/dev/null

"$docker" inspect --type container "$name" >"$out/captured-inspect-running.json"
"$docker" ps -a --filter label=io.x-k8s.kind.cluster=kilter-capture --format '{{json .}}' >"$out/captured-ps-running.ndjson"
"$docker" stop "$name" >/dev/null
"$docker" inspect --type container "$name" >"$out/captured-inspect-exited.json"
"$docker" ps -a --filter label=io.x-k8s.kind.cluster=kilter-capture --format '{{json .}}' >"$out/captured-ps-exited.ndjson"
set +e
"$docker" inspect --type container kilter-capture-missing >"$out/captured-inspect-missing.stdout" 2>"$out/captured-inspect-missing.stderr"
echo "$?" >"$out/captured-inspect-missing.exit"
set -e

{
  echo "client: $("$docker" --version)"
  echo "server: $("$docker" version --format '{{.Server.Version}}')"
  echo "captured: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$out/captured-versions.txt"
echo "captured into $out:"
ls -1 "$out"/captured-*
