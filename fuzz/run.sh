#!/usr/bin/env bash
# make fuzz: builds the harnesses (fuzz/build.sh) and runs each for FUZZ_SECONDS (default 30), one after the
# other, niced, starting from its committed seeds (fuzz/corpus/<name>) plus what earlier runs found
# (BUILD/corpus/<name>). A crashing input is kept as BUILD/artifacts/<name>-crash-*; the run then fails.
#   fuzz/run.sh [SECONDS] [BUILD] [NAME...]     prints one summary line per harness (also in BUILD/logs/NAME.summary)
# FUZZ_RUNS=N also stops each harness after N executions.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-30}
out=${2:-$top/build-fuzz}
shift $(( $# > 2 ? 2 : $# ))
names=${*:-smf token_decoder model face_model}
"$top/fuzz/build.sh" "$out" || exit 1
mkdir -p "$out/artifacts" "$out/logs"
# Largest input per harness: a few times its largest seed.
declare -A max_len=([smf]=4096 [token_decoder]=1024 [model]=131072 [face_model]=8192)
status=0
for name in $names; do
  mkdir -p "$out/corpus/$name"
  log="$out/logs/$name.log"
  echo "== $name: ${seconds} s"
  start=$(date +%s)
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} nice "$out/${name}_fuzzer" -max_total_time="$seconds" \
    ${FUZZ_RUNS:+-runs=$FUZZ_RUNS} -max_len="${max_len[$name]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$out/artifacts/$name-" "$out/corpus/$name" "$top/fuzz/corpus/$name" > "$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  time=$(( $(date +%s) - start ))
  # 72: stopped by SIGINT/SIGTERM (libFuzzer's "run interrupted"), not a finding.
  if [ $rc -eq 0 ]; then result="no finding"
  elif [ $rc -eq 72 ] && grep -q 'run interrupted' "$log"; then result="interrupted, no finding"
  else result="FINDING (exit $rc, see $log)"; status=1; fi
  echo "$name: ${runs:-?} executions in ${time} s (${speed:-?}/s), ${cov:-cov: ?}, corpus $(ls "$out/corpus/$name" | wc -l) inputs: $result" \
    | tee "$out/logs/$name.summary"
done
exit $status
