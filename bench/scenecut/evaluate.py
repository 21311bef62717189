#!/usr/bin/python3
"""Scene-cut evaluation and overhead benchmark for emsyncscenecut.

Runs every detector on every clip of the evaluation set (bench/scenecut/make_eval_set.sh) at 720p and 360p,
and on the ground-truth videos of ../shared/data/video when present, then scores the detections:

  - emsyncscenecut method=adaptive (default), method=content, method=ffmpeg   (gst-launch-1.0 -m, bus messages)
  - FFmpeg's own scene score:  ffmpeg -vf "select='gt(scene,0.27)',metadata=print"   (EMSYNC's detector)
  - upstream GStreamer `scenechange` (gst-plugins-bad): its GstForceKeyUnit events, read from fakesink's
    last-message with gst-launch-1.0 -v

A detection matches a boundary when it lies within 2.5 frames of a cut, or inside a gradual transition's
[first, last] span widened by 2.5 frames; each boundary matches at most one detection. Precision, recall and
F1 are summed over clips (micro average). fps = decoded frames / wall time of the whole command (decoding
included, so tools are comparable only with each other).

Overhead: medians of N runs, interleaved (the order alternates from round to round), on a 720p H.264 file:
  gst-launch-1.0 filesrc ! decodebin ! identity ! fakesink
  gst-launch-1.0 filesrc ! decodebin ! emsyncscenecut ! fakesink
  gst-launch-1.0 filesrc ! decodebin ! videoconvert ! emsyncscenecut ! fakesink   (the documented pipeline;
                 videoconvert is passthrough: the element takes the decoder's I420/NV12)
  ffmpeg -i FILE -vf "select='gt(scene,0.27)'" -f null -
and the start-up cost (loading the plugin and its libraries): videotestsrc num-buffers=1 ! identity or
emsyncscenecut ! fakesink, 3N interleaved runs.

Usage: bench/scenecut/evaluate.py [--build build] [--data /tmp/emsync-scenecut-eval] [--runs 7] [--overhead-only]
(--overhead-only re-measures only the overhead and replaces that section of the existing results file.)
Only the Python standard library is used (Debian's /usr/bin/python3).
"""
import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TOLERANCE = 2.5
MERGE_BLACK_SECONDS = 0.5   # fade-out + fade-in closer than this: one fade through black (emsync's convention)


LAST_CPU = [0.0]   # CPU seconds (user + sys) of the last command run


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(cmd, env=None, timeout=900):
    cpu0 = children_cpu()
    start = time.monotonic()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    wall = time.monotonic() - start
    LAST_CPU[0] = children_cpu() - cpu0
    out = proc.stdout.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise RuntimeError("command failed (%d): %s\n%s" % (proc.returncode, " ".join(cmd), out[-2000:]))
    return out, wall


def gst_env(build):
    env = dict(os.environ)
    env["GST_PLUGIN_PATH"] = os.path.join(build, "plugins")
    env.pop("GST_DEBUG", None)
    return env


def probe(path, env):
    """First decoded PTS in GStreamer (ns), the frame rate and the number of frames."""
    out, _ = run(["gst-launch-1.0", "-v", "filesrc", "location=" + path, "!", "decodebin", "!",
                  "fakesink", "silent=false", "num-buffers=1"], env)
    m = re.search(r"chain .*?pts: (\d+):(\d+):(\d+)\.(\d+)", out)
    first = 0
    if m:
        h, mi, s, frac = m.groups()
        first = ((int(h) * 60 + int(mi)) * 60 + int(s)) * 10**9 + int(frac.ljust(9, "0")[:9])
    out, _ = run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets", "-show_entries",
                  "stream=r_frame_rate,nb_read_packets", "-of", "csv=p=0", path])
    rate, packets = out.strip().split(",")[:2]
    num, den = rate.split("/")
    return first, int(num) / int(den), int(packets)


def detect_emsync(path, method, env, first_pts, fps, extra=()):
    cmd = ["gst-launch-1.0", "-m", "filesrc", "location=" + path, "!", "decodebin", "!", "emsyncscenecut",
           "method=" + method] + list(extra) + ["!", "fakesink"]
    out, wall = run(cmd, env)
    found = []
    for line in out.splitlines():
        if "emsync-scene-cut" not in line:
            continue
        pts = re.search(r"pts=\(guint64\)(\d+)", line)
        kind = re.search(r"kind=\(string\)(\w+)", line)
        if pts:
            found.append((round((int(pts.group(1)) - first_pts) * fps / 1e9), kind.group(1) if kind else "cut"))
    return found, wall


