"""Convert an official EMSYNC generator checkpoint (PyTorch state_dict of
`MusicTransformerContinuousToken` as released by em-sync/emsync-colab, `midi_model.pt`) to the
emsync TorchScript format (models/FORMAT.md).

  /usr/bin/python3 models/training/convert_official.py midi_model.pt models/emsync-official.pt

The official parameter names are used unchanged by models/training/model.py:
  embedding.weight, fc_conditions.{0,1}.{0,2}.{weight,bias}, null_conditions.{0,1},
  ff_times_to_chord.{0,2}.{weight,bias}, positional_encoding [1, context, d/2],
  enc_layers.N.rga.{Wq,Wk,Wv,fc}.{weight,bias}, enc_layers.N.rga.E [context, d_head],
  enc_layers.N.{FFN_pre,FFN_suf,layernorm1,layernorm2}.{weight,bias}, fc.{weight,bias}
The configuration is inferred from tensor shapes (official: 11 layers, d_model 512, 8 heads,
d_ff 2048, context 1216, vocab 1011). Differences vs the official forward (documented in
FORMAT.md): no <PAD> key masking (inputs must not contain token 0); identical otherwise.
The released weights carry no licence statement: converting them for personal/research use is
the user's decision; do not redistribute the converted file.
"""
import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from export import export  # noqa: E402


def infer_config(sd):
    vocab, d = sd["embedding.weight"].shape
    context = sd["positional_encoding"].shape[1]
    d_head = sd["enc_layers.0.rga.E"].shape[1]
    n_layers = len({k.split(".")[1] for k in sd if k.startswith("enc_layers.")})
    d_ff = sd["enc_layers.0.FFN_pre.weight"].shape[0]
    return dict(name="official", vocab_size=int(vocab), d_model=int(d), n_layers=n_layers,
                n_heads=int(d // d_head), d_ff=int(d_ff), context=int(context), dropout=0.0)


def load_official(path):
    sd = torch.load(path, map_location="cpu")
    for key in ("model_state_dict", "state_dict", "model"):
        if isinstance(sd, dict) and key in sd and isinstance(sd[key], dict):
            sd = sd[key]
    sd = {k[len("module."):] if k.startswith("module.") else k: v.float() for k, v in sd.items()}
    return sd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    a = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    sd = load_official(a.src)
    cfg = infer_config(sd)
    print("inferred config:", json.dumps(cfg))
    err, meta = export(sd, cfg, a.dst, {"name": "emsync-official-converted", "source": os.path.basename(a.src)})
    print("prefill+step vs forward max abs err: %.3e" % err)
    print("wrote", a.dst)
    if err >= 1e-4:
        sys.exit(1)


if __name__ == "__main__":
    main()
