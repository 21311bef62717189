#!/usr/bin/env bash
# make check-scale: the batch recipes on a real scheduler, too slow for make check (about a minute): a one-node
# Slurm brought up on this machine runs deploy/slurm/emsync-array.sbatch over three clips, then again to check
# that every entry is skipped (tests/deploy/slurm_check.sh says how). Needs root and slurm-wlm + munge
# (EMSYNC_WITH_SCALE=1 scripts/install-deps.sh). The Kubernetes manifest has no cluster here: the deploy-* tests
# of make check parse it and run its pod command locally.
#   scripts/check-scale.sh [BUILD]
set -u
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -f "$build/build.ninja" ] || meson setup "$build"
nice ninja -C "$build" || exit 1
exec tests/deploy/slurm_check.sh "$build"
