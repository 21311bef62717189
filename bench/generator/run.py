#!/usr/bin/python3
"""Generator benchmark: speed, scene-cut sync, emotion response and musicality of models/emsync-small.pt
(+ the official EMSYNC architecture with random weights, for speed), via tools/emsync-gen-eval.

  bench/generator/run.sh [--quick] [--build build] [--model models/emsync-small.pt] [--out FILE]

Full mode writes bench/generator/results.md (about 22 min on 2 cores); --quick (under ~2 min) writes
BUILD/bench-generator-quick/results-quick.md. Raw tool output and JSON go to BUILD/bench-generator/
(BUILD/bench-generator-quick/ with --quick). The official-size random model (~150 MB) is generated in
BUILD/bench-generator/ by models/training/make_official_random.py and is never committed.
"""
import argparse
import datetime
import hashlib
import json
import os
import platform
import shlex
import subprocess
import sys
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GUIDANCE = 1.5  # emotion guidance strength evaluated beside the reference sampler
DENSITY = 5.0   # density-control strength (emsyncmidigen's default) evaluated beside the model alone
MODE = 1.5      # mode-control strength (emsyncmidigen's default)
CONTROLS = ["--density-control", str(DENSITY), "--mode-control", str(MODE)]
MODEL_ALONE = ["--density-control", "0", "--mode-control", "0"]  # gen-eval starts from the shipped options
EMOTION_VARIANTS = [  # (run key, extra emsync-gen-eval arguments, what)
    ("emotion", MODEL_ALONE, "<MORE_INSTRUMENTS>, model alone"),
    ("emotion_controls", CONTROLS, "<MORE_INSTRUMENTS>, density control %g + mode control %g (emsyncmidigen's "
     "defaults)" % (DENSITY, MODE)),
    ("emotion_less_controls", ["--instruments", "less"] + CONTROLS,
     "<LESS_INSTRUMENTS>, density control %g + mode control %g" % (DENSITY, MODE)),
]
CORPORA = ["pop909", "debian_free", "nottingham"]
# Musical statistics (issue 14): the same statistics for generated music and for a sample of each corpus.
MUSIC_CORPORA = ["debian_free", "pop909", "emopia", "groove", "string_quartets", "nottingham"]
MUSIC_JITTER_CORPORA = ["debian_free", "pop909", "emopia"]  # the pulse's calibration: the same with 60 ms jitter
MUSIC_GRID = "-0.8,-0.4,0,0.4,0.8"
MUSIC_KEYS = ("music_generated", "music_clips", "music_reference", "music_corpus", "music_jitter")
# Real clips through the emsync tool (its defaults, seeds 1 and 2): the shared test videos and three edits of
# testvideo.mp4's shots at other cut times (ffmpeg trim + concat of these spans, in seconds).
CLIP_VIDEOS = ["testvideo", "fades", "counter"]
CLIP_EDITS = {
    "editA": ["2.0-5.3", "8.0-10.9", "12.0-13.5", "14.0-17.7", "19.0-21.4", "23.0-24.0", "1.1-3.2"],
    "editB": ["0.0-0.9", "6.2-7.3", "1.2-5.9", "8.3-11.2", "14.5-17.9", "19.2-23.8"],
    "editC": ["3.0-5.9", "1.2-2.9", "6.1-7.2", "9.0-11.4", "15.0-17.2", "12.0-13.4", "19.0-20.7", "8.0-9.5",
              "21.0-23.5"],
}
MUSIC_BEGIN, MUSIC_END = "<!-- music statistics: begin -->", "<!-- music statistics: end -->"


def sh(cmd, **kw):
    return subprocess.run(cmd, cwd=ROOT, check=True, text=True, **kw)


