"""EMSYNC-compatible generator: Music Transformer (relative global attention) with continuous
valence/arousal condition positions and boundary-offset encoding, scriptable with TorchScript and
with a KV-cache (prefill/step). Parameter names follow the official EMSYNC checkpoint
(`MusicTransformerContinuousToken`), so an official state_dict loads with load_state_dict().

See models/FORMAT.md for the exported contract.
"""
import math
from typing import List, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


class RelativeGlobalAttention(nn.Module):
    def __init__(self, h: int, d: int, max_seq: int):
        super().__init__()
        self.h = h
        self.d = d
        self.dh = d // h
        self.max_seq = max_seq
        self.Wq = nn.Linear(d, d)
        self.Wk = nn.Linear(d, d)
        self.Wv = nn.Linear(d, d)
        self.fc = nn.Linear(d, d)
        self.E = nn.Parameter(torch.randn(max_seq, self.dh))

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.size(0), x.size(1), self.h, self.dh).permute(0, 2, 1, 3)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Full causal self-attention over x [B, L, d] (L <= max_seq). Returns (out, k, v)."""
        B, L = x.size(0), x.size(1)
        q = self._heads(self.Wq(x))
        k = self._heads(self.Wk(x))
        v = self._heads(self.Wv(x))
        E = self.E[self.max_seq - L:]                       # [L, dh]; row r <-> E[max_seq-L+r]
        qe = torch.matmul(q, E.t())                          # [B, H, L, L]
        # skewing: Srel[i, j] = qe[i, L-1-i+j]  (= q_i . E[max_seq-1-(i-j)])  for j <= i
        srel = F.pad(qe, [1, 0]).reshape(B, self.h, L + 1, L)[:, :, 1:, :]
        logits = (torch.matmul(q, k.transpose(-2, -1)) + srel) / math.sqrt(self.dh)
        causal = torch.ones(L, L, dtype=torch.bool, device=x.device).triu(1)
        logits = logits.masked_fill(causal, float("-inf"))
        att = torch.matmul(torch.softmax(logits, -1), v)
        out = att.permute(0, 2, 1, 3).reshape(B, L, self.d)
        return self.fc(out), k, v

    def step(self, x: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor
             ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x [B, 1, d] at position p = k_cache.size(2)."""
        B = x.size(0)
        p = k_cache.size(2)
        q = self._heads(self.Wq(x))
        k = torch.cat([k_cache, self._heads(self.Wk(x))], 2)
        v = torch.cat([v_cache, self._heads(self.Wv(x))], 2)
        E = self.E[self.max_seq - 1 - p:]                    # [p+1, dh]: key j <-> E[max_seq-1-(p-j)]
        logits = (torch.matmul(q, k.transpose(-2, -1)) + torch.matmul(q, E.t())) / math.sqrt(self.dh)
        att = torch.matmul(torch.softmax(logits, -1), v)
        out = att.permute(0, 2, 1, 3).reshape(B, 1, self.d)
        return self.fc(out), k, v


