// libFuzzer harness: tokens -> notes (lib/midi/tokenizer.h): the streaming TokenStreamDecoder the generator
// element uses, and the batch decode(). Two bytes per token; ids past the vocabulary are included on purpose
// (std::out_of_range is their documented error). Checks the invariants the element relies on: times never go
// backwards, every note-on is matched by a note-off after flush(), nothing is left sounding.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "lib/midi/tokenizer.h"
#include "lib/midi/vocab.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace emsync::midi;
  std::vector<int> tokens;
  for (size_t i = 0; i + 1 < size; i += 2) tokens.push_back((data[i] | data[i + 1] << 8) % (kVocabSize + 16));

  TokenStreamDecoder stream(size ? data[0] * 0.5 : 0.0);
  std::vector<MidiEvent> events;
  stream.start(events);
  double last = -1.0;
  int open = 0;
  bool valid = true;
  for (int t : tokens) {
    const size_t before = events.size();
    try {
      stream.push(t, events);
    } catch (const std::out_of_range&) {
      if (t >= 0 && t < kVocabSize) __builtin_trap();  // a valid id must never be refused
      valid = false;
      continue;
    }
    if (t < 0 || t >= kVocabSize) __builtin_trap();  // an invalid id must be refused
    for (size_t i = before; i < events.size(); ++i) {
      const MidiEvent& e = events[i];
      if (e.time_seconds < last) __builtin_trap();
      last = e.time_seconds;
      if ((e.status & 0xF0) == 0x90 && e.data2 > 0) ++open;
      if ((e.status & 0xF0) == 0x80 || ((e.status & 0xF0) == 0x90 && e.data2 == 0)) --open;
    }
    if (open != stream.sounding_notes()) __builtin_trap();
  }
  const size_t before = events.size();
  stream.flush(stream.time_seconds() + 1.0, events);
  for (size_t i = before; i < events.size(); ++i) {
    if (events[i].time_seconds < last) __builtin_trap();
    --open;
  }
  if (open != 0 || stream.sounding_notes() != 0) __builtin_trap();

  try {
    DecodeOptions options;
    options.close_open_notes = size % 2 == 1;
    options.end_seconds = tokens_duration(tokens) + 0.5;
    const auto notes = decode(tokens, options);
    if (!valid) __builtin_trap();  // decode() must refuse what push() refused
    for (size_t i = 1; i < notes.size(); ++i)
      if (notes[i].start_seconds < notes[i - 1].start_seconds) __builtin_trap();
    chord_times(tokens);
  } catch (const std::out_of_range&) {
    if (valid) __builtin_trap();
  }
  return 0;
}
