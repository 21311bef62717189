#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora under fuzz/corpus/ (run with Debian's /usr/bin/python3; the generator seeds
need python3-torch). Everything is made here: small MIDI files written byte by byte, token streams, a tiny TF.js
graph, and a micro generator exported with the project's own export path, repacked to the records the runtime
reads. Committed so that `make fuzz` needs no Python; re-run after changing a format.
"""
import io
import json
import os
import shutil
import struct
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def put(folder, name, data):
    os.makedirs(os.path.join(CORPUS, folder), exist_ok=True)
    with open(os.path.join(CORPUS, folder, name), "wb") as f:
        f.write(data)


# ---- Standard MIDI files -------------------------------------------------------------------------------------
def vlq(n):
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def track(events):
    body = b"".join(vlq(dt) + bytes(msg) for dt, msg in events) + b"\x00\xff\x2f\x00"
    return b"MTrk" + struct.pack(">I", len(body)) + body


def smf(fmt, division, tracks):
    return b"MThd" + struct.pack(">IHHH", 6, fmt, len(tracks), division) + b"".join(tracks)


def smf_seeds():
    tempo = [0xFF, 0x51, 0x03, 0x07, 0x53, 0x00]  # 480000 us per quarter
    name = [0xFF, 0x03, 0x05] + list(b"piano")
    melody = [(0, [0xC0, 0]), (0, [0x90, 60, 90]), (240, [0x80, 60, 0]), (0, [0x90, 64, 80]),
              (240, [0x90, 64, 0]), (0, [0x90, 67, 70]), (480, [0x80, 67, 64])]
    drums = [(0, [0x99, 36, 100]), (120, [0x89, 36, 0]), (0, [0x99, 38, 100]), (120, [0x89, 38, 0])]
    put("smf", "format0.mid", smf(0, 480, [track([(0, tempo), (0, name)] + melody)]))
    put("smf", "format1.mid", smf(1, 96, [track([(0, tempo), (960, [0xFF, 0x51, 0x03, 0x03, 0xD0, 0x90])]),
                                          track(melody), track(drums)]))
    # running status, a sysex, a pitch bend, a key signature with mode 255 (skipped), an SMPTE division
    running = [(0, [0x90, 60, 90]), (10, [62, 90]), (10, [60, 0]), (10, [62, 0]), (0, [0xF0, 0x03, 0x7E, 0x09, 0xF7]),
               (5, [0xE0, 0x00, 0x40]), (0, [0xFF, 0x59, 0x02, 0x00, 0xFF])]
    put("smf", "running_status_smpte.mid", smf(0, 0xE728, [track(running)]))  # -25 fps, 40 ticks per frame
    # the same song in a RIFF RMID wrapper
    song = smf(0, 480, [track(melody)])
    data = b"RMID" + b"data" + struct.pack("<I", len(song)) + song
    put("smf", "wrapped.rmi", b"RIFF" + struct.pack("<I", len(data)) + data)


# ---- token streams (two bytes per token, little-endian) ------------------------------------------------------
def token_seeds():
    first_note, pitches = 129, 88

    def note(instrument, pitch, on):
        return first_note + instrument * 2 * pitches + (pitches if on else 0) + pitch - 21

    streams = {
        "melody.tok": [1, 1009, note(0, 60, True), 3 + 60, note(0, 60, False), 3, note(1, 48, True),
                       3 + 125, 3 + 125, note(1, 48, False)],
        "chords_drums.tok": [1, 1010, 3, note(0, 60, True), note(0, 64, True), note(4, 36, True), 3 + 30,
                             note(4, 36, False), 2, note(0, 60, True), 3 + 10, note(0, 60, False),
                             note(0, 64, False)],
        "open_notes.tok": [note(2, 70, True), note(3, 50, True), 3 + 5, note(2, 70, False), 0],
    }
    for name, tokens in streams.items():
        put("token_decoder", name, b"".join(struct.pack("<H", t) for t in tokens))


# ---- a tiny TF.js graph model (JSON, NUL, weights) -----------------------------------------------------------
def face_seeds():
    import base64

    def const(name, dtype, shape):
        return {"name": name, "op": "Const", "attr": {"dtype": {"type": "DT_FLOAT" if dtype == "float32" else "DT_INT32"}}}

    nodes = [
        {"name": "input", "op": "Placeholder",
         "attr": {"shape": {"shape": {"dim": [{"size": "-1"}, {"size": "64"}, {"size": "64"}, {"size": "1"}]}}}},
        const("w", "float32", [1, 1, 1, 7]), const("b", "float32", [7]), const("axes", "int32", [2]),
        {"name": "conv", "op": "_FusedConv2D", "input": ["input", "w", "b"],
         "attr": {"padding": {"s": base64.b64encode(b"VALID").decode()},
                  "data_format": {"s": base64.b64encode(b"NHWC").decode()},
                  "strides": {"list": {"i": ["1", "1", "1", "1"]}},
                  "fused_ops": {"list": {"s": [base64.b64encode(b"BiasAdd").decode()]}}}},
        {"name": "mean", "op": "Mean", "input": ["conv", "axes"], "attr": {"keep_dims": {"b": False}}},
        {"name": "softmax", "op": "Softmax", "input": ["mean"]},
        {"name": "Identity", "op": "Identity", "input": ["softmax"]},
    ]
    manifest = [{"paths": ["w.bin"], "weights": [
        {"name": "w", "shape": [1, 1, 1, 7], "dtype": "float32"},
        {"name": "b", "shape": [7], "dtype": "float32"},
        {"name": "axes", "shape": [2], "dtype": "int32"}]}]
    doc = {"format": "graph-model", "modelTopology": {"node": nodes}, "weightsManifest": manifest}
    weights = struct.pack("<7f", *[0.1 * i for i in range(7)]) + struct.pack("<7f", *[0.0] * 7) + struct.pack("<2i", 1, 2)
    put("face_model", "tiny_graph", json.dumps(doc).encode() + b"\0" + weights)


# ---- generator models ----------------------------------------------------------------------------------------
def repack(src, records, zip64=False):
    """The records the runtime reads (extra/emsync.json, the weight index and its data records), stored."""
    out = io.BytesIO()
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as w:
        for info in z.infolist():
            if info.filename.split("/", 1)[1] in records:
                with w.open("micro/" + info.filename.split("/", 1)[1], "w", force_zip64=zip64) as f:
                    f.write(z.read(info))
    return out.getvalue()


def model_seeds():
    import torch
    sys.path.insert(0, os.path.join(HERE, "..", "models", "training"))
    import model as generator
    from export import save_with_index

    torch.manual_seed(7)
    cfg = {"d_model": 8, "n_layers": 1, "n_heads": 2, "d_ff": 8, "context": 12, "dropout": 0.0}
    tmp = tempfile.mkdtemp()
    try:
        path = os.path.join(tmp, "micro.pt")
        config = generator.export_config(cfg)
        index = save_with_index(generator.script(generator.build(cfg).eval()), path,
                                {"emsync.json": json.dumps(config)})
        records = {"extra/emsync.json", "extra/emsync_weights.txt"}
        records |= {line.split()[1] for line in index.splitlines()[1:] if line.strip()}
        put("model", "micro.pt", repack(path, records))
        put("model", "micro_zip64.pt", repack(path, records, zip64=True))
        put("model", "config_only.pt", repack(path, {"extra/emsync.json"}))
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    smf_seeds()
    token_seeds()
    face_seeds()
    model_seeds()
    print("wrote seeds to", CORPUS)
