#!/usr/bin/env bash
# Unpack the real Tilt and kind that the real-tools test tiers run into target/real-tools/, and check
# their sha256. They are built from their sources for this machine kind and kept outside the repository
# (../shared/real-tools: README.md there says how they were built); this copies nothing into git.
#
#   scripts/real-tools.sh          unpack (again only when missing or changed), print the versions
#
# Env: KILTER_REAL_TOOLS_SRC  where the .zst files are (default: ../shared/real-tools next to the repo)
# Exit: 0 unpacked and verified; 3 the source directory is missing (a skip outside CI, a failure under
#       CI=true, decided by the caller); 1 anything else (a wrong checksum, no zstd).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
src=${KILTER_REAL_TOOLS_SRC:-$PWD/../shared/real-tools}
dest=target/real-tools

# name, compressed file, sha256 of the decompressed binary (../shared/real-tools/README.md)
tools=(
    "tilt tilt-v0.37.6-linux-amd64.zst 9f0346836d3fa635ec99aafdbc6d3c97e67d5628d719b5be9bf5576d24981f50"
    "kind kind-v0.32.0-linux-amd64.zst 3ca3b250e6a28fd07d5d20610a947ee81ef3fc7b8001fd87b60f95b46d1ea63b"
)

if [[ ! -d $src ]]; then
    echo "real-tools.sh: no $src (the real Tilt and kind of the real-tools tiers)" >&2
    exit 3
fi
command -v zstd >/dev/null || {
    echo "real-tools.sh: zstd is not installed (apt-get install zstd)" >&2
    exit 1
}
mkdir -p "$dest"
for entry in "${tools[@]}"; do
    read -r name file sum <<<"$entry"
    out=$dest/$name
    if [[ -x $out ]] && echo "$sum  $out" | sha256sum -c --status; then
        echo "$name: $out (unchanged)"
        continue
    fi
    [[ -f $src/$file ]] || {
        echo "real-tools.sh: $src/$file is missing" >&2
        exit 1
    }
    zstd -dqf "$src/$file" -o "$out.tmp"
    if ! echo "$sum  $out.tmp" | sha256sum -c --status; then
        rm -f "$out.tmp"
        echo "real-tools.sh: $file does not decompress to the binary whose sha256 is $sum" >&2
        exit 1
    fi
    chmod +x "$out.tmp"
    mv -f "$out.tmp" "$out"
    echo "$name: $out (unpacked)"
done
"$dest/tilt" version
"$dest/kind" version
