#!/usr/bin/env bash
# Stop the single-node SLURM cluster of scripts/slurm_up.sh: each daemon by its PID file.
set -euo pipefail

WAIT_SECONDS=${SLURM_DOWN_WAIT_SECONDS:-20}

alive() {  # alive PID: the process runs (a zombie whose parent has not reaped it yet does not)
    local state
    state=$(ps -o stat= -p "$1") && [[ $state != Z* ]]
}

stop() {  # stop NAME PIDFILE: SIGTERM, wait, then SIGKILL
    local name=$1 pidfile=$2 pid
    [[ -s "$pidfile" ]] || return 0
    pid=$(cat "$pidfile")
    if ! alive "$pid"; then
        rm -f "$pidfile"
        return 0
    fi
    kill "$pid"
    for ((tenth = 0; tenth < WAIT_SECONDS * 10; tenth++)); do
        alive "$pid" || {
            echo "slurm_down: stopped $name (pid $pid)"
            rm -f "$pidfile"
            return 0
        }
        sleep 0.1
    done
    echo "slurm_down: $name (pid $pid) ignored SIGTERM for ${WAIT_SECONDS} s, sending SIGKILL" >&2
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
}

stop slurmd /run/slurmd.pid
stop slurmctld /run/slurmctld.pid
stop munged /run/munge/munged.pid
