// emsync-gen-eval sync: chord onsets at kept scene cuts for hard, soft and no sync.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <set>

#include "lib/midi/tokenizer.h"
#include "lib/midi/vocab.h"
#include "tools/gen-eval/common.h"

namespace gen_eval {

namespace {

// ---------------------------------------------------------------- chord onsets

// Onset times of chords: <CHORD> tokens, and >= 3 non-drum notes starting on the same 8 ms tick.
struct Onsets {
  std::vector<double> any;           // union (sorted, one per tick)
  std::vector<double> chord_tokens;  // <CHORD> tokens only
};

Onsets chord_onsets(const Piece& p) {
  Onsets o;
  std::set<int64_t> ticks;
  for (const auto& t : p.tokens)
    if (t.token == md::kChordToken) {
      o.chord_tokens.push_back(t.time_seconds);
      ticks.insert(md::seconds_to_ticks(t.time_seconds));
    }
  std::map<int64_t, int> starts;
  for (const auto& n : piece_notes(p, true))
    if (n.instrument != md::Instrument::Drums) ++starts[md::seconds_to_ticks(n.start_seconds)];
  for (const auto& kv : starts)
    if (kv.second >= 3) ticks.insert(kv.first);
  for (int64_t t : ticks) o.any.push_back(t * kTick);
  return o;
}

double nearest_distance(const std::vector<double>& sorted, double x) {
  if (sorted.empty()) return std::numeric_limits<double>::infinity();
  auto it = std::lower_bound(sorted.begin(), sorted.end(), x);
  double d = std::numeric_limits<double>::infinity();
  if (it != sorted.end()) d = std::min(d, *it - x);
  if (it != sorted.begin()) d = std::min(d, x - *(it - 1));
  return d;
}

}  // namespace

int cmd_sync(const Args& a) {
  const int pieces = a.pieces > 0 ? a.pieces : 20;
  const double seconds = a.seconds > 0 ? a.seconds : 60.0;
  Json out = header_json(a, "sync");
  ModelInfo info = open_model(a, out);
  out["pieces"] = pieces;
  out["seconds"] = seconds;
  std::mt19937_64 rng(a.seed);
  std::vector<std::vector<double>> schedules;
  for (int i = 0; i < pieces; ++i) schedules.push_back(random_cuts(rng, seconds));

  Table t{"Chord onsets at kept scene cuts (" + std::to_string(pieces) + " pieces x " + fmt("%.0f", seconds) +
              " s, cuts 2-12 s apart, kept >= 4 s apart)",
          {"sync", "kept cuts", "onset <= 40 ms", "onset <= 1 s", "<CHORD> token <= 1 s", "served",
           "mean abs error s", "median abs error s", "chord onsets/min away from cuts", "<CHORD>/min",
           "generation/music"},
          {}};
  Json modes = Json::object();
  // "hard-grid" is a diagnostic: the same schedules with every cut moved to the nearest 8 ms tick, which
  // separates what hard sync can do from cut times that fall between ticks (e.g. 30 fps frame times).
  struct Variant {
    std::string name;
    mu::SyncMode mode;
    bool on_grid;
  };
  const std::vector<Variant> variants{{"hard", mu::SyncMode::Hard, false},
                                      {"soft", mu::SyncMode::Soft, false},
                                      {"none", mu::SyncMode::None, false},
                                      {"hard-grid", mu::SyncMode::Hard, true}};
  for (const Variant& variant : variants) {
    const mu::SyncMode mode = variant.mode;
    long kept = 0, within40 = 0, within1 = 0, token1 = 0, away = 0, chord_tokens = 0, served = 0;
    std::vector<double> errors;
    double music = 0, gen = 0;
    Json per_piece = Json::array();
    for (int i = 0; i < pieces; ++i) {
      GenRequest req = request_from_args(a, mode, a.seed * 1000 + i, seconds);
      req.cuts = schedules[i];
      if (variant.on_grid)
        for (double& c : req.cuts) c = md::seconds_to_ticks(c) * kTick;
      Piece p = compose(info.model, req);
      music += seconds;
      gen += p.gen_seconds;
      Onsets on = chord_onsets(p);
      long pk40 = 0;
      for (double c : p.kept_cuts) {
        const double e = nearest_distance(on.any, c);
        ++kept;
        if (e <= 0.040 + 1e-9) {
          ++within40;
          ++pk40;
        }
        if (e <= 1.0 + 1e-9) ++within1;
        if (nearest_distance(on.chord_tokens, c) <= 1.0 + 1e-9) ++token1;
        errors.push_back(e);
      }
      for (double o : on.any)
        if (nearest_distance(p.kept_cuts, o) > 1.0) ++away;
      chord_tokens += static_cast<long>(on.chord_tokens.size());
      served += p.cuts_served;
      Json pj = Json::object();
      pj["seed"] = static_cast<double>(req.options.seed);
      pj["cuts_offered"] = req.cuts.size();
      pj["cuts_kept"] = p.kept_cuts.size();
      pj["cuts_served"] = p.cuts_served;
      pj["kept_cut_times"] = Json::array_of(p.kept_cuts);
      pj["kept_with_onset_40ms"] = pk40;
      pj["chord_onsets"] = on.any.size();
      pj["chord_tokens"] = on.chord_tokens.size();
      pj["tokens"] = p.tokens.size();
      pj["generation_seconds"] = p.gen_seconds;
      per_piece.push(pj);
    }
    const double minutes = music / 60.0;
    Json mj = Json::object();
    mj["kept_cuts"] = kept;
    mj["share_onset_within_40ms"] = kept ? static_cast<double>(within40) / kept : kNaN;
    mj["share_onset_within_1s"] = kept ? static_cast<double>(within1) / kept : kNaN;
    mj["share_chord_token_within_1s"] = kept ? static_cast<double>(token1) / kept : kNaN;
    mj["share_served_by_schedule"] = kept ? static_cast<double>(served) / kept : kNaN;
    mj["mean_abs_error_s"] = mean(errors);
    mj["median_abs_error_s"] = median(errors);
    mj["cuts_without_any_onset"] = static_cast<long>(
        std::count_if(errors.begin(), errors.end(), [](double e) { return !std::isfinite(e); }));
    mj["onsets_away_from_cuts_per_min"] = away / minutes;
    mj["chord_tokens_per_min"] = chord_tokens / minutes;
    mj["generation_over_music"] = gen / music;
    mj["pieces"] = per_piece;
    modes[variant.name] = mj;
    t.rows.push_back(
        {variant.name, std::to_string(kept), fmt_pct(kept ? double(within40) / kept : kNaN),
         fmt_pct(kept ? double(within1) / kept : kNaN), fmt_pct(kept ? double(token1) / kept : kNaN),
         fmt_pct(kept ? double(served) / kept : kNaN), fmt("%.3f", mean(errors)), fmt("%.3f", median(errors)),
         fmt("%.1f", away / minutes), fmt("%.2f", chord_tokens / minutes), fmt("%.4f", gen / music)});
    std::fprintf(stderr, "sync %s done\n", variant.name.c_str());
  }
  t.print();
  std::printf(
      "(chord onset = a <CHORD> token or >= 3 non-drum notes starting on the same 8 ms tick; "
      "abs error = distance from the cut to the nearest onset; served = the composer's schedule marked the "
      "cut served; hard-grid = hard with the cuts moved to the nearest 8 ms tick, a diagnostic)\n");
  out["modes"] = modes;
  write_json(a, out);
  return 0;
}

}  // namespace gen_eval
