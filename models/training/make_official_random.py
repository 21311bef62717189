"""Build a randomly initialised generator with the OFFICIAL EMSYNC config (11 layers, d_model 512,
8 heads, d_ff 2048, context 1216, vocab 1011), save its state_dict (official parameter names) and
reference logits for a fixed input, for the C++ parity test (tolerance 1e-4).

  /usr/bin/python3 models/training/make_official_random.py OUTDIR [--tokens 48] [--seed 0] [--script]

Writes (nothing here is committed; tests generate it at test time, ~149 MB state_dict):
  OUTDIR/official_random_state_dict.pt   torch.save(state_dict)  (what convert_official.py reads)
  OUTDIR/official_random.pt              TorchScript (with --script), via convert_official's path
  OUTDIR/official_random_io.json         {"tokens": [...], "valence": v, "arousal": a,
                                          "boundary": [...], "logits_last": [1011 floats],
                                          "logits_sum": [T floats], "argmax": [T ints],
                                          "logits": [[...] x T] (only with --full-logits)}
Reference logits come from reference_impl.reference_forward (naive float64 re-statement of the
spec), and are cross-checked against the optimised model (asserts < 1e-4).
"""
import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import model as M  # noqa: E402
from reference_impl import reference_forward  # noqa: E402

OFFICIAL = dict(name="official-random", vocab_size=1011, d_model=512, n_layers=11, n_heads=8,
                d_ff=2048, context=1216, dropout=0.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--tokens", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--script", action="store_true")
    ap.add_argument("--full-logits", action="store_true")
    ap.add_argument("--tiny", action="store_true",
                    help="tiny config (d_model 64, 2 layers, 4 heads, d_ff 128, context 64) for fast CI")
    a = ap.parse_args()
    cfg = dict(OFFICIAL)
    if a.tiny:
        cfg.update(name="tiny-random", d_model=64, n_layers=2, n_heads=4, d_ff=128, context=64)
    os.makedirs(a.outdir, exist_ok=True)
    torch.manual_seed(a.seed)
    m = M.build(cfg).eval()
    sd = m.state_dict()
    sdp = os.path.join(a.outdir, "official_random_state_dict.pt")
    torch.save(sd, sdp)
    g = torch.Generator().manual_seed(a.seed + 1)
    T = a.tokens
    tok = torch.randint(4, 1009, (T,), generator=g)
    tok[0] = 1010
    tok[1] = 2
    bnd = (torch.rand(T, generator=g) * 8).float()
    v, ar = 0.35, -0.6
    ref = reference_forward(sd, tok, v, ar, bnd)                      # [T, 1011] float64
    with torch.no_grad():
        out = m(tok[None], torch.tensor([v]), torch.tensor([ar]), bnd[None])[0].double()
    err = (out - ref).abs().max().item()
    print("optimised vs reference max abs err: %.3e" % err)
    assert err < 1e-4, err
    io = dict(tokens=tok.tolist(), valence=v, arousal=ar, boundary=[float(x) for x in bnd],
              logits_last=[float(x) for x in ref[-1]], logits_sum=[float(x) for x in ref.sum(1)],
              argmax=[int(x) for x in ref.argmax(1)], tolerance=1e-4, config=M.export_config(cfg))
    if a.full_logits:
        io["logits"] = [[float(x) for x in row] for row in ref]
    with open(os.path.join(a.outdir, "official_random_io.json"), "w") as f:
        json.dump(io, f)
    if a.script:
        from export import export
        e2, _ = export(sd, cfg, os.path.join(a.outdir, "official_random.pt"), {"name": cfg["name"]})
        print("scripted prefill+step vs forward max abs err: %.3e" % e2)
    print("wrote", a.outdir)


if __name__ == "__main__":
    main()
