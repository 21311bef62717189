#!/usr/bin/env bash
# Many streams and many files on one machine: how the machine is sized for the deploy/ recipes.
#  (a) live: N live 720p30 emsyncbin pipelines at once, each its own process (tests/integration/live_check:
#      videotestsrc is-live=true at 1x speed, the shipped model, audio and video sinks that sync to the clock),
#      for SECONDS each, N = 1, 2, 3, ... until a round has a stream that drops, has an audio gap or misses
#      audio; each buffer's arrival at its sink is timed, and the largest N whose rounds had none more than
#      20 ms late is what the machine sustains (bench/scale/report.py). Each process's CPU time (user + system)
#      gives the share of a core one stream needs.
#  (b) batch: the bundled example video (scripts/make-example-video.sh: 30 s, 1280x720 30 fps H.264) scored
#      VIDEOS times with `emsync --jobs N` when the tool has it, else N emsync processes at once; N = 1, 2, 3,
#      each REPS times, interleaved, so the ratios compare runs under the same load.
# The load average (others' work included) is sampled every 5 s during every round and reported beside it.
#   bench/scale/run.sh [--build BUILD] [--seconds S] [--reps R] [--videos V] [--max-streams N] [--out FILE]
set -u
build=build seconds=60 reps=3 videos=3 max_streams=8 out=bench/scale/results.md
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2 ;;
    --seconds) seconds=$2 ;;
    --reps) reps=$2 ;;
    --videos) videos=$2 ;;
    --max-streams) max_streams=$2 ;;
    --out) out=$2 ;;
    *) echo "bench/scale/run.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift 2
done
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
build=$(cd "$build" && pwd)
emsync=$build/cli/emsync
live_check=$build/tests/integration/live_check
for f in "$emsync" "$live_check"; do
  [ -x "$f" ] || { echo "bench/scale: no $f (build first)" >&2; exit 1; }
done
export GST_PLUGIN_PATH=$build/plugins GST_REGISTRY_1_0=$build/bench-registry.bin
work=$top/out/bench/scale
rm -rf "$work"
mkdir -p "$work/live" "$work/batch"
cores=$(nproc)
data=$work/data.tsv # kind, round, key, value lines for the report
: > "$data"

# sample_load FILE: appends the 1-minute load average every 5 s until killed.
sample_load() {
  while :; do
    cut -d' ' -f1 /proc/loadavg >> "$1"
    sleep 5
  done
}
load_summary() { # median and max of the samples
  sort -g "$1" | awk '{ v[NR] = $1 } END { if (NR) printf "%.1f (max %.1f)", v[int((NR + 1) / 2)], v[NR]; else printf "n/a" }'
}

