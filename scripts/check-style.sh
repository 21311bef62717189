#!/usr/bin/env bash
# Checks that every C/C++ file has its area's layout: the .clang-format nearest to the file decides
# (the top one: GStreamer's gst-indent layout for the GObject code in plugins/, gst/, cli/, examples/ and tests/;
# lib/ and tools/ have Google's C++ layout). Layouts differ between clang-format releases, so the check uses the one
# Debian 12 ships (clang-format 14, installed by scripts/install-deps.sh) and skips with a note under another one.
#   scripts/check-style.sh [SOURCE_ROOT]          exit 1 and list the files that differ
#   scripts/check-style.sh --fix [SOURCE_ROOT]    reformat them in place
set -u
fix=0
if [ "${1:-}" = --fix ]; then fix=1; shift; fi
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root" || exit 2
want_major=14
if ! command -v clang-format >/dev/null; then
  echo "check-style: clang-format is missing (scripts/install-deps.sh installs it)"
  exit 1
fi
major=$(clang-format --version | sed -n 's/.*version \([0-9]*\).*/\1/p')
if [ "$major" != "$want_major" ]; then
  echo "check-style: SKIP: clang-format $major here, the committed layout is clang-format $want_major's"
  exit 77
fi
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.c' '*.cpp' '*.h')
else
  mapfile -t files < <(find . -path ./build -prune -o -path './build-*' -prune -o -path ./third_party -prune \
    -o \( -name '*.c' -o -name '*.cpp' -o -name '*.h' \) -print | sed 's|^\./||')
fi
if [ $fix = 1 ]; then
  clang-format -i "${files[@]}"
  echo "check-style: reformatted ${#files[@]} files"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "check-style: ${#bad[@]} of ${#files[@]} files differ from their area's layout (scripts/check-style.sh --fix reformats them):"
  printf '  %s\n' "${bad[@]}"
  exit 1
fi
echo "check-style: ${#files[@]} files in their area's layout"
