#!/usr/bin/env bash
# The official EMSYNC configuration (11 layers, d_model 512, 8 heads, d_ff 2048, context 1216), randomly
# initialised in Python, saved as an official-style state_dict, converted with convert_official.py, then run by
# our C++ runtime: its logits must match the Python reference forward to 1e-4.
# Needs Debian's python3-torch (installed by scripts/install-deps.sh); skips (77) without it.
set -u
parity=$1
src=$2
/usr/bin/python3 -c "import torch" 2>/dev/null || { echo "SKIP: /usr/bin/python3 has no torch"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 "$src/models/training/make_official_random.py" "$work" --tokens 48 || exit 1
/usr/bin/python3 "$src/models/training/convert_official.py" "$work/official_random_state_dict.pt" \
  "$work/official.pt" || exit 1
"$parity" "$work/official.pt" "$work/official_random_io.json" 1e-4 1 || exit 1
"$parity" "$work/official.pt" "$work/official_random_io.json" 1e-4 2
