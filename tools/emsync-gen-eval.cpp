// emsync-gen-eval: speed, scene-cut sync, emotion and musicality evaluation of an emsync generator model.
//
//   emsync-gen-eval speed   --model M [--threads 1] [--seconds 30] [--ref-steps 24] [--json out.json]
//   emsync-gen-eval sync    --model M [--pieces 20] [--seconds 60] [--seed S] [--json out.json]
//   emsync-gen-eval emotion --model M [--seconds 30] [--seeds 3] [--grid -0.8,-0.4,0,0.4,0.8] [--json out.json]
//   emsync-gen-eval stats   --model M [--pieces 5] [--seconds 60] [--sync hard|soft|none] [--json out.json]
//   emsync-gen-eval stats   --midi DIR_OR_FILE... [--max-files 40] [--seed S] [--json out.json]
//
// Tables are printed as markdown pipe tables (readable in a terminal, pasteable into results.md).
// Everything runs on the CPU through lib/music (the same Composer/GeneratorSession the element uses).
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <utility>
#include <vector>

#include "lib/midi/notes.h"
#include "lib/midi/smf.h"
#include "lib/midi/tokenizer.h"
#include "lib/midi/vocab.h"
#include "lib/music/composer.h"
#include "lib/music/key_finding.h"
#include "lib/music/generator_model.h"
#include "lib/music/sampler.h"
#include "lib/music/torchscript_support.h"

namespace mu = emsync::music;
namespace md = emsync::midi;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kTick = 0.008;

// ---------------------------------------------------------------- JSON (output only)

class Json {
 public:
  enum class Kind { Null, Bool, Number, String, Array, Object };
  Json() = default;
  Json(double v) : kind_(Kind::Number), num_(v) {}  // NOLINT
  Json(int v) : kind_(Kind::Number), num_(v) {}     // NOLINT
  Json(long v) : kind_(Kind::Number), num_(static_cast<double>(v)) {}  // NOLINT
  Json(size_t v) : kind_(Kind::Number), num_(static_cast<double>(v)) {}  // NOLINT
  Json(bool v) : kind_(Kind::Bool), bool_(v) {}     // NOLINT
  Json(const char* v) : kind_(Kind::String), str_(v) {}  // NOLINT
  Json(std::string v) : kind_(Kind::String), str_(std::move(v)) {}  // NOLINT
  static Json array() { Json j; j.kind_ = Kind::Array; return j; }
  static Json object() { Json j; j.kind_ = Kind::Object; return j; }
  template <class T>
  static Json array_of(const std::vector<T>& v) {
    Json j = array();
    for (const auto& x : v) j.push(Json(x));
    return j;
  }

  Json& operator[](const std::string& key) {
    if (kind_ == Kind::Null) kind_ = Kind::Object;
    for (auto& kv : obj_)
      if (kv.first == key) return kv.second;
    obj_.emplace_back(key, Json());
    return obj_.back().second;
  }
  void push(Json v) {
    if (kind_ == Kind::Null) kind_ = Kind::Array;
    arr_.push_back(std::move(v));
  }
  std::string dump(int indent = 0) const {
    std::string out;
    write(out, indent, 0);
    return out;
  }

 private:
  static void escape(std::string& out, const std::string& s) {
    out += '"';
    for (char c : s) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
          } else {
            out += c;
          }
      }
    }
    out += '"';
  }
  void write(std::string& out, int indent, int level) const {
    auto nl = [&](int lv) {
      if (indent > 0) {
        out += '\n';
        out.append(static_cast<size_t>(indent * lv), ' ');
      }
    };
    switch (kind_) {
      case Kind::Null: out += "null"; break;
      case Kind::Bool: out += bool_ ? "true" : "false"; break;
      case Kind::Number:
        if (!std::isfinite(num_)) {
          out += "null";
        } else if (num_ == std::floor(num_) && std::fabs(num_) < 1e15) {
          out += std::to_string(static_cast<long long>(num_));
        } else {
          char buf[32];
          std::snprintf(buf, sizeof buf, "%.6g", num_);
          out += buf;
        }
        break;
      case Kind::String: escape(out, str_); break;
      case Kind::Array: {
        out += '[';
        bool scalar_only = std::all_of(arr_.begin(), arr_.end(), [](const Json& j) {
          return j.kind_ != Kind::Array && j.kind_ != Kind::Object;
        });
        for (size_t i = 0; i < arr_.size(); ++i) {
          if (i) out += scalar_only ? ", " : ",";
          if (!scalar_only) nl(level + 1);
          arr_[i].write(out, indent, level + 1);
        }
        if (!scalar_only && !arr_.empty()) nl(level);
        out += ']';
        break;
      }
      case Kind::Object: {
        out += '{';
        for (size_t i = 0; i < obj_.size(); ++i) {
          if (i) out += ',';
          nl(level + 1);
          escape(out, obj_[i].first);
          out += indent > 0 ? ": " : ":";
          obj_[i].second.write(out, indent, level + 1);
        }
        if (!obj_.empty()) nl(level);
        out += '}';
        break;
      }
    }
  }

  Kind kind_ = Kind::Null;
  double num_ = 0.0;
  bool bool_ = false;
  std::string str_;
  std::vector<Json> arr_;
  std::vector<std::pair<std::string, Json>> obj_;
};

// ---------------------------------------------------------------- tables

std::string fmt(const char* f, double v) {
  if (!std::isfinite(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}
std::string fmt_pct(double share) { return std::isfinite(share) ? fmt("%.1f %%", 100.0 * share) : "n/a"; }

struct Table {
  std::string title;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  void print() const {
    std::vector<size_t> w(header.size(), 3);
    for (size_t c = 0; c < header.size(); ++c) w[c] = std::max(w[c], header[c].size());
    for (const auto& r : rows)
      for (size_t c = 0; c < r.size() && c < w.size(); ++c) w[c] = std::max(w[c], r[c].size());
    auto line = [&](const std::vector<std::string>& cells) {
      std::string s = "|";
      for (size_t c = 0; c < w.size(); ++c) {
        std::string cell = c < cells.size() ? cells[c] : "";
        s += " " + cell + std::string(w[c] - cell.size(), ' ') + " |";
      }
      std::printf("%s\n", s.c_str());
    };
    if (!title.empty()) std::printf("\n#### %s\n\n", title.c_str());
    line(header);
    std::string sep = "|";
    for (size_t c = 0; c < w.size(); ++c) sep += std::string(w[c] + 2, '-') + "|";
    std::printf("%s\n", sep.c_str());
    for (const auto& r : rows) line(r);
    std::fflush(stdout);
  }
};

// ---------------------------------------------------------------- small statistics

double median(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
double quantile(std::vector<double> v, double q) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  const double pos = q * (v.size() - 1);
  const size_t i = static_cast<size_t>(std::floor(pos));
  const size_t j = std::min(i + 1, v.size() - 1);
  return v[i] + (pos - i) * (v[j] - v[i]);
}
double mean(const std::vector<double>& v) {
  double s = 0;
  size_t n = 0;
  for (double x : v)
    if (std::isfinite(x)) {
      s += x;
      ++n;
    }
  return n ? s / n : kNaN;
}
double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  const size_t n = std::min(x.size(), y.size());
  if (n < 2) return kNaN;
  double mx = 0, my = 0;
  for (size_t i = 0; i < n; ++i) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx <= 0 || syy <= 0) return kNaN;
  return sxy / std::sqrt(sxx * syy);
}
std::vector<double> ranks(const std::vector<double>& v) {  // average ranks for ties
  std::vector<size_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
    const double avg = 0.5 * (i + j) + 1.0;
    for (size_t k = i; k <= j; ++k) r[idx[k]] = avg;
    i = j + 1;
  }
  return r;
}
double spearman(const std::vector<double>& x, const std::vector<double>& y) { return pearson(ranks(x), ranks(y)); }

