#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for `make test-cluster`: munged, slurmctld and
# slurmd on localhost (Debian's slurm-wlm and munge, installed with apt-get if missing).
#
#   workflow/cluster/slurm-local.sh up        install if needed, start the daemons, wait for the node
#   workflow/cluster/slurm-local.sh down      stop the daemons this script started
#   workflow/cluster/slurm-local.sh status    sinfo and the daemons' pids
#   workflow/cluster/slurm-local.sh run -- CMD...   up, CMD, down (also when CMD fails or is interrupted)
#
# Without slurmdbd there is no `sacct`: Snakemake's SLURM executor follows jobs with `squeue`
# (MinJobAge=300 keeps finished jobs visible long enough), and slurmctld writes one line per
# finished job to the job-completion log ($STATE/jobcomp.log), the scheduler's own record.
# The daemons' state, spool and logs live under .cache/slurm/ (SSLPIPE_SLURM_DIR); the
# configuration is /etc/slurm/slurm.conf, where srun inside jobs looks for it (Snakemake's job
# step drops SLURM_CONF from the environment); a slurm.conf this script did not write is never
# touched.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE=${SSLPIPE_SLURM_DIR:-$ROOT/.cache/slurm}
CONF=/etc/slurm/slurm.conf
MARK="# written by sslpipe workflow/cluster/slurm-local.sh"
STARTED=$STATE/started   # the daemons this script started (one name a line)

die() { echo "error: slurm-local: $*" >&2; exit 1; }
log() { echo "slurm-local: $*" >&2; }

check_host() {
    local missing=()
    [ "$(id -u)" = 0 ] || die "the SLURM daemons (slurmd runs jobs as their user) and munged need root; this shell is $(id -un). Fix: run as root (e.g. sudo make test-cluster)."
    for tool in slurmctld slurmd sbatch squeue sinfo scontrol munged munge; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and there is no apt-get to install Debian's slurm-wlm and munge. Fix: install SLURM (slurmctld, slurmd, client tools) and MUNGE with this system's package manager."
        log "installing slurm-wlm and munge (missing: ${missing[*]})"
        apt-get update -q >/dev/null || die "apt-get update failed (no package mirror reachable?). Fix: make Debian's package mirror reachable or install slurm-wlm and munge by hand."
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null \
            || die "apt-get install slurm-wlm munge failed. Fix: see apt-get's message above."
    fi
    for tool in slurmctld slurmd sbatch squeue munged; do
        command -v "$tool" >/dev/null 2>&1 || die "$tool is still missing after installing slurm-wlm and munge."
    done
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
started() { grep -qx "$1" "$STARTED" 2>/dev/null; }

start_munge() {
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        log "munged already running (left as it is)"
        return
    fi
    getent passwd munge >/dev/null || die "user munge is missing (the munge package creates it). Fix: apt-get install --reinstall munge."
    mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
    if [ ! -s /etc/munge/munge.key ]; then
        if command -v mungekey >/dev/null; then mungekey --create --keyfile=/etc/munge/munge.key
        else dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null; fi
    fi
    chown munge:munge /etc/munge /etc/munge/munge.key /var/lib/munge /var/log/munge /run/munge
    chmod 0700 /etc/munge /var/lib/munge /var/log/munge
    chmod 0400 /etc/munge/munge.key
    chmod 0755 /run/munge
    runuser -u munge -- /usr/sbin/munged || die "munged did not start: $(tail -n 3 /var/log/munge/munged.log 2>/dev/null)"
    echo munged >>"$STARTED"
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return; sleep 0.1; done
    die "munged started but does not answer: $(tail -n 3 /var/log/munge/munged.log 2>/dev/null)"
}

write_conf() {
    if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
        die "$CONF exists and was not written by this script (a real cluster's configuration?). Fix: run the local test cluster on a machine without SLURM configured, or move $CONF away."
    fi
    local cpus mem
    cpus=$(nproc)
    mem=$(slurmd -C 2>/dev/null | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
    [ -n "$mem" ] || mem=$(( $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) ))
    mem=$(( mem > 2048 ? mem - 1024 : mem ))
    mkdir -p /etc/slurm "$STATE/ctld" "$STATE/spool"
    cat >"$CONF" <<EOF
$MARK (a one-node test cluster; removed by its 'down')
ClusterName=sslpipe-local
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/jobcomp.log
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=100
MinJobAge=300
ReturnToService=2
MpiDefault=none
SchedulerType=sched/backfill
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
}

up() {
    check_host
    mkdir -p "$STATE"
    if pid_alive "$STATE/slurmctld.pid" && pid_alive "$STATE/slurmd.pid"; then
        log "already up"
        return
    fi
    touch "$STARTED"
    start_munge
    write_conf
    rm -rf "$STATE/ctld"/* # a fresh controller state: no jobs left from an earlier cluster
    if ! pid_alive "$STATE/slurmctld.pid"; then
        slurmctld -i || die "slurmctld did not start: $(tail -n 5 "$STATE/slurmctld.log" 2>/dev/null)"
        echo slurmctld >>"$STARTED"
    fi
    if ! pid_alive "$STATE/slurmd.pid"; then
        slurmd -N localhost || die "slurmd did not start: $(tail -n 5 "$STATE/slurmd.log" 2>/dev/null)"
        echo slurmd >>"$STARTED"
    fi
    local state=""
    for _ in $(seq 60); do
        state=$(sinfo -h -N -o %T 2>/dev/null | head -n 1)
        case "$state" in idle|mixed|allocated) log "node localhost $state ($(nproc) CPUs)"; return ;; esac
        sleep 0.5
    done
    die "the node did not come up (state '${state:-none}'). slurmctld log: $(tail -n 5 "$STATE/slurmctld.log" 2>/dev/null) / slurmd log: $(tail -n 5 "$STATE/slurmd.log" 2>/dev/null)"
}

stop_pid() {  # name pidfile
    local pidfile=$2 pid
    pid_alive "$pidfile" || return 0
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || { log "stopped $1"; return 0; }; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    log "killed $1 (did not stop in 10 s)"
}

down() {
    [ -f "$STARTED" ] || { log "nothing started here"; return 0; }
    if started slurmctld || started slurmd; then
        scancel --state=PENDING,RUNNING -u root >/dev/null 2>&1 || true
    fi
    started slurmd && stop_pid slurmd "$STATE/slurmd.pid"
    started slurmctld && stop_pid slurmctld "$STATE/slurmctld.pid"
    started munged && stop_pid munged /run/munge/munged.pid
    if [ -f "$CONF" ] && grep -qF "$MARK" "$CONF"; then rm -f "$CONF"; fi
    rm -f "$STARTED"
}

status() {
    sinfo 2>&1 || true
    for d in slurmctld slurmd; do pid_alive "$STATE/$d.pid" && echo "$d: pid $(cat "$STATE/$d.pid")" || echo "$d: not running"; done
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    run)
        shift
        [ "${1:-}" = "--" ] && shift
        [ $# -gt 0 ] || die "run needs a command: slurm-local.sh run -- CMD..."
        trap down EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        up
        "$@"
        ;;
    *) echo "usage: $0 up|down|status|run -- CMD..." >&2; exit 2 ;;
esac