echo "== live: $seconds s rounds of N concurrent 1280x720@30 pipelines (shipped model), $cores cores"
for ((n = 1; n <= max_streams; n++)); do
  dir=$work/live/n$n
  mkdir -p "$dir"
  cut -d' ' -f1 /proc/loadavg > "$dir/load"
  sample_load "$dir/load" &
  sampler=$!
  pids=()
  for ((i = 0; i < n; i++)); do
    /usr/bin/time -f '%U %S %M' -o "$dir/time$i" "$live_check" "$seconds" "" 1280x720@30 20 > "$dir/out$i" 2>&1 &
    pids+=($!)
  done
  ok=1
  for i in "${!pids[@]}"; do wait "${pids[i]}" || ok=0; done
  kill "$sampler"
  wait "$sampler" 2> /dev/null
  late_a=0 late_v=0 gaps=0 cpu=0 passed=0 kept=0 walls="" worst=""
  for ((i = 0; i < n; i++)); do
    a=$(sed -n 's/^audio: .* \([0-9][0-9]*\) gaps .* \([0-9][0-9]*\) late (QoS)$/\1 \2/p' "$dir/out$i")
    # Buffers that reached their sink more than 20 ms after their due time, and the worst lateness.
    la=$(sed -n 's/^audio arrivals: .* \([0-9][0-9]*\) later than .* (worst \([-+0-9.]*\) ms)$/\1 \2/p' "$dir/out$i")
    lv=$(sed -n 's/^video arrivals: .* \([0-9][0-9]*\) later than .* (worst \([-+0-9.]*\) ms)$/\1 \2/p' "$dir/out$i")
    [ -n "$a" ] && [ -n "$la" ] && [ -n "$lv" ] || { ok=0; a="0 0"; la="0 0"; lv="0 0"; }
    gaps=$((gaps + ${a% *})) late_a=$((late_a + ${la% *})) late_v=$((late_v + ${lv% *}))
    worst="$worst ${la#* } ${lv#* }"
    grep -qx PASS "$dir/out$i" && passed=$((passed + 1))
    grep -qx 'without the arrival times: PASS' "$dir/out$i" && kept=$((kept + 1))
    cpu=$(tail -n 1 "$dir/time$i" | awk -v c="$cpu" '{ print c + $1 + $2 }')
    wall=$(sed -n 's/^live run: .* wall \([0-9.]*\) s$/\1/p' "$dir/out$i")
    walls="$walls ${wall:-0}"
  done
  [ $((late_a + late_v + gaps)) -eq 0 ] && [ "$passed" -eq "$n" ] || ok=0
  load=$(load_summary "$dir/load")
  core_share=$(awk -v c="$cpu" -v n="$n" -v s="$seconds" 'BEGIN { printf "%.2f", c / n / s }')
  wall_max=$(echo $walls | tr ' ' '\n' | sort -g | tail -n 1)
  worst_max=$(echo $worst | tr ' ' '\n' | sort -g | tail -n 1)
  printf 'live\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%d\n' "$n" "$passed" "$late_a" "$late_v" "$gaps" "$core_share" "$load" \
    "$([ $ok = 1 ] && echo yes || echo no)" "$wall_max" "$worst_max" "$kept" >> "$data"
  echo "   N=$n: $passed/$n PASS, $kept/$n kept up, late audio $late_a, late video $late_v, audio gaps $gaps, worst lateness $worst_max ms, CPU per stream $core_share core, longest wall $wall_max s, load $load"
  # Go on while every stream is complete (more streams only add load); the 20 ms criterion may fail earlier.
  [ "$kept" -eq "$n" ] || break
done

echo "== batch: $videos x the 30 s 720p example video, N = 1, 2, 3, $reps times each"
clip=$top/out/bench/scale-example.mp4
[ -s "$clip" ] || scripts/make-example-video.sh "$clip" > /dev/null || { echo "bench/scale: no example video" >&2; exit 1; }
for ((v = 0; v < videos; v++)); do cp "$clip" "$work/batch/in-$v.mp4"; done
if "$emsync" --help 2>&1 | grep -q -- '--jobs'; then method=jobs; else method=processes; fi
batch_round() { # batch_round N OUTDIR: scores every input with N at once
  local n=$1 dir=$2
  mkdir -p "$dir"
  if [ $method = jobs ]; then
    "$emsync" "$work"/batch/in-*.mp4 --out-dir "$dir" --jobs "$n" -q
  else
    printf '%s\n' "$work"/batch/in-*.mp4 | xargs -P "$n" -I{} sh -c \
      'f={}; b=${f##*/}; exec "$0" "$f" -o "$1/${b%.mp4}-scored.mp4" -q' "$emsync" "$dir"
  fi
}
for ((r = 1; r <= reps; r++)); do
  for n in 1 2 3; do
    dir=$work/batch/r$r-n$n
    cut -d' ' -f1 /proc/loadavg > "$work/batch/load-r$r-n$n"
    sample_load "$work/batch/load-r$r-n$n" &
    sampler=$!
    t0=$(date +%s.%N)
    batch_round "$n" "$dir" > "$work/batch/log-r$r-n$n" 2>&1
    rc=$?
    t1=$(date +%s.%N)
    kill "$sampler"
    wait "$sampler" 2> /dev/null
    made=$(find "$dir" -name '*.mp4' -size +0 | wc -l)
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    printf 'batch\t%d\t%d\t%s\t%d\t%d\t%s\n' "$r" "$n" "$wall" "$made" "$rc" "$(load_summary "$work/batch/load-r$r-n$n")" >> "$data"
    echo "   run $r, N=$n: $made/$videos videos in $wall s (exit $rc), load $(load_summary "$work/batch/load-r$r-n$n")"
    rm -rf "$dir"
  done
done

/usr/bin/python3 bench/scale/report.py "$data" "$out" "$seconds" "$videos" "$cores" "$method" \
  "$(git rev-parse --short HEAD 2> /dev/null)"
