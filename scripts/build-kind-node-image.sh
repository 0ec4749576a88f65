#!/usr/bin/env bash
# Build the stub kind node image of the real-kind tier (`kilter-kind-node:v1.36.1`), reused when unchanged.
#
# The image comes from `build-stub-node-image.sh` in the real-tools directory (next to the repository:
# ../shared/real-tools, or KILTER_REAL_TOOLS): busybox-static with stand-ins for kubeadm, kubectl,
# containerd and systemctl, enough for the REAL kind to create, stop, start, export logs from and delete a
# cluster (no Kubernetes runs inside). This script adds a label with the hash of its inputs (that script,
# the busybox binary, the Kubernetes version it reports); an image with the same hash is not rebuilt.
# Its tag is a `v`-version, the one /kind/version in the node says.
#
# Usage: scripts/build-kind-node-image.sh [--force]
# Env:   KILTER_KIND_NODE_IMAGE (default kilter-kind-node:v1.36.1), KILTER_REAL_TOOLS (default
#        <repo>/../shared/real-tools), BUSYBOX (default: the static one the stub script finds),
#        DOCKER (default /usr/bin/docker if present, else `docker` from PATH)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGE=${KILTER_KIND_NODE_IMAGE:-kilter-kind-node:v1.36.1}
TOOLS=${KILTER_REAL_TOOLS:-$ROOT/../shared/real-tools}
KUBE_VERSION=${IMAGE##*:}
LABEL=io.kilter.test-image.sha256
RECIPE_VERSION=1

if [[ -z ${DOCKER:-} ]]; then
    if [[ -x /usr/bin/docker ]]; then DOCKER=/usr/bin/docker; else DOCKER=docker; fi
fi

force=0
for arg in "$@"; do
    case $arg in
        --force) force=1 ;;
        -h | --help)
            sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "build-kind-node-image: unknown argument: $arg" >&2
            exit 2
            ;;
    esac
done

log() { printf 'build-kind-node-image: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

STUB=$TOOLS/build-stub-node-image.sh
[[ -f $STUB ]] || die "$STUB not found (the real-tools directory: KILTER_REAL_TOOLS, default ../shared/real-tools)"
[[ $KUBE_VERSION == v[0-9]* ]] || die "the tag of $IMAGE must be the Kubernetes version (v1.36.1)"
is_static() {
    if command -v file >/dev/null 2>&1; then
        file -L "$1" 2>/dev/null | grep -q 'statically linked'
    else
        if ldd "$1" >/dev/null 2>&1; then return 1; fi
    fi
}
busybox=${BUSYBOX:-}
if [[ -z $busybox ]]; then
    for c in /bin/busybox /usr/bin/busybox /usr/lib/busybox-static/busybox; do
        if [[ -x $c ]] && is_static "$c"; then
            busybox=$c
            break
        fi
    done
fi
[[ -n $busybox ]] || die "no static busybox: apt-get install busybox-static"
"$DOCKER" info >/dev/null 2>&1 || die "no Docker daemon reachable with $DOCKER (start one: scripts/dockerd.sh start)"

hash=$(
    {
        sha256sum <"$STUB"
        sha256sum <"$busybox"
        printf 'recipe=%s\nkube=%s\n' "$RECIPE_VERSION" "$KUBE_VERSION"
    } | sha256sum | cut -c1-64
)
have=$("$DOCKER" image inspect -f "{{index .Config.Labels \"$LABEL\"}}" "$IMAGE" 2>/dev/null || true)
if [[ $force == 0 && $have == "$hash" ]]; then
    log "$IMAGE is up to date (${hash:0:12}); nothing to build"
    exit 0
fi

start=$SECONDS
tmp_tag="kilter-kind-node-build:$$"
box="kilter-kind-node-build-$$"
cleanup() {
    "$DOCKER" rm -f "$box" >/dev/null 2>&1 || true
    "$DOCKER" rmi "$tmp_tag" >/dev/null 2>&1 || true
}
trap cleanup EXIT
# The stub script runs `docker import`; give it this script's client.
shim=$(mktemp -d "${TMPDIR:-/tmp}/kilter-kind-node.XXXXXX")
ln -s "$(command -v "$DOCKER")" "$shim/docker"
PATH="$shim:$PATH" KUBE_VERSION=$KUBE_VERSION BUSYBOX=$busybox sh "$STUB" "$tmp_tag" >&2
rm -rf "$shim"
# `docker import` takes no LABEL on every engine: commit a container of it with the label instead
# (the entrypoint and environment are kept).
"$DOCKER" create --name "$box" "$tmp_tag" >/dev/null
old=$("$DOCKER" image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
"$DOCKER" commit --change "LABEL $LABEL=$hash" "$box" "$IMAGE" >/dev/null
new=$("$DOCKER" image inspect -f '{{.Id}}' "$IMAGE")
if [[ -n $old && $old != "$new" ]]; then "$DOCKER" rmi "$old" >/dev/null 2>&1 || true; fi
log "built $IMAGE (${hash:0:12}) in $((SECONDS - start)) s"