double now_seconds() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}
double peak_rss_mib() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;  // Linux: kilobytes
}
double current_rss_mib() {
  std::ifstream f("/proc/self/statm");
  long pages = 0, resident = 0;
  if (!(f >> pages >> resident)) return kNaN;
  return resident * (sysconf(_SC_PAGESIZE) / 1048576.0);
}

// ---------------------------------------------------------------- options

struct Args {
  std::string command;
  std::string model;
  std::vector<std::string> midi;
  std::string json;
  int threads = 1;
  double seconds = -1;  // per-command default
  int pieces = -1;
  uint64_t seed = 1;
  int seeds = 3;
  int ref_steps = 24;
  int short_context = 64;
  double cut_every = 6.0;
  std::vector<double> grid{-0.8, -0.4, 0.0, 0.4, 0.8};
  std::vector<double> kv_profile;  // speed: extra cache lengths for the KV step profile
  std::string sync = "hard";
  int max_files = 40;
  double max_midi_seconds = 0;  // 0 = whole file
  bool note_grammar = true;     // --no-note-grammar: let the model emit invalid note events (comparison)
  double guidance = 0.0;        // --guidance G: emotion guidance strength (ComposerOptions::emotion_guidance)
  bool fewer_instruments = false;  // --instruments less: the <LESS_INSTRUMENTS> control token
  double temperature = 1.35;       // --temperature T (the reference demo's 1.35 by default)
  double density_control = 0.0;    // --density-control K (ComposerOptions::density_control)
  double mode_control = 0.0;       // --mode-control K (ComposerOptions::mode_control)
};

[[noreturn]] void usage(int rc) {
  std::fprintf(rc ? stderr : stdout,
      "usage: emsync-gen-eval COMMAND [options]\n"
      "commands:\n"
      "  speed   --model M [--threads N] [--seconds S] [--ref-steps N] [--short-context N] [--cut-every S]\n"
      "          [--kv-profile L1,L2,... (KV step cost at these cache lengths; 99999 = full)]\n"
      "  sync    --model M [--pieces N] [--seconds S] [--seed S] [--threads N]\n"
      "  emotion --model M [--seconds S] [--seeds N] [--grid v1,v2,...] [--seed S] [--threads N]\n"
      "  stats   --model M [--pieces N] [--seconds S] [--sync hard|soft|none] [--seed S]\n"
      "  stats   --midi DIR_OR_FILE... [--max-files N per directory] [--max-midi-seconds S] [--seed S]\n"
      "common: --json OUT.json writes every figure (and per-piece data) as JSON\n"
      "        --instruments less|more selects the instrument-count control token (default more)\n"
      "        --temperature T sampling temperature (default 1.35, EMSYNC's demo)\n"
      "        --density-control K steers note density towards the requested arousal (0 = off)\n"
      "        --mode-control K steers towards major (valence > 0) or minor (valence < 0) keys (0 = off)\n"
      "        --guidance G composes with emotion guidance G (0 = none, as the reference)\n"
      "        --no-note-grammar lets the model emit note-ons of sounding keys and note-offs of silent keys\n");
  std::exit(rc);
}

std::vector<double> parse_list(const std::string& s) {
  std::vector<double> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::stod(item));
  return out;
}

Args parse_args(int argc, char** argv) {
  if (argc < 2) usage(2);
  Args a;
  a.command = argv[1];
  if (a.command == "-h" || a.command == "--help") usage(0);
  bool in_midi = false;
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "emsync-gen-eval: %s needs a value\n", k.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (k.rfind("--", 0) != 0) {
      if (in_midi) {
        a.midi.push_back(k);
        continue;
      }
      std::fprintf(stderr, "emsync-gen-eval: unexpected argument '%s'\n", k.c_str());
      usage(2);
    }
    in_midi = false;
    if (k == "--model") a.model = val();
    else if (k == "--midi") { a.midi.push_back(val()); in_midi = true; }
    else if (k == "--json") a.json = val();
    else if (k == "--threads") a.threads = std::stoi(val());
    else if (k == "--seconds") a.seconds = std::stod(val());
    else if (k == "--pieces") a.pieces = std::stoi(val());
    else if (k == "--seed") a.seed = std::stoull(val());
    else if (k == "--no-note-grammar") a.note_grammar = false;
    else if (k == "--guidance") a.guidance = std::stod(val());
    else if (k == "--temperature") a.temperature = std::stod(val());
    else if (k == "--density-control") a.density_control = std::stod(val());
    else if (k == "--mode-control") a.mode_control = std::stod(val());
    else if (k == "--instruments") {
      const std::string v = val();
      if (v != "less" && v != "more") usage(2);
      a.fewer_instruments = v == "less";
    }
    else if (k == "--seeds") a.seeds = std::stoi(val());
    else if (k == "--ref-steps") a.ref_steps = std::stoi(val());
    else if (k == "--short-context") a.short_context = std::stoi(val());
    else if (k == "--cut-every") a.cut_every = std::stod(val());
    else if (k == "--grid") a.grid = parse_list(val());
    else if (k == "--kv-profile") a.kv_profile = parse_list(val());
    else if (k == "--sync") a.sync = val();
    else if (k == "--max-files") a.max_files = std::stoi(val());
    else if (k == "--max-midi-seconds") a.max_midi_seconds = std::stod(val());
    else if (k == "-h" || k == "--help") usage(0);
    else {
      std::fprintf(stderr, "emsync-gen-eval: unknown option '%s'\n", k.c_str());
      usage(2);
    }
  }
  return a;
}

