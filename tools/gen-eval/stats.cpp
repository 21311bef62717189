// emsync-gen-eval stats: musical statistics and token/MIDI validity of generated pieces and of MIDI corpus folders.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <functional>
#include <sys/stat.h>

#include "lib/midi/smf.h"
#include "lib/midi/tokenizer.h"
#include "tools/gen-eval/musicality.h"
#include "tools/gen-eval/common.h"

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

double major_share(const MusicStats& s) { return s.key.tonic < 0 ? kNaN : (s.key.major ? 1.0 : 0.0); }

// The per-piece statistics the summary averages: JSON key, table header, printf format (null: a percentage).
struct Column {
  const char* key;
  const char* header;
  const char* format;
  double (*get)(const MusicStats&);
};
const Column kColumns[] = {
    {"pitch_class_entropy_bits", "pitch-class entropy (bits)", "%.3f", [](const MusicStats& s) { return s.pc_entropy; }},
    {"polyphony", "polyphony", "%.2f", [](const MusicStats& s) { return s.polyphony; }},
    {"notes_per_second", "notes/s", "%.2f", [](const MusicStats& s) { return s.notes_per_second; }},
    {"density_per_instrument", "notes/s/instrument", "%.2f",
     [](const MusicStats& s) { return s.density_per_instrument; }},
    {"instruments", "instruments", "%.2f", [](const MusicStats& s) { return static_cast<double>(s.instruments); }},
    {"silent_bar_share", "silent 2 s windows", nullptr, [](const MusicStats& s) { return s.silent_bar_share; }},
    {"major_share", "major key", nullptr, major_share},
};

Json summary_json(const StatsSummary& x) {
  Json j = Json::object();
  j["label"] = x.label;
  j["pieces"] = x.pieces;
  j["seconds"] = x.seconds;
  for (const Column& c : kColumns) j[c.key] = mean_over(x, c.get);
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
  Table t{"Musicality statistics (" + what + "; mean over pieces)", {"source", "pieces", "minutes"}, {}};
  for (const Column& c : kColumns) t.header.push_back(c.header);
  for (const auto& x : all) {
    std::vector<std::string> row{x.label, std::to_string(x.pieces), fmt("%.1f", x.seconds / 60.0)};
    for (const Column& c : kColumns) {
      const double v = mean_over(x, c.get);
      row.push_back(c.format ? fmt(c.format, v) : fmt_pct(v));
    }
    t.rows.push_back(row);
  }
  t.print();
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
  Table m{"Delivered MIDI (tokens through TokenStreamDecoder, flush at the end, as emsyncmidigen does at EOS)",
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
// at max_seconds when > 0. False (and `failed` counted for an unreadable file) when the file gives no piece
// of at least 2 s.
bool read_corpus_piece(const std::string& file, double max_seconds, std::vector<md::Note>& notes,
                       double& seconds, long& failed) {
  try {
    notes = md::read_notes(file);
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
  seconds = end - start;
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
    StatsSummary x;
    x.label = std::string("generated, sync ") + sync_name(mode);
    x.have_checks = true;
    x.have_midi = true;
    Json per = Json::array();
    for (int i = 0; i < pieces; ++i) {
      GenRequest req = request_from_args(a, mode, a.seed * 1000 + i, seconds);
      if (mode != mu::SyncMode::None) req.cuts = random_cuts(rng, seconds);
      Piece p = compose(info.model, req);
      MusicStats st = music_stats(piece_notes(p, false), 0.0, seconds);
      TokenChecks ck = check_tokens(p.raw);
      add_checks(x.checks, ck);
      const MidiChecks mc = check_midi(p.raw, seconds);
      add_checks(x.midi, mc);
      x.s.push_back(st);
      ++x.pieces;
      x.seconds += seconds;
      Json pj = stats_json(st);
      pj["tokens"] = p.tokens.size();
      pj["invalid_tokens"] = ck.invalid();
      pj["hanging_at_end"] = ck.hanging_at_end;
      per.push(pj);
    }
    out["generated"] = summary_json(x);
    out["generated"]["pieces_detail"] = per;
    all.push_back(x);
    what = std::to_string(pieces) + " generated pieces x " + fmt("%.0f", seconds) + " s";
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
      x.label = label;
      x.have_checks = true;
      for (const auto& f : files) {
        if (a.max_files > 0 && x.pieces >= a.max_files) break;
        std::vector<md::Note> notes;
        double seconds = 0;
        if (!read_corpus_piece(f, a.max_midi_seconds, notes, seconds, failed)) continue;
        x.s.push_back(music_stats(notes, 0.0, seconds));
        // What the tokenizer makes of the file, with the same checks as generated streams (a check of the checks).
        add_checks(x.checks, check_tokens(md::encode(notes)));
        ++x.pieces;
        x.seconds += seconds;
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
  std::printf("(polyphony: mean number of non-drum notes sounding while at least one sounds; silent window: 2 s "
              "without any note sounding; corpus token checks run on the corpus re-encoded by lib/midi encode())\n");
  write_json(a, out);
  return 0;
}

}  // namespace gen_eval
