#!/usr/bin/env bash
# The batch recipes of deploy/ without a cluster: the Kubernetes manifest parsed and its pod command run here for
# each index, the task script's interrupt and error handling. (tests/deploy/slurm_check.sh runs the Slurm array
# on a real one-node Slurm: make check-scale.)
# Usage: test_deploy.sh CASE   (one meson test per case; exits 0 on pass, 77 = skipped, else fail)
set -u
case_name=$1
build=${EMSYNC_BUILD_ROOT:?}
src=${EMSYNC_SOURCE_ROOT:?}
task=$src/deploy/emsync-task.sh
manifest=$src/deploy/kubernetes/emsync-indexed-job.yaml
export EMSYNC=$build/cli/emsync GST_PLUGIN_PATH=$build/plugins
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$src/tests/deploy/clips.sh"

fail() {
  echo "FAIL: $*"
  exit 1
}
need() { command -v "$1" > /dev/null || { echo "SKIP: $1 not installed"; exit 77; }; }
leftovers() { find "$1" -name '*.part' | wc -l; }

case "$case_name" in
  k8s_manifest)
    # The manifest as Kubernetes would read it: its objects and the Job's fields the recipe relies on; then the
    # pod's command and arguments run here once per JOB_COMPLETION_INDEX, with the list of its ConfigMap and
    # the container paths mapped into a temporary folder. Not tested: a cluster's scheduling, the image, the
    # volume claim, podFailurePolicy and backoffLimitPerIndex (no cluster here).
    need ffmpeg
    /usr/bin/python3 -c 'import yaml' 2> /dev/null || { echo "SKIP: python3-yaml not installed"; exit 77; }
    /usr/bin/python3 - "$manifest" "$work" << 'PY' > "$work/pod.sh" || fail "manifest check failed"
import shlex, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
work = sys.argv[2]
kinds = {d["kind"]: d for d in docs}
assert set(kinds) == {"ConfigMap", "Job"}, f"objects {sorted(kinds)}"
job = kinds["Job"]["spec"]
assert job["completionMode"] == "Indexed", job.get("completionMode")
pod = job["template"]["spec"]
assert pod["restartPolicy"] == "Never"
(c,) = pod["containers"]
assert c["image"] == "localhost/emsync:latest", c["image"]
assert job["backoffLimitPerIndex"] >= 1
rule = job["podFailurePolicy"]["rules"][0]
assert rule["action"] == "FailIndex" and rule["onExitCodes"]["values"] == [2]
listing = kinds["ConfigMap"]["data"]["videos.txt"]
entries = [l for l in listing.splitlines() if l.strip() and not l.lstrip().startswith("#")]
assert job["completions"] == len(entries), f"completions {job['completions']} for {len(entries)} entries"
# Where each volume is mounted and what it holds.
mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
vols = {v["name"]: v for v in pod["volumes"]}
list_mount = next(mounts[n] for n, v in vols.items() if v.get("configMap", {}).get("name") == kinds["ConfigMap"]["metadata"]["name"])
task_mount = next(mounts[n] for n, v in vols.items() if v.get("configMap", {}).get("name") == "emsync-task")
data_mount = next(mounts[n] for n, v in vols.items() if "persistentVolumeClaim" in v)
def local(arg):
    arg = arg.replace(list_mount, work + "/list").replace(task_mount, work + "/task")
    return arg.replace(data_mount, work + "/data")
cmd = [local(a) for a in c["command"] + c["args"]]
print("mkdir -p %s/list %s/task %s/data/in" % (work, work, work))
print("cat > %s/list/videos.txt << 'EOF'\n%sEOF" % (work, local(listing)))
for e in entries:
    print("make_clip %s 2 || exit 1" % shlex.quote(local(e.split()[0])))
