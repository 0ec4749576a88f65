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

if [[ -z ${DOCKER:-} ]]; then
    if [[ -x /usr/bin/docker ]]; then DOCKER=/usr/bin/docker; else DOCKER=docker; fi
fi

force=0
verify=auto
for arg in "$@"; do
    case $arg in
        --force) force=1 ;;
        --verify) verify=yes ;;
        --no-verify) verify=no ;;
        -h | --help)
            sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "build-router-image: unknown argument: $arg" >&2
            exit 2
            ;;
    esac
done

log() { printf 'build-router-image: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# Debian packages, installed when missing (as .ci/run does for the others).
need=()
[[ -x $CADDY_BIN ]] || need+=(caddy)
[[ -x $BUSYBOX ]] || need+=(busybox-static)
if ((${#need[@]})); then
    log "installing ${need[*]} (apt-get)"
    as_root=()
    [[ $(id -u) == 0 ]] || as_root=(sudo -n)
    export DEBIAN_FRONTEND=noninteractive
    "${as_root[@]}" apt-get update -qq </dev/null
    "${as_root[@]}" apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends "${need[@]}" </dev/null
fi
[[ -x $CADDY_BIN ]] || die "$CADDY_BIN not found: install Debian's caddy"
[[ -x $BUSYBOX ]] || die "$BUSYBOX not found: install Debian's busybox-static"
"$DOCKER" info >/dev/null 2>&1 || die "no Docker daemon reachable with $DOCKER (start one: scripts/dockerd.sh start)"

work=$(mktemp -d "${TMPDIR:-/tmp}/kilter-router-image.XXXXXX")
verify_name=""
cleanup() {
    if [[ -n $verify_name ]]; then "$DOCKER" rm -f "$verify_name" >/dev/null 2>&1 || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# --- the rootfs ------------------------------------------------------------------------------------
root=$work/rootfs
mkdir -p "$root"/{bin,usr/bin,etc/caddy,etc/ssl/certs,config,data,srv,tmp,proc,sys,dev,root}
cp "$BUSYBOX" "$root/bin/busybox"
for applet in sh wget cat ls mkdir rm sleep; do ln -sf busybox "$root/bin/$applet"; done
cp "$CADDY_BIN" "$root/usr/bin/caddy"
# The shared libraries it links, at the same paths.
while read -r lib; do
    [[ -n $lib && -e $lib ]] || continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done < <(ldd "$CADDY_BIN" | awk '/=>/ {print $3} /^\t\// {print $1}')
if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
fi
chmod 1777 "$root/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
cat >"$root/etc/caddy/Caddyfile" <<'EOF'
:80 {
	respond "kilter test router" 200
}
EOF

tarball=$work/rootfs.tar
tar -C "$root" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu -cf "$tarball" .
CMD_JSON='["caddy","run","--config","/etc/caddy/Caddyfile","--adapter","caddyfile"]'
hash=$(
    {
        sha256sum <"$tarball"
        printf 'recipe=%s\ncmd=%s\n' "$RECIPE_VERSION" "$CMD_JSON"
    } | sha256sum | cut -c1-64
)

have=$("$DOCKER" image inspect -f "{{index .Config.Labels \"$LABEL\"}}" "$IMAGE" 2>/dev/null || true)
built=0
if [[ $force == 0 && $have == "$hash" ]]; then
    log "$IMAGE is up to date (${hash:0:12}); nothing to build"
else
    start=$SECONDS
    "$DOCKER" import \
        --change "CMD $CMD_JSON" \
        --change "LABEL $LABEL=$hash" \
        --change "LABEL org.opencontainers.image.description=\"kilter test router (Debian caddy $("$CADDY_BIN" version | cut -d' ' -f1))\"" \
        --change 'ENV PATH=/bin:/usr/bin' \
        --change 'ENV XDG_CONFIG_HOME=/config' \
        --change 'ENV XDG_DATA_HOME=/data' \
        --change 'WORKDIR /srv' \
        --change 'EXPOSE 80' \
        --change 'VOLUME /config' \
        --change 'VOLUME /data' \
        "$tarball" "$IMAGE" >/dev/null
    built=1
    log "built $IMAGE (${hash:0:12}, $(du -h "$tarball" | cut -f1) rootfs) in $((SECONDS - start)) s"
fi

if [[ $verify == no || ($verify == auto && $built == 0) ]]; then
    exit 0
fi

# --- smoke test --------------------------------------------------------------------------------------
log "verifying $IMAGE"
verify_name="kilter-router-image-verify-$$"
"$DOCKER" run -d --name "$verify_name" -p 127.0.0.1:0:80 "$IMAGE" >/dev/null
mapping=$("$DOCKER" port "$verify_name" 80/tcp | head -n1)
port=${mapping##*:}
body=""
for _ in $(seq 1 100); do
    if body=$(
        exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
        printf 'GET / HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
        cat <&3
    ) 2>/dev/null && [[ $body == *"kilter test router"* ]]; then
        break
    fi
    sleep 0.1
done
[[ $body == *"kilter test router"* ]] || die "GET / through 127.0.0.1:$port did not answer: $body"
"$DOCKER" exec "$verify_name" caddy version >/dev/null || die "caddy does not run in $IMAGE"
"$DOCKER" rm -f "$verify_name" >/dev/null
verify_name=""
log "verified: GET / answers through 127.0.0.1:$port"
