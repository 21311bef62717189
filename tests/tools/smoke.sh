#!/bin/sh
# Smoke test of emsync-gen-eval: speed (3 s of music), sync (2 short pieces) and stats (4 short pieces) on the
# tiny fixture model.
# Usage: smoke.sh PATH/TO/emsync-gen-eval PATH/TO/tiny_generator.pt
set -u
tool=$1
model=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() {  # check FILE PATTERN WHAT
  if ! grep -q -- "$2" "$1"; then
    echo "FAIL: $3: '$2' not found in $1"
    fail=1
  fi
}

"$tool" speed --model "$model" --seconds 3 --ref-steps 4 --json "$tmp/speed.json" >"$tmp/speed.txt" 2>&1
rc=$?
cat "$tmp/speed.txt"
[ $rc -eq 0 ] || { echo "FAIL: speed exited $rc"; fail=1; }
check "$tmp/speed.txt" "generation/music" "speed table"
check "$tmp/speed.txt" "ms/token median" "speed table"
check "$tmp/speed.txt" "reference ms/token (median)" "speed table"
check "$tmp/speed.txt" "KV step ms/token (median)" "speed table"
check "$tmp/speed.txt" "peak RSS" "speed summary"
for key in '"realtime_factor"' '"tokens_per_second"' '"ms_per_token_median"' '"full_context_speedup"' \
           '"reference_ms_per_token_median"' '"kv_ms_per_token_median"' '"peak"' '"load_seconds"'; do
  check "$tmp/speed.json" "$key" "speed JSON"
done

"$tool" sync --model "$model" --pieces 2 --seconds 12 --seed 3 --json "$tmp/sync.json" >"$tmp/sync.txt" 2>&1
rc=$?
cat "$tmp/sync.txt"
[ $rc -eq 0 ] || { echo "FAIL: sync exited $rc"; fail=1; }
check "$tmp/sync.txt" "onset <= 40 ms" "sync table"
check "$tmp/sync.txt" "onset <= 1 s" "sync table"
for mode in hard soft none; do check "$tmp/sync.txt" "| $mode " "sync table row"; done
for key in '"share_onset_within_40ms"' '"share_onset_within_1s"' '"mean_abs_error_s"' \
           '"onsets_away_from_cuts_per_min"' '"hard"' '"soft"' '"none"'; do
  check "$tmp/sync.json" "$key" "sync JSON"
done

# stats over a small valence x arousal grid: the musical statistics (pulse, smear, ...) per valence.
"$tool" stats --model "$model" --pieces 1 --seconds 8 --grid -0.5,0.5 --json "$tmp/stats.json" >"$tmp/stats.txt" 2>&1
rc=$?
cat "$tmp/stats.txt"
[ $rc -eq 0 ] || { echo "FAIL: stats exited $rc"; fail=1; }
check "$tmp/stats.txt" "pulse on a grid" "stats table"
check "$tmp/stats.txt" "generated, valence +0.5" "stats row per valence"
# 2 pieces per valence, 4 in all: only the summary over all has 4.
[ "$(grep -c '"pieces": 4,' "$tmp/stats.json")" = 1 ] || { echo "FAIL: per-valence summaries count other pieces"; fail=1; }
for key in '"generated_by_valence"' '"pulse"' '"smear_share"' '"short_note_share"' '"repeated_pitch_share"' \
           '"velocity_std"' '"cuts_on_downbeat"' '"forced_release_share"' '"per_instrument"'; do
  check "$tmp/stats.json" "$key" "stats JSON"
done

# A bad command line must fail cleanly.
if "$tool" speed --model /nonexistent.pt >"$tmp/bad.txt" 2>&1; then
  echo "FAIL: a missing model file did not fail"; fail=1
fi
check "$tmp/bad.txt" "not found" "missing model message"

[ $fail -eq 0 ] && echo "tools smoke test: OK"
exit $fail
