#!/usr/bin/env bash
# make check-package: builds the Debian packages of debian/ with dpkg-buildpackage in a scratch copy of the tree,
# checks their contents, installs them on this machine (apt resolves their Depends), checks that gst-inspect-1.0
# finds every element in the system plugin directory without GST_PLUGIN_PATH and that the installed emsync scores
# a short clip with the installed generator and face models, then removes the packages again.
# Slow (a whole build): not part of make check. Needs root (apt-get); run scripts/install-deps.sh with
# EMSYNC_WITH_PACKAGING=1 first (the Makefile target does).
#   scripts/check-package.sh [--rev GITREV | --debs] [WORKDIR]   (default WORKDIR /tmp/emsync-package)
#   --rev GITREV           package that commit (git archive) instead of the working tree
#   --debs                 skip the build: check and install the .debs already in WORKDIR
#   EMSYNC_PACKAGE_TESTS=1 also run the test suite inside the package build (skipped by default: make check runs it)
#   EMSYNC_KEEP_PACKAGES=1 leave the packages installed
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
rev="" prebuilt=0
if [ "${1:-}" = --rev ]; then
  rev=${2:?--rev needs a git revision}
  shift 2
elif [ "${1:-}" = --debs ]; then
  prebuilt=1
  shift
fi
work=${1:-/tmp/emsync-package}
packages=(gstreamer1.0-emsync libgstreamer-emsync-1.0-0 libgstreamer-emsync-1.0-dev emsync)
[ -f "$src/debian/gir1.2-emsync-1.0.install" ] && packages+=(gir1.2-emsync-1.0)
fail() {
  echo "check-package: FAIL: $*" >&2
  exit 1
}
step() { echo "check-package: $*"; }
[ "$(id -u)" -eq 0 ] || fail "run as root: the packages are installed with apt-get"
for tool in dpkg-buildpackage dh fakeroot; do
  command -v "$tool" >/dev/null || fail "$tool not found (EMSYNC_WITH_PACKAGING=1 scripts/install-deps.sh)"
done

if [ $prebuilt = 0 ]; then
  version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
  tree="$work/emsync-$version"
  rm -rf "$work"
  mkdir -p "$tree"
  step "source: ${rev:-the working tree} (scripts/export-source.sh)"
  "$src/scripts/export-source.sh" ${rev:+--rev "$rev"} "$tree"

  opts="nocheck" profile=(-Pnocheck)
  if [ "${EMSYNC_PACKAGE_TESTS:-0}" = 1 ]; then
    opts="" profile=()
  fi
  step "dpkg-buildpackage -b -us -uc ${profile[*]} in $tree (log: $work/build.log)"
  start=$(date +%s)
  (cd "$tree" && DEB_BUILD_OPTIONS="$opts parallel=$(nproc)" nice dpkg-buildpackage -b -us -uc "${profile[@]}") \
    >"$work/build.log" 2>&1 || {
    tail -n 40 "$work/build.log"
    fail "dpkg-buildpackage failed (log: $work/build.log)"
  }
  step "built in $(($(date +%s) - start)) s: $(cd "$work" && echo *.deb)"
fi

# Contents: each package has its files, only emsync is on the PATH, nothing needs libtorch.
deb() { ls "$work/$1"_*.deb 2>/dev/null | head -n 1; }
for p in "${packages[@]}"; do
  [ -n "$(deb "$p")" ] || fail "$p was not built"
done
has() {
  local files
  files=$(dpkg-deb -c "$(deb "$1")" | awk '{print $6}')
  grep -qE "$2" <<<"$files" || fail "$1 lacks $2"
}
has gstreamer1.0-emsync '^\./usr/lib/[^/]+/gstreamer-1\.0/libgstemsync\.so$'
has gstreamer1.0-emsync '^\./usr/lib/[^/]+/gstreamer-1\.0/libgstemsyncaffect\.so$'
has gstreamer1.0-emsync '^\./usr/share/emsync/models/emsync-small\.pt$'
has gstreamer1.0-emsync '^\./usr/share/emsync/models/emotion/emotion\.json$'
has gstreamer1.0-emsync '^\./usr/share/emsync/models/emotion/emotion\.bin$'
has libgstreamer-emsync-1.0-0 '^\./usr/lib/[^/]+/libgstemsync-1\.0\.so\.0'
has libgstreamer-emsync-1.0-dev '^\./usr/lib/[^/]+/pkgconfig/gstreamer-emsync-1\.0\.pc$'
has libgstreamer-emsync-1.0-dev '^\./usr/include/emsync-1\.0/gst/emsync\.h$'
has emsync '^\./usr/bin/emsync$'
if [ -f "${tree:-$src}/cli/emsync.1" ]; then has emsync '^\./usr/share/man/man1/emsync\.1\.gz$'; fi
if [ -f "$src/debian/gir1.2-emsync-1.0.install" ]; then
  has gir1.2-emsync-1.0 '^\./usr/lib/[^/]+/girepository-1\.0/.*\.typelib$'
  has libgstreamer-emsync-1.0-dev '^\./usr/share/gir-1\.0/.*\.gir$'
