/* emsync — General MIDI program / channel -> EMSYNC instrument group (LPD-5 style), and the programs and
 * channels we write for each group.
 *
 * Input mapping (identical to models/training/vocab.py program_to_instrument()):
 *   channel 10 (index 9)                          -> DRUMS (whatever the program)
 *   0-23    piano, chromatic percussion, organ    -> PIANO
 *   24-31   guitar                                -> GUITAR
 *   32-39   bass                                  -> BASS
 *   40-55   strings, ensemble                     -> STRINGS
 *   56-79   brass, reed, pipe                     -> STRINGS (sustained melodic voices)
 *   80-87   synth lead                            -> PIANO   (lead lines; piano is the melodic default)
 *   88-95   synth pad                             -> STRINGS
 *   96-103  synth effects                         -> STRINGS
 *   104-111 ethnic (sitar, banjo, koto, ...)      -> GUITAR  (plucked)
 *   112-119 percussive on a melodic channel       -> PIANO   (pitched percussion, like chromatic percussion)
 *   120-127 sound effects                         -> dropped
 * LPD-5 itself merges every non-drum program into one of the four melodic groups by family; the choice for the
 * families outside piano/guitar/bass/strings is ours (the EMSYNC/midi-emotion preprocessing code is not public).
 *
 * Output (reference §2a, pretty_midi programs): DRUMS on channel 10, PIANO 0, GUITAR 25, BASS 32, STRINGS 48.
 * Channel = vocabulary instrument index (BASS 0, GUITAR 2, PIANO 3, STRINGS 4), DRUMS channel 9 (zero-based).
 */
#pragma once

#include <cstdint>
#include <optional>

#include "lib/midi/notes.h"

namespace emsync::midi {

constexpr uint8_t kDrumChannel = 9;  // zero-based; "channel 10"

/* Group of a GM program (0..127) on a channel; std::nullopt for sound effects (dropped) or an invalid program. */
std::optional<Instrument> instrument_for_program(int program, bool drum_channel);

/* GM program written for a group (drums: 0, the standard kit on channel 10). */
constexpr uint8_t output_program(Instrument instrument) {
  switch (instrument) {
    case Instrument::Bass:
      return 32;
    case Instrument::Drums:
      return 0;
    case Instrument::Guitar:
      return 25;
    case Instrument::Piano:
      return 0;
    case Instrument::Strings:
      return 48;
  }
  return 0;
}

/* Zero-based MIDI channel written for a group. */
constexpr uint8_t output_channel(Instrument instrument) {
  return instrument == Instrument::Drums ? kDrumChannel : static_cast<uint8_t>(instrument);
}

}  // namespace emsync::midi
