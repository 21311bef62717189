/* emsync — unit tests of lib/midi: vocabulary, program map, tokenizer, streaming decoder, SMF reader/writer,
 * malformed-input robustness. Real MIDI files from $EMSYNC_SHARED_DATA/midi are used when present. */
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "lib/midi/program_map.h"
#include "lib/midi/smf.h"
#include "lib/midi/tokenizer.h"
#include "lib/midi/vocab.h"

/* after the C++ headers: Check defines a fail() macro that clashes with std::ios::fail() */
#include <gst/check/gstcheck.h>

using namespace emsync::midi;
namespace fs = std::filesystem;

/* ---------- helpers ---------- */

static std::vector<uint8_t>
bytes_of (std::initializer_list<int> values)
{
  std::vector<uint8_t> out;
  for (int v : values)
    out.push_back (static_cast<uint8_t> (v));
  return out;
}

/* Hand-made SMF: header + track chunks given as raw event bytes (end-of-track appended). */
static std::vector<uint8_t>
make_smf (int format, int division, const std::vector<std::vector<uint8_t>> &track_events)
{
  std::vector<uint8_t> out = bytes_of ({ 'M', 'T', 'h', 'd', 0, 0, 0, 6, 0, format, 0,
      static_cast<int> (track_events.size ()), (division >> 8) & 0xFF, division & 0xFF });
  for (const auto &events : track_events) {
    std::vector<uint8_t> body = events;
    body.insert (body.end (), { 0x00, 0xFF, 0x2F, 0x00 });
    out.insert (out.end (), { 'M', 'T', 'r', 'k' });
    uint32_t n = static_cast<uint32_t> (body.size ());
    out.insert (out.end (),
        { static_cast<uint8_t> (n >> 24), static_cast<uint8_t> (n >> 16), static_cast<uint8_t> (n >> 8),
            static_cast<uint8_t> (n) });
    out.insert (out.end (), body.begin (), body.end ());
  }
  return out;
}

/* Random multi-instrument notes with no overlap inside one key (instrument, pitch). */
static std::vector<Note>
random_notes (unsigned seed, int count, double span_seconds)
{
  std::mt19937 rng (seed);
  std::uniform_real_distribution<double> start_dist (0.0, span_seconds);
  std::uniform_real_distribution<double> length_dist (0.02, 2.5);
  std::uniform_int_distribution<int> instrument_dist (0, kNumInstruments - 1);
  std::uniform_int_distribution<int> pitch_dist (kMinPitch, kMaxPitch);
  std::uniform_int_distribution<int> velocity_dist (1, 127);
  std::map<std::pair<int, int>, std::vector<std::pair<double, double>>> used;
  std::vector<Note> notes;
  int attempts = 0;
  while (static_cast<int> (notes.size ()) < count && attempts++ < count * 50) {
    Note note;
    note.instrument = static_cast<Instrument> (instrument_dist (rng));
    note.pitch = pitch_dist (rng);
    note.start_seconds = start_dist (rng);
    note.end_seconds = note.start_seconds + length_dist (rng);
    note.velocity = velocity_dist (rng);
    auto &spans = used[{ instrument_index (note.instrument), note.pitch }];
    bool clash = false;
    for (auto &[s, e] : spans) // keep 20 ms between notes of one key so 8 ms rounding cannot merge them
      if (note.start_seconds < e + 0.02 && s < note.end_seconds + 0.02)
        clash = true;
    if (clash)
      continue;
    spans.emplace_back (note.start_seconds, note.end_seconds);
    notes.push_back (note);
  }
  return notes;
}

static std::string
shared_midi_dir (const char *corpus)
{
  const char *root = std::getenv ("EMSYNC_SHARED_DATA");
  if (!root)
    return "";
  fs::path dir = fs::path (root) / "midi" / corpus;
  std::error_code ec;
  return fs::is_directory (dir, ec) ? dir.string () : "";
}

/* Up to max_files MIDI files of a corpus, sorted for determinism. */
static std::vector<std::string>
shared_midi_files (const char *corpus, size_t max_files)
{
  std::vector<std::string> files;
  std::string dir = shared_midi_dir (corpus);
  if (dir.empty ())
    return files;
  for (auto &entry : fs::recursive_directory_iterator (dir)) {
    std::string ext = entry.path ().extension ().string ();
    std::transform (ext.begin (), ext.end (), ext.begin (), ::tolower);
    if (entry.is_regular_file () && (ext == ".mid" || ext == ".midi"))
      files.push_back (entry.path ().string ());
  }
  std::sort (files.begin (), files.end ());
  if (files.size () > max_files) {
    std::vector<std::string> picked;
    for (size_t i = 0; i < max_files; i++)
      picked.push_back (files[i * files.size () / max_files]);
    files = picked;
  }
  return files;
}

static bool
by_key_then_start (const Note &a, const Note &b)
{
  return std::make_tuple (instrument_index (a.instrument), a.pitch, a.start_seconds)
      < std::make_tuple (instrument_index (b.instrument), b.pitch, b.start_seconds);
}

using TickNote = std::tuple<int, int, int64_t, int64_t>; // instrument, pitch, start tick, end tick

/* What the token stream should hold for a note list, computed per key independently of the encoder's sweep:
 * quantise to 8 ms ticks, keep the longest of notes of one key starting on the same tick, cut a note where the
 * next note of its key starts. */
static std::multiset<TickNote>
expected_tick_notes (const std::vector<Note> &notes)
{
  std::map<std::pair<int, int>, std::map<int64_t, int64_t>> by_key; // key -> start -> longest end
  for (const Note &n : notes) {
    if (!is_valid_pitch (n.pitch))
      continue;
    int64_t s = seconds_to_ticks (n.start_seconds);
    int64_t e = std::max (s, seconds_to_ticks (n.end_seconds));
    auto &starts = by_key[{ instrument_index (n.instrument), n.pitch }];
    auto it = starts.find (s);
    if (it == starts.end () || e > it->second)
      starts[s] = e;
  }
  std::multiset<TickNote> out;
  for (auto &[key, starts] : by_key) {
    for (auto it = starts.begin (); it != starts.end (); ++it) {
      int64_t end = it->second;
      auto next = std::next (it);
      if (next != starts.end () && next->first < end)
        end = next->first;
      out.insert ({ key.first, key.second, it->first, end });
    }
  }
  return out;
}

static std::multiset<TickNote>
tick_notes (const std::vector<Note> &notes)
{
  std::multiset<TickNote> out;
  for (const Note &n : notes)
    out.insert ({ instrument_index (n.instrument), n.pitch, std::llround (n.start_seconds / kTickSeconds),
        std::llround (n.end_seconds / kTickSeconds) });
  return out;
}

/* ---------- vocabulary ---------- */

