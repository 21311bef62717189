#!/usr/bin/env bash
# `meson install` puts the plugins, the emsync tool, the gst/ library with its pkg-config file, the generator
# models and the face-expression model in place, keeps developer tools off the PATH, and an application builds
# against the installed pkg-config file.
set -u
build=$1
src=$2
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
meson install -C "$build" --destdir "$dest" --no-rebuild --quiet >/dev/null || { echo "FAIL: meson install"; exit 1; }
prefix=$(meson introspect "$build" --buildoptions | /usr/bin/python3 -c "import json,sys; print([o['value'] for o in json.load(sys.stdin) if o['name']=='prefix'][0])")
root="$dest$prefix"
for f in bin/emsync share/emsync/models/emsync-small.pt include/emsync-1.0/gst/emsync.h; do
  [ -f "$root/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
patterns=('gstreamer-1.0/libgstemsync.so' 'gstreamer-1.0/libgstemsyncfluid.so' 'gstreamer-1.0/libgstemsyncgen.so'
  'gstreamer-1.0/libgstemsyncaffect.so' 'libgstemsync-1.0.so' 'pkgconfig/gstreamer-emsync-1.0.pc')
# The libtorch parts exist only in a build with the torch option (the Debian package is built without).
[ -f "$build/lib/emotion/libemsync-fusion-torch.so" ] && patterns+=('emsync/libemsync-fusion-torch.so')
[ -f "$build/tools/emsync-gen-eval" ] && patterns+=('libexec/emsync/emsync-gen-eval')
for pattern in "${patterns[@]}"; do
  find "$root" -path "*$pattern" | grep -q . || { echo "FAIL: $pattern not installed"; exit 1; }
done
# Only the user-facing tool goes on the PATH: developer tools live in <libexecdir>/emsync.
extra=$(find "$root/bin" -mindepth 1 ! -name emsync -printf '%f ')
[ -z "$extra" ] || { echo "FAIL: developer tools installed in $prefix/bin: $extra"; exit 1; }
# emsyncemotion's face-expression model, when the source tree has fetched it (scripts/install-face-model.sh):
# face-model=auto looks for it in <datadir>/emsync/models/emotion (lib/emotion/face_model.cpp).
face_model_option=$(meson introspect "$build" --buildoptions | /usr/bin/python3 -c "import json,sys; print([o['value'] for o in json.load(sys.stdin) if o['name']=='face_model'][0])")
if [ -f "$src/third_party/npm/node_modules/@vladmandic/human/models/emotion.json" ] && [ "$face_model_option" != disabled ] &&
   [ -f "$build/plugins/affect/libgstemsyncaffect.so" ]; then
  for f in share/emsync/models/emotion/emotion.json share/emsync/models/emotion/emotion.bin; do
    [ -s "$root/$f" ] || { echo "FAIL: $f not installed (the face model of third_party/npm)"; exit 1; }
  done
  cmp -s "$root/share/emsync/models/emotion/emotion.bin" \
    "$src/third_party/npm/node_modules/@vladmandic/human/models/emotion.bin" ||
    { echo "FAIL: installed emotion.bin differs from third_party/npm's"; exit 1; }
fi
# emsyncemotion's plugin must not link libtorch (the fusion module, opened only for `model-file`, does).
affect=$(find "$root" -name libgstemsyncaffect.so | head -1)
if readelf -d "$affect" | grep -q 'NEEDED.*torch'; then echo "FAIL: libgstemsyncaffect.so links libtorch"; exit 1; fi
# Point a copy of our .pc file at the staged prefix (the system's own .pc files stay as they are).
pc=$(find "$root" -name gstreamer-emsync-1.0.pc | head -1)
mkdir -p "$dest/pc"
sed "s#^prefix=.*#prefix=$root#" "$pc" > "$dest/pc/gstreamer-emsync-1.0.pc"
flags=$(PKG_CONFIG_PATH="$dest/pc" pkg-config --cflags --libs gstreamer-emsync-1.0) || { echo "FAIL: pkg-config"; exit 1; }
cc "$src/examples/scene_messages.c" $flags -o "$dest/scene_messages" || { echo "FAIL: example does not build against the installed library"; exit 1; }
# emsyncbin's mood presets, where GStreamer reads an element's system presets.
[ -f "$root/share/gstreamer-1.0/presets/GstEmsyncBin.prs" ] || { echo "FAIL: GstEmsyncBin.prs not installed"; exit 1; }
# The introspection data, when the build has it: Python reads a meta and parses an event through the installed
# typelib.
if [ -f "$build/gst/Emsync-1.0.typelib" ]; then
  typelib=$(find "$root" -path '*/girepository-1.0/Emsync-1.0.typelib' | head -1)
  [ -n "$typelib" ] || { echo "FAIL: Emsync-1.0.typelib not installed"; exit 1; }
  find "$root" -path '*/share/gir-1.0/Emsync-1.0.gir' | grep -q . || { echo "FAIL: Emsync-1.0.gir not installed"; exit 1; }
  libdir=$(dirname "$(find "$root" -name 'libgstemsync-1.0.so.0' | head -1)")
  GI_TYPELIB_PATH=$(dirname "$typelib") LD_LIBRARY_PATH="$libdir" /usr/bin/python3 -c "
import gi
gi.require_version('Gst', '1.0'); gi.require_version('Emsync', '1.0')
from gi.repository import Gst, Emsync
Gst.init(None)
buf = Gst.Buffer.new()
Emsync.buffer_add_emotion_meta(buf, 0.5, -0.25, 0.75, 0, 40000000, True)
meta = Emsync.buffer_get_emotion_meta(buf)
assert (meta.valence, meta.arousal, meta.confidence, meta.analysed) == (0.5, -0.25, 0.75, True)
cut = Emsync.SceneCut()
cut.timestamp, cut.stream_time, cut.running_time, cut.score, cut.kind, cut.index = 4, 4, 4, 1.5, Emsync.CutKind.FADE, 2
ok, parsed = Emsync.scene_cut_event_parse(cut.event_new())
assert ok and (parsed.timestamp, parsed.score, parsed.kind, parsed.index) == (4, 1.5, Emsync.CutKind.FADE, 2)
" || { echo "FAIL: Python cannot read a meta or an event through the installed typelib"; exit 1; }
fi
echo "PASS: installed tree complete, example builds with pkg-config ($flags)"