def detect_scenechange(path, env, first_pts, fps):
    cmd = ["gst-launch-1.0", "-v", "filesrc", "location=" + path, "!", "decodebin", "!", "scenechange", "!",
           "fakesink", "silent=false"]
    out, wall = run(cmd, env)
    found = []
    for line in out.splitlines():
        if "GstForceKeyUnit" in line:
            ts = re.search(r"timestamp=\(guint64\)(\d+)", line)
            if ts:
                found.append((round((int(ts.group(1)) - first_pts) * fps / 1e9), "cut"))
    return found, wall


def detect_ffmpeg(path, fps):
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-i", path, "-vf",
           "select='gt(scene,0.27)',metadata=print", "-f", "null", "-"]
    out, wall = run(cmd)
    found = []
    start = None
    for m in re.finditer(r"pts_time:([0-9.]+)", out):
        found.append((round(float(m.group(1)) * fps), "cut"))
    return found, wall


def truth_from_shared(video):
    """Boundaries of a ../shared/data/video clip from its ground_truth.json entry."""
    fps_num, fps_den = (video["fps"].split("/") + ["1"])[:2]
    fps = int(fps_num) / int(fps_den)
    items = []
    for t in video["transitions"]:
        if t["type"] == "hard_cut":
            items.append({"type": "cut", "frame": t["frame"]})
        else:
            items.append({"type": t["type"], "first": t["first_frame"], "last": t["last_frame"]})
    merged = []
    for t in items:
        if (merged and merged[-1]["type"] == "fade_out" and t["type"] == "fade_in"
                and t["first"] - merged[-1]["last"] - 1 < MERGE_BLACK_SECONDS * fps):
            merged[-1] = {"type": "fade", "first": merged[-1]["first"], "last": t["last"]}
        else:
            merged.append(t)
    return merged


def window(t):
    if t["type"] == "cut":
        return t["frame"] - TOLERANCE, t["frame"] + TOLERANCE
    return t["first"] - TOLERANCE, t["last"] + TOLERANCE


def score(truth, detections):
    """(tp, fp, fn) with one-to-one greedy matching, closest detection to each boundary's centre first."""
    frames = sorted(d[0] for d in detections)
    used = [False] * len(frames)
    tp = 0
    for t in truth:
        lo, hi = window(t)
        centre = (lo + hi) / 2
        best = None
        for i, f in enumerate(frames):
            if not used[i] and lo <= f <= hi and (best is None or abs(f - centre) < abs(frames[best] - centre)):
                best = i
        if best is not None:
            used[best] = True
            tp += 1
    return tp, len(frames) - tp, len(truth) - tp


def prf(tp, fp, fn):
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


TOOLS = [
    ("emsync adaptive (default)", "adaptive"),
    ("emsync content", "content"),
    ("emsync ffmpeg", "emsync-ffmpeg"),
    ("ffmpeg select scene>0.27 (EMSYNC)", "ffmpeg"),
    ("GStreamer scenechange", "scenechange"),
]


def run_tool(tool, path, env, first, fps):
    if tool in ("adaptive", "content"):
        return detect_emsync(path, tool, env, first, fps)
    if tool == "emsync-ffmpeg":
        return detect_emsync(path, "ffmpeg", env, first, fps)
    if tool == "ffmpeg":
        return detect_ffmpeg(path, fps)
    return detect_scenechange(path, env, first, fps)


def overhead(path, env, runs):
    cmds = {
        "identity": ["gst-launch-1.0", "-q", "filesrc", "location=" + path, "!", "decodebin", "!", "identity", "!",
                     "fakesink"],
        "emsyncscenecut": ["gst-launch-1.0", "-q", "filesrc", "location=" + path, "!", "decodebin", "!",
                           "emsyncscenecut", "!", "fakesink"],
        "videoconvert": ["gst-launch-1.0", "-q", "filesrc", "location=" + path, "!", "decodebin", "!",
                         "videoconvert", "!", "emsyncscenecut", "!", "fakesink"],
        "ffmpeg": ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", path, "-vf", "select='gt(scene,0.27)'",
                   "-f", "null", "-"],
    }
    times = {k: [] for k in cmds}
    cpu = {k: [] for k in cmds}
    run(cmds["identity"], env)   # warm the registry and the page cache
    for i in range(runs):
        order = list(cmds.items())
        for k, c in (order if i % 2 == 0 else order[::-1]):   # alternate, so no command always follows another
            times[k].append(run(c, env)[1])
            cpu[k].append(LAST_CPU[0])
    return ({k: statistics.median(v) for k, v in times.items()}, times,
            {k: statistics.median(v) for k, v in cpu.items()})