GST_START_TEST (test_vocab_layout)
{
  ck_assert_int_eq (kVocabSize, 1011);
  ck_assert_int_eq (kPadToken, 0);
  ck_assert_int_eq (kStartToken, 1);
  ck_assert_int_eq (kBarToken, 2);
  ck_assert_int_eq (kChordToken, 3);
  ck_assert_int_eq (time_shift_token (1), 4);
  ck_assert_int_eq (time_shift_token (125), 128);
  ck_assert_int_eq (time_shift_token (0), -1);
  ck_assert_int_eq (time_shift_token (126), -1);
  ck_assert_int_eq (note_token (Instrument::Bass, 21, false), 129);
  ck_assert_int_eq (note_token (Instrument::Bass, 108, false), 216);
  ck_assert_int_eq (note_token (Instrument::Bass, 21, true), 217);
  ck_assert_int_eq (note_token (Instrument::Drums, 21, false), 305);
  ck_assert_int_eq (note_token (Instrument::Drums, 36, true), 129 + 176 + 88 + 15);
  ck_assert_int_eq (note_token (Instrument::Piano, 60, true), 784);
  ck_assert_int_eq (note_token (Instrument::Strings, 108, true), 1008);
  ck_assert_int_eq (note_token (Instrument::Piano, 20, true), -1);
  ck_assert_int_eq (note_token (Instrument::Piano, 109, true), -1);
  ck_assert_int_eq (kLessInstrumentsToken, 1009);
  ck_assert_int_eq (kMoreInstrumentsToken, 1010);

  int shifts = 0, notes = 0, specials = 0;
  for (int t = 0; t < kVocabSize; t++) {
    int kinds = (is_time_shift (t) ? 1 : 0) + (is_note_token (t) ? 1 : 0) + (is_special_token (t) ? 1 : 0);
    ck_assert_int_eq (kinds, 1);
    shifts += is_time_shift (t);
    notes += is_note_token (t);
    specials += is_special_token (t);
    if (is_note_token (t)) {
      NoteTokenParts p = decode_note_token (t);
      ck_assert_int_eq (note_token (p.instrument, p.pitch, p.on), t);
    }
    if (is_time_shift (t))
      ck_assert_int_eq (time_shift_token (time_shift_ticks (t)), t);
    /* names are unique and invertible */
    ck_assert_int_eq (token_from_name (token_name (t)), t);
  }
  ck_assert_int_eq (shifts, 125);
  ck_assert_int_eq (notes, 880);
  ck_assert_int_eq (specials, 6);
  ck_assert (!is_valid_token (-1) && !is_valid_token (1011));
  ck_assert (token_name (4) == "TIMESHIFT_8");
  ck_assert (token_name (128) == "TIMESHIFT_1000");
  ck_assert (token_name (784) == "ON_PIANO_60");
  ck_assert (token_name (129) == "OFF_BASS_21");
  ck_assert (token_name (1009) == "<LESS_INSTRUMENTS>");
  ck_assert_int_eq (token_from_name ("TIMESHIFT_12"), -1);
  ck_assert_int_eq (token_from_name ("ON_FLUTE_60"), -1);
  ck_assert_int_eq (token_from_name ("ON_PIANO_200"), -1);
}
GST_END_TEST;

GST_START_TEST (test_program_map)
{
  ck_assert (instrument_for_program (0, false) == Instrument::Piano);
  ck_assert (instrument_for_program (23, false) == Instrument::Piano); // organ
  ck_assert (instrument_for_program (24, false) == Instrument::Guitar);
  ck_assert (instrument_for_program (31, false) == Instrument::Guitar);
  ck_assert (instrument_for_program (32, false) == Instrument::Bass);
  ck_assert (instrument_for_program (39, false) == Instrument::Bass);
  ck_assert (instrument_for_program (40, false) == Instrument::Strings);
  ck_assert (instrument_for_program (55, false) == Instrument::Strings);
  ck_assert (instrument_for_program (56, false) == Instrument::Strings);  // brass
  ck_assert (instrument_for_program (79, false) == Instrument::Strings);  // pipe
  ck_assert (instrument_for_program (80, false) == Instrument::Piano);    // synth lead
  ck_assert (instrument_for_program (88, false) == Instrument::Strings);  // synth pad
  ck_assert (instrument_for_program (103, false) == Instrument::Strings); // synth fx
  ck_assert (instrument_for_program (104, false) == Instrument::Guitar);  // ethnic
  ck_assert (instrument_for_program (112, false) == Instrument::Piano);   // percussive
  ck_assert (!instrument_for_program (120, false).has_value ());          // sound effects
  ck_assert (!instrument_for_program (128, false).has_value ());
  ck_assert (instrument_for_program (120, true) == Instrument::Drums);
  ck_assert (instrument_for_program (0, true) == Instrument::Drums);
  ck_assert_int_eq (output_program (Instrument::Piano), 0);
  ck_assert_int_eq (output_program (Instrument::Guitar), 25);
  ck_assert_int_eq (output_program (Instrument::Bass), 32);
  ck_assert_int_eq (output_program (Instrument::Strings), 48);
  ck_assert_int_eq (output_channel (Instrument::Drums), 9);
  /* every output program maps back to its group */
  for (int i = 0; i < kNumInstruments; i++) {
    Instrument g = static_cast<Instrument> (i);
    ck_assert (instrument_for_program (output_program (g), output_channel (g) == kDrumChannel) == g);
  }
}
GST_END_TEST;

/* ---------- encoder ---------- */

GST_START_TEST (test_encode_basic)
{
  /* drums kick 0..50 ms, piano C4 0..0.52 s, bass E2 2.6..4.0 s (no half-tick times) */
  std::vector<Note> notes = {
    { Instrument::Piano, 60, 0.0, 0.52, 100 }, { Instrument::Drums, 36, 0.0, 0.05, 100 },
    { Instrument::Bass, 40, 2.6, 4.0, 100 },
    { Instrument::Piano, 10, 1.0, 2.0, 100 },  // out of range: dropped
    { Instrument::Piano, 109, 1.0, 2.0, 100 }, // out of range: dropped
  };
  ck_assert_int_eq (seconds_to_ticks (0.05), 6);
  ck_assert_int_eq (seconds_to_ticks (0.52), 65);
  ck_assert_int_eq (seconds_to_ticks (2.6), 325);
  ck_assert_int_eq (seconds_to_ticks (-1.0), 0);
  std::vector<int> tokens = encode (notes);
  std::vector<int> expected = {
    note_token (Instrument::Drums, 36, true),
    note_token (Instrument::Piano, 60, true),
    time_shift_token (6),
    note_token (Instrument::Drums, 36, false),
    time_shift_token (59),
    note_token (Instrument::Piano, 60, false),
    time_shift_token (125),
    time_shift_token (125),
    time_shift_token (10),
    note_token (Instrument::Bass, 40, true),
    time_shift_token (125),
    time_shift_token (50),
    note_token (Instrument::Bass, 40, false),
  };
  ck_assert_int_eq (tokens.size (), expected.size ());
  for (size_t i = 0; i < tokens.size (); i++)
    ck_assert_msg (tokens[i] == expected[i], "token %zu: %s, expected %s", i, token_name (tokens[i]).c_str (),
        token_name (expected[i]).c_str ());
  ck_assert (std::fabs (tokens_duration (tokens) - 4.0) < 1e-9);
  ck_assert (encode ({}).empty ());

  /* a gap of exactly 2 s is two 1 s tokens, never a zero remainder */
  std::vector<int> gap = encode ({ { Instrument::Piano, 60, 2.0, 2.5, 80 } });
  ck_assert_int_eq (gap[0], time_shift_token (125));
  ck_assert_int_eq (gap[1], time_shift_token (125));
  ck_assert_int_eq (gap[2], note_token (Instrument::Piano, 60, true));
}
GST_END_TEST;

