#!/usr/bin/env bash
# Start a single-node SLURM cluster on localhost (partition `debug`) for the SLURM tests.
# Run as root. Safe to run again: daemons that already run are left alone.
# Installs slurm-wlm and munge with apt-get when they are missing (Debian/Ubuntu).
# Stop it with scripts/slurm_down.sh.
set -euo pipefail

CONF=/etc/slurm/slurm.conf
MUNGED_PID=/run/munge/munged.pid
SLURMCTLD_PID=/run/slurmctld.pid
SLURMD_PID=/run/slurmd.pid
WAIT_SECONDS=${SLURM_UP_WAIT_SECONDS:-60}

fail() {
    echo "slurm_up: $*" >&2
    exit 1
}

running() {  # running PIDFILE: the process named in PIDFILE is alive (a zombie is not)
    local state
    [[ -s "$1" ]] && state=$(ps -o stat= -p "$(cat "$1")") && [[ $state != Z* ]]
}

node_ready() {  # the node accepts jobs (idle, or busy with earlier jobs)
    sinfo -h -N -o %T 2>/dev/null | grep -Eqx 'idle|mixed|allocated|completing'
}

[[ $(id -u) -eq 0 ]] || fail "must run as root (it installs packages and starts daemons)"

if running "$SLURMCTLD_PID" && running "$SLURMD_PID" && node_ready; then
    echo "slurm_up: SLURM is already running"
    sinfo
    exit 0
fi

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    command -v apt-get >/dev/null || fail "slurm-wlm/munge are missing and apt-get is not available"
    echo "slurm_up: installing slurm-wlm and munge with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi
id munge >/dev/null 2>&1 || fail "user 'munge' is missing (the munge package creates it)"
id slurm >/dev/null 2>&1 || fail "user 'slurm' is missing (the slurm-wlm package creates it)"

if [[ ! -s /etc/munge/munge.key ]]; then
    mungekey --create --force 2>/dev/null ||
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
fi
install -d -o munge -g munge -m 0755 /run/munge
install -d -o slurm -g slurm /var/spool/slurmctld /var/log/slurm
install -d /var/spool/slurmd /etc/slurm

if ! running "$SLURMCTLD_PID"; then
    # RealMemory slightly below MemTotal: slurmd drains a node that reports less than configured.
    memory_mb=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 * 9 / 10))
    # No cgroups, no accounting database: linuxproc tracking, task/none, accounting off.
    # MinJobAge keeps finished jobs visible to squeue (Snakemake's status command) for 5 min.
    cat >"$CONF" <<CONF
ClusterName=rerolocal
SlurmctldHost=localhost
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
ReturnToService=2
MinJobAge=300
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$SLURMCTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$memory_mb State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
fi

if ! running "$MUNGED_PID"; then
    runuser -u munge -- /usr/sbin/munged || fail "munged did not start (see /var/log/munge/munged.log)"
fi
munge -n | unmunge >/dev/null || fail "munge authentication check failed"
if ! running "$SLURMCTLD_PID"; then
    # -c: start from a clean state (no jobs or node states left from an earlier, killed run).
    /usr/sbin/slurmctld -c || fail "slurmctld did not start (see /var/log/slurm/slurmctld.log)"
fi
if ! running "$SLURMD_PID"; then
    # The node is called localhost whatever the machine's hostname is.
    /usr/sbin/slurmd -N localhost || fail "slurmd did not start (see /var/log/slurm/slurmd.log)"
fi

for ((second = 0; second < WAIT_SECONDS; second++)); do
    if node_ready; then
        sinfo
        exit 0
    fi
    sleep 1
done
sinfo -N -l >&2 || true
tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
fail "node 'localhost' not idle after ${WAIT_SECONDS} s"