mu::SyncMode parse_sync(const std::string& s) {
  if (s == "hard") return mu::SyncMode::Hard;
  if (s == "soft") return mu::SyncMode::Soft;
  if (s == "none") return mu::SyncMode::None;
  throw std::runtime_error("unknown sync mode '" + s + "' (hard, soft or none)");
}
const char* sync_name(mu::SyncMode m) {
  return m == mu::SyncMode::Hard ? "hard" : m == mu::SyncMode::Soft ? "soft" : "none";
}

// ---------------------------------------------------------------- generation

struct Piece {
  std::vector<mu::TimedToken> tokens;
  std::vector<int> raw;  // tokens only
  std::vector<double> kept_cuts;
  long cuts_served = 0;  // kept cuts the schedule marked served (a <CHORD> within 1 s)
  double seconds = 0;
  double gen_seconds = 0;
  mu::ComposerStats stats;
  std::vector<double> ms_per_token;  // one entry per token (the token's share of its generate call)
};

struct ModelInfo {
  std::shared_ptr<const mu::GeneratorModel> model;
  double load_seconds = 0;
};

ModelInfo load_model(const std::string& path) {
  if (path.empty()) throw std::runtime_error("--model is required");
  ModelInfo info;
  const double t0 = now_seconds();
  info.model = mu::GeneratorModel::load(path);
  info.load_seconds = now_seconds() - t0;
  return info;
}

Json model_json(const ModelInfo& info) {
  const auto& c = info.model->config();
  Json j = Json::object();
  j["path"] = info.model->path();
  j["parameters"] = info.model->parameter_count();
  j["context"] = c.context;
  j["d_model"] = c.d_model;
  j["n_layers"] = c.n_layers;
  j["n_heads"] = c.n_heads;
  j["d_ff"] = c.d_ff;
  j["load_seconds"] = info.load_seconds;
  struct stat st {};
  if (stat(info.model->path().c_str(), &st) == 0) {
    j["file_bytes"] = static_cast<double>(st.st_size);
    j["file_mtime"] = static_cast<double>(st.st_mtime);
  }
  return j;
}

void print_model(const ModelInfo& info) {
  const auto& c = info.model->config();
  std::printf("model: %s (%zu parameters, %d layers, d_model %d, %d heads, d_ff %d, context %d), loaded in %.3f s\n",
              info.model->path().c_str(), info.model->parameter_count(), c.n_layers, c.d_model, c.n_heads, c.d_ff,
              c.context, info.load_seconds);
}

struct GenRequest {
  mu::SyncMode sync = mu::SyncMode::Hard;
  uint64_t seed = 0;
  double seconds = 30;
  std::vector<double> cuts;
  float valence = 0.0f;
  float arousal = 0.0f;
  bool time_tokens = false;
  bool note_grammar = true;
  float guidance = 0.0f;
  mu::InstrumentCount instruments = mu::InstrumentCount::More;
  float temperature = 1.35f;  // SamplerOptions' default, the reference demo's value
  float density_control = 0.0f;
  float mode_control = 0.0f;
};

Piece compose(const std::shared_ptr<const mu::GeneratorModel>& model, const GenRequest& req) {
  mu::ComposerOptions opt;
  opt.seed = req.seed;
  opt.sync = req.sync;
  opt.note_grammar = req.note_grammar;
  opt.emotion_guidance = req.guidance;
  opt.instruments = req.instruments;
  opt.sampler.temperature_after_time_shift = req.temperature;
  opt.sampler.temperature_otherwise = req.temperature;
  opt.density_control = req.density_control;
  opt.mode_control = req.mode_control;
  mu::Composer composer(model, opt);
  Piece p;
  p.seconds = req.seconds;
  for (double c : req.cuts)
    if (composer.add_cut(c)) p.kept_cuts.push_back(c);
  composer.set_emotion(0.0, req.valence, req.arousal);
  const double t0 = now_seconds();
  if (req.time_tokens) {
    // One call per time step (a call returns once the cursor has moved): each token is charged its call's
    // time divided by the tokens it produced, so a call that re-prefilled the window stands out.
    while (composer.cursor_seconds() < req.seconds) {
      const size_t before = p.tokens.size();
      const double s0 = now_seconds();
      composer.generate_until(std::min(req.seconds, composer.cursor_seconds() + 1e-6), p.tokens);
      const double dt = now_seconds() - s0;
      const size_t n = p.tokens.size() - before;
      for (size_t i = 0; i < n; ++i) p.ms_per_token.push_back(1000.0 * dt / n);
    }
  } else {
    composer.generate_until(req.seconds, p.tokens);
  }
  p.gen_seconds = now_seconds() - t0;
  p.stats = composer.stats();
  for (const auto& c : composer.schedule().cuts()) p.cuts_served += c.served;
  p.raw.reserve(p.tokens.size());
  for (const auto& t : p.tokens) p.raw.push_back(t.token);
  return p;
}

std::vector<md::Note> piece_notes(const Piece& p, bool close_open) {
  md::DecodeOptions o;
  o.close_open_notes = close_open;
  o.end_seconds = p.seconds;
  return md::decode(p.raw, o);
}

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

// ---------------------------------------------------------------- musicality

// Key of a piece: lib/music's Krumhansl–Schmuckler on the duration-weighted pitch classes of non-drum notes.
struct Key {
  int tonic = -1;  // -1: no pitched notes
  bool major = false;
  double r = kNaN;
  std::string name() const {
    return tonic < 0 ? "none" : std::string(emsync::music::pitch_class_name(tonic)) + (major ? " major" : " minor");
  }
};

Key find_key(const std::vector<md::Note>& notes) {
  std::array<double, 12> hist{};
  for (const auto& n : notes) {
    if (n.instrument == md::Instrument::Drums) continue;
    hist[((n.pitch % 12) + 12) % 12] += std::max(n.end_seconds - n.start_seconds, kTick);
  }
  const emsync::music::Key k = emsync::music::find_key(hist);
  Key out;
  if (k.tonic >= 0) out = {k.tonic, k.major, k.correlation};
  return out;
}

struct MusicStats {
  double duration = 0;
  long notes = 0;
  double notes_per_second = kNaN;
  double density_per_instrument = kNaN;  // midi-emotion arousal: notes / duration / #non-empty instruments
  int instruments = 0;
  double pc_entropy = kNaN;              // bits, non-drum note counts per pitch class
  double polyphony = kNaN;               // mean non-drum notes sounding while any sounds
  double silent_bar_share = kNaN;        // 2 s windows without any note sounding
  Key key;
};

