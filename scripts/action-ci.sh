#!/usr/bin/env bash
# `kilter ci` for the GitHub Action (action.yml), its flags built from the action's inputs (passed as
# environment variables, never pasted into the script). Writes `exit-code` to $GITHUB_OUTPUT and exits
# with kilter's code.
#
# Env: CI_TIMEOUT, CI_ARTIFACTS, CI_RESTORE (optional), CI_KEEP, CI_KEEP_ON_FAILURE (true|false),
#      CI_ARGS (optional extra flags, split on whitespace)
set -uo pipefail

args=(ci)
[[ -n ${CI_TIMEOUT:-} ]] && args+=(--timeout "$CI_TIMEOUT")
[[ -n ${CI_ARTIFACTS:-} ]] && args+=(--artifacts "$CI_ARTIFACTS")
[[ -n ${CI_RESTORE:-} ]] && args+=(--restore "$CI_RESTORE")
[[ ${CI_KEEP:-false} == true ]] && args+=(--keep)
[[ ${CI_KEEP_ON_FAILURE:-false} == true ]] && args+=(--keep-on-failure)
if [[ -n ${CI_ARGS:-} ]]; then
    read -r -a extra <<<"$CI_ARGS"
    args+=("${extra[@]}")
fi

echo "kilter ${args[*]}"
kilter "${args[@]}"
code=$?
if [[ -n ${GITHUB_OUTPUT:-} ]]; then echo "exit-code=$code" >>"$GITHUB_OUTPUT"; fi
exit "$code"
