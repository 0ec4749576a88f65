#!/usr/bin/env bash
# Unpack the real kind and Tilt of the real-tools tier, checking their sha256, into target/real-tools/.
#
# The binaries come zstd-compressed from the real-tools directory next to the repository
# (../shared/real-tools, read-only; its README says how they were built). They are never copied into
# the repository. Binaries already there with the right checksum are kept.
#
# Usage: scripts/unpack-real-tools.sh [DEST]
# Env:   KILTER_REAL_TOOLS      the real-tools directory (default <repo>/../shared/real-tools)
#        KILTER_REAL_TOOLS_BIN  DEST when no argument is given (default <repo>/target/real-tools)
# Exit:  0 unpacked or up to date; 3 the real-tools directory or zstd is missing; 1 a checksum differs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC=${KILTER_REAL_TOOLS:-$ROOT/../shared/real-tools}
DEST=${1:-${KILTER_REAL_TOOLS_BIN:-$ROOT/target/real-tools}}

# tool, compressed file, sha256 of the decompressed binary (from the real-tools README)
TOOLS=(
    "tilt tilt-v0.37.6-linux-amd64.zst 9f0346836d3fa635ec99aafdbc6d3c97e67d5628d719b5be9bf5576d24981f50"
    "kind kind-v0.32.0-linux-amd64.zst 3ca3b250e6a28fd07d5d20610a947ee81ef3fc7b8001fd87b60f95b46d1ea63b"
)

log() { printf 'unpack-real-tools: %s\n' "$*" >&2; }

if [[ ! -d $SRC ]]; then
    log "error: the real-tools directory $SRC does not exist (KILTER_REAL_TOOLS)"
    exit 3
fi
mkdir -p "$DEST"
for entry in "${TOOLS[@]}"; do
    read -r tool file sum <<<"$entry"
    if [[ -x $DEST/$tool ]] && [[ $(sha256sum <"$DEST/$tool" | cut -c1-64) == "$sum" ]]; then
        continue
    fi
    if [[ ! -f $SRC/$file ]]; then
        log "error: $SRC/$file is missing"
        exit 3
    fi
    if ! command -v zstd >/dev/null 2>&1; then
        log "error: zstd is not installed (Debian: apt-get install zstd)"
        exit 3
    fi
    zstd -dqf "$SRC/$file" -o "$DEST/$tool.tmp"
    chmod +x "$DEST/$tool.tmp"
    got=$(sha256sum <"$DEST/$tool.tmp" | cut -c1-64)
    if [[ $got != "$sum" ]]; then
        rm -f "$DEST/$tool.tmp"
        log "error: $file decompresses to sha256 $got, expected $sum"
        exit 1
    fi
    mv -f "$DEST/$tool.tmp" "$DEST/$tool"
    log "unpacked $tool into $DEST"
done
