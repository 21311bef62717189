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
# Retry-safe and idempotent, through emsync --skip-existing:
#  - an output that exists is complete (emsync writes under a temporary name and renames on success only), so
#    emsync skips the entry and exits 0 ("skipped ..." in the log);
#  - SIGTERM/SIGINT (Slurm's scancel, time limit or preemption; Kubernetes' pod deletion, which signals PID 1
#    only) is passed on to emsync, which under --skip-existing removes its unfinished files instead of
#    finishing them (a partial video under the output's name would be skipped by every retry) and exits
#    128+signal; so does this script, and the scheduler retries the entry (Slurm --requeue, Kubernetes
#    backoffLimitPerIndex). Only SIGKILL leaves a *.emsync-*.part file beside the output, safe to delete when
#    no task of the list runs.
# Exit: emsync's status (0 also for a skipped entry); 2 for a bad list, index or input (retrying cannot help).
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
mkdir -p "$(dirname "$output")" || die "cannot create the folder of '$output'"

child=""
stop() {
  if [ -n "$child" ]; then
    kill -"$1" "$child" 2> /dev/null
    wait "$child" 2> /dev/null
  fi
  echo "emsync-task: entry $index stopped by SIG$1" >&2
  exit $((128 + $2))
}
trap 'stop TERM 15' TERM
trap 'stop INT 2' INT

echo "emsync-task: entry $index: '$input' -> '$output'" >&2
"${EMSYNC:-emsync}" "$input" -o "$output" --skip-existing --progress=none "$@" &
child=$!
wait "$child"
rc=$?
echo "emsync-task: entry $index: emsync exit $rc" >&2
exit "$rc"
