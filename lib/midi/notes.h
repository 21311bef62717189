/* emsync — a note of the five-group (LPD-5) instrument model used by the EMSYNC vocabulary. */
#pragma once

#include <cstdint>

namespace emsync::midi {

/* The five instrument groups; the values are the vocabulary's instrument indices (reference §2a). */
enum class Instrument : uint8_t { Bass = 0, Drums = 1, Guitar = 2, Piano = 3, Strings = 4 };

constexpr int kNumInstruments = 5;

constexpr int instrument_index(Instrument instrument) {
  return static_cast<int>(instrument);
}

/* Upper-case name as used in token names ("BASS", "DRUMS", ...). */
const char* instrument_name(Instrument instrument);

/* A note in seconds. Pitch is the MIDI key (for drums, the GM drum key); velocity 1..127. */
struct Note {
  Instrument instrument = Instrument::Piano;
  int pitch = 60;
  double start_seconds = 0.0;
  double end_seconds = 0.0;
  int velocity = 80;
};

}  // namespace emsync::midi
