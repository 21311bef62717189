"""Export a training checkpoint to the emsync TorchScript format (models/FORMAT.md).

  /usr/bin/python3 models/training/export.py [--ckpt models/training/runs/small/best.pt] [--out models/emsync-small.pt]
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import model as M  # noqa: E402


def check_agreement(scripted, context, n=None, seed=0):
    """max |forward - (prefill + step)| over a random sequence; returns float."""
    g = torch.Generator().manual_seed(seed)
    T = n or min(context - 2, 160)
    tok = torch.randint(2, 1009, (1, T), generator=g)
    b = torch.rand(1, T, generator=g) * 8
    v, a = torch.tensor([0.4]), torch.tensor([float("nan")])
    with torch.no_grad():
        full = scripted(tok, v, a, b)
        k = T // 2
        lg, cache = scripted.prefill(tok[:, :k], v, a, b[:, :k])
        err = (lg - full[:, k - 1]).abs().max().item()
        for t in range(k, T):
            lg, cache = scripted.step(tok[:, t:t + 1], b[:, t:t + 1], cache)
            err = max(err, (lg - full[:, t]).abs().max().item())
    return err


def export(state_dict, cfg, out, extra_meta=None):
    m = M.build(cfg)
    m.load_state_dict(state_dict, strict=True)
    s = M.script(m.eval())
    meta = M.export_config(cfg)
    if extra_meta:
        meta.update(extra_meta)
    err = check_agreement(s, cfg["context"])
    meta["export_check_max_abs_err"] = err
    torch.jit.save(s, out, _extra_files={"emsync.json": json.dumps(meta)})
    return err, meta


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default=os.path.join(HERE, "runs", "small", "best.pt"))
    ap.add_argument("--out", default=os.path.join(HERE, "..", "emsync-small.pt"))
    ap.add_argument("--name", default=None, help="model name in emsync.json (default: emsync-<run name>)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    st = torch.load(a.ckpt, map_location="cpu")
    cfg = st["config"]
    meta = {"name": a.name or "emsync-" + cfg.get("name", "small"), "train_step": int(st["step"])}
    # The arousal labels' scale (dataset.py: notes / second / non-empty instrument, IQR-clipped, mapped
    # linearly to [-1, 1]), so the runtime can turn a requested arousal back into a note density
    # (ComposerOptions::density_control).
    cache = os.path.join(HERE, cfg.get("cache", "cache/corpus_v1.npz"))
    if os.path.exists(cache):
        lo, hi = [float(x) for x in np.load(cache)["density_clip"]]
        meta["arousal_density_min"] = lo
        meta["arousal_density_max"] = hi
    if "valid_loss" in st:
        meta["valid_loss"] = float(st["valid_loss"])
    err, meta = export(st["model"], cfg, a.out, meta)
    print(json.dumps(meta))
    print("prefill+step vs forward max abs err: %.3e (%s)" % (err, "OK" if err < 1e-4 else "FAIL"))
    print("wrote %s (%.1f MB)" % (a.out, os.path.getsize(a.out) / 1e6))
    if err >= 1e-4:
        sys.exit(1)


if __name__ == "__main__":
    main()
