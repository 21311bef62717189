#!/usr/bin/env bash
# CPU cost of emsyncemotion: CPU time (user + sys) of decoding a 720p H.264 file with and without the element
# at its default settings (interval 250 ms, faces on when the model is installed), median of N runs each,
# and their ratio (target < 1.10).
#   bench/emotion/cost.sh [BUILD] [RUNS]
# Two clips, made with ffmpeg into $OUT (default build/bench-emotion): a 60 s testsrc2 pattern (no faces: the
# detector runs, the classifier never does) and opencv-doc's Megamind.avi scaled to 720p and looped to 55 s
# (faces in most frames: detector and classifier run).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
runs=${2:-5}
out=${OUT:-$build/bench-emotion}
mkdir -p "$out"
export GST_PLUGIN_PATH="$build/plugins" GST_REGISTRY_1_0="$out/registry.bin"

clips=()
if [ ! -f "$out/testsrc-720p.mp4" ]; then
  ffmpeg -loglevel error -y -f lavfi -i testsrc2=size=1280x720:rate=30 -t 60 -c:v libx264 -preset veryfast \
    -pix_fmt yuv420p "$out/testsrc-720p.mp4"
fi
clips+=("$out/testsrc-720p.mp4")
megamind=/usr/share/doc/opencv-doc/examples/data/Megamind.avi
if [ -f "$megamind" ]; then
  if [ ! -f "$out/megamind-720p.mp4" ]; then
    ffmpeg -loglevel error -y -stream_loop 4 -i "$megamind" -vf scale=1280:720,fps=30 -c:v libx264 -preset veryfast \
      -pix_fmt yuv420p -an "$out/megamind-720p.mp4"
  fi
  clips+=("$out/megamind-720p.mp4")
fi
gst-inspect-1.0 emsyncemotion >/dev/null   # build the registry outside the timed runs

cpu_seconds() {  # prints user+sys seconds of one gst-launch run
  /usr/bin/time -o "$out/time.txt" -f "%U %S" gst-launch-1.0 -q "$@" >/dev/null 2>&1
  awk '{ printf "%.3f\n", $1 + $2 }' "$out/time.txt"
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# One-time cost of loading the element (its plugin library, the face model, the cascade; libtorch before it had its
# own plugin): a 1-frame run with and without.
load=()
for i in $(seq "$runs"); do
  l0=$(cpu_seconds videotestsrc num-buffers=1 ! video/x-raw,width=1280,height=720 ! fakesink)
  l1=$(cpu_seconds videotestsrc num-buffers=1 ! video/x-raw,width=1280,height=720 ! emsyncemotion ! fakesink)
  load+=("$(awk -v a="$l0" -v b="$l1" 'BEGIN { print b - a }')")
done
load_s=$(printf '%s\n' "${load[@]}" | median)
echo "emsyncemotion CPU cost ($runs runs each, median user+sys seconds; load average $(cut -d' ' -f1-3 /proc/loadavg))"
for clip in "${clips[@]}"; do
  base=(filesrc location="$clip" ! qtdemux ! h264parse ! avdec_h264)
  a=(); b=()
  for i in $(seq "$runs"); do   # interleaved, so that load changes hit both alike
    a+=("$(cpu_seconds "${base[@]}" ! fakesink)")
    b+=("$(cpu_seconds "${base[@]}" ! emsyncemotion ! fakesink)")
  done
  ma=$(printf '%s\n' "${a[@]}" | median)
  mb=$(printf '%s\n' "${b[@]}" | median)
  printf '%-18s decode %6.2f s  decode+emsyncemotion %6.2f s  ratio %.3f  (without the one-time load: %.3f)\n' \
    "$(basename "$clip")" "$ma" "$mb" "$(awk -v a="$ma" -v b="$mb" 'BEGIN { print b / a }')" \
    "$(awk -v a="$ma" -v b="$mb" -v l="$load_s" 'BEGIN { print (b - l) / a }')"
  echo "  runs without: ${a[*]}  with: ${b[*]}"
done
echo "one-time load of the element (plugin, face model, cascade): ${load_s} s CPU (median), paid once per process: over"
echo "a longer video the cost approaches the 'without the one-time load' ratio."
