#!/usr/bin/env bash
# End-to-end tests of the emsync command-line tool and of emsyncbin in gst-launch pipelines.
# Usage: test_cli.sh CASE   (one meson test per case; exits 0 on pass, 77 = skipped, else fail)
set -u
case_name=$1
build=${EMSYNC_BUILD_ROOT:?}
emsync="$build/cli/emsync"
model="$EMSYNC_TEST_DATA/tiny_generator.pt"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GST_PLUGIN_PATH="$build/plugins"

fail() { echo "FAIL: $*"; exit 1; }
need() { command -v "$1" >/dev/null || { echo "SKIP: $1 not installed"; exit 77; }; }

# A 12 s clip with two hard cuts (red -> blue -> test pattern) and a sine audio track.
make_clip() {
  need ffmpeg
  ffmpeg -v error -y -f lavfi -i "color=c=red:s=320x240:r=25:d=4" -f lavfi -i "color=c=blue:s=320x240:r=25:d=4" \
    -f lavfi -i "testsrc=s=320x240:r=25:d=4" -f lavfi -i "sine=f=440:d=12" \
    -filter_complex "[0][1][2]concat=n=3:v=1[v]" -map "[v]" -map 3:a -c:v libx264 -pix_fmt yuv420p -c:a aac \
    -shortest "$work/clip.mp4" || fail "could not make the test clip"
}

probe() { ffprobe -v error -select_streams "$2" -show_entries "stream=$3" -of csv=p=0 "$1"; }

