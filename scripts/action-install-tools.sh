#!/usr/bin/env bash
# Install kind, kubectl and tilt for a GitHub Actions job, each checksum-verified, and put them on the
# job's PATH. Used by the repository's composite action (action.yml); runs on Linux x86_64 and arm64.
#
# Env: KIND_VERSION     e.g. v0.32.0
#      KUBECTL_VERSION  e.g. v1.36.1
#      TILT_VERSION     e.g. 0.37.6 (no leading v)
#      KIND_SHA256, KUBECTL_SHA256, TILT_SHA256
#                       optional pins of the downloads' sha256 (for x86_64, the defaults' digests are
#                       built in below); a download whose digest differs is refused
#      TOOLS_DIR        where the binaries go (default: $RUNNER_TEMP/kilter-tools/bin)
#
# Without a pin, the digest each project publishes next to its release is used: kind's
# `<binary>.sha256sum`, dl.k8s.io's `<binary>.sha256`, tilt's `checksums.txt`.
set -euo pipefail

: "${KIND_VERSION:?KIND_VERSION is not set}"
: "${KUBECTL_VERSION:?KUBECTL_VERSION is not set}"
: "${TILT_VERSION:?TILT_VERSION is not set}"
TILT_VERSION=${TILT_VERSION#v}
bin=${TOOLS_DIR:-${RUNNER_TEMP:-/tmp}/kilter-tools/bin}
dl=$(mktemp -d "${RUNNER_TEMP:-/tmp}/kilter-dl.XXXXXX")
trap 'rm -rf "$dl"' EXIT
mkdir -p "$bin"

case "$(uname -s)/$(uname -m)" in
    Linux/x86_64) arch=amd64 tilt_arch=x86_64 ;;
    Linux/aarch64 | Linux/arm64) arch=arm64 tilt_arch=arm64 ;;
    *)
        echo "::error title=kilter action::unsupported runner $(uname -s)/$(uname -m): kind needs a Linux runner with Docker"
        exit 1
        ;;
esac

# Digests of the default versions' x86_64 downloads.
if [[ $arch == amd64 ]]; then
    [[ $KIND_VERSION == v0.32.0 ]] && : "${KIND_SHA256:=50030de23cf40a18505f20426f6a8506bedf13c6e509244bd1fa9463721b0f54}"
    [[ $TILT_VERSION == 0.37.6 ]] && : "${TILT_SHA256:=e9672b8a18d43501f35dcfe98465969a7db0e436b36cf0c50c7e6f8d40de5fe6}"
fi

fetch() { curl -fsSL --retry 5 --retry-connrefused --max-time 300 -o "$2" "$1"; }

# verify FILE WANT WHAT: refuse a download whose sha256 is not WANT.
verify() {
    local got
    got=$(sha256sum "$1" | cut -d' ' -f1)
    if [[ -z $2 || $got != "$2" ]]; then
        echo "::error title=kilter action::checksum mismatch for $3: expected ${2:-<none published>}, got $got"
        exit 1
    fi
    echo "$3: sha256 $got ok"
}

# The first field of the line of a checksums file that names FILE.
published() { awk -v f="$2" '$2 == f || $2 == "*" f { print $1; exit }' "$1"; }

# kind
name="kind-linux-$arch"
url="https://github.com/kubernetes-sigs/kind/releases/download/$KIND_VERSION/$name"
fetch "$url" "$dl/kind"
if [[ -z ${KIND_SHA256:-} ]]; then
    fetch "$url.sha256sum" "$dl/kind.sha256sum"
    KIND_SHA256=$(published "$dl/kind.sha256sum" "$name")
fi
verify "$dl/kind" "$KIND_SHA256" "kind $KIND_VERSION"
install -m 0755 "$dl/kind" "$bin/kind"

# kubectl
url="https://dl.k8s.io/release/$KUBECTL_VERSION/bin/linux/$arch/kubectl"
fetch "$url" "$dl/kubectl"
if [[ -z ${KUBECTL_SHA256:-} ]]; then
    fetch "$url.sha256" "$dl/kubectl.sha256"
    KUBECTL_SHA256=$(tr -d '[:space:]' <"$dl/kubectl.sha256")
fi
verify "$dl/kubectl" "$KUBECTL_SHA256" "kubectl $KUBECTL_VERSION"
install -m 0755 "$dl/kubectl" "$bin/kubectl"

# tilt
name="tilt.$TILT_VERSION.linux.$tilt_arch.tar.gz"
base="https://github.com/tilt-dev/tilt/releases/download/v$TILT_VERSION"
fetch "$base/$name" "$dl/tilt.tar.gz"
if [[ -z ${TILT_SHA256:-} ]]; then
    fetch "$base/checksums.txt" "$dl/tilt.checksums"
    TILT_SHA256=$(published "$dl/tilt.checksums" "$name")
fi
verify "$dl/tilt.tar.gz" "$TILT_SHA256" "tilt $TILT_VERSION"
tar -xzf "$dl/tilt.tar.gz" -C "$dl" tilt
install -m 0755 "$dl/tilt" "$bin/tilt"

if [[ -n ${GITHUB_PATH:-} ]]; then echo "$bin" >>"$GITHUB_PATH"; fi
"$bin/kind" version
"$bin/kubectl" version --client
"$bin/tilt" version
