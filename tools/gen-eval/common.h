// emsync-gen-eval: what the commands share — JSON output, markdown tables, small statistics, the command line,
// model loading and composing a piece through lib/music's Composer.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "lib/midi/notes.h"
#include "lib/midi/smf.h"
#include "lib/music/composer.h"
#include "lib/music/midi_stream.h"
#include "lib/music/generator_model.h"

namespace gen_eval {

namespace mu = emsync::music;
namespace md = emsync::midi;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kTick = md::kTickSeconds;  // the tokens' time step

// ---------------------------------------------------------------- JSON (output only)

class Json {
 public:
  enum class Kind { Null, Bool, Number, String, Array, Object };
  Json() = default;
  Json(double v) : kind_(Kind::Number), num_(v) {}                       // NOLINT
  Json(int v) : kind_(Kind::Number), num_(v) {}                          // NOLINT
  Json(long v) : kind_(Kind::Number), num_(static_cast<double>(v)) {}    // NOLINT
  Json(size_t v) : kind_(Kind::Number), num_(static_cast<double>(v)) {}  // NOLINT
  Json(bool v) : kind_(Kind::Bool), bool_(v) {}                          // NOLINT
  Json(const char* v) : kind_(Kind::String), str_(v) {}                  // NOLINT
  Json(std::string v) : kind_(Kind::String), str_(std::move(v)) {}       // NOLINT
  static Json array() {
    Json j;
    j.kind_ = Kind::Array;
    return j;
  }
  static Json object() {
    Json j;
    j.kind_ = Kind::Object;
    return j;
  }
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
  std::string dump(int indent = 0) const;

 private:
  static void escape(std::string& out, const std::string& s);
  void write(std::string& out, int indent, int level) const;

  Kind kind_ = Kind::Null;
  double num_ = 0.0;
  bool bool_ = false;
  std::string str_;
  std::vector<Json> arr_;
  std::vector<std::pair<std::string, Json>> obj_;
};

// ---------------------------------------------------------------- tables

std::string fmt(const char* f, double v);
std::string fmt_pct(double share);

struct Table {
  std::string title;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  void print() const;
};

// ---------------------------------------------------------------- small statistics

double median(std::vector<double> v);
double quantile(std::vector<double> v, double q);
double mean(const std::vector<double>& v);
double pearson(const std::vector<double>& x, const std::vector<double>& y);
double spearman(const std::vector<double>& x, const std::vector<double>& y);

double now_seconds();
double peak_rss_mib();
double current_rss_mib();

// ---------------------------------------------------------------- options

struct Args {
  std::string command;
  std::string model;
  std::vector<std::string> midi;
  std::string json;
  std::string save_midi;
  std::vector<double>
      grid_prior;  // --grid-prior: ComposerOptions::grid_level_prior  // stats: a folder for each generated piece's delivered MIDI
  int threads = 1;
  double seconds = -1;  // per-command default
  int pieces = -1;
  uint64_t seed = 1;
  int seeds = 3;
  int ref_steps = 24;
  int short_context = 64;
  double cut_every = 6.0;
  std::vector<double> grid{-0.8, -0.4, 0.0, 0.4, 0.8};
  bool grid_given = false;         // stats: --grid composes --pieces pieces per (valence, arousal) pair
  std::vector<double> kv_profile;  // speed: extra cache lengths for the KV step profile
  std::string sync = "hard";
  int max_files = 40;
  double max_midi_seconds = 0;  // 0 = whole file
  double jitter_ms = 0;         // stats --midi: move each corpus note by a random N(0, jitter) (calibration)
  // The generator's options start from emsync's shipped values (ComposerOptions); the flags change them.
  bool note_grammar = mu::ComposerOptions{}.note_grammar;  // --no-note-grammar: invalid note events allowed
  double guidance =
      mu::ComposerOptions{}.emotion_guidance;  // --guidance G (ComposerOptions::emotion_guidance)
  bool fewer_instruments = false;              // --instruments less: the <LESS_INSTRUMENTS> control token
  double temperature =
      mu::SamplerOptions{}.temperature_otherwise;  // --temperature T (the reference demo's 1.35)
  double density_control =
      mu::ComposerOptions{}.density_control;                 // --density-control K (0 = the model alone)
  double mode_control = mu::ComposerOptions{}.mode_control;  // --mode-control K (0 = the model alone)
  // --preset reference: the options start from ComposerOptions::reference() (EMSYNC's procedure, soft sync) and
  // only the generator flags given on the command line change them (as emsyncmidigen's preset property).
  bool reference = false;
  std::set<std::string> given;  // the options on the command line
};

[[noreturn]] void usage(int rc);
Args parse_args(int argc, char** argv);
mu::SyncMode parse_sync(const std::string& s);
const char* sync_name(mu::SyncMode m);

// The "tool/command/threads/seed/options/host" head of every command's JSON.
Json header_json(const Args& a, const std::string& command);
// Writes `j` to --json when given.
void write_json(const Args& a, const Json& j);

// ---------------------------------------------------------------- generation

struct Piece {
  std::vector<mu::TimedToken> tokens;
  std::vector<int> raw;  // tokens only
  std::vector<md::MidiEvent>
      midi;  // what emsyncmidigen delivers (lib/music's MidiStream, finished at `seconds`)
  std::vector<double> kept_cuts;
  std::vector<double> bar_times;    // the composer's planned bar lines (empty with free timing)
  std::vector<double> bar_beats;    // and their beats
  std::vector<md::MeterBar> meter;  // the same bars for the delivered SMF's tempo track
  long cuts_served = 0;             // kept cuts the schedule marked served (a <CHORD> within 1 s)
  double seconds = 0;
  double gen_seconds = 0;
  mu::ComposerStats stats;
  std::vector<double> ms_per_token;  // one entry per token (the token's share of its generate call)
};

struct ModelInfo {
  std::shared_ptr<const mu::GeneratorModel> model;
  double load_seconds = 0;
};

// Loads --model, prints its summary and records it as out["model"].
ModelInfo open_model(const Args& a, Json& out);

struct GenRequest {
  mu::ComposerOptions options;  // sync, seed, threads, sampling and steering
  double seconds = 30;
  std::vector<double> cuts;
  float valence = 0.0f;
  float arousal = 0.0f;
  bool time_tokens = false;
};

// A request for `seconds` of music with the command line's composer options (every option the command line has is
// set from it; every other option keeps its shipped value).
GenRequest request_from_args(const Args& a, mu::SyncMode sync, uint64_t seed, double seconds);

Piece compose(const std::shared_ptr<const mu::GeneratorModel>& model, const GenRequest& req);
std::vector<md::Note> piece_notes(const Piece& p, bool close_open);
// The notes a listener hears: the delivered MIDI (velocities, onset timing, the ending) read back from its SMF
// bytes by the corpus reader, so that generated music and corpus files go through the same code.
std::vector<md::Note> delivered_notes(const Piece& p, std::vector<uint8_t>* smf_bytes = nullptr,
                                      md::SmfFile* smf_file = nullptr);

// Scene cuts 2-12 s apart over `seconds`.
std::vector<double> random_cuts(std::mt19937_64& rng, double seconds);

// ---------------------------------------------------------------- commands

int cmd_speed(const Args& a);
int cmd_sync(const Args& a);
int cmd_emotion(const Args& a);
int cmd_stats(const Args& a);

}  // namespace gen_eval
