#!/usr/bin/env bash
# Build the offline registry image `kilter-test-registry:latest` that the real-Docker tests pass to kilter
# as KILTER_REGISTRY_IMAGE (the real `registry:3` cannot be pulled here).
#
# It holds Debian's `docker-registry` (github.com/docker/distribution 2.8, the same server as registry:2/3;
# its binary links only libc), the libc it needs, busybox-static (sh, wget for checks), and a config like
# the official image's: storage in /var/lib/registry, HTTP on :5000, no auth. `REGISTRY_PROXY_REMOTEURL`
# turns it into a pull-through cache, as with registry:3. The image carries a label with the hash of its
# content; an image with the same hash is not rebuilt. After a build (or with --verify) it is smoke-tested:
# GET /v2/ answers through a port published on 127.0.0.1.
#
# Usage: scripts/build-registry-image.sh [--force] [--verify] [--no-verify]
# Env:   KILTER_REGISTRY_TEST_IMAGE (default kilter-test-registry:latest), BUSYBOX (default /bin/busybox),
#        DOCKER (default /usr/bin/docker if present, else `docker` from PATH)
set -euo pipefail

IMAGE=${KILTER_REGISTRY_TEST_IMAGE:-kilter-test-registry:latest}
BUSYBOX=${BUSYBOX:-/bin/busybox}
REGISTRY_BIN=/usr/bin/docker-registry
LABEL=io.kilter.test-image.sha256
RECIPE_VERSION=1

# shellcheck source=scripts/lib/image.sh
. "$(dirname "$0")/lib/image.sh"
image_init build-registry-image 15 "$@"

# Debian packages, installed when missing (as .ci/run does for the others).
need=()
[[ -x $REGISTRY_BIN ]] || need+=(docker-registry)
[[ -x $BUSYBOX ]] || need+=(busybox-static)
image_apt_install "${need[@]}"
[[ -x $REGISTRY_BIN ]] || die "$REGISTRY_BIN not found: install Debian's docker-registry"
[[ -x $BUSYBOX ]] || die "$BUSYBOX not found: install Debian's busybox-static"
image_need_docker

# --- the rootfs ------------------------------------------------------------------------------------
root=$work/rootfs
image_base_rootfs "$root" "$BUSYBOX"
mkdir -p "$root"/{etc/docker/registry,etc/distribution,var/lib/registry}
# Only libc and the loader are linked. Upstreams over https need the CA certificates (tests use
# plain http).
image_add_binary "$root" "$REGISTRY_BIN" /usr/bin/docker-registry
cat >"$root/etc/docker/registry/config.yml" <<'EOF'
version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
EOF
cp "$root/etc/docker/registry/config.yml" "$root/etc/distribution/config.yml"

CMD_JSON='["/usr/bin/docker-registry","serve","/etc/docker/registry/config.yml"]'
image_build "$root" "$IMAGE" "$LABEL" "$RECIPE_VERSION" "$CMD_JSON" \
    --change 'LABEL org.opencontainers.image.description="kilter test registry (Debian docker-registry, distribution 2.8)"' \
    --change 'ENV PATH=/bin:/usr/bin' \
    --change 'EXPOSE 5000' \
    --change 'VOLUME /var/lib/registry'

image_verify_wanted || exit 0

# --- smoke test --------------------------------------------------------------------------------------
log "verifying $IMAGE"
image_smoke "$IMAGE" 5000 /v2/ "200 OK"
image_smoke_done
log "verified: GET /v2/ answers 200 through 127.0.0.1:$verify_port"
