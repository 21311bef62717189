# Shared by the streaming recipes (srt-send.sh, srt-score.sh, hls-out.sh); sourced, not run.
# Builds one gst-launch-1.0 line: a video source, emsyncbin, H.264 + AAC encoders and the recipe's sink.
#
# Common options (each recipe adds its own):
#   --input URI      score this instead of the live test pattern: a file path, any URI uridecodebin reads,
#                    or srt://HOST:PORT[?mode=listener] (read by srtsrc, MPEG-TS inside)
#   --seconds N      stop after N seconds of the live test pattern (default: run until Ctrl-C)
#   --size WxH       size of the live test pattern (default 640x360, 25 frames/s)
#   --lookahead S    seconds the music stays behind the video (emsyncbin lookahead; default the element's, 9 s).
#                    The scored stream is delayed by this + 0.25 s; 1-2 s suits low-latency live use
#   --model M        emsyncbin model: small, tiny, or a model file
#   --bin 'PROPS'    more emsyncbin properties, e.g. 'seed=3 sync=soft use-emotion=false'
#   --print          print the pipeline instead of running it

stream_prog=${EMSYNC_RECIPE:-$(basename "$0")}
stream_input=""
stream_seconds=""
stream_size="640x360"
stream_lookahead=""
stream_model=""
stream_bin_props=""
stream_print=0

stream_die() {
  echo "$stream_prog: $*" >&2
  exit 2
}

# stream_parse_common OPTION VALUE: consumes one common option; returns 1 when OPTION is not one of them.
stream_parse_common() {
  case "$1" in
    --input)
      [[ "$2" == *://* ]] || [ -r "$2" ] || stream_die "--input: cannot read '$2' (a file or a URI expected)"
      stream_input=$2 ;;
    --seconds)
      [[ "$2" =~ ^[0-9]+(\.[0-9]+)?$ ]] || stream_die "--seconds expects a positive number of seconds, got '$2'"
      stream_seconds=$2 ;;
    --size)
      [[ "$2" =~ ^[1-9][0-9]*x[1-9][0-9]*$ ]] || stream_die "--size expects WIDTHxHEIGHT (e.g. 320x240), got '$2'"
      stream_size=$2 ;;
    --lookahead)
      [[ "$2" =~ ^[0-9]+(\.[0-9]+)?$ ]] || stream_die "--lookahead expects seconds (e.g. 2 or 1.5), got '$2'"
      stream_lookahead=$2 ;;
    --model)
      [ "$2" = small ] || [ "$2" = tiny ] || [ -r "$2" ] \
        || stream_die "--model expects small, tiny or a readable model file, got '$2'"
      stream_model=$2 ;;
    --bin) stream_bin_props=$2 ;;
    *) return 1 ;;
  esac
}

# stream_parse "$@": the common options, --print and --help; the recipe's own options go to its function
# recipe_option OPTION VALUE, which returns 1 for one it does not know.
stream_parse() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --print) stream_print=1; shift; continue ;;
      -h | --help) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    esac
    [ $# -ge 2 ] || stream_die "unknown option or missing value: '$1'"
    stream_parse_common "$1" "$2" || recipe_option "$1" "$2" || stream_die "unknown option '$1'"
    shift 2
  done
}

# The video source, ending in raw video. A live source when it is the test pattern or SRT.
stream_source() {
  local w=${stream_size%x*} h=${stream_size#*x}
  if [ -z "$stream_input" ]; then
    local count=""
    [ -n "$stream_seconds" ] && count="num-buffers=$(awk -v s="$stream_seconds" 'BEGIN { printf "%d", s * 25 }')"
    echo "videotestsrc is-live=true pattern=ball $count ! video/x-raw,width=$w,height=$h,framerate=25/1"
  elif [[ "$stream_input" == srt://* ]]; then
    echo "srtsrc uri=\"$stream_input\" ! tsdemux ! h264parse ! avdec_h264 ! videoconvert"
  elif [[ "$stream_input" == *://* ]]; then
    echo "uridecodebin uri=\"$stream_input\" ! video/x-raw ! videoconvert"
  else
    echo "filesrc location=\"$stream_input\" ! decodebin ! video/x-raw ! videoconvert"
  fi
}

# emsyncbin named s; its video and audio pads are s.video and s.audio.
stream_scorer() {
  local props=""
  if [ -n "$stream_lookahead" ]; then
    props+=" lookahead=$(awk -v s="$stream_lookahead" 'BEGIN { printf "%.0f", s * 1e9 }')"
  fi
  case "$stream_model" in
    "") ;;
    small | tiny) props+=" model=$stream_model" ;;
    *) props+=" model-file=\"$stream_model\"" ;;
  esac
  echo "emsyncbin name=s$props $stream_bin_props"
}

# Encoders for a live stream: H.264 without encoder delay and a keyframe every second (so a receiver or an HLS
# segment can start there), AAC.
stream_video_encoder() {
  echo "videoconvert ! x264enc tune=zerolatency speed-preset=veryfast key-int-max=25 bitrate=1500 ! h264parse config-interval=-1"
}
stream_audio_encoder() {
  echo "audioconvert ! audioresample ! avenc_aac bitrate=128000 ! aacparse"
}

# stream_run PIPELINE: prints or runs it (-e: Ctrl-C sends EOS, so the music and the last segment are finished).
stream_run() {
  if [ "$stream_print" = 1 ]; then
    echo "gst-launch-1.0 -e $1"
    exit 0
  fi
  command -v gst-launch-1.0 >/dev/null || stream_die "gst-launch-1.0 not found (Debian: gstreamer1.0-tools)"
  # shellcheck disable=SC2086 # the pipeline is split into gst-launch arguments on purpose
  eval exec gst-launch-1.0 -e "$1"
}
