#include "lib/music/tempo_map.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "lib/midi/vocab.h"

namespace emsync::music {

namespace {

constexpr double kTick = emsync::midi::kTickSeconds;
constexpr double kEps = 1e-6;
// Sub-units of a beat that hold both 16ths (every 3) and 8th triplets (every 4).
constexpr int kUnits = 12;

int64_t tick_of(double seconds) {
  return static_cast<int64_t>(std::llround(seconds / kTick));
}

GridLevel unit_level(int unit, bool bar_start) {
  if (unit % kUnits == 0) return bar_start ? GridLevel::Downbeat : GridLevel::Beat;
  if (unit % 6 == 0) return GridLevel::Eighth;
  if (unit % 3 == 0) return GridLevel::Sixteenth;
  if (unit % 4 == 0) return GridLevel::Triplet;
  return GridLevel::Off;
}

bool stronger(GridLevel a, GridLevel b) {
  if (b == GridLevel::Off) return a != GridLevel::Off;
  return a != GridLevel::Off && static_cast<int>(a) < static_cast<int>(b);
}

}  // namespace

double TempoOptions::preferred_beat_seconds(double arousal) const {
  const double a = std::isnan(arousal) ? 0.0 : std::clamp(arousal, -1.0, 1.0);
  const double bpm = std::clamp(bpm_at_arousal_0 * std::pow(bpm_arousal_factor, a), min_bpm, max_bpm);
  return 60.0 / bpm;
}

GridPosition TempoMap::position(double seconds) const {
  GridPosition p;
  auto it = std::upper_bound(bars_.begin(), bars_.end(), seconds + kEps,
                             [](double t, const Bar& b) { return t < b.start; });
  if (it == bars_.begin()) return p;
  const Bar& bar = *(it - 1);
  if (seconds >= bar.end() - kEps && it == bars_.end()) return p;
  const double x = std::max(0.0, (seconds - bar.start) / bar.beat);
  p.bar = static_cast<long>(it - 1 - bars_.begin());
  p.beat = std::min(bar.beats - (bar.half_beat ? 0 : 1), static_cast<int>(std::floor(x + kEps)));
  p.phase = std::max(0.0, x - p.beat);
  if (p.phase < kEps) p.phase = 0.0;
  p.beat_seconds = bar.beat;
  return p;
}

double TempoMap::beat_seconds_at(double seconds) const {
  const GridPosition p = position(seconds);
  if (p.bar >= 0) return p.beat_seconds;
  return bars_.empty() ? 0.0 : (seconds < bars_.front().start ? bars_.front().beat : bars_.back().beat);
}

bool TempoMap::is_bar_line(double seconds, double tolerance) const {
  auto it = std::lower_bound(bars_.begin(), bars_.end(), seconds - tolerance,
                             [](const Bar& b, double t) { return b.start < t; });
  return it != bars_.end() && std::fabs(it->start - seconds) <= tolerance;
}

bool TempoMap::is_beat(double seconds, double tolerance) const {
  const GridPosition p = position(seconds + tolerance);
  if (p.bar < 0) return false;
  return p.phase * p.beat_seconds <= 2 * tolerance;
}

GridLevel TempoMap::level(int64_t tick) const {
  if (bars_.empty()) return GridLevel::Off;
  const double t = tick * kTick;
  // The bar holding t, and the one before (a grid point just before a bar line may round onto its tick).
  auto it = std::upper_bound(bars_.begin(), bars_.end(), t + kTick,
                             [](double x, const Bar& b) { return x < b.start; });
  if (it == bars_.begin()) return GridLevel::Off;
  GridLevel best = GridLevel::Off;
  for (auto b = it - 1;; --b) {
    const double unit = b->beat / kUnits;
    // the next bar line belongs to the next bar
    const int last = b->beats * kUnits + (b->half_beat ? kUnits / 2 : 0);
    const int centre = static_cast<int>(std::floor((t - b->start) / unit));
    for (int u = centre - 1; u <= centre + 2; ++u) {
      if (u < 0 || u >= last) continue;
      const GridLevel l = unit_level(u, u == 0);
      if (l != GridLevel::Off && tick_of(b->start + u * unit) == tick && stronger(l, best)) best = l;
    }
    if (b == bars_.begin() || b->start < t - kTick) break;
  }
  if (best != GridLevel::Off) return best;
  if (tick_of(end_seconds()) < tick + 1) return GridLevel::Off;
  // The tick before a grid point.
  const GridLevel next = level(tick + 1);
  return (next != GridLevel::Off && next != GridLevel::PreGrid) ? GridLevel::PreGrid : GridLevel::Off;
}

int64_t TempoMap::next_grid_tick(int64_t tick) const {
  const int64_t end = tick_of(end_seconds());
  for (int64_t t = tick + 1; t <= end; ++t) {
    const GridLevel l = level(t);
    if (l != GridLevel::Off && l != GridLevel::PreGrid) return t;
  }
  return -1;
}

int64_t TempoMap::next_bar_tick(int64_t tick) const {
  for (const Bar& b : bars_)
    if (tick_of(b.start) > tick) return tick_of(b.start);
  return -1;
}

void TempoMap::truncate_after(double seconds) {
  auto it = std::upper_bound(bars_.begin(), bars_.end(), seconds + kEps,
                             [](double t, const Bar& b) { return t < b.start; });
  bars_.erase(it, bars_.end());
}

void TempoPlanner::reset(double preferred_beat_seconds) {
  map_ = TempoMap();
  map_.append({0.0, preferred_beat_seconds, options_.beats_per_bar, false, false});
}

namespace {

// Appends `beats` beats of period `beat` from `start` as full bars and, where they do not divide, one short bar
// at the end (at the start for a pickup: the music begins inside it); the bar after them starts at the cut.
void append_beats(TempoMap& map, double start, double beat, int beats, int per_bar, bool first_is_cut,
                  bool short_bar_first = false, bool half_beat = false) {
  bool cut = first_is_cut;
  while (beats > 0) {
    const int n = short_bar_first && beats % per_bar ? beats % per_bar : std::min(per_bar, beats);
    const bool half = half_beat && n == beats;  // `half_beat`: the last bar has half a beat more
    map.append({start, beat, n, half, cut});
    cut = false;
    start += (n + (half ? 0.5 : 0.0)) * beat;
    beats -= n;
  }
}

}  // namespace

int TempoPlanner::plan(double cursor, const std::vector<double>& cuts, double preferred) {
  if (map_.empty()) reset(preferred);
  const TempoOptions& o = options_;
  double lo = std::max(preferred / o.band, 60.0 / o.max_bpm);
  double hi = std::min(preferred * o.band, 60.0 / o.min_bpm);
  auto within = [&](double p, double q) {
    return q <= 0.0 || std::fabs(p / q - 1.0) <= o.max_bar_change + 1e-9;
  };

  // The bar under the cursor is being played: keep it (and all before), re-plan the rest.
  map_.truncate_after(cursor);
  Bar current = map_.bars().back();
  std::vector<double> ahead;
  for (double c : cuts)
    // (a cut less than a tick ahead is still ahead: it may be the bar line the cursor is about to reach)
    if (c > cursor && c <= cursor + o.horizon_seconds + 8.0) ahead.push_back(c);
  double anchor = current.end();
  bool anchor_is_cut = false;
  double entry_beat = current.beat;  // the period the first planned bar must stay within max_bar_change of
  // A bar that starts on the cursor's tick has nothing played in it yet: plan it too (at the start, the first
  // bar's period is free).
  if (cursor <= kEps) {
    // Nothing played yet: plan from the start (a pickup bar may begin before it).
    map_ = TempoMap();
    current = {0.0, preferred, o.beats_per_bar, false, false};
    anchor = 0.0;
    anchor_is_cut = false;
    entry_beat = 0.0;
  } else if (current.start >= cursor - kTick / 2) {
    map_.truncate_after(current.start - 2 * kEps);
    anchor = current.start;
    anchor_is_cut = current.cut;
    entry_beat = map_.empty() ? 0.0 : map_.bars().back().beat;
  }
  // After a change of arousal the band may lie away from the tempo being played: reach it step by step.
  if (entry_beat > 0.0) {
    lo = std::min(lo, entry_beat * (1 - o.max_bar_change));
    hi = std::max(hi, entry_beat * (1 + o.max_bar_change));
  }
  // A cut inside the bar under the cursor (known late): end the bar early, on a later beat of it from which
  // the cut is reachable.
  if (anchor > current.start && !ahead.empty() && ahead.front() < anchor - kEps) {
    const int first = static_cast<int>(std::floor((cursor - current.start) / current.beat + kEps)) + 1;
    int chosen = -1;
    double change = 1e9;
    for (int j = first; j < current.beats; ++j) {
      const double d = ahead.front() - (current.start + j * current.beat);
      if (d < current.beat * (1 - o.max_bar_change) - kEps) break;
      const double n = std::max(1.0, std::round(d / current.beat));
      const double c = std::fabs(d / n / current.beat - 1.0);
      if (c <= o.max_bar_change + 1e-9 && c < change) chosen = j, change = c;
    }
    if (chosen > 0) {
      Bar shortened = current;
      shortened.beats = chosen;
      shortened.half_beat = false;
      map_.truncate_after(current.start - 2 * kEps);
      map_.append(shortened);
      current = shortened;
      anchor = current.end();
    } else {
      ahead.erase(ahead.begin());  // stays off the grid
      while (!ahead.empty() && ahead.front() < anchor - kEps) ahead.erase(ahead.begin());
    }
  }

  // A cut on the anchor itself (the bar under the cursor ends on it): that bar line is the cut's.
  while (!ahead.empty() && std::fabs(ahead.front() - anchor) <= kTick / 2) {
    anchor_is_cut = true;
    ahead.erase(ahead.begin());
  }

  // Dynamic programme over the nodes anchor, cut 1, ..., cut m: an edge a -> b spans the gap with N beats of one
  // period D / N (the cuts between a and b stay off the grid); adjacent edges' periods within max_bar_change,
  // the first one's against the bar under the cursor. Cost: distance from the preferred period, plus a large
  // cost per cut left off the grid.
  const int m = static_cast<int>(ahead.size());
  std::vector<double> node(m + 1);
  node[0] = anchor;
  for (int i = 0; i < m; ++i) node[i + 1] = ahead[i];
  struct State {
    double cost;
    double beat;
    int from_node, from_state, beats;
    bool pickup;  // the gap holds beats - 1/2 beats: the music starts half a beat into its first bar
    bool half;    // the gap holds beats + 1/2 beats: its last bar has a half beat more
  };
  std::vector<std::vector<State>> states(m + 1);
  states[0].push_back({0.0, entry_beat, -1, -1, 0, false, false});
  // At the very start a cut too early for whole beats of an allowed period (a cut 1 s in) is reached with a
  // pickup: the grid starts half a beat before the music.
  const bool pickup_allowed = entry_beat <= 0.0 && anchor <= kEps;
  constexpr double kPickupCost = 0.1;
  // A last bar with a half beat more (an odd metre before a cut) costs about a 2.5 % tempo change: where whole
  // beats need more bending, it is taken.
  constexpr double kHalfBarCost = 0.1;
  constexpr double kSkipCost = 10.0;
  // A tempo change between gaps costs more than distance from the preferred tempo: a steady pulse over several
  // cuts (the preferred tempo is reached by the drift after the last known cut).
  constexpr double kSteadyCost = 4.0;
  constexpr double kInf = std::numeric_limits<double>::infinity();
  for (int b = 1; b <= m; ++b) {
    for (int a = 0; a < b; ++a) {
      const double d = node[b] - node[a];
      if (d <= kEps) continue;
      const bool pickup_edge = pickup_allowed && a == 0;
      // In half beats: an odd count is a pickup on the first gap from the start, else a last bar with a half beat
      // more (after at least one whole beat).
      const int hmin = std::max(pickup_edge ? 1 : 2, static_cast<int>(std::ceil(2 * d / hi - 1e-9)));
      const int hmax = static_cast<int>(std::floor(2 * d / lo + 1e-9));
      for (int h = hmin; h <= hmax; ++h) {
        const bool odd = h % 2 == 1;
        const bool pickup = odd && pickup_edge;
        const bool half = odd && !pickup_edge;
        if (half && h < 3) continue;
        // whole beats of the bars: a pickup's half beat counts as a beat begun before the music
        const int n = pickup ? (h + 1) / 2 : h / 2;
        const double p = 2 * d / h;
        double best = kInf;
        int best_state = -1;
        for (size_t s = 0; s < states[a].size(); ++s) {
          if (!within(p, states[a][s].beat)) continue;
          const double q = states[a][s].beat;
          const double c = states[a][s].cost + (q > 0.0 ? kSteadyCost * std::fabs(std::log(p / q)) : 0.0);
          if (c < best) best = c, best_state = static_cast<int>(s);
        }
        if (best_state < 0) continue;
        const double cost = best + std::fabs(std::log(p / preferred)) + kSkipCost * (b - a - 1) +
                            (pickup ? kPickupCost : 0.0) + (half ? kHalfBarCost : 0.0);
        states[b].push_back({cost, p, a, best_state, n, pickup, half});
      }
    }
  }
  // The end node: the last cut reached, plus the cuts after it left off the grid.
  int end_node = 0, end_state = 0;
  double end_cost = states[0][0].cost + kSkipCost * m;
  for (int b = 1; b <= m; ++b)
    for (size_t s = 0; s < states[b].size(); ++s) {
      const double cost = states[b][s].cost + kSkipCost * (m - b);
      if (cost < end_cost - 1e-12) end_cost = cost, end_node = b, end_state = static_cast<int>(s);
    }
  std::vector<std::pair<int, int>> path;  // (node, state), from the end back to the anchor
  for (int b = end_node, s = end_state; b > 0;) {
    path.push_back({b, s});
    const State& st = states[b][s];
    b = st.from_node;
    s = st.from_state;
  }
  std::reverse(path.begin(), path.end());
  int placed = 0;
  double start = anchor, beat = entry_beat > 0.0 ? entry_beat : current.beat;
  bool cut_here = anchor_is_cut;
  for (auto [b, s] : path) {
    const State& st = states[b][s];
    append_beats(map_, st.pickup ? start - st.beat / 2 : start, st.beat, st.beats, o.beats_per_bar, cut_here,
                 st.pickup, st.half);
    start = node[b];
    beat = st.beat;
    cut_here = true;
    ++placed;
  }
  // Beyond the last placed cut the tempo holds, drifting back towards the preferred period.
  const double until = cursor + o.horizon_seconds;
  do {
    beat *= std::clamp(preferred / beat, 1.0 - o.relax_per_bar, 1.0 + o.relax_per_bar);
    map_.append({start, beat, o.beats_per_bar, false, cut_here});
    cut_here = false;
    start += beat * o.beats_per_bar;
  } while (start < until);
  return placed;
}

}  // namespace emsync::music