print("inputs=(%s)" % " ".join(shlex.quote(local(e.split()[0])) for e in entries))
print("outputs=(%s)" % " ".join(shlex.quote(local(e.split()[1])) for e in entries))
print("pod() { %s; }" % " ".join(shlex.quote(a) for a in cmd))
print("env_names=(%s)" % " ".join(e["name"] for e in c.get("env", [])))
PY
    . "$work/pod.sh"
    for n in "${env_names[@]}"; do [ "$n" = EMSYNC ] || fail "unexpected env $n in the pod"; done
    cp "$task" "$work/task/emsync-task.sh"
    for i in "${!outputs[@]}"; do
      JOB_COMPLETION_INDEX=$i pod > "$work/pod$i.log" 2>&1
      rc=$?
      [ $rc = 0 ] || { cat "$work/pod$i.log"; fail "index $i exited with $rc"; }
    done
    for i in "${!outputs[@]}"; do
      o=${outputs[i]}
      [[ "$o" == */ ]] && o=${o}clip-$i.mp4
      check_scored "$o" 2 "${inputs[i]}" || fail "index $i: $(check_scored "$o" 2 "${inputs[i]}")"
      echo "index $i: ${o#"$work"/} $(duration "$o") s"
      outs[i]=$o
    done
    [ "$(leftovers "$work/data")" = 0 ] || fail "temporary files left beside the outputs"
    # A retried pod finds its output and does nothing.
    before=$(stat -c '%Y %s' "${outs[@]}")
    for i in "${!outputs[@]}"; do
      JOB_COMPLETION_INDEX=$i pod > "$work/again$i.log" 2>&1 || fail "the retried index $i failed: $(cat "$work/again$i.log")"
      grep -q "^skipped .* exists" "$work/again$i.log" || fail "the retried index $i did not skip: $(cat "$work/again$i.log")"
    done
    [ "$before" = "$(stat -c '%Y %s' "${outs[@]}")" ] || fail "a retried pod changed an output"
    ;;
  interrupt)
    # SIGTERM while emsync runs: non-zero exit, no output under its name (without --skip-existing emsync would
    # rename the music scored so far into place, which a retry would then skip as done), no temporary file left.
    need ffmpeg
    make_clip "$work/long.mp4" 60 || fail "could not make the clip"
    printf '%s %s/out/\n' "$work/long.mp4" "$work" > "$work/list.txt"
    "$task" --index 0 "$work/list.txt" --model "$EMSYNC_TEST_DATA/tiny_generator.pt" 2> "$work/task.log" &
    pid=$!
    for _ in $(seq 100); do
      [ "$(find "$work/out" -name '*.part' 2> /dev/null | wc -l)" -gt 0 ] && break
      sleep 0.1
    done
    sleep 1
    kill -0 "$pid" 2> /dev/null || fail "the task ended before the signal: $(cat "$work/task.log")"
    kill -TERM "$pid"
    wait "$pid"
    rc=$?
    cat "$work/task.log"
    [ "$rc" = 143 ] || fail "exit $rc after SIGTERM, expected 143"
    [ ! -e "$work/out/long.mp4" ] || fail "an interrupted run left $work/out/long.mp4"
    [ "$(leftovers "$work/out")" = 0 ] || fail "temporary files left: $(ls -A "$work/out")"
    pgrep -f "$work/out/" > /dev/null && fail "emsync still runs after the task ended"
    grep -q "stopped by SIGTERM" "$work/task.log" || fail "the task did not say it was stopped"
    ;;
  errors)
    # One clear line and exit 2 for what no retry mends; emsync's own failure passes through, leaving nothing.
    printf '# a comment\n\n%s/nope.mp4 %s/out/\n%s/notvideo.mp4\t%s/out/x.mp4\n%s/notvideo.mp4\n' \
      "$work" "$work" "$work" "$work" "$work" > "$work/list.txt"
    echo "plain text" > "$work/notvideo.mp4"
    [ "$("$task" --count "$work/list.txt")" = 3 ] || fail "--count is not 3 (comments and blank lines are no entries)"
    expect() { # expect RC PATTERN ARGS...: the task's exit and its one-line message
      local want=$1 pattern=$2 out rc
      shift 2
      out=$(env -u SLURM_ARRAY_TASK_ID -u JOB_COMPLETION_INDEX "$task" "$@" 2>&1)
      rc=$?
      [ "$rc" = "$want" ] || fail "$*: exit $rc, expected $want ($out)"
      echo "$out" | grep -q -- "$pattern" || fail "$*: message '$out' lacks '$pattern'"
      echo "exit $rc: $(echo "$out" | tail -n 1)"
    }
    expect 2 "cannot read list" "$work/missing.txt"
    expect 2 "no index" "$work/list.txt"
    expect 2 "past the end" --index 3 "$work/list.txt"
    expect 2 "not a whole number" --index -1 "$work/list.txt"
    expect 2 "cannot read input '$work/nope.mp4'" --index 0 "$work/list.txt"
    expect 2 "has no output and no --out-dir" --index 2 "$work/list.txt"
    SLURM_ARRAY_TASK_ID=1 "$task" "$work/list.txt" 2> "$work/fail.log"
    rc=$?
    [ "$rc" = 1 ] || fail "emsync's failure gave exit $rc: $(cat "$work/fail.log")"
    grep -q "notvideo.mp4" "$work/fail.log" || fail "emsync's error is not shown: $(cat "$work/fail.log")"
    [ -z "$(ls -A "$work/out")" ] || fail "a failed run left files: $(ls -A "$work/out")"
    ;;
  *)
    fail "unknown case $case_name"
    ;;
esac
echo PASS
