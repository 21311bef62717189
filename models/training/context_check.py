"""How much the generator loses with less context: teacher-forced loss of the same 64 tokens given only the
last k tokens before them (after the instrument control token), for several k. The runtime's window slide
keeps half the window (256 tokens for emsync-small) and an emotion update re-prefills that much; this is the
measurement behind that choice.

  /usr/bin/python3 models/training/context_check.py --ckpt models/training/runs/small-gpu-b/best.pt [--pieces 96]
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import dataset as D  # noqa: E402
import model as M    # noqa: E402
import vocab as V    # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--cache", default=D.DEFAULT_CACHE)
    ap.add_argument("--pieces", type=int, default=96)
    ap.add_argument("--contexts", default="32,64,128,192,256,384")
    ap.add_argument("--reference", type=int, default=256, help="the context the others are compared with")
    a = ap.parse_args()
    torch.set_num_threads(2)
    m = M.load_checkpoint(a.ckpt)
    c = D.load_cache(a.cache)
    ks = sorted(int(k) for k in a.contexts.split(","))
    span = 64
    need = ks[-1] + span
    sel = np.flatnonzero(c["valid"] & (c["lengths"] > need + 10))
    rng = np.random.default_rng(1)
    sel = rng.choice(sel, min(a.pieces, len(sel)), replace=False)
    loss = {k: [] for k in ks}
    for pi in sel:
        off, n = int(c["offsets"][pi]), int(c["lengths"][pi])
        s = int(rng.integers(0, n - need))
        seq = torch.from_numpy(c["tokens"][off + s: off + s + need].astype(np.int64))
        target = seq[ks[-1]:]                # the same 64 tokens for every k
        v, ar = float(c["valence"][pi]), float(c["arousal"][pi])
        for k in ks:
            y = torch.cat([seq[ks[-1] - k: ks[-1]], target])[None]
            x = torch.cat([torch.tensor([[V.MORE_INSTRUMENTS]]), y[:, :-1]], 1)
            with torch.no_grad():
                lg = m(x, torch.tensor([v]), torch.tensor([ar]), torch.full(x.shape, 8.0))
            loss[k].append(F.cross_entropy(lg[0, k:], y[0, k:]).item())
    base = np.array(loss[a.reference])
    for k in ks:
        d = np.array(loss[k]) - base
        print("context %4d tokens: mean loss %.4f (vs %d: %+.4f, 95%% CI +-%.4f)" % (
            k, np.mean(loss[k]), a.reference, d.mean(), 1.96 * d.std() / np.sqrt(len(d))))
    print("%d valid pieces, the 64 tokens after a random offset of each" % len(sel))


if __name__ == "__main__":
    main()
