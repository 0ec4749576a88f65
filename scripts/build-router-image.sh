#!/usr/bin/env bash
# Build the offline router image `kilter-test-router:latest` that the real-Docker router tests pass to kilter
# as KILTER_ROUTER_IMAGE (the real `caddy:2` cannot be pulled here).
#
# It holds Debian's `caddy` (the same server as caddy:2; its binary links libc and libzstd), those
# libraries, busybox-static (sh, wget for checks), and the official image's layout: XDG_CONFIG_HOME=/config,
# XDG_DATA_HOME=/data, a default Caddyfile answering on :80, and the same default command. The image
# carries a label with the hash of its content; an image with the same hash is not rebuilt. After a build
# (or with --verify) it is smoke-tested: GET / answers through a port published on 127.0.0.1.
#
# Usage: scripts/build-router-image.sh [--force] [--verify] [--no-verify]
# Env:   KILTER_ROUTER_TEST_IMAGE (default kilter-test-router:latest), BUSYBOX (default /bin/busybox),
#        DOCKER (default /usr/bin/docker if present, else `docker` from PATH)
set -euo pipefail

IMAGE=${KILTER_ROUTER_TEST_IMAGE:-kilter-test-router:latest}
BUSYBOX=${BUSYBOX:-/bin/busybox}
CADDY_BIN=/usr/bin/caddy
LABEL=io.kilter.test-image.sha256
RECIPE_VERSION=1

# shellcheck source=scripts/lib/image.sh
. "$(dirname "$0")/lib/image.sh"
image_init build-router-image 13 "$@"

# Debian packages, installed when missing (as .ci/run does for the others).
need=()
[[ -x $CADDY_BIN ]] || need+=(caddy)
[[ -x $BUSYBOX ]] || need+=(busybox-static)
image_apt_install "${need[@]}"
[[ -x $CADDY_BIN ]] || die "$CADDY_BIN not found: install Debian's caddy"
[[ -x $BUSYBOX ]] || die "$BUSYBOX not found: install Debian's busybox-static"
image_need_docker

# --- the rootfs ------------------------------------------------------------------------------------
root=$work/rootfs
image_base_rootfs "$root" "$BUSYBOX"
mkdir -p "$root"/{etc/caddy,config,data,srv}
image_add_binary "$root" "$CADDY_BIN" /usr/bin/caddy
cat >"$root/etc/caddy/Caddyfile" <<'EOF'
:80 {
	respond "kilter test router" 200
}
EOF

CMD_JSON='["caddy","run","--config","/etc/caddy/Caddyfile","--adapter","caddyfile"]'
image_build "$root" "$IMAGE" "$LABEL" "$RECIPE_VERSION" "$CMD_JSON" \
    --change "LABEL org.opencontainers.image.description=\"kilter test router (Debian caddy $("$CADDY_BIN" version | cut -d' ' -f1))\"" \
    --change 'ENV PATH=/bin:/usr/bin' \
    --change 'ENV XDG_CONFIG_HOME=/config' \
    --change 'ENV XDG_DATA_HOME=/data' \
    --change 'WORKDIR /srv' \
    --change 'EXPOSE 80' \
    --change 'VOLUME /config' \
    --change 'VOLUME /data'

image_verify_wanted || exit 0

# --- smoke test --------------------------------------------------------------------------------------
log "verifying $IMAGE"
image_smoke "$IMAGE" 80 / "kilter test router"
"$DOCKER" exec "$verify_name" caddy version >/dev/null || die "caddy does not run in $IMAGE"
image_smoke_done
log "verified: GET / answers through 127.0.0.1:$verify_port"
