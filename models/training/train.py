"""Train the emsync generator.

  /usr/bin/python3 models/training/train.py --config models/training/configs/small.json [--max-minutes M]

Writes models/training/runs/<name>/{log.jsonl, ckpt_latest.pt, best.pt, config.json} and resumes
automatically from ckpt_latest.pt.

On a GPU (any PyTorch >= 1.13): --device cuda --amp bf16 --workers N (N sampler processes feed
batches; without workers the sampler runs in-process and its RNG state is checkpointed, which
makes CPU runs resumable bit-for-bit). --copy-best DIR also writes each new best.pt there.
"""
import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import dataset as D  # noqa: E402
import model as M    # noqa: E402
import vocab as V    # noqa: E402


def lr_at(step, cfg, elapsed_s=0.0):
    """Linear warmup, then cosine to min_lr_ratio. Progress = max(step fraction, wall-time fraction
    of cfg["time_budget_minutes"]) so that the schedule anneals by the deadline on a shared CPU.
    A continuation phase (cfg["init_from"]) counts steps from the step it started at: a warm restart."""
    step -= cfg.get("phase_start_step", 0)
    w = cfg["warmup_steps"]
    if step < w:
        return cfg["lr"] * (step + 1) / w
    if cfg.get("schedule", "cosine") == "constant":
        return cfg["lr"]
    t = min(1.0, (step - w) / max(1, cfg["max_steps"] - w))
    budget = cfg.get("time_budget_minutes")
    if budget:
        t = max(t, min(1.0, elapsed_s / (60.0 * budget)))
    lo = cfg.get("min_lr_ratio", 0.1)
    return cfg["lr"] * (lo + (1 - lo) * 0.5 * (1 + math.cos(math.pi * t)))


def loss_fn(logits, tgt, weight):
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), tgt.reshape(-1), weight=weight,
                           ignore_index=V.PAD)


def load(path):
    # weights_only=False: our checkpoints hold numpy RNG states (newer PyTorch defaults to True)
    return torch.load(path, map_location="cpu", weights_only=False)


class SamplerBatches(torch.utils.data.IterableDataset):
    """Endless training batches for DataLoader workers; each worker its own sampler seed."""

    def __init__(self, cache, ctx, seed, batch_size, sampler_args):
        super().__init__()
        self.args = (cache, ctx, seed, batch_size, sampler_args)

    def __iter__(self):
        cache, ctx, seed, bs, sp = self.args
        info = torch.utils.data.get_worker_info()
        wid = info.id if info else 0
        s = D.CropSampler(cache, "train", ctx, seed=seed * 1000 + 17 + wid, **sp)
        while True:
            yield s.batch(bs)


@torch.no_grad()
def evaluate(model, batches, weight, device="cpu", amp=None):
    model.eval()
    tot, totw, n = 0.0, 0.0, 0
    chord_hits, chord_n = 0, 0
    for x, y, b, v, a in batches:
        x, y, b, v, a = (t.to(device) for t in (x, y, b, v, a))
        with torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=amp == "bf16"):
            lg = model(x, v, a, b)
        lg = lg.float()
        tot += F.cross_entropy(lg.reshape(-1, lg.size(-1)), y.reshape(-1), ignore_index=V.PAD,
                               reduction="sum").item()
        totw += loss_fn(lg, y, weight).item()
        n += (y != V.PAD).sum().item()
        m = y == V.CHORD
        chord_n += m.sum().item()
        chord_hits += (lg.argmax(-1)[m] == V.CHORD).sum().item()
    model.train()
    return tot / max(n, 1), totw / len(batches), chord_hits / max(chord_n, 1)


