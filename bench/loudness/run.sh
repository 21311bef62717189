#!/usr/bin/env bash
# Loudness of emsync's soundtrack before and after the normaliser (emsyncloudness in emsyncbin), measured by an
# independent meter: FFmpeg's ebur128 filter (peak=true: true peak, 4x oversampled).
#   bench/loudness/run.sh [BUILD] [OUT.md]
# "before" is the synthesiser's own output: the run's MIDI rendered by midiparse ! emsyncsynth at 48 kHz, i.e. the
# audio emsyncbin gave before it had emsyncloudness (without the fade at the music's end, which midiparse does not
# announce); "after" is the run's WAV and the AAC track of its MP4. Clips: the bundled example video (make demo's,
# 30 s), a 12 s clip with two hard cuts (the CLI tests'), and the scene-cut test videos of ../shared/data when
# that folder is there. Seed 1, the shipped small model.
set -eu
build=${1:-build}
out=${2:-bench/loudness/results.md}
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
emsync="$build/cli/emsync"
export GST_PLUGIN_PATH="$top/$build/plugins"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/in"

clips=()
scripts/make-example-video.sh "$work/in/example.mp4" >/dev/null && clips+=("$work/in/example.mp4")
ffmpeg -v error -y -f lavfi -i "color=c=red:s=320x240:r=25:d=4" -f lavfi -i "color=c=blue:s=320x240:r=25:d=4" \
  -f lavfi -i "testsrc=s=320x240:r=25:d=4" -filter_complex "[0][1][2]concat=n=3:v=1[v]" -map "[v]" -c:v libx264 \
  -pix_fmt yuv420p "$work/in/cuts12.mp4" && clips+=("$work/in/cuts12.mp4")
for f in fades testvideo; do
  [ -f "$top/../shared/data/video/$f.mp4" ] && clips+=("$top/../shared/data/video/$f.mp4")
done

# "I P": integrated loudness (LUFS) and true peak (dBTP) of a file
meter() { ffmpeg -hide_banner -nostats -i "$1" -af ebur128=peak=true -f null - 2>&1 \
  | awk '/^ +I:/ { i = $2 } /^ +Peak:/ { p = $2 } END { print i, p }'; }

rows=()
for clip in "${clips[@]}"; do
  name=$(basename "$clip" .mp4)
  dur=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$clip")
  for target in -14 -23; do
    [ "$target" = -23 ] && [ "$name" != example ] && continue
    "$emsync" "$clip" -o "$work/$name.mp4" --wav "$work/$name.wav" --midi "$work/$name.mid" --seed 1 \
      --loudness "$target" -q
    gst-launch-1.0 -q filesrc location="$work/$name.mid" ! midiparse ! emsyncsynth tail-duration=0 \
      ! audio/x-raw,rate=48000 ! audioconvert ! wavenc ! filesink location="$work/$name-before.wav"
    read -r bi bp <<<"$(meter "$work/$name-before.wav")"
    read -r wi wp <<<"$(meter "$work/$name.wav")"
    read -r mi mp <<<"$(meter "$work/$name.mp4")"
    rows+=("| $name ($(printf '%.0f' "$dur") s) | $target | $bi | $bp | $wi | $wp | $mi | $mp |")
  done
done

{
  echo "## Loudness of the soundtrack (EBU R128)"
  echo
  echo "Measured $(date -u +%Y-%m-%d) with \`bench/loudness/run.sh $build\`: integrated loudness (LUFS) and true peak (dBTP)"
  echo "by FFmpeg's \`ebur128=peak=true\`, before the normaliser (the synthesiser's output) and after it (emsync's WAV and"
  echo "the AAC track of its MP4); target -14 LUFS / -1 dBTP (web video, the default), -23 with \`--loudness -23\`."
  echo
  echo "| clip | target | before I | before TP | WAV I | WAV TP | MP4 I | MP4 TP |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "The normaliser streams (5 ms lookahead + 5 samples of latency): its gain follows the gated loudness of the last"
  echo "10 s and cannot know what comes, so a clip lands within a few tenths of a LU of the target rather than on it"
  echo "(lib/audio/loudness.h: how it makes up for a crescendo). AAC adds a little to the true peak it is given."
} > "$out"
cat "$out"