GST_START_TEST (test_encode_order)
{
  /* same step: ONs before OFFs, instrument priority DRUMS, BASS, GUITAR, PIANO, STRINGS, then pitch;
   * <BAR> and <CHORD> first */
  std::vector<Note> notes = {
    { Instrument::Strings, 50, 0.0, 1.0, 80 },
    { Instrument::Piano, 64, 0.0, 1.0, 80 },
    { Instrument::Piano, 60, 0.0, 1.0, 80 },
    { Instrument::Guitar, 55, 0.0, 1.0, 80 },
    { Instrument::Bass, 40, 0.0, 1.0, 80 },
    { Instrument::Drums, 42, 0.0, 1.0, 80 },
    { Instrument::Bass, 45, 1.0, 2.0, 80 },
  };
  EncodeOptions options;
  options.chord_times = { 1.0 };
  options.bar_times = { 0.0, 1.0 };
  std::vector<int> tokens = encode (notes, options);
  std::vector<int> expected = { kBarToken, note_token (Instrument::Drums, 42, true),
    note_token (Instrument::Bass, 40, true), note_token (Instrument::Guitar, 55, true),
    note_token (Instrument::Piano, 60, true), note_token (Instrument::Piano, 64, true),
    note_token (Instrument::Strings, 50, true), time_shift_token (125), kBarToken, kChordToken,
    note_token (Instrument::Bass, 45, true), note_token (Instrument::Drums, 42, false),
    note_token (Instrument::Bass, 40, false), note_token (Instrument::Guitar, 55, false),
    note_token (Instrument::Piano, 60, false), note_token (Instrument::Piano, 64, false),
    note_token (Instrument::Strings, 50, false), time_shift_token (125),
    note_token (Instrument::Bass, 45, false) };
  ck_assert_int_eq (tokens.size (), expected.size ());
  for (size_t i = 0; i < tokens.size (); i++)
    ck_assert_msg (tokens[i] == expected[i], "token %zu: %s, expected %s", i, token_name (tokens[i]).c_str (),
        token_name (expected[i]).c_str ());
  std::vector<double> chords = chord_times (tokens);
  ck_assert_int_eq (chords.size (), 1);
  ck_assert (std::fabs (chords[0] - 1.0) < 1e-9);
}
GST_END_TEST;

GST_START_TEST (test_encode_rearticulation)
{
  /* a key that ends exactly where it restarts keeps both notes: OFF goes before the new ON */
  std::vector<Note> notes = { { Instrument::Piano, 60, 0.0, 0.5, 80 },
    { Instrument::Piano, 60, 0.5, 1.0, 80 }, { Instrument::Piano, 62, 0.0, 0.5, 80 } };
  std::vector<int> tokens = encode (notes);
  int step = static_cast<int> (seconds_to_ticks (0.5));
  std::vector<int> expected = { note_token (Instrument::Piano, 60, true),
    note_token (Instrument::Piano, 62, true), time_shift_token (step),
    note_token (Instrument::Piano, 60, false), note_token (Instrument::Piano, 60, true),
    note_token (Instrument::Piano, 62, false),
    time_shift_token (static_cast<int> (seconds_to_ticks (1.0)) - step),
    note_token (Instrument::Piano, 60, false) };
  ck_assert_int_eq (tokens.size (), expected.size ());
  for (size_t i = 0; i < tokens.size (); i++)
    ck_assert_msg (tokens[i] == expected[i], "token %zu: %s, expected %s", i, token_name (tokens[i]).c_str (),
        token_name (expected[i]).c_str ());
  std::vector<Note> decoded = decode (tokens);
  ck_assert_int_eq (decoded.size (), 3);

  /* overlapping notes of one key: the earlier is cut where the later starts, its own OFF is not emitted */
  std::vector<Note> overlap = { { Instrument::Bass, 40, 0.0, 2.0, 80 },
    { Instrument::Bass, 40, 1.0, 3.0, 80 } };
  decoded = decode (encode (overlap));
  ck_assert_int_eq (decoded.size (), 2);
  ck_assert (std::fabs (decoded[0].end_seconds - 1.0) < 0.005);
  ck_assert (std::fabs (decoded[1].start_seconds - 1.0) < 0.005);
  ck_assert (std::fabs (decoded[1].end_seconds - 3.0) < 0.005);

  /* same key, same start: the longest survives; a very short note becomes ON+OFF in one step */
  std::vector<Note> same = { { Instrument::Guitar, 50, 0.0, 0.52, 80 },
    { Instrument::Guitar, 50, 0.001, 1.6, 80 }, { Instrument::Drums, 38, 1.0, 1.002, 80 } };
  decoded = decode (encode (same));
  ck_assert_int_eq (decoded.size (), 2);
  ck_assert (std::fabs (decoded[0].end_seconds - 1.6) < 0.005);
  ck_assert (
      decoded[1].instrument == Instrument::Drums && decoded[1].start_seconds == decoded[1].end_seconds);
}
GST_END_TEST;

/* ---------- decoder ---------- */

GST_START_TEST (test_decode_rules)
{
  const int on60 = note_token (Instrument::Piano, 60, true),
            off60 = note_token (Instrument::Piano, 60, false);
  const int on40 = note_token (Instrument::Bass, 40, true), off40 = note_token (Instrument::Bass, 40, false);
  const int on36 = note_token (Instrument::Drums, 36, true);
  /* unmatched OFF ignored; duplicate ON overwrites (first lost); open at end dropped; specials skipped */
  std::vector<int> tokens = { kStartToken, kMoreInstrumentsToken, kBarToken, off60, on60,
    time_shift_token (10), on60, time_shift_token (10), off60, kPadToken, off60, on40, time_shift_token (5),
    off40, on36, time_shift_token (20) };
  std::vector<Note> notes = decode (tokens);
  ck_assert_int_eq (notes.size (), 2);
  ck_assert (notes[0].instrument == Instrument::Piano && notes[0].pitch == 60);
  ck_assert (std::fabs (notes[0].start_seconds - 0.080) < 1e-9); // the second ON
  ck_assert (std::fabs (notes[0].end_seconds - 0.160) < 1e-9);
  ck_assert (notes[1].instrument == Instrument::Bass);
  ck_assert (
      std::fabs (notes[1].start_seconds - 0.160) < 1e-9 && std::fabs (notes[1].end_seconds - 0.200) < 1e-9);

  /* streaming variant: close notes open at the end */
  DecodeOptions close;
  close.close_open_notes = true;
  close.end_seconds = 10.0;
  notes = decode (tokens, close);
  ck_assert_int_eq (notes.size (), 3);
  ck_assert (notes[2].instrument == Instrument::Drums && std::fabs (notes[2].end_seconds - 10.0) < 1e-9);
  close.end_seconds = 0.0; // earlier than the stream end: closed at the stream end
  notes = decode (tokens, close);
  ck_assert (std::fabs (notes[2].end_seconds - 0.360) < 1e-9);

  bool threw = false;
  try {
    decode ({ on60, 1011 });
  } catch (const std::out_of_range &) {
    threw = true;
  }
  ck_assert (threw);
}
GST_END_TEST;

GST_START_TEST (test_decode_chord_velocity)
{
  const int on_piano = note_token (Instrument::Piano, 60, true),
            off_piano = note_token (Instrument::Piano, 60, false);
  const int on_guitar = note_token (Instrument::Guitar, 52, true),
            off_guitar = note_token (Instrument::Guitar, 52, false);
  const int on_bass = note_token (Instrument::Bass, 36, true),
            off_bass = note_token (Instrument::Bass, 36, false);
  const int on_str = note_token (Instrument::Strings, 72, true),
            off_str = note_token (Instrument::Strings, 72, false);
  std::vector<int> tokens = { kChordToken, on_piano, on_bass, kBarToken, on_guitar, on_str,
    time_shift_token (50), off_piano, off_bass, off_guitar, off_str, on_piano, time_shift_token (50),
    off_piano, kChordToken, time_shift_token (1), on_guitar, time_shift_token (1), off_guitar };
  std::vector<Note> notes = decode (tokens);
  ck_assert_int_eq (notes.size (), 6);
  std::map<std::pair<int, double>, int> velocity;
  for (const Note &n : notes)
    velocity[{ instrument_index (n.instrument), n.start_seconds }] = n.velocity;
  ck_assert_int_eq ((velocity[{ instrument_index (Instrument::Piano), 0.0 }]), 120);
  ck_assert_int_eq ((velocity[{ instrument_index (Instrument::Guitar), 0.0 }]), 120); // <BAR> does not end it
  ck_assert_int_eq ((velocity[{ instrument_index (Instrument::Bass), 0.0 }]), 80);
  ck_assert_int_eq ((velocity[{ instrument_index (Instrument::Strings), 0.0 }]), 80);
  ck_assert_int_eq ((velocity[{ instrument_index (Instrument::Piano), 0.4 }]), 80);
  ck_assert_int_eq (
      (velocity[{ instrument_index (Instrument::Guitar), 101 * kTickSeconds }]), 80); // TIMESHIFT ended it

  /* the streaming decoder applies the same rule */
  TokenStreamDecoder stream;
  std::vector<MidiEvent> events;
  for (int t : tokens)
    stream.push (t, events);
  ck_assert_int_eq (events[0].status, 0x90 | output_channel (Instrument::Piano));
  ck_assert_int_eq (events[0].data2, 120);
  ck_assert_int_eq (events[1].status, 0x90 | output_channel (Instrument::Bass));
  ck_assert_int_eq (events[1].data2, 80);
}
GST_END_TEST;

