/* emsync — notes <-> EMSYNC tokens (rules in tokenizer.h). */
#include "lib/midi/tokenizer.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>
#include <string>

#include "lib/midi/program_map.h"

namespace emsync::midi {

namespace {

/* Rank of an instrument inside one time step: DRUMS, BASS, GUITAR, PIANO, STRINGS. */
constexpr int instrument_priority(Instrument instrument) {
  switch (instrument) {
    case Instrument::Drums:
      return 0;
    case Instrument::Bass:
      return 1;
    case Instrument::Guitar:
      return 2;
    case Instrument::Piano:
      return 3;
    case Instrument::Strings:
      return 4;
  }
  return 5;
}

/* A key is (instrument, pitch) packed as instrument * 88 + pitch - 21. */
constexpr int key_of(Instrument instrument, int pitch) {
  return instrument_index(instrument) * kNumPitches + pitch - kMinPitch;
}
constexpr Instrument key_instrument(int key) {
  return static_cast<Instrument>(key / kNumPitches);
}
constexpr int key_pitch(int key) {
  return key % kNumPitches + kMinPitch;
}

bool key_order(int a, int b) {
  int pa = instrument_priority(key_instrument(a)), pb = instrument_priority(key_instrument(b));
  if (pa != pb) return pa < pb;
  return key_pitch(a) < key_pitch(b);
}

struct QuantizedNote {
  int key;
  int64_t start;
  int64_t end;
};

void check_token(int token) {
  if (!is_valid_token(token))
    throw std::out_of_range("emsync::midi: token id " + std::to_string(token) +
                            " is outside the vocabulary 0.." + std::to_string(kVocabSize - 1));
}

}  // namespace

int64_t seconds_to_ticks(double seconds) {
  if (!(seconds > 0.0)) return 0;
  return static_cast<int64_t>(std::llround(std::min(seconds, kMaxEncodeSeconds) / kTickSeconds));
}

void append_time_shift(std::vector<int>& tokens, int64_t ticks) {
  while (ticks > 0) {
    int step = static_cast<int>(std::min<int64_t>(ticks, kMaxShiftTicks));
    tokens.push_back(time_shift_token(step));
    ticks -= step;
  }
}

namespace {

void check_encodable(double seconds, const char* what) {
  if (seconds > kMaxEncodeSeconds)
    throw std::out_of_range(std::string("emsync::midi::encode: ") + what + " at " + std::to_string(seconds) +
                            " s is beyond the " + std::to_string(kMaxEncodeSeconds) + " s limit");
}

}  // namespace

std::vector<int> encode(const std::vector<Note>& notes, const EncodeOptions& options) {
  for (const Note& note : notes) {
    check_encodable(note.start_seconds, "a note start");
    check_encodable(note.end_seconds, "a note end");
  }
  for (double t : options.bar_times) check_encodable(t, "a <BAR>");
  for (double t : options.chord_times) check_encodable(t, "a <CHORD>");
  std::vector<QuantizedNote> quantized;
  quantized.reserve(notes.size());
  for (const Note& note : notes) {
    if (!is_valid_pitch(note.pitch) || instrument_index(note.instrument) < 0 ||
        instrument_index(note.instrument) >= kNumInstruments)
      continue;
    int64_t start = seconds_to_ticks(note.start_seconds);
    int64_t end = std::max(start, seconds_to_ticks(note.end_seconds));
    quantized.push_back({key_of(note.instrument, note.pitch), start, end});
  }

  /* Per time step: which notes start, which end, whether a <BAR>/<CHORD> goes there. */
  struct Step {
    std::vector<int> starting;  // indices into quantized
    std::vector<int> ending;    // indices into quantized (start < end only)
    bool bar = false;
    bool chord = false;
  };
  std::map<int64_t, Step> steps;
  for (int i = 0; i < static_cast<int>(quantized.size()); i++) {
    steps[quantized[i].start].starting.push_back(i);
    if (quantized[i].end > quantized[i].start) steps[quantized[i].end].ending.push_back(i);
  }
  for (double t : options.bar_times) steps[seconds_to_ticks(t)].bar = true;
  for (double t : options.chord_times) steps[seconds_to_ticks(t)].chord = true;

  std::vector<int> open_note(kNumInstruments * kNumPitches, -1);  // key -> index of the sounding note
  std::vector<int> tokens;
  tokens.reserve(quantized.size() * 3 + steps.size());
  std::vector<int> early_off, on, late_off;
  std::map<int, int> starting_by_key;
  int64_t cursor = 0;

  for (auto& [tick, step] : steps) {
    early_off.clear();
    on.clear();
    late_off.clear();
    starting_by_key.clear();
    /* One note per key per step: the longest. */
    for (int index : step.starting) {
      auto it = starting_by_key.find(quantized[index].key);
      if (it == starting_by_key.end())
        starting_by_key.emplace(quantized[index].key, index);
      else if (quantized[index].end > quantized[it->second].end)
        it->second = index;
    }
    for (auto& [key, index] : starting_by_key) {
      if (open_note[key] >= 0) {
        early_off.push_back(key);
        open_note[key] = -1;
      }
    }
    for (int index : step.ending) {
      int key = quantized[index].key;
      if (open_note[key] == index) {
        late_off.push_back(key);
        open_note[key] = -1;
      }
    }
    for (auto& [key, index] : starting_by_key) {
      on.push_back(key);
      if (quantized[index].end == quantized[index].start)
        late_off.push_back(key);  // zero-length note: ON then OFF in the same step
      else
        open_note[key] = index;
    }
    if (early_off.empty() && on.empty() && late_off.empty() && !step.bar && !step.chord)
      continue;  // only OFFs of notes that were already cut: nothing to say at this step

    append_time_shift(tokens, tick - cursor);
    cursor = tick;
    if (step.bar) tokens.push_back(kBarToken);
    if (step.chord) tokens.push_back(kChordToken);
    std::sort(early_off.begin(), early_off.end(), key_order);
    std::sort(on.begin(), on.end(), key_order);
    std::sort(late_off.begin(), late_off.end(), key_order);
    for (int key : early_off) tokens.push_back(note_token(key_instrument(key), key_pitch(key), false));
    for (int key : on) tokens.push_back(note_token(key_instrument(key), key_pitch(key), true));
    for (int key : late_off) tokens.push_back(note_token(key_instrument(key), key_pitch(key), false));
  }
  return tokens;
}

std::vector<Note> decode(const std::vector<int>& tokens, const DecodeOptions& options) {
  struct OpenNote {
    int64_t start = -1;
    int velocity = kDefaultVelocity;
  };
  std::vector<OpenNote> open(kNumInstruments * kNumPitches);
  std::vector<Note> notes;
  int64_t cursor = 0;
  bool after_chord = false;

  for (int token : tokens) {
    check_token(token);
    if (is_time_shift(token)) {
      cursor += time_shift_ticks(token);
      after_chord = false;
    } else if (token == kChordToken) {
      after_chord = true;
    } else if (is_note_token(token)) {
      NoteTokenParts parts = decode_note_token(token);
      int key = key_of(parts.instrument, parts.pitch);
      if (parts.on) {
        bool loud =
            after_chord && (parts.instrument == Instrument::Piano || parts.instrument == Instrument::Guitar);
        open[key] = {cursor, loud ? kChordVelocity : kDefaultVelocity};  // overwrites an open note (lost)
      } else if (open[key].start >= 0) {
        notes.push_back({parts.instrument, parts.pitch, open[key].start * kTickSeconds, cursor * kTickSeconds,
                         open[key].velocity});
        open[key].start = -1;
      }
    }
  }
  if (options.close_open_notes) {
    double end = std::max(options.end_seconds, cursor * kTickSeconds);
    for (int key = 0; key < static_cast<int>(open.size()); key++)
      if (open[key].start >= 0)
        notes.push_back(
            {key_instrument(key), key_pitch(key), open[key].start * kTickSeconds, end, open[key].velocity});
  }
  std::stable_sort(notes.begin(), notes.end(), [](const Note& a, const Note& b) {
    if (a.start_seconds != b.start_seconds) return a.start_seconds < b.start_seconds;
    if (a.instrument != b.instrument)
      return instrument_priority(a.instrument) < instrument_priority(b.instrument);
    return a.pitch < b.pitch;
  });
  return notes;
}

std::vector<double> chord_times(const std::vector<int>& tokens) {
  std::vector<double> times;
  int64_t cursor = 0;
  for (int token : tokens) {
    check_token(token);
    cursor += time_shift_ticks(token);
    if (token == kChordToken) times.push_back(cursor * kTickSeconds);
  }
  return times;
}

double tokens_duration(const std::vector<int>& tokens) {
  int64_t cursor = 0;
  for (int token : tokens) cursor += time_shift_ticks(token);
  return cursor * kTickSeconds;
}

int channel_message_data_bytes(uint8_t status) {
  switch (status & 0xF0) {
    case 0x80:
    case 0x90:
    case 0xA0:
    case 0xB0:
    case 0xE0:
      return 2;
    case 0xC0:
    case 0xD0:
      return 1;
    default:
      return 0;
  }
}

/* ---- TokenStreamDecoder ---- */

TokenStreamDecoder::TokenStreamDecoder(double start_seconds) {
  reset(start_seconds);
}

void TokenStreamDecoder::reset(double start_seconds) {
  start_seconds_ = start_seconds;
  ticks_ = 0;
  after_chord_ = false;
  for (auto& row : sounding_) row.fill(false);
}

double TokenStreamDecoder::time_seconds() const {
  return start_seconds_ + ticks_ * kTickSeconds;
}

int TokenStreamDecoder::sounding_notes() const {
  int count = 0;
  for (const auto& row : sounding_)
    for (bool on : row) count += on ? 1 : 0;
  return count;
}

void TokenStreamDecoder::start(std::vector<MidiEvent>& out) const {
  const double now = time_seconds();
  for (Instrument instrument : {Instrument::Bass, Instrument::Guitar, Instrument::Piano, Instrument::Strings})
    out.push_back(
        {now, static_cast<uint8_t>(0xC0 | output_channel(instrument)), output_program(instrument), 0});
}

std::vector<MidiEvent> TokenStreamDecoder::start() const {
  std::vector<MidiEvent> out;
  start(out);
  return out;
}

void TokenStreamDecoder::push(int token, std::vector<MidiEvent>& out) {
  check_token(token);
  if (is_time_shift(token)) {
    ticks_ += time_shift_ticks(token);
    after_chord_ = false;
    return;
  }
  if (token == kChordToken) {
    after_chord_ = true;
    return;
  }
  if (!is_note_token(token)) return;
  NoteTokenParts parts = decode_note_token(token);
  const int instrument = instrument_index(parts.instrument);
  const int slot = parts.pitch - kMinPitch;
  const uint8_t channel = output_channel(parts.instrument);
  const uint8_t pitch = static_cast<uint8_t>(parts.pitch);
  const double now = time_seconds();
  bool& sounding = sounding_[instrument][slot];
  if (parts.on) {
    if (sounding) out.push_back({now, static_cast<uint8_t>(0x80 | channel), pitch, 0});
    bool loud =
        after_chord_ && (parts.instrument == Instrument::Piano || parts.instrument == Instrument::Guitar);
    out.push_back({now, static_cast<uint8_t>(0x90 | channel), pitch,
                   static_cast<uint8_t>(loud ? kChordVelocity : kDefaultVelocity)});
    sounding = true;
  } else if (sounding) {
    out.push_back({now, static_cast<uint8_t>(0x80 | channel), pitch, 0});
    sounding = false;
  }
}

std::vector<MidiEvent> TokenStreamDecoder::push(int token) {
  std::vector<MidiEvent> out;
  push(token, out);
  return out;
}

void TokenStreamDecoder::flush(double end_seconds, std::vector<MidiEvent>& out) {
  const double when = std::max(end_seconds, time_seconds());
  for (int instrument = 0; instrument < kNumInstruments; instrument++) {
    for (int slot = 0; slot < kNumPitches; slot++) {
      if (!sounding_[instrument][slot]) continue;
      uint8_t channel = output_channel(static_cast<Instrument>(instrument));
      out.push_back({when, static_cast<uint8_t>(0x80 | channel), static_cast<uint8_t>(slot + kMinPitch), 0});
      sounding_[instrument][slot] = false;
    }
  }
}

std::vector<MidiEvent> TokenStreamDecoder::flush(double end_seconds) {
  std::vector<MidiEvent> out;
  flush(end_seconds, out);
  return out;
}

}  // namespace emsync::midi
