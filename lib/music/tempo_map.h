// Tempo map and its planner: the beat grid the Composer plays on.
//
// A TempoMap is a list of bars from time 0 (the primer's <BAR>), or from half a beat before it when the music
// starts with a pickup (a cut too early for a whole bar); each bar has a start, a beat period (constant
// inside the bar) and a number of beats (beats_per_bar, or fewer for a short bar right before a cut). Times are
// seconds on the music timeline; the Composer works on the tokens' 8 ms ticks, so every grid point is also
// answered as the tick nearest to it (llround(t / kTickSeconds)).
//
// The TempoPlanner builds the map from the kept cuts the lookahead knows (film-scoring hit points): each cut is
// placed on a bar line, the beat period stays within a band around the preferred period of the arousal and
// changes by at most max_bar_change between adjacent bars; the first cut may be reached with a pickup, any cut
// with a bar of whole beats and a half (the tempo then bends half as much). Beyond the last known cut the tempo
// holds (drifting back towards the preferred period by at most relax_per_bar). Bars that started at or before the
// cursor are never changed: plan() re-plans only what lies after it.
#pragma once

#include <cstdint>
#include <vector>

namespace emsync::music {

// Grid levels of a tick, strongest first. PreGrid: the tick just before a grid point (a release before a
// re-attack); Off: none of these.
enum class GridLevel {
  Downbeat = 0,
  Beat = 1,
  Eighth = 2,
  Sixteenth = 3,
  Triplet = 4,
  PreGrid = 5,
  Off = -1
};

struct TempoOptions {
  int beats_per_bar = 4;
  // Preferred tempo: bpm_at_arousal_0 * bpm_arousal_factor^arousal, i.e. 81 / 100 / 123 bpm at arousal
  // -0.8 / 0 / +0.8 (debian_free's band MIDI: median 120, p10 90; POP909's piano: median 74).
  double bpm_at_arousal_0 = 100.0;
  double bpm_arousal_factor = 1.3;
  // The beat period stays within [preferred / band, preferred * band] and within [60/max_bpm, 60/min_bpm] s.
  double band = 1.25;
  double min_bpm = 60.0, max_bpm = 150.0;
  // Largest relative change of the beat period between adjacent bars.
  double max_bar_change = 0.08;
  // Beyond the last known cut, the period moves towards the preferred one by at most this much per bar.
  double relax_per_bar = 0.02;
  // Plan bars this far past the cursor (the Composer re-plans as the cursor moves).
  double horizon_seconds = 16.0;

  double preferred_beat_seconds(double arousal) const;  // NaN arousal: arousal 0
};

struct Bar {
  double start = 0.0;      // seconds
  double beat = 0.5;       // beat period, seconds
  int beats = 4;           // whole beats: beats_per_bar, or fewer before a cut
  bool half_beat = false;  // and half a beat more (a 5/8 or 7/8 bar before a cut: the tempo need not bend)
  bool cut = false;        // a kept cut lands on this bar line
  double length_beats() const { return beats + (half_beat ? 0.5 : 0.0); }
  double end() const { return start + beat * length_beats(); }
};

// Where a time falls on the grid.
struct GridPosition {
  long bar = -1;       // index into bars(); -1 before the map / past its end
  int beat = 0;        // beat within the bar, 0 = downbeat
  double phase = 0.0;  // position inside the beat, [0, 1)
  double beat_seconds = 0.0;
};

class TempoMap {
 public:
  const std::vector<Bar>& bars() const { return bars_; }
  bool empty() const { return bars_.empty(); }
  // Seconds covered by the map (end of its last bar); 0 when empty.
  double end_seconds() const { return bars_.empty() ? 0.0 : bars_.back().end(); }

  GridPosition position(double seconds) const;
  double beat_seconds_at(double seconds) const;
  // Bar line / beat start at exactly this time (within `tolerance` seconds).
  bool is_bar_line(double seconds, double tolerance = 1e-6) const;
  bool is_beat(double seconds, double tolerance = 1e-6) const;

  // Tick queries (8 ms tokens). A tick is on a grid point when the point's nearest tick is this tick.
  GridLevel level(int64_t tick) const;
  bool is_bar_tick(int64_t tick) const { return level(tick) == GridLevel::Downbeat; }
  // First tick > `tick` at a grid point (8ths, 16ths, 8th triplets); -1 past the map's end.
  int64_t next_grid_tick(int64_t tick) const;
  // First bar-line tick > `tick`; -1 past the map's end.
  int64_t next_bar_tick(int64_t tick) const;

  // Editing (the planner's): drop the bars starting after `seconds` / append one.
  void truncate_after(double seconds);
  void append(const Bar& bar) { bars_.push_back(bar); }

 private:
  std::vector<Bar> bars_;
};

class TempoPlanner {
 public:
  explicit TempoPlanner(const TempoOptions& options = {}) : options_(options) {}
  const TempoOptions& options() const { return options_; }

  // Starts the map at time 0 with the preferred period.
  void reset(double preferred_beat_seconds);
  // Re-plans every bar that starts after `cursor_seconds` from the kept cuts still ahead (`cuts`, increasing;
  // those at or before the cursor are ignored) so that each lands on a bar line where the tempo limits allow,
  // and extends the map to cursor + horizon. A cut that cannot be reached within the limits (too close to the
  // cursor or to the previous cut) is left off the grid. Returns the number of cuts placed on bar lines.
  int plan(double cursor_seconds, const std::vector<double>& cuts, double preferred_beat_seconds);

  const TempoMap& map() const { return map_; }

 private:
  TempoOptions options_;
  TempoMap map_;
};

}  // namespace emsync::music
