#!/usr/bin/env bash
# Brings up a one-node Slurm on this machine (Debian's slurm-wlm and munge; this host is controller and node,
# every state and log file under a temporary folder, ports of its own), submits deploy/slurm/emsync-array.sbatch
# as a job array over three short clips, checks the three scored videos (H.264 + AAC, the clip's duration),
# submits the same array again and checks that every task skipped its entry and left the outputs as they were,
# cancels a task while it runs (no output, no temporary file left) and scores it on resubmission, then stops the
# daemons it started. Needs root (slurmd runs jobs as their user; here root).
#   tests/deploy/slurm_check.sh [BUILD]      (make check-scale; exits 0 on pass, 77 when slurm-wlm is missing)
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
. "$top/tests/deploy/clips.sh"

fail() {
  echo "FAIL: $*"
  keep_work=1
  exit 1
}
for tool in slurmctld slurmd sbatch munged ffmpeg ffprobe; do
  command -v "$tool" > /dev/null || { echo "SKIP: $tool not installed (apt-get install slurm-wlm munge ffmpeg)"; exit 77; }
done
[ "$(id -u)" -eq 0 ] || { echo "SKIP: the one-node Slurm needs root"; exit 77; }
[ -x "$build/cli/emsync" ] || fail "no $build/cli/emsync (build first)"

work=$(mktemp -d /tmp/emsync-slurm.XXXXXX)
chmod 755 "$work"
pids=()
teardown() {
  [ -n "${SLURM_CONF:-}" ] && scancel --quiet --user=root 2> /dev/null
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2> /dev/null
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
  done
  if [ "${keep_work:-0}" = 1 ]; then echo "logs kept in $work"; else rm -rf "$work"; fi
}
trap teardown EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# wait_for WHAT SECONDS CMD...: polls CMD until it succeeds.
wait_for() {
  local what=$1 seconds=$2
  shift 2
  for _ in $(seq $((seconds * 5))); do
    "$@" > /dev/null 2>&1 && return 0
    sleep 0.2
  done
  keep_work=1
  fail "$what did not come up within $seconds s (logs in $work)"
}

# munge: a key and a socket of this run's own.
mkdir -p "$work/munge" "$work/state" "$work/spool" "$work/logs" "$work/media/in" "$work/media/out"
chmod 755 "$work/munge"
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge/munge.key"
socket=$work/munge/munge.socket
munged --foreground --force --key-file="$work/munge/munge.key" --socket="$socket" \
  --pid-file="$work/munge/munged.pid" --log-file="$work/munge/munged.log" --seed-file="$work/munge/seed" > "$work/munge/munged.out" 2>&1 &
pids+=($!)
wait_for munged 10 munge --socket="$socket" -n

host=$(hostname -s)
cpus=$(nproc)
memory_mb=$(awk '/^MemTotal:/ { print int($2 / 1024 * 0.9) }' /proc/meminfo)
export SLURM_CONF=$work/slurm.conf
cat > "$SLURM_CONF" << EOF
ClusterName=emsync-check
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/logs/slurmctld.log
SlurmdLogFile=$work/logs/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
MpiDefault=none
ReturnToService=2
KillWait=30
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory_mb State=UNKNOWN
PartitionName=check Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -D -i -f "$SLURM_CONF" > "$work/logs/slurmctld.out" 2>&1 &
pids+=($!)
wait_for slurmctld 20 scontrol ping
slurmd -D -f "$SLURM_CONF" -N "$host" > "$work/logs/slurmd.out" 2>&1 &
pids+=($!)
node_idle() { sinfo -h -N -o '%t' | grep -qx idle; }
wait_for "the node" 30 node_idle
echo "slurm: $(sinfo -h -o '%P %D %t %C') (controller and node: $host)"

# Three 3 s clips; the third entry names its output, the others give the output folder.
seconds=3
for i in 0 1 2; do
  make_clip "$work/media/in/clip-$i.mp4" "$seconds" || fail "could not make clip $i"
done
list=$work/media/videos.txt
printf '# input output\n%s %s/\n%s\t%s/\n\n%s %s\n' \
  "$work/media/in/clip-0.mp4" "$work/media/out" "$work/media/in/clip-1.mp4" "$work/media/out" \
  "$work/media/in/clip-2.mp4" "$work/media/out/clip-2-scored.mp4" > "$list"
outputs=("$work/media/out/clip-0.mp4" "$work/media/out/clip-1.mp4" "$work/media/out/clip-2-scored.mp4")

