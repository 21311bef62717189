#!/usr/bin/env bash
# Builds the runtime image of Containerfile with buildah and smoke-tests it: the image has no libtorch and no
# python3-torch, its emsync scores a short clip with the installed face model, and the Kubernetes recipe's task
# script runs in it. Where no registry is reachable the Debian 12 base comes from debootstrap (minbase, from the
# Debian mirror apt uses), imported as localhost/debian:12-minbase. Slow (two stages, one of them a package
# build): make check-container, not part of make check. Needs root.
#   scripts/check-container.sh [--rev GITREV | --debs DIR] [IMAGE]   (default localhost/emsync:latest)
#   --rev GITREV   build the image from that commit instead of the working tree
#   --debs DIR     build only the runtime stage, from the .debs in DIR (e.g. make check-package's); minutes, not
#                  the half hour of both stages on a busy 2-core machine
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
rev="" debs=""
if [ "${1:-}" = --rev ]; then
  rev=${2:?--rev needs a git revision}
  shift 2
elif [ "${1:-}" = --debs ]; then
  debs=$(cd "${2:?--debs needs a folder}" && pwd)
  shift 2
fi
image=${1:-localhost/emsync:latest}
work=${EMSYNC_CONTAINER_WORK:-/tmp/emsync-container}
# vfs and chroot isolation work inside an unprivileged container too (no overlay mount, no new cgroup).
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
fail() {
  echo "check-container: FAIL: $*" >&2
  exit 1
}
step() { echo "check-container: $*"; }
command -v buildah >/dev/null || fail "buildah not found (EMSYNC_WITH_CONTAINER=1 scripts/install-deps.sh)"
mkdir -p "$work"
rm -rf "$work/context"
if [ -n "$debs" ]; then
  # The runtime stage as it is in Containerfile, with the packages from DIR instead of the build stage's.
  mkdir -p "$work/context/debs"
  for p in gstreamer1.0-emsync libgstreamer-emsync-1.0-0 gir1.2-emsync-1.0 emsync; do
    cp "$(ls "$debs/$p"_*.deb | head -n 1)" "$work/context/debs/" || fail "no $p .deb in $debs"
  done
  { grep -m 1 '^ARG DEBIAN_IMAGE=' "$src/Containerfile"
    awk '/^FROM /{stage=$0; body=""} {body=body $0 "\n"} END{printf "%s", body}' "$src/Containerfile"; } |
    sed 's|^COPY --from=build /debs /tmp/debs$|COPY debs /tmp/debs|' >"$work/context/Containerfile"
  grep -q '^COPY debs /tmp/debs$' "$work/context/Containerfile" ||
    fail "Containerfile's runtime stage does not take the packages with COPY --from=build /debs /tmp/debs"
else
  # The build context: the source and the fetched face model only (scripts/export-source.sh).
  "$src/scripts/export-source.sh" ${rev:+--rev "$rev"} "$work/context" || fail "could not export the source tree"
fi

base=docker.io/library/debian:12-slim
if ! buildah images -q "$base" 2>/dev/null | grep -q . && ! timeout 60 buildah pull -q "$base" >/dev/null 2>&1; then
  base=localhost/debian:12-minbase
  if ! buildah images -q "$base" 2>/dev/null | grep -q .; then
    command -v debootstrap >/dev/null || fail "no registry and no debootstrap to make a Debian 12 base"
    step "no registry reachable: debootstrap --variant=minbase bookworm -> $base"
    rootfs="$work/rootfs"
    # A finished debootstrap of an earlier run is reused.
    if [ ! -f "$rootfs/etc/debian_version" ] || [ ! -x "$rootfs/usr/bin/apt-get" ]; then
      rm -rf "$rootfs"
      nice debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
        fail "debootstrap failed ($work/debootstrap.log)"
    fi
    cat >"$rootfs/etc/apt/sources.list" <<'EOF'
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    ctr=$(buildah from scratch)
    mnt=$(buildah mount "$ctr")
    tar -C "$rootfs" -c . | tar -C "$mnt" -x
    buildah umount "$ctr" >/dev/null
    buildah config --cmd /bin/bash "$ctr"
    buildah commit -q "$ctr" "$base" >/dev/null
    buildah rm "$ctr" >/dev/null
    rm -rf "$rootfs"
  fi
fi
step "buildah bud -f Containerfile --build-arg DEBIAN_IMAGE=$base -t $image, from ${debs:-${rev:-the working tree}} (log: $work/build.log)"
start=$(date +%s)
(cd "$work/context" && nice buildah bud --network host --layers=false --build-arg "DEBIAN_IMAGE=$base" -f Containerfile \
  -t "$image" .) >"$work/build.log" 2>&1 || {
  tail -n 30 "$work/build.log"
  fail "the image did not build ($work/build.log)"
}
step "built in $(($(date +%s) - start)) s"

ctr=$(buildah from "$image")
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
run() { buildah run --network host -v "$work:/data" "$ctr" -- "$@"; }
torch=$(run dpkg-query -W -f '${Package}\n' | grep -i torch || true)
[ -z "$torch" ] || fail "the image has torch packages: $torch"
for e in emsyncbin emsyncemotion; do
  run gst-inspect-1.0 "$e" >/dev/null 2>&1 || fail "gst-inspect-1.0 $e fails in the image"
done
ffmpeg -v error -y -i /usr/share/doc/opencv-doc/examples/data/Megamind.avi -t 4 -an -c:v libx264 -preset veryfast \
  -pix_fmt yuv420p "$work/clip.mp4" || fail "ffmpeg could not make the test clip"
rm -f "$work/scored.mp4"
chmod 777 "$work"
buildah run --network host -v "$work:/data" --env GST_DEBUG=emsyncemotion:4 --env GST_DEBUG_FILE=/data/debug.log \
  "$ctr" -- emsync clip.mp4 -o scored.mp4 --model tiny -q >"$work/emsync.log" 2>&1 ||
  {
    cat "$work/emsync.log"
    fail "emsync failed in the image"
  }
[ -n "$(ffprobe -v error -select_streams a -show_entries stream=codec_name -of csv=p=0 "$work/scored.mp4")" ] ||
  fail "scored.mp4 from the image has no audio"
grep -q 'face expressions from /usr/share/emsync/models/emotion/emotion.json' "$work/debug.log" ||
  fail "the image's emsyncemotion did not load the face model ($work/debug.log)"
# The Kubernetes recipe's pod command (deploy/kubernetes/): entry 0 of a list is scored, then skipped on a retry.
mkdir -p "$work/task/out"
cp "$src/deploy/emsync-task.sh" "$work/task/"
printf '/data/clip.mp4\t/data/task/out/\n' >"$work/task/videos.txt"
rm -f "$work/task/out/clip.mp4"
chmod -R 777 "$work/task"
for attempt in first retry; do
  buildah run --network host -v "$work:/data" --env JOB_COMPLETION_INDEX=0 "$ctr" -- \
    /bin/bash /data/task/emsync-task.sh /data/task/videos.txt --model tiny --seed 1 >"$work/task-$attempt.log" 2>&1 ||
    fail "deploy/emsync-task.sh failed in the image ($attempt run, $work/task-$attempt.log)"
done
[ -s "$work/task/out/clip.mp4" ] || fail "deploy/emsync-task.sh wrote no output in the image"
grep -q '^skipped ' "$work/task-retry.log" || fail "the retry of deploy/emsync-task.sh did not skip the finished entry"
size=$(buildah images --format '{{.Size}}' "$image" | head -n 1)
step "PASS: $image ($size): no torch, elements register, emsync scores a 4 s clip with the face model, the task script scores and then skips"
