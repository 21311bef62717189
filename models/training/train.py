"""Train the emsync generator.

  /usr/bin/python3 models/training/train.py --config models/training/configs/small.json [--max-minutes M]

Writes models/training/runs/<name>/{log.jsonl, ckpt_latest.pt, best.pt, config.json} and resumes
automatically from ckpt_latest.pt.
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


@torch.no_grad()
def evaluate(model, batches, weight):
    model.eval()
    tot, totw, n = 0.0, 0.0, 0
    chord_hits, chord_n = 0, 0
    for x, y, b, v, a in batches:
        lg = model(x, v, a, b)
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
    args = ap.parse_args()
    cfg = json.load(open(args.config))
    if args.max_steps:
        cfg["max_steps"] = args.max_steps
    name = args.name or cfg["name"]
    run_dir = os.path.join(HERE, "runs", name)
    os.makedirs(run_dir, exist_ok=True)
    json.dump(cfg, open(os.path.join(run_dir, "config.json"), "w"), indent=1)
    torch.set_num_threads(cfg.get("threads", 2))
    seed = cfg.get("seed", 1234)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)

    cache_path = os.path.join(HERE, cfg.get("cache", "cache/corpus_v1.npz"))
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
    valid_batches = [valid_s.batch(cfg["batch_size"]) for _ in range(cfg.get("valid_batches", 8))]
    print("train pieces %d valid pieces %d" % (len(train_s.pieces), len(valid_s.pieces)), flush=True)

    model = M.build(cfg)
    nparam = sum(p.numel() for p in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"], betas=(0.9, 0.98), eps=1e-9)
    weight = torch.ones(V.VOCAB_SIZE)
    weight[V.CHORD] = cfg.get("chord_loss_weight", 3.0)

    step, elapsed_prev, best = 0, 0.0, float("inf")
    ck = os.path.join(run_dir, "ckpt_latest.pt")
    if os.path.exists(ck) and not args.no_resume:
        st = torch.load(ck)
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
        st = torch.load(os.path.join(HERE, cfg["init_from"]))
        model.load_state_dict(st["model"])
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
    while step < cfg["max_steps"] and time.time() < deadline:
        x, y, b, v, a = train_s.batch(cfg["batch_size"])
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg, elapsed_prev + time.time() - t_start)
        lg = model(x, v, a, b)
        loss = loss_fn(lg, y, weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.get("grad_clip", 1.0))
        opt.step()
        step += 1
        acc_loss += loss.item()
        acc_n += 1
        acc_tok += int((y != V.PAD).sum())
        if step % cfg.get("log_every", 20) == 0 or step == 1:
            dt = time.time() - t_log
            rec = dict(step=step, time=round(elapsed_prev + time.time() - t_start, 1), split="train",
                       loss=acc_loss / acc_n, lr=opt.param_groups[0]["lr"], grad_norm=float(gn),
                       tok_per_s=acc_tok / max(dt, 1e-9), s_per_step=dt / acc_n)
            logf.write(json.dumps(rec) + "\n")
            logf.flush()
            print(json.dumps(rec), flush=True)
            acc_loss, acc_n, acc_tok, t_log = 0.0, 0, 0, time.time()
        if step % cfg.get("eval_every", 200) == 0:
            vl, vlw, chord_acc = evaluate(model, valid_batches, weight)
            rec = dict(step=step, time=round(elapsed_prev + time.time() - t_start, 1), split="valid",
                       loss=vl, weighted_loss=vlw, chord_top1=chord_acc)
            logf.write(json.dumps(rec) + "\n")
            logf.flush()
            print(json.dumps(rec), flush=True)
            if vl < best:
                best = vl
                save_atomic(dict(model=model.state_dict(), step=step, valid_loss=vl, config=cfg),
                            os.path.join(run_dir, "best.pt"))
            t_log = time.time()
        if time.time() - t_ck > cfg.get("ckpt_minutes", 5) * 60:
            checkpoint()
            t_ck = time.time()
    vl, vlw, chord_acc = evaluate(model, valid_batches, weight)
    rec = dict(step=step, time=round(elapsed_prev + time.time() - t_start, 1), split="valid",
               loss=vl, weighted_loss=vlw, chord_top1=chord_acc, final=True)
    logf.write(json.dumps(rec) + "\n")
    print(json.dumps(rec), flush=True)
    if vl < best:
        best = vl
        save_atomic(dict(model=model.state_dict(), step=step, valid_loss=vl, config=cfg),
                    os.path.join(run_dir, "best.pt"))
    checkpoint()
    print("done at step %d" % step, flush=True)


if __name__ == "__main__":
    main()
