"""Corpus building and crop sampling for the emsync generator.

Run directly to build the cache:  /usr/bin/python3 models/training/dataset.py [--data DIR]

Per piece we store:
  tokens    int16   [<START>, events...] (see vocab.notes_to_tokens)
  boundary  float16 seconds from the time after each token to the next <CHORD> token, clamped [0, 8]
  labels    valence (NaN = unknown), arousal (note-density based, scaled to [-1, 1])

Design decisions (documented in models/MODEL_CARD.md):
  * times are quantised on the absolute time line to 8 ms ticks (no drift); leading silence removed.
  * notes of one (instrument, pitch) never overlap after merging into the 5 groups: a note is cut
    one tick before the next onset of the same key so that its OFF lands in an earlier step
    (ON-before-OFF ordering would otherwise close the new note). Minimum duration 1 tick.
  * <BAR> tokens come from the MIDI time-signature grid (4/4 when absent).
  * <CHORD> ("boundary chord") rule: cluster non-drum onsets within 5 ticks (40 ms) of the first
    onset of the cluster; if >= 3 distinct pitches in the cluster last >= 1.0 s, it is a candidate
    at the cluster's first tick. Candidates are kept greedily >= 4.0 s apart (like EMSYNC's scene cut
    filter). The token goes first in its time step (after <BAR>), i.e. right before the chord's ONs.
"""
import argparse
import csv
import hashlib
import math
import os
import sys
from multiprocessing import Pool

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vocab as V  # noqa: E402

TICKS_PER_SEC = 1000 // V.TICK_MS  # 125
MAX_BOUNDARY = 8.0
CHORD_ONSET_WINDOW = 5          # ticks
CHORD_MIN_NOTES = 3
CHORD_MIN_DUR = 125             # ticks (1.0 s)
CHORD_MIN_GAP = 500             # ticks (4.0 s)
VALID_FRACTION = 0.05
LABEL_VALUE = 0.8               # |valence| given to sign labels (inference V/A means span [-0.8, 0.8])

CORPUS_WEIGHTS = {              # sampling weight multipliers (per token)
    "debian_free": 3.0, "miditok_multitrack": 3.0, "emopia": 1.5, "vgmidi": 1.0,
    "pop909": 1.0, "nottingham": 0.7, "groove": 0.7, "string_quartets": 0.5,
}
CORPORA = list(CORPUS_WEIGHTS)


