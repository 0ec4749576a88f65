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
            sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "build-registry-image: unknown argument: $arg" >&2
            exit 2
            ;;
    esac
done

log() { printf 'build-registry-image: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# Debian packages, installed when missing (as .ci/run does for the others).
need=()
[[ -x $REGISTRY_BIN ]] || need+=(docker-registry)
[[ -x $BUSYBOX ]] || need+=(busybox-static)
if ((${#need[@]})); then
    log "installing ${need[*]} (apt-get)"
    as_root=()
    [[ $(id -u) == 0 ]] || as_root=(sudo -n)
    export DEBIAN_FRONTEND=noninteractive
    "${as_root[@]}" apt-get update -qq </dev/null
    "${as_root[@]}" apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends "${need[@]}" </dev/null
fi
[[ -x $REGISTRY_BIN ]] || die "$REGISTRY_BIN not found: install Debian's docker-registry"
[[ -x $BUSYBOX ]] || die "$BUSYBOX not found: install Debian's busybox-static"
"$DOCKER" info >/dev/null 2>&1 || die "no Docker daemon reachable with $DOCKER (start one: scripts/dockerd.sh start)"

work=$(mktemp -d "${TMPDIR:-/tmp}/kilter-registry-image.XXXXXX")
verify_name=""
cleanup() {
    if [[ -n $verify_name ]]; then "$DOCKER" rm -f "$verify_name" >/dev/null 2>&1 || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# --- the rootfs ------------------------------------------------------------------------------------
root=$work/rootfs
mkdir -p "$root"/{bin,usr/bin,etc/docker/registry,etc/distribution,etc/ssl/certs,tmp,var/lib/registry,proc,sys,dev,root}
cp "$BUSYBOX" "$root/bin/busybox"
for applet in sh wget cat ls mkdir rm sleep; do ln -sf busybox "$root/bin/$applet"; done
cp "$REGISTRY_BIN" "$root/usr/bin/docker-registry"
# The shared libraries it links (only libc and the loader), at the same paths.
while read -r lib; do
    [[ -n $lib && -e $lib ]] || continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done < <(ldd "$REGISTRY_BIN" | awk '/=>/ {print $3} /^\t\// {print $1}')
# Upstreams over https need CA certificates (tests use plain http).
if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
fi
chmod 1777 "$root/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
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

tarball=$work/rootfs.tar
tar -C "$root" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu -cf "$tarball" .
CMD_JSON='["/usr/bin/docker-registry","serve","/etc/docker/registry/config.yml"]'
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
        --change 'LABEL org.opencontainers.image.description="kilter test registry (Debian docker-registry, distribution 2.8)"' \
        --change 'ENV PATH=/bin:/usr/bin' \
        --change 'EXPOSE 5000' \
        --change 'VOLUME /var/lib/registry' \
        "$tarball" "$IMAGE" >/dev/null
    built=1
    log "built $IMAGE (${hash:0:12}, $(du -h "$tarball" | cut -f1) rootfs) in $((SECONDS - start)) s"
fi

if [[ $verify == no || ($verify == auto && $built == 0) ]]; then
    exit 0
fi

# --- smoke test --------------------------------------------------------------------------------------
log "verifying $IMAGE"
verify_name="kilter-registry-image-verify-$$"
"$DOCKER" run -d --name "$verify_name" -p 127.0.0.1:0:5000 "$IMAGE" >/dev/null
mapping=$("$DOCKER" port "$verify_name" 5000/tcp | head -n1)
port=${mapping##*:}
body=""
for _ in $(seq 1 100); do
    if body=$(
        exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
        printf 'GET /v2/ HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
        cat <&3
    ) 2>/dev/null && [[ $body == *"200 OK"* ]]; then
        break
    fi
    sleep 0.1
done
[[ $body == *"200 OK"* ]] || die "GET /v2/ through 127.0.0.1:$port did not answer 200: $body"
"$DOCKER" rm -f "$verify_name" >/dev/null
verify_name=""
log "verified: GET /v2/ answers 200 through 127.0.0.1:$port"