case "$case_name" in
  scores_video)
    make_clip
    "$emsync" "$work/clip.mp4" -o "$work/out.mp4" --midi "$work/out.mid" --timeline "$work/out.png" \
      --model "$model" --seed 3 -q || fail "emsync exited with $?"
    [ "$(probe "$work/out.mp4" v codec_name)" = h264 ] || fail "no H.264 video in the output"
    [ "$(probe "$work/out.mp4" a codec_name)" = aac ] || fail "no AAC audio in the output"
    # The video stream is copied: same number of packets as the input.
    in_frames=$(ffprobe -v error -select_streams v -count_packets -show_entries stream=nb_read_packets -of csv=p=0 "$work/clip.mp4")
    out_frames=$(ffprobe -v error -select_streams v -count_packets -show_entries stream=nb_read_packets -of csv=p=0 "$work/out.mp4")
    [ "$in_frames" = "$out_frames" ] || fail "video re-encoded or cut: $in_frames -> $out_frames packets"
    adur=$(probe "$work/out.mp4" a duration)
    awk -v d="$adur" 'BEGIN { exit !(d >= 11.9) }' || fail "audio only $adur s for a 12 s video"
    head -c 4 "$work/out.mid" | grep -q MThd || fail "no MIDI file"
    head -c 8 "$work/out.png" | grep -q PNG || fail "no PNG timeline"
    # The music is not silent.
    vol=$(ffmpeg -hide_banner -i "$work/out.mp4" -map 0:a -af volumedetect -f null - 2>&1 | sed -n 's/.*max_volume: \(-*[0-9.]*\) dB/\1/p')
    awk -v v="$vol" 'BEGIN { exit !(v > -40) }' || fail "soundtrack is silent (max $vol dB)"
    ;;
  mkv_opus_keep_audio)
    make_clip
    "$emsync" "$work/clip.mp4" -o "$work/out.mkv" --wav "$work/out.wav" --keep-audio 0.5 --model "$model" -q \
      || fail "emsync exited with $?"
    [ "$(probe "$work/out.mkv" a codec_name)" = opus ] || fail "no Opus audio in the MKV"
    [ -s "$work/out.wav" ] || fail "no WAV"
    ;;
  named_model)
    # `--model tiny` picks the shipped emsync-tiny.pt; a name that is neither a shipped model nor a file is an error.
    make_clip
    "$emsync" "$work/clip.mp4" -o "$work/out.mp4" --model tiny --seed 1 -q || fail "emsync --model tiny exited with $?"
    [ "$(probe "$work/out.mp4" a codec_name)" = aac ] || fail "no AAC audio in the output"
    out=$("$emsync" "$work/clip.mp4" -o "$work/out2.mp4" --model huge -q 2>&1) && fail "--model huge was accepted"
    echo "$out" | grep -q "huge" || fail "the error does not name the model: $out"
    ;;
  error_missing_input)
    out=$("$emsync" "$work/nope.mp4" -o "$work/out.mp4" 2>&1); rc=$?
    [ $rc -ne 0 ] || fail "exit code 0 for a missing input"
    [ "$(echo "$out" | wc -l)" -eq 1 ] || fail "expected one line, got: $out"
    echo "$out" | grep -q "cannot read input '$work/nope.mp4'" || fail "unexpected message: $out"
    ;;
  error_no_video)
    need ffmpeg
    ffmpeg -v error -y -f lavfi -i "sine=f=440:d=2" -c:a aac "$work/audio.m4a" || fail "ffmpeg"
    out=$("$emsync" "$work/audio.m4a" -o "$work/out.mp4" --model "$model" -q 2>&1); rc=$?
    [ $rc -ne 0 ] || fail "exit code 0 for a file without video"
    echo "$out" | grep -q "has no video stream" || fail "unexpected message: $out"
    [ ! -e "$work/out.mp4" ] || fail "a broken output file was left behind"
    ;;
  error_unwritable_output)
    make_clip
    out=$("$emsync" "$work/clip.mp4" -o "$work/no/such/dir/out.mp4" 2>&1); rc=$?
    [ $rc -ne 0 ] || fail "exit code 0 for an unwritable output"
    echo "$out" | grep -q "cannot write output" || fail "unexpected message: $out"
    ;;
  bin_pipeline)
    make_clip
    gst-launch-1.0 -q -e filesrc location="$work/clip.mp4" ! decodebin ! video/x-raw ! \
      emsyncbin name=s model-file="$model" seed=2 \
      s.video ! queue ! videoconvert ! x264enc speed-preset=ultrafast ! mp4mux name=m ! filesink location="$work/bin.mp4" \
      s.audio ! queue ! audioconvert ! avenc_aac ! m. \
      s.midi ! queue ! emsyncmidienc ! filesink location="$work/bin.mid" || fail "pipeline failed"
    [ "$(probe "$work/bin.mp4" a codec_name)" = aac ] || fail "no audio from emsyncbin"
    [ "$(probe "$work/bin.mp4" v codec_name)" = h264 ] || fail "no video from emsyncbin"
    head -c 4 "$work/bin.mid" | grep -q MThd || fail "no MIDI from the midi pad"
    ;;
  example_c)
    make_clip
    out=$("$build/examples/scene_messages" "$work/clip.mp4" "$work/c.mid" 2>&1) || fail "example failed: $out"
    [ "$(echo "$out" | grep -c '^scene cut #')" -ge 2 ] || fail "expected the two cuts, got: $out"
    head -c 4 "$work/c.mid" | grep -q MThd || fail "no MIDI written"
    ;;
  example_python)
    /usr/bin/python3 -c "import gi; gi.require_version('Gst', '1.0')" 2>/dev/null || { echo "SKIP: no PyGObject"; exit 77; }
    make_clip
    out=$(/usr/bin/python3 "$EMSYNC_SOURCE_ROOT/examples/scene_messages.py" "$work/clip.mp4" "$work/p.mid" 2>&1) \
      || fail "example failed: $out"
    [ "$(echo "$out" | grep -c '^scene cut #')" -ge 2 ] || fail "expected the two cuts, got: $out"
    head -c 4 "$work/p.mid" | grep -q MThd || fail "no MIDI written"
    ;;
  *)
    fail "unknown case $case_name"
    ;;
esac
echo "PASS: $case_name"