MusicStats music_stats(const std::vector<md::Note>& notes, double start, double end) {
  MusicStats s;
  s.duration = std::max(end - start, 1e-9);
  s.notes = static_cast<long>(notes.size());
  s.notes_per_second = s.notes / s.duration;
  bool used[md::kNumInstruments] = {};
  std::vector<double> pcs(12, 0.0);
  long pitched = 0;
  for (const auto& n : notes) {
    used[md::instrument_index(n.instrument)] = true;
    if (n.instrument != md::Instrument::Drums) {
      pcs[n.pitch % 12] += 1;
      ++pitched;
    }
  }
  for (bool u : used) s.instruments += u;
  s.density_per_instrument = s.instruments ? s.notes_per_second / s.instruments : 0.0;
  if (pitched) {
    double h = 0;
    for (double c : pcs)
      if (c > 0) h -= (c / pitched) * std::log2(c / pitched);
    s.pc_entropy = h;
  }
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
  s.key = find_key(notes);
  return s;
}

// Raw-token checks (generated streams start after the [ctrl, <BAR>] primer).
struct TokenChecks {
  long tokens = 0;
  long off_of_silent = 0;
  long duplicate_on = 0;
  long masked_special = 0;  // <PAD>, <START>, <LESS_INSTRUMENTS>, <MORE_INSTRUMENTS>
  long hanging_at_end = 0;  // ON never closed
  long invalid() const { return off_of_silent + duplicate_on + masked_special; }
};

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
    const int key = md::instrument_index(md::note_instrument(t)) * md::kNumPitches + md::note_pitch(t) - md::kMinPitch;
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

// The MIDI the element delivers: the token stream through lib/midi's TokenStreamDecoder, then flush() at the
// end of the piece, as emsyncmidigen does on EOS.
struct MidiChecks {
  long note_ons = 0;
  long note_offs = 0;
  long off_without_on = 0;
  long on_while_sounding = 0;
  long time_reversals = 0;
  long hanging_after_flush = 0;
};

MidiChecks check_midi(const std::vector<int>& tokens, double end_seconds) {
  MidiChecks c;
  md::TokenStreamDecoder decoder(0.0);
  std::vector<md::MidiEvent> ev;
  decoder.start(ev);
  for (int t : tokens) decoder.push(t, ev);
  decoder.flush(end_seconds, ev);
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
  return j;
}

void write_json(const Args& a, const Json& j) {
  if (a.json.empty()) return;
  std::ofstream f(a.json);
  f << j.dump(1) << "\n";
  if (!f) throw std::runtime_error("cannot write " + a.json);
  std::printf("\nwrote %s\n", a.json.c_str());
}

