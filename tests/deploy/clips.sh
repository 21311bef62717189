# Test media for the batch recipes (sourced): make_clip OUT SECONDS writes a 320x240 25 fps H.264 clip with a
# hard cut in its middle (test pattern -> plain colour) and a sine audio track, made with ffmpeg.
make_clip() {
  local out=$1 seconds=$2
  local half
  half=$(awk -v s="$seconds" 'BEGIN { printf "%.2f", s / 2 }')
  ffmpeg -v error -y -f lavfi -i "testsrc=s=320x240:r=25:d=$half" -f lavfi -i "color=c=teal:s=320x240:r=25:d=$half" \
    -f lavfi -i "sine=f=330:d=$seconds" -filter_complex "[0][1]concat=n=2:v=1[v]" -map "[v]" -map 2:a \
    -c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac -shortest "$out"
}

# duration FILE: the container's duration in seconds (empty when ffprobe cannot read it).
duration() {
  ffprobe -v error -show_entries format=duration -of csv=p=0 "$1" 2> /dev/null
}

# check_scored FILE SECONDS INPUT: FILE is a complete scored video: H.264 video, AAC audio, duration within
# 0.5 s, not a copy of INPUT.
check_scored() {
  local file=$1 seconds=$2 input=$3 d streams
  [ -s "$file" ] || { echo "missing output $file"; return 1; }
  cmp -s "$file" "$input" && { echo "$file is a copy of $input"; return 1; }
  d=$(duration "$file")
  awk -v d="$d" -v s="$seconds" 'BEGIN { exit !(d != "" && d >= s - 0.5 && d <= s + 0.5) }' \
    || { echo "$file: duration '$d' for a $seconds s clip"; return 1; }
  streams=$(ffprobe -v error -show_entries stream=codec_name -of csv=p=0 "$file" | sort | tr '\n' ' ')
  [ "$streams" = "aac h264 " ] || { echo "$file: streams '$streams', expected aac h264"; return 1; }
}
