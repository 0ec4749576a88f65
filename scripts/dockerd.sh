#!/usr/bin/env bash
# Start, stop or report a local Docker daemon for the real-Docker tests.
#
# Usage: scripts/dockerd.sh start|stop|status [-q]
#   start   if `docker info` already works, do nothing ("already running"); else start dockerd in the
#           background (detached, its own session), wait for `docker info`, and record that we started it.
#           If dockerd dies at once, retry with more conservative settings (vfs storage; then no iptables,
#           where published ports still work through docker-proxy).
#   stop    stop dockerd only if this script started it; anything else is left alone.
#   status  say whether a daemon answers, and whether this script started it. Exit 0 if it answers, 1 if not.
#   -q      print nothing but errors.
#
# Env: DOCKER                       client to use (default /usr/bin/docker if present, else `docker`)
#      KILTER_DOCKERD_STATE_DIR     pid/log/flags (default ${TMPDIR:-/tmp}/kilter-dockerd)
#      KILTER_DOCKERD_TIMEOUT       seconds to wait for the daemon (default 60)
#      KILTER_DOCKERD_FLAGS         extra dockerd flags; when set, no fallback is tried
set -euo pipefail

export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

STATE_DIR=${KILTER_DOCKERD_STATE_DIR:-${TMPDIR:-/tmp}/kilter-dockerd}
PIDFILE=$STATE_DIR/dockerd.pid # exists only while a dockerd started by this script may be running
LOGFILE=$STATE_DIR/dockerd.log
FLAGSFILE=$STATE_DIR/dockerd.flags
TIMEOUT=${KILTER_DOCKERD_TIMEOUT:-60}

if [[ -z ${DOCKER:-} ]]; then
    if [[ -x /usr/bin/docker ]]; then DOCKER=/usr/bin/docker; else DOCKER=docker; fi
fi

quiet=0
cmd=""
for arg in "$@"; do
    case $arg in
        -q | --quiet) quiet=1 ;;
        start | stop | status) cmd=$arg ;;
        -h | --help)
            sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "dockerd.sh: unknown argument: $arg (usage: dockerd.sh start|stop|status [-q])" >&2
            exit 2
            ;;
    esac
done
[[ -n $cmd ]] || {
    echo "usage: dockerd.sh start|stop|status [-q]" >&2
    exit 2
}

say() { if [[ $quiet == 0 ]]; then printf 'dockerd.sh: %s\n' "$*"; fi; }
err() { printf 'dockerd.sh: error: %s\n' "$*" >&2; }

# True when a daemon answers (old clients may exit 0 with a "Cannot connect" error, so check the output).
daemon_up() {
    local v
    v=$("$DOCKER" version --format '{{.Server.Version}}' 2>/dev/null) || return 1
    [[ -n $v ]]
}

# The pid this script recorded, if that process is still a dockerd.
our_pid() {
    local pid
    [[ -f $PIDFILE ]] || return 1
    pid=$(<"$PIDFILE")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/comm && $(<"/proc/$pid/comm") == dockerd ]] || return 1
    printf '%s\n' "$pid"
}

describe() {
    "$DOCKER" info --format \
        'server {{.ServerVersion}}, storage driver {{.Driver}}, cgroup {{.CgroupDriver}} v{{.CgroupVersion}}, {{.ContainersRunning}} running container(s)' \
        2>/dev/null || true
}

# Start dockerd with the given flags; return 0 once it answers, 1 if it died, 2 if it timed out.
try_start() {
    local pid deadline
    LOG_FROM=$(($(wc -l <"$LOGFILE" 2>/dev/null || echo 0) + 1))
    {
        printf '\n==== %s: dockerd %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"
    } >>"$LOGFILE"
    # setsid: its own session, so a Ctrl-C in the calling terminal or the end of a CI step's process
    # group does not take the daemon down half-way; stdin from /dev/null (CI has none).
    setsid dockerd "$@" </dev/null >>"$LOGFILE" 2>&1 &
    pid=$!
    printf '%s\n' "$pid" >"$PIDFILE"
    printf '%s\n' "$*" >"$FLAGSFILE"
    deadline=$((SECONDS + TIMEOUT))
    while ((SECONDS < deadline)); do
        if daemon_up; then return 0; fi
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid" 2>/dev/null || true
            rm -f "$PIDFILE"
            return 1
        fi
        sleep 0.2
    done
    return 2
}

