#!/usr/bin/env bash
# Start a private single-node Slurm (munged + slurmctld + slurmd on localhost) whose every file
# lives under STATE_DIR. Usage:
#
#   tests/slurm/slurm-up.sh STATE_DIR [MAX_ARRAY_SIZE]
#
# STATE_DIR must not exist yet (or be empty). On success it prints `SLURM_CONF=STATE_DIR/slurm.conf`
# on stdout; commands (sbatch, squeue, ...) reach this cluster when SLURM_CONF is exported.
# Stop it with tests/slurm/slurm-down.sh STATE_DIR (also after a failed start). If this script
# fails it stops what it started and removes STATE_DIR itself.
#
# Needs: root, Debian's slurm-wlm and munge packages. No cgroups:
# ProctrackType=proctrack/linuxproc, TaskPlugin=task/none. The system munged/slurm (if any) are
# not touched: this munged listens on its own socket, Slurm uses its own ports and config.
set -euo pipefail

if (($# < 1 || $# > 2)); then
    echo "usage: $0 STATE_DIR [MAX_ARRAY_SIZE]" >&2
    exit 2
fi
state=$1
max_array=${2:-1001}
here=$(cd "$(dirname "$0")" && pwd)

for bin in munged mungekey slurmctld slurmd scontrol sinfo; do
    if ! command -v "$bin" >/dev/null 2>&1; then
        echo "slurm-up: '$bin' not found on PATH (apt-get install slurm-wlm munge)" >&2
        exit 3
    fi
done
if [[ $(id -u) != 0 ]]; then
    echo "slurm-up: must run as root (slurmd starts jobs as their submitting user)" >&2
    exit 3
fi
if [[ -e $state && -n $(ls -A "$state" 2>/dev/null) ]]; then
    echo "slurm-up: $state exists and is not empty; refusing to reuse it" >&2
    exit 2
fi

mkdir -p "$state"
state=$(cd "$state" && pwd)
# From here on, any failure tears down what was started.
fail() {
    echo "slurm-up: $*" >&2
    for log in munged.log slurmctld.log slurmd.log; do
        if [[ -s $state/log/$log ]]; then
            echo "---- last lines of $state/log/$log ----" >&2
            tail -n 15 "$state/log/$log" >&2
        fi
    done
    "$here/slurm-down.sh" "$state" >&2 || true
    exit 1
}
trap 'fail "failed at line $LINENO: $BASH_COMMAND"' ERR

# munged checks that its directories are not writable by others and owned by its user.
chmod 0755 "$state"
mkdir -p "$state/munge" "$state/log" "$state/ctld" "$state/spool" "$state/run"
chmod 0700 "$state/munge"
mungekey --create --keyfile="$state/munge/munge.key" --force >/dev/null 2>&1 ||
    dd if=/dev/urandom of="$state/munge/munge.key" bs=1024 count=1 status=none
chmod 0400 "$state/munge/munge.key"
munged --force \
    --socket="$state/munge/munge.socket" \
    --key-file="$state/munge/munge.key" \
    --pid-file="$state/munge/munged.pid" \
    --seed-file="$state/munge/munged.seed" \
    --log-file="$state/log/munged.log" ||
    fail "munged did not start"

# Two free TCP ports on 127.0.0.1: random ones in 20000-59999 that nothing accepts on.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {
    local p
    for _ in $(seq 1 50); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        if port_free "$p" && [[ $p != "${1:-}" ]]; then
            echo "$p"
            return 0
        fi
    done
    return 1
}
ctld_port=$(pick_port) || fail "no free port found"
slurmd_port=$(pick_port "$ctld_port") || fail "no free port found"

host=$(hostname -s)
# `slurmd -C` prints the node's real layout: "NodeName=host CPUs=... RealMemory=...".
node_line=$(slurmd -C | head -n 1)
[[ $node_line == NodeName=* ]] || fail "unexpected 'slurmd -C' output: $node_line"

cat >"$state/slurm.conf" <<EOF
# Written by tests/slurm/slurm-up.sh: a throwaway single-node cluster.
ClusterName=ssltest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$state/munge/munge.socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool/slurmd-%n
SlurmctldPidFile=$state/run/slurmctld.pid
SlurmdPidFile=$state/run/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
ReturnToService=2
MaxArraySize=$max_array
KillWait=5
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
Waittime=0
$node_line NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF

export SLURM_CONF=$state/slurm.conf
slurmctld -f "$SLURM_CONF" || fail "slurmctld did not start"
slurmd -f "$SLURM_CONF" || fail "slurmd did not start"

# Wait (bounded) for the node to register and become usable.
for _ in $(seq 1 60); do
    node_state=$(sinfo -h -N -o '%T' 2>/dev/null | head -n 1 || true)
    case $node_state in
        idle | mixed | allocated) break ;;
    esac
    sleep 0.5
done
case ${node_state:-} in
    idle | mixed | allocated) ;;
    *) fail "node did not become idle within 30 s (state: '${node_state:-none}')" ;;
esac

trap - ERR
echo "SLURM_CONF=$SLURM_CONF"
