#!/usr/bin/env bash
# Installs the pretrained face-expression model emsyncemotion uses: the npm package @vladmandic/human (MIT),
# pinned, into third_party/npm (git-ignored). Only its models/emotion.json + emotion.bin are read, by C++, at
# run time; nothing downloads at run time. Idempotent. Set EMSYNC_WITH_TFJS=1 to also install the npm
# @tensorflow/tfjs package that models/emotion/make-reference.mjs needs to regenerate the port-fidelity
# reference (tests/emotion/data).
set -euo pipefail
cd "$(dirname "$0")/.."
HUMAN_VERSION=3.3.6
TFJS_VERSION=4.22.0
DEST=third_party/npm
model="$DEST/node_modules/@vladmandic/human/models/emotion.json"
pkgs=()
if ! grep -qs "\"version\": \"$HUMAN_VERSION\"" "$DEST/node_modules/@vladmandic/human/package.json" || [ ! -f "$model" ]; then
  pkgs+=("@vladmandic/human@$HUMAN_VERSION")
fi
if [ "${EMSYNC_WITH_TFJS:-0}" = 1 ] && [ ! -d "$DEST/node_modules/@tensorflow/tfjs" ]; then
  pkgs+=("@tensorflow/tfjs@$TFJS_VERSION")
fi
if [ ${#pkgs[@]} -eq 0 ]; then
  echo "install-face-model: $model present"
  exit 0
fi
if ! command -v npm >/dev/null; then
  echo "install-face-model: npm not found; emsyncemotion will work from the scene only" >&2
  exit 0
fi
mkdir -p "$DEST"
echo "install-face-model: npm install ${pkgs[*]} into $DEST"
if ! npm install --prefix "$DEST" --no-audit --no-fund --ignore-scripts --no-package-lock "${pkgs[@]}" >/dev/null ||
   [ ! -f "$model" ]; then
  echo "install-face-model: npm install failed; emsyncemotion will work from the scene only" >&2
  exit 0
fi
echo "install-face-model: done ($model)"
