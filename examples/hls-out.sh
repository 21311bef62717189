#!/usr/bin/env bash
# A scored stream written as HLS: video + emsyncbin soundtrack, H.264 + AAC in MPEG-TS segments and a playlist
# (hlssink2), ready for any web server.
#
#   hls-out.sh --dir DIR [--segment S] [--window N] [common options]   (streaming-common.sh lists them)
#
# --dir      where index.m3u8 and segment00000.ts ... go (created if missing)
# --segment  target segment duration in seconds (default 2; whole seconds, cut on the 1 s keyframes)
# --window   segments kept in the playlist and on disk, a live sliding window (default 0: keep all, and the
#            playlist ends with #EXT-X-ENDLIST when the stream ends: a video-on-demand playlist)
set -euo pipefail
# shellcheck source=streaming-common.sh
. "$(dirname "$0")/streaming-common.sh"

dir=""
segment=2
window=0
recipe_option() {
  case "$1" in
    --dir) dir=$2 ;;
    --segment) [[ "$2" =~ ^[1-9][0-9]*$ ]] || stream_die "--segment expects whole seconds, got '$2'"
               segment=$2 ;;
    --window) [[ "$2" =~ ^[0-9]+$ ]] || stream_die "--window expects a number of segments, got '$2'"
              window=$2 ;;
    *) return 1 ;;
  esac
}
stream_parse "$@"
[ -n "$dir" ] || stream_die "--dir is required (where the playlist and segments go)"
if [ "$stream_print" = 0 ]; then
  mkdir -p "$dir" 2>/dev/null && [ -w "$dir" ] || stream_die "--dir: cannot write to '$dir'"
fi

stream_run "$(stream_source) ! $(stream_scorer) \
  s.video ! queue ! $(stream_video_encoder) ! hls.video \
  s.audio ! queue ! $(stream_audio_encoder) ! hls.audio \
  hlssink2 name=hls target-duration=$segment playlist-length=$window max-files=$window \
    location=\"$dir/segment%05d.ts\" playlist-location=\"$dir/index.m3u8\""