def save_atomic(obj, path):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--max-minutes", type=float, default=None)
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--name", default=None)
    ap.add_argument("--no-resume", action="store_true")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--amp", choices=["bf16"], default=None, help="bf16 autocast (GPU)")
    ap.add_argument("--workers", type=int, default=0, help="sampler processes (0 = in-process, resumable)")
    ap.add_argument("--copy-best", default=None, help="also write each new best.pt into this folder")
    ap.add_argument("--cache", default=None, help="corpus cache (default: the config's)")
    ap.add_argument("--init-from", default=None, help="checkpoint to continue from (default: the config's)")
    args = ap.parse_args()
    cfg = json.load(open(args.config))
    if args.max_steps:
        cfg["max_steps"] = args.max_steps
    if args.max_minutes and cfg.get("time_budget_minutes"):
        # the LR schedule anneals by the earlier of the two deadlines
        cfg["time_budget_minutes"] = min(cfg["time_budget_minutes"], args.max_minutes)
    if args.copy_best:
        os.makedirs(args.copy_best, exist_ok=True)
    if args.init_from:
        cfg["init_from"] = os.path.abspath(args.init_from)
    device, amp = args.device, args.amp
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
    name = args.name or cfg["name"]
    run_dir = os.path.join(HERE, "runs", name)
    os.makedirs(run_dir, exist_ok=True)
    json.dump(cfg, open(os.path.join(run_dir, "config.json"), "w"), indent=1)
    torch.set_num_threads(cfg.get("threads", 2))
    seed = cfg.get("seed", 1234)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)

    cache_path = args.cache or os.path.join(HERE, cfg.get("cache", "cache/corpus_v1.npz"))
    if not os.path.exists(cache_path):
        D.build_cache(cfg.get("data", "/work/shared/data"), cache_path)
    cache = D.load_cache(cache_path)
    ctx = cfg["context"]
    sp = dict(max_transpose=cfg.get("max_transpose", 3), p_drop_boundary=cfg.get("p_drop_boundary", 0.2),
              p_drop_valence=cfg.get("p_drop_valence", 0.2), p_drop_arousal=cfg.get("p_drop_arousal", 0.2),
              exclude_corpora=cfg.get("exclude_corpora", []))
    train_s = D.CropSampler(cache, "train", ctx, seed=seed, **sp)
    valid_s = D.CropSampler(cache, "valid", ctx, seed=999, max_transpose=0, p_drop_boundary=0.0,
                            p_drop_valence=0.0, p_drop_arousal=0.0,
                            exclude_corpora=cfg.get("exclude_corpora", []))
    # validation crops are fixed by seed and valid_batch_size, so losses stay comparable across runs
    valid_batches = [valid_s.batch(cfg.get("valid_batch_size", cfg["batch_size"]))
                     for _ in range(cfg.get("valid_batches", 8))]
    print("train pieces %d valid pieces %d" % (len(train_s.pieces), len(valid_s.pieces)), flush=True)

    model = M.build(cfg).to(device)
    nparam = sum(p.numel() for p in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"], betas=(0.9, 0.98), eps=1e-9)
    weight = torch.ones(V.VOCAB_SIZE)
    weight[V.CHORD] = cfg.get("chord_loss_weight", 3.0)
    weight = weight.to(device)

    step, elapsed_prev, best = 0, 0.0, float("inf")
    ck = os.path.join(run_dir, "ckpt_latest.pt")
    if os.path.exists(ck) and not args.no_resume:
        st = load(ck)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step, elapsed_prev, best = st["step"], st.get("elapsed", 0.0), st.get("best", best)
        torch.set_rng_state(st["torch_rng"])
        np.random.set_state(st["np_rng"])
        random.setstate(st["py_rng"])
        train_s.rng.bit_generator.state = st["sampler_rng"]
        if "phase_start_step" in st.get("config", {}):
            cfg["phase_start_step"] = st["config"]["phase_start_step"]
        print("resumed from step %d" % step, flush=True)
    elif cfg.get("init_from"):
        # Continuation phase: weights and Adam moments from another run's checkpoint, a fresh LR schedule
        # (warm restart) and a fresh time budget. The step counter carries on so logs stay comparable.
        st = load(os.path.join(HERE, cfg["init_from"]))
        model.load_state_dict(st["model"])
        if "opt" in st:   # a best.pt holds the weights only: Adam then starts fresh
            opt.load_state_dict(st["opt"])
        step, best = st["step"], st.get("best", best)
        cfg["phase_start_step"] = step
        print("continuing from %s at step %d" % (cfg["init_from"], step), flush=True)
    print("params %d  config %s" % (nparam, json.dumps(cfg)), flush=True)

    logf = open(os.path.join(run_dir, "log.jsonl"), "a")
    t_start = time.time()
    t_ck = time.time()
    deadline = t_start + args.max_minutes * 60 if args.max_minutes else float("inf")
    model.train()
    acc_loss, acc_n, acc_tok, t_log = 0.0, 0, 0, time.time()

    def checkpoint():
        save_atomic(dict(model=model.state_dict(), opt=opt.state_dict(), step=step,
                         elapsed=elapsed_prev + time.time() - t_start, best=best, config=cfg,
                         torch_rng=torch.get_rng_state(), np_rng=np.random.get_state(),
                         py_rng=random.getstate(), sampler_rng=train_s.rng.bit_generator.state), ck)

    if cfg.get("time_budget_minutes") and elapsed_prev >= 60.0 * cfg["time_budget_minutes"]:
        deadline = 0.0   # budget already used up by earlier sessions
    elif cfg.get("time_budget_minutes"):
        deadline = min(deadline, t_start + 60.0 * cfg["time_budget_minutes"] - elapsed_prev)
    def save_best(vl):
        obj = dict(model={k: t.detach().cpu() for k, t in model.state_dict().items()}, step=step,
                   valid_loss=vl, config=cfg)
        save_atomic(obj, os.path.join(run_dir, "best.pt"))
        if args.copy_best:
            save_atomic(obj, os.path.join(args.copy_best, name + "_best.pt"))

    if args.workers > 0:
        batches = iter(torch.utils.data.DataLoader(
            SamplerBatches(cache, ctx, seed + step, cfg["batch_size"], sp), batch_size=None,
            num_workers=args.workers, pin_memory=device.startswith("cuda"), prefetch_factor=4))
        next_batch = lambda: next(batches)  # noqa: E731
    else:
        next_batch = lambda: train_s.batch(cfg["batch_size"])  # noqa: E731
    while step < cfg["max_steps"] and time.time() < deadline:
        x, y, b, v, a = (t.to(device, non_blocking=True) for t in next_batch())
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg, elapsed_prev + time.time() - t_start)
        with torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=amp == "bf16"):
            lg = model(x, v, a, b)
        loss = loss_fn(lg.float(), y, weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.get("grad_clip", 1.0))
        opt.step()
        step += 1
        acc_loss += loss.detach()    # summed on the device: no host sync per step
        acc_n += 1
        acc_tok += (y != V.PAD).sum()
        if step % cfg.get("log_every", 20) == 0 or step == 1:
            dt = time.time() - t_log
            rec = dict(step=step, time=round(elapsed_prev + time.time() - t_start, 1), split="train",
                       loss=float(acc_loss) / acc_n, lr=opt.param_groups[0]["lr"], grad_norm=float(gn),
                       tok_per_s=int(acc_tok) / max(dt, 1e-9), s_per_step=dt / acc_n)
            logf.write(json.dumps(rec) + "\n")
            logf.flush()
            print(json.dumps(rec), flush=True)
            acc_loss, acc_n, acc_tok, t_log = 0.0, 0, 0, time.time()
        if step % cfg.get("eval_every", 200) == 0:
            vl, vlw, chord_acc = evaluate(model, valid_batches, weight, device, amp)
            rec = dict(step=step, time=round(elapsed_prev + time.time() - t_start, 1), split="valid",
                       loss=vl, weighted_loss=vlw, chord_top1=chord_acc)
            logf.write(json.dumps(rec) + "\n")
            logf.flush()
            print(json.dumps(rec), flush=True)
            if vl < best:
                best = vl
                save_best(vl)
            t_log = time.time()
        if time.time() - t_ck > cfg.get("ckpt_minutes", 5) * 60:
            checkpoint()
            t_ck = time.time()
    vl, vlw, chord_acc = evaluate(model, valid_batches, weight, device, amp)
    rec = dict(step=step, time=round(elapsed_prev + time.time() - t_start, 1), split="valid",
               loss=vl, weighted_loss=vlw, chord_top1=chord_acc, final=True)
    logf.write(json.dumps(rec) + "\n")
    print(json.dumps(rec), flush=True)
    if vl < best:
        best = vl
        save_best(vl)
    checkpoint()
    print("done at step %d" % step, flush=True)


if __name__ == "__main__":
    main()
