#!/usr/bin/env bash
# make check-sanitize: the test suite built with clang under AddressSanitizer + UndefinedBehaviorSanitizer
# (clang's -fsanitize=undefined includes float-cast-overflow, which GCC's does not), in its own build folder.
#   scripts/check-sanitize.sh [BUILD]        (default build-sanitize)
#
# The ASan runtime is the shared one (-shared-libasan), preloaded into every test process: the suite also
# loads our instrumented plugins into programs that are not (gst-launch-1.0, gst-inspect-1.0, GStreamer's plugin
# scanner), and all of them must share one runtime. Leak detection stays on; the leaks of library constructors and
# caches that are never freed by design (GLib types, GStreamer's registry, fontconfig, ...) are suppressed by name
# in tests/sanitize/lsan.supp. Any UBSan report stops its test (halt_on_error).
#
# Left out, because they cannot run under a preloaded ASan runtime (not because of a finding):
#   emotion-fusion-training  pure Python + PyTorch (no code of ours); CPython and libtorch's Python module leak by
#                            design at exit and are far too slow under ASan
#   official-parity          builds its model with Python + PyTorch first (same reason); its C++ side, the loader
#                            and the native decoder, runs in `music`, `model-loader` and the fuzzers
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
# Sanitized code runs several times slower: longer Check timeouts, and plugins scanned in-process.
export CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-8}
export GST_REGISTRY_FORK=no
# Python's own allocator keeps objects in mmap'd arenas that LeakSanitizer neither tracks nor scans, so at exit the
# interpreter's malloc'd memory they point to reads as leaked (and `import gi` fails, skipping cli-example_python):
# plain malloc lets LSan follow those pointers.
export PYTHONMALLOC=malloc
# `meson test --list` prints "PROJECT / NAME"; the names alone are what meson test takes.
tests=$(meson test -C "$build" --list 2>/dev/null | sed -n 's#^.* / ##p' |
  grep -vxE 'emotion-fusion-training|official-parity|install-tree|lifecycle')
# The runtime is preloaded through meson's test wrapper, so that meson itself (Python) runs without it.
# shellcheck disable=SC2086
EMSYNC_TESTLOG=testlog-env ./scripts/run-tests.sh "$build" --timeout-multiplier 4 --logbase testlog --wrapper "env LD_PRELOAD=$runtime" $tests
