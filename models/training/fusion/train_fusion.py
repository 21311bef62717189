#!/usr/bin/python3
"""Trains a fusion head for emsyncemotion and exports it as TorchScript (the element's `model-file`).

Input: labelled feature vectors, as the element computes them (contract in lib/emotion/fusion.h):
16 float32 features per analysed frame
  [0] face presence, [1..7] face expression probabilities (angry, disgust, fear, happy, sad, surprise,
  neutral), [8] brightness, [9] saturation, [10] motion, [11] shot rhythm, [12..13] scene valence/arousal,
  [14..15] face valence/arousal
and a label per row: an Ekman class (anger, disgust, fear, joy, sadness, surprise -> 0..5), EMSYNC's target.
CSV format: 16 feature columns then the label column; a header line is allowed.

Output: a TorchScript module, forward(x: [N, 16] float32) -> [N, 6] Ekman class scores (the element applies
softmax and EMSYNC's valence/arousal mapping).

  python3 train_fusion.py --features labelled.csv --out fusion.pt
  python3 train_fusion.py --synthetic 4000 --out fusion.pt      # synthetic data (for tests)
  python3 train_fusion.py --self-test                          # trains on synthetic data, checks accuracy
                                                               # and the exported contract; exits 77 (skip)
                                                               # without python3-torch
Set-up/training time only (python3-torch); the element itself never needs Python.
"""
import argparse
import csv
import os
import sys
import tempfile

FEATURES = 16
CLASSES = 6


def synthetic(n, seed=0):
    """Synthetic, learnable data: the class shows in the face expression probabilities (a noisy one-hot of
    the matching expression) and in the scene values, roughly as in real footage."""
    import torch
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, CLASSES, (n,), generator=g)
    x = torch.rand(n, FEATURES, generator=g) * 0.3
    faces = torch.rand(n, generator=g) > 0.3
    x[:, 0] = faces.float() * (0.3 + 0.7 * torch.rand(n, generator=g))
    probs = torch.rand(n, 7, generator=g) * 0.5
    probs[torch.arange(n), y] += 1.5
    probs = probs / probs.sum(1, keepdim=True)
    x[:, 1:8] = probs * faces.float().unsqueeze(1)
    # scene: joy/surprise brighter and more saturated, sadness darker, anger/fear more motion
    bright = torch.tensor([0.4, 0.4, 0.3, 0.7, 0.2, 0.6])[y]
    motion = torch.tensor([0.7, 0.3, 0.8, 0.4, 0.1, 0.6])[y]
    x[:, 8] = bright + 0.1 * torch.randn(n, generator=g)
    x[:, 10] = motion + 0.1 * torch.randn(n, generator=g)
    return x, y


def load_csv(path):
    import torch
    rows, labels = [], []
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if not row:
                continue
            try:
                values = [float(v) for v in row[:FEATURES]]
                label = int(float(row[FEATURES]))
            except (ValueError, IndexError):
                continue  # header or malformed line
            rows.append(values)
            labels.append(label)
    if not rows:
        sys.exit(f"train_fusion: no labelled rows in {path}")
    return torch.tensor(rows, dtype=torch.float32), torch.tensor(labels)


def build_model(hidden=32):
    import torch.nn as nn
    return nn.Sequential(nn.Linear(FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, CLASSES))


def train(x, y, epochs=200, lr=0.02, seed=0):
    import torch
    torch.manual_seed(seed)
    model = build_model()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    for _ in range(epochs):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    model.eval()
    return model, float(loss)


def export(model, path):
    import torch
    scripted = torch.jit.trace(model, torch.zeros(1, FEATURES))
    scripted.save(path)


def accuracy(model, x, y):
    import torch
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def self_test():
    try:
        import torch
    except ImportError:
        print("SKIP: python3-torch not installed")
        return 77
    torch.set_num_threads(1)
    x, y = synthetic(3000, seed=1)
    xt, yt = synthetic(1000, seed=2)
    model, loss = train(x, y)
    acc = accuracy(model, xt, yt)
    print(f"synthetic fusion head: train loss {loss:.3f}, held-out accuracy {acc:.3f} (chance {1 / CLASSES:.3f})")
    if acc < 0.8:
        print("FAIL: the fusion head did not learn the synthetic data")
        return 1
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "fusion.pt")
        export(model, path)
        loaded = torch.jit.load(path)
        out = loaded(torch.zeros(3, FEATURES))
        if tuple(out.shape) != (3, CLASSES):
            print(f"FAIL: exported model returns {tuple(out.shape)}")
            return 1
        if not torch.allclose(loaded(xt[:10]), model(xt[:10]), atol=1e-6):
            print("FAIL: exported model differs from the trained one")
            return 1
    print("1 passed, 0 failed")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features", help="CSV: 16 features then the Ekman label (0..5)")
    ap.add_argument("--synthetic", type=int, default=0, help="train on N synthetic rows instead")
    ap.add_argument("--out", default="fusion.pt")
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    if args.synthetic:
        x, y = synthetic(args.synthetic)
    elif args.features:
        x, y = load_csv(args.features)
    else:
        ap.error("give --features or --synthetic")
    model, loss = train(x, y, epochs=args.epochs)
    export(model, args.out)
    print(f"train_fusion: {len(y)} rows, loss {loss:.3f}, accuracy {accuracy(model, x, y):.3f}, wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
