// Performer: the dynamics of the music. EMSYNC's vocabulary has no velocity (its decoder plays every note at 80,
// the piano/guitar notes of a <CHORD> at 120); the Performer decides each note-on's velocity where the tokens
// become MIDI (MidiStream), from what the Composer knows: the arousal, the note's place on the beat grid, the
// distance to the next kept cut, the instrument and whether the note is the top voice of its onset. The model
// never sees velocity, so the tokens (and their reproducibility) do not change.
//
//   v = clamp(base + arousal_gain * a + accent + phrase + balance + chord + top_voice + humanisation, 20, 124)
//
// Humanisation comes from its own RNG seeded by the composer's seed: same seed, same velocities.
#pragma once

#include <cstdint>

#include "lib/music/tempo_map.h"

namespace emsync::music {

struct VelocityOptions {
  // false: EMSYNC's fixed velocities (80, 120 for the chord's piano/guitar notes).
  bool enabled = true;
  double base = 72.0;
  double arousal_gain = 20.0;  // 56 at arousal -0.8, 88 at +0.8
  // Metric accent by grid level; without a beat grid (Timing::Free) the time since the last bar/cut is
  // measured in fallback_beat_seconds beats.
  double downbeat = 10.0, beat = 5.0, eighth = 0.0, weak = -6.0;
  double fallback_beat_seconds = 0.5;
  // Crescendo of up to `crescendo` over the crescendo_seconds before a kept cut; the cut's forced chord gets
  // `chord` more.
  double crescendo = 10.0, crescendo_seconds = 3.0;
  double chord = 16.0;
  // Balance: bass, guitar, piano, strings; drums by key (kick/snare, crash, hi-hat/ride, other).
  double bass = 4.0, guitar = -4.0, piano = 0.0, strings = -8.0;
  double kick_snare = 6.0, crash = 8.0, cymbal = -10.0, drums = 0.0;
  // The highest pitched note of an onset (melody over accompaniment; bass and drums excluded).
  double top_voice = 4.0;
  // Standard deviation of the random part (0 = none).
  double humanise = 4.0;

  static VelocityOptions reference();
};

// File mode's ending (MidiStream::set_end): when the music's end is known, a kept cut is planned hold_seconds
// before it (with sync=hard its chord is forced there: the final chord), no note starts after that chord, the
// sounding notes are held and all released at the end. When the schedule does not keep that cut (a kept cut
// less than min_gap before it), the music plays on to the end.
struct EndingOptions {
  bool enabled = true;  // false: EMSYNC's: the music just stops at the end
  double hold_seconds = 1.0;

  static EndingOptions reference();
};

// What the Performer needs to know about one note-on.
struct NoteContext {
  double time = 0.0;
  int channel = 0;  // the decoder's channels: BASS 0, GUITAR 2, PIANO 3, STRINGS 4, DRUMS 9
  int pitch = 60;
  float arousal = 0.0f;         // NaN = unknown (0)
  double seconds_to_cut = 1e9;  // to the next kept cut at or after the note
  bool cut_chord = false;       // a note of the forced chord at a kept cut
  bool top_voice = false;
};

class Performer {
 public:
  Performer(const VelocityOptions& options, uint64_t seed);
  // The velocity of a note-on; `map` may be empty (then the fallback beat from `last_bar` is used).
  int velocity(const NoteContext& note, const TempoMap& map, double last_bar_seconds);
  const VelocityOptions& options() const { return options_; }

 private:
  double accent(double time, const TempoMap& map, double last_bar) const;
  double gaussian();

  VelocityOptions options_;
  uint64_t rng_;
};

}  // namespace emsync::music