GST_START_TEST (test_stream_decoder)
{
  TokenStreamDecoder decoder (2.0);
  std::vector<MidiEvent> programs = decoder.start ();
  ck_assert_int_eq (programs.size (), 4);
  std::set<std::pair<int, int>> program_set;
  for (const MidiEvent &e : programs) {
    ck_assert_int_eq (e.status & 0xF0, 0xC0);
    ck_assert (e.time_seconds == 2.0);
    program_set.insert ({ e.status & 0x0F, e.data1 });
  }
  ck_assert (program_set.count ({ output_channel (Instrument::Guitar), 25 }));
  ck_assert (program_set.count ({ output_channel (Instrument::Bass), 32 }));
  ck_assert (program_set.count ({ output_channel (Instrument::Strings), 48 }));
  ck_assert (program_set.count ({ output_channel (Instrument::Piano), 0 }));

  const int on36 = note_token (Instrument::Drums, 36, true),
            off36 = note_token (Instrument::Drums, 36, false);
  const int on60 = note_token (Instrument::Piano, 60, true);
  ck_assert (decoder.push (kBarToken).empty ());
  ck_assert (decoder.push (off36).empty ()); // unmatched OFF: nothing
  std::vector<MidiEvent> ev = decoder.push (on36);
  ck_assert_int_eq (ev.size (), 1);
  ck_assert_int_eq (ev[0].status, 0x99);
  ck_assert_int_eq (ev[0].data1, 36);
  ck_assert_int_eq (ev[0].data2, 80);
  ck_assert (decoder.push (time_shift_token (125)).empty ());
  ck_assert (std::fabs (decoder.time_seconds () - 3.0) < 1e-12);
  ev = decoder.push (on36); // duplicate ON: note-off then note-on
  ck_assert_int_eq (ev.size (), 2);
  ck_assert_int_eq (ev[0].status, 0x89);
  ck_assert_int_eq (ev[1].status, 0x99);
  ck_assert (std::fabs (ev[0].time_seconds - 3.0) < 1e-12);
  ev = decoder.push (off36);
  ck_assert_int_eq (ev.size (), 1);
  ck_assert_int_eq (ev[0].status, 0x89);
  ck_assert (decoder.push (off36).empty ());
  decoder.push (on60);
  ck_assert_int_eq (decoder.sounding_notes (), 1);
  /* many time shifts: times come from an integer tick count, no drift */
  for (int i = 0; i < 100000; i++)
    decoder.push (time_shift_token (1));
  ck_assert (std::fabs (decoder.time_seconds () - (3.0 + 800.0)) < 1e-9);
  ev = decoder.flush (1.0); // earlier than now: at now
  ck_assert_int_eq (ev.size (), 1);
  ck_assert_int_eq (ev[0].status, 0x80 | output_channel (Instrument::Piano));
  ck_assert (std::fabs (ev[0].time_seconds - 803.0) < 1e-9);
  ck_assert_int_eq (decoder.sounding_notes (), 0);
  ck_assert (decoder.flush (900.0).empty ());

  /* the stream decoder and the batch decoder agree on a random token soup */
  std::mt19937 rng (7);
  std::uniform_int_distribution<int> any (0, kVocabSize - 1);
  std::vector<int> soup;
  for (int i = 0; i < 5000; i++)
    soup.push_back (any (rng));
  TokenStreamDecoder a;
  std::vector<MidiEvent> all = a.start (); // programs, so channels map back to their groups
  for (int t : soup)
    a.push (t, all);
  a.flush (0.0, all);
  SmfTrackData track;
  for (const MidiEvent &e : all)
    track.messages.push_back (to_timed_message (e));
  std::vector<Note> via_midi = notes_from_smf (parse_smf (write_smf ({ track })));
  DecodeOptions close;
  close.close_open_notes = true;
  std::vector<Note> batch = decode (soup, close);
  /* batch drops overwritten notes; the stream ends them at the overwrite instead: count notes per key start */
  std::multiset<std::tuple<int, int, int64_t>> batch_starts, stream_starts;
  for (const Note &n : batch)
    batch_starts.insert ({ instrument_index (n.instrument), n.pitch, std::llround (n.start_seconds * 1000) });
  for (const Note &n : via_midi)
    stream_starts.insert (
        { instrument_index (n.instrument), n.pitch, std::llround (n.start_seconds * 1000) });
  for (auto &s : batch_starts)
    ck_assert (stream_starts.count (s) >= 1);
  ck_assert_int_ge (stream_starts.size (), batch_starts.size ());

  bool threw = false;
  try {
    a.push (-1);
  } catch (const std::out_of_range &) {
    threw = true;
  }
  ck_assert (threw);
}
GST_END_TEST;

/* ---------- SMF ---------- */

GST_START_TEST (test_smf_roundtrip_generated)
{
  std::vector<Note> notes = random_notes (42, 600, 60.0);
  ck_assert_int_ge (notes.size (), 500);
  std::vector<uint8_t> bytes = write_notes_smf (notes);
  SmfFile file = parse_smf (bytes, "generated.mid");
  ck_assert_int_eq (file.format, 1);
  ck_assert_int_eq (file.ticks_per_quarter, kDefaultTicksPerQuarter);
  std::vector<Note> read = notes_from_smf (file);
  ck_assert_int_eq (read.size (), notes.size ());

  /* SMF round trip: 1 ms ticks -> within 0.5 ms; velocities kept */
  auto sorted = notes;
  std::sort (sorted.begin (), sorted.end (), by_key_then_start);
  auto sorted_read = read;
  std::sort (sorted_read.begin (), sorted_read.end (), by_key_then_start);
  for (size_t i = 0; i < sorted.size (); i++) {
    ck_assert (sorted[i].instrument == sorted_read[i].instrument && sorted[i].pitch == sorted_read[i].pitch);
    ck_assert (std::fabs (sorted[i].start_seconds - sorted_read[i].start_seconds) <= 0.0005 + 1e-9);
    ck_assert (std::fabs (sorted[i].end_seconds - sorted_read[i].end_seconds) <= 0.0005 + 1e-9);
    ck_assert_int_eq (sorted[i].velocity, sorted_read[i].velocity);
  }

  /* tokens: every note's start and end within 8 ms (rounding of absolute times: within 4 ms + 0.5 ms) */
  std::vector<Note> decoded = decode (encode (read));
  ck_assert_int_eq (decoded.size (), notes.size ());
  std::sort (decoded.begin (), decoded.end (), by_key_then_start);
  double worst = 0.0;
  for (size_t i = 0; i < sorted.size (); i++) {
    ck_assert (sorted[i].instrument == decoded[i].instrument && sorted[i].pitch == decoded[i].pitch);
    worst = std::max ({ worst, std::fabs (sorted[i].start_seconds - decoded[i].start_seconds),
        std::fabs (sorted[i].end_seconds - decoded[i].end_seconds) });
    ck_assert_int_eq (decoded[i].velocity, kDefaultVelocity);
  }
  ck_assert_msg (worst <= 0.0045 + 1e-9, "worst error %f s", worst);

  /* decoded notes -> SMF -> notes: exactly on the 8 ms grid (1 ms ticks) */
  std::vector<Note> again = notes_from_smf (parse_smf (write_notes_smf (decoded)));
  ck_assert (tick_notes (again) == tick_notes (decoded));

  /* format 0 gives the same notes */
  WriteOptions format0;
  format0.format = 0;
  SmfFile file0 = parse_smf (write_notes_smf (notes, format0));
  ck_assert_int_eq (file0.format, 0);
  ck_assert_int_eq (file0.track_count, 1);
  ck_assert (tick_notes (notes_from_smf (file0)) == tick_notes (read));
}
GST_END_TEST;

