"""How much a checkpoint uses its valence condition: teacher-forced loss of labelled pieces with the true
valence, with its sign flipped, and with none (the null vector). A model that follows valence scores the
true label best.

  /usr/bin/python3 models/training/condition_check.py --ckpt models/training/runs/small-gpu-b/best.pt [--split valid]
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
    ap.add_argument("--split", choices=["valid", "train"], default="valid")
    ap.add_argument("--pieces", type=int, default=64)
    a = ap.parse_args()
    torch.set_num_threads(2)
    m = M.load_checkpoint(a.ckpt)
    c = D.load_cache(a.cache)
    in_split = c["valid"] if a.split == "valid" else ~c["valid"]
    crop = 510
    sel = np.flatnonzero(~np.isnan(c["valence"]) & (c["lengths"] > crop + 90) & in_split)
    rng = np.random.default_rng(0)
    sel = rng.choice(sel, min(a.pieces, len(sel)), replace=False)
    loss = {"true": [], "flipped": [], "none": []}
    for pi in sel:
        off, n = int(c["offsets"][pi]), int(c["lengths"][pi])
        s = int(rng.integers(0, n - crop))
        y = torch.from_numpy(c["tokens"][off + s: off + s + crop].astype(np.int64))[None]
        x = torch.cat([torch.tensor([[V.LESS_INSTRUMENTS]]), y[:, :-1]], 1)   # labelled sets are solo piano
        b = torch.full((1, crop), 8.0)
        ar = torch.tensor([float(c["arousal"][pi])])
        v = float(c["valence"][pi])
        for k, val in (("true", v), ("flipped", -v), ("none", float("nan"))):
            with torch.no_grad():
                lg = m(x, torch.tensor([val]), ar, b)
            loss[k].append(F.cross_entropy(lg[0], y[0]).item())
    for k, v in loss.items():
        print("valence %-8s mean loss %.4f" % (k, np.mean(v)))
    better = np.mean(np.array(loss["true"]) < np.array(loss["flipped"]))
    print("%d labelled %s pieces; the true valence beats the flipped one on %.0f %%" % (len(sel), a.split, 100 * better))


if __name__ == "__main__":
    main()
