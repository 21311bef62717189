#!/usr/bin/env bash
# One task of a batch: scores the video on one line of a list, for a Slurm job array or a Kubernetes Indexed Job.
#
#   emsync-task.sh [--index N] [--out-dir DIR] LIST [EMSYNC_OPTION...]   scores entry N of LIST
#   emsync-task.sh --count LIST                                          prints how many entries LIST has
#
# LIST has one entry a line: the input, then (after a tab, or a space when no path has one) the output file or a
# folder to write INPUT's name with .mp4 into (ending in / or an existing folder). The output may be left out
# when --out-dir (or EMSYNC_OUT_DIR) gives the folder. Blank lines and lines starting with # are no entries;
# entries count from 0. N defaults to $SLURM_ARRAY_TASK_ID, then $JOB_COMPLETION_INDEX. Every other argument
# goes to emsync (e.g. --model tiny --seed 1); $EMSYNC names the tool (default: emsync on the PATH).
#
# Retry-safe and idempotent:
#  - an output that exists is complete (it only ever appears by a rename after a successful run), so the task
#    is skipped (exit 0, "skip:" on stderr);
#  - emsync writes to a name of this task's own beside the output (.NAME.emsync-task-ID.EXT), which is renamed
#    to the output only when emsync exits 0. An interrupted emsync finishes its file with what was scored so far
#    and exits 143; that partial file is removed here, never left under the output's name, where a retry would
#    take it for done;
#  - SIGTERM/SIGINT (Slurm's scancel, time limit or preemption; Kubernetes' pod deletion, only to PID 1) is
#    passed to emsync, which stops at a second signal, one second later; the task removes what it created and
#    exits 128+signal, so the scheduler retries it (Slurm --requeue, Kubernetes backoffLimitPerIndex).
#    Only SIGKILL leaves files behind: *.emsync-task-*.* and *.emsync-*.part beside the output, safe to delete
#    when no task of the list runs.
# Exit: emsync's status; 0 for a skipped entry; 2 for a bad list, index or output (retrying cannot help).
set -u

die() {
  echo "emsync-task: $*" >&2
  exit 2
}

# entries LIST: the list's entries, one a line (no blank or comment lines, no carriage returns).
entries() {
  sed -e 's/\r$//' -e '/^[[:space:]]*$/d' -e '/^[[:space:]]*#/d' "$1"
}

index="" out_dir=${EMSYNC_OUT_DIR:-} count=0
while [ $# -gt 0 ]; do
  case "$1" in
    --index) [ $# -ge 2 ] || die "--index needs a number"; index=$2; shift 2 ;;
    --index=*) index=${1#--index=}; shift ;;
    --out-dir) [ $# -ge 2 ] || die "--out-dir needs a folder"; out_dir=$2; shift 2 ;;
    --out-dir=*) out_dir=${1#--out-dir=}; shift ;;
    --count) count=1; shift ;;
    --) shift; break ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || die "usage: emsync-task.sh [--index N] [--out-dir DIR] LIST [EMSYNC_OPTION...] | --count LIST"
list=$1
shift
[ -r "$list" ] && [ -f "$list" ] || die "cannot read list '$list'"
total=$(entries "$list" | wc -l)
if [ "$count" = 1 ]; then
  echo "$total"
  exit 0
fi

index=${index:-${SLURM_ARRAY_TASK_ID:-${JOB_COMPLETION_INDEX:-}}}
[ -n "$index" ] || die "no index: give --index N or run as a Slurm array task or an Indexed Job pod"
[[ "$index" =~ ^[0-9]+$ ]] || die "index '$index' is not a whole number"
index=$((10#$index))
[ "$index" -lt "$total" ] || die "index $index is past the end of '$list' ($total entries, from 0)"

line=$(entries "$list" | sed -n "$((index + 1))p")
if [[ "$line" == *$'\t'* ]]; then
  input=${line%%$'\t'*}
  output=${line#*$'\t'}
else
  read -r input output <<< "$line"
fi
output=${output%"${output##*[![:space:]]}"} # trailing blanks
if [ -z "$output" ]; then
  [ -n "$out_dir" ] || die "entry $index of '$list' has no output and no --out-dir was given"
  output=$out_dir/
fi
if [[ "$output" == */ ]] || [ -d "$output" ]; then
  name=${input##*/}
  output=${output%/}/${name%.*}.mp4
fi

# A missing input fails every retry the same way: say so once (URIs are left to emsync).
[[ "$input" == *://* ]] || [ -r "$input" ] || die "entry $index: cannot read input '$input'"
if [ -s "$output" ]; then
  echo "emsync-task: skip: entry $index: '$output' exists" >&2
  exit 0
fi
dir=$(dirname "$output")
mkdir -p "$dir" || die "cannot create the folder of '$output'"

# This attempt's own name: the job's id and this shell's pid keep two attempts at the same entry apart.
base=${output##*/}
ext=${base##*.}
[ "$ext" != "$base" ] || die "output '$output' has no extension (it picks the container: .mp4, .mkv, ...)"
staging=$dir/.${base%.*}.emsync-task-${SLURM_JOB_ID:-${HOSTNAME:-local}}-$$.$ext

child=""
stop() {
  if [ -n "$child" ]; then
    kill -TERM "$child" 2> /dev/null
    # emsync's second signal stops it at once (it removes its own temporary file); the partial output of
    # an interrupted run is of no use to a batch.
    sleep 1
    kill -TERM "$child" 2> /dev/null
    wait "$child" 2> /dev/null
  fi
  rm -f "$staging"
  echo "emsync-task: entry $index stopped by SIG$1; nothing written to '$output'" >&2
  exit $((128 + $2))
}
trap 'stop TERM 15' TERM
trap 'stop INT 2' INT

echo "emsync-task: entry $index: '$input' -> '$output'" >&2
"${EMSYNC:-emsync}" "$input" -o "$staging" -q "$@" &
child=$!
wait "$child"
rc=$?
child=""
if [ "$rc" -eq 0 ] && [ -s "$staging" ] && mv -f "$staging" "$output"; then
  echo "emsync-task: done: entry $index: '$output'" >&2
  exit 0
fi
rm -f "$staging"
[ "$rc" -ne 0 ] || rc=1
echo "emsync-task: entry $index failed (exit $rc); nothing written to '$output'" >&2
exit "$rc"