def startup(env, runs):
    """Median wall and CPU seconds of a one-frame pipeline: what loading the element costs."""
    cmds = {k: ["gst-launch-1.0", "-q", "videotestsrc", "num-buffers=1", "!", k, "!", "fakesink"]
            for k in ("identity", "emsyncscenecut")}
    times = {k: [] for k in cmds}
    cpu = {k: [] for k in cmds}
    for i in range(runs):
        order = list(cmds.items())
        for k, c in (order if i % 2 == 0 else order[::-1]):
            times[k].append(run(c, env)[1])
            cpu[k].append(LAST_CPU[0])
    return ({k: statistics.median(v) for k, v in times.items()},
            {k: statistics.median(v) for k, v in cpu.items()})


def overhead_section(args, env, eval_set):
    """Lines of the overhead section: start-up cost, then the 720p pipelines against identity and ffmpeg."""
    lines = []
    path = os.path.join(args.data, eval_set["clips"]["hardcuts"]["files"]["720"])
    _, fps, frames = probe(path, env)
    load = os.getloadavg()[0]
    med, all_times, cpu = overhead(path, env, args.runs)
    ratio = med["emsyncscenecut"] / med["identity"]
    lines += ["", "## Overhead (720p H.264, %d frames, %.1f s; medians of %d interleaved runs)" % (
        frames, frames / fps, args.runs), ""]
    lines.append("| pipeline | median wall (s) | median CPU user+sys (s) | wall of each run (s) |")
    lines.append("|---|---|---|---|")
    for k, label in (("identity", "`filesrc ! decodebin ! identity ! fakesink`"),
                     ("emsyncscenecut", "`filesrc ! decodebin ! emsyncscenecut ! fakesink`"),
                     ("videoconvert", "`filesrc ! decodebin ! videoconvert ! emsyncscenecut ! fakesink`"),
                     ("ffmpeg", "`ffmpeg -i FILE -vf \"select='gt(scene,0.27)'\" -f null -`")):
        lines.append("| %s | %.3f | %.3f | %s |" % (label, med[k], cpu[k],
                                                ", ".join("%.2f" % t for t in all_times[k])))
    lines.append("")
    lines.append("Wall-time ratios: emsyncscenecut / identity = **%.3f** (target <= 1.10); emsyncscenecut / "
                 "ffmpeg = **%.3f** (target <= 1.0); with videoconvert: / identity = %.3f, / ffmpeg = "
                 "**%.3f**; identity / ffmpeg = %.3f (GStreamer's own baseline). "
                 "CPU-time ratios: emsyncscenecut / identity = %.3f, emsyncscenecut / ffmpeg = %.3f. Load "
                 "average when the runs started: %.1f, when they ended: %.1f, on %d cores." % (
                     ratio, med["emsyncscenecut"] / med["ffmpeg"],
                     med["videoconvert"] / med["identity"], med["videoconvert"] / med["ffmpeg"],
                     med["identity"] / med["ffmpeg"],
                     cpu["emsyncscenecut"] / cpu["identity"], cpu["emsyncscenecut"] / cpu["ffmpeg"], load,
                     os.getloadavg()[0], os.cpu_count()))
    lines.append("")
    lines.append("On this machine (2 cores, a training job in the background) a pipeline's wall time moves by 10-30% from run to run (each run is listed), so wall ratios within about 5% of 1.0 are not a measured difference; CPU time is steadier.")
    start_load = os.getloadavg()[0]
    smed, scpu = startup(env, 3 * args.runs)
    lines.append("")
    lines.append("Start-up (loading the plugin and the libraries it links; `videotestsrc num-buffers=1 ! X ! "
                 "fakesink`, medians of %d interleaved runs, load %.1f): identity %.1f ms wall / %.1f ms CPU, "
                 "emsyncscenecut %.1f ms / %.1f ms, so loading the element costs %.1f ms wall, %.1f ms CPU of "
                 "each run above." % (3 * args.runs, start_load, 1e3 * smed["identity"], 1e3 * scpu["identity"],
                                      1e3 * smed["emsyncscenecut"], 1e3 * scpu["emsyncscenecut"],
                                      1e3 * (smed["emsyncscenecut"] - smed["identity"]),
                                      1e3 * (scpu["emsyncscenecut"] - scpu["identity"])))
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--data", default=os.environ.get("EMSYNC_BENCH_DIR", "/tmp/emsync-scenecut-eval"))
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared", "data", "video"))
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--tools", default=",".join(t for _, t in TOOLS))
    ap.add_argument("--sizes", default="720,360")
    ap.add_argument("--no-overhead", action="store_true")
    ap.add_argument("--overhead-only", action="store_true")
    ap.add_argument("--out", default=os.path.join(HERE, "results.md"))
    args = ap.parse_args()
    env = gst_env(os.path.abspath(args.build))
    tools = [t for t in TOOLS if t[1] in args.tools.split(",")]

    gt_path = os.path.join(args.data, "ground_truth.json")
    if not os.path.exists(gt_path):
        sys.exit("no evaluation set at %s: run bench/scenecut/make_eval_set.sh first" % args.data)
    eval_set = json.load(open(gt_path))
    if args.overhead_only:
        old = open(args.out).read()
        head = (old[:old.index("\n## Overhead")] if "\n## Overhead" in old else old).rstrip("\n")
        text = head + "\n" + "\n".join(overhead_section(args, env, eval_set)) + "\n"
        print(text)
        with open(args.out, "w") as f:
            f.write(text)
        return

    cases = []   # (group, clip, path, truth)
    for size in args.sizes.split(","):
        for name, clip in eval_set["clips"].items():
            cases.append(("eval %sp" % size, name, os.path.join(args.data, clip["files"][size]),
                          clip["transitions"]))
    shared_gt = os.path.join(args.shared, "ground_truth.json")
    if os.path.exists(shared_gt):
        for name, video in json.load(open(shared_gt))["videos"].items():
            cases.append(("shared (native)", name, os.path.join(args.shared, name), truth_from_shared(video)))

    totals = {}      # (group, tool) -> [tp, fp, fn, frames, seconds]
    per_clip = []    # rows for the default method
    static_boundaries = {}
    for group, name, path, truth in cases:
        first, fps, frames = probe(path, env)
        for label, tool in tools:
            found, wall = run_tool(tool, path, env, first, fps)
            tp, fp, fn = score(truth, found)
            for key in ((group, tool), ("all", tool)):
                acc = totals.setdefault(key, [0, 0, 0, 0, 0.0])
                acc[0] += tp
                acc[1] += fp
                acc[2] += fn
                acc[3] += frames
                acc[4] += wall
            if name == "static":
                static_boundaries[(group, tool)] = len(found)
            if tool == "adaptive":
                per_clip.append((group, name, len(truth), tp, fp, fn, found))
            print("%-16s %-14s %-26s tp %2d fp %2d fn %2d  %6.1f fps  %s" % (
                group, name, tool, tp, fp, fn, frames / wall, [f for f, _ in found]), flush=True)

    lines = ["# emsyncscenecut: evaluation and overhead", ""]
    lines.append("Generated by `bench/scenecut/evaluate.py` on %s (%d CPU cores, shared with other jobs); "
                 "evaluation set from `bench/scenecut/make_eval_set.sh`." % (time.strftime("%Y-%m-%d %H:%M UTC",
                                                                                          time.gmtime()),
                                                                            os.cpu_count()))
    lines.append("Reproduce: `EMSYNC_WITH_BENCH=1 scripts/install-deps.sh && bench/scenecut/make_eval_set.sh && "
                 "bench/scenecut/evaluate.py --build build`.")
    lines.append("A detection matches a boundary within %.1f frames of a cut or inside a gradual transition "
                 "(span widened by %.1f frames); P/R/F1 are summed over clips. fps = frames / wall time of the "
                 "whole command including decoding." % (TOLERANCE, TOLERANCE))
    lines.append("")
    groups = []
    for g, *_ in cases:
        if g not in groups:
            groups.append(g)
    lines.append("| detector | " + " | ".join("%s F1 (P/R)" % g for g in groups) + " | all F1 | static clip "
                 "boundaries (720p/360p) | fps (all clips) |")
    lines.append("|---|" + "---|" * (len(groups) + 3))
    for label, tool in tools:
        cells = []
        for g in groups:
            tp, fp, fn, _, _ = totals[(g, tool)]
            p, r, f = prf(tp, fp, fn)
            cells.append("%.3f (%.2f/%.2f)" % (f, p, r))
        tp, fp, fn, frames, wall = totals[("all", tool)]
        f = prf(tp, fp, fn)[2]
        static = "/".join(str(static_boundaries.get(("eval %sp" % s, tool), "-")) for s in args.sizes.split(","))
        lines.append("| %s | %s | **%.3f** | %s | %.0f |" % (label, " | ".join(cells), f, static, frames / wall))
    lines.append("")
    lines.append("Per clip, default method (boundaries / TP / FP / FN, detected frames):")
    lines.append("")
    lines.append("| set | clip | boundaries | TP | FP | FN | detected (frame, kind) |")
    lines.append("|---|---|---|---|---|---|---|")
    for group, name, n, tp, fp, fn, found in per_clip:
        lines.append("| %s | %s | %d | %d | %d | %d | %s |" % (group, name, n, tp, fp, fn,
                                                               ", ".join("%d %s" % d for d in found) or "-"))

    if not args.no_overhead:
        lines += overhead_section(args, env, eval_set)
    text = "\n".join(lines) + "\n"
    print(text)
    with open(args.out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