def cpu_info():
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return model, os.cpu_count()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, under ~2 minutes")
    ap.add_argument("--build", default="build")
    ap.add_argument("--model", default="models/emsync-small.pt")
    ap.add_argument("--out", default=None)
    ap.add_argument("--no-official", action="store_true", help="skip the official-size random model")
    ap.add_argument("--only", default="", type=lambda s: [x for x in s.split(",") if x],
                    help="comma-separated run keys to run (the others are left out of the report)")
    ap.add_argument("--reuse", default="", type=lambda s: [x for x in s.split(",") if x],
                    help="comma-separated run keys (e.g. speed_official_t1,speed_official_t2) whose results from an "
                         "earlier run with the same arguments are reused")
    ap.add_argument("--music-only", action="store_true",
                    help="run only the musical statistics and replace their section in the existing results file")
    ap.add_argument("--shared-data", default=os.environ.get("EMSYNC_SHARED_DATA",
                                                            os.path.join(ROOT, "..", "shared", "data")))
    a = ap.parse_args()

    build = os.path.join(ROOT, a.build) if not os.path.isabs(a.build) else a.build
    # Quick runs keep their results apart, so that they never stand in for a full run's reusable ones (--reuse);
    # both share the official-size random model.
    shared = os.path.join(build, "bench-generator")
    work = shared + ("-quick" if a.quick else "")
    os.makedirs(work, exist_ok=True)
    os.makedirs(shared, exist_ok=True)
    out_md = a.out or (os.path.join(work, "results-quick.md") if a.quick
                       else os.path.join(ROOT, "bench", "generator", "results.md"))
    tool = os.path.join(build, "tools", "emsync-gen-eval")
    t_start = time.time()

    sh(["ninja", "-C", build, "-j2", "tools/emsync-gen-eval"], stdout=subprocess.DEVNULL)
    if not os.path.exists(a.model if os.path.isabs(a.model) else os.path.join(ROOT, a.model)):
        sys.exit("bench/generator: model %s not found" % a.model)

    official = os.path.join(shared, "official_random.pt")
    if not a.no_official and not os.path.exists(official):
        print("generating the official-size random model (models/training/make_official_random.py) ...", flush=True)
        sh(["/usr/bin/python3", "models/training/make_official_random.py", shared, "--script"],
           stdout=subprocess.DEVNULL)
        sd = os.path.join(shared, "official_random_state_dict.pt")
        if os.path.exists(sd):
            os.remove(sd)

    q = a.quick
    runs = []  # (key, title, argv)
    for th in ([1] if q else [1, 2]):
        runs.append(("speed_small_t%d" % th, "Speed: %s, %d thread(s)" % (a.model, th),
                     ["speed", "--model", a.model, "--threads", str(th), "--seconds", "10" if q else "30",
                      "--ref-steps", "6" if q else "24"]))
    tiny = os.path.join("models", "emsync-tiny.pt")
    if not q and os.path.exists(os.path.join(ROOT, tiny)) and os.path.abspath(a.model) != os.path.join(ROOT, tiny):
        # The fast shipped model (emsync --model tiny), for its speed beside the default's; its quality figures
        # are in models/MODEL_CARD.md (this script with --model models/emsync-tiny.pt).
        runs.append(("speed_tiny_t1", "Speed: %s, 1 thread(s)" % tiny,
                     ["speed", "--model", tiny, "--threads", "1", "--seconds", "30", "--ref-steps", "24"]))
    if not a.no_official:
        for th in ([1] if q else [1, 2]):
            runs.append(("speed_official_t%d" % th,
                         "Speed: official EMSYNC architecture (random weights), %d thread(s)" % th,
                         ["speed", "--model", os.path.relpath(official, ROOT), "--threads", str(th),
                          "--seconds", "2" if q else ("30" if th == 1 else "5"),
                          "--ref-steps", "1" if q else ("12" if th == 1 else "4")] +
                         ([] if q or th != 1 else ["--kv-profile", "64,256,512,768,1024,99999"])))
    runs.append(("sync", "Scene-cut sync: %s" % a.model,
                 ["sync", "--model", a.model, "--pieces", "2" if q else "12", "--seconds", "20" if q else "60",
                  "--seed", "7"] + MODEL_ALONE))
    # Emotion response with each instrument-count control token, and with emotion guidance
    # (ComposerOptions::emotion_guidance; 0 is the reference sampler).
    emotion_args = ["--seconds", "15" if q else "20", "--seeds", "1" if q else "4", "--seed", "11"] + \
        (["--grid", "-0.8,0,0.8"] if q else [])
    for key, extra, what in EMOTION_VARIANTS:
        if q and key != "emotion":
            continue
        runs.append((key, "Emotion response: %s, %s" % (a.model, what),
                     ["emotion", "--model", a.model] + emotion_args + extra))
    runs.append(("stats_model", "Musicality of generated pieces: %s" % a.model,
                 ["stats", "--model", a.model, "--pieces", "2" if q else "8", "--seconds", "20" if q else "60",
                  "--sync", "hard", "--seed", "5"] + MODEL_ALONE))
    corpora = [os.path.join(a.shared_data, "midi", c) for c in CORPORA
               if os.path.isdir(os.path.join(a.shared_data, "midi", c))]
    if corpora:
        runs.append(("stats_corpus", "Musicality of the training corpora (sample)",
                     ["stats", "--midi"] + [os.path.relpath(c, ROOT) for c in corpora] +
                     ["--max-files", "10" if q else "60", "--seed", "5"]))

    music_corpora = [os.path.join(a.shared_data, "midi", c) for c in MUSIC_CORPORA
                     if os.path.isdir(os.path.join(a.shared_data, "midi", c))]
    runs.append(("music_generated", "Musical statistics: %s over the valence x arousal grid, sync hard with "
                 "random cuts, density control %g + mode control %g (emsyncmidigen's defaults)" % (a.model, DENSITY, MODE),
                 ["stats", "--model", a.model, "--grid", "-0.8,0.8" if q else MUSIC_GRID, "--pieces", "1",
                  "--seconds", "10" if q else "30", "--sync", "hard", "--seed", "5"] + CONTROLS))
    runs.append(("music_reference", "Musical statistics: %s over the same grid with the reference preset "
                 "(EMSYNC's procedure: soft sync, the model alone, free timing)" % a.model,
                 ["stats", "--model", a.model, "--grid", "-0.8,0.8" if q else MUSIC_GRID, "--pieces", "1",
                  "--seconds", "10" if q else "30", "--preset", "reference", "--seed", "5"]))
    if music_corpora:
        rel = [os.path.relpath(c, ROOT) for c in music_corpora]
        runs.append(("music_corpus", "Musical statistics: corpus samples",
                     ["stats", "--midi"] + rel + ["--max-files", "5" if q else "40", "--seed", "5"]))
        jit = [r for r, c in zip(rel, music_corpora) if os.path.basename(c) in MUSIC_JITTER_CORPORA]
        runs.append(("music_jitter", "Musical statistics: corpus samples with 60 ms random jitter (calibration)",
                     ["stats", "--midi"] + jit + ["--max-files", "5" if q else "40", "--seed", "5",
                      "--jitter-ms", "60"]))
    clips_dir = os.path.join(work, "clips")
    if not q and (not a.only or "music_clips" in a.only):
        clips = render_clips(build, a.shared_data, clips_dir)
        if clips:
            runs.append(("music_clips", "Musical statistics: the emsync tool with its defaults on real clips (%s; "
                         "seeds 1 and 2)" % ", ".join(clips),
                         ["stats", "--midi", os.path.relpath(clips_dir, ROOT)]))
    if a.music_only:
        runs = [r for r in runs if r[0] in MUSIC_KEYS]
    if a.only:
        runs = [r for r in runs if r[0] in a.only]
    results, texts, cmds = {}, {}, {}
    for key, title, argv in runs:
        js = os.path.join(work, key + ".json")
        full = [tool] + argv + ["--json", js]
        shown = " ".join(shlex.quote(x) for x in [os.path.relpath(tool, ROOT)] + argv + ["--json", os.path.relpath(js, ROOT)])
        meta_path = os.path.join(work, key + ".meta.json")
        if key in a.reuse and os.path.exists(meta_path) and os.path.exists(js):
            # A result of an earlier run of the same command (e.g. the official-size timing, which does not
            # depend on the shipped model), reused as it was measured.
            with open(meta_path) as f:
                meta = json.load(f)
            if meta.get("argv") == argv:
                with open(js) as f:
                    results[key] = json.load(f)
                with open(os.path.join(work, key + ".txt")) as f:
                    texts[key] = f.read()
                cmds[key] = (title, shown, meta["seconds"], meta["load"], meta["utc"])
                print("reusing %s from %s UTC" % (key, meta["utc"]), flush=True)
                continue
        print("$ " + shown, flush=True)
        load_before = os.getloadavg()[0]
        utc = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M")
        t0 = time.time()
        p = subprocess.run(full, cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        dt = time.time() - t0
        with open(os.path.join(work, key + ".txt"), "w") as f:
            f.write(p.stdout)
        if p.returncode != 0:
            print(p.stdout)
            sys.exit("bench/generator: %s failed (exit %d)" % (key, p.returncode))
        print("  done in %.0f s" % dt, flush=True)
        with open(js) as f:
            results[key] = json.load(f)
        texts[key] = p.stdout
        cmds[key] = (title, shown, dt, load_before, utc)
        with open(meta_path, "w") as f:
            json.dump({"argv": argv, "seconds": dt, "load": load_before, "utc": utc}, f)

    if a.music_only:
        replace_music_section(out_md, music_section(a, results, cmds))
    else:
        write_markdown(out_md, a, results, texts, cmds, time.time() - t_start)
    print("wrote " + os.path.relpath(out_md, ROOT) + " in %.0f s" % (time.time() - t_start))


def model_meta(path):
    """emsync.json of a TorchScript generator (a zip archive) and the file's sha256 prefix."""
    meta = {}
    try:
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n.endswith("extra/emsync.json")]
            if names:
                meta = json.loads(z.read(names[0]))
    except (OSError, zipfile.BadZipFile, ValueError):
        pass
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        meta["sha256"] = h.hexdigest()[:16]
    except OSError:
        pass
    return meta