# The lines this attempt wrote to the log, without the chatty info lines.
log_tail() {
    tail -n "+${LOG_FROM:-1}" "$LOGFILE" 2>/dev/null | grep -v 'level=info' | tail -n "$1" >&2 || true
}

stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    # dockerd stops its containers first (their own stop timeout, 10 s by default), then containerd.
    for ((i = 0; i < 300; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    err "dockerd (pid $pid) still running after 30 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
}

case $cmd in
    status)
        if daemon_up; then
            if pid=$(our_pid); then
                say "running, started by scripts/dockerd.sh (pid $pid, flags: $(cat "$FLAGSFILE" 2>/dev/null || true)); log $LOGFILE"
            else
                say "running, not started by scripts/dockerd.sh"
            fi
            say "$(describe)"
            exit 0
        fi
        say "not running (no answer from $DOCKER)"
        exit 1
        ;;

    start)
        if daemon_up; then
            if pid=$(our_pid); then
                say "already running (started earlier by scripts/dockerd.sh, pid $pid)"
            else
                say "already running"
            fi
            exit 0
        fi
        if [[ $(id -u) != 0 ]]; then
            err "no Docker daemon answers and starting dockerd needs root (try: sudo $0 start)"
            exit 1
        fi
        if ! command -v dockerd >/dev/null 2>&1; then
            err "dockerd not found: install Debian's docker.io (apt-get install docker.io)"
            exit 1
        fi
        mkdir -p "$STATE_DIR"
        if pid=$(our_pid); then
            # Ours, alive, but not answering: a hung earlier start. Replace it.
            say "an earlier dockerd (pid $pid) does not answer; stopping it"
            stop_pid "$pid"
        fi
        rm -f "$PIDFILE"

        if [[ -n ${KILTER_DOCKERD_FLAGS:-} ]]; then
            attempts=("${KILTER_DOCKERD_FLAGS}")
        else
            # 1. the defaults: overlay2, iptables NAT and the docker0 bridge (works on this project's machines);
            # 2. vfs storage, for kernels or filesystems without overlayfs;
            # 3. vfs and no iptables: the bridge stays, so `-p 127.0.0.1:H:C` still works via docker-proxy.
            attempts=("" "--storage-driver=vfs" "--storage-driver=vfs --iptables=false --ip-masq=false")
        fi
        started=$SECONDS
        for flags in "${attempts[@]}"; do
            extra=()
            if [[ -n $flags ]]; then read -r -a extra <<<"$flags"; fi
            say "starting dockerd ${flags:-(default settings)}; log $LOGFILE"
            rc=0
            try_start "${extra[@]}" || rc=$?
            if [[ $rc == 0 ]]; then
                say "started (pid $(cat "$PIDFILE")) in $((SECONDS - started)) s: $(describe)"
                exit 0
            fi
            if [[ $rc == 2 ]]; then
                err "dockerd did not answer within ${TIMEOUT} s; last lines of $LOGFILE:"
                log_tail 30
                if pid=$(our_pid); then stop_pid "$pid"; fi
                rm -f "$PIDFILE"
                exit 1
            fi
            err "dockerd ${flags:-(default settings)} exited at once; last lines of $LOGFILE:"
            log_tail 15
        done
        err "could not start dockerd with any settings"
        exit 1
        ;;

    stop)
        if pid=$(our_pid); then
            say "stopping dockerd (pid $pid)"
            stop_pid "$pid"
            rm -f "$PIDFILE"
            say "stopped"
        else
            rm -f "$PIDFILE"
            if daemon_up; then
                say "dockerd was not started by scripts/dockerd.sh; leaving it running"
            else
                say "not running"
            fi
        fi
        ;;
esac
