#!/usr/bin/env bash
# make bench (full: 36 min on the 2-core development machine, 22 of them the generator) / make bench-quick (smoke run, a few minutes): runs every benchmark of the
# project and regenerates BENCHMARKS.md. Each benchmark keeps its record in bench/<name>/results.md (with how it
# was measured); BENCHMARKS.md is those records in one page.
#   scripts/bench.sh full|quick|assemble [BUILD]     (assemble: only rebuild BENCHMARKS.md from the records)
#   EMSYNC_BENCH_ONLY="soak live" scripts/bench.sh full   runs only those benchmarks (then `assemble` the page)
set -u
mode=${1:-full}
build=${2:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
logs="$top/out/bench/logs"
mkdir -p "$logs" "$top/out/bench/quick"
# Where a benchmark's record goes: the committed bench/<name>/results.md for full runs; a smoke run keeps its
# records (and its page) under out/bench/quick/ so it never replaces the full figures.
record() { if [ "$mode" = quick ]; then echo "out/bench/quick/$1.md"; else echo "bench/$1/results.md"; fi; }

# selected NAME: whether this run includes that benchmark (all of them unless EMSYNC_BENCH_ONLY names some).
selected() { [ -z "${EMSYNC_BENCH_ONLY:-}" ] || [[ " $EMSYNC_BENCH_ONLY " == *" $1 "* ]]; }
# run NAME CMD...: runs one benchmark; on failure its record says so (and where the log is).
run() {
  local name=$1; shift
  selected "$name" || return 0
  echo "== $name: $*"
  local start=$(date +%s)
  if "$@" > "$logs/$name.log" 2>&1; then
    echo "   done in $(( $(date +%s) - start )) s"
  else
    echo "   FAILED (see $logs/$name.log)"
    printf '## %s\n\n**This benchmark failed in the last run** (`%s`); see its log in `out/bench/logs/%s.log`.\n' \
      "$name" "$*" "$name" > "$(record "$name")"
  fi
}
# Benchmarks that print their table: keep the output as the record, with the command.
record_output() {
  local name=$1 title=$2 cmd=$3
  selected "$name" && [ -f "$logs/$name.log" ] || return 0
  grep -q "This benchmark failed" "$(record "$name")" 2>/dev/null && return 0
  { printf '## %s\n\nMeasured %s with `%s`.\n\n```\n' "$title" "$(date -u +%Y-%m-%d)" "$cmd"; cat "$logs/$name.log";
    printf '```\n'; } > "$(record "$name")"
}

if [ "$mode" != assemble ]; then
  EMSYNC_WITH_BENCH=1 ./scripts/install-deps.sh
  # The scene-cut evaluation set (real footage from Debian packages composed with ffmpeg), built once.
  export EMSYNC_BENCH_DIR="$top/out/bench/scenecut-eval"
  [ -f "$EMSYNC_BENCH_DIR/ground_truth.json" ] || [ -n "${EMSYNC_BENCH_ONLY:-}" ] || bench/scenecut/make_eval_set.sh "$EMSYNC_BENCH_DIR" > "$logs/scenecut-set.log" 2>&1 \
    || echo "   building the scene-cut evaluation set failed (see $logs/scenecut-set.log)"
  if [ "$mode" = quick ]; then
    run scenecut /usr/bin/python3 bench/scenecut/evaluate.py --build "$build" --data "$EMSYNC_BENCH_DIR" --runs 1 --sizes 360 \
      --out "$(record scenecut)"
    run generator bench/generator/run.sh --quick --build "$build" --out "$(record generator)"
    run synth /usr/bin/python3 bench/synth/rtf.py --build "$top/$build" --runs 1
    run loudness bench/loudness/run.sh "$build" "$(record loudness)"
    run emotion bench/emotion/cost.sh "$build" 1
    run pipeline /usr/bin/python3 bench/pipeline/run.py --build "$build" --runs 1 --seconds 60 --out "$(record pipeline)"
    run live bench/live/run.sh "$build" 20
    live_cmd="bench/live/run.sh $build 20"
    run soak bench/soak/run.sh "$build" 60
    soak_cmd="bench/soak/run.sh $build 60"
    run scale bench/scale/run.sh --build "$build" --seconds 20 --reps 1 --videos 2 --max-streams 2 --out "$(record scale)"
  else
    run scenecut /usr/bin/python3 bench/scenecut/evaluate.py --build "$build" --data "$EMSYNC_BENCH_DIR"
    run generator bench/generator/run.sh --build "$build"
    run synth /usr/bin/python3 bench/synth/rtf.py --build "$top/$build" --runs 5
    run loudness bench/loudness/run.sh "$build" "$(record loudness)"
    run emotion bench/emotion/cost.sh "$build" 5
    run pipeline /usr/bin/python3 bench/pipeline/run.py --build "$build" --runs 5 --seconds 90
    run live bench/live/run.sh "$build" 600
    live_cmd="bench/live/run.sh $build 600"
    run soak bench/soak/run.sh "$build" 1800
    soak_cmd="bench/soak/run.sh $build 1800"
    run scale bench/scale/run.sh --build "$build" --out "$(record scale)"
  fi
  record_output emotion "emsyncemotion CPU cost relative to decoding alone" "bench/emotion/cost.sh $build"
  record_output synth "Synthesis: real-time factor of emsyncsynth and upstream fluiddec" \
    "bench/synth/rtf.py --build $build"
  record_output live "Live: a live source at 1x speed through emsyncbin" "$live_cmd"
  record_output soak "Soak: a live emsyncbin at 1x speed, memory and audio continuity" "$soak_cmd"
fi
if [ -n "${EMSYNC_BENCH_ONLY:-}" ] && [ "$mode" != assemble ]; then
  echo "ran only: $EMSYNC_BENCH_ONLY (the page is rebuilt by: scripts/bench.sh assemble)"
  exit 0
fi

page=BENCHMARKS.md
[ "$mode" = quick ] && page=out/bench/BENCHMARKS-quick.md
{
  echo "# emsync benchmarks"
  echo
  echo "Regenerated by \`make bench\` (\`scripts/bench.sh\`; \`make bench-quick\` for a smoke run). Machine of the last"
  echo "assembly: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB;"
  echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u +%Y-%m-%d). These machines are shared and noisy: every table"
  echo "gives medians and ratios measured side by side in one run, and says how it was measured."
  # fuzz: written by hand from a `make fuzz` run (bench/fuzz/results.md says how); kept when the page is rebuilt.
  for name in scenecut generator emotion synth loudness pipeline live soak scale fuzz; do
    if [ -f "$(record "$name")" ]; then
      echo
      # Records start at heading level 1 or 2; nest them under this page's title.
      sed -E 's/^# /## /' "$(record "$name")"
    fi
  done
} > "$page"
echo "wrote $top/$page"
