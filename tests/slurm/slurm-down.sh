#!/usr/bin/env bash
# Stop the private Slurm started by slurm-up.sh STATE_DIR and remove STATE_DIR. Safe to run twice,
# after a half-failed start, or on a directory that holds nothing. Only the daemons whose pid files
# are under STATE_DIR are signalled, and job steps started by that slurmd die with it (their
# processes are found through the pid files' daemons, never by name).
set -uo pipefail

if (($# != 1)); then
    echo "usage: $0 STATE_DIR" >&2
    exit 2
fi
state=$1
[[ -d $state ]] || exit 0

# Cancel the jobs first, so their processes end before slurmd goes.
if [[ -f $state/slurm.conf && -f $state/run/slurmctld.pid ]]; then
    SLURM_CONF=$state/slurm.conf timeout 10 scancel --full --user="$(id -un)" >/dev/null 2>&1 || true
fi

# pid of a daemon, only if it is alive and is the expected program.
pid_of() {
    local file=$1 comm=$2 pid
    [[ -f $file ]] || return 1
    pid=$(tr -dc '0-9' <"$file")
    [[ -n $pid ]] || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$comm" ]] || return 1
    echo "$pid"
}

# Descendants of a pid (slurmstepd and the job processes under slurmd).
descendants() {
    local kids
    kids=$(cat /proc/"$1"/task/*/children 2>/dev/null) || return 0
    for k in $kids; do
        echo "$k"
        descendants "$k"
    done
}

stop() {
    local file=$1 comm=$2 pid pids
    pid=$(pid_of "$file" "$comm") || return 0
    pids="$pid $(descendants "$pid")"
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
}

# slurmd starts each job's slurmstepd detached (its parent is init), so they are found by the
# SLURM_CONF=STATE_DIR/slurm.conf they inherit from this slurmd, then killed with their children.
our_stepds() {
    local p
    for p in /proc/[0-9]*; do
        [[ $(cat "$p/comm" 2>/dev/null) == slurmstepd ]] || continue
        tr '\0' '\n' <"$p/environ" 2>/dev/null | grep -qxF "SLURM_CONF=$state/slurm.conf" || continue
        echo "${p#/proc/}"
    done
}
stop "$state/run/slurmd.pid" slurmd
for _ in 1 2 3; do
    stepds=$(our_stepds)
    [[ -n $stepds ]] || break
    for p in $stepds; do
        # shellcheck disable=SC2046
        kill -KILL "$p" $(descendants "$p") 2>/dev/null || true
    done
    sleep 0.2
done
stop "$state/run/slurmctld.pid" slurmctld
stop "$state/munge/munged.pid" munged

rm -rf -- "$state"
exit 0
