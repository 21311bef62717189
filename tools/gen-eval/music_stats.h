// Musical statistics of a note list, the same for generated music and for a corpus MIDI file: pulse on an
// isochronous grid, onset smear, gaps between onset clusters, note lengths, re-strikes and repeated pitches per
// instrument, pitch-class entropy, key stability, velocity spread, cuts on downbeats, tempo change between bars,
// notes held to the forced-release limit. Plain C++ (lib/midi notes, lib/music key finding); no model involved.
//
// Definitions (bench/generator/README.md repeats them):
// - Onset cluster: note onsets (all instruments, drums included) sorted in time; an onset more than
//   `cluster_seconds` (30 ms) after the first onset of the current cluster starts a new one. A cluster's time is
//   its first onset. Smeared: a cluster of >= 2 onsets spanning more than `smear_seconds` (4 ms);
//   smear_share = smeared / clusters with >= 2 onsets.
// - Pulse: the piece is cut into windows of `window_seconds` (12 s); in each window with >= 8 clusters every
//   grid spacing g from 0.2 to 1.2 s (1 % steps) and every phase is tried; h = share of the window's clusters
//   within `grid_tolerance` (25 ms) of a grid point, c = 2 * tolerance / g the share of time that counts as on
//   the grid (what randomly placed onsets score on one given grid), S = max over g and phase of
//   (h - c) / (1 - c). The best of many grids also fits random onsets, the more so the fewer there are, so the
//   window's pulse is (S - S0) / (1 - S0), S0 the mean S of 8 sets of as many onsets placed uniformly at random
//   in the window (fixed seeds: the figure is reproducible). The piece's pulse is the mean over windows
//   weighted by their clusters. A metronome scores 1, random onsets about 0 (either sign).
// - Score pulse: the same pulse with each cluster's time first mapped to score time: its position among the
//   score's beats (beat_times: where the file's tempo map puts each quarter note) times the mean beat. A tempo
//   that bends between bars (a ritardando in a file, our tempo map landing a cut on a bar line) moves a fixed
//   grid off the onsets within a window; in score time the grid follows the tempo. At a constant tempo it is the
//   pulse. It trusts the file's tempo map, so it is reported beside the pulse, not instead of it.
// - Cuts on downbeats: with known bar lines, a cut within grid_tolerance of a bar line; without them (free
//   timing), bar lines are every 4th step of the cut's window's fitted grid, starting at the step (of 4) that
//   carries the most note onsets.
// - Tempo change: mean |d[i+1] - d[i]| / d[i] over adjacent bar durations d; without known bars, the fitted grid
//   spacings of adjacent windows stand for the bars.
#pragma once

#include <array>
#include <limits>
#include <random>
#include <vector>

#include "lib/midi/notes.h"
#include "lib/music/key_finding.h"

namespace gen_eval {

struct MusicStatsOptions {
  double cluster_seconds = 0.030;
  double smear_seconds = 0.004;
  double grid_tolerance = 0.025;
  double window_seconds = 12.0;
  double min_grid_seconds = 0.2;
  double max_grid_seconds = 1.2;
  double short_note_seconds = 0.100;
  double restrike_seconds =
      0.100;  // a note starting this soon after the previous onset of its key re-strikes
  double key_window_seconds = 8.0;
  double forced_release_seconds = 0;  // the composer's limit (notes this long count); 0 = not reported
  std::vector<double> cuts;           // kept scene cuts (seconds), if any
  std::vector<double> bar_times;      // known bar lines (seconds, increasing); empty = use the fitted grid
  std::vector<double> bar_beats;      // beats of each known bar (a short bar before a cut); empty = all alike
  std::vector<double> beat_times;  // the score's beats (seconds, increasing; from the file's tempo map), for
                                   // the score pulse; fewer than 2 = no score pulse
};

struct InstrumentNoteStats {
  long notes = 0;
  double short_share = std::numeric_limits<double>::quiet_NaN();  // notes shorter than short_note_seconds
  double median_seconds = std::numeric_limits<double>::quiet_NaN();
  double restrike_share = std::numeric_limits<double>::quiet_NaN();
  double repeated_pitch_share = std::numeric_limits<double>::quiet_NaN();  // same pitch as the previous note
};

struct MusicStatistics {
  static constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  long clusters = 0;
  double pulse = kNaN;
  double score_pulse = kNaN;   // the pulse in score time (beats of the file's tempo map)
  double grid_seconds = kNaN;  // median fitted grid spacing over the scored windows
  double smear_share = kNaN;
  double modal_gap_seconds = kNaN;  // most frequent gap between successive clusters (4 ms bins, gaps <= 2 s)
  InstrumentNoteStats pitched;      // all non-drum notes
  std::array<InstrumentNoteStats, emsync::midi::kNumInstruments> per_instrument;
  double pc_entropy = kNaN;     // bits, non-drum note counts per pitch class
  double key_stability = kNaN;  // share of key windows in the piece's key
  double velocity_std = kNaN;
  long cuts = 0;
  double cuts_on_downbeat = kNaN;
  double tempo_change = kNaN;
  double forced_release_share = kNaN;  // non-drum notes lasting >= forced_release_seconds - 1 ms
};

MusicStatistics compute_music_statistics(const std::vector<emsync::midi::Note>& notes,
                                         const MusicStatsOptions& options = {});

// Key of the non-drum notes by Krumhansl-Schmuckler on their duration-weighted pitch classes.
emsync::music::Key duration_weighted_key(const std::vector<emsync::midi::Note>& notes);

// Pitch-class entropy in bits of the non-drum notes (counts, not durations); NaN without pitched notes.
double pitch_class_entropy(const std::vector<emsync::midi::Note>& notes);

// Moves each note by a random N(0, sd) seconds (length kept, never before 0): real music made unsteady, the
// calibration point of the pulse (music with 60 ms jitter scores about 0).
void jitter_notes(std::vector<emsync::midi::Note>& notes, double sd, std::mt19937_64& rng);

}  // namespace gen_eval
