"""EMSYNC 1011-token event vocabulary (see shared/reference/emsync-reference.md, section 2a).

Layout (token ids):
    0            <PAD>
    1            <START>
    2            <BAR>
    3            <CHORD>
    4..128       TIMESHIFT k = 1..125 ticks (tick = 8 ms): token = 3 + k
    129..1008    note OFF/ON: token = 129 + 176*instr + 88*is_on + (pitch - 21)
                 instr: BASS 0, DRUMS 1, GUITAR 2, PIANO 3, STRINGS 4; pitch 21..108
    1009         <LESS_INSTRUMENTS>   (fewer than 3 instruments)
    1010         <MORE_INSTRUMENTS>   (3 or more instruments)

GM program -> instrument group (our LPD-5-style choice, documented in models/MODEL_CARD.md):
    channel 10 (index 9)                  -> DRUMS
    0-23   piano, chromatic perc., organ   -> PIANO
    24-31  guitar                          -> GUITAR
    32-39  bass                            -> BASS
    40-55  strings, ensemble               -> STRINGS
    56-79  brass, reed, pipe               -> STRINGS (sustained melodic/pad-like voices)
    80-87  synth lead                      -> PIANO   (lead lines; piano is the melodic default)
    88-95  synth pad                       -> STRINGS
    96-103 synth effects                   -> STRINGS
    104-111 ethnic (sitar, banjo, koto...) -> GUITAR  (plucked)
    112-119 percussive (non-ch.10)         -> PIANO   (pitched percussion, like chromatic perc.)
    120-127 sound effects                  -> dropped (None)
"""

PAD, START, BAR, CHORD = 0, 1, 2, 3
TIMESHIFT_BASE = 3            # token = 3 + k, k in 1..125
MAX_SHIFT_TICKS = 125
TICK_MS = 8
NOTE_BASE = 129
LESS_INSTRUMENTS, MORE_INSTRUMENTS = 1009, 1010
VOCAB_SIZE = 1011
INSTRUMENT_THRESHOLD = 3

BASS, DRUMS, GUITAR, PIANO, STRINGS = 0, 1, 2, 3, 4
INSTRUMENT_NAMES = ["BASS", "DRUMS", "GUITAR", "PIANO", "STRINGS"]
# Within one time step: ON before OFF, then this instrument order (midi-emotion).
INSTRUMENT_PRIORITY = [DRUMS, BASS, GUITAR, PIANO, STRINGS]
MIN_PITCH, MAX_PITCH = 21, 108

# GM programs (0-based) used when rendering each group (reference 2a).
OUTPUT_PROGRAMS = {PIANO: 0, GUITAR: 25, BASS: 32, STRINGS: 48}  # DRUMS: channel 10


def program_to_instrument(program, is_drum_channel):
    """Map a GM program (0..127) / drum channel to an instrument group, or None to drop."""
    if is_drum_channel:
        return DRUMS
    p = int(program)
    if p <= 23:
        return PIANO
    if p <= 31:
        return GUITAR
    if p <= 39:
        return BASS
    if p <= 55:
        return STRINGS
    if p <= 79:
        return STRINGS
    if p <= 87:
        return PIANO
    if p <= 103:
        return STRINGS
    if p <= 111:
        return GUITAR
    if p <= 119:
        return PIANO
    return None


def timeshift_token(k):
    assert 1 <= k <= MAX_SHIFT_TICKS
    return TIMESHIFT_BASE + k


def note_token(instr, pitch, is_on):
    assert 0 <= instr <= 4 and MIN_PITCH <= pitch <= MAX_PITCH
    return NOTE_BASE + 176 * instr + 88 * (1 if is_on else 0) + (pitch - MIN_PITCH)


def is_timeshift(tok):
    return TIMESHIFT_BASE + 1 <= tok <= TIMESHIFT_BASE + MAX_SHIFT_TICKS


def is_note(tok):
    return NOTE_BASE <= tok < NOTE_BASE + 5 * 176


def decode_note(tok):
    """-> (instr, pitch, is_on)"""
    r = tok - NOTE_BASE
    instr, r = divmod(r, 176)
    is_on, p = divmod(r, 88)
    return instr, p + MIN_PITCH, bool(is_on)


