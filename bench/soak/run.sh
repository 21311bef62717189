#!/usr/bin/env bash
# The soak: videotestsrc is-live=true (its pattern changed every 5-9 s, so there are cuts) through emsyncbin at
# 1x speed for SECONDS (30 minutes in `make bench`), with the resident memory sampled every 5 s and the audio
# checked for gaps and discontinuities (tests/lifecycle/soak_check.c says how). The generator is emsync-tiny so
# that the run measures the elements' memory and timing, not how busy the shared machine is.
#   bench/soak/run.sh [BUILD] [SECONDS]
set -eu
build=${1:-build}
seconds=${2:-1800}
export GST_PLUGIN_PATH="$PWD/$build/plugins" GST_REGISTRY_1_0="$PWD/$build/bench-registry.bin"
"$build/tests/lifecycle/soak_check" "$seconds" model=tiny
