#!/usr/bin/python3
"""Real-time factor of emsyncsynth and of upstream fluiddec on the same MIDI file and SoundFont.

    bench/synth/rtf.py [--build build] [--midi FILE] [--soundfont SF2] [--runs 5]

Runs `filesrc ! midiparse ! <synth> ! fakesink sync=false` to EOS with gst-launch-1.0, `--runs` times per synth
(alternating), and reports the median wall time, the start-up overhead (the same pipeline on a one-note file, also a
median) and the real-time factor RTF = (wall - overhead) / audio duration (lower is faster; 0.01 = 100x real time).
emsyncsynth runs with tail-duration=0 so both render the same length. Both use 44100 Hz F32LE.

MIDI: --midi, else a dense multi-instrument General MIDI file from ../shared/data/midi when present, else a 60 s
file this script writes (8 instruments + drums, 16th notes at 140 bpm). The audio duration is measured, not
guessed: the length of fluiddec's output (which stops at the last event).
"""
import argparse
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHARED_MIDI = os.path.join(ROOT, "..", "shared", "data", "midi")
SHARED_CHOICES = [
    "debian_free/openttd-openmsx/openttd__baseset__openmsx__tttheme2.mid",
    "debian_free/openttd-openmsx/openttd__baseset__openmsx__modern_motion.mid",
]
SOUNDFONTS = [
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/sounds/sf3/default-GM.sf3",
]


def varlen(value):
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(out))


def write_smf(path, events, division=480, tempo_us=None):
    """events: list of (tick, bytes); one format-0 track."""
    track = b""
    if tempo_us:
        track += b"\x00\xff\x51\x03" + tempo_us.to_bytes(3, "big")
    last = 0
    for tick, data in sorted(events, key=lambda e: (e[0], e[1][0] & 0xF0 != 0x80)):
        track += varlen(tick - last) + data
        last = tick
    track += b"\x00\xff\x2f\x00"
    with open(path, "wb") as f:
        f.write(b"MThd" + struct.pack(">IHHH", 6, 0, 1, division))
        f.write(b"MTrk" + struct.pack(">I", len(track)) + track)


def dense_midi(path, seconds=60, bpm=140):
    """8 melodic instruments on channels 0-7 plus drums on channel 9, a note every 16th on each."""
    division = 480
    sixteenth = division // 4
    steps = int(seconds * bpm / 60 * 4)
    programs = [0, 24, 32, 40, 48, 56, 65, 73]  # piano, guitar, bass, violin, strings, trumpet, sax, flute
    scale = [0, 2, 4, 5, 7, 9, 11, 12]
    events = []
    for ch, prog in enumerate(programs):
        events.append((0, bytes([0xC0 | ch, prog])))
    for step in range(steps):
        tick = step * sixteenth
        for ch in range(len(programs)):
            key = 36 + 12 * (ch % 4) + scale[(step + ch * 3) % len(scale)]
            length = sixteenth * (1 + (ch % 3))
            events.append((tick, bytes([0x90 | ch, key, 70 + (step * 7 + ch) % 50])))
            events.append((tick + length, bytes([0x80 | ch, key, 0])))
        drum = [36, 42, 38, 42][step % 4]
        events.append((tick, bytes([0x99, drum, 100])))
        events.append((tick + sixteenth // 2, bytes([0x89, drum, 0])))
    write_smf(path, events, division, tempo_us=int(60e6 / bpm))


def one_note_midi(path):
    write_smf(path, [(0, bytes([0x90, 60, 100])), (48, bytes([0x80, 60, 0]))], 480, tempo_us=500000)


def gst_env(build):
    env = dict(os.environ)
    env["GST_PLUGIN_PATH_1_0"] = os.path.join(os.path.abspath(build), "plugins")
    env["GST_REGISTRY_1_0"] = os.path.join(os.path.abspath(build), "bench-synth-registry.bin")
    env.pop("GST_DEBUG", None)
    return env


def pipeline(midi, synth, sink="fakesink sync=false"):
    return ["gst-launch-1.0", "-q", "filesrc", "location=" + midi, "!", "midiparse", "!"] + synth.split() + [
        "!", "audio/x-raw,format=F32LE,rate=44100,channels=2", "!"] + sink.split()


def timed_run(cmd, env):
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit("failed (%d): %s\n%s" % (proc.returncode, " ".join(cmd), proc.stderr))
    return elapsed


def audio_seconds(midi, synth, env, tmpdir):
    wav = os.path.join(tmpdir, "out.wav")
    timed_run(pipeline(midi, synth, "wavenc ! filesink location=" + wav), env)
    return (os.path.getsize(wav) - 44) / (44100 * 8)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--midi")
    ap.add_argument("--soundfont")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    soundfont = args.soundfont or next((sf for sf in SOUNDFONTS if os.path.isfile(sf)), None)
    if not soundfont:
        sys.exit("no General MIDI SoundFont found (apt install timgm6mb-soundfont)")
    env = gst_env(args.build)
    synths = {
        "emsyncsynth": "emsyncsynth soundfont=%s tail-duration=0" % soundfont,
        "fluiddec": "fluiddec soundfont=%s" % soundfont,
    }
    with tempfile.TemporaryDirectory(prefix="emsync-rtf-") as tmp:
        midi = args.midi
        if not midi:
            shared = [os.path.join(SHARED_MIDI, c) for c in SHARED_CHOICES]
            midi = next((m for m in shared if os.path.isfile(m)), None)
        if not midi:
            midi = os.path.join(tmp, "dense.mid")
            dense_midi(midi)
        tiny = os.path.join(tmp, "one-note.mid")
        one_note_midi(tiny)

        seconds = audio_seconds(midi, synths["fluiddec"], env, tmp)
        timed_run(pipeline(tiny, synths["emsyncsynth"]), env)  # builds the registry outside the timings
        walls = {name: [] for name in synths}
        overheads = {name: [] for name in synths}
        for _ in range(args.runs):
            for name, synth in synths.items():
                overheads[name].append(timed_run(pipeline(tiny, synth), env))
                walls[name].append(timed_run(pipeline(midi, synth), env))

    print("MIDI: %s (%.1f s of audio), SoundFont: %s, %d runs each, medians" %
          (os.path.relpath(midi, ROOT) if midi.startswith(ROOT) else os.path.basename(midi), seconds, soundfont,
           args.runs))
    results = {}
    for name in synths:
        wall = statistics.median(walls[name])
        overhead = statistics.median(overheads[name])
        rtf = max(wall - overhead, 1e-9) / seconds
        results[name] = rtf
        print("%-12s wall %.3f s, start-up %.3f s, RTF %.4f (%.0fx real time)" % (name, wall, overhead, rtf, 1 / rtf))
    print("emsyncsynth/fluiddec time ratio: %.2f" % (results["emsyncsynth"] / results["fluiddec"]))


if __name__ == "__main__":
    main()