# ----------------------------------------------------------------------------- MIDI reading
def read_midi(path):
    """-> (notes [(start_s, end_s, instr, pitch)], bar_times_s) or None."""
    import mido
    mf = mido.MidiFile(path, clip=True)
    tpb = mf.ticks_per_beat
    events = []  # (abs_tick, track, order, msg)
    for ti, tr in enumerate(mf.tracks):
        t = 0
        for oi, msg in enumerate(tr):
            t += msg.time
            events.append((t, ti, oi, msg))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    tempos = [(0, 500000)]
    timesigs = []
    for t, _, _, msg in events:
        if msg.type == "set_tempo":
            if tempos[-1][0] == t:
                tempos[-1] = (t, msg.tempo)
            else:
                tempos.append((t, msg.tempo))
        elif msg.type == "time_signature":
            timesigs.append((t, msg.numerator, msg.denominator))
    # tempo map: tick -> seconds
    seg_tick = np.array([x[0] for x in tempos], dtype=np.float64)
    seg_tempo = np.array([x[1] for x in tempos], dtype=np.float64)
    seg_sec = np.zeros(len(tempos))
    for i in range(1, len(tempos)):
        seg_sec[i] = seg_sec[i - 1] + (seg_tick[i] - seg_tick[i - 1]) * seg_tempo[i - 1] / 1e6 / tpb

    def to_sec(tick):
        i = np.searchsorted(seg_tick, tick, side="right") - 1
        return seg_sec[i] + (tick - seg_tick[i]) * seg_tempo[i] / 1e6 / tpb

    program = [0] * 16
    open_notes = {}
    notes = []
    last_tick = 0
    for t, ti, _, msg in events:
        last_tick = max(last_tick, t)
        if msg.type == "program_change":
            program[msg.channel] = msg.program
        elif msg.type == "note_on" and msg.velocity > 0:
            key = (ti, msg.channel, msg.note)
            instr = V.program_to_instrument(program[msg.channel], msg.channel == 9)
            open_notes.setdefault(key, []).append((t, instr))
        elif msg.type == "note_off" or (msg.type == "note_on" and msg.velocity == 0):
            key = (ti, msg.channel, msg.note)
            lst = open_notes.get(key)
            if lst:
                s, instr = lst.pop(0)
                if instr is not None and V.MIN_PITCH <= msg.note <= V.MAX_PITCH:
                    notes.append((s, t, instr, msg.note))
    if not notes:
        return None
    ticks = np.array([[n[0], n[1]] for n in notes], dtype=np.float64)
    secs = to_sec(ticks.reshape(-1)).reshape(-1, 2)
    out = [(float(secs[i, 0]), float(secs[i, 1]), n[2], n[3]) for i, n in enumerate(notes)]
    # bar grid
    if not timesigs or timesigs[0][0] > 0:
        timesigs.insert(0, (0, 4, 4))
    end_tick = max(n[1] for n in notes)
    bars = []
    for i, (t0, num, den) in enumerate(timesigs):
        t1 = timesigs[i + 1][0] if i + 1 < len(timesigs) else end_tick + 1
        bar_len = num * tpb * 4.0 / den
        if bar_len <= 0:
            continue
        t = float(t0)
        while t < t1 and len(bars) < 100000:
            bars.append(t)
            t += bar_len
    bar_secs = to_sec(np.array(bars, dtype=np.float64)) if bars else np.zeros(0)
    return out, bar_secs.tolist()


# ----------------------------------------------------------------------------- piece encoding
def find_chords(notes):
    """notes: [(s, e, instr, pitch)] in ticks. Returns kept chord ticks (see module doc)."""
    nd = sorted((s, e, p) for s, e, ins, p in notes if ins != V.DRUMS)
    cands = []
    i = 0
    while i < len(nd):
        t0 = nd[i][0]
        j = i
        pitches = set()
        while j < len(nd) and nd[j][0] < t0 + CHORD_ONSET_WINDOW:
            if nd[j][1] - nd[j][0] >= CHORD_MIN_DUR:
                pitches.add(nd[j][2])
            j += 1
        if len(pitches) >= CHORD_MIN_NOTES:
            cands.append(t0)
        i = j
    kept = []
    for t in cands:
        if not kept or t - kept[-1] >= CHORD_MIN_GAP:
            kept.append(t)
    return kept


def encode_piece(notes_sec, bar_secs):
    """-> dict(tokens int16, boundary float16, n_notes, duration, n_instr) or None."""
    q = []
    for s, e, ins, p in notes_sec:
        st = int(round(s * TICKS_PER_SEC))
        et = int(round(e * TICKS_PER_SEC))
        q.append([st, max(et, st + 1), ins, p])
    if len(q) < 8:
        return None
    t0 = min(n[0] for n in q)
    for n in q:
        n[0] -= t0
        n[1] -= t0
    # no overlap per (instr, pitch)
    q.sort(key=lambda n: (n[2], n[3], n[0], n[1]))
    clean = []
    for k, n in enumerate(q):
        if k + 1 < len(q) and q[k + 1][2] == n[2] and q[k + 1][3] == n[3]:
            nxt = q[k + 1][0]
            if nxt <= n[0]:          # duplicate onset: drop this one
                continue
            if n[1] >= nxt:
                n[1] = nxt - 1
            if n[1] <= n[0]:
                continue
        clean.append(tuple(n))
    if len(clean) < 8:
        return None
    end = max(n[1] for n in clean)
    bars = sorted(set(int(round(b * TICKS_PER_SEC)) - t0 for b in bar_secs))
    bars = [b for b in bars if 0 <= b <= end]
    chords = find_chords(clean)
    toks, ticks = V.notes_to_tokens(clean, chords, bars)
    toks = [V.START] + toks
    ticks = [0] + ticks
    toks = np.array(toks, dtype=np.int16)
    ticks = np.array(ticks, dtype=np.int64)
    boundary = boundary_offsets(toks, ticks)
    instrs = set(n[2] for n in clean)
    dur = max((end - min(n[0] for n in clean)) / TICKS_PER_SEC, 1.0)
    return dict(tokens=toks, boundary=boundary.astype(np.float16), n_notes=len(clean),
                duration=dur, n_instr=len(instrs), n_chords=len(chords))


