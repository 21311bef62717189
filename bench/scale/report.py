#!/usr/bin/env python3
"""Writes bench/scale/results.md from the rows bench/scale/run.sh measured (out/bench/scale/data.tsv).

    report.py DATA OUT SECONDS VIDEOS CORES METHOD COMMIT

Rows: live N passed late_audio late_video gaps cpu_per_stream load all_ok wall worst complete
      batch RUN N wall made exit load
"""
import datetime
import statistics
import sys

data, out, seconds, videos, cores, method, commit = sys.argv[1:]
videos, cores = int(videos), int(cores)
rows = [line.rstrip("\n").split("\t") for line in open(data) if line.strip()]
live = [r for r in rows if r[0] == "live"]
batch = [r for r in rows if r[0] == "batch"]
cpu = open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": \t")


def contiguous(flags):
    """The largest N such that rounds 1..N all hold."""
    n = 0
    for ok in flags:
        if not ok:
            break
        n += 1
    return n


on_time = contiguous(r[8] == "yes" for r in live)
complete = contiguous(r[11] == r[1] for r in live)
L = ["## Scale: live streams and batch throughput on one machine\n"]
L.append(f"Measured {datetime.date.today()} with a build of the tree at commit {commit} "
         f"(`bench/scale/run.sh --seconds {seconds}`) on {cpu}, {cores} cores. **The machine is shared**: other "
         "people's builds and tests ran during these rounds; the load average (1 min, sampled every 5 s, median and "
         f"max) is given beside every round; {cores} cores at a load of L leave each runnable process about "
         f"{cores}/L of a core.\n")
L.append(f"### Live: concurrent 1280x720 30 fps pipelines, {seconds} s each\n")
L.append("Each stream is its own process (`tests/integration/live_check SECONDS \"\" 1280x720@30 20`): `videotestsrc "
         "is-live=true` through `emsyncbin` (shipped model, emotion on), video to a clock-synced `fakesink`, audio to a "
         "clock-synced `appsink`. Every buffer is timed as it reaches its sink: *late* = it arrived more than 20 ms "
         "after the clock time it is due at (base time + running time + the pipeline latency; 20 ms is the lateness "
         "at which GStreamer's video sinks drop a frame); *worst* = the largest lateness of the round. *0 late* = no "
         "late buffer, no audio gap, the whole audio and the expected latency. *complete* = all of that but the 20 ms: "
         "the sinks, at their default, drop nothing and post no QoS message, so this is what `bench/live` checks; a "
         "stream can be complete and still seconds late. *Wall* = the longest process's wall time for "
         f"{seconds} s of video (plus the 9 s lookahead flushed at the end); CPU = user + system time over the "
         f"{seconds} s of video, the test source's drawing of 720p frames included.\n")
L.append("| streams at once | 0 late | complete | late audio buffers | late video frames | worst lateness (ms) "
         "| audio gaps | wall (s) | CPU per stream (cores) | load average |")
L.append("|---|---|---|---|---|---|---|---|---|---|")
for r in live:
    L.append(f"| {r[1]} | {r[2]}/{r[1]} | {r[11]}/{r[1]} | {r[3]} | {r[4]} | {r[10]} | {r[5]} | {r[9]} | {r[6]} "
             f"| {r[7]} |")
shares = [float(r[6]) for r in live if r[11] == r[1]]
share = statistics.median(shares) if shares else float("nan")
L.append("")
L.append(f"**Streams with 0 late buffers: {on_time} ({on_time / cores:.2f} streams per core)** on this machine at "
         f"these loads; complete (no drop, no gap, late or not): {complete}. One stream costs a median {share:.2f} "
         f"of a core, so by CPU alone a quiet {cores}-core machine would have room for about "
         f"{int(cores / share) if shares else 0} ({(cores / share) / cores if shares else 0:.1f} per core): an "
         "estimate from the CPU time, not a measured count of on-time streams.\n")
L.append(f"### Batch: {videos} x a 30 s 720p30 H.264 video (the bundled example), N at once\n")
how = ("`emsync in-*.mp4 --out-dir DIR --jobs N`" if method == "jobs" else
       "N `emsync IN -o OUT` processes at once (`xargs -P N`; this build's `emsync` has no `--jobs`)")
runs = len({r[1] for r in batch})
L.append(f"Measured with {how} (each video a child process); N = 1, 2, 3 one after the other in each of {runs} "
         "runs, so each ratio compares runs under about the same load; wall time of the whole batch.\n")
L.append("| N | wall (s), median | every run (s) | videos per hour | videos per hour per core | vs N = 1 (medians) "
         "| vs N = 1, same run (median of runs) | load average (each run) |")
L.append("|---|---|---|---|---|---|---|---|")
# The same run's N = 1 wall time, for ratios between rounds measured minutes apart.
solo = {r[1]: float(r[3]) for r in batch if r[2] == "1" and int(r[4]) == videos and r[5] == "0"}
by_n = {}
for r in batch:
    by_n.setdefault(int(r[2]), []).append(r)
base = None
for n in sorted(by_n):
    rs = by_n[n]
    ok = [float(r[3]) for r in rs if int(r[4]) == videos and r[5] == "0"]
    loads = ", ".join(r[6].split(" ")[0] for r in rs)
    if not ok:
        L.append(f"| {n} | failed | {', '.join(r[3] for r in rs)} | | | | | {loads} |")
        continue
    med = statistics.median(ok)
    vph = videos / med * 3600
    base = base or med
    paired = [solo[r[1]] / float(r[3]) for r in rs if r[1] in solo and int(r[4]) == videos and r[5] == "0"]
    paired_text = (f"{statistics.median(paired):.2f}x ({', '.join(f'{x:.2f}' for x in paired)})" if paired else "")
    L.append(f"| {n} | {med:.1f} | {', '.join(f'{x:.1f}' for x in ok)} | {vph:.0f} | {vph / cores:.0f} "
             f"| {base / med:.2f}x | {paired_text} | {loads} |")
L.append("")
L.append(f"Per core = divided by this machine's {cores} cores. A video here is 30 s long: minutes of 720p video "
         "scored per hour per core are half the videos-per-hour-per-core figure.")
open(out, "w").write("\n".join(L) + "\n")
print("\n".join(L))
