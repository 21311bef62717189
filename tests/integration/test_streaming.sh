#!/usr/bin/env bash
# Loopback tests of the streaming recipes in examples/ (RTSP server, SRT out, SRT in, HLS out): each serves or
# writes a scored live stream on 127.0.0.1 and reads it back as a player would (tests/integration/stream_probe).
# Usage: test_streaming.sh CASE   (one meson test per case; exits 0 on pass, else fail)
# The upstream elements they need come with scripts/install-deps.sh; a missing one fails the test, naming it.
set -u
case_name=$1
build=${EMSYNC_BUILD_ROOT:?}
examples=${EMSYNC_SOURCE_ROOT:?}/examples
probe="$build/tests/integration/stream_probe"
work=$(mktemp -d)
export GST_PLUGIN_PATH="$build/plugins"
# Fast settings: a small picture, the tiny model, 1 s of lookahead (the stream is delayed by 1.25 s + encoders).
fast=(--size 320x240 --lookahead 1 --model tiny)
max_latency_us=7000000
# A sanitized build (make check-sanitize sets CK_TIMEOUT_MULTIPLIER, how many times slower it runs) cannot keep up
# with a live stream on a small machine: the counts and bounds that assume real-time speed (frames and seconds of
# audio received, the longest hole, the latency) are scaled by that factor there.
slow=${CK_TIMEOUT_MULTIPLIER:-1}

