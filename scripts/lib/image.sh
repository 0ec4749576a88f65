# shellcheck shell=bash
# shellcheck disable=SC2034 # force, verify, work, verify_port, image_have, hash and built are read by the script that sources this
# The steps the offline image builders share (scripts/build-registry-image.sh,
# scripts/build-router-image.sh, scripts/build-test-image.sh): arguments, Debian packages, a busybox rootfs holding one
# binary and the libraries `ldd` names, a content hash that decides whether to rebuild, `docker
# import`, and an HTTP smoke test through a port published on 127.0.0.1. Sourced, not run.
#
# After `image_init NAME HELP_LAST_LINE "$@"` a builder has: $DOCKER, $force (0|1), $verify
# (auto|yes|no), $work (a temporary dir removed on exit), log and die.

# image_init NAME HELP_LAST_LINE ARGS…: the builder's name (for messages), the last line of its
# header comment (printed by --help), and its arguments.
image_init() {
    IMAGE_TOOL=$1
    local help_last=$2
    shift 2
    if [[ -z ${DOCKER:-} ]]; then
        if [[ -x /usr/bin/docker ]]; then DOCKER=/usr/bin/docker; else DOCKER=docker; fi
    fi
    force=0
    verify=auto
    local arg
    for arg in "$@"; do
        case $arg in
            --force) force=1 ;;
            --verify) verify=yes ;;
            --no-verify) verify=no ;;
            -h | --help)
                sed -n "2,${help_last}p" "$0" | sed 's/^# \{0,1\}//'
                exit 0
                ;;
            *)
                echo "$IMAGE_TOOL: unknown argument: $arg" >&2
                exit 2
                ;;
        esac
    done
    work=$(mktemp -d "${TMPDIR:-/tmp}/kilter-$IMAGE_TOOL.XXXXXX")
    verify_name=""
    trap image_cleanup EXIT
}

log() { printf '%s: %s\n' "$IMAGE_TOOL" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

image_cleanup() {
    if [[ -n ${verify_name:-} ]]; then "$DOCKER" rm -f "$verify_name" >/dev/null 2>&1 || true; fi
    rm -rf "$work"
}

# image_apt_install PACKAGE…: install the Debian packages given (nothing when none is given).
image_apt_install() {
    (($#)) || return 0
    log "installing $* (apt-get)"
    local as_root=()
    [[ $(id -u) == 0 ]] || as_root=(sudo -n)
    export DEBIAN_FRONTEND=noninteractive
    "${as_root[@]}" apt-get update -qq </dev/null
    "${as_root[@]}" apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends "$@" </dev/null
}

# image_need_docker: die unless a Docker daemon answers.
image_need_docker() {
    "$DOCKER" info >/dev/null 2>&1 || die "no Docker daemon reachable with $DOCKER (start one: scripts/dockerd.sh start)"
}

# image_base_rootfs ROOT BUSYBOX: busybox-static (sh, wget, …), /tmp, root's passwd and group
# entries, and the CA certificates.
image_base_rootfs() {
    local root=$1 busybox=$2 applet
    mkdir -p "$root"/{bin,usr/bin,etc/ssl/certs,tmp,proc,sys,dev,root}
    cp "$busybox" "$root/bin/busybox"
    for applet in sh wget cat ls mkdir rm sleep; do ln -sf busybox "$root/bin/$applet"; done
    if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
        cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
    fi
    chmod 1777 "$root/tmp"
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
    printf 'root:x:0:\n' >"$root/etc/group"
}

# image_add_binary ROOT BIN DEST: BIN at DEST in ROOT, with the shared libraries it links at
# the same paths.
image_add_binary() {
    local root=$1 bin=$2 dest=$3 lib
    mkdir -p "$root$(dirname "$dest")"
    cp "$bin" "$root$dest"
    while read -r lib; do
        [[ -n $lib && -e $lib ]] || continue
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done < <(ldd "$bin" | awk '/=>/ {print $3} /^\t\// {print $1}')
}

# image_pack ROOT TARBALL: a reproducible tar of ROOT (sorted, epoch mtimes, root-owned).
image_pack() {
    tar -C "$1" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu -cf "$2" .
}

# image_hash TARBALL RECIPE CMD_JSON: the content hash recorded in the image's label.
image_hash() {
    {
        sha256sum <"$1"
        printf 'recipe=%s\ncmd=%s\n' "$2" "$3"
    } | sha256sum | cut -c1-64
}

# image_current IMAGE LABEL HASH: whether IMAGE exists with that hash (and --force was not given);
# $image_have is the hash it has (empty when there is no such image).
image_current() {
    image_have=$("$DOCKER" image inspect -f "{{index .Config.Labels \"$2\"}}" "$1" 2>/dev/null || true)
    [[ $force == 0 && $image_have == "$3" ]]
}

# image_build ROOT IMAGE LABEL RECIPE CMD_JSON [--change INSTRUCTION]…: pack ROOT, hash it with
# RECIPE and CMD_JSON, and `docker import` it as IMAGE (with CMD CMD_JSON, LABEL LABEL=<hash> and
# the --change instructions given) unless an image with that hash is there already. Sets $hash,
# and $built (0|1).
image_build() {
    local root=$1 image=$2 label=$3 recipe=$4 cmd_json=$5 tarball=$work/rootfs.tar start
    shift 5
    image_pack "$root" "$tarball"
    hash=$(image_hash "$tarball" "$recipe" "$cmd_json")
    built=0
    if image_current "$image" "$label" "$hash"; then
        log "$image is up to date (${hash:0:12}); nothing to build"
        return 0
    fi
    if [[ -n $image_have ]]; then log "$image exists with another content hash (${image_have:0:12}); rebuilding"; fi
    start=$SECONDS
    "$DOCKER" import --change "CMD $cmd_json" --change "LABEL $label=$hash" "$@" "$tarball" "$image" >/dev/null
    built=1
    log "built $image (${hash:0:12}, $(du -h "$tarball" | cut -f1) rootfs) in $((SECONDS - start)) s"
}

# image_verify_wanted: whether to smoke-test (--verify, or a build under the default).
image_verify_wanted() {
    [[ $verify == yes || ($verify == auto && $built == 1) ]]
}

# image_smoke IMAGE CONTAINER_PORT PATH NEEDLE: run IMAGE with CONTAINER_PORT published on
# 127.0.0.1, GET PATH until the answer holds NEEDLE (10 s), and leave the container running as
# $verify_name (removed on exit) with its host port in $verify_port.
image_smoke() {
    local image=$1 cport=$2 path=$3 needle=$4 mapping body="" _
    verify_name="kilter-$IMAGE_TOOL-verify-$$"
    "$DOCKER" run -d --name "$verify_name" -p "127.0.0.1:0:$cport" "$image" >/dev/null
    mapping=$("$DOCKER" port "$verify_name" "$cport/tcp" | head -n1)
    verify_port=${mapping##*:}
    for _ in $(seq 1 100); do
        if body=$(
            exec 3<>"/dev/tcp/127.0.0.1/$verify_port" || exit 1
            printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$path" >&3
            cat <&3
        ) 2>/dev/null && [[ $body == *"$needle"* ]]; then
            return 0
        fi
        sleep 0.1
    done
    die "GET $path through 127.0.0.1:$verify_port did not answer with \"$needle\": $body"
}

# image_smoke_done: remove the smoke test's container.
image_smoke_done() {
    "$DOCKER" rm -f "$verify_name" >/dev/null
    verify_name=""
}