def fmt(x, f="%.3f"):
    return "n/a" if x is None else f % x


def tree_commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.strip() or "?"
    except OSError:
        return "?"


# (statistic, JSON key in a stats summary, format: "%" for a share)
MUSIC_ROWS = [
    ("onsets on one isochronous grid (pulse: chance-corrected, metronome 1, random 0)", "pulse", "%.2f"),
    ("the same in score time (onsets through the file's tempo map)", "score_pulse", "%.2f"),
    ("fitted grid spacing (s, median)", "grid_seconds", "%.3f"),
    ("onset clusters smeared over > 4 ms", "smear_share", "%"),
    ("most frequent gap between onset clusters (ms)", "modal_gap_ms", "%.0f"),
    ("pitched notes shorter than 100 ms", "short_note_share", "%"),
    ("median pitched note (ms)", "median_note_ms", "%.0f"),
    ("re-strikes (same key again within 100 ms)", "restrike_share", "%"),
    ("notes repeating their instrument's previous pitch", "repeated_pitch_share", "%"),
    ("pitch-class entropy (bits)", "pitch_class_entropy_bits", "%.2f"),
    ("key stability (8 s windows in the piece's key)", "key_stability", "%"),
    ("velocity spread (std)", "velocity_std", "%.1f"),
    ("kept cuts on a downbeat", "cuts_on_downbeat", "%"),
    ("tempo change between adjacent bars", "tempo_change", "%"),
    ("notes held 4 s (the composer's forced release)", "forced_release_share", "%"),
    ("notes/s", "notes_per_second", "%.2f"),
]


