"""Naive, loop-based re-statement of the EMSYNC generator forward pass, written from the
specification in shared/reference/emsync-reference.md section 2b-2d (not from any upstream code).
It reads a state_dict with the official parameter names and is used only to cross-check the
optimised/scripted model (tests, converter, parity vectors). Slow; use short inputs."""
import math

import torch


def _lin(sd, name, x):
    return x @ sd[name + ".weight"].t() + sd[name + ".bias"]


def _ln(sd, name, x, eps=1e-6):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * sd[name + ".weight"] + sd[name + ".bias"]


@torch.no_grad()
def reference_forward(sd, tokens, valence, arousal, boundary, max_boundary=8.0):
    """tokens [T] int64, valence/arousal python floats (nan allowed), boundary [T] seconds.
    Returns logits [T, vocab] (float64 computation)."""
    sd = {k: v.double() for k, v in sd.items()}
    d = sd["embedding.weight"].shape[1]
    ctx = sd["positional_encoding"].shape[1]
    dh = sd["enc_layers.0.rga.E"].shape[1]
    h = d // dh
    n_layers = len({k.split(".")[1] for k in sd if k.startswith("enc_layers.")})
    T = tokens.shape[0]
    L = T + 2
    x_tok = sd["embedding.weight"][tokens] * math.sqrt(d)
    conds = []
    for i, c in enumerate([valence, arousal]):
        if math.isnan(c):
            conds.append(sd["null_conditions.%d" % i][0])
        else:
            hid = torch.relu(_lin(sd, "fc_conditions.%d.0" % i, torch.tensor([c], dtype=torch.float64)))
            conds.append(_lin(sd, "fc_conditions.%d.2" % i, hid))
    x = torch.cat([torch.stack(conds), x_tok], 0)                       # [L, d]
    b = boundary.double().clamp(0, max_boundary)
    b = torch.cat([b[:1], b[:1], b])
    benc = _lin(sd, "ff_times_to_chord.2", torch.relu(_lin(sd, "ff_times_to_chord.0", (max_boundary - b)[:, None])))
    x = x + torch.cat([sd["positional_encoding"][0, :L], benc], 1)
    for l in range(n_layers):
        p = "enc_layers.%d." % l
        q = _lin(sd, p + "rga.Wq", x).view(L, h, dh)
        k = _lin(sd, p + "rga.Wk", x).view(L, h, dh)
        v = _lin(sd, p + "rga.Wv", x).view(L, h, dh)
        E = sd[p + "rga.E"]
        out = torch.zeros(L, h, dh, dtype=torch.float64)
        for hh in range(h):
            logits = torch.full((L, L), float("-inf"), dtype=torch.float64)
            for i in range(L):
                for j in range(i + 1):
                    srel = q[i, hh] @ E[ctx - 1 - (i - j)]
                    logits[i, j] = (q[i, hh] @ k[j, hh] + srel) / math.sqrt(dh)
            out[:, hh] = torch.softmax(logits, -1) @ v[:, hh]
        a = _lin(sd, p + "rga.fc", out.reshape(L, d))
        out1 = _ln(sd, p + "layernorm1", a + x)
        f = _lin(sd, p + "FFN_suf", torch.relu(_lin(sd, p + "FFN_pre", out1)))
        x = _ln(sd, p + "layernorm2", out1 + f)
    return _lin(sd, "fc", x[2:])