/* Real files: read -> write -> read keeps the notes (1 ms grid); tokens -> notes gives exactly the expected
 * normalised notes, each within 8 ms of its original (ends may be cut by a re-struck key). */
static void
check_real_corpus (const char *corpus, size_t max_files)
{
  std::vector<std::string> files = shared_midi_files (corpus, max_files);
  if (files.empty ()) {
    printf ("skipping %s: $EMSYNC_SHARED_DATA/midi/%s not available\n", corpus, corpus);
    return;
  }
  size_t total_notes = 0, kept_notes = 0;
  for (const std::string &path : files) {
    std::vector<Note> original = read_notes (path);
    std::vector<Note> rewritten =
        notes_from_smf (parse_smf (write_notes_smf (original), path + " (rewritten)"));
    ck_assert_msg (rewritten.size () == original.size (), "%s: %zu notes after rewrite, %zu before",
        path.c_str (), rewritten.size (), original.size ());
    /* per key, the sorted start and end times agree within a 1 ms tick */
    std::map<std::pair<int, int>, std::vector<double>> starts_a, starts_b, ends_a, ends_b;
    for (const Note &n : original) {
      starts_a[{ instrument_index (n.instrument), n.pitch }].push_back (n.start_seconds);
      ends_a[{ instrument_index (n.instrument), n.pitch }].push_back (n.end_seconds);
    }
    for (const Note &n : rewritten) {
      starts_b[{ instrument_index (n.instrument), n.pitch }].push_back (n.start_seconds);
      ends_b[{ instrument_index (n.instrument), n.pitch }].push_back (n.end_seconds);
    }
    for (auto *pair : { &starts_a, &starts_b, &ends_a, &ends_b })
      for (auto &kv : *pair)
        std::sort (kv.second.begin (), kv.second.end ());
    ck_assert (starts_a.size () == starts_b.size ());
    for (auto &[key, list] : starts_a) {
      const auto &other = starts_b[key];
      ck_assert (list.size () == other.size ());
      for (size_t i = 0; i < list.size (); i++) {
        ck_assert_msg (std::fabs (list[i] - other[i]) <= 0.0005 + 1e-6, "%s: start %f vs %f", path.c_str (),
            list[i], other[i]);
        ck_assert_msg (
            std::fabs (ends_a[key][i] - ends_b[key][i]) <= 0.0005 + 1e-6, "%s: end", path.c_str ());
      }
    }
    std::vector<int> tokens = encode (rewritten);
    for (int t : tokens)
      ck_assert (is_valid_token (t));
    std::vector<Note> decoded = decode (tokens);
    std::multiset<TickNote> expected = expected_tick_notes (rewritten);
    std::multiset<TickNote> got = tick_notes (decoded);
    ck_assert_msg (
        got == expected, "%s: %zu decoded notes, %zu expected", path.c_str (), got.size (), expected.size ());
    /* each decoded note is within 8 ms of an original note of its key (start; end, unless cut) */
    std::map<std::pair<int, int>, std::vector<const Note *>> by_key;
    for (const Note &n : rewritten)
      by_key[{ instrument_index (n.instrument), n.pitch }].push_back (&n);
    for (const Note &d : decoded) {
      bool found = false;
      for (const Note *o : by_key[{ instrument_index (d.instrument), d.pitch }])
        if (std::fabs (o->start_seconds - d.start_seconds) <= 0.008
            && d.end_seconds <= o->end_seconds + 0.008) {
          found = true;
          break;
        }
      ck_assert_msg (found, "%s: decoded note %d/%d at %f has no original", path.c_str (),
          instrument_index (d.instrument), d.pitch, d.start_seconds);
    }
    for (const Note &n : rewritten)
      total_notes += is_valid_pitch (n.pitch);
    kept_notes += decoded.size ();
  }
  printf ("%s: %zu files, %zu notes in range, %zu after tokenisation\n", corpus, files.size (), total_notes,
      kept_notes);
  ck_assert_int_ge (kept_notes * 100, total_notes * 90);
}

GST_START_TEST (test_smf_roundtrip_real)
{
  check_real_corpus ("pop909", 4);
  check_real_corpus ("debian_free", 8);
  check_real_corpus ("groove", 4);
  check_real_corpus ("miditok_multitrack", 4);
}
GST_END_TEST;

GST_START_TEST (test_smf_all_shared_files_parse)
{
  const char *corpora[] = { "pop909", "emopia", "vgmidi", "nottingham", "groove", "debian_free",
    "string_quartets", "miditok_multitrack" };
  size_t parsed = 0, failed = 0;
  for (const char *corpus : corpora) {
    std::vector<std::string> files = shared_midi_files (corpus, 100000);
    if (files.empty ()) {
      printf ("skipping %s: not available\n", corpus);
      continue;
    }
    for (const std::string &path : files) {
      try {
        SmfFile file = read_smf_file (path);
        notes_from_smf (file);
        parsed++;
      } catch (const MidiError &error) {
        failed++;
        printf ("failed: %s\n", error.what ());
      }
    }
  }
  printf ("%zu files parsed, %zu failed\n", parsed, failed);
  ck_assert_int_eq (failed, 0);
}
GST_END_TEST;

GST_START_TEST (test_smf_tempo_map)
{
  /* 96 ticks per quarter; 120 bpm, then 240 bpm at tick 192 (track 0); notes in track 1 */
  auto conductor = bytes_of ({ 0x00, 0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20, // 500000 us
      0x81, 0x40, 0xFF, 0x51, 0x03, 0x03, 0xD0, 0x90 });                 // +192: 250000 us
  auto notes = bytes_of ({ 0x00, 0x90, 60, 100,                          // tick 0
      0x81, 0x40, 0x80, 60, 0,                                           // tick 192 = 1.0 s
      0x00, 0x90, 62, 100,                                               // 1.0 s
      0x60, 62, 0,              // tick 288 (running status note-on vel 0) = 1.25 s
      0x83, 0x00, 0x90, 64, 90, // tick 672 = 1.25 + 384/96*0.25 = 2.25 s
      0x60, 0x80, 64, 0 });     // tick 768 = 2.5 s
  SmfFile file = parse_smf (make_smf (1, 96, { conductor, notes }), "tempo.mid");
  std::vector<Note> n = notes_from_smf (file);
  ck_assert_int_eq (n.size (), 3);
  ck_assert (std::fabs (n[0].start_seconds - 0.0) < 1e-9 && std::fabs (n[0].end_seconds - 1.0) < 1e-9);
  ck_assert (std::fabs (n[1].start_seconds - 1.0) < 1e-9 && std::fabs (n[1].end_seconds - 1.25) < 1e-9);
  ck_assert (std::fabs (n[2].start_seconds - 2.25) < 1e-9 && std::fabs (n[2].end_seconds - 2.5) < 1e-9);
  ck_assert_int_eq (n[2].velocity, 90);
  ck_assert (std::fabs (file.duration_seconds - 2.5) < 1e-9);

  /* a tempo change in a later track applies to all tracks */
  auto plain = bytes_of (
      { 0x00, 0x90, 60, 100, 0x81, 0x40, 0x80, 60, 0, 0x00, 0x90, 61, 100, 0x81, 0x40, 0x80, 61, 0 });
  auto late_tempo =
      bytes_of ({ 0x81, 0x40, 0xFF, 0x51, 0x03, 0x0F, 0x42, 0x40 }); // tick 192: 1 s per quarter
  n = notes_from_smf (parse_smf (make_smf (1, 96, { plain, late_tempo })));
  ck_assert_int_eq (n.size (), 2);
  ck_assert (std::fabs (n[1].start_seconds - 1.0) < 1e-9);
  ck_assert (std::fabs (n[1].end_seconds - 3.0) < 1e-9);

  /* SMPTE division: 25 fps x 40 ticks = 1000 ticks per second */
  auto smpte = bytes_of ({ 0x00, 0x90, 60, 100, 0x87, 0x68, 0x80, 60, 0 }); // 1000 ticks
  n = notes_from_smf (parse_smf (make_smf (0, (0xE7 << 8) | 40, { smpte })));
  ck_assert_int_eq (n.size (), 1);
  ck_assert (std::fabs (n[0].end_seconds - 1.0) < 1e-9);

  /* the TempoMap class directly */
  TempoMap map (480, { { 960, 1000000 }, { 0, 600000 }, { 960, 250000 } }); // equal ticks: last wins
  ck_assert (std::fabs (map.seconds (480) - 0.6) < 1e-12);
  ck_assert (std::fabs (map.seconds (960) - 1.2) < 1e-12);
  ck_assert (std::fabs (map.seconds (1440) - 1.45) < 1e-12);
}
GST_END_TEST;