Json header_json(const Args& a, const std::string& command) {
  Json j = Json::object();
  j["tool"] = "emsync-gen-eval";
  j["command"] = command;
  j["threads"] = a.threads;
  j["seed"] = static_cast<double>(a.seed);
  j["guidance"] = a.guidance;
  j["note_grammar"] = a.note_grammar;
  j["instruments"] = a.fewer_instruments ? "less" : "more";
  j["temperature"] = a.temperature;
  j["density_control"] = a.density_control;
  j["mode_control"] = a.mode_control;
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  j["host"] = host;
  std::ifstream cpu("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpu, line))
    if (line.rfind("model name", 0) == 0) {
      j["cpu"] = line.substr(line.find(':') + 2);
      break;
    }
  j["online_cpus"] = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  return j;
}

// ---------------------------------------------------------------- speed

int cmd_speed(const Args& a) {
  mu::set_inference_threads(a.threads);
  const double seconds = a.seconds > 0 ? a.seconds : 30.0;
  Json out = header_json(a, "speed");
  const double rss0 = current_rss_mib();
  ModelInfo info = load_model(a.model);
  print_model(info);
  out["model"] = model_json(info);
  const auto& cfg = info.model->config();
  const double rss_loaded = current_rss_mib();

  // 1. The real thing: the Composer, hard sync, a cut every ~6 s.
  GenRequest req;
  req.note_grammar = a.note_grammar;
        req.guidance = static_cast<float>(a.guidance);
        req.instruments = a.fewer_instruments ? mu::InstrumentCount::Less : mu::InstrumentCount::More;
        req.temperature = static_cast<float>(a.temperature);
        req.density_control = static_cast<float>(a.density_control);
        req.mode_control = static_cast<float>(a.mode_control);
  req.sync = mu::SyncMode::Hard;
  req.seed = a.seed;
  req.seconds = seconds;
  req.time_tokens = true;
  for (double t = a.cut_every; t < seconds - 0.5; t += a.cut_every) req.cuts.push_back(t);
  Piece p = compose(info.model, req);
  const double peak_composer = peak_rss_mib();
  const double rtf = p.gen_seconds / seconds;
  const double tokens = static_cast<double>(p.tokens.size());
  Json comp = Json::object();
  comp["music_seconds"] = seconds;
  comp["generation_seconds"] = p.gen_seconds;
  comp["realtime_factor"] = rtf;
  comp["tokens"] = p.tokens.size();
  comp["tokens_per_second"] = tokens / p.gen_seconds;
  comp["tokens_per_music_second"] = tokens / seconds;
  comp["ms_per_token_median"] = median(p.ms_per_token);
  comp["ms_per_token_mean"] = 1000.0 * p.gen_seconds / std::max(1.0, tokens);
  comp["ms_per_token_p95"] = quantile(p.ms_per_token, 0.95);
  comp["ms_per_token_max"] = quantile(p.ms_per_token, 1.0);
  comp["prefills"] = p.stats.prefills;
  comp["steps"] = p.stats.steps;
  comp["cuts_kept"] = p.kept_cuts.size();
  comp["forced_chords"] = p.stats.forced_chords;
  out["composer"] = comp;

  Table t1{"Composer (sync hard, cut every " + fmt("%.0f", a.cut_every) + " s, " + std::to_string(a.threads) +
               " thread(s))",
           {"model load s", "music s", "generation s", "generation/music", "tokens", "tokens/s",
            "tokens per music s", "ms/token median", "ms/token mean", "ms/token p95", "prefills"},
           {}};
  t1.rows.push_back({fmt("%.3f", info.load_seconds), fmt("%.1f", seconds), fmt("%.2f", p.gen_seconds),
                     fmt("%.4f", rtf), fmt("%.0f", tokens), fmt("%.1f", tokens / p.gen_seconds),
                     fmt("%.1f", tokens / seconds), fmt("%.2f", median(p.ms_per_token)),
                     fmt("%.2f", 1000.0 * p.gen_seconds / std::max(1.0, tokens)),
                     fmt("%.2f", quantile(p.ms_per_token, 0.95)), std::to_string(p.stats.prefills)});
  t1.print();

  // 2. Reference full-recompute loop vs the KV-cached step, at the same context lengths.
  const int capacity = cfg.context - cfg.n_condition_positions;  // token positions
  std::vector<int> contexts{std::min(a.short_context, capacity), capacity};
  if (contexts[0] == contexts[1]) contexts.pop_back();
  // Window material: the generated stream (cycled when too short), behind the instrument token.
  std::vector<int> material = p.raw;
  if (material.empty()) material.push_back(md::kBarToken);
  auto window_of = [&](int length, size_t offset) {
    std::vector<int> w{md::kMoreInstrumentsToken};
    for (int i = 1; i < length; ++i) w.push_back(material[(offset + i) % material.size()]);
    return w;
  };
  mu::Sampler sampler({}, a.seed);
  const int vocab = cfg.vocab_size;
  // KV-cached: prefill L - S tokens then S single-token steps (cache length L - S .. L), repeated until
  // `want` steps are timed (the first step of the first block is a warm-up and not counted).
  auto kv_span = [](int L) { return std::max(1, std::min(32, L / 4)); };
  auto kv_steps = [&](mu::GeneratorSession& session, int L, int want) {
    const int S = kv_span(L);
    std::vector<double> kv_ms;
    for (size_t block = 0; static_cast<int>(kv_ms.size()) < want; ++block) {
      std::vector<int> kw = window_of(L - S, block * 97);
      std::vector<float> kb(kw.size(), 8.0f);
      session.start(kw, kb, 0.0f, 0.0f);
      int kprev = kw.back();
      for (int s = 0; s < S; ++s) {
        const int tok = sampler.sample(session.logits().data(), vocab, {}, kprev);
        const double s0 = now_seconds();
        session.push(tok, 8.0f);
        const double dt = 1000.0 * (now_seconds() - s0);
        if (block > 0 || s > 0) kv_ms.push_back(dt);
        kprev = tok;
      }
    }
    return kv_ms;
  };
  Json ctx_json = Json::array();
  Table t2{"Per-token cost: reference full-recompute loop vs KV-cached step (" + std::to_string(a.threads) +
               " thread(s))",
           {"context tokens", "reference ms/token (median)", "n", "KV step ms/token (median)", "n",
            "speed-up", "re-prefill ms (tokens)", "KV amortised ms/token", "amortised speed-up",
            "TorchScript step ms/token (median)", "native step speed-up over TorchScript step",
            "float-weights native step ms/token (median)", "half-precision speed-up over float"},
           {}};
  double full_speedup = kNaN, full_amortised = kNaN;
  for (int L : contexts) {
    mu::GeneratorSession session(info.model);
    // Reference: as EMSYNC's generation loop, every token re-runs the full window forward in libtorch (the
    // exported TorchScript prefill of the whole window), not our native prefill.
    mu::GeneratorSession reference(info.model);
    reference.set_step_backend(mu::StepBackend::TorchScript);
    std::vector<int> w = window_of(L, 0);
    std::vector<float> b(w.size(), 8.0f);
    reference.start(w, b, 0.0f, 0.0f);  // warm-up
    std::vector<double> ref_ms;
    int prev = w.back();
    for (int s = 0; s < a.ref_steps; ++s) {
      const double s0 = now_seconds();
      reference.start(w, b, 0.0f, 0.0f);
      ref_ms.push_back(1000.0 * (now_seconds() - s0));
      const int tok = sampler.sample(reference.logits().data(), vocab, {}, prev);
      w.erase(w.begin() + 1);  // slide: keep the instrument token, drop the oldest
      w.push_back(tok);
      prev = tok;
    }
    const int S = kv_span(L);
    std::vector<double> kv_ms = kv_steps(session, L, std::max(a.ref_steps, 2 * S));
    // The same steps through the exported TorchScript `step` method (libtorch ops, cache grown by
    // torch.cat), for comparison with the native step the sessions use by default.
    // And through the native step with float weights when the default reads half-precision ones.
    std::vector<double> ts_ms, float_ms;
    const mu::StepBackend default_backend = session.step_backend();
    if (default_backend != mu::StepBackend::TorchScript) {
      session.set_step_backend(mu::StepBackend::TorchScript);
      ts_ms = kv_steps(session, L, std::max(a.ref_steps, 2 * S));
      if (default_backend == mu::StepBackend::NativeHalf) {
        session.set_step_backend(mu::StepBackend::Native);
        float_ms = kv_steps(session, L, std::max(a.ref_steps, 2 * S));
      }
      session.set_step_backend(default_backend);
    }
    // The session's slide (only at full context: below it the window never slides). One push into a full
    // window shows how much the session keeps (W tokens) and what the re-prefill costs; two more prefills of
    // W tokens give a median. A cycle is then (capacity - W) steps and one re-prefill for capacity + 1 - W
    // tokens.
    const bool full = L == capacity;
    std::vector<double> pre_ms;
    int keep = 0;
    if (full) {
      std::vector<int> fw = window_of(capacity, 7);
      std::vector<float> fb(fw.size(), 8.0f);
      session.start(fw, fb, 0.0f, 0.0f);
      const long prefills = session.prefill_count();
      const int tok = sampler.sample(session.logits().data(), vocab, {}, fw.back());
      const double s0 = now_seconds();
      session.push(tok, 8.0f);
      const double dt = 1000.0 * (now_seconds() - s0);
      if (session.prefill_count() > prefills) {
        keep = session.window_length();
        pre_ms.push_back(dt);
        for (int r = 0; r < 2; ++r) {
          std::vector<int> pw = window_of(keep, 13 * r);
          std::vector<float> pb(pw.size(), 8.0f);
          const double t0 = now_seconds();
          session.start(pw, pb, 0.0f, 0.0f);
          pre_ms.push_back(1000.0 * (now_seconds() - t0));
        }
      }
    }
    const int per_slide = keep > 0 ? capacity + 1 - keep : 0;
    const double ref_med = median(ref_ms), kv_med = median(kv_ms), pre_med = median(pre_ms);
    const double amort =
        per_slide > 0 ? ((capacity - keep) * kv_med + pre_med) / per_slide : kv_med;
    if (full) {
      full_speedup = ref_med / kv_med;
      full_amortised = ref_med / amort;
    }
    Json cj = Json::object();
    cj["context_tokens"] = L;
    cj["full_context"] = full;
    cj["reference_ms_per_token_median"] = ref_med;
    cj["reference_ms_per_token_min"] = quantile(ref_ms, 0.0);
    cj["reference_steps"] = ref_ms.size();
    cj["kv_ms_per_token_median"] = kv_med;
    cj["kv_ms_per_token_min"] = quantile(kv_ms, 0.0);
    cj["kv_steps"] = kv_ms.size();
    cj["kv_cache_length_range"] = Json::array_of(std::vector<int>{L - S + 2, L + 2});
    cj["speedup"] = ref_med / kv_med;
    cj["reprefill_tokens"] = keep > 0 ? Json(keep) : Json();
    cj["reprefill_ms_median"] = pre_med;
    cj["tokens_per_reprefill"] = per_slide;
    cj["kv_amortised_ms_per_token"] = amort;
    cj["amortised_speedup"] = ref_med / amort;
    cj["torchscript_step_ms_per_token_median"] = median(ts_ms);
    cj["native_over_torchscript_step_speedup"] = median(ts_ms) / kv_med;
    cj["half_precision_step"] = default_backend == mu::StepBackend::NativeHalf;
    cj["float_native_step_ms_per_token_median"] = median(float_ms);
    cj["half_over_float_step_speedup"] = median(float_ms) / kv_med;
    ctx_json.push(cj);
    t2.rows.push_back({std::to_string(L) + (full ? " (full)" : ""), fmt("%.2f", ref_med),
                       std::to_string(ref_ms.size()), fmt("%.3f", kv_med), std::to_string(kv_ms.size()),
                       fmt("%.1fx", ref_med / kv_med),
                       keep > 0 ? fmt("%.1f", pre_med) + " (" + std::to_string(keep) + ")" : "n/a",
                       fmt("%.3f", amort),
                       fmt("%.1fx", ref_med / amort),
                       ts_ms.empty() ? "n/a" : fmt("%.3f", median(ts_ms)),
                       ts_ms.empty() ? "n/a" : fmt("%.1fx", median(ts_ms) / kv_med),
                       float_ms.empty() ? "n/a" : fmt("%.3f", median(float_ms)),
                       float_ms.empty() ? "n/a" : fmt("%.2fx", median(float_ms) / kv_med)});
  }
  t2.print();
  if (!a.kv_profile.empty()) {
    // How the KV step's cost grows with the cache length (attention and the per-step cache copy).
    Table t3{"KV-cached step cost by cache length", {"context tokens", "KV step ms/token (median)", "n"}, {}};
    Json prof = Json::array();
    mu::GeneratorSession session(info.model);
    for (double x : a.kv_profile) {
      const int L = std::min(capacity, std::max(8, static_cast<int>(x)));
      std::vector<double> ms = kv_steps(session, L, 2 * kv_span(L));
      t3.rows.push_back({std::to_string(L), fmt("%.3f", median(ms)), std::to_string(ms.size())});
      Json j = Json::object();
      j["context_tokens"] = L;
      j["kv_ms_per_token_median"] = median(ms);
      prof.push(j);
    }
    t3.print();
    out["kv_profile"] = prof;
  }
  out["contexts"] = ctx_json;
  out["full_context_speedup"] = full_speedup;
  out["full_context_amortised_speedup"] = full_amortised;
  const double peak = peak_rss_mib();
  out["rss_mib"] = Json::object();
  out["rss_mib"]["before_load"] = rss0;
  out["rss_mib"]["after_load"] = rss_loaded;
  out["rss_mib"]["peak_after_composer"] = peak_composer;
  out["rss_mib"]["peak"] = peak;
  std::printf("\npeak RSS %.1f MiB at the end, %.1f MiB after the Composer run (after load %.1f MiB, before load "
              "%.1f MiB)\n", peak, peak_composer, rss_loaded, rss0);
  std::printf("generation/music %.4f; full-context speed-up %.1fx (step), %.1fx (amortised incl. re-prefill)\n", rtf,
              full_speedup, full_amortised);
  write_json(a, out);
  return 0;
}

// ---------------------------------------------------------------- sync

std::vector<double> random_cuts(std::mt19937_64& rng, double seconds) {
  std::uniform_real_distribution<double> gap(2.0, 12.0);
  std::vector<double> cuts;
  for (double t = gap(rng); t < seconds - 0.5; t += gap(rng)) cuts.push_back(t);
  return cuts;
}

int cmd_sync(const Args& a) {
  mu::set_inference_threads(a.threads);
  const int pieces = a.pieces > 0 ? a.pieces : 20;
  const double seconds = a.seconds > 0 ? a.seconds : 60.0;
  Json out = header_json(a, "sync");
  ModelInfo info = load_model(a.model);
  print_model(info);
  out["model"] = model_json(info);
  out["pieces"] = pieces;
  out["seconds"] = seconds;
  std::mt19937_64 rng(a.seed);
  std::vector<std::vector<double>> schedules;
  for (int i = 0; i < pieces; ++i) schedules.push_back(random_cuts(rng, seconds));

  Table t{"Chord onsets at kept scene cuts (" + std::to_string(pieces) + " pieces x " + fmt("%.0f", seconds) +
              " s, cuts 2-12 s apart, kept >= 4 s apart)",
          {"sync", "kept cuts", "onset <= 40 ms", "onset <= 1 s", "<CHORD> token <= 1 s", "served", "mean abs error s",
           "median abs error s", "chord onsets/min away from cuts", "<CHORD>/min", "generation/music"},
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
      GenRequest req;
      req.note_grammar = a.note_grammar;
        req.guidance = static_cast<float>(a.guidance);
        req.instruments = a.fewer_instruments ? mu::InstrumentCount::Less : mu::InstrumentCount::More;
        req.temperature = static_cast<float>(a.temperature);
        req.density_control = static_cast<float>(a.density_control);
        req.mode_control = static_cast<float>(a.mode_control);
      req.sync = mode;
      req.seed = a.seed * 1000 + i;
      req.seconds = seconds;
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
        if (e <= 0.040 + 1e-9) { ++within40; ++pk40; }
        if (e <= 1.0 + 1e-9) ++within1;
        if (nearest_distance(on.chord_tokens, c) <= 1.0 + 1e-9) ++token1;
        errors.push_back(e);
      }
      for (double o : on.any)
        if (nearest_distance(p.kept_cuts, o) > 1.0) ++away;
      chord_tokens += static_cast<long>(on.chord_tokens.size());
      served += p.cuts_served;
      Json pj = Json::object();
      pj["seed"] = static_cast<double>(req.seed);
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
    mj["cuts_without_any_onset"] =
        static_cast<long>(std::count_if(errors.begin(), errors.end(), [](double e) { return !std::isfinite(e); }));
    mj["onsets_away_from_cuts_per_min"] = away / minutes;
    mj["chord_tokens_per_min"] = chord_tokens / minutes;
    mj["generation_over_music"] = gen / music;
    mj["pieces"] = per_piece;
    modes[variant.name] = mj;
    t.rows.push_back({variant.name, std::to_string(kept), fmt_pct(kept ? double(within40) / kept : kNaN),
                      fmt_pct(kept ? double(within1) / kept : kNaN), fmt_pct(kept ? double(token1) / kept : kNaN),
                      fmt_pct(kept ? double(served) / kept : kNaN),
                      fmt("%.3f", mean(errors)), fmt("%.3f", median(errors)), fmt("%.1f", away / minutes),
                      fmt("%.2f", chord_tokens / minutes), fmt("%.4f", gen / music)});
    std::fprintf(stderr, "sync %s done\n", variant.name.c_str());
  }
  t.print();
  std::printf("(chord onset = a <CHORD> token or >= 3 non-drum notes starting on the same 8 ms tick; "
              "abs error = distance from the cut to the nearest onset; served = the composer's schedule marked the "
              "cut served; hard-grid = hard with the cuts moved to the nearest 8 ms tick, a diagnostic)\n");
  out["modes"] = modes;
  write_json(a, out);
  return 0;
}

