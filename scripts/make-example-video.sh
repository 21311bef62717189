#!/usr/bin/env bash
# Builds the bundled example video from clips that Debian's opencv-doc package ships (OpenCV sample data,
# distributed by Debian under OpenCV's licence), so nothing is downloaded from elsewhere and no footage is
# committed. Result: a 30 s, 1280x720, 30 fps H.264 MP4 with real footage and known boundaries:
#   7.0 s hard cut (street -> film trailer, which has hard cuts of its own), a 1 s cross-dissolve centred
#   at 17.7 s (-> tree), a 1 s fade through black centred at 23.7 s (-> street).
# Usage: scripts/make-example-video.sh OUTPUT.mp4
set -euo pipefail
out=${1:-out/example.mp4}
data=/usr/share/doc/opencv-doc/examples/data
if [ ! -f "$data/vtest.avi" ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get install -y -qq opencv-doc >/dev/null
fi
mkdir -p "$(dirname "$out")"
fit="scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=30,format=yuv420p,settb=1/30"
ffmpeg -v error -y \
  -ss 0 -t 7 -i "$data/vtest.avi" \
  -t 11.2 -i "$data/Megamind.avi" \
  -t 7 -i "$data/tree.avi" \
  -ss 40 -t 7 -i "$data/vtest.avi" \
  -filter_complex "[0:v]$fit[a];[1:v]$fit[b];[2:v]$fit[c];[3:v]$fit[d];\
[a][b]concat=n=2:v=1:a=0,settb=1/30[ab];\
[ab][c]xfade=transition=dissolve:duration=1:offset=17.2[abc];\
[abc][d]xfade=transition=fadeblack:duration=1:offset=23.2[v]" \
  -map "[v]" -an -c:v libx264 -preset veryfast -crf 23 -pix_fmt yuv420p -movflags +faststart "$out"
echo "$out"
