#!/usr/bin/env python3
"""Whole pipeline, file to file: wall time and peak memory of `emsync` on a 720p H.264 clip of a minute or more,
against the floor for anything that looks at the frames (`filesrc ! decodebin ! fakesink`), medians of several
runs, as ratios, with the default generator (emsync-small) and the fast one (emsync-tiny). Goal: emsync < 1.5x
decode-only wall time (generation overlaps decoding).

  /usr/bin/python3 bench/pipeline/run.py [--build build] [--runs 3] [--seconds 60] [--out bench/pipeline/results.md]
"""
import argparse
import os
import re
import platform
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def timed(cmd, env, log=None):
    """Runs cmd under /usr/bin/time; returns (wall seconds, peak RSS MiB). Its stderr goes to `log` if given."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", tf.name] + cmd, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=log if log is not None else subprocess.DEVNULL)
        wall, kib = tf.read().split()[-2:]
        return float(wall), int(kib) / 1024.0


def tokens_generated(log_path):
    """The token count emsyncmidigen logs at EOS (GST_DEBUG=emsyncmidigen:4), or None."""
    m = re.search(r"generated [0-9.]+ s of music: ([0-9]+) tokens", open(log_path, errors="replace").read())
    return int(m.group(1)) if m else None


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "pipeline", "results.md"))
    a = ap.parse_args()
    build = os.path.abspath(os.path.join(ROOT, a.build))
    work = os.path.join(ROOT, "out", "bench")
    os.makedirs(work, exist_ok=True)
    example = os.path.join(work, "example.mp4")
    if not os.path.exists(example):
        subprocess.run([os.path.join(ROOT, "scripts", "make-example-video.sh"), example], check=True,
                       stdout=subprocess.DEVNULL)
    clip = os.path.join(work, f"clip720_{a.seconds}s.mp4")
    if not os.path.exists(clip):
        # Loop the 30 s example (real footage, cuts, a dissolve and a fade) to the wanted length.
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", example, "-t", str(a.seconds),
                        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", clip], check=True)
    env = dict(os.environ, GST_PLUGIN_PATH=os.path.join(build, "plugins"),
               GST_REGISTRY_1_0=os.path.join(build, "bench-registry.bin"))
    decode = ["gst-launch-1.0", "-q", "filesrc", f"location={clip}", "!", "decodebin", "!", "fakesink"]
    score = [os.path.join(build, "cli", "emsync"), clip, "-o", os.path.join(work, "scored.mp4"), "-q"]
    models = ["small", "tiny"]   # emsync's default generator, and the fast one (--model tiny)
    timed(decode, env)  # warm the registry and the page cache
    rows = {"decode": [], **{m: [] for m in models}}
    tokens = {m: [] for m in models}
    # The seed changes from run to run: the music's token count (which decides the time) varies by seed, so
    # one seed would measure that seed's piece rather than the pipeline. Runs interleave the three commands.
    log_env = dict(env, GST_DEBUG="emsyncmidigen:4", GST_DEBUG_NO_COLOR="1")
    for run in range(a.runs):
        rows["decode"].append(timed(decode, env))
        for m in models:
            with tempfile.NamedTemporaryFile("w+", suffix=".log") as log:
                rows[m].append(timed(score + ["--model", m, "--seed", str(run)], log_env, log))
                tokens[m].append(tokens_generated(log.name))
    med = {k: (statistics.median(w for w, _ in v), statistics.median(m for _, m in v)) for k, v in rows.items()}
    ratio = {m: (med[m][0] / med["decode"][0], med[m][1] / med["decode"][1]) for m in models}
    every = "\n".join(
        f"* `--model {m}`: {', '.join(f'{w:.2f}' for w, _ in rows[m])} s; tokens generated: "
        f"{', '.join(str(t) if t is not None else '?' for t in tokens[m])}" for m in models)
    text = f"""## Whole pipeline, file to file

Machine: {cpu_model()}, {os.cpu_count()} cores. Clip: {a.seconds} s, 1280x720 30 fps H.264 (the example video looped).
Medians of {a.runs} runs, measured in one session with `/usr/bin/time` (`bench/pipeline/run.py`); each run times the
three commands one after the other, with `--seed` = the run's number (0 to {a.runs - 1}).

| pipeline | wall time (s) | peak RSS (MiB) | wall vs decode-only (goal < 1.5x) | RSS vs decode-only |
|---|---|---|---|---|
| `filesrc ! decodebin ! fakesink` (decode only: the floor) | {med['decode'][0]:.2f} | {med['decode'][1]:.0f} | 1 | 1 |
| `emsync clip.mp4 -o scored.mp4` (cuts, emotion, generation with emsync-small, synthesis, AAC, mux) | {med['small'][0]:.2f} | {med['small'][1]:.0f} | **{ratio['small'][0]:.2f}x** | {ratio['small'][1]:.1f}x |
| the same with `--model tiny` (emsync-tiny) | {med['tiny'][0]:.2f} | {med['tiny'][1]:.0f} | **{ratio['tiny'][0]:.2f}x** | {ratio['tiny'][1]:.1f}x |

Every run: {', '.join(f"{w:.2f}" for w, _ in rows['decode'])} s (decode only);
{every}
"""
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "notes.md")
    if os.path.exists(notes):   # the hand-measured breakdown, kept beside the generated table
        text += "\n" + open(notes).read()
    with open(a.out, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