// ---------------------------------------------------------------- emotion

int cmd_emotion(const Args& a) {
  mu::set_inference_threads(a.threads);
  const double seconds = a.seconds > 0 ? a.seconds : 30.0;
  Json out = header_json(a, "emotion");
  ModelInfo info = load_model(a.model);
  print_model(info);
  out["model"] = model_json(info);
  out["seconds"] = seconds;
  out["seeds"] = a.seeds;
  out["grid"] = Json::array_of(a.grid);
  struct Row {
    double v, a;
    int seed;
    MusicStats s;
  };
  std::vector<Row> rows;
  Json pieces = Json::array();
  for (double v : a.grid)
    for (double ar : a.grid)
      for (int s = 0; s < a.seeds; ++s) {
        GenRequest req;
        req.note_grammar = a.note_grammar;
        req.guidance = static_cast<float>(a.guidance);
        req.instruments = a.fewer_instruments ? mu::InstrumentCount::Less : mu::InstrumentCount::More;
        req.temperature = static_cast<float>(a.temperature);
        req.density_control = static_cast<float>(a.density_control);
        req.mode_control = static_cast<float>(a.mode_control);
        req.sync = mu::SyncMode::None;
        req.seed = a.seed * 1000 + s;
        req.seconds = seconds;
        req.valence = static_cast<float>(v);
        req.arousal = static_cast<float>(ar);
        Piece p = compose(info.model, req);
        MusicStats st = music_stats(piece_notes(p, false), 0.0, seconds);
        rows.push_back({v, ar, s, st});
        Json pj = stats_json(st);
        pj["valence"] = v;
        pj["arousal"] = ar;
        pj["seed"] = static_cast<double>(req.seed);
        pj["tokens"] = p.tokens.size();
        pieces.push(pj);
      }
  std::vector<double> req_a, dens, dens_inst, req_v, major;
  for (const auto& r : rows) {
    req_a.push_back(r.a);
    req_v.push_back(r.v);
    dens.push_back(r.s.notes_per_second);
    dens_inst.push_back(r.s.density_per_instrument);
    major.push_back(r.s.key.tonic >= 0 && r.s.key.major ? 1.0 : 0.0);
  }
  const double rho = spearman(req_a, dens), rho_inst = spearman(req_a, dens_inst);
  const double rho_v_major = spearman(req_v, major);

  Table ta{"Note density by requested arousal (sync none, constant emotion, mean over valences and seeds)",
           {"arousal", "pieces", "notes/s", "notes/s/instrument", "instruments"}, {}};
  Json by_a = Json::array();
  for (double ar : a.grid) {
    std::vector<double> d, di, ni;
    for (const auto& r : rows)
      if (r.a == ar) {
        d.push_back(r.s.notes_per_second);
        di.push_back(r.s.density_per_instrument);
        ni.push_back(r.s.instruments);
      }
    ta.rows.push_back({fmt("%+.1f", ar), std::to_string(d.size()), fmt("%.2f", mean(d)), fmt("%.2f", mean(di)),
                       fmt("%.2f", mean(ni))});
    Json j = Json::object();
    j["arousal"] = ar;
    j["notes_per_second"] = mean(d);
    j["density_per_instrument"] = mean(di);
    j["instruments"] = mean(ni);
    by_a.push(j);
  }
  ta.print();
  Table tv{"Key finding (Krumhansl-Schmuckler, duration-weighted pitch classes) by requested valence",
           {"valence", "pieces", "major", "minor", "share major", "mean key r"}, {}};
  Json by_v = Json::array();
  for (double v : a.grid) {
    int n = 0, maj = 0, minr = 0;
    std::vector<double> rs;
    for (const auto& r : rows)
      if (r.v == v) {
        ++n;
        if (r.s.key.tonic >= 0) {
          (r.s.key.major ? maj : minr)++;
          rs.push_back(r.s.key.r);
        }
      }
    const double share = (maj + minr) ? static_cast<double>(maj) / (maj + minr) : kNaN;
    tv.rows.push_back({fmt("%+.1f", v), std::to_string(n), std::to_string(maj), std::to_string(minr), fmt_pct(share),
                       fmt("%.2f", mean(rs))});
    Json j = Json::object();
    j["valence"] = v;
    j["pieces"] = n;
    j["major"] = maj;
    j["minor"] = minr;
    j["share_major"] = share;
    by_v.push(j);
  }
  tv.print();
  Table tg{"Notes/s per (valence row, arousal column)", {"valence \\ arousal"}, {}};
  for (double ar : a.grid) tg.header.push_back(fmt("%+.1f", ar));
  for (double v : a.grid) {
    std::vector<std::string> row{fmt("%+.1f", v)};
    for (double ar : a.grid) {
      std::vector<double> d;
      for (const auto& r : rows)
        if (r.v == v && r.a == ar) d.push_back(r.s.notes_per_second);
      row.push_back(fmt("%.2f", mean(d)));
    }
    tg.rows.push_back(row);
  }
  tg.print();
  Table ts{"Spearman correlations over " + std::to_string(rows.size()) + " pieces",
           {"pair", "rho"},
           {{"requested arousal vs notes/s", fmt("%.3f", rho)},
            {"requested arousal vs notes/s/instrument", fmt("%.3f", rho_inst)},
            {"requested valence vs major key (0/1)", fmt("%.3f", rho_v_major)}}};
  ts.print();
  out["spearman_arousal_density"] = rho;
  out["spearman_arousal_density_per_instrument"] = rho_inst;
  out["spearman_valence_major"] = rho_v_major;
  out["by_arousal"] = by_a;
  out["by_valence"] = by_v;
  out["pieces_detail"] = pieces;
  write_json(a, out);
  return 0;
}

