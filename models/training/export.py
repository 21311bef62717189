"""Export a training checkpoint to the emsync TorchScript format (models/FORMAT.md).

  /usr/bin/python3 models/training/export.py [--ckpt models/training/runs/small/best.pt] [--out models/emsync-small.pt]
  /usr/bin/python3 models/training/export.py --add-index models/emsync-small.pt   (files exported before the index)
"""
import argparse
import io
import json
import os
import pickle
import sys
import zipfile

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


WEIGHTS_NAME = "emsync_weights.txt"


class _Obj:
    def __init__(self, *args):
        self.state = None

    def __setstate__(self, state):
        self.state = state


class _ArchiveUnpickler(pickle.Unpickler):
    """Reads a TorchScript archive's data.pkl without building modules: classes become plain objects, tensors
    ('tensor', record key, offset, size, stride, dtype)."""

    def find_class(self, module, name):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return lambda storage, offset, size, stride, *rest: ("tensor", storage[1], offset, tuple(size),
                                                                tuple(stride), storage[0])
        if module == "torch" and name.endswith("Storage"):
            return name
        if module == "collections" and name == "OrderedDict":
            import collections
            return collections.OrderedDict
        return type(name, (_Obj,), {})

    def persistent_load(self, pid):   # ('storage', storage type, key, location, numel)
        return (pid[1], pid[2])


def weight_index(path):
    """The archive's float32 parameters as `name record offset dims` lines (models/FORMAT.md), so the C++
    runtime reads the weights straight from the zip records without libtorch."""
    with zipfile.ZipFile(path) as z:
        root_pkl = [n for n in z.namelist() if n.endswith("/data.pkl") and n.count("/") == 1][0]
        prefix = root_pkl[: -len("data.pkl")]
        root = _ArchiveUnpickler(io.BytesIO(z.read(root_pkl))).load()
        stored = {i.filename: i for i in z.infolist()}
    lines = ["emsync-weights 1"]

    def walk(obj, name):
        state = obj.state if isinstance(obj, _Obj) else None
        if not isinstance(state, dict):
            return
        for key, value in state.items():
            if isinstance(value, tuple) and value and value[0] == "tensor":
                _, record, offset, size, stride, storage = value
                want = []
                acc = 1
                for d in reversed(size):
                    want.insert(0, acc)
                    acc *= d
                if storage != "FloatStorage" or (acc > 1 and list(stride) != want):
                    raise ValueError("%s%s: not a contiguous float32 tensor" % (name, key))
                info = stored[prefix + "data/" + record]
                if info.compress_type != zipfile.ZIP_STORED or (offset + acc) * 4 > info.file_size:
                    raise ValueError("%s%s: record data/%s is compressed or too short" % (name, key, record))
                lines.append("%s%s data/%s %d %s" % (name, key, record, offset, ",".join(str(d) for d in size) or "1"))
            elif isinstance(value, _Obj):
                walk(value, name + key + ".")

    walk(root, "")
    return "\n".join(lines) + "\n"


def save_with_index(scripted, out, extra_files):
    """torch.jit.save with the weight index added as a second extra file. The index names the records that this
    save assigns, so it is computed from a first save and checked against the final one."""
    torch.jit.save(scripted, out, _extra_files=extra_files)
    index = weight_index(out)
    torch.jit.save(scripted, out, _extra_files=dict(extra_files, **{WEIGHTS_NAME: index}))
    if weight_index(out) != index:
        raise RuntimeError("%s: the weight index changed between two saves" % out)
    return index


def export(state_dict, cfg, out, extra_meta=None):
    m = M.build(cfg)
    m.load_state_dict(state_dict, strict=True)
    s = M.script(m.eval())
    meta = M.export_config(cfg)
    if extra_meta:
        meta.update(extra_meta)
    err = check_agreement(s, cfg["context"])
    meta["export_check_max_abs_err"] = err
    save_with_index(s, out, {"emsync.json": json.dumps(meta)})
    return err, meta


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default=os.path.join(HERE, "runs", "small", "best.pt"))
    ap.add_argument("--out", default=os.path.join(HERE, "..", "emsync-small.pt"))
    ap.add_argument("--name", default=None, help="model name in emsync.json (default: emsync-<run name>)")
    ap.add_argument("--add-index", default=None, metavar="PT",
                    help="only add the weight index to an existing export (rewrites PT; weights unchanged)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.add_index:
        extra = {"emsync.json": ""}
        module = torch.jit.load(a.add_index, map_location="cpu", _extra_files=extra)
        index = save_with_index(module, a.add_index, extra)
        print("%s: %d weights indexed" % (a.add_index, index.count("\n") - 1))
        return
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