class EncoderLayer(nn.Module):
    def __init__(self, d_model: int, d_inner: int, dropout: float, h: int, max_seq: int):
        super().__init__()
        self.rga = RelativeGlobalAttention(h, d_model, max_seq)
        self.FFN_pre = nn.Linear(d_model, d_inner)
        self.FFN_suf = nn.Linear(d_inner, d_model)
        self.layernorm1 = nn.LayerNorm(d_model, eps=1e-6)
        self.layernorm2 = nn.LayerNorm(d_model, eps=1e-6)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def _post(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        out1 = self.layernorm1(self.dropout1(a) + x)
        f = self.dropout2(self.FFN_suf(F.relu(self.FFN_pre(out1))))
        return self.layernorm2(out1 + f)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        a, k, v = self.rga(x)
        return self._post(x, a), k, v

    def step(self, x: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor
             ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        a, k, v = self.rga.step(x, k_cache, v_cache)
        return self._post(x, a), k, v


class EmsyncGenerator(nn.Module):
    def __init__(self, vocab_size: int = 1011, d_model: int = 256, n_layers: int = 4, n_heads: int = 4,
                 d_ff: int = 1024, context: int = 512, dropout: float = 0.1, max_boundary: float = 8.0):
        super().__init__()
        assert d_model % 4 == 0 and d_model % n_heads == 0
        self.vocab_size = vocab_size
        self.embedding_dim = d_model
        self.max_seq = context
        self.n_layers = n_layers
        self.max_boundary = max_boundary
        self.n_conditions = 2
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=0)
        self.fc_conditions = nn.ModuleList([
            nn.Sequential(nn.Linear(1, d_model // 2), nn.ReLU(), nn.Linear(d_model // 2, d_model),
                          nn.Dropout(dropout)) for _ in range(2)])
        self.null_conditions = nn.ParameterList([nn.Parameter(torch.rand(1, d_model)) for _ in range(2)])
        self.ff_times_to_chord = nn.Sequential(nn.Linear(1, d_model // 4), nn.ReLU(),
                                               nn.Linear(d_model // 4, d_model // 2))
        self.positional_encoding = nn.Parameter(torch.randn(1, context, d_model // 2))
        self.enc_layers = nn.ModuleList([EncoderLayer(d_model, d_ff, dropout, n_heads, context)
                                         for _ in range(n_layers)])
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(d_model, vocab_size)
        self._init()

    def _init(self):
        r = 0.1
        with torch.no_grad():
            self.embedding.weight.uniform_(-r, r)
            self.fc.bias.zero_()
            self.fc.weight.uniform_(-r, r)
            self.positional_encoding.uniform_(-r, r)
            for seq in list(self.fc_conditions) + [self.ff_times_to_chord]:
                for layer in seq:
                    if isinstance(layer, nn.Linear):
                        layer.weight.uniform_(-r, r)
                        layer.bias.zero_()
            for p in self.null_conditions:
                p.uniform_(-r, r)

    # -- helpers ------------------------------------------------------------------------------
    def _encode_conditions(self, valence: torch.Tensor, arousal: torch.Tensor) -> torch.Tensor:
        """valence, arousal [B] (NaN = missing) -> [B, 2, d]"""
        out: List[torch.Tensor] = []
        vals = [valence, arousal]
        i = 0
        for fc in self.fc_conditions:
            c = vals[i].reshape(-1, 1).to(torch.float32)
            nan = torch.isnan(c)
            enc = fc(torch.where(nan, torch.zeros_like(c), c))
            out.append(enc)
            i += 1
        i = 0
        res: List[torch.Tensor] = []
        for null in self.null_conditions:
            c = vals[i].reshape(-1, 1)
            res.append(torch.where(torch.isnan(c).expand_as(out[i]), null, out[i]))
            i += 1
        return torch.stack(res, 1)

    def _pos_boundary(self, start: int, boundary: torch.Tensor) -> torch.Tensor:
        """boundary [B, L] seconds (clamped to [0, max]) for positions start..start+L-1 -> [B, L, d]"""
        B, L = boundary.size(0), boundary.size(1)
        pos = self.positional_encoding[:, start:start + L, :].expand(B, L, self.embedding_dim // 2)
        b = self.ff_times_to_chord((self.max_boundary - boundary).unsqueeze(-1))
        return torch.cat([pos, b], 2)

    def _embed_full(self, tokens: torch.Tensor, valence: torch.Tensor, arousal: torch.Tensor,
                    boundary: torch.Tensor) -> torch.Tensor:
        x = self.embedding(tokens) * math.sqrt(self.embedding_dim)
        x = torch.cat([self._encode_conditions(valence, arousal), x], 1)
        bnd = boundary.to(torch.float32).clamp(0.0, self.max_boundary)
        bnd = torch.cat([bnd[:, :1].repeat(1, 2), bnd], 1)
        x = x + self._pos_boundary(0, bnd)
        return self.dropout(x)

    # -- public API ---------------------------------------------------------------------------
    def forward(self, tokens: torch.Tensor, valence: torch.Tensor, arousal: torch.Tensor,
                boundary: torch.Tensor) -> torch.Tensor:
        """tokens [B,T] int64, valence/arousal [B] f32 (NaN = missing), boundary [B,T] f32 seconds.
        Returns logits [B, T, vocab] for the T token positions (T + 2 <= context)."""
        x = self._embed_full(tokens, valence, arousal, boundary)
        for layer in self.enc_layers:
            x, k, v = layer(x)
        return self.fc(x[:, 2:, :])

    @torch.jit.export
    def prefill(self, tokens: torch.Tensor, valence: torch.Tensor, arousal: torch.Tensor,
                boundary: torch.Tensor) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """Like forward for B=1; returns (logits of the last position [1, vocab], cache).
        cache = [k_0, v_0, k_1, v_1, ...], each [1, n_heads, T+2, d_head]."""
        x = self._embed_full(tokens, valence, arousal, boundary)
        cache: List[torch.Tensor] = []
        for layer in self.enc_layers:
            x, k, v = layer(x)
            cache.append(k)
            cache.append(v)
        return self.fc(x[:, -1, :]), cache

    @torch.jit.export
    def step(self, token: torch.Tensor, boundary: torch.Tensor, cache: List[torch.Tensor]
             ) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """token [1,1] int64, boundary [1,1] f32 seconds for this token, cache from prefill/step.
        Position = cache[0].size(2); requires position < context."""
        p = cache[0].size(2)
        if p >= self.max_seq:
            raise RuntimeError("emsync: context exceeded; re-prefill a shorter window")
        x = self.embedding(token) * math.sqrt(self.embedding_dim)
        bnd = boundary.to(torch.float32).clamp(0.0, self.max_boundary)
        x = x + self._pos_boundary(p, bnd)
        new_cache: List[torch.Tensor] = []
        i = 0
        for layer in self.enc_layers:
            x, k, v = layer.step(x, cache[2 * i], cache[2 * i + 1])
            new_cache.append(k)
            new_cache.append(v)
            i += 1
        return self.fc(x[:, -1, :]), new_cache


def build(cfg: dict) -> EmsyncGenerator:
    return EmsyncGenerator(vocab_size=cfg.get("vocab_size", 1011), d_model=cfg["d_model"],
                           n_layers=cfg["n_layers"], n_heads=cfg["n_heads"], d_ff=cfg["d_ff"],
                           context=cfg["context"], dropout=cfg.get("dropout", 0.1),
                           max_boundary=cfg.get("max_boundary_seconds", 8.0))


def load_checkpoint(path: str) -> EmsyncGenerator:
    """A training checkpoint (train.py's best.pt or last.pt) as a model in eval mode on the CPU."""
    st = torch.load(path, map_location="cpu")
    m = build(st["config"])
    m.load_state_dict(st["model"])
    return m.eval()


def export_config(cfg: dict) -> dict:
    return {
        "format": "emsync-generator", "format_version": 1, "vocab_size": cfg.get("vocab_size", 1011),
        "context": cfg["context"], "d_model": cfg["d_model"], "n_layers": cfg["n_layers"],
        "n_heads": cfg["n_heads"], "d_ff": cfg["d_ff"], "max_boundary_seconds": 8,
        "tick_ms": 8, "n_condition_positions": 2, "instrument_threshold": 3,
    }


def script(model: EmsyncGenerator):
    model = model.eval()
    return torch.jit.script(model)
