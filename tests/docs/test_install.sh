#!/usr/bin/env bash
# `meson install` puts the plugins, the emsync tool, the gst/ library with its pkg-config file and the model
# in place, and an application builds against the installed pkg-config file.
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
for pattern in 'gstreamer-1.0/libgstemsync.so' 'gstreamer-1.0/libgstemsyncfluid.so' 'gstreamer-1.0/libgstemsyncgen.so' \
    'gstreamer-1.0/libgstemsyncaffect.so' 'emsync/libemsync-fusion-torch.so' 'libgstemsync-1.0.so' \
    'pkgconfig/gstreamer-emsync-1.0.pc'; do
  find "$root" -path "*$pattern" | grep -q . || { echo "FAIL: $pattern not installed"; exit 1; }
done
# emsyncemotion's plugin must not link libtorch (the fusion module, opened only for `model-file`, does).
affect=$(find "$root" -name libgstemsyncaffect.so | head -1)
if readelf -d "$affect" | grep -q 'NEEDED.*torch'; then echo "FAIL: libgstemsyncaffect.so links libtorch"; exit 1; fi
# Point a copy of our .pc file at the staged prefix (the system's own .pc files stay as they are).
pc=$(find "$root" -name gstreamer-emsync-1.0.pc | head -1)
mkdir -p "$dest/pc"
sed "s#^prefix=.*#prefix=$root#" "$pc" > "$dest/pc/gstreamer-emsync-1.0.pc"
flags=$(PKG_CONFIG_PATH="$dest/pc" pkg-config --cflags --libs gstreamer-emsync-1.0) || { echo "FAIL: pkg-config"; exit 1; }
cc "$src/examples/scene_messages.c" $flags -o "$dest/scene_messages" || { echo "FAIL: example does not build against the installed library"; exit 1; }
echo "PASS: installed tree complete, example builds with pkg-config ($flags)"
