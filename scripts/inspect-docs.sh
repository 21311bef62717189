#!/usr/bin/env bash
# Keeps docs/elements/<element>.txt (gst-inspect-1.0 output of every emsync element) in sync with the code.
#   scripts/inspect-docs.sh BUILD update   rewrite the files
#   scripts/inspect-docs.sh BUILD check    fail (with a diff) when a file differs from the code
set -u
build=${1:-build}
mode=${2:-check}
top=$(cd "$(dirname "$0")/.." && pwd)
docs="$top/docs/elements"
export GST_PLUGIN_PATH="$(cd "$build" && pwd)/plugins"
export GST_REGISTRY_1_0="$(cd "$build" && pwd)/inspect-registry.bin"
# The system plugins stay visible: emsyncbin builds its chain from upstream elements (queue, tee, videoconvert).

# Version, file names and paths differ between machines: normalise them.
normalise() { sed -E -e 's#^( *Filename +).*#\1(build)#' -e 's#^( *Version +).*#\1(version)#' \
  -e "s#$top#(source)#g" -e 's#/usr/(local/)?share/emsync#(datadir)/emsync#g'; }

elements=$(gst-inspect-1.0 emsync 2>/dev/null; gst-inspect-1.0 emsyncfluid 2>/dev/null; gst-inspect-1.0 emsyncaffect 2>/dev/null; gst-inspect-1.0 emsyncgen 2>/dev/null)
elements=$(echo "$elements" | sed -nE 's/^ +(emsync[a-z]+): .*/\1/p' | sort -u)
[ -n "$elements" ] || { echo "no emsync elements found in $GST_PLUGIN_PATH"; exit 1; }
mkdir -p "$docs"
status=0
for e in $elements; do
  current=$(gst-inspect-1.0 --no-colors "$e" 2>&1 | normalise)
  if [ "$mode" = update ]; then
    printf '%s\n' "$current" > "$docs/$e.txt"
  elif [ ! -f "$docs/$e.txt" ]; then
    echo "docs/elements/$e.txt is missing: run scripts/inspect-docs.sh $build update"; status=1
  elif ! diff -u "$docs/$e.txt" <(printf '%s\n' "$current") > /tmp/inspect-$e.diff; then
    echo "docs/elements/$e.txt is out of date (run scripts/inspect-docs.sh $build update):"
    cat /tmp/inspect-$e.diff; status=1
  fi
done
[ "$mode" = update ] && echo "updated: $elements"
exit $status
