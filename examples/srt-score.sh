#!/usr/bin/env bash
# An SRT input scored and sent on over SRT: MPEG-TS with H.264 in (its audio, if any, is dropped), the video
# with an emsyncbin soundtrack out (H.264 + AAC in MPEG-TS). It is srt-send.sh with an SRT input by default.
#
#   srt-score.sh [--input URI] [--output URI] [common options]   (examples/streaming-common.sh lists them)
#
# --input   srtsrc URI (default srt://:7000?mode=listener: wait for a sender on port 7000)
# --output  srtsink URI (default srt://:7001: listen on port 7001 for one receiver)
# The video is re-encoded so that it stays in step with the music: both leave lookahead + 0.25 s after arriving.
# The run ends when the sender leaves (srtsrc in listener mode ends the stream), finishing the music.
set -euo pipefail
case " $* " in
  *" -h "* | *" --help "*) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
esac
# A later --input replaces this one.
EMSYNC_RECIPE=srt-score.sh exec "$(dirname "$0")/srt-send.sh" --input "srt://:7000?mode=listener" "$@"
