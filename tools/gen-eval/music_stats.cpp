// Musical statistics of a note list (definitions in music_stats.h).
#include "tools/gen-eval/music_stats.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

namespace gen_eval {

namespace md = emsync::midi;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int kNullSamples = 8;  // random surrogates per window for the pulse's chance level

double median_of(std::vector<double> v) {
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double share(long part, long whole) {
  return whole > 0 ? static_cast<double>(part) / whole : kNaN;
}

struct Cluster {
  double time = 0;
  double span = 0;
  int onsets = 0;
};

std::vector<Cluster> onset_clusters(const std::vector<md::Note>& notes, double cluster_seconds) {
  std::vector<double> on;
  on.reserve(notes.size());
  for (const auto& n : notes) on.push_back(n.start_seconds);
  std::sort(on.begin(), on.end());
  std::vector<Cluster> out;
  for (double t : on) {
    if (out.empty() || t - out.back().time > cluster_seconds) {
      out.push_back({t, 0.0, 1});
    } else {
      out.back().span = t - out.back().time;
      ++out.back().onsets;
    }
  }
  return out;
}

// The best grid of one window: spacing, phase (a grid point's time) and chance-corrected score.
struct GridFit {
  double start = 0, end = 0;
  int clusters = 0;
  double spacing = kNaN, phase = 0, score = kNaN;
};

GridFit fit_grid(const std::vector<double>& times, double start, double end, const MusicStatsOptions& o) {
  GridFit best;
  best.start = start;
  best.end = end;
  best.clusters = static_cast<int>(times.size());
  const size_t n = times.size();
  const double tol = o.grid_tolerance;
  std::vector<double> ph(2 * n);
  for (double g = o.min_grid_seconds; g <= o.max_grid_seconds * (1 + 1e-9); g *= 1.01) {
    for (size_t i = 0; i < n; ++i) ph[i] = std::fmod(times[i] - start, g);
    std::sort(ph.begin(), ph.begin() + n);
    for (size_t i = 0; i < n; ++i) ph[n + i] = ph[i] + g;  // unrolled circle
    // Largest number of phases in an arc of width 2 * tol (two pointers over the unrolled circle).
    size_t j = 0, most = 0, at = 0;
    for (size_t i = 0; i < n; ++i) {
      if (j < i) j = i;
      while (j + 1 < 2 * n && j + 1 < i + n && ph[j + 1] - ph[i] <= 2 * tol) ++j;
      if (j - i + 1 > most) {
        most = j - i + 1;
        at = i;
      }
    }
    const double c = std::min(1.0, 2 * tol / g);
    const double h = static_cast<double>(most) / n;
    const double score = c < 1.0 ? (h - c) / (1 - c) : 0.0;
    if (!(score <= best.score)) {
      best.score = score;
      best.spacing = g;
      double sum = 0;  // phase: the mean of the arc's phases
      for (size_t k = at; k < at + most; ++k) sum += ph[k];
      best.phase = start + sum / most;
    }
  }
  return best;
}

double distance_to_grid(double t, double phase, double step) {
  const double r = std::fmod(t - phase, step);
  const double a = r < 0 ? r + step : r;
  return std::min(a, step - a);
}

double distance_to_sorted(const std::vector<double>& v, double x) {
  auto it = std::lower_bound(v.begin(), v.end(), x);
  double d = std::numeric_limits<double>::infinity();
  if (it != v.end()) d = std::min(d, *it - x);
  if (it != v.begin()) d = std::min(d, x - *(it - 1));
  return d;
}

// The chance-corrected pulse of onset-cluster times (sorted): one grid fit per window of window_seconds from
// `begin`, weighted by the window's clusters; the windows' fits (score chance-corrected) go to `fits` if given.
double windowed_pulse(const std::vector<double>& times, double begin, double finish,
                      const MusicStatsOptions& o, std::vector<GridFit>* fits) {
  double weighted = 0;
  long weight = 0;
  int window = 0;
  for (double w0 = begin; w0 < finish; w0 += o.window_seconds) {
    std::vector<double> in;
    for (double t : times)
      if (t >= w0 && t < w0 + o.window_seconds) in.push_back(t);
    if (in.size() < 8) continue;
    ++window;
    GridFit fit = fit_grid(in, w0, w0 + o.window_seconds, o);
    // The best of many grids fits random onsets too (the more so, the fewer onsets): subtract what the same
    // number of onsets placed at random in the window scores on average.
    std::mt19937_64 rng(0x5eed + window);
    // (over the part of the window the onsets cover: a last, partial window's onsets all lie before its end)
    std::uniform_real_distribution<double> u(w0, std::min(w0 + o.window_seconds, finish));
    double null_score = 0;
    for (int k = 0; k < kNullSamples; ++k) {
      std::vector<double> r(in.size());
      for (double& t : r) t = u(rng);
      null_score += fit_grid(r, w0, w0 + o.window_seconds, o).score / kNullSamples;
    }
    fit.score = (fit.score - null_score) / (1 - null_score);
    weighted += fit.score * fit.clusters;
    weight += fit.clusters;
    if (fits) fits->push_back(fit);
  }
  return weight > 0 ? weighted / weight : kNaN;
}

// Score time: a time's position in beats (linear between the score's beats, extrapolated at the ends with the
// first and last beat), times the mean beat of the score, so that the fit's spacings and tolerance keep their
// meaning in seconds. At a constant tempo it is the time itself.
std::vector<double> to_score_time(const std::vector<double>& times, const std::vector<double>& beats) {
  const size_t n = beats.size();
  const double mean_beat = (beats.back() - beats.front()) / static_cast<double>(n - 1);
  std::vector<double> out;
  out.reserve(times.size());
  for (double t : times) {
    size_t k = static_cast<size_t>(std::upper_bound(beats.begin(), beats.end(), t) - beats.begin());
    k = std::min(std::max<size_t>(k, 1),
                 n - 1);  // the beat interval [k - 1, k] that holds or is nearest to t
    const double position = (k - 1) + (t - beats[k - 1]) / (beats[k] - beats[k - 1]);
    out.push_back(beats.front() + position * mean_beat);
  }
  return out;
}

InstrumentNoteStats note_stats(std::vector<const md::Note*> ns, const MusicStatsOptions& o) {
  InstrumentNoteStats s;
  s.notes = static_cast<long>(ns.size());
  if (ns.empty()) return s;
  std::sort(ns.begin(), ns.end(), [](const md::Note* a, const md::Note* b) {
    return a->start_seconds != b->start_seconds ? a->start_seconds < b->start_seconds : a->pitch < b->pitch;
  });
  long shorter = 0, restrikes = 0, repeats = 0, followers = 0;
  std::vector<double> lengths;
  std::map<int, double> last_onset;  // per pitch
  for (size_t i = 0; i < ns.size(); ++i) {
    const md::Note& n = *ns[i];
    const double len = n.end_seconds - n.start_seconds;
    lengths.push_back(len);
    if (len < o.short_note_seconds) ++shorter;
    auto it = last_onset.find(n.pitch);
    if (it != last_onset.end() && n.start_seconds - it->second < o.restrike_seconds) ++restrikes;
    last_onset[n.pitch] = n.start_seconds;
    if (i > 0) {
      ++followers;
      if (ns[i - 1]->pitch == n.pitch) ++repeats;
    }
  }
  s.short_share = share(shorter, s.notes);
  s.median_seconds = median_of(lengths);
  s.restrike_share = share(restrikes, s.notes);
  s.repeated_pitch_share = share(repeats, followers);
  return s;
}

}  // namespace

emsync::music::Key duration_weighted_key(const std::vector<md::Note>& notes) {
  std::array<double, 12> hist{};
  for (const auto& n : notes) {
    if (n.instrument == md::Instrument::Drums) continue;
    hist[((n.pitch % 12) + 12) % 12] += std::max(n.end_seconds - n.start_seconds, 0.008);
  }
  return emsync::music::find_key(hist);
}

void jitter_notes(std::vector<md::Note>& notes, double sd, std::mt19937_64& rng) {
  std::normal_distribution<double> d(0.0, sd);
  for (auto& n : notes) {
    const double shift = std::max(-n.start_seconds, d(rng));
    n.start_seconds += shift;
    n.end_seconds += shift;
  }
}

double pitch_class_entropy(const std::vector<md::Note>& notes) {
  std::array<double, 12> pcs{};
  long pitched = 0;
  for (const auto& n : notes)
    if (n.instrument != md::Instrument::Drums) {
      pcs[((n.pitch % 12) + 12) % 12] += 1;
      ++pitched;
    }
  if (!pitched) return kNaN;
  double h = 0;
  for (double c : pcs)
    if (c > 0) h -= (c / pitched) * std::log2(c / pitched);
  return h;
}

MusicStatistics compute_music_statistics(const std::vector<md::Note>& notes, const MusicStatsOptions& o) {
  MusicStatistics s;
  if (notes.empty()) return s;
  double begin = notes.front().start_seconds, finish = begin;
  for (const auto& n : notes) {
    begin = std::min(begin, n.start_seconds);
    finish = std::max(finish, std::max(n.end_seconds, n.start_seconds));
  }

  // Onset clusters, smear and the most frequent gap.
  const std::vector<Cluster> clusters = onset_clusters(notes, o.cluster_seconds);
  s.clusters = static_cast<long>(clusters.size());
  long multi = 0, smeared = 0;
  std::map<long, long> gaps;  // 4 ms bins
  for (size_t i = 0; i < clusters.size(); ++i) {
    if (clusters[i].onsets >= 2) {
      ++multi;
      if (clusters[i].span > o.smear_seconds) ++smeared;
    }
    if (i > 0) {
      const double gap = clusters[i].time - clusters[i - 1].time;
      if (gap <= 2.0) ++gaps[std::lround(gap / 0.004)];
    }
  }
  s.smear_share = share(smeared, multi);
  long best_count = 0;
  for (const auto& kv : gaps)
    if (kv.second > best_count) {
      best_count = kv.second;
      s.modal_gap_seconds = kv.first * 0.004;
    }

  // Pulse: one grid fit per window, in seconds and in the score's beats.
  std::vector<double> times;
  for (const auto& c : clusters) times.push_back(c.time);
  std::vector<GridFit> fits;
  s.pulse = windowed_pulse(times, begin, times.back() + 1e-9, o, &fits);
  std::vector<double> spacings;
  for (const auto& f : fits) spacings.push_back(f.spacing);
  s.grid_seconds = median_of(spacings);
  if (o.beat_times.size() >= 2) {
    const std::vector<double> score = to_score_time(times, o.beat_times);
    s.score_pulse = windowed_pulse(score, score.front(), score.back() + 1e-9, o, nullptr);
  }

  // Notes per instrument and over all pitched notes.
  std::array<std::vector<const md::Note*>, md::kNumInstruments> by_instrument;
  std::vector<const md::Note*> pitched;
  for (const auto& n : notes) {
    by_instrument[md::instrument_index(n.instrument)].push_back(&n);
    if (n.instrument != md::Instrument::Drums) pitched.push_back(&n);
  }
  for (int i = 0; i < md::kNumInstruments; ++i) s.per_instrument[i] = note_stats(by_instrument[i], o);
  // Over all pitched notes: lengths and re-strikes pooled, repeated pitch counted within each instrument.
  s.pitched = note_stats(pitched, o);
  {
    long repeats = 0, followers = 0, restrikes = 0;
    for (int i = 0; i < md::kNumInstruments; ++i) {
      if (i == md::instrument_index(md::Instrument::Drums)) continue;
      const auto& st = s.per_instrument[i];
      if (st.notes > 1) {
        repeats += std::lround(st.repeated_pitch_share * (st.notes - 1));
        followers += st.notes - 1;
      }
      if (st.notes > 0) restrikes += std::lround(st.restrike_share * st.notes);
    }
    s.pitched.repeated_pitch_share = share(repeats, followers);
    s.pitched.restrike_share = share(restrikes, s.pitched.notes);
  }

  s.pc_entropy = pitch_class_entropy(notes);

  // Key stability: windows in the piece's key.
  const emsync::music::Key whole = duration_weighted_key(notes);
  if (whole.tonic >= 0) {
    long windows = 0, same = 0;
    for (double w0 = begin; w0 < finish; w0 += o.key_window_seconds) {
      std::vector<md::Note> in;
      for (const auto& n : notes)
        if (n.instrument != md::Instrument::Drums && n.start_seconds >= w0 &&
            n.start_seconds < w0 + o.key_window_seconds)
          in.push_back(n);
      if (in.size() < 6) continue;
      const emsync::music::Key k = duration_weighted_key(in);
      if (k.tonic < 0) continue;
      ++windows;
      same += k.tonic == whole.tonic && k.major == whole.major;
    }
    s.key_stability = share(same, windows);
  }

  // Velocity spread (population standard deviation over all notes).
  {
    double sum = 0, sq = 0;
    for (const auto& n : notes) sum += n.velocity;
    const double m = sum / notes.size();
    for (const auto& n : notes) sq += (n.velocity - m) * (n.velocity - m);
    s.velocity_std = std::sqrt(sq / notes.size());
  }

  // Cuts on downbeats.
  s.cuts = static_cast<long>(o.cuts.size());
  if (!o.cuts.empty()) {
    long on = 0, judged = 0;
    for (double cut : o.cuts) {
      if (!o.bar_times.empty()) {
        ++judged;
        on += distance_to_sorted(o.bar_times, cut) <= o.grid_tolerance + 1e-9;
        continue;
      }
      const GridFit* f = nullptr;
      for (const auto& g : fits)
        if (cut >= g.start && cut < g.end) f = &g;
      if (!f) continue;
      ++judged;
      // The bar phase: of the 4 grid steps, the one with the most note onsets on it.
      std::array<long, 4> counts{};
      for (const auto& n : notes) {
        if (n.start_seconds < f->start || n.start_seconds >= f->end) continue;
        if (distance_to_grid(n.start_seconds, f->phase, f->spacing) > o.grid_tolerance) continue;
        const long step = std::lround((n.start_seconds - f->phase) / f->spacing);
        ++counts[((step % 4) + 4) % 4];
      }
      const int j = static_cast<int>(std::max_element(counts.begin(), counts.end()) - counts.begin());
      on += distance_to_grid(cut, f->phase + j * f->spacing, 4 * f->spacing) <= o.grid_tolerance + 1e-9;
    }
    s.cuts_on_downbeat = share(on, judged);
  }

  // Tempo change between adjacent bars.
  {
    std::vector<double> d;
    if (o.bar_times.size() >= 3) {
      // Per beat where the bars' beats are known (a short bar is no change of tempo).
      for (size_t i = 1; i < o.bar_times.size(); ++i)
        d.push_back((o.bar_times[i] - o.bar_times[i - 1]) /
                    (o.bar_beats.size() == o.bar_times.size() ? std::max(0.5, o.bar_beats[i - 1]) : 1.0));
    } else {
      for (const auto& f : fits) d.push_back(4 * f.spacing);
    }
    double sum = 0;
    long k = 0;
    for (size_t i = 1; i < d.size(); ++i)
      if (d[i - 1] > 0) {
        sum += std::fabs(d[i] - d[i - 1]) / d[i - 1];
        ++k;
      }
    if (k) s.tempo_change = sum / k;
  }

  if (o.forced_release_seconds > 0) {
    long held = 0;
    for (const auto* n : pitched)
      held += n->end_seconds - n->start_seconds >= o.forced_release_seconds - 0.001;
    s.forced_release_share = share(held, static_cast<long>(pitched.size()));
  }
  return s;
}

}  // namespace gen_eval
