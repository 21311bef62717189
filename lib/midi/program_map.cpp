/* emsync — GM program -> instrument group (table documented in program_map.h). */
#include "lib/midi/program_map.h"

namespace emsync::midi {

std::optional<Instrument> instrument_for_program(int program, bool drum_channel) {
  if (drum_channel) return Instrument::Drums;
  if (program < 0 || program > 127) return std::nullopt;
  if (program <= 23) return Instrument::Piano;
  if (program <= 31) return Instrument::Guitar;
  if (program <= 39) return Instrument::Bass;
  if (program <= 79) return Instrument::Strings;   // strings, ensemble, brass, reed, pipe
  if (program <= 87) return Instrument::Piano;     // synth lead
  if (program <= 103) return Instrument::Strings;  // synth pad, synth effects
  if (program <= 111) return Instrument::Guitar;   // ethnic (plucked)
  if (program <= 119) return Instrument::Piano;    // percussive
  return std::nullopt;                             // sound effects
}

}  // namespace emsync::midi
