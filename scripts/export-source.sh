#!/usr/bin/env bash
# Copies the source tree into DEST for a package or image build that must not see build folders or other files
# git ignores: the working tree (tracked files and untracked ones git does not ignore) or, with --rev, a commit;
# plus the face-expression model fetched at set-up time (third_party/npm, git-ignored), only the files the build
# installs. Used by scripts/check-package.sh and scripts/check-container.sh.
#   scripts/export-source.sh [--rev GITREV] DEST
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
rev=""
if [ "${1:-}" = --rev ]; then
  rev=${2:?--rev needs a git revision}
  shift 2
fi
dest=${1:?usage: export-source.sh [--rev GITREV] DEST}
human=third_party/npm/node_modules/@vladmandic/human
[ -f "$src/$human/models/emotion.json" ] || {
  echo "export-source: $human/models/emotion.json missing (scripts/install-face-model.sh)" >&2
  exit 1
}
mkdir -p "$dest"
if [ -n "$rev" ]; then
  git -C "$src" archive "$rev" | tar -x -C "$dest"
else
  (cd "$src" && git ls-files -z -co --exclude-standard |
    while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf -) | tar -x -C "$dest"
fi
for f in package.json LICENSE models/emotion.json models/emotion.bin; do
  install -D -m 644 "$src/$human/$f" "$dest/$human/$f"
done