def boundary_offsets(toks, ticks):
    """Seconds from the time after token i to the time of the next <CHORD> token at j > i."""
    n = len(toks)
    out = np.full(n, MAX_BOUNDARY, dtype=np.float32)
    chord_pos = np.flatnonzero(toks == V.CHORD)
    if len(chord_pos) == 0:
        return out
    idx = np.arange(n)
    k = np.searchsorted(chord_pos, idx, side="right")   # first chord position > i
    has = k < len(chord_pos)
    nxt = chord_pos[np.minimum(k, len(chord_pos) - 1)]
    sec = (ticks[nxt] - ticks) / TICKS_PER_SEC
    out[has] = np.clip(sec[has], 0.0, MAX_BOUNDARY)
    return out


# ----------------------------------------------------------------------------- corpus listing
def _h(key):
    return int(hashlib.md5(key.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF


def list_corpus(root):
    """-> list of dict(path, corpus, group, valence)."""
    items = []
    m = os.path.join(root, "midi")

    def walk(sub):
        for dp, _, fs in os.walk(os.path.join(m, sub)):
            for f in sorted(fs):
                if f.lower().endswith((".mid", ".midi", ".kar")):
                    yield os.path.join(dp, f)

    nan = float("nan")
    for p in walk("pop909"):
        items.append(dict(path=p, corpus="pop909", group=os.path.basename(p), valence=nan))
    for p in walk("nottingham/full"):
        items.append(dict(path=p, corpus="nottingham", group=os.path.basename(p), valence=nan))
    for p in walk("debian_free"):
        items.append(dict(path=p, corpus="debian_free", group=os.path.basename(p), valence=nan))
    for p in walk("string_quartets"):
        items.append(dict(path=p, corpus="string_quartets", group=os.path.basename(p), valence=nan))
    for p in walk("groove"):
        # split by session so that takes of one session stay together
        items.append(dict(path=p, corpus="groove", group=os.path.dirname(p), valence=nan))
    for p in walk("miditok_multitrack"):
        items.append(dict(path=p, corpus="miditok_multitrack", group=os.path.basename(p), valence=nan))
    lab = os.path.join(m, "emopia", "labels.csv")
    if os.path.exists(lab):
        with open(lab, newline="") as f:
            for r in csv.DictReader(f):
                items.append(dict(path=os.path.join(m, "emopia", r["file"]), corpus="emopia",
                                  group="emopia:" + r["song_id"],
                                  valence=LABEL_VALUE * float(r["valence_sign"])))
    lab = os.path.join(m, "vgmidi", "labels.csv")
    if os.path.exists(lab):
        with open(lab, newline="") as f:
            for r in csv.DictReader(f):
                fn = r["file"]
                if fn.startswith("labelled/midi/"):
                    continue  # full pieces overlap their labelled phrases
                val = nan
                if r["status"] == "labelled" and r["valence_sign"] not in ("", None):
                    val = LABEL_VALUE * float(r["valence_sign"])
                grp = r["piece_file"] or fn
                items.append(dict(path=os.path.join(m, "vgmidi", fn), corpus="vgmidi",
                                  group="vgmidi:" + grp, valence=val))
    for it in items:
        it["valid"] = _h(it["corpus"] + ":" + it["group"]) < VALID_FRACTION
    return items


def _process(it):
    try:
        r = read_midi(it["path"])
        if r is None:
            return None
        enc = encode_piece(*r)
        if enc is None:
            return None
        enc.update(it)
        return enc
    except Exception as ex:  # mido strictness etc.
        return ("error", it["path"], repr(ex))


def iqr_scale(x):
    x = np.asarray(x, dtype=np.float64)
    q1, q3 = np.percentile(x, [25, 75])
    lo, hi = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    lo, hi = max(lo, x.min()), min(hi, x.max())
    xc = np.clip(x, lo, hi)
    return (2 * (xc - lo) / max(hi - lo, 1e-9) - 1).astype(np.float32), (lo, hi)


def build_cache(root, out_path, workers=2, limit=None):
    items = list_corpus(root)
    if limit:
        items = items[::max(1, len(items) // limit)]
    print("files:", len(items), flush=True)
    res = []
    with Pool(workers) as pool:
        for k, r in enumerate(pool.imap_unordered(_process, items, chunksize=8)):
            if isinstance(r, tuple):
                print("skip", r[1], r[2], flush=True)
            elif r is not None:
                res.append(r)
            if k % 500 == 0:
                print("  processed", k, flush=True)
    res.sort(key=lambda r: r["path"])
    dens = [r["n_notes"] / r["duration"] / max(r["n_instr"], 1) for r in res]
    arousal, (lo, hi) = iqr_scale(dens)
    toks = np.concatenate([r["tokens"] for r in res])
    bnd = np.concatenate([r["boundary"] for r in res])
    lens = np.array([len(r["tokens"]) for r in res], dtype=np.int64)
    offs = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    cache = dict(
        tokens=toks, boundary=bnd, offsets=offs, lengths=lens,
        valence=np.array([r["valence"] for r in res], dtype=np.float32),
        arousal=arousal,
        density=np.array(dens, dtype=np.float32),
        corpus=np.array([CORPORA.index(r["corpus"]) for r in res], dtype=np.int8),
        valid=np.array([r["valid"] for r in res], dtype=bool),
        n_chords=np.array([r["n_chords"] for r in res], dtype=np.int32),
        paths=np.array([os.path.relpath(r["path"], root) for r in res]),
        density_clip=np.array([lo, hi]),
        corpora=np.array(CORPORA),
    )
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    np.savez(out_path, **cache)
    print("pieces %d tokens %d chords %d  density clip [%.3f, %.3f]" %
          (len(res), len(toks), cache["n_chords"].sum(), lo, hi))
    for ci, c in enumerate(CORPORA):
        sel = cache["corpus"] == ci
        print("  %-20s pieces %5d tokens %9d chords %6d valid %d" %
              (c, sel.sum(), lens[sel].sum(), cache["n_chords"][sel].sum(), (sel & cache["valid"]).sum()))
    return cache


def load_cache(path):
    z = np.load(path)
    return {k: z[k] for k in z.files}


# ----------------------------------------------------------------------------- sampling
class CropSampler:
    """Random crops for training. A sample = (tokens[L], targets[L], boundary[L], valence, arousal)
    with L = context - 2 (the 2 condition positions). tokens[0] is the instrument-count control
    token; tokens[1:] = piece[s : s+L-1]; targets = piece[s : s+L]."""

    def __init__(self, cache, split, context, seed=0, max_transpose=3, p_drop_boundary=0.2,
                 p_drop_valence=0.2, p_drop_arousal=0.2, p_bar_start=0.5, p_piece_start=0.05,
                 exclude_corpora=()):
        self.c = cache
        sel = cache["valid"] if split == "valid" else ~cache["valid"]
        for name in exclude_corpora:   # e.g. ["emopia", "vgmidi", "miditok_multitrack"] for a free-data model
            sel = sel & (cache["corpus"] != CORPORA.index(name))
        self.L = context - 2
        self.pieces = np.flatnonzero(sel & (cache["lengths"] > 16))
        w = np.array([CORPUS_WEIGHTS[CORPORA[cache["corpus"][i]]] for i in self.pieces])
        self.weights = w * cache["lengths"][self.pieces]
        self.weights = self.weights / self.weights.sum()
        self.rng = np.random.default_rng(seed)
        self.max_transpose = max_transpose
        self.p = (p_drop_boundary, p_drop_valence, p_drop_arousal, p_bar_start, p_piece_start)
        self.bar_pos = np.flatnonzero(cache["tokens"] == V.BAR)
        self.tokens = cache["tokens"].astype(np.int64)
        self.boundary = cache["boundary"].astype(np.float32)
        self.transposable = np.zeros(V.VOCAB_SIZE, dtype=bool)
        for ins in (V.BASS, V.GUITAR, V.PIANO, V.STRINGS):
            self.transposable[V.NOTE_BASE + 176 * ins: V.NOTE_BASE + 176 * (ins + 1)] = True

    def sample(self):
        rng = self.rng
        L = self.L
        pi = rng.choice(self.pieces, p=self.weights)
        off, n = int(self.c["offsets"][pi]), int(self.c["lengths"][pi])
        last = max(n - L, 0)           # latest start (inclusive)
        u = rng.random()
        s = int(rng.integers(0, last + 1))
        if u < self.p[4]:
            s = 0
        elif u < self.p[4] + self.p[3]:
            a, b = np.searchsorted(self.bar_pos, [off, off + last + 1])
            if b > a:
                s = int(self.bar_pos[rng.integers(a, b)]) - off
        chunk = self.tokens[off + s: off + min(s + L, n)].copy()
        bnd = self.boundary[off + s: off + min(s + L, n)]
        b_prev = self.boundary[off + s - 1] if s > 0 else bnd[0]
        # transpose
        tm = self.transposable[chunk]
        if self.max_transpose and tm.any():
            pitch = (chunk[tm] - V.NOTE_BASE) % 88 + V.MIN_PITCH
            lo = max(-self.max_transpose, V.MIN_PITCH - int(pitch.min()))
            hi = min(self.max_transpose, V.MAX_PITCH - int(pitch.max()))
            if hi >= lo:
                chunk[tm] += int(rng.integers(lo, hi + 1))
        notes = chunk[(chunk >= V.NOTE_BASE) & (chunk < V.NOTE_BASE + 880)]
        n_instr = len(np.unique((notes - V.NOTE_BASE) // 176))
        ctrl = V.MORE_INSTRUMENTS if n_instr >= V.INSTRUMENT_THRESHOLD else V.LESS_INSTRUMENTS
        inp = np.zeros(L, dtype=np.int64)
        tgt = np.zeros(L, dtype=np.int64)   # 0 = PAD = ignored
        bin_ = np.full(L, 8.0, dtype=np.float32)
        m = len(chunk)
        inp[0] = ctrl
        inp[1:m] = chunk[:m - 1]
        tgt[:m] = chunk
        bin_[0] = b_prev
        bin_[1:m] = bnd[:m - 1]
        if rng.random() < self.p[0]:
            bin_[:] = 8.0
        v = float(self.c["valence"][pi])
        a = float(self.c["arousal"][pi])
        if rng.random() < self.p[1]:
            v = float("nan")
        if rng.random() < self.p[2]:
            a = float("nan")
        return inp, tgt, bin_, v, a

    def batch(self, bs):
        import torch
        xs = [self.sample() for _ in range(bs)]
        return (torch.from_numpy(np.stack([x[0] for x in xs])),
                torch.from_numpy(np.stack([x[1] for x in xs])),
                torch.from_numpy(np.stack([x[2] for x in xs])),
                torch.tensor([x[3] for x in xs], dtype=torch.float32),
                torch.tensor([x[4] for x in xs], dtype=torch.float32))


DEFAULT_CACHE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cache", "corpus_v1.npz")
DEFAULT_DATA = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                             "..", "..", "..", "shared", "data"))

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=DEFAULT_DATA if os.path.isdir(DEFAULT_DATA) else "/work/shared/data")
    ap.add_argument("--out", default=DEFAULT_CACHE)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--limit", type=int, default=None)
    a = ap.parse_args()
    build_cache(a.data, a.out, a.workers, a.limit)
