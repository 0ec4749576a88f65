#!/usr/bin/env bash
# Build the tiny offline test node image `kilter-test-node:latest` used by the real-Docker tests.
#
# No registry can be reached here, so the image is made from Debian's `busybox-static`: a rootfs with
# /bin/busybox and a symlink for every applet, tarred reproducibly and loaded with `docker import`.
# The image carries a label with the hash of its content; when an image with the same hash already
# exists, nothing is rebuilt. After a build (or with --verify) the image is smoke-tested: files survive
# stop/start, `docker stop` returns at once (PID 1 traps TERM), and a published port on 127.0.0.1 answers.
#
# Usage: scripts/build-test-image.sh [--force] [--verify] [--no-verify]
# Env:   KILTER_TEST_IMAGE (default kilter-test-node:latest), BUSYBOX (default /bin/busybox),
#        DOCKER (default /usr/bin/docker if present, else `docker` from PATH)
set -euo pipefail

IMAGE=${KILTER_TEST_IMAGE:-kilter-test-node:latest}
BUSYBOX=${BUSYBOX:-/bin/busybox}
LABEL=io.kilter.test-image.sha256
# Bump when the recipe below changes in a way the hash of the rootfs would not show.
RECIPE_VERSION=1

# shellcheck source=scripts/lib/image.sh
. "$(dirname "$0")/lib/image.sh"
image_init build-test-image 13 "$@"

[[ -x $BUSYBOX ]] || die "$BUSYBOX not found: install Debian's busybox-static (apt-get install busybox-static)"
"$BUSYBOX" --list >/dev/null 2>&1 || die "$BUSYBOX does not run"
image_need_docker

# PID 1 is a shell: it traps TERM/INT so `docker stop` ends it at once (a shell as PID 1 without a trap
# ignores TERM, and docker would wait 10 s before SIGKILL). `sleep & wait` keeps the wait interruptible.
# shellcheck disable=SC2016 # $! is for the container's shell
INIT='trap "exit 0" TERM INT; while :; do sleep 1 & wait $!; done'
CMD_JSON="[\"/bin/sh\",\"-c\",\"${INIT//\"/\\\"}\"]"

# --- the rootfs ------------------------------------------------------------------------------------
root=$work/rootfs
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,var/tmp,var/lib,var/log,run,proc,sys,dev,www}
cp "$BUSYBOX" "$root/bin/busybox"
chmod 0755 "$root/bin/busybox"
while IFS= read -r applet; do
    [[ -n $applet && $applet != busybox && $applet != */* ]] || continue
    ln -sf busybox "$root/bin/$applet"
done < <("$BUSYBOX" --list | LC_ALL=C sort)
chmod 1777 "$root/tmp" "$root/var/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
printf 'kilter-test-node\n' >"$root/etc/kilter-test-node"
printf 'kilter-test-node ok\n' >"$root/www/index.html"

image_build "$root" "$IMAGE" "$LABEL" "$RECIPE_VERSION" "$CMD_JSON" \
    --change 'LABEL org.opencontainers.image.description="kilter real-Docker test node (busybox-static)"' \
    --change 'ENV PATH=/bin:/sbin:/usr/bin:/usr/sbin' \
    --change 'WORKDIR /'

image_verify_wanted || exit 0

# --- smoke test --------------------------------------------------------------------------------------
log "verifying $IMAGE"
verify_name="kilter-build-test-image-verify-$$"
d() { "$DOCKER" "$@"; }
d run -d --name "$verify_name" -p 127.0.0.1:0:80 "$IMAGE" >/dev/null
out=$(d exec "$verify_name" sh -c 'echo hi > /var/x; cat /var/x')
[[ $out == hi ]] || die "exec: expected 'hi', got '$out'"

t0=$(date +%s%N)
d stop "$verify_name" >/dev/null
ms=$((($(date +%s%N) - t0) / 1000000))
((ms < 2000)) || die "docker stop took ${ms} ms: PID 1 does not exit on TERM"
code=$(d inspect -f '{{.State.ExitCode}}' "$verify_name")
[[ $code == 0 ]] || die "container exited with $code after docker stop, expected 0"

d start "$verify_name" >/dev/null
out=$(d exec "$verify_name" cat /var/x)
[[ $out == hi ]] || die "file written before stop is gone after start (got '$out')"

# A published port on 127.0.0.1 must reach the container (busybox httpd serving /www).
d exec -d "$verify_name" httpd -f -p 80 -h /www
mapping=$(d port "$verify_name" 80/tcp | head -n1)
port=${mapping##*:}
[[ $mapping == 127.0.0.1:* && $port =~ ^[0-9]+$ ]] || die "unexpected port mapping '$mapping'"
body=""
for _ in $(seq 1 50); do
    if body=$(
        exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
        printf 'GET / HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
        cat <&3
    ) 2>/dev/null && [[ $body == *"kilter-test-node ok"* ]]; then
        break
    fi
    sleep 0.1
done
[[ $body == *"kilter-test-node ok"* ]] || die "no answer from the container through 127.0.0.1:$port"

d rm -f "$verify_name" >/dev/null
verify_name=""
log "verified: exec, stop in ${ms} ms, state kept across stop/start, port 80 published on 127.0.0.1:$port"
