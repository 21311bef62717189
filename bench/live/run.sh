#!/usr/bin/env bash
# The 10-minute live run: videotestsrc is-live=true through emsyncbin at 1x speed with the shipped model; checks
# the latency equals lookahead + headroom and that the audio never has a gap or a late buffer.
#   bench/live/run.sh [BUILD] [SECONDS]
set -eu
build=${1:-build}
seconds=${2:-600}
export GST_PLUGIN_PATH="$PWD/$build/plugins" GST_REGISTRY_1_0="$PWD/$build/bench-registry.bin"
"$build/tests/integration/live_check" "$seconds"
