// emsync-gen-eval: the shared part (see common.h).
#include "tools/gen-eval/common.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <numeric>
#include <sstream>
#include <stdexcept>

#include "lib/midi/smf.h"
#include "lib/midi/tokenizer.h"

namespace gen_eval {

// ---------------------------------------------------------------- JSON (output only)

std::string Json::dump(int indent) const {
  std::string out;
  write(out, indent, 0);
  return out;
}

void Json::escape(std::string& out, const std::string& s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
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

void Json::write(std::string& out, int indent, int level) const {
  auto nl = [&](int lv) {
    if (indent > 0) {
      out += '\n';
      out.append(static_cast<size_t>(indent * lv), ' ');
    }
  };
  switch (kind_) {
    case Kind::Null:
      out += "null";
      break;
    case Kind::Bool:
      out += bool_ ? "true" : "false";
      break;
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
    case Kind::String:
      escape(out, str_);
      break;
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

// ---------------------------------------------------------------- tables

std::string fmt(const char* f, double v) {
  if (!std::isfinite(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}
std::string fmt_pct(double share) {
  return std::isfinite(share) ? fmt("%.1f %%", 100.0 * share) : "n/a";
}

void Table::print() const {
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
static std::vector<double> ranks(const std::vector<double>& v) {  // average ranks for ties
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
double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  return pearson(ranks(x), ranks(y));
}

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

[[noreturn]] void usage(int rc) {
  std::fprintf(
      rc ? stderr : stdout,
      "usage: emsync-gen-eval COMMAND [options]\n"
      "commands:\n"
      "  speed   --model M [--threads N] [--seconds S] [--ref-steps N] [--short-context N] [--cut-every S]\n"
      "          [--kv-profile L1,L2,... (KV step cost at these cache lengths; 99999 = full)]\n"
      "  sync    --model M [--pieces N] [--seconds S] [--seed S] [--threads N]\n"
      "  emotion --model M [--seconds S] [--seeds N] [--grid v1,v2,...] [--seed S] [--threads N]\n"
      "  stats   --model M [--pieces N] [--seconds S] [--sync hard|soft|none] [--seed S]\n"
      "          [--grid v1,v2,... (N pieces per valence x arousal pair, one summary per valence)]\n"
      "  stats   --midi DIR_OR_FILE... [--max-files N per directory] [--max-midi-seconds S] [--seed S]\n"
      "          [--jitter-ms J (move each note by a random N(0, J ms): the calibration of the pulse)]\n"
      "          [--save-midi DIR (each generated piece's delivered MIDI as DIR/piece-N.mid)]\n"
      "        --grid-prior D,B,E,S,T,P logit prior of a shift onto a downbeat, beat, 8th, 16th, triplet, "
      "pre-grid\n"
      "common: --json OUT.json writes every figure (and per-piece data) as JSON\n"
      "        --instruments less|more selects the instrument-count control token (default more)\n"
      "        --temperature T sampling temperature (default 1.35, EMSYNC's demo)\n"
      "        --density-control K steers note density towards the requested arousal (default 5, emsync's;\n"
      "          0 = off: --density-control 0 --mode-control 0 is the model alone)\n"
      "        --mode-control K steers towards major (valence > 0) or minor (valence < 0) keys (default 1.5; "
      "0 = off)\n"
      "        --guidance G composes with emotion guidance G (0 = none, as the reference)\n"
      "        --no-note-grammar lets the model emit note-ons of sounding keys and note-offs of silent "
      "keys\n");
  std::exit(rc);
}

static std::vector<double> parse_list(const std::string& s) {
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
    a.given.insert(k);
    if (k == "--model")
      a.model = val();
    else if (k == "--midi") {
      a.midi.push_back(val());
      in_midi = true;
    } else if (k == "--json")
      a.json = val();
    else if (k == "--save-midi")
      a.save_midi = val();
    else if (k == "--grid-prior")
      a.grid_prior = parse_list(val());
    else if (k == "--threads")
      a.threads = std::stoi(val());
    else if (k == "--seconds")
      a.seconds = std::stod(val());
    else if (k == "--pieces")
      a.pieces = std::stoi(val());
    else if (k == "--seed")
      a.seed = std::stoull(val());
    else if (k == "--no-note-grammar")
      a.note_grammar = false;
    else if (k == "--guidance")
      a.guidance = std::stod(val());
    else if (k == "--temperature")
      a.temperature = std::stod(val());
    else if (k == "--density-control")
      a.density_control = std::stod(val());
    else if (k == "--mode-control")
      a.mode_control = std::stod(val());
    else if (k == "--instruments") {
      const std::string v = val();
      if (v != "less" && v != "more") usage(2);
      a.fewer_instruments = v == "less";
    } else if (k == "--seeds")
      a.seeds = std::stoi(val());
    else if (k == "--ref-steps")
      a.ref_steps = std::stoi(val());
    else if (k == "--short-context")
      a.short_context = std::stoi(val());
    else if (k == "--cut-every")
      a.cut_every = std::stod(val());
    else if (k == "--grid") {
      a.grid = parse_list(val());
      a.grid_given = true;
    } else if (k == "--kv-profile")
      a.kv_profile = parse_list(val());
    else if (k == "--sync")
      a.sync = val();
    else if (k == "--preset") {
      const std::string v = val();
      if (v != "shipped" && v != "reference") usage(2);
      a.reference = v == "reference";
    } else if (k == "--max-files")
      a.max_files = std::stoi(val());
    else if (k == "--max-midi-seconds")
      a.max_midi_seconds = std::stod(val());
    else if (k == "--jitter-ms")
      a.jitter_ms = std::stod(val());
    else if (k == "-h" || k == "--help")
      usage(0);
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
  j["preset"] = a.reference ? "reference" : "shipped";
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

// ---------------------------------------------------------------- generation

namespace {

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
  std::printf(
      "model: %s (%zu parameters, %d layers, d_model %d, %d heads, d_ff %d, context %d), loaded in %.3f s\n",
      info.model->path().c_str(), info.model->parameter_count(), c.n_layers, c.d_model, c.n_heads, c.d_ff,
      c.context, info.load_seconds);
}

}  // namespace

ModelInfo open_model(const Args& a, Json& out) {
  ModelInfo info = load_model(a.model);
  print_model(info);
  out["model"] = model_json(info);
  return info;
}

GenRequest request_from_args(const Args& a, mu::SyncMode sync, uint64_t seed, double seconds) {
  GenRequest req;
  mu::ComposerOptions& o = req.options;
  if (a.reference) o = mu::ComposerOptions::reference();
  // With the reference preset only the flags given change its options; the shipped ones take every flag's value.
  auto take = [&a](const char* flag) { return !a.reference || a.given.count(flag) > 0; };
  if (take("--sync")) o.sync = sync;
  o.seed = seed;
  o.threads = a.threads;
  if (take("--no-note-grammar")) o.note_grammar = a.note_grammar;
  if (take("--guidance")) o.emotion_guidance = a.guidance;
  if (take("--instruments"))
    o.instruments = a.fewer_instruments ? mu::InstrumentCount::Less : mu::InstrumentCount::More;
  if (take("--temperature")) {
    o.sampler.temperature_after_time_shift = a.temperature;
    o.sampler.temperature_otherwise = a.temperature;
  }
  if (take("--density-control")) o.density_control = a.density_control;
  if (take("--mode-control")) o.mode_control = a.mode_control;
  if (a.grid_prior.size() == o.grid_level_prior.size())
    for (size_t i = 0; i < a.grid_prior.size(); ++i)
      o.grid_level_prior[i] = static_cast<float>(a.grid_prior[i]);
  else if (!a.grid_prior.empty())
    throw std::runtime_error("--grid-prior takes 6 numbers (downbeat, beat, 8th, 16th, triplet, pre-grid)");
  req.seconds = seconds;
  return req;
}

Piece compose(const std::shared_ptr<const mu::GeneratorModel>& model, const GenRequest& req) {
  // The element's path: MidiStream composes slice by slice and delivers the MIDI (no tick messages here).
  mu::MidiStream stream(model, req.options);
  Piece p;
  p.seconds = req.seconds;
  for (double c : req.cuts)
    if (stream.add_cut(c)) p.kept_cuts.push_back(c);
  stream.set_emotion(0.0, req.valence, req.arousal);
  const double t0 = now_seconds();
  if (req.time_tokens) {
    // One call per time step (a call returns once the cursor has moved): each token is charged its call's
    // time divided by the tokens it produced, so a call that re-prefilled the window stands out.
    while (stream.generated_until() < req.seconds) {
      const size_t before = p.tokens.size();
      const double s0 = now_seconds();
      stream.generate_slice(std::min(req.seconds, stream.generated_until() + 1e-6), p.midi, nullptr,
                            &p.tokens);
      const double dt = now_seconds() - s0;
      const size_t n = p.tokens.size() - before;
      for (size_t i = 0; i < n; ++i) p.ms_per_token.push_back(1000.0 * dt / n);
    }
  } else {
    while (stream.generate_slice(req.seconds, p.midi, nullptr, &p.tokens)) {
    }
  }
  p.gen_seconds = now_seconds() - t0;
  stream.finish(req.seconds, p.midi);
  const mu::Composer& composer = stream.composer();
  p.stats = composer.stats();
  for (const mu::Bar& b : composer.tempo_map().bars())
    if (b.start < req.seconds) {
      p.bar_times.push_back(b.start);
      p.bar_beats.push_back(b.length_beats());
      p.meter.push_back({b.start, b.beat, b.length_beats()});
    }
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

std::vector<md::Note> delivered_notes(const Piece& p, std::vector<uint8_t>* smf_bytes,
                                      md::SmfFile* smf_file) {
  md::SmfTrackData track;
  track.name = "emsync";
  for (const md::MidiEvent& e : p.midi)
    if (e.status != mu::kMidiTickStatus) track.messages.push_back(md::to_timed_message(e));
  md::WriteOptions options;
  options.meter = p.meter;  // as emsyncmidienc writes it from the generator's "emsync-tempo" events
  const std::vector<uint8_t> bytes = md::write_smf({track}, options);
  md::SmfFile file = md::parse_smf(bytes, "delivered MIDI");
  std::vector<md::Note> notes = md::notes_from_smf(file);
  if (smf_bytes) *smf_bytes = bytes;
  if (smf_file) *smf_file = std::move(file);
  return notes;
}

std::vector<double> random_cuts(std::mt19937_64& rng, double seconds) {
  std::uniform_real_distribution<double> gap(2.0, 12.0);
  std::vector<double> cuts;
  for (double t = gap(rng); t < seconds - 0.5; t += gap(rng)) cuts.push_back(t);
  return cuts;
}

}  // namespace gen_eval
