#!/usr/bin/env bash
# kilter itself for the GitHub Action (action.yml).
#
# Usage: action-kilter.sh locations   write the action's paths and the cache key of the kilter build
#                                     to $GITHUB_OUTPUT (artifacts, image-tar, kilter-root, kilter-key)
#        action-kilter.sh install     cargo install kilter into KILTER_ROOT: from KILTER_REF of
#                                     KILTER_GIT (default https://github.com/$ACTION_REPOSITORY), else
#                                     from the action's own checkout ($GITHUB_ACTION_PATH)
#        action-kilter.sh path        put KILTER_ROOT/bin on the job's PATH
#
# Env: ARTIFACTS, KILTER_REF, KILTER_GIT, ACTION_REPOSITORY, KILTER_ROOT, GITHUB_ACTION_PATH,
#      RUNNER_TEMP, GITHUB_OUTPUT, GITHUB_PATH
set -euo pipefail

action=${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set}
temp=${RUNNER_TEMP:-/tmp}

case ${1:-} in
    locations)
        {
            echo "artifacts=${ARTIFACTS:-$temp/kilter-artifacts}"
            echo "image-tar=$temp/kilter-node-image.tar"
            echo "kilter-root=$temp/kilter"
            # What kilter is built from, when that names one build: a ref, or a clean checkout's commit.
            if [[ -n ${KILTER_REF:-} ]]; then
                echo "kilter-key=ref-$KILTER_REF"
            elif rev=$(git -C "$action" rev-parse HEAD 2>/dev/null) && git -C "$action" diff --quiet HEAD 2>/dev/null; then
                echo "kilter-key=rev-$rev"
            fi
        } >>"${GITHUB_OUTPUT:-/dev/stdout}"
        ;;
    install)
        root=${KILTER_ROOT:?KILTER_ROOT is not set}
        if [[ -n ${KILTER_REF:-} ]]; then
            git_url=${KILTER_GIT:-https://github.com/${ACTION_REPOSITORY:?ACTION_REPOSITORY is not set}}
            cargo install --locked --root "$root" --git "$git_url" --rev "$KILTER_REF" kilter
        else
            cargo install --locked --root "$root" --path "$action" --target-dir "$action/target"
        fi
        ;;
    path)
        root=${KILTER_ROOT:?KILTER_ROOT is not set}
        if [[ -n ${GITHUB_PATH:-} ]]; then echo "$root/bin" >>"$GITHUB_PATH"; fi
        "$root/bin/kilter" --version
        ;;
    *)
        echo "usage: $0 locations|install|path" >&2
        exit 2
        ;;
esac
