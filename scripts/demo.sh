#!/usr/bin/env bash
# make demo: scores the bundled example video with the freshly built tree and prints where the results are.
set -euo pipefail
build=${1:-build}
out=out
mkdir -p "$out"
export GST_PLUGIN_PATH="$PWD/$build/plugins"
export GST_REGISTRY_1_0="$PWD/$build/demo-registry.bin"

echo "== example video (assembled from Debian's opencv-doc sample clips)"
[ -f "$out/example.mp4" ] || scripts/make-example-video.sh "$out/example.mp4" >/dev/null
echo "== scoring it: emsync $out/example.mp4 -o $out/example-scored.mp4"
"$build/cli/emsync" "$out/example.mp4" -o "$out/example-scored.mp4" \
  --midi "$out/example.mid" --wav "$out/example.wav" --timeline "$out/example-timeline.png" --seed 1
echo
echo "Results:"
for f in example-scored.mp4 example.mid example.wav example-timeline.png; do
  printf '  %s\n' "$PWD/$out/$f"
done