// ---------------------------------------------------------------- stats

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

void add_checks(TokenChecks& sum, const TokenChecks& c) {
  sum.tokens += c.tokens;
  sum.off_of_silent += c.off_of_silent;
  sum.duplicate_on += c.duplicate_on;
  sum.masked_special += c.masked_special;
  sum.hanging_at_end += c.hanging_at_end;
}

// Mean over a summary's pieces of one statistic.
double mean_over(const StatsSummary& x, const std::function<double(const MusicStats&)>& f) {
  std::vector<double> v;
  for (const auto& s : x.s) v.push_back(f(s));
  return mean(v);
}

Json summary_json(const StatsSummary& x) {
  auto col = [&](const std::function<double(const MusicStats&)>& f) { return mean_over(x, f); };
  Json j = Json::object();
  j["label"] = x.label;
  j["pieces"] = x.pieces;
  j["seconds"] = x.seconds;
  j["pitch_class_entropy_bits"] = col([](const MusicStats& s) { return s.pc_entropy; });
  j["polyphony"] = col([](const MusicStats& s) { return s.polyphony; });
  j["notes_per_second"] = col([](const MusicStats& s) { return s.notes_per_second; });
  j["density_per_instrument"] = col([](const MusicStats& s) { return s.density_per_instrument; });
  j["instruments"] = col([](const MusicStats& s) { return static_cast<double>(s.instruments); });
  j["silent_bar_share"] = col([](const MusicStats& s) { return s.silent_bar_share; });
  j["major_share"] = col([](const MusicStats& s) { return s.key.tonic < 0 ? kNaN : (s.key.major ? 1.0 : 0.0); });
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
  Table t{"Musicality statistics (" + what + "; mean over pieces)",
          {"source", "pieces", "minutes", "pitch-class entropy (bits)", "polyphony", "notes/s", "notes/s/instrument",
           "instruments", "silent 2 s windows", "major key"},
          {}};
  for (const auto& x : all) {
    auto col = [&](const std::function<double(const MusicStats&)>& f) { return mean_over(x, f); };
    t.rows.push_back({x.label, std::to_string(x.pieces), fmt("%.1f", x.seconds / 60.0),
                      fmt("%.3f", col([](const MusicStats& s) { return s.pc_entropy; })),
                      fmt("%.2f", col([](const MusicStats& s) { return s.polyphony; })),
                      fmt("%.2f", col([](const MusicStats& s) { return s.notes_per_second; })),
                      fmt("%.2f", col([](const MusicStats& s) { return s.density_per_instrument; })),
                      fmt("%.2f", col([](const MusicStats& s) { return static_cast<double>(s.instruments); })),
                      fmt_pct(col([](const MusicStats& s) { return s.silent_bar_share; })),
                      fmt_pct(col([](const MusicStats& s) {
                        return s.key.tonic < 0 ? kNaN : (s.key.major ? 1.0 : 0.0);
                      }))});
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

int cmd_stats(const Args& a) {
  Json out = header_json(a, "stats");
  std::vector<StatsSummary> all;
  std::string what;
  if (!a.model.empty()) {
    mu::set_inference_threads(a.threads);
    const int pieces = a.pieces > 0 ? a.pieces : 5;
    const double seconds = a.seconds > 0 ? a.seconds : 60.0;
    ModelInfo info = load_model(a.model);
    print_model(info);
    out["model"] = model_json(info);
    const mu::SyncMode mode = parse_sync(a.sync);
    std::mt19937_64 rng(a.seed);
    StatsSummary x;
    x.label = std::string("generated, sync ") + sync_name(mode);
    x.have_checks = true;
    x.have_midi = true;
    Json per = Json::array();
    for (int i = 0; i < pieces; ++i) {
      GenRequest req;
      req.note_grammar = a.note_grammar;
        req.guidance = static_cast<float>(a.guidance);
        req.instruments = a.fewer_instruments ? mu::InstrumentCount::Less : mu::InstrumentCount::More;
        req.temperature = static_cast<float>(a.temperature);
        req.density_control = static_cast<float>(a.density_control);
        req.mode_control = static_cast<float>(a.mode_control);
      req.sync = mode;
      req.seed = a.seed * 1000 + i;
      req.seconds = seconds;
      if (mode != mu::SyncMode::None) req.cuts = random_cuts(rng, seconds);
      Piece p = compose(info.model, req);
      MusicStats st = music_stats(piece_notes(p, false), 0.0, seconds);
      TokenChecks ck = check_tokens(p.raw);
      add_checks(x.checks, ck);
      const MidiChecks mc = check_midi(p.raw, seconds);
      x.midi.note_ons += mc.note_ons;
      x.midi.note_offs += mc.note_offs;
      x.midi.off_without_on += mc.off_without_on;
      x.midi.on_while_sounding += mc.on_while_sounding;
      x.midi.time_reversals += mc.time_reversals;
      x.midi.hanging_after_flush += mc.hanging_after_flush;
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
        try {
          notes = md::read_notes(f);
        } catch (const std::exception& e) {
          ++failed;
          continue;
        }
        if (notes.empty()) continue;
        double start = notes.front().start_seconds, end = start;
        for (const auto& n : notes) {
          start = std::min(start, n.start_seconds);
          end = std::max(end, n.end_seconds);
        }
        if (a.max_midi_seconds > 0 && end - start > a.max_midi_seconds) {
          end = start + a.max_midi_seconds;
          std::vector<md::Note> kept;
          for (auto n : notes)
            if (n.start_seconds < end) {
              n.end_seconds = std::min(n.end_seconds, end);
              kept.push_back(n);
            }
          notes.swap(kept);
        }
        if (end - start < 2.0) continue;
        // Shift to 0 (the training tokenisation removes leading silence), then check what the tokenizer
        // makes of the file with the same token checks as generated streams (a sanity check of the checks).
        for (auto& n : notes) {
          n.start_seconds -= start;
          n.end_seconds -= start;
        }
        x.s.push_back(music_stats(notes, 0.0, end - start));
        add_checks(x.checks, check_tokens(md::encode(notes)));
        ++x.pieces;
        x.seconds += end - start;
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

}  // namespace

int main(int argc, char** argv) {
  Args a = parse_args(argc, argv);
  try {
    if (a.command == "speed") {
      mu::enable_torchscript();  // for the TorchScript-step column
      return cmd_speed(a);
    }
    if (a.command == "sync") return cmd_sync(a);
    if (a.command == "emotion") return cmd_emotion(a);
    if (a.command == "stats") return cmd_stats(a);
    std::fprintf(stderr, "emsync-gen-eval: unknown command '%s'\n", a.command.c_str());
    usage(2);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "emsync-gen-eval: %s\n", e.what());
    return 1;
  }
}