GST_START_TEST (test_smf_channels_programs)
{
  /* format 0: programs per channel, change mid-file, drums on channel 10, sysex and meta events skipped
   * (including a key signature with mode 255 and an unknown meta type), running status across them */
  auto track = bytes_of ({ 0x00, 0xF0, 0x05, 0x7E, 0x7F, 0x09, 0x01, 0xF7, // GM on sysex
      0x00, 0xFF, 0x59, 0x02, 0x00, 0xFF, // key signature, mode 255 (invalid)
      0x00, 0xFF, 0x7A, 0x01, 0x33,       // unknown meta
      0x00, 0xFF, 0x51, 0x02, 0x01, 0x02, // malformed tempo (length 2): skipped
      0x00, 0xC1, 33,                     // ch 2: finger bass
      0x00, 0xC2, 40,                     // ch 3: violin
      0x00, 0xC3, 122,                    // ch 4: seashore (dropped)
      0x00, 0x91, 40, 100,                // bass
      0x00, 0x92, 70, 100,                // strings
      0x00, 0x93, 60, 100,                // sound effect
      0x00, 0x99, 36, 127,                // drums
      0x00, 0x90, 60, 64,                 // ch 1, program 0: piano
      0x60, 0x89, 36, 0,                  // tick 96
      0x00, 0xFF, 0x01, 0x01, 0x41,       // text meta between running-status messages
      0x00, 0x81, 40, 0, 0x00, 0x82, 70, 0, 0x00, 0x83, 60, 0, 0x00, 0x80, 60, 0, 0x00, 0xC0,
      25,                              // ch 1 now guitar
      0x00, 0x90, 50, 80, 0x60, 50, 0, // running status, vel 0 = off
      0x00, 0x80, 99, 0 });            // unmatched off
  SmfFile file = parse_smf (make_smf (0, 96, { track }));
  std::vector<Note> n = notes_from_smf (file);
  ck_assert_int_eq (n.size (), 5);
  std::map<int, Instrument> by_pitch;
  for (const Note &note : n)
    by_pitch[note.pitch] = note.instrument;
  ck_assert (by_pitch[40] == Instrument::Bass);
  ck_assert (by_pitch[70] == Instrument::Strings);
  ck_assert (by_pitch[36] == Instrument::Drums);
  ck_assert (by_pitch[60] == Instrument::Piano);
  ck_assert (by_pitch[50] == Instrument::Guitar);
  /* raw events kept */
  int program_changes = 0;
  for (const SmfChannelEvent &e : file.events)
    program_changes += (e.status & 0xF0) == 0xC0;
  ck_assert_int_eq (program_changes, 4);
  ck_assert (std::fabs (file.tempo_map.seconds (96) - 0.5) < 1e-12); // the malformed tempo was ignored

  /* RIFF RMID wrapper */
  std::vector<uint8_t> smf = make_smf (0, 96, { track });
  std::vector<uint8_t> riff =
      bytes_of ({ 'R', 'I', 'F', 'F', 0, 0, 0, 0, 'R', 'M', 'I', 'D', 'd', 'a', 't', 'a' });
  uint32_t n_bytes = static_cast<uint32_t> (smf.size ());
  riff.insert (riff.end (),
      { static_cast<uint8_t> (n_bytes), static_cast<uint8_t> (n_bytes >> 8),
          static_cast<uint8_t> (n_bytes >> 16), static_cast<uint8_t> (n_bytes >> 24) });
  riff.insert (riff.end (), smf.begin (), smf.end ());
  ck_assert_int_eq (notes_from_smf (parse_smf (riff)).size (), 5);
}
GST_END_TEST;

GST_START_TEST (test_smf_writer)
{
  SmfTrackData track;
  track.name = "raw";
  track.messages.push_back ({ 0.5, { 0x90, 60, 100 } });
  track.messages.push_back ({ 0.0, { 0xC0, 19 } });
  track.messages.push_back ({ 0.25, { 0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7 } });
  track.messages.push_back ({ 1.5, { 0x80, 60, 0 } });
  track.messages.push_back ({ 1.5, { 0xB0, 7, 100 } });
  WriteOptions options;
  options.ticks_per_quarter = 960;
  options.microseconds_per_quarter = 500000;
  SmfFile file = parse_smf (write_smf ({ track }, options));
  ck_assert_int_eq (file.track_count, 2);
  ck_assert_int_eq (file.ticks_per_quarter, 960);
  ck_assert_str_eq (file.track_names[1].c_str (), "raw");
  ck_assert_int_eq (file.events.size (), 4);
  ck_assert_int_eq (file.events[0].status, 0xC0);
  ck_assert_int_eq (file.events[0].data1, 19);
  ck_assert_int_eq (file.events[1].status, 0x90);
  ck_assert (std::fabs (file.events[1].time_seconds - 0.5) < 1e-9);
  ck_assert_int_eq (file.events[2].status, 0x80); // equal times keep their order
  ck_assert_int_eq (file.events[3].status, 0xB0);
  ck_assert (std::fabs (file.duration_seconds - 1.5) < 1e-9);
  std::vector<Note> n = notes_from_smf (file);
  ck_assert_int_eq (n.size (), 1);
  ck_assert (n[0].instrument == Instrument::Piano); // program 19 (church organ)

  /* invalid input to the writer */
  for (auto bad :
      { std::vector<uint8_t>{}, std::vector<uint8_t>{ 0x90, 60 }, std::vector<uint8_t>{ 0x90, 160, 1 },
          std::vector<uint8_t>{ 0xF8 }, std::vector<uint8_t>{ 0xF0, 1, 2 } }) {
    SmfTrackData t;
    t.messages.push_back ({ 0.0, bad });
    bool threw = false;
    try {
      write_smf ({ t });
    } catch (const MidiError &) {
      threw = true;
    }
    ck_assert (threw);
  }
  /* a gap longer than a 28-bit delta time is bridged (300000 s at 1 ms ticks = 3e8 ticks) */
  SmfTrackData far;
  far.messages.push_back ({ 1.0, { 0x90, 60, 100 } });
  far.messages.push_back ({ 300001.0, { 0x80, 60, 0 } });
  SmfFile far_file = parse_smf (write_smf ({ far }));
  ck_assert_int_eq (far_file.events.size (), 2);
  ck_assert (std::fabs (far_file.events[1].time_seconds - 300001.0) < 1e-6);
  bool threw = false;
  try {
    SmfTrackData absurd;
    absurd.messages.push_back ({ 1e300, { 0x90, 60, 100 } });
    write_smf ({ absurd });
  } catch (const MidiError &) {
    threw = true;
  }
  ck_assert (threw);
  threw = false;
  try {
    encode ({ { Instrument::Piano, 60, 1e12, 2e12, 80 } });
  } catch (const std::out_of_range &) {
    threw = true;
  }
  ck_assert (threw);

  threw = false;
  try {
    WriteOptions bad;
    bad.format = 2;
    write_smf ({}, bad);
  } catch (const MidiError &) {
    threw = true;
  }
  ck_assert (threw);
}
GST_END_TEST;

