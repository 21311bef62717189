// emsync-gen-eval: musical statistics and token/MIDI checks (see musicality.h).
#include "tools/gen-eval/musicality.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "lib/midi/tokenizer.h"
#include "lib/midi/vocab.h"

namespace gen_eval {

MusicStats music_stats(const std::vector<md::Note>& notes, double start, double end,
                       const MusicStatsOptions& options) {
  MusicStats s;
  s.duration = std::max(end - start, 1e-9);
  s.notes = static_cast<long>(notes.size());
  s.notes_per_second = s.notes / s.duration;
  bool used[md::kNumInstruments] = {};
  for (const auto& n : notes) used[md::instrument_index(n.instrument)] = true;
  for (bool u : used) s.instruments += u;
  s.density_per_instrument = s.instruments ? s.notes_per_second / s.instruments : 0.0;
  s.pc_entropy = pitch_class_entropy(notes);
  // Polyphony: sweep over non-drum note boundaries.
  std::vector<std::pair<double, int>> ev;
  for (const auto& n : notes)
    if (n.instrument != md::Instrument::Drums && n.end_seconds > n.start_seconds) {
      ev.emplace_back(n.start_seconds, +1);
      ev.emplace_back(n.end_seconds, -1);
    }
  std::sort(ev.begin(), ev.end());
  double weighted = 0, sounding_time = 0;
  int cur = 0;
  for (size_t i = 0; i < ev.size(); ++i) {
    cur += ev[i].second;
    if (i + 1 < ev.size()) {
      const double dt = ev[i + 1].first - ev[i].first;
      if (cur > 0 && dt > 0) {
        weighted += cur * dt;
        sounding_time += dt;
      }
    }
  }
  if (sounding_time > 0) s.polyphony = weighted / sounding_time;
  // Silent 2 s windows (any instrument; a note sounds over [start, max(end, start + 1 tick))).
  const int windows = std::max(1, static_cast<int>(std::floor(s.duration / 2.0)));
  std::vector<bool> busy(windows, false);
  for (const auto& n : notes) {
    const double a = n.start_seconds - start;
    const double b = std::max(n.end_seconds, n.start_seconds + kTick) - start;
    int w0 = std::max(0, static_cast<int>(std::floor(a / 2.0)));
    int w1 = std::min(windows - 1, static_cast<int>(std::floor((b - 1e-9) / 2.0)));
    for (int w = w0; w <= w1; ++w) busy[w] = true;
  }
  s.silent_bar_share = std::count(busy.begin(), busy.end(), false) / static_cast<double>(windows);
  const emsync::music::Key k = duration_weighted_key(notes);
  if (k.tonic >= 0) s.key = {k.tonic, k.major, k.correlation};
  s.music = compute_music_statistics(notes, options);
  return s;
}

Json stats_json(const MusicStats& s) {
  Json j = Json::object();
  j["duration_s"] = s.duration;
  j["notes"] = s.notes;
  j["notes_per_second"] = s.notes_per_second;
  j["density_per_instrument"] = s.density_per_instrument;
  j["instruments"] = s.instruments;
  j["pitch_class_entropy_bits"] = s.pc_entropy;
  j["polyphony"] = s.polyphony;
  j["silent_bar_share"] = s.silent_bar_share;
  j["key"] = s.key.name();
  j["key_major"] = s.key.tonic < 0 ? Json() : Json(s.key.major);
  j["key_r"] = s.key.r;
  j["music"] = music_statistics_json(s.music);
  return j;
}

Json music_statistics_json(const MusicStatistics& m) {
  auto notes_json = [](const InstrumentNoteStats& n) {
    Json j = Json::object();
    j["notes"] = n.notes;
    j["short_share"] = n.short_share;
    j["median_seconds"] = n.median_seconds;
    j["restrike_share"] = n.restrike_share;
    j["repeated_pitch_share"] = n.repeated_pitch_share;
    return j;
  };
  Json j = Json::object();
  j["onset_clusters"] = m.clusters;
  j["pulse"] = m.pulse;
  j["score_pulse"] = m.score_pulse;
  j["grid_seconds"] = m.grid_seconds;
  j["smear_share"] = m.smear_share;
  j["modal_gap_seconds"] = m.modal_gap_seconds;
  j["pitched"] = notes_json(m.pitched);
  Json per = Json::object();
  for (int i = 0; i < md::kNumInstruments; ++i)
    per[md::instrument_name(static_cast<md::Instrument>(i))] = notes_json(m.per_instrument[i]);
  j["per_instrument"] = per;
  j["pitch_class_entropy_bits"] = m.pc_entropy;
  j["key_stability"] = m.key_stability;
  j["velocity_std"] = m.velocity_std;
  j["cuts"] = m.cuts;
  j["cuts_on_downbeat"] = m.cuts_on_downbeat;
  j["tempo_change"] = m.tempo_change;
  j["forced_release_share"] = m.forced_release_share;
  return j;
}

TokenChecks check_tokens(const std::vector<int>& tokens) {
  TokenChecks c;
  std::vector<bool> open(md::kNumInstruments * md::kNumPitches, false);
  for (int t : tokens) {
    ++c.tokens;
    if (t == md::kPadToken || t == md::kStartToken || t == md::kLessInstrumentsToken ||
        t == md::kMoreInstrumentsToken || !md::is_valid_token(t)) {
      ++c.masked_special;
      continue;
    }
    if (!md::is_note_token(t)) continue;
    const int key =
        md::instrument_index(md::note_instrument(t)) * md::kNumPitches + md::note_pitch(t) - md::kMinPitch;
    if (md::note_is_on(t)) {
      if (open[key]) ++c.duplicate_on;
      open[key] = true;
    } else {
      if (!open[key]) ++c.off_of_silent;
      open[key] = false;
    }
  }
  c.hanging_at_end = std::count(open.begin(), open.end(), true);
  return c;
}

void add_checks(TokenChecks& sum, const TokenChecks& c) {
  sum.tokens += c.tokens;
  sum.off_of_silent += c.off_of_silent;
  sum.duplicate_on += c.duplicate_on;
  sum.masked_special += c.masked_special;
  sum.hanging_at_end += c.hanging_at_end;
}

MidiChecks check_midi(const std::vector<md::MidiEvent>& ev) {
  MidiChecks c;
  std::vector<bool> sounding(16 * 128, false);
  double last = -1e300;
  for (const auto& e : ev) {
    if (e.time_seconds < last) ++c.time_reversals;
    last = std::max(last, e.time_seconds);
    const int type = e.status & 0xF0;
    const int key = (e.status & 0x0F) * 128 + (e.data1 & 0x7F);
    if (type == 0x90 && e.data2 > 0) {
      ++c.note_ons;
      if (sounding[key]) ++c.on_while_sounding;
      sounding[key] = true;
    } else if (type == 0x80 || type == 0x90) {
      ++c.note_offs;
      if (!sounding[key]) ++c.off_without_on;
      sounding[key] = false;
    }
  }
  c.hanging_after_flush = std::count(sounding.begin(), sounding.end(), true);
  return c;
}

void add_checks(MidiChecks& sum, const MidiChecks& c) {
  sum.note_ons += c.note_ons;
  sum.note_offs += c.note_offs;
  sum.off_without_on += c.off_without_on;
  sum.on_while_sounding += c.on_while_sounding;
  sum.time_reversals += c.time_reversals;
  sum.hanging_after_flush += c.hanging_after_flush;
}

}  // namespace gen_eval
