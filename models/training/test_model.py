"""Plain-assert tests: /usr/bin/python3 models/training/test_model.py
Checks the vocabulary, the scripted model's forward vs prefill+step agreement (1e-4), the
relative-attention definition against a naive spec implementation, and the saved-file contract."""
import io
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as M           # noqa: E402
import vocab as V           # noqa: E402
from reference_impl import reference_forward  # noqa: E402


def test_vocab():
    assert V.VOCAB_SIZE == 1011
    assert V.note_token(V.BASS, 21, False) == 129
    assert V.note_token(V.STRINGS, 108, True) == 1008
    assert V.note_token(V.DRUMS, 36, True) == 129 + 176 + 88 + 15
    assert V.timeshift_token(1) == 4 and V.timeshift_token(125) == 128
    names = [V.token_name(t) for t in range(V.VOCAB_SIZE)]
    assert len(set(names)) == V.VOCAB_SIZE
    for t in range(V.VOCAB_SIZE):
        assert V.name_to_token(names[t]) == t, (t, names[t])
    for t in range(V.NOTE_BASE, 1009):
        i, p, on = V.decode_note(t)
        assert V.note_token(i, p, on) == t
    assert V.shift_tokens(300) == [128, 128, 3 + 50]
    # notes -> tokens -> notes round trip (incl. chord marker, long shifts, simultaneous events)
    notes = [(0, 50, V.PIANO, 60), (0, 50, V.PIANO, 64), (0, 200, V.BASS, 36), (10, 11, V.DRUMS, 36),
             (300, 800, V.STRINGS, 67), (300, 800, V.STRINGS, 71), (300, 800, V.STRINGS, 74)]
    toks, ticks = V.notes_to_tokens(notes, chord_ticks=[300], bar_ticks=[0, 300])
    back, chords = V.tokens_to_notes(toks)
    assert sorted(back) == sorted(notes), (back, notes)
    assert chords == [300]
    # order in a step: BAR, CHORD, ONs (drums, bass, guitar, piano, strings), then OFFs
    k = toks.index(V.CHORD)
    assert toks[k - 1] == V.BAR
    assert toks[k + 1] == V.note_token(V.STRINGS, 67, True)
    first = toks[:4]
    assert first == [V.BAR, V.note_token(V.BASS, 36, True), V.note_token(V.PIANO, 60, True),
                     V.note_token(V.PIANO, 64, True)], [V.token_name(t) for t in first]
    assert V.program_to_instrument(0, True) == V.DRUMS
    assert V.program_to_instrument(33, False) == V.BASS
    assert V.program_to_instrument(48, False) == V.STRINGS
    assert V.program_to_instrument(25, False) == V.GUITAR
    assert V.program_to_instrument(0, False) == V.PIANO
    print("vocab ok")


def _small(ctx=48):
    torch.manual_seed(0)
    m = M.EmsyncGenerator(d_model=64, n_layers=2, n_heads=4, d_ff=128, context=ctx, dropout=0.1).eval()
    with torch.no_grad():   # make every parameter non-trivial
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return m


def test_kv_cache():
    m = _small()
    s = M.script(m)
    T = 40
    torch.manual_seed(1)
    tok = torch.randint(2, 1011, (1, T))
    b = torch.rand(1, T) * 10 - 1          # includes values outside [0, 8] -> clamped
    for v, a in [(0.3, -0.7), (float("nan"), 0.2), (float("nan"), float("nan"))]:
        vt, at = torch.tensor([v]), torch.tensor([a])
        full = s(tok, vt, at, b)
        assert full.shape == (1, T, 1011)
        lg, cache = s.prefill(tok[:, :7], vt, at, b[:, :7])
        assert len(cache) == 4 and cache[0].shape == (1, 4, 9, 16)
        err = (lg - full[:, 6]).abs().max().item()
        for t in range(7, T):
            lg, cache = s.step(tok[:, t:t + 1], b[:, t:t + 1], cache)
            err = max(err, (lg - full[:, t]).abs().max().item())
        assert err < 1e-4, err
        # batch forward = per-row forward
        tok2 = torch.cat([tok, tok.flip(1)])
        full2 = s(tok2, torch.tensor([v, 0.1]), torch.tensor([a, float("nan")]), torch.cat([b, b.flip(1)]))
        assert (full2[0] - full[0]).abs().max().item() < 1e-4
    # context limit
    lg, cache = s.prefill(tok[:, :46], vt, at, b[:, :46])
    try:
        s.step(tok[:, :1], b[:, :1], cache)
        raise AssertionError("expected context error")
    except Exception as ex:  # noqa: BLE001
        assert "context" in str(ex)
    print("kv cache ok (max err %.2e)" % err)


def test_reference():
    m = _small()
    s = M.script(m)
    torch.manual_seed(2)
    T = 12
    tok = torch.randint(2, 1011, (1, T))
    b = torch.rand(1, T) * 8
    for v, a in [(0.5, -0.25), (float("nan"), 0.9)]:
        ref = reference_forward(m.state_dict(), tok[0], v, a, b[0])
        out = s(tok, torch.tensor([v]), torch.tensor([a]), b)[0].double()
        err = (ref - out).abs().max().item()
        assert err < 1e-4, err
    print("reference ok (max err %.2e)" % err)


def test_save_contract():
    m = _small()
    s = M.script(m)
    cfg = M.export_config(dict(d_model=64, n_layers=2, n_heads=4, d_ff=128, context=48))
    buf = io.BytesIO()
    torch.jit.save(s, buf, _extra_files={"emsync.json": json.dumps(cfg)})
    buf.seek(0)
    extra = {"emsync.json": ""}
    s2 = torch.jit.load(buf, _extra_files=extra)
    c2 = json.loads(extra["emsync.json"])
    assert c2["format"] == "emsync-generator" and c2["format_version"] == 1 and c2["vocab_size"] == 1011
    tok = torch.randint(2, 1011, (1, 5))
    b = torch.zeros(1, 5)
    assert torch.allclose(s(tok, torch.tensor([0.1]), torch.tensor([0.2]), b),
                          s2(tok, torch.tensor([0.1]), torch.tensor([0.2]), b))
    print("save contract ok")


if __name__ == "__main__":
    torch.set_num_threads(1)
    test_vocab()
    test_kv_cache()
    test_reference()
    test_save_contract()
    print("ALL OK")
