// Performer: the dynamics of the music. EMSYNC's vocabulary has no velocity (its decoder plays every note at 80,
// the piano/guitar notes of a <CHORD> at 120); the Performer decides each note-on's velocity where the tokens
// become MIDI (MidiStream), from what the Composer knows: the arousal, the note's place on the beat grid, the
// distance to the next kept cut, the instrument and whether the note is the top voice of its onset. The model
// never sees velocity, so the tokens (and their reproducibility) do not change.
//
//   v = clamp(base + arousal_gain * a + accent + phrase + balance + chord + top_voice + humanisation, 20, 124)
//
// Humanisation comes from its own RNG seeded by the composer's seed: same seed, same velocities.
//
// Onset timing (OnsetTimingOptions): on the beat grid every note of an onset starts on the same 8 ms tick, which
// sounds sequenced (real ensembles: 6-54 % of onset clusters spread over more than 4 ms). The Performer delays
// each instrument's notes of an onset by a small random amount (the rhythm section tighter than the rest) and
// strums the guitar's chords from low to high; delays only, never earlier than the grid, at most max_seconds.
// The timing has an RNG of its own, so the velocities of a seed are the same with and without it.
#pragma once

#include <cstdint>
#include <vector>

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

struct OnsetTimingOptions {
  bool enabled = true;  // false: every onset on its tick (EMSYNC's decoder)
  // Delay of one instrument's notes at one onset: |N(0, sd)| (seconds), bass and drums with rhythm_sd.
  double sd_seconds = 0.0015;
  double rhythm_sd_seconds = 0.0008;
  // Guitar chords: each string this much after the one below it; piano chords spread a little (two hands).
  double strum_seconds = 0.002;
  double roll_seconds = 0.0007;
  // No note moves further than this (the shortest grid note is ComposerOptions::min_note_seconds).
  double max_seconds = 0.020;

  static OnsetTimingOptions reference();
};

// File mode's ending (MidiStream::plan_ending): when the music's end is known, a kept cut is planned
// hold_seconds before it (with sync=hard its chord is forced there: the final chord), no note starts after that
// chord, the sounding notes are held and all released at the end. The final chord is kept however close the last
// scene cut is (the schedule's min_gap would refuse it: the music then played on and stopped without a close);
// a kept cut inside the hold becomes the final chord itself.
struct EndingOptions {
  bool enabled = true;  // false: EMSYNC's: the music just stops at the end
  double hold_seconds = 1.0;
  // The final chord rings at least this long: kept cuts closer than this to the end are not marked.
  double min_ring_seconds = 0.5;
  // A cadence into the final chord (the Composer, in the key of the recent notes, its mode the valence's when
  // mode control is on): over the cadence_seconds before it the dominant triad's pitch classes get
  // +dominant_bias and the others -dominant_bias (pitched note-ons); the final chord itself takes only the tonic
  // triad's pitch classes, its bass only the tonic. cadence false: the final chord is whatever the model plays.
  bool cadence = true;
  double cadence_seconds = 1.2;
  double dominant_bias = 1.5;

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
  Performer(const VelocityOptions& options, const OnsetTimingOptions& timing, uint64_t seed);
  // The velocity of a note-on; `map` may be empty (then the fallback beat from `last_bar` is used).
  int velocity(const NoteContext& note, const TempoMap& map, double last_bar_seconds);
  // Delays (seconds, >= 0) for the note-ons of one instrument at one onset, given their pitches in the order of
  // `pitches`; `delays` gets one per pitch.
  void onset_delays(int channel, const std::vector<int>& pitches, std::vector<double>& delays);
  const VelocityOptions& options() const { return options_; }
  const OnsetTimingOptions& timing() const { return timing_; }

 private:
  double accent(double time, const TempoMap& map, double last_bar) const;

  VelocityOptions options_;
  OnsetTimingOptions timing_;
  uint64_t velocity_rng_, timing_rng_;
};

}  // namespace emsync::music