fi
for d in "$work"/*.deb; do
  on_path=$(dpkg-deb -c "$d" | awk '{print $6}' | grep -E '^\./usr/s?bin/.' | grep -vx './usr/bin/emsync' || true)
  [ -z "$on_path" ] || fail "$(basename "$d") puts developer tools on the PATH: $on_path"
  deps=$(dpkg-deb -f "$d" Depends Pre-Depends Recommends)
  if grep -q torch <<<"$deps"; then fail "$(basename "$d") depends on libtorch: $deps"; fi
done
if command -v lintian >/dev/null; then
  lintian --suppress-tags bad-distribution-in-changes-file "$work"/*.changes >"$work/lintian.log" 2>&1 || true
  step "lintian: $(grep -c '^E:' "$work/lintian.log" || true) errors, $(grep -c '^W:' "$work/lintian.log" || true) warnings ($work/lintian.log)"
fi

# The installed packages must work without the source tree: remove the scratch copy (the plugins remember its
# models/ directory as their last fallback) before installing.
# Every element the packaged tree documents (docs/elements/, kept in step with the build by the inspect-docs test).
mapfile -t elements < <(ls "${tree:-$src}"/docs/elements/*.txt | xargs -n 1 basename -s .txt)
[ ${#elements[@]} -gt 0 ] || fail "no element descriptions in docs/elements"
[ -z "${tree:-}" ] || rm -rf "$tree"
step "apt-get install ${packages[*]}"
debs=()
for p in "${packages[@]}"; do debs+=("$(deb "$p")"); done
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${debs[@]}" >"$work/install.log" 2>&1 ||
  {
    tail -n 20 "$work/install.log"
    fail "apt-get install of the .debs failed"
  }
cleanup() {
  if [ "${EMSYNC_KEEP_PACKAGES:-0}" != 1 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${packages[@]}" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

# A clean environment: the system plugin directory only, a registry of its own, no emsync overrides.
unset GST_PLUGIN_PATH GST_PLUGIN_PATH_1_0 GST_PLUGIN_SYSTEM_PATH GST_PLUGIN_SYSTEM_PATH_1_0
unset EMSYNC_MODEL_DIR EMSYNC_FACE_MODEL EMSYNC_SOUNDFONT EMSYNC_FUSION_MODULE EMSYNC_FACE_CASCADE
export GST_REGISTRY_1_0="$work/registry.bin"
plugindir=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/gstreamer-1.0
for e in "${elements[@]}"; do
  info=$(gst-inspect-1.0 "$e" 2>&1) || fail "gst-inspect-1.0 $e: not found after installing the packages"
  # /lib is /usr/lib on a merged-/usr system: GStreamer may report either.
  grep -qE "Filename +(/usr)?${plugindir#/usr}/libgstemsync" <<<"$info" || fail "$e is not loaded from $plugindir"
done
step "gst-inspect-1.0 finds the ${#elements[@]} elements in $plugindir: ${elements[*]}"
if [[ " ${packages[*]} " == *" gir1.2-emsync-1.0 "* ]]; then
  /usr/bin/python3 -c "import gi; gi.require_version('Emsync', '1.0'); from gi.repository import Emsync; Emsync.buffer_get_scene_cut_meta" ||
    fail "Python does not find the installed Emsync-1.0 typelib"
  step "python3-gi imports the installed Emsync-1.0 typelib"
fi
[ "$(command -v emsync)" = /usr/bin/emsync ] || fail "emsync on the PATH is $(command -v emsync), not /usr/bin/emsync"

# A short clip with faces (opencv-doc's sample footage), scored by the installed tool.
clip=/usr/share/doc/opencv-doc/examples/data/Megamind.avi
[ -f "$clip" ] || fail "$clip missing (apt-get install opencv-doc)"
ffmpeg -v error -y -i "$clip" -t 6 -an -c:v libx264 -preset veryfast -pix_fmt yuv420p "$work/clip.mp4" ||
  fail "ffmpeg could not make the test clip"
start=$(date +%s%N)
(cd "$work" && GST_DEBUG=emsyncemotion:6,emsyncmidigen:4 GST_DEBUG_NO_COLOR=1 GST_DEBUG_FILE="$work/emsync-debug.log" \
  emsync clip.mp4 -o scored.mp4 --model tiny --seed 1 -q) >"$work/emsync.log" 2>&1 ||
  {
    cat "$work/emsync.log"
    fail "the installed emsync failed on a 6 s clip"
  }
step "emsync scored the 6 s clip in $((($(date +%s%N) - start) / 1000000)) ms"
audio=$(ffprobe -v error -select_streams a -show_entries stream=codec_name -of csv=p=0 "$work/scored.mp4")
[ -n "$audio" ] || fail "scored.mp4 has no audio stream"
grep -q 'face expressions from /usr/share/emsync/models/emotion/emotion.json' "$work/emsync-debug.log" ||
  fail "emsyncemotion did not load the installed face model (see $work/emsync-debug.log)"
grep -q 'generator model /usr/share/emsync/models/emsync-tiny.pt' "$work/emsync-debug.log" ||
  fail "emsyncmidigen did not load the installed generator model (see $work/emsync-debug.log)"
faces=$(grep -cE 'analysed .*: [1-9][0-9]* faces' "$work/emsync-debug.log" || true)
[ "$faces" -gt 0 ] || fail "no face found in the clip's analyses (see $work/emsync-debug.log)"
step "PASS: packages build, install and run: scored.mp4 ($audio audio), face model found, $faces analyses with faces"