background=()
cleanup() {
  for pid in "${background[@]}"; do kill "$pid" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*"
  for log in "$work"/*.log; do [ -s "$log" ] && { echo "--- $(basename "$log")"; tail -15 "$log"; }; done
  exit 1
}
need_elements() {
  local e
  for e in "$@"; do
    gst-inspect-1.0 "$e" >/dev/null 2>&1 || fail "GStreamer element '$e' is missing (scripts/install-deps.sh installs it)"
  done
}
free_port() {
  /usr/bin/python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' "$1"
}
# wait_udp_port PORT: until something listens on UDP PORT (an SRT listener), at most 30 s.
wait_udp_port() {
  local hex i
  hex=$(printf ':%04X ' "$1")
  for i in $(seq 300); do
    grep -q "$hex" /proc/net/udp && return 0
    sleep 0.1
  done
  fail "nothing listens on UDP port $1 after 30 s"
}
# value KEY FILE: a key=value line of stream_probe's report.
value() { sed -n "s/^$1=//p" "$2"; }
# check_received FILE MIN_FRAMES MIN_AUDIO_SECONDS [MAX_GAP]: video 320x240 and audible music arrived, and with
# MAX_GAP no wait longer than that between two pieces of it (a player joining an MPEG-TS stream has a start-up
# wait of its own of up to ~0.9 s, so only the RTSP case checks this).
check_received() {
  local frames size audio peak gap
  frames=$(value video_frames "$1"); size=$(value video_size "$1")
  audio=$(value audio_seconds "$1"); peak=$(value audio_peak_db "$1"); gap=$(value audio_max_gap_s "$1")
  local min_frames min_audio max_gap
  min_frames=$(awk -v n="$2" -v s="$slow" 'BEGIN { printf "%d", n / s }')
  min_audio=$(awk -v n="$3" -v s="$slow" 'BEGIN { print n / s }')
  echo "received: $frames frames $size, $audio s of audio, peak $peak dBFS, longest audio gap $gap s"
  [ "${frames:-0}" -ge "$min_frames" ] || fail "only ${frames:-0} video frames (expected >= $min_frames)"
  [ "${frames:-0}" -gt 0 ] || fail "no video frame"
  [ "$size" = 320x240 ] || fail "video size $size, expected 320x240"
  awk -v a="${audio:-0}" -v m="$min_audio" 'BEGIN { exit !(a >= m && a > 0) }' \
    || fail "only ${audio:-0} s of audio (expected >= $min_audio)"
  awk -v p="${peak:--200}" 'BEGIN { exit !(p > -40) }' || fail "the music is silent (peak ${peak} dBFS)"
  [ -z "${4:-}" ] && return
  max_gap=$(awk -v n="$4" -v s="$slow" 'BEGIN { print n * s }')
  awk -v g="${gap:-99}" -v m="$max_gap" 'BEGIN { exit !(g < m) }' || fail "the music has a ${gap} s hole"
}
# check_latency CAPTURE_US ANCHOR_US WHAT [LOOKAHEAD]: end-to-end latency within bounds (never below lookahead
# + 0.25 s: the music cannot be ahead of the generator).
check_latency() {
  local latency=$(($2 - $1)) min_latency_us=$(((${4:-1} * 1000 + 250) * 1000)) max_us
  max_us=$(awk -v n="$max_latency_us" -v s="$slow" 'BEGIN { printf "%d", n * s }')
  echo "$3 end-to-end latency: $(awk -v l="$latency" 'BEGIN { printf "%.3f", l / 1e6 }') s"
  [ "$latency" -ge "$min_latency_us" ] && [ "$latency" -le "$max_us" ] \
    || fail "$3 latency ${latency} us outside [$min_latency_us, $max_us]"
}

[ -x "$probe" ] || fail "stream_probe not built ($probe)"
case "$case_name" in
  rtsp)
    # The server's live pipeline, read by an RTSP player (rtspsrc, 200 ms jitter buffer) for 3 s. A lookahead of
    # 2 s: the viewer's PLAY must not leave a hole of about that long in the music (rtsp_server.c says why).
    need_elements rtspsrc x264enc opusenc rtph264pay rtpopuspay avdec_h264 opusdec
    server="$build/examples/rtsp_server"
    [ -x "$server" ] || fail "examples/rtsp_server not built: gst-rtsp-server is missing (libgstrtspserver-1.0-dev, scripts/install-deps.sh)"
    "$server" --address 127.0.0.1 --port 0 --lookahead 2 --model tiny \
      --source "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=25/1" \
      >"$work/server.log" 2>&1 &
    background+=($!)
    for _ in $(seq 300); do grep -q '^serving ' "$work/server.log" && break; sleep 0.1; done
    url=$(sed -n 's/^serving //p' "$work/server.log")
    [ -n "$url" ] || fail "the server did not start"
    timeout 60 "$probe" receive "$url" 3 >"$work/rtsp.out" 2>"$work/probe.log" || fail "reading $url failed"
    check_received "$work/rtsp.out" 55 2 0.6
    captured=$(sed -n 's/^first frame into emsyncbin at \([0-9]*\) us.*/\1/p' "$work/server.log")
    [ -n "$captured" ] || fail "the server did not report its first frame"
    check_latency "$captured" "$(value video_anchor_us "$work/rtsp.out")" RTSP 2
    grep '^stream latency at the server' "$work/server.log"
    ;;
  srt_out)
    # srt-send.sh listens; a player calls it and reads 3 s.
    need_elements srtsink srtsrc x264enc avenc_aac mpegtsmux tsdemux avdec_h264 avdec_aac
    port=$(free_port udp)
    "$examples/srt-send.sh" --output "srt://127.0.0.1:$port?mode=listener" --seconds 6 "${fast[@]}" \
      >"$work/send.log" 2>&1 &
    sender=$!
    background+=("$sender")
    wait_udp_port "$port"
    timeout 60 "$probe" receive "srt://127.0.0.1:$port" 3 >"$work/srt.out" 2>"$work/probe.log" \
      || fail "reading srt://127.0.0.1:$port failed"
    check_received "$work/srt.out" 55 2
    # The sender ends by itself at the end of its source (EOS through the music), with nobody listening.
    timeout 30 tail --pid="$sender" -f /dev/null || fail "srt-send.sh did not end after its 6 s"
    wait "$sender" || fail "srt-send.sh exited with $?"
    ;;
  srt_in)
    # A plain live stream (no audio) sent over SRT into srt-score.sh, scored, and sent on over SRT to a player.
    need_elements srtsink srtsrc x264enc avenc_aac mpegtsmux tsdemux avdec_h264 avdec_aac
    in_port=$(free_port udp)
    out_port=$(free_port udp)
    [ "$in_port" != "$out_port" ] || out_port=$(free_port udp)
    "$examples/srt-score.sh" --input "srt://127.0.0.1:$in_port?mode=listener" \
      --output "srt://127.0.0.1:$out_port?mode=listener" "${fast[@]:2}" >"$work/score.log" 2>&1 &
    scorer=$!
    background+=("$scorer")
    wait_udp_port "$in_port"
    wait_udp_port "$out_port"
    timeout 60 "$probe" receive "srt://127.0.0.1:$out_port" 3 >"$work/srt.out" 2>"$work/probe.log" &
    receiver=$!
    background+=("$receiver")
    sleep 0.5
    timeout 60 "$probe" send "srt://127.0.0.1:$in_port" 4 >"$work/send.out" 2>"$work/send.log" \
      || fail "sending to srt://127.0.0.1:$in_port failed"
    wait "$receiver" || fail "reading srt://127.0.0.1:$out_port failed"
    check_received "$work/srt.out" 55 2
    check_latency "$(value capture_start_us "$work/send.out")" "$(value video_anchor_us "$work/srt.out")" \
      "SRT in -> score -> SRT out"
    # The input's end (the sender leaves) ends the scorer cleanly.
    timeout 30 tail --pid="$scorer" -f /dev/null || fail "srt-score.sh did not end when its input ended"
    wait "$scorer" || fail "srt-score.sh exited with $?"
    ;;
  hls)
    # 3 s of the live pattern into 1 s segments; the playlist is complete and every segment decodes.
    need_elements hlssink2 x264enc avenc_aac
    command -v ffprobe >/dev/null || fail "ffprobe missing (ffmpeg, scripts/install-deps.sh)"
    timeout 60 "$examples/hls-out.sh" --dir "$work/hls" --seconds 3 --segment 1 "${fast[@]}" >"$work/hls.log" 2>&1 \
      || fail "hls-out.sh exited with $?"
    playlist="$work/hls/index.m3u8"
    [ -s "$playlist" ] || fail "no playlist written"
    [ "$(head -1 "$playlist")" = "#EXTM3U" ] || fail "the playlist does not start with #EXTM3U"
    grep -q '^#EXT-X-TARGETDURATION:1$' "$playlist" || fail "no #EXT-X-TARGETDURATION:1"
    grep -q '^#EXT-X-ENDLIST$' "$playlist" || fail "the playlist is not ended (#EXT-X-ENDLIST)"
    segments=$(grep -v '^#' "$playlist" | grep -c .)
    [ "$segments" -ge 2 ] || fail "only $segments segments listed"
    [ "$(grep -c '^#EXTINF:' "$playlist")" = "$segments" ] || fail "one #EXTINF per segment expected"
    total=$(sed -n 's/^#EXTINF:\([0-9.]*\),.*/\1/p' "$playlist" | awk '{ t += $1 } END { print t }')
    awk -v t="$total" 'BEGIN { exit !(t >= 2.8 && t <= 3.3) }' || fail "segments add up to $total s, expected 3"
    for seg in $(grep -v '^#' "$playlist"); do
      [ -s "$work/hls/$seg" ] || fail "listed segment $seg is missing"
      streams=$(ffprobe -v error -show_entries stream=codec_name -of csv=p=0 "$work/hls/$seg" | grep . | sort -u | tr '\n' ' ')
      [ "$streams" = "aac h264 " ] || fail "segment $seg has streams '$streams', expected aac + h264"
      ffmpeg -v error -i "$work/hls/$seg" -f null - 2>"$work/decode.log" && [ ! -s "$work/decode.log" ] \
        || fail "segment $seg does not decode cleanly"
    done
    vol=$(ffmpeg -hide_banner -i "$playlist" -map 0:a -af volumedetect -f null - 2>&1 \
      | sed -n 's/.*max_volume: \(-*[0-9.]*\) dB/\1/p')
    awk -v v="${vol:--200}" 'BEGIN { exit !(v > -40) }' || fail "the HLS soundtrack is silent (max $vol dB)"
    echo "HLS: $segments segments, $total s, soundtrack max $vol dB"
    ;;
  bad_options)
    # Each recipe refuses a bad value with one line naming the option, before starting anything.
    check_refused() {
      local out rc
      out=$(timeout 20 "$@" 2>&1)
      rc=$?
      [ "$rc" -ne 0 ] || fail "accepted: $*"
      [ "$(echo "$out" | wc -l)" -eq 1 ] || fail "expected one line from '$*', got: $out"
      echo "$out" | grep -q -- "$expect" || fail "'$*' does not name $expect: $out"
    }
    expect=--seconds check_refused "$examples/hls-out.sh" --dir "$work/h" --seconds soon
    expect=--dir check_refused "$examples/hls-out.sh" --seconds 2
    expect=--segment check_refused "$examples/hls-out.sh" --dir "$work/h" --segment 0.5
    expect=--output check_refused "$examples/srt-send.sh" --output rtmp://example/live
    expect=--input check_refused "$examples/srt-score.sh" --input /dev/video0
    expect=--lookahead check_refused "$examples/srt-send.sh" --lookahead -1
    expect=--model check_refused "$examples/srt-send.sh" --model "$work/none.pt"
    expect=--size check_refused "$examples/srt-send.sh" --size 320
    expect=--frobnicate check_refused "$examples/srt-score.sh" --frobnicate 1
    server="$build/examples/rtsp_server"
    [ -x "$server" ] || fail "examples/rtsp_server not built: gst-rtsp-server is missing (libgstrtspserver-1.0-dev)"
    expect=--port check_refused "$server" --port 70000
    expect=--lookahead check_refused "$server" --lookahead 100
    expect=--model check_refused "$server" --model huge
    expect="bad pipeline" check_refused "$server" --source "no_such_element_here"
    ;;
  *)
    fail "unknown case $case_name"
    ;;
esac
echo PASS