def render_clips(build, shared_data, out_dir):
    """The emsync tool's MIDI for each real clip and seed into out_dir; the list of clips used."""
    video_dir = os.path.join(shared_data, "video")
    emsync = os.path.join(build, "cli", "emsync")
    if not os.path.isdir(video_dir) or not os.path.exists(emsync):
        return []
    os.makedirs(out_dir, exist_ok=True)
    for f in os.listdir(out_dir):
        os.remove(os.path.join(out_dir, f))
    videos = [(v, os.path.join(video_dir, v + ".mp4")) for v in CLIP_VIDEOS
              if os.path.exists(os.path.join(video_dir, v + ".mp4"))]
    source = os.path.join(video_dir, "testvideo.mp4")
    if os.path.exists(source):
        for name, spans in CLIP_EDITS.items():
            graph = "".join("[0:v]trim=%s:%s,setpts=PTS-STARTPTS[v%d];" % (tuple(sp.split("-")) + (i,))
                            for i, sp in enumerate(spans))
            graph += "".join("[v%d]" % i for i in range(len(spans))) + "concat=n=%d:v=1:a=0[out]" % len(spans)
            path = os.path.join(out_dir, name + ".video.mp4")
            try:
                sh(["ffmpeg", "-loglevel", "error", "-y", "-i", source, "-filter_complex", graph, "-map", "[out]",
                    "-c:v", "mpeg4", "-q:v", "4", path])
                videos.append((name, path))
            except (OSError, subprocess.CalledProcessError):
                print("bench/generator: no ffmpeg edits of testvideo.mp4 (clips only)", flush=True)
                break
    env = dict(os.environ, GST_PLUGIN_PATH=os.path.join(build, "plugins"))
    for name, path in videos:
        for seed in (1, 2):
            stem = os.path.join(out_dir, "%s-%d" % (name, seed))
            sh([emsync, path, "-o", stem + ".out.mp4", "--midi", stem + ".mid", "--seed", str(seed), "-q"], env=env)
            os.remove(stem + ".out.mp4")
    for f in os.listdir(out_dir):
        if f.endswith(".video.mp4"):
            os.remove(os.path.join(out_dir, f))
    return [v[0] for v in videos]