/* With the bars of a tempo map, the ticks follow the bars: tempo and time-signature events where they change, each
 * bar line on a whole bar of ticks, times read back as written. */
GST_START_TEST (test_smf_writer_meter)
{
  SmfTrackData track;
  track.name = "metered";
  for (double t : { 0.0, 2.4, 3.5, 4.05 }) {
    track.messages.push_back ({ t, { 0x90, 60, 100 } });
    track.messages.push_back ({ t + 0.3, { 0x80, 60, 0 } });
  }
  WriteOptions options;
  options.meter = { { 0.0, 0.6, 4 }, { 2.4, 0.55, 3 }, { 4.05, 0.55, 4 }, { 4.05, 0.5, 0 } };
  const std::vector<uint8_t> bytes = write_smf ({ track }, options);
  SmfFile file = parse_smf (bytes, "metered.mid");
  ck_assert_int_eq (file.ticks_per_quarter, 480);
  const auto &changes = file.tempo_map.changes ();
  ck_assert_int_eq (changes.size (), 2); /* the third bar keeps the second's tempo */
  ck_assert_int_eq (changes[0].microseconds_per_quarter, 600000);
  ck_assert_int_eq (changes[1].tick, 4 * 480);
  ck_assert_int_eq (changes[1].microseconds_per_quarter, 550000);
  std::vector<uint64_t> on_ticks;
  for (const SmfChannelEvent &e : file.events)
    if ((e.status & 0xF0) == 0x90)
      on_ticks.push_back (e.tick);
  ck_assert_int_eq (on_ticks.size (), 4);
  ck_assert_int_eq (on_ticks[1], 4 * 480);           /* the second bar line */
  ck_assert_int_eq (on_ticks[3], 4 * 480 + 3 * 480); /* the third, after a 3-beat bar */
  std::vector<Note> n = notes_from_smf (file);
  ck_assert_int_eq (n.size (), 4);
  const double written[] = { 0.0, 2.4, 3.5, 4.05 };
  for (int i = 0; i < 4; i++) {
    ck_assert (std::fabs (n[i].start_seconds - written[i]) < 1e-3);
    ck_assert (std::fabs (n[i].end_seconds - written[i] - 0.3) < 1e-3);
  }
  /* time signatures 4/4 at the start and 3/4 at the second bar line, in the tempo track */
  const std::vector<uint8_t> four = { 0xFF, 0x58, 0x04, 4, 2, 24, 8 },
                             three = { 0xFF, 0x58, 0x04, 3, 2, 24, 8 };
  ck_assert (std::search (bytes.begin (), bytes.end (), four.begin (), four.end ()) != bytes.end ());
  ck_assert (std::search (bytes.begin (), bytes.end (), three.begin (), three.end ()) != bytes.end ());
  /* the inverse of seconds() */
  for (uint64_t tick : { 0, 100, 1920, 2500, 4000 })
    ck_assert (std::fabs (file.tempo_map.ticks (file.tempo_map.seconds (tick)) - (double) tick) < 1e-6);

  /* a first bar after 0: its tempo also covers the time before it */
  options.meter = { { 1.2, 0.6, 4 } };
  file = parse_smf (write_smf ({ track }, options));
  ck_assert_int_eq (file.events[0].tick, 0);
  n = notes_from_smf (file);
  ck_assert (std::fabs (n[1].start_seconds - 2.4) < 1e-3);
  ck_assert_int_eq (file.events[2].tick, 4 * 480); /* 2.4 s: one bar after the first bar line at 2 beats */
  /* a pickup (a first bar from before 0): written from 0 as the beats that fit, 1.5 here, so a 3/8 bar */
  options.meter = { { -0.3, 0.6, 2 }, { 0.9, 0.6, 4 } };
  const std::vector<uint8_t> pickup = write_smf ({ track }, options);
  file = parse_smf (pickup);
  ck_assert_int_eq (file.tempo_map.changes ().size (), 1);
  ck_assert_int_eq (file.tempo_map.changes ()[0].microseconds_per_quarter, 600000);
  const std::vector<uint8_t> three_eighths = { 0xFF, 0x58, 0x04, 3, 3, 24, 8 };
  ck_assert (std::search (pickup.begin (), pickup.end (), three_eighths.begin (), three_eighths.end ())
      != pickup.end ());
  ck_assert (std::search (pickup.begin (), pickup.end (), four.begin (), four.end ()) != pickup.end ());
  ck_assert (std::fabs (file.tempo_map.ticks (0.9) - 720.0) < 1e-6); /* the bar line after the pickup */
  ck_assert (std::fabs (notes_from_smf (file)[1].start_seconds - 2.4) < 1e-3);
  /* a bar of two and a half beats: 5/8, the next bar line 2.5 quarters on */
  options.meter = { { 0.0, 0.6, 2.5 }, { 1.5, 0.6, 4 } };
  const std::vector<uint8_t> odd = write_smf ({ track }, options);
  const std::vector<uint8_t> five_eighths = { 0xFF, 0x58, 0x04, 5, 3, 24, 8 };
  ck_assert (
      std::search (odd.begin (), odd.end (), five_eighths.begin (), five_eighths.end ()) != odd.end ());
  ck_assert (std::fabs (parse_smf (odd).tempo_map.ticks (1.5) - 1200.0) < 1e-6);
  /* format 0 carries the same tempo map in its single track */
  options.format = 0;
  options.meter = { { 0.0, 0.6, 4 }, { 2.4, 0.55, 3 } };
  file = parse_smf (write_smf ({ track }, options));
  ck_assert_int_eq (file.tempo_map.changes ().size (), 2);
  ck_assert (std::fabs (notes_from_smf (file)[3].start_seconds - 4.05) < 1e-3);
}
GST_END_TEST;

/* ---------- malformed input ---------- */

/* Parses and, if that succeeds, extracts notes and tokenises; only MidiError may escape. */
static bool
parse_survives (const std::vector<uint8_t> &bytes, std::string *message = nullptr)
{
  try {
    SmfFile file = parse_smf (bytes, "fuzz.mid");
    std::vector<Note> notes = notes_from_smf (file);
    /* a mutated delta time or tempo can stretch a file to days: the token stream grows by one token per
     * second of silence, so only tokenise plausible lengths here */
    if (file.duration_seconds < 3600.0)
      decode (encode (notes));
    return true;
  } catch (const MidiError &error) {
    if (message)
      *message = error.what ();
    return false;
  }
}

static std::vector<uint8_t>
valid_test_file ()
{
  std::vector<Note> notes = random_notes (3, 60, 10.0);
  std::vector<uint8_t> bytes = write_notes_smf (notes);
  return bytes;
}

