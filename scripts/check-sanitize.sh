#!/usr/bin/env bash
# make check-sanitize: the test suite built with clang under AddressSanitizer + UndefinedBehaviorSanitizer
# (clang's -fsanitize=undefined includes float-cast-overflow, which GCC's does not), in its own build folder.
#   scripts/check-sanitize.sh [BUILD]        (default build-sanitize)
#
# The ASan runtime is the shared one (-shared-libasan): our executables (the tests, emsync, the examples) load it
# as their first library. The suite also loads our instrumented plugins into two programs that are not ours,
# gst-launch-1.0 and gst-inspect-1.0 (GStreamer's plugin scanner is not used: GST_REGISTRY_FORK=no): they get the
# runtime through LD_PRELOAD from the shims in BUILD/sanitize-bin, first on the PATH of the tests. Nothing else has
# it preloaded: the shell, sed, python3, pgrep, srt-live-transmit ... that the test scripts run are not ours (their
# own leaks at exit are no findings, and pgrep hangs under the preloaded runtime).
# Leak detection stays on; the leaks of library constructors and caches that are never freed by design (GLib
# types, GStreamer's registry, fontconfig, ...) are suppressed by name in tests/sanitize/lsan.supp. Any UBSan
# report stops its test (halt_on_error).
#
# Left out, because they have nothing of ours to sanitize or cannot hold under ASan (not because of a finding):
#   emotion-fusion-training  pure Python + PyTorch: no code of ours runs in it
#   official-parity          builds its model with Python + PyTorch first (long; nothing of ours); its C++ side,
#                            the loader and the native decoder, runs in `music`, `model-loader` and the fuzzers
#   install-tree             runs `meson install` into a temporary prefix: a packaging check, nothing to sanitize
#   lifecycle                bounds RSS growth over 50 state cycles; ASan's quarantine and shadow memory keep freed
#                            memory (hundreds of MB), so those bounds cannot hold (LSan still checks the other suites)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build-sanitize}
cd "$top"
runtime=$(clang -print-file-name=libclang_rt.asan-x86_64.so)
[ -f "$runtime" ] || { echo "check-sanitize: no ASan runtime ($runtime); run EMSYNC_WITH_SANITIZE=1 scripts/install-deps.sh"; exit 1; }
if [ ! -f "$build/build.ninja" ]; then
  CC=clang CXX=clang++ meson setup "$build" -Db_sanitize=address,undefined -Db_lundef=false \
    -Dc_link_args=-shared-libasan -Dcpp_link_args=-shared-libasan -Dintrospection=disabled || exit 1
fi
# No Emsync-1.0.typelib here (so cli-example_python skips): meson hands g-ir-scanner GCC's -lasan -lubsan, and
# the scanner's dump program, linked with them beside clang's runtime, aborts ("Shadow memory range interleaves").
meson configure "$build" -Dintrospection=disabled > /dev/null || exit 1
export LD_LIBRARY_PATH="$(dirname "$runtime")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
ninja -C "$build" || exit 1
supp="$top/tests/sanitize"
# The slow unwinder for allocations: the system libraries have no frame pointers, and the suppressions match
# functions deep in their stacks.
export ASAN_OPTIONS="detect_leaks=1:fast_unwind_on_malloc=0${EMSYNC_ASAN_OPTIONS:+:$EMSYNC_ASAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$supp/ubsan.supp"
# Sanitized code runs several times slower, far more where it allocates a lot (every allocation takes the slow
# unwinder): unit-midi's mutation fuzz loop, 20,000 parses of which 17,000 throw, takes 0.4 s in the plain build
# and 19-40 s here on 2 busy cores. Check's timeouts and the tests that bound a duration or need real-time speed
# (unit-midi, test_streaming.sh) scale by CK_TIMEOUT_MULTIPLIER; plugins are scanned in-process.
export CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-16}
export GST_REGISTRY_FORK=no
# `meson test --list` prints "PROJECT / NAME"; the names alone are what meson test takes.
tests=$(meson test -C "$build" --list 2>/dev/null | sed -n 's#^.* / ##p' |
  grep -vxE 'emotion-fusion-training|official-parity|install-tree|lifecycle')
# gst-launch-1.0 and gst-inspect-1.0 with the runtime preloaded (see the top), found before the system's.
shims="$(cd "$build" && pwd)/sanitize-bin"
mkdir -p "$shims" || exit 1
for prog in gst-launch-1.0 gst-inspect-1.0; do
  real=$(command -v "$prog") || { echo "check-sanitize: $prog is missing (gstreamer1.0-tools)"; exit 1; }
  # shellcheck disable=SC2016 # $LD_PRELOAD and $@ are the shim's own
  printf '#!/bin/sh\nLD_PRELOAD=%s${LD_PRELOAD:+:$LD_PRELOAD} exec %s "$@"\n' "$runtime" "$real" > "$shims/$prog"
  chmod +x "$shims/$prog" || exit 1
done
export PATH="$shims:$PATH"
unset LD_PRELOAD
# shellcheck disable=SC2086
./scripts/run-tests.sh "$build" --timeout-multiplier 4 $tests
