#!/usr/bin/env bash
# A scored live stream sent over SRT: video + emsyncbin soundtrack, H.264 + AAC in MPEG-TS.
#
#   srt-send.sh [--output URI] [common options]       (examples/streaming-common.sh lists them)
#
# --output  srtsink URI (default srt://:7001: listen on port 7001 for one receiver; srt://HOST:PORT calls a
#           listener, e.g. a media server). Watch it with
#           gst-launch-1.0 playbin uri=srt://127.0.0.1:7001   or   ffplay srt://127.0.0.1:7001
set -euo pipefail
# shellcheck source=streaming-common.sh
. "$(dirname "$0")/streaming-common.sh"

output="srt://:7001"
recipe_option() {
  case "$1" in
    --output) output=$2 ;;
    *) return 1 ;;
  esac
}
stream_parse "$@"
[[ "$output" == srt://* ]] || stream_die "--output expects an srt:// URI, got '$output'"

stream_run "$(stream_source) ! $(stream_scorer) \
  s.video ! queue ! $(stream_video_encoder) ! mpegtsmux name=mux alignment=7 ! srtsink uri=\"$output\" wait-for-connection=false \
  s.audio ! queue ! $(stream_audio_encoder) ! mux."