GST_START_TEST (test_malformed_truncated)
{
  std::vector<uint8_t> bytes = valid_test_file ();
  ck_assert (parse_survives (bytes));
  for (size_t cut = 0; cut < bytes.size (); cut++) {
    std::vector<uint8_t> truncated (bytes.begin (), bytes.begin () + cut);
    std::string message;
    ck_assert_msg (!parse_survives (truncated, &message), "truncated at %zu parsed", cut);
    ck_assert_msg (
        message.find ("byte offset") != std::string::npos, "message without offset: %s", message.c_str ());
    ck_assert (message.find ("fuzz.mid") != std::string::npos);
  }
}
GST_END_TEST;

GST_START_TEST (test_malformed_cases)
{
  struct Case {
    const char *name;
    std::vector<uint8_t> bytes;
    const char *expect; // substring of the message
  };
  auto good_track = bytes_of ({ 0x00, 0x90, 60, 100, 0x60, 0x80, 60, 0 });
  std::vector<uint8_t> format2 = make_smf (2, 96, { good_track });
  std::vector<uint8_t> bogus_length = make_smf (1, 96, { good_track });
  bogus_length[18] = 0xFF;
  bogus_length[19] = 0xFF;
  bogus_length[20] = 0xFF;
  bogus_length[21] = 0xF0;
  std::vector<uint8_t> missing_track = make_smf (1, 96, { good_track });
  missing_track[11] = 3; // header claims 3 tracks
  std::vector<Case> cases = {
    { "empty", {}, "empty" },
    { "garbage", bytes_of ({ 'R', 'I', 'F', 'X', 1, 2, 3, 4, 5 }), "MThd" },
    { "short header", bytes_of ({ 'M', 'T', 'h', 'd', 0, 0, 0, 6, 0, 1 }), "truncated" },
    { "header length 2", bytes_of ({ 'M', 'T', 'h', 'd', 0, 0, 0, 2, 0, 1 }), "shorter than 6" },
    { "format 2", format2, "format 2" },
    { "format 7", make_smf (7, 96, { good_track }), "unknown format" },
    { "zero tracks", make_smf (1, 96, {}), "0 tracks" },
    { "division 0", make_smf (1, 0, { good_track }), "division" },
    { "bad smpte", make_smf (1, (0xE0 << 8) | 4, { good_track }), "SMPTE" },
    { "bogus chunk length", bogus_length, "bogus chunk length" },
    { "missing tracks", missing_track, "1 of 3 track chunks" },
    { "no running status", make_smf (1, 96, { bytes_of ({ 0x00, 60, 100 }) }), "running status" },
    { "long varlen", make_smf (1, 96, { bytes_of ({ 0x81, 0x82, 0x83, 0x84, 0x05, 0x90, 60, 100 }) }),
        "variable-length" },
    { "system message", make_smf (1, 96, { bytes_of ({ 0x00, 0xF8 }) }), "system message" },
    { "meta past end", make_smf (1, 96, { bytes_of ({ 0x00, 0xFF, 0x01, 0x7F, 'a' }) }), "meta event" },
    { "sysex past end", make_smf (1, 96, { bytes_of ({ 0x00, 0xF0, 0x8F, 0xFF, 0xFF, 0x7F }) }), "sysex" },
    { "riff without data", bytes_of ({ 'R', 'I', 'F', 'F', 4, 0, 0, 0, 'R', 'M', 'I', 'D' }), "data" },
  };
  for (const Case &c : cases) {
    std::string message;
    ck_assert_msg (!parse_survives (c.bytes, &message), "%s: parsed", c.name);
    ck_assert_msg (
        message.find (c.expect) != std::string::npos, "%s: unexpected message: %s", c.name, message.c_str ());
    ck_assert_msg (
        message.find ("byte offset") != std::string::npos, "%s: no offset: %s", c.name, message.c_str ());
  }
  /* a missing file */
  bool threw = false;
  try {
    read_smf_file ("/nonexistent/emsync/file.mid");
  } catch (const MidiError &error) {
    threw = std::string (error.what ()).find ("/nonexistent/emsync/file.mid") != std::string::npos;
  }
  ck_assert (threw);
}
GST_END_TEST;

GST_START_TEST (test_malformed_fuzz)
{
  /* fixed-seed mutation fuzz loop (no libFuzzer): byte flips, insertions, deletions and random buffers of a
   * valid file; parsing must end with a result or a MidiError, never a crash, hang or other exception; < 5 s */
  const auto started = std::chrono::steady_clock::now ();
  std::vector<uint8_t> seed = valid_test_file ();
  std::mt19937 rng (20241125);
  std::uniform_int_distribution<int> byte (0, 255);
  int survived = 0, rejected = 0;
  for (int iteration = 0; iteration < 20000; iteration++) {
    std::vector<uint8_t> bytes = seed;
    int mutations = 1 + static_cast<int> (rng () % 8);
    for (int m = 0; m < mutations && !bytes.empty (); m++) {
      size_t at = rng () % bytes.size ();
      switch (rng () % 5) {
        case 0:
          bytes[at] = static_cast<uint8_t> (byte (rng));
          break;
        case 1:
          bytes[at] ^= static_cast<uint8_t> (1u << (rng () % 8));
          break;
        case 2:
          bytes.insert (bytes.begin () + at, static_cast<uint8_t> (byte (rng)));
          break;
        case 3:
          bytes.erase (bytes.begin () + at);
          break;
        case 4:
          bytes[at] = (rng () % 2) ? 0xFF : 0x80;
          break;
      }
    }
    if (iteration % 100 == 0) { // pure noise, sometimes behind a valid header
      bytes.assign (rng () % 512, 0);
      for (auto &b : bytes)
        b = static_cast<uint8_t> (byte (rng));
      if (iteration % 200 == 0 && bytes.size () > 14)
        std::copy (seed.begin (), seed.begin () + 14, bytes.begin ());
    }
    (parse_survives (bytes) ? survived : rejected)++;
  }
  double seconds = std::chrono::duration<double> (std::chrono::steady_clock::now () - started).count ();
  printf ("fuzz: %d parsed, %d rejected in %.2f s\n", survived, rejected, seconds);
  ck_assert_int_gt (rejected, 100);
  ck_assert_int_gt (survived, 100);
  /* Sanitized builds (make check-sanitize) run several times slower and scale Check's timeouts likewise. */
  const char *multiplier = g_getenv ("CK_TIMEOUT_MULTIPLIER");
  const double limit = 5.0 * (multiplier ? std::max (1.0, g_ascii_strtod (multiplier, nullptr)) : 1.0);
  ck_assert_msg (seconds < limit, "fuzz loop took %.2f s (limit %.0f s)", seconds, limit);
}
GST_END_TEST;

static Suite *
midi_suite (void)
{
  Suite *s = suite_create ("midi");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 120);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_vocab_layout);
  tcase_add_test (tc, test_program_map);
  tcase_add_test (tc, test_encode_basic);
  tcase_add_test (tc, test_encode_order);
  tcase_add_test (tc, test_encode_rearticulation);
  tcase_add_test (tc, test_decode_rules);
  tcase_add_test (tc, test_decode_chord_velocity);
  tcase_add_test (tc, test_stream_decoder);
  tcase_add_test (tc, test_smf_roundtrip_generated);
  tcase_add_test (tc, test_smf_roundtrip_real);
  tcase_add_test (tc, test_smf_all_shared_files_parse);
  tcase_add_test (tc, test_smf_tempo_map);
  tcase_add_test (tc, test_smf_channels_programs);
  tcase_add_test (tc, test_smf_writer);
  tcase_add_test (tc, test_smf_writer_meter);
  tcase_add_test (tc, test_malformed_truncated);
  tcase_add_test (tc, test_malformed_cases);
  tcase_add_test (tc, test_malformed_fuzz);
  return s;
}

GST_CHECK_MAIN (midi);