# The recipe's own commands, as the README gives them; the tool and plugins of this build reach the tasks
# through sbatch's exported environment.
export EMSYNC=$build/cli/emsync EMSYNC_TASK=$top/deploy/emsync-task.sh
export GST_PLUGIN_PATH=$build/plugins GST_REGISTRY_1_0=$work/registry.bin
n=$("$top/deploy/emsync-task.sh" --count "$list")
[ "$n" = 3 ] || fail "--count says $n entries, expected 3"
submit() {
  local round=$1
  local t0=$(date +%s)
  local out
  out=$(cd "$work/logs" && timeout 600 sbatch --wait --parsable --array="0-$((n - 1))" \
    --output="$work/logs/round$round-%A_%a.log" "$top/deploy/slurm/emsync-array.sbatch" "$list" --model tiny --seed 1)
  local rc=$?
  job=${out%%;*}
  echo "round $round: job $job, array 0-$((n - 1)), sbatch --wait exit $rc, $(($(date +%s) - t0)) s"
  if [ $rc -ne 0 ]; then
    keep_work=1
    tail -n 5 "$work/logs/round$round"-*.log
    fail "array job $job failed (sbatch --wait exit $rc)"
  fi
}

submit 1
for i in 0 1 2; do
  in=$work/media/in/clip-$i.mp4
  check_scored "${outputs[i]}" "$seconds" "$in" || fail "task $i: $(check_scored "${outputs[i]}" "$seconds" "$in")"
  log=$work/logs/round1-${job}_$i.log
  grep -q "^wrote ${outputs[i]} " "$log" || fail "task $i did not say it wrote ${outputs[i]}: $(tail -n 3 "$log")"
  echo "task $i: ${outputs[i]##*/} $(duration "${outputs[i]}") s; $(grep "^wrote " "$log")"
done
leftovers=$(find "$work/media/out" -name '*.part' | wc -l)
[ "$leftovers" = 0 ] || fail "temporary files left in the output folder"
before=$(stat -c '%Y %s %n' "${outputs[@]}")

submit 2
for i in 0 1 2; do
  grep -q "^skipped .*: ${outputs[i]} exists" "$work/logs/round2-${job}_$i.log" || fail "task $i of the second array did not skip"
done
after=$(stat -c '%Y %s %n' "${outputs[@]}")
[ "$before" = "$after" ] || fail "the second array changed the outputs"
echo "round 2: all 3 tasks skipped their existing output; outputs unchanged"

# Round 3: a task cancelled while it runs (scancel: SIGTERM to every process of the job, SIGKILL after KillWait)
# leaves no output and no temporary file; the same array submitted again scores it.
long=$work/media/in/long.mp4
make_clip "$long" 60 || fail "could not make the long clip"
printf '%s %s/\n' "$long" "$work/media/out" > "$work/media/long.txt"
job3=$(cd "$work/logs" && sbatch --parsable --array=0 --output="$work/logs/round3-%A_%a.log" \
  "$top/deploy/slurm/emsync-array.sbatch" "$work/media/long.txt" --model tiny --seed 1)
job3=${job3%%;*}
running_part() { [ -n "$(find "$work/media/out" -name '*.part')" ]; }
wait_for "the long task's temporary file" 120 running_part
scancel "$job3"
job_gone() { [ -z "$(squeue -h -j "$job3" 2> /dev/null)" ]; }
wait_for "the cancelled job's end" 60 job_gone
sleep 1
[ ! -e "$work/media/out/long.mp4" ] || fail "the cancelled task left an output"
leftovers=$(find "$work/media/out" -name '*.part')
[ -z "$leftovers" ] || fail "the cancelled task left $leftovers"
grep -q "stopped by SIGTERM" "$work/logs/round3-${job3}_0.log" || fail "the cancelled task did not stop on SIGTERM: $(tail -n 3 "$work/logs/round3-${job3}_0.log")"
echo "round 3: job $job3 cancelled while scoring: $(grep -c . "$work/logs/round3-${job3}_0.log") log lines, no output, no temporary file"
list=$work/media/long.txt
n=1
submit 4
check_scored "$work/media/out/long.mp4" 60 "$long" || fail "$(check_scored "$work/media/out/long.mp4" 60 "$long")"
echo "round 4: the cancelled entry scored on resubmission: long.mp4 $(duration "$work/media/out/long.mp4") s"
echo PASS
