#!/usr/bin/env python3
"""Makes the small generator model files the C++ tests load (run with Debian's /usr/bin/python3):

  tiny_generator.pt        a randomly initialised, tiny emsync generator (real architecture, real export path)
  unindexed_generator.pt   the same without the weight index (extra/emsync_weights.txt)
  not_a_generator.pt       a valid TorchScript file without the emsync.json config
  corrupt_generator.pt     bytes that are not a TorchScript archive

They are committed so the test suite needs no Python; re-run this after changing models/FORMAT.md.
"""
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "models", "training"))
import model as generator  # noqa: E402
from export import save_with_index  # noqa: E402

torch.manual_seed(1234)
cfg = {"d_model": 32, "n_layers": 2, "n_heads": 2, "d_ff": 64, "context": 64, "dropout": 0.0}
m = generator.build(cfg).eval()
scripted = generator.script(m)
save_with_index(scripted, os.path.join(HERE, "tiny_generator.pt"),
                {"emsync.json": json.dumps(dict(generator.export_config(cfg),
                                                # a density scale like export.py's (density control)
                                                arousal_density_min=1.0, arousal_density_max=12.0))})
# The same model without the weight index (an export from before it): the runtime must say to re-export it.
torch.jit.save(scripted, os.path.join(HERE, "unindexed_generator.pt"),
               _extra_files={"emsync.json": json.dumps(generator.export_config(cfg))})


class Plain(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2


torch.jit.save(torch.jit.script(Plain()), os.path.join(HERE, "not_a_generator.pt"))
with open(os.path.join(HERE, "corrupt_generator.pt"), "wb") as f:
    f.write(b"PK\x03\x04 this is not a TorchScript archive " * 8)
print("wrote fixtures to", HERE)