def music_cell(summary, key, f):
    v = summary.get(key)
    if v is None:
        return "n/a"
    return "%.1f %%" % (100 * v) if f == "%" else f % v


def music_section(a, results, cmds):
    """The corpus values beside ours, one column per source, with the commands."""
    cols = []  # (label, summary)
    for r in results.get("music_corpus", {}).get("corpus", []):
        cols.append((r["label"], r))
    for r in results.get("music_jitter", {}).get("corpus", []):
        cols.append((r["label"], r))
    g = results.get("music_generated")
    if g:
        cols.append(("ours, all", g["generated"]))
        for r in g.get("generated_by_valence", []):
            cols.append(("ours, v " + r["label"].split("valence ")[1].split(",")[0], r))
    for r in results.get("music_clips", {}).get("corpus", []):
        cols.append(("ours, emsync on real clips", r))
    r = results.get("music_reference")
    if r:
        cols.append(("reference preset, all", r["generated"]))
    L = [MUSIC_BEGIN, "## Musical statistics: generated music beside the corpora (issue 14)\n"]
    L.append("Measured %s UTC, tree at commit %s. The same statistics (tools/gen-eval/music_stats.h, defined in "
             "bench/generator/README.md) for each corpus sample and for the generated pieces; means over pieces. "
             "Corpus bars are the files' tempo maps (4 quarters a bar); the shipped options' music is judged on its planned bar lines, the reference preset's (free timing) and the "
             "jittered corpus on the fitted grid (every 4th step a bar line). The real clips' column reads the .mid files "
             "the emsync tool wrote (their bar lines: the tempo track, 4 quarters a bar), so it has no cut figures; the "
             "pulse in score time reads each file's own tempo map (README).\n"
             % (datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"), tree_commit()))
    L.append("| statistic | " + " | ".join(c[0] for c in cols) + " |")
    L.append("|---|" + "---|" * len(cols))
    L.append("| pieces (minutes) | " + " | ".join("%d (%.0f)" % (c[1]["pieces"], c[1]["seconds"] / 60) for c in cols) + " |")
    for label, key, f in MUSIC_ROWS:
        L.append("| %s | %s |" % (label, " | ".join(music_cell(c[1], key, f) for c in cols)))
    L.append("")
    for key in MUSIC_KEYS:
        if key in cmds:
            title, shown, dt, load_before, utc = cmds[key]
            L.append("* %s (%.0f s, load %.1f):\n  `%s`" % (title, dt, load_before, shown))
    L.append(MUSIC_END)
    return "\n".join(L) + "\n"


def replace_music_section(path, section):
    text = open(path).read() if os.path.exists(path) else ""
    if MUSIC_BEGIN in text and MUSIC_END in text:
        head, rest = text.split(MUSIC_BEGIN, 1)
        text = head + section.rstrip("\n") + rest.split(MUSIC_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(text)


def write_markdown(path, a, results, texts, cmds, total_s):
    cpu, cores = cpu_info()
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.strip()
    except OSError:
        commit = "?"
    load = os.getloadavg()
    L = []
    L.append("# Generator benchmark%s\n" % (" (quick mode)" if a.quick else ""))
    L.append("Written by `bench/generator/run.sh%s` on %s UTC, tree at commit %s.\n" % (
        " --quick" if a.quick else "", datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"), commit))
    L.append("* Machine: %s, %d logical cores, load average %.2f / %.2f / %.2f at the end (the machine is shared "
             "with a background training job, so timings are pessimistic and noisy)." % ((cpu, cores) + load))
    m = next((r["model"] for k, r in results.items() if "official" not in k and "model" in r), None)
    mt = datetime.datetime.utcfromtimestamp(m.get("file_mtime", 0)).strftime("%Y-%m-%d %H:%M UTC") if m else ""
    if m:
        L.append("* Model: `%s`: %d parameters, %d layers, d_model %d, %d heads, d_ff %d, context %d; file %.1f MB "
                 "written %s." % (a.model, m["parameters"], m["n_layers"], m["d_model"], m["n_heads"], m["d_ff"],
                              m["context"], m.get("file_bytes", 0) / 1e6, mt))
        mm = model_meta(a.model if os.path.isabs(a.model) else os.path.join(ROOT, a.model))
        L.append("* Checkpoint: %s." % ", ".join("%s %s" % (k, mm[k]) for k in
                                                  ("name", "train_step", "valid_loss", "sha256") if k in mm))
    L.append("* Total bench time %.0f s.\n" % total_s)

    # ---- targets summary
    L.append("## Summary against the targets (issue 3)\n")
    L.append("| what | target | measured |")
    L.append("|---|---|---|")
    for th in (1, 2):
        r = results.get("speed_small_t%d" % th)
        if r:
            L.append("| generation time / music duration, shipped model, %d thread(s) | <= 0.1 (2 cores) | %s |"
                     % (th, fmt(r["composer"]["realtime_factor"], "%.4f")))
    r = results.get("speed_tiny_t1")
    if r:
        c = r["composer"]
        full = next((x for x in r["contexts"] if x["full_context"]), None)
        L.append("| generation time / music duration, emsync-tiny (`--model tiny`), 1 thread | report | %s (%.0f tokens "
                 "per music second; %s ms per step at full context) |"
                 % (fmt(c["realtime_factor"], "%.4f"), c["tokens_per_music_second"],
                    fmt(full.get("kv_ms_per_token_median") if full else None, "%.2f")))
    rss = []
    for key, label in (("speed_small_t1", "shipped"), ("speed_official_t1", "official size")):
        r = results.get(key)
        if r and "peak_after_composer" in r["rss_mib"]:
            rss.append("%s %.0f MiB" % (label, r["rss_mib"]["peak_after_composer"]))
    if rss:
        L.append("| peak RSS of the process after the Composer run (model load, 1 thread) | report | %s |" % ", ".join(rss))
    for th in (1, 2):
        r = results.get("speed_official_t%d" % th)
        if r:
            c = r["composer"]
            L.append("| generation time / music duration, official size (random weights, %.0f tokens per music "
                     "second), %d thread(s) | <= 0.5 | %s |" % (c["tokens_per_music_second"], th,
                                                              fmt(c["realtime_factor"], "%.3f")))
            small = results.get("speed_small_t%d" % th)
            if small:
                tps = small["composer"]["tokens_per_music_second"]
                proj = c["ms_per_token_mean"] * tps / 1000.0
                L.append("| same, at the shipped model's token rate (%.1f tokens per music second x %.1f ms/token "
                         "mean) | <= 0.5 | %.3f (projection) |" % (tps, c["ms_per_token_mean"], proj))
            L.append("| per-token speed-up over the reference full-recompute loop at full context (%d tokens), "
                     "official size, %d thread(s) | >= 50x | %.1fx per step; %.1fx amortised incl. chunked "
                     "re-prefill |" % (next(x["context_tokens"] for x in r["contexts"] if x["full_context"]), th,
                                        r["full_context_speedup"], r["full_context_amortised_speedup"]))
    s = results.get("sync")
    if s:
        h, so, no = s["modes"]["hard"], s["modes"]["soft"], s["modes"]["none"]
        L.append("| kept cuts with a chord onset within 40 ms, sync=hard | >= 95%% | %.1f %% (%d cuts) |"
                 % (100 * h["share_onset_within_40ms"], h["kept_cuts"]))
        hg = s["modes"].get("hard-grid")
        if hg:
            L.append("| same, diagnostic: cuts moved to the nearest 8 ms tick (hard-grid) | - | %.1f %% |"
                     % (100 * hg["share_onset_within_40ms"]))
        L.append("| kept cuts with a chord onset within 1 s, sync=soft vs none | report | %.1f %% vs %.1f %% |"
                 % (100 * so["share_onset_within_1s"], 100 * no["share_onset_within_1s"]))
        L.append("| kept cuts with a `<CHORD>` token within 1 s, sync=hard / soft / none | report | %.1f %% / %.1f %% "
                 "/ %.1f %% |" % (100 * h["share_chord_token_within_1s"], 100 * so["share_chord_token_within_1s"],
                                  100 * no["share_chord_token_within_1s"]))
    for key, _, what in EMOTION_VARIANTS:
        e = results.get(key)
        if not e:
            continue
        L.append("| Spearman(requested arousal, notes/s), %s | >= 0.8 | %s (per instrument: %s; %d pieces) |"
                 % (what, fmt(e["spearman_arousal_density"]), fmt(e["spearman_arousal_density_per_instrument"]),
                    len(e["pieces_detail"])))
        L.append("| share of major keys by requested valence, %s | rises with valence | %s |" % (what, ", ".join(
            "%+.1f: %s" % (v["valence"], "n/a" if v["share_major"] is None else "%.0f %%" % (100 * v["share_major"]))
            for v in e["by_valence"])))
    st = results.get("stats_model")
    if st:
        c = st["generated"]["token_checks"]
        L.append("| invalid token sequences (OFF of a silent key, duplicate ON, masked special tokens) | 0 | %d in "
                 "%d tokens (%d / %d / %d) |" % (c["invalid_total"], c["tokens"], c["off_of_silent_key"],
                                                 c["duplicate_on"], c["masked_special_tokens"]))
        L.append("| notes left hanging (ON without OFF at the end of the raw token stream) | 0 | %d over %d pieces |"
                 % (c["hanging_at_end"], st["generated"]["pieces"]))
        mc = st["generated"].get("midi_checks")
        if mc:
            L.append("| delivered MIDI (TokenStreamDecoder + flush at the end, as emsyncmidigen at EOS): notes hanging "
                     "/ note-offs of silent keys / note-ons of sounding keys | 0 | %d / %d / %d (%d note-ons) |"
                     % (mc["hanging_after_flush"], mc["off_without_on"], mc["on_while_sounding"], mc["note_ons"]))
    L.append("")

    if any(k in results for k in MUSIC_KEYS):
        L.append(music_section(a, results, cmds))

    # ---- details
    L.append("## Details\n")
    for key, (title, shown, dt, load_before, utc) in cmds.items():
        L.append("### %s\n" % title)
        L.append("```\n%s\n```\n" % shown)
        L.append("(ran %s UTC for %.0f s; 1-minute load average %.2f when it started)\n" % (utc, dt, load_before))
        body = [ln for ln in texts[key].splitlines() if not ln.startswith("wrote ")]
        L.append("\n".join(body).strip() + "\n")
    L.append("## Notes\n")
    L.append("* The reference loop is what EMSYNC's `generate.py` does per token: a full forward of the whole window "
             "(here `GeneratorSession::start()` on the window, i.e. a prefill, which is exactly the full forward), "
             "then sampling and a one-token slide. The KV-cached figure is `GeneratorSession::push()` with the cache "
             "filled to within min(32, context/4) tokens of the stated context. The amortised figure adds the session's chunked "
             "slide as measured: one push into a full window shows how many tokens the session keeps (W, in the "
             "re-prefill column) and what the re-prefill costs; a cycle is (window - W) steps plus one re-prefill.")
    L.append("* Chord onset: a `<CHORD>` token, or >= 3 non-drum notes starting on the same 8 ms tick (notes from "
             "lib/midi decode()). Kept cuts: the BoundarySchedule's (>= 4 s apart). Away from cuts: onsets more "
             "than 1 s from every kept cut.")
    L.append("* Key: Krumhansl-Schmuckler with the Krumhansl-Kessler profiles on duration-weighted pitch classes of "
             "non-drum notes. Arousal density: midi-emotion's notes / duration / non-empty instruments.")
    L.append("* Corpus statistics use lib/midi's SMF reader (leading silence removed); their token checks run on the "
             "corpus re-encoded by lib/midi encode(), a sanity check of the checker (always 0).")
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


if __name__ == "__main__":
    main()
