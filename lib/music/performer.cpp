#include "lib/music/performer.h"

#include <algorithm>
#include <cmath>

#include "lib/midi/program_map.h"

namespace emsync::music {

VelocityOptions VelocityOptions::reference() {
  VelocityOptions o;
  o.enabled = false;
  return o;
}

EndingOptions EndingOptions::reference() {
  EndingOptions o;
  o.enabled = false;
  return o;
}

OnsetTimingOptions OnsetTimingOptions::reference() {
  OnsetTimingOptions o;
  o.enabled = false;
  return o;
}

Performer::Performer(const VelocityOptions& options, const OnsetTimingOptions& timing, uint64_t seed)
    : options_(options),
      timing_(timing),
      velocity_rng_(seed ^ 0x5fe1f0c3a9d27b41ull),
      timing_rng_(seed ^ 0x3c6ef372fe94f82bull) {}

namespace {
// Irwin-Hall sum of four uniforms from splitmix64: portable (std::normal_distribution differs between standard
// libraries), so a seed gives the same velocities and timing everywhere.
double gaussian(uint64_t& rng) {
  double sum = 0.0;
  for (int i = 0; i < 4; i++) {
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    sum += (z >> 11) * (1.0 / 9007199254740992.0);
  }
  return (sum - 2.0) * std::sqrt(3.0);  // variance of 4 uniforms is 1/3
}
}  // namespace

double Performer::accent(double time, const TempoMap& map, double last_bar) const {
  // 10 ms: a grid point's nearest 8 ms tick is within 4 ms; the rest is the decoder's rounding.
  constexpr double kTolerance = 0.010;
  double beat_seconds = options_.fallback_beat_seconds;
  int beat = -1;
  double phase = 0.0;
  const GridPosition p = map.empty() ? GridPosition{} : map.position(time);
  if (p.bar >= 0 && p.beat_seconds > 0.0) {
    beat_seconds = p.beat_seconds;
    beat = p.beat;
    phase = p.phase;
  } else {
    const double since = std::max(0.0, time - last_bar);
    beat = static_cast<int>(std::floor(since / beat_seconds + 1e-9));
    phase = since / beat_seconds - beat;
  }
  const double off = std::min(phase, 1.0 - phase) * beat_seconds;
  if (off <= kTolerance) {
    const bool next_beat = phase > 0.5;  // just before the next beat: counts as that beat
    return (beat == 0 && !next_beat) ? options_.downbeat : options_.beat;
  }
  if (std::fabs(phase - 0.5) * beat_seconds <= kTolerance) return options_.eighth;
  return options_.weak;
}

int Performer::velocity(const NoteContext& n, const TempoMap& map, double last_bar_seconds) {
  const VelocityOptions& o = options_;
  const double a = std::isnan(n.arousal) ? 0.0 : n.arousal;
  double v = o.base + o.arousal_gain * a;
  if (n.cut_chord) {
    v += o.chord + o.downbeat;
  } else {
    v += accent(n.time, map, last_bar_seconds);
    if (o.crescendo_seconds > 0.0 && n.seconds_to_cut < o.crescendo_seconds)
      v += o.crescendo * (1.0 - std::max(0.0, n.seconds_to_cut) / o.crescendo_seconds);
  }
  if (n.channel == midi::kDrumChannel) {
    const int k = n.pitch;
    if (k == 35 || k == 36 || k == 38 || k == 40)
      v += o.kick_snare;
    else if (k == 49 || k == 52 || k == 55 || k == 57)
      v += o.crash;
    else if (k == 42 || k == 44 || k == 46 || k == 51 || k == 53 || k == 59)
      v += o.cymbal;
    else
      v += o.drums;
  } else {
    using midi::Instrument;
    using midi::output_channel;
    if (n.channel == output_channel(Instrument::Bass))
      v += o.bass;
    else if (n.channel == output_channel(Instrument::Guitar))
      v += o.guitar;
    else if (n.channel == output_channel(Instrument::Piano))
      v += o.piano;
    else if (n.channel == output_channel(Instrument::Strings))
      v += o.strings;
    if (n.top_voice) v += o.top_voice;
  }
  if (o.humanise > 0.0) v += o.humanise * gaussian(velocity_rng_);
  return static_cast<int>(std::lround(std::clamp(v, 20.0, 124.0)));
}

void Performer::onset_delays(int channel, const std::vector<int>& pitches, std::vector<double>& delays) {
  const OnsetTimingOptions& o = timing_;
  delays.assign(pitches.size(), 0.0);
  if (!o.enabled || pitches.empty()) return;
  using midi::Instrument;
  using midi::output_channel;
  const bool rhythm = channel == midi::kDrumChannel || channel == output_channel(Instrument::Bass);
  const double sd = rhythm ? o.rhythm_sd_seconds : o.sd_seconds;
  const double together = std::fabs(sd * gaussian(timing_rng_));
  double spread = 0.0;
  if (channel == output_channel(Instrument::Guitar))
    spread = o.strum_seconds;
  else if (channel == output_channel(Instrument::Piano))
    spread = o.roll_seconds;
  // Rank of each pitch from the lowest: the strum's order.
  for (size_t i = 0; i < pitches.size(); i++) {
    size_t below = 0;
    for (size_t j = 0; j < pitches.size(); j++)
      if (pitches[j] < pitches[i] || (pitches[j] == pitches[i] && j < i)) below++;
    delays[i] = std::min(o.max_seconds, together + spread * static_cast<double>(below));
  }
}

}  // namespace emsync::music
