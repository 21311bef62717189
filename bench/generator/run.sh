#!/bin/sh
# Generator benchmark (speed, scene-cut sync, emotion, musicality): see bench/generator/run.py.
#   bench/generator/run.sh [--quick] [--build build] [--model models/emsync-small.pt] [--out FILE]
exec /usr/bin/python3 "$(dirname "$0")/run.py" "$@"
