// emsync-gen-eval stats: musical statistics and token/MIDI validity of generated pieces and of MIDI corpus folders.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <functional>
#include <random>
#include <sys/stat.h>

#include "lib/midi/smf.h"
#include "lib/midi/tokenizer.h"
#include "tools/gen-eval/common.h"
#include "tools/gen-eval/musicality.h"

namespace gen_eval {

namespace {

struct StatsSummary {
  std::string label;
  int pieces = 0;
  double seconds = 0;
  std::vector<MusicStats> s;
  TokenChecks checks;  // summed
  bool have_checks = false;
  MidiChecks midi;  // summed (generated pieces only)
  bool have_midi = false;
};

// Mean over a summary's pieces of one statistic.
double mean_over(const StatsSummary& x, const std::function<double(const MusicStats&)>& f) {
  std::vector<double> v;
  for (const auto& s : x.s) v.push_back(f(s));
  return mean(v);
}

double major_share(const MusicStats& s) {
  return s.key.tonic < 0 ? kNaN : (s.key.major ? 1.0 : 0.0);
}

// The per-piece statistics the summary averages: JSON key, table header, printf format (null: a percentage).
struct Column {
  const char* key;
  const char* header;
  const char* format;
  double (*get)(const MusicStats&);
};
const Column kColumns[] = {
    {"pitch_class_entropy_bits", "pitch-class entropy (bits)", "%.3f",
     [](const MusicStats& s) { return s.pc_entropy; }},
    {"polyphony", "polyphony", "%.2f", [](const MusicStats& s) { return s.polyphony; }},
    {"notes_per_second", "notes/s", "%.2f", [](const MusicStats& s) { return s.notes_per_second; }},
    {"density_per_instrument", "notes/s/instrument", "%.2f",
     [](const MusicStats& s) { return s.density_per_instrument; }},
    {"instruments", "instruments", "%.2f",
     [](const MusicStats& s) { return static_cast<double>(s.instruments); }},
    {"silent_bar_share", "silent 2 s windows", nullptr,
     [](const MusicStats& s) { return s.silent_bar_share; }},
    {"major_share", "major key", nullptr, major_share},
};
// The timing, note and dynamics statistics of music_stats.h (issue 14's table).
const Column kMusicColumns[] = {
    {"pulse", "pulse on a grid", "%.2f", [](const MusicStats& s) { return s.music.pulse; }},
    {"score_pulse", "pulse in score time", "%.2f", [](const MusicStats& s) { return s.music.score_pulse; }},
    {"grid_seconds", "grid s", "%.3f", [](const MusicStats& s) { return s.music.grid_seconds; }},
    {"smear_share", "smeared clusters (> 4 ms)", nullptr,
     [](const MusicStats& s) { return s.music.smear_share; }},
    {"modal_gap_ms", "most frequent gap ms", "%.0f",
     [](const MusicStats& s) { return 1000.0 * s.music.modal_gap_seconds; }},
    {"short_note_share", "notes < 100 ms", nullptr,
     [](const MusicStats& s) { return s.music.pitched.short_share; }},
    {"median_note_ms", "median note ms", "%.0f",
     [](const MusicStats& s) { return 1000.0 * s.music.pitched.median_seconds; }},
    {"restrike_share", "re-strikes (< 100 ms)", nullptr,
     [](const MusicStats& s) { return s.music.pitched.restrike_share; }},
    {"repeated_pitch_share", "repeated pitch", nullptr,
     [](const MusicStats& s) { return s.music.pitched.repeated_pitch_share; }},
    {"key_stability", "key stability", nullptr, [](const MusicStats& s) { return s.music.key_stability; }},
    {"velocity_std", "velocity std", "%.1f", [](const MusicStats& s) { return s.music.velocity_std; }},
    {"cuts_on_downbeat", "cuts on a downbeat", nullptr,
     [](const MusicStats& s) { return s.music.cuts_on_downbeat; }},
    {"tempo_change", "tempo change/bar", nullptr, [](const MusicStats& s) { return s.music.tempo_change; }},
    {"forced_release_share", "notes >= 4 s (forced release)", nullptr,
     [](const MusicStats& s) { return s.music.forced_release_share; }},
};

template <size_t N>
void add_columns_table(const std::string& title, const Column (&columns)[N],
                       const std::vector<StatsSummary>& all) {
  Table t{title, {"source", "pieces", "minutes"}, {}};
  for (const Column& c : columns) t.header.push_back(c.header);
  for (const auto& x : all) {
    std::vector<std::string> row{x.label, std::to_string(x.pieces), fmt("%.1f", x.seconds / 60.0)};
    for (const Column& c : columns) {
      const double v = mean_over(x, c.get);
      row.push_back(c.format ? fmt(c.format, v) : fmt_pct(v));
    }
    t.rows.push_back(row);
  }
  t.print();
}

Json summary_json(const StatsSummary& x) {
  Json j = Json::object();
  j["label"] = x.label;
  j["pieces"] = x.pieces;
  j["seconds"] = x.seconds;
  for (const Column& c : kColumns) j[c.key] = mean_over(x, c.get);
  for (const Column& c : kMusicColumns) j[c.key] = mean_over(x, c.get);
  if (x.have_checks) {
    Json c = Json::object();
    c["tokens"] = x.checks.tokens;
    c["off_of_silent_key"] = x.checks.off_of_silent;
    c["duplicate_on"] = x.checks.duplicate_on;
    c["masked_special_tokens"] = x.checks.masked_special;
    c["invalid_total"] = x.checks.invalid();
    c["hanging_at_end"] = x.checks.hanging_at_end;
    j["token_checks"] = c;
  }
  if (x.have_midi) {
    Json c = Json::object();
    c["note_ons"] = x.midi.note_ons;
    c["note_offs"] = x.midi.note_offs;
    c["off_without_on"] = x.midi.off_without_on;
    c["on_while_sounding"] = x.midi.on_while_sounding;
    c["time_reversals"] = x.midi.time_reversals;
    c["hanging_after_flush"] = x.midi.hanging_after_flush;
    j["midi_checks"] = c;
  }
  return j;
}

void print_stats_tables(const std::vector<StatsSummary>& all, const std::string& what) {
  add_columns_table("Musicality statistics (" + what + "; mean over pieces)", kColumns, all);
  add_columns_table("Pulse, onsets, notes and dynamics (" + what + "; mean over pieces)", kMusicColumns, all);
  Table c{"Token-stream validity (" + what + ")",
          {"source", "tokens", "OFF of silent key", "duplicate ON", "masked special tokens", "invalid total",
           "hanging ONs at end", "hanging per piece"},
          {}};
  for (const auto& x : all) {
    if (!x.have_checks) continue;
    c.rows.push_back({x.label, std::to_string(x.checks.tokens), std::to_string(x.checks.off_of_silent),
                      std::to_string(x.checks.duplicate_on), std::to_string(x.checks.masked_special),
                      std::to_string(x.checks.invalid()), std::to_string(x.checks.hanging_at_end),
                      fmt("%.2f", x.pieces ? double(x.checks.hanging_at_end) / x.pieces : kNaN)});
  }
  c.print();
  Table m{
      "Delivered MIDI (tokens through TokenStreamDecoder, flush at the end, as emsyncmidigen does at EOS)",
      {"source", "note-ons", "note-offs", "note-off of a silent key", "note-on of a sounding key",
       "time going backwards", "notes hanging after flush"},
      {}};
  for (const auto& x : all) {
    if (!x.have_midi) continue;
    m.rows.push_back({x.label, std::to_string(x.midi.note_ons), std::to_string(x.midi.note_offs),
                      std::to_string(x.midi.off_without_on), std::to_string(x.midi.on_while_sounding),
                      std::to_string(x.midi.time_reversals), std::to_string(x.midi.hanging_after_flush)});
  }
  if (!m.rows.empty()) m.print();
}

bool has_midi_ext(const std::string& name) {
  std::string l = name;
  std::transform(l.begin(), l.end(), l.begin(), ::tolower);
  auto ends = [&](const char* e) {
    const size_t n = std::strlen(e);
    return l.size() >= n && l.compare(l.size() - n, n, e) == 0;
  };
  return ends(".mid") || ends(".midi");
}

void list_midi(const std::string& path, std::vector<std::string>& out) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return;
  if (S_ISREG(st.st_mode)) {
    if (has_midi_ext(path)) out.push_back(path);
    return;
  }
  if (!S_ISDIR(st.st_mode)) return;
  DIR* d = opendir(path.c_str());
  if (!d) return;
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    names.emplace_back(e->d_name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  for (const auto& n : names) list_midi(path + "/" + n, out);
}

// One corpus file's notes, shifted to start at 0 (the training tokenisation removes leading silence) and cut
// at max_seconds when > 0, with its bar lines when the file has a metrical division (4 quarters a bar: the
// reader does not keep time signatures). False (and `failed` counted for an unreadable file) when the file
// gives no piece of at least 2 s.
struct CorpusPiece {
  std::vector<md::Note> notes;
  double seconds = 0;
  std::vector<double> bar_times;
  std::vector<double> beat_times;
};

// Where a file's tempo map puts each quarter note from `start` (seconds) for `seconds`, shifted by -start; empty
// for an SMPTE division (no beats).
std::vector<double> score_beats(const md::SmfFile& smf, double start, double seconds) {
  std::vector<double> beats;
  if (smf.ticks_per_quarter <= 0) return beats;
  const uint64_t first =
      static_cast<uint64_t>(std::floor(smf.tempo_map.ticks(start) / smf.ticks_per_quarter));
  for (uint64_t k = first;; ++k) {
    const double t = smf.tempo_map.seconds(k * smf.ticks_per_quarter) - start;
    beats.push_back(t);
    if (t > seconds) break;
  }
  return beats;
}

bool read_corpus_piece(const std::string& file, double max_seconds, CorpusPiece& piece, long& failed) {
  std::vector<md::Note>& notes = piece.notes;
  md::SmfFile smf;
  try {
    smf = md::read_smf_file(file);
    notes = md::notes_from_smf(smf);
  } catch (const std::exception& e) {
    ++failed;
    return false;
  }
  if (notes.empty()) return false;
  double start = notes.front().start_seconds, end = start;
  for (const auto& n : notes) {
    start = std::min(start, n.start_seconds);
    end = std::max(end, n.end_seconds);
  }
  if (max_seconds > 0 && end - start > max_seconds) {
    end = start + max_seconds;
    std::vector<md::Note> kept;
    for (auto n : notes)
      if (n.start_seconds < end) {
        n.end_seconds = std::min(n.end_seconds, end);
        kept.push_back(n);
      }
    notes.swap(kept);
  }
  if (end - start < 2.0) return false;
  for (auto& n : notes) {
    n.start_seconds -= start;
    n.end_seconds -= start;
  }
  piece.seconds = end - start;
  piece.beat_times = score_beats(smf, start, piece.seconds);
  piece.bar_times.clear();
  if (smf.ticks_per_quarter > 0) {
    const uint64_t bar = 4ull * smf.ticks_per_quarter;
    for (uint64_t k = 0;; ++k) {
      const double t = smf.tempo_map.seconds(k * bar) - start;
      if (t > piece.seconds) break;
      if (t >= -1e-9) piece.bar_times.push_back(t);
    }
  }
  return true;
}

}  // namespace

int cmd_stats(const Args& a) {
  Json out = header_json(a, "stats");
  std::vector<StatsSummary> all;
  std::string what;
  if (!a.model.empty()) {
    const int pieces = a.pieces > 0 ? a.pieces : 5;
    const double seconds = a.seconds > 0 ? a.seconds : 60.0;
    ModelInfo info = open_model(a, out);
    const mu::SyncMode mode = parse_sync(a.sync);
    std::mt19937_64 rng(a.seed);
    MusicStatsOptions options;
    options.forced_release_seconds = mu::ComposerOptions{}.max_note_seconds;
    StatsSummary x;
    x.label = std::string("generated, sync ") + sync_name(mode);
    x.have_checks = true;
    x.have_midi = true;
    // Without --grid: `pieces` pieces at neutral emotion; with it, `pieces` per (valence, arousal) pair and a
    // summary per valence beside the one over all.
    const std::vector<double> grid = a.grid_given ? a.grid : std::vector<double>{0.0};
    std::vector<StatsSummary> rows;
    Json per = Json::array();
    int index = 0;
    for (double v : grid) {
      StatsSummary row;
      row.have_checks = row.have_midi = true;
      row.label = "generated, valence " + fmt("%+.1f", v) + ", sync " + sync_name(mode);
      for (double ar : grid)
        for (int i = 0; i < pieces; ++i, ++index) {
          GenRequest req = request_from_args(a, mode, a.seed * 1000 + index, seconds);
          if (mode != mu::SyncMode::None) req.cuts = random_cuts(rng, seconds);
          if (a.grid_given) {
            req.valence = static_cast<float>(v);
            req.arousal = static_cast<float>(ar);
          }
          Piece p = compose(info.model, req);
          options.cuts = p.kept_cuts;
          options.bar_times = p.bar_times;  // the planned grid, where the composer had one
          options.bar_beats = p.bar_beats;
          std::vector<uint8_t> smf;
          md::SmfFile delivered;
          const std::vector<md::Note> notes = delivered_notes(p, &smf, &delivered);
          options.beat_times = score_beats(delivered, 0.0, seconds);
          MusicStats st = music_stats(notes, 0.0, seconds, options);
          if (!a.save_midi.empty())
            md::write_file(a.save_midi + "/piece-" + std::to_string(index) + ".mid", smf);
          TokenChecks ck = check_tokens(p.raw);
          const MidiChecks mc = check_midi(p.midi);
          for (StatsSummary* sum : {&x, &row}) {
            add_checks(sum->checks, ck);
            add_checks(sum->midi, mc);
            sum->s.push_back(st);
            ++sum->pieces;
            sum->seconds += seconds;
          }
          Json pj = stats_json(st);
          if (a.grid_given) {
            pj["valence"] = v;
            pj["arousal"] = ar;
          }
          pj["tokens"] = p.tokens.size();
          pj["invalid_tokens"] = ck.invalid();
          pj["hanging_at_end"] = ck.hanging_at_end;
          per.push(pj);
        }
      rows.push_back(row);
    }
    out["generated"] = summary_json(x);
    out["generated"]["pieces_detail"] = per;
    if (a.grid_given) {
      x.label = std::string("generated, all, sync ") + sync_name(mode);
      Json by_v = Json::array();
      for (const auto& r : rows) {
        by_v.push(summary_json(r));
        all.push_back(r);
      }
      out["generated_by_valence"] = by_v;
    }
    all.push_back(x);
    what = std::to_string(x.pieces) + " generated pieces x " + fmt("%.0f", seconds) + " s";
    if (a.grid_given) what += " over the valence x arousal grid";
  }
  if (!a.midi.empty()) {
    Json corp = Json::array();
    long failed = 0;
    for (const auto& root : a.midi) {
      std::vector<std::string> files;
      list_midi(root, files);
      if (files.empty()) {
        std::fprintf(stderr, "emsync-gen-eval: no MIDI files under '%s' (skipped)\n", root.c_str());
        continue;
      }
      std::mt19937_64 rng(a.seed);
      std::shuffle(files.begin(), files.end(), rng);
      StatsSummary x;
      std::string label = root;
      while (label.size() > 1 && label.back() == '/') label.pop_back();
      if (auto slash = label.find_last_of('/'); slash != std::string::npos) label = label.substr(slash + 1);
      x.label = a.jitter_ms > 0 ? label + " + " + fmt("%.0f", a.jitter_ms) + " ms jitter" : label;
      x.have_checks = true;
      std::mt19937_64 jitter_rng(a.seed + 1);
      for (const auto& f : files) {
        if (a.max_files > 0 && x.pieces >= a.max_files) break;
        CorpusPiece piece;
        if (!read_corpus_piece(f, a.max_midi_seconds, piece, failed)) continue;
        MusicStatsOptions options;
        options.forced_release_seconds = mu::ComposerOptions{}.max_note_seconds;
        if (a.jitter_ms > 0) {
          jitter_notes(piece.notes, a.jitter_ms / 1000.0, jitter_rng);
        } else {
          options.bar_times = piece.bar_times;  // a jittered file no longer follows its tempo map
        }
        options.beat_times = piece.beat_times;  // (its score pulse falls with the jitter like its pulse)
        x.s.push_back(music_stats(piece.notes, 0.0, piece.seconds, options));
        // What the tokenizer makes of the file, with the same checks as generated streams (a check of the checks).
        add_checks(x.checks, check_tokens(md::encode(piece.notes)));
        ++x.pieces;
        x.seconds += piece.seconds;
      }
      corp.push(summary_json(x));
      all.push_back(x);
    }
    out["corpus"] = corp;
    out["corpus_unreadable_files"] = failed;
    if (!what.empty()) what += " vs ";
    what += "corpus sample of up to " + std::to_string(a.max_files) + " files per folder";
  }
  if (all.empty()) throw std::runtime_error("stats needs --model and/or --midi with readable files");
  print_stats_tables(all, what);
  std::printf(
      "(polyphony: mean number of non-drum notes sounding while at least one sounds; silent window: 2 s "
      "without any note sounding; corpus token checks run on the corpus re-encoded by lib/midi encode())\n");
  write_json(a, out);
  return 0;
}

}  // namespace gen_eval
