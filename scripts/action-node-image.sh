#!/usr/bin/env bash
# The kind node image for a GitHub Actions job, kept between runs (action.yml restores IMAGE_TAR with
# actions/cache before this runs and saves it after the job): `docker load` it when the cache had it,
# otherwise `docker pull` it and `docker save` it for the cache.
#
# Env: NODE_IMAGE  the image kind boots (default: the one the installed kind boots by default, read
#                  from the kind binary, where it is a constant)
#      IMAGE_TAR   the cached tarball
# Prints `image=<ref>` to $GITHUB_OUTPUT. A failure here only costs the cache: kind pulls the image
# itself.
set -euo pipefail

: "${IMAGE_TAR:?IMAGE_TAR is not set}"
image=${NODE_IMAGE:-}
if [[ -z $image ]]; then
    kind_bin=$(command -v kind) || {
        echo "::warning title=kilter action::kind is not on PATH; the node image is not cached"
        exit 0
    }
    image=$(grep -aoE 'kindest/node:v[0-9.]+@sha256:[0-9a-f]{64}' "$kind_bin" | head -n1 || true)
fi
if [[ -z $image ]]; then
    echo "::notice title=kilter action::no node image known (set the node-image input); kind pulls it itself"
    exit 0
fi
if [[ -n ${GITHUB_OUTPUT:-} ]]; then echo "image=$image" >>"$GITHUB_OUTPUT"; fi

if [[ -s $IMAGE_TAR ]]; then
    echo "loading $image from the cache"
    if docker load -i "$IMAGE_TAR"; then exit 0; fi
    echo "::warning title=kilter action::the cached node image did not load; pulling it"
    rm -f "$IMAGE_TAR"
fi
echo "pulling $image"
if ! docker pull "$image"; then
    echo "::warning title=kilter action::could not pull $image; kind will try again"
    exit 0
fi
mkdir -p "$(dirname "$IMAGE_TAR")"
docker save -o "$IMAGE_TAR" "$image"
ls -l "$IMAGE_TAR"
