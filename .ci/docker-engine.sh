#!/usr/bin/env bash
# Install, start and stop the Docker engine that the container lane needs.
#
#   .ci/docker-engine.sh install   # apt-get install docker.io & co. when missing
#   .ci/docker-engine.sh start     # start dockerd unless one already answers
#   .ci/docker-engine.sh stop      # stop dockerd, only if `start` started it
#   .ci/docker-engine.sh status    # say whether an engine answers
#
# Always the Debian client /usr/bin/docker (20.10, classic builder + BuildKit
# via DOCKER_BUILDKIT=1); a newer `docker` earlier on PATH may want buildx.
#
# State lives in ${TMPDIR:-/tmp}/flamenco-pipeline-docker-engine/:
#   dockerd.state   started_by_us=0|1, pid=..., log=...
#   dockerd.log     dockerd's output when we started it
set -euo pipefail

DOCKER=/usr/bin/docker
STATE_DIR="${TMPDIR:-/tmp}/flamenco-pipeline-docker-engine"
STATE_FILE="$STATE_DIR/dockerd.state"
LOG_FILE="$STATE_DIR/dockerd.log"
START_TIMEOUT="${DOCKER_ENGINE_START_TIMEOUT:-60}"
STOP_TIMEOUT="${DOCKER_ENGINE_STOP_TIMEOUT:-30}"

say() { printf 'docker-engine: %s\n' "$*"; }
die() { printf 'docker-engine: error: %s\n' "$*" >&2; exit 1; }

engine_answers() {
    [ -x "$DOCKER" ] || return 1
    timeout 10 "$DOCKER" info >/dev/null 2>&1
}

server_version() {
    timeout 10 "$DOCKER" version --format '{{.Server.Version}}' 2>/dev/null || echo unknown
}

dockerd_bin() {
    command -v dockerd 2>/dev/null || { [ -x /usr/sbin/dockerd ] && echo /usr/sbin/dockerd; } || true
}

state_get() { # key -> value from the state file (empty if absent)
    [ -f "$STATE_FILE" ] || return 0
    sed -n "s/^$1=//p" "$STATE_FILE" | head -n1
}

alive() { # pid -> true if that process exists and is not a zombie
    local stat
    stat="$(ps -o stat= -p "$1" 2>/dev/null || true)"
    [ -n "$stat" ] && [ "${stat#Z}" = "$stat" ]
}

pid_is_dockerd() { # pid -> true if that process is alive and is a dockerd
    local pid="$1"
    [ -n "$pid" ] && alive "$pid" && [ "$(ps -o comm= -p "$pid" 2>/dev/null)" = dockerd ]
}

cmd_install() {
    local missing=()
    [ -x "$DOCKER" ] || missing+=("$DOCKER")
    [ -n "$(dockerd_bin)" ] || missing+=(dockerd)
    command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
    command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
    command -v iptables >/dev/null 2>&1 || [ -x /usr/sbin/iptables ] || missing+=(iptables)
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    say "missing: ${missing[*]}; installing from Debian's packages"
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    local log
    log="$(mktemp "${TMPDIR:-/tmp}/docker-engine-install.XXXXXX")"
    if ! { "${sudo[@]}" apt-get update -qq &&
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 \
            apt-get install -y -qq --no-install-recommends \
            docker.io debootstrap docker-compose iptables ca-certificates tar; } >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        rm -f "$log"
        die "apt-get install failed"
    fi
    rm -f "$log"
    say "installed: docker.io debootstrap docker-compose iptables"
}

cmd_start() {
    if engine_answers; then
        # Keep the record of an engine that an earlier `start` of ours launched;
        # otherwise record that this one is not ours, so `stop` leaves it alone.
        if [ "$(state_get started_by_us)" = 1 ] && pid_is_dockerd "$(state_get pid)"; then
            say "engine already running (server $(server_version)), started earlier by this script (dockerd pid $(state_get pid))"
        else
            say "engine already running (server $(server_version)); not started by this script, 'stop' will leave it"
            mkdir -p "$STATE_DIR"
            printf 'started_by_us=0\n' >"$STATE_FILE"
        fi
        return 0
    fi

    local dockerd
    dockerd="$(dockerd_bin)"
    [ -n "$dockerd" ] || die "dockerd not found; run '$0 install' first"
    [ "$(id -u)" -eq 0 ] || die "starting dockerd needs root"

    mkdir -p "$STATE_DIR"
    : >"$LOG_FILE"
    say "starting $dockerd (log: $LOG_FILE)"
    # setsid: its own session, so it outlives this shell and its process group.
    setsid "$dockerd" >>"$LOG_FILE" 2>&1 </dev/null &
    local pid=$!
    printf 'started_by_us=1\npid=%s\nlog=%s\n' "$pid" "$LOG_FILE" >"$STATE_FILE"

    local deadline=$((SECONDS + START_TIMEOUT))
    while ! engine_answers; do
        if ! alive "$pid"; then
            rm -f "$STATE_FILE"
            tail -n 40 "$LOG_FILE" >&2 || true
            die "dockerd (pid $pid) exited before the engine answered"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            tail -n 40 "$LOG_FILE" >&2 || true
            die "engine did not answer within ${START_TIMEOUT}s (dockerd pid $pid still running; '$0 stop' stops it)"
        fi
        sleep 0.5
    done
    say "engine up (server $(server_version), dockerd pid $pid)"
}

cmd_stop() {
    if [ ! -f "$STATE_FILE" ]; then
        say "no record of a dockerd started by this script; nothing to stop"
        return 0
    fi
    if [ "$(state_get started_by_us)" != 1 ]; then
        say "the running engine was not started by this script; leaving it"
        rm -f "$STATE_FILE"
        return 0
    fi
    local pid
    pid="$(state_get pid)"
    if ! pid_is_dockerd "$pid"; then
        say "dockerd pid ${pid:-?} is no longer running"
        rm -f "$STATE_FILE"
        return 0
    fi
    # Its own containerd (a child when none was running) goes down with it on
    # SIGTERM; remember it in case we have to KILL.
    local children
    children="$(ps -o pid= --ppid "$pid" 2>/dev/null | tr -s ' \n' ' ' || true)"
    say "stopping dockerd pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + STOP_TIMEOUT))
    while alive "$pid"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            say "dockerd pid $pid still running after ${STOP_TIMEOUT}s; sending KILL"
            kill -KILL "$pid" 2>/dev/null || true
            local c
            for c in $children; do kill -KILL "$c" 2>/dev/null || true; done
            break
        fi
        sleep 0.5
    done
    rm -f "$STATE_FILE"
    say "stopped"
}

cmd_status() {
    if engine_answers; then
        say "engine answers (server $(server_version)); started_by_us=$(state_get started_by_us)"
    else
        say "no engine answers"
        return 1
    fi
}

case "${1:-}" in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *)
        echo "usage: $0 {install|start|stop|status}" >&2
        exit 2
        ;;
esac