def shift_tokens(ticks):
    """Split a positive tick delta into TIMESHIFT tokens (max 125 ticks = 1000 ms each)."""
    out = []
    while ticks > 0:
        k = min(ticks, MAX_SHIFT_TICKS)
        out.append(timeshift_token(k))
        ticks -= k
    return out


def token_name(tok):
    if tok == PAD:
        return "<PAD>"
    if tok == START:
        return "<START>"
    if tok == BAR:
        return "<BAR>"
    if tok == CHORD:
        return "<CHORD>"
    if is_timeshift(tok):
        return "TIMESHIFT_%d" % ((tok - TIMESHIFT_BASE) * TICK_MS)
    if is_note(tok):
        i, p, on = decode_note(tok)
        return "%s_%s_%d" % ("ON" if on else "OFF", INSTRUMENT_NAMES[i], p)
    if tok == LESS_INSTRUMENTS:
        return "<LESS_INSTRUMENTS>"
    if tok == MORE_INSTRUMENTS:
        return "<MORE_INSTRUMENTS>"
    raise ValueError(tok)


def name_to_token(name):
    fixed = {"<PAD>": PAD, "<START>": START, "<BAR>": BAR, "<CHORD>": CHORD,
             "<LESS_INSTRUMENTS>": LESS_INSTRUMENTS, "<MORE_INSTRUMENTS>": MORE_INSTRUMENTS}
    if name in fixed:
        return fixed[name]
    parts = name.split("_")
    if parts[0] == "TIMESHIFT":
        return timeshift_token(int(parts[1]) // TICK_MS)
    return note_token(INSTRUMENT_NAMES.index(parts[1]), int(parts[2]), parts[0] == "ON")


def notes_to_tokens(notes, chord_ticks=(), bar_ticks=()):
    """notes: iterable of (start_tick, end_tick, instr, pitch), ticks of 8 ms, end > start.
    chord_ticks: ticks where a <CHORD> token precedes the step's events.
    bar_ticks: ticks where a <BAR> token precedes the step's events.
    Returns (tokens, token_ticks): token_ticks[i] = time cursor (ticks) after token i.
    Order inside a time step: <BAR>, <CHORD>, all ON, then all OFF; within ON/OFF by
    instrument priority DRUMS, BASS, GUITAR, PIANO, STRINGS, then pitch ascending."""
    prio = {ins: r for r, ins in enumerate(INSTRUMENT_PRIORITY)}
    ev = {}
    for s, e, ins, p in notes:
        ev.setdefault(s, []).append((0, prio[ins], p, note_token(ins, p, True)))
        ev.setdefault(e, []).append((1, prio[ins], p, note_token(ins, p, False)))
    for t in bar_ticks:
        ev.setdefault(t, []).append((-2, 0, 0, BAR))
    for t in chord_ticks:
        ev.setdefault(t, []).append((-1, 0, 0, CHORD))
    toks, ticks = [], []
    cur = 0
    for t in sorted(ev):
        for st in shift_tokens(t - cur):
            cur += st - TIMESHIFT_BASE
            toks.append(st)
            ticks.append(cur)
        for _, _, _, tok in sorted(set(ev[t])):
            toks.append(tok)
            ticks.append(cur)
    return toks, ticks


def tokens_to_notes(tokens):
    """Decode like the reference (2e.8): ON opens (instr,pitch), matching OFF closes, unmatched
    OFF ignored, a second ON of an open key overwrites it, notes open at the end are dropped.
    Returns list of (start_tick, end_tick, instr, pitch) and list of chord ticks."""
    cur = 0
    open_ = {}
    notes, chords = [], []
    for tok in tokens:
        tok = int(tok)
        if is_timeshift(tok):
            cur += tok - TIMESHIFT_BASE
        elif is_note(tok):
            ins, p, on = decode_note(tok)
            if on:
                open_[(ins, p)] = cur
            elif (ins, p) in open_:
                notes.append((open_.pop((ins, p)), cur, ins, p))
        elif tok == CHORD:
            chords.append(cur)
    notes.sort()
    return notes, chords
