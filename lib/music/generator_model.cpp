// The generator runtime without libtorch: loading the model file (lib/music/model_archive.h), the session's
// window, and its prefill and step (lib/music/native_decoder.h). The TorchScript side is optional
// (lib/music/torchscript_support.h).
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <mutex>

#include <nlohmann/json.hpp>

#include "lib/midi/vocab.h"
#include "lib/music/generator_internal.h"
#include "lib/music/model_archive.h"

namespace emsync::music {

struct GeneratorSession::State {
  StepBackend backend = StepBackend::Native;
  KvCache kv;  // native backends
  std::unique_ptr<NativeDecoder> decoder;
  std::unique_ptr<NativePrefill> prefill;
  std::unique_ptr<TorchScriptModel::Cache> torch_cache;  // TorchScript backend
};

namespace {

std::atomic<const TorchScriptSupport*> torchscript_support{nullptr};

constexpr const char* kConfigName = "emsync.json";

// The exported config is one flat JSON object of numbers and strings (models/FORMAT.md). Every value is checked
// before it is converted: a malformed or out-of-range value is a ModelError naming the file and the key.
class ConfigReader {
 public:
  ConfigReader(const std::string& path, const std::string& text) : path_(path) {
    try {
      doc_ = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      throw ModelError("generator model '" + path + "': its " + kConfigName + " is not valid JSON (" +
                       shortened(e.what(), 200) + ")");
    }
    if (!doc_.is_object())
      throw ModelError("generator model '" + path + "': its " + kConfigName + " is not a JSON object");
  }

  std::string string(const char* key) const {
    auto it = doc_.find(key);
    if (it == doc_.end()) return "";
    return it->is_string() ? it->get<std::string>() : shortened(it->dump());
  }

  // A finite number in [min, max]; `fallback` when the key is absent and not required.
  double number(const char* key, bool required, double fallback, double min, double max) const {
    const nlohmann::json* value = find(key, required);
    if (!value) return fallback;
    const double v = value->is_number() ? value->get<double>() : std::nan("");
    if (!(v >= min && v <= max))
      throw out_of_range(key, *value, "a number from " + shown(min) + " to " + shown(max));
    return v;
  }

  // A whole number in [min, max] (within int), range-checked before the conversion.
  int integer(const char* key, bool required, int fallback, int min, int max) const {
    const nlohmann::json* value = find(key, required);
    if (!value) return fallback;
    const double v = value->is_number() ? value->get<double>() : std::nan("");
    if (!(v >= min && v <= max) || v != std::floor(v))
      throw out_of_range(key, *value,
                         "a whole number from " + std::to_string(min) + " to " + std::to_string(max));
    return static_cast<int>(v);
  }

 private:
  const nlohmann::json* find(const char* key, bool required) const {
    auto it = doc_.find(key);
    if (it != doc_.end()) return &*it;
    if (required)
      throw ModelError("generator model '" + path_ + "': its " + kConfigName + " lacks \"" + key +
                       "\" (see models/FORMAT.md)");
    return nullptr;
  }
  static std::string shortened(const std::string& s, size_t limit = 60) {
    return s.size() <= limit ? s : s.substr(0, limit - 3) + "...";
  }
  static std::string shown(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
  }
  ModelError out_of_range(const char* key, const nlohmann::json& value, const std::string& expected) const {
    return ModelError("generator model '" + path_ + "': \"" + key + "\" in its " + kConfigName + " must be " +
                      expected + ", found " + shortened(value.dump()));
  }

  std::string path_;
  nlohmann::json doc_;
};

// Bounds on the sizes a model may declare: far above any real model (official: context 1216, d_model 512), low
// enough that the buffers sized from them cannot overflow.
constexpr int kMaxDimension = 1 << 16;

GeneratorConfig parse_config(const std::string& path, const std::string& json) {
  const ConfigReader r(path, json);
  constexpr int kAnyInt = std::numeric_limits<int>::max();
  GeneratorConfig c;
  c.format = r.string("format");
  if (c.format != "emsync-generator")
    throw ModelError("'" + path +
                     "' is not an emsync generator model: expected format \"emsync-generator\" in " +
                     kConfigName + ", found \"" + c.format + "\"");
  c.format_version = r.integer("format_version", true, 0, -kAnyInt, kAnyInt);
  if (c.format_version != 1)
    throw ModelError("generator model '" + path + "' has format_version " + std::to_string(c.format_version) +
                     "; this build reads version 1");
  c.vocab_size = r.integer("vocab_size", true, 0, -kAnyInt, kAnyInt);
  if (c.vocab_size != midi::kVocabSize)
    throw ModelError("generator model '" + path + "' has a vocabulary of " + std::to_string(c.vocab_size) +
                     " tokens; the EMSYNC vocabulary has " + std::to_string(midi::kVocabSize));
  c.context = r.integer("context", true, 0, 1, kMaxDimension);
  c.d_model = r.integer("d_model", false, 0, 0, kMaxDimension);
  c.n_layers = r.integer("n_layers", false, 0, 0, kMaxDimension);
  c.n_heads = r.integer("n_heads", false, 0, 0, kMaxDimension);
  c.d_ff = r.integer("d_ff", false, 0, 0, kMaxDimension);
  // Boundary offsets are clamped to [0, max]: 0 or less would make every boundary input the same.
  c.max_boundary_seconds = r.number("max_boundary_seconds", false, 8.0, 1e-3, 3600.0);
  c.tick_ms = r.integer("tick_ms", false, midi::kTickMs, -kAnyInt, kAnyInt);
  c.n_condition_positions = r.integer("n_condition_positions", false, 2, -kAnyInt, kAnyInt);
  c.instrument_threshold = r.integer("instrument_threshold", false, 3, 1, 16);
  c.arousal_density_min = r.number("arousal_density_min", false, 0.0, 0.0, 1e6);
  c.arousal_density_max = r.number("arousal_density_max", false, 0.0, 0.0, 1e6);
  // The network reads exactly two condition positions (valence, arousal) in front of the tokens.
  if (c.n_condition_positions != 2)
    throw ModelError("generator model '" + path + "' declares " + std::to_string(c.n_condition_positions) +
                     " condition positions; the EMSYNC architecture has 2 (valence, arousal)");
  if (c.context < c.n_condition_positions + 8)
    throw ModelError("generator model '" + path + "' has an unusable context of " +
                     std::to_string(c.context));
  if (c.tick_ms != midi::kTickMs)
    throw ModelError("generator model '" + path + "' uses " + std::to_string(c.tick_ms) +
                     " ms time shifts; the EMSYNC vocabulary uses " + std::to_string(midi::kTickMs) + " ms");
  return c;
}

std::mutex cache_mutex;
std::map<std::string, std::weak_ptr<const GeneratorModel>> loaded_models;

std::string canonical_path(const std::string& path) {
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved)) return resolved;
  return path;
}

// The prefill hands its matrix products to the system BLAS. Debian's OpenBLAS (pthread build) keeps its own pool
// of one thread per core, whose idle threads spin in sched_yield between calls: about 15 % of the CPU of a whole
// `emsync` run on 2 cores when it was left at its default. Each session sizes that pool to its threads before its
// prefills. Looked up once, at run time in the libraries already loaded, since other BLAS builds lack the function.
void set_openblas_threads(int threads) {
  using SetThreads = void (*)(int);
  static const SetThreads set = [] {
    for (const char* lib : {"libopenblas.so.0", "libblas.so.3"}) {
      void* handle = dlopen(lib, RTLD_LAZY | RTLD_NOLOAD);
      if (!handle) continue;
      auto f = reinterpret_cast<SetThreads>(dlsym(handle, "openblas_set_num_threads"));
      dlclose(handle);  // RTLD_NOLOAD: the library stays loaded by whoever linked it
      if (f) return f;
    }
    return static_cast<SetThreads>(nullptr);
  }();
  if (set) set(threads);
}

}  // namespace

void install_torchscript_support(const TorchScriptSupport* support) {
  torchscript_support.store(support);
}

GeneratorModel::~GeneratorModel() = default;

std::shared_ptr<const GeneratorModel> GeneratorModel::load(const std::string& path) {
  struct stat st;
  if (path.empty()) throw ModelError("no generator model file given");
  if (stat(path.c_str(), &st) != 0) throw ModelError("generator model file '" + path + "' not found");
  if (!S_ISREG(st.st_mode)) throw ModelError("generator model '" + path + "' is not a regular file");

  const std::string key = canonical_path(path);
  std::lock_guard<std::mutex> lock(cache_mutex);
  if (auto existing = loaded_models[key].lock()) return existing;

  ModelArchive archive(path);
  if (!archive.has(ModelArchive::kConfigRecord))
    throw ModelError(
        "'" + path + "' is a TorchScript file without " + kConfigName +
        ": expected an emsync generator exported by models/training/export.py (models/FORMAT.md)");
  GeneratorConfig config = parse_config(path, archive.read(ModelArchive::kConfigRecord));

  auto impl = std::make_unique<Impl>();
  if (archive.has(ModelArchive::kWeightsRecord)) {
    auto tensors = archive.read_weights();
    try {
      impl->native = std::make_unique<DecoderWeights>(
          DecoderWeights::from_parameters(config, [&](const std::string& name, std::vector<float>& out) {
            auto it = tensors.find(name);
            if (it == tensors.end()) throw std::invalid_argument("no parameter " + name);
            out = std::move(it->second.values);
          }));
    } catch (const std::invalid_argument& e) {
      throw ModelError("generator model '" + path + "' does not have the EMSYNC architecture's weights (" +
                       e.what() + ")");
    }
  }
  if (const TorchScriptSupport* support = torchscript_support.load())
    impl->torch = support->load(path, impl->native, config);
  if (!impl->native)
    throw ModelError("generator model '" + path + "' has no weight index (" + ModelArchive::kWeightsRecord +
                     "); add it with: /usr/bin/python3 models/training/export.py --add-index " + path);
  const size_t count = impl->native->parameter_count();
  impl->native->prepare_half();

  std::shared_ptr<GeneratorModel> model(new GeneratorModel());
  model->config_ = config;
  model->path_ = path;
  model->impl_ = std::move(impl);
  model->parameter_count_ = count;
  loaded_models[key] = model;
  return model;
}

bool GeneratorModel::has_native_step() const {
  return impl_->native != nullptr;
}

GeneratorSession::GeneratorSession(std::shared_ptr<const GeneratorModel> model)
    : model_(std::move(model)), state_(std::make_unique<State>()) {
  if (!model_) throw ModelError("GeneratorSession needs a model");
  // The default backend: the half-precision step where the CPU has F16C (DecoderWeights::prepare_half).
  const DecoderWeights& weights = *model_->impl().native;
  const bool half = weights.has_half();
  state_->backend = half ? StepBackend::NativeHalf : StepBackend::Native;
  state_->kv.reset(weights.shape, half);
  state_->decoder = std::make_unique<NativeDecoder>(weights, half);
  state_->prefill = std::make_unique<NativePrefill>(weights);
}

void GeneratorSession::set_threads(int threads, size_t parallel_min_parameters) {
  threads_ = std::max(threads, 1);
  parallel_min_parameters_ = parallel_min_parameters;
  if (state_->decoder) state_->decoder->set_threads(threads_, parallel_min_parameters_);
}

namespace {
bool is_native(StepBackend b) {
  return b == StepBackend::Native || b == StepBackend::NativeHalf;
}
}  // namespace

void GeneratorSession::set_step_backend(StepBackend backend) {
  const DecoderWeights& weights = *model_->impl().native;
  if (backend == StepBackend::NativeHalf && !weights.has_half()) backend = StepBackend::Native;
  if (backend == StepBackend::TorchScript && !model_->impl().torch)
    throw ModelError(
        "the TorchScript step needs the TorchScript support: call enable_torchscript() before loading "
        "the model (lib/music/torchscript_support.h)");
  if (backend == state_->backend) return;
  state_->backend = backend;
  if (is_native(backend)) {
    const bool half = backend == StepBackend::NativeHalf;
    state_->kv.reset(weights.shape, half);
    state_->decoder = std::make_unique<NativeDecoder>(weights, half);
    state_->decoder->set_threads(threads_, parallel_min_parameters_);
  } else {
    state_->kv = KvCache();
    state_->decoder.reset();
  }
  if (!window_tokens_.empty()) prefill();  // rebuild the current window's cache for the new backend
}

StepBackend GeneratorSession::step_backend() const {
  return state_->backend;
}

GeneratorSession::~GeneratorSession() = default;

void GeneratorSession::start(const std::vector<int>& prefix, const std::vector<float>& boundaries,
                             float valence, float arousal) {
  if (prefix.empty() || prefix.size() != boundaries.size())
    throw ModelError("GeneratorSession::start needs one boundary value per prefix token");
  window_tokens_ = prefix;
  window_boundaries_ = boundaries;
  valence_ = valence;
  arousal_ = arousal;
  prefill();
}

void GeneratorSession::prefill() {
  if (is_native(state_->backend)) {
    set_openblas_threads(threads_);
    logits_.resize(model_->config().vocab_size);
    state_->prefill->run(window_tokens_, window_boundaries_, valence_, arousal_, state_->kv, logits_.data());
  } else {
    if (const TorchScriptSupport* support = torchscript_support.load()) support->set_threads(threads_);
    state_->torch_cache =
        model_->impl().torch->prefill(window_tokens_, window_boundaries_, valence_, arousal_, logits_);
  }
  ++prefill_count_;
}

void GeneratorSession::push(int token, float boundary) {
  const GeneratorConfig& c = model_->config();
  const int capacity = c.context - c.n_condition_positions;  // token positions in the window
  window_tokens_.push_back(token);
  window_boundaries_.push_back(boundary);
  if (static_cast<int>(window_tokens_.size()) > capacity) {
    keep_newest(slide_keep());
    prefill();
    return;
  }
  if (is_native(state_->backend)) {
    logits_.resize(c.vocab_size);
    state_->decoder->step(token, boundary, state_->kv, logits_.data());
  } else {
    model_->impl().torch->step(token, boundary, state_->torch_cache, logits_);
  }
  ++step_count_;
}

// Slide by a chunk: keep the instrument control token and the newest half of the window. A re-prefill costs
// about as much as 40-70 cached steps (small model, full window), so sliding by half the window keeps its
// amortised cost under half a step while the model still sees several seconds of music.
size_t GeneratorSession::slide_keep() const {
  const GeneratorConfig& c = model_->config();
  return static_cast<size_t>((c.context - c.n_condition_positions) / 2);
}

void GeneratorSession::keep_newest(size_t keep) {
  if (window_tokens_.size() <= keep + 1) return;
  std::vector<int> tokens{window_tokens_.front()};
  // The instrument token (and the two condition positions, which copy it) reads the boundary offset of the
  // first kept token, as in EMSYNC's loop (emsync-reference.md §2d-2e: the prefix copies the window's first
  // time_to_chord), not the one it had at time 0.
  std::vector<float> bounds{*(window_boundaries_.end() - keep)};
  tokens.insert(tokens.end(), window_tokens_.end() - keep, window_tokens_.end());
  bounds.insert(bounds.end(), window_boundaries_.end() - keep, window_boundaries_.end());
  window_tokens_ = std::move(tokens);
  window_boundaries_ = std::move(bounds);
}

void GeneratorSession::set_condition(float valence, float arousal) {
  auto same = [](float x, float y) { return (std::isnan(x) && std::isnan(y)) || x == y; };
  if (same(valence, valence_) && same(arousal, arousal_)) return;
  valence_ = valence;
  arousal_ = arousal;
  if (window_tokens_.empty()) return;
  // The whole window must be re-run with the new condition anyway: running only what a slide would keep
  // bounds its cost, and the window then has room for half a window of steps before the next slide. With
  // emotion updates every few seconds this halves the prefill work per minute of music.
  keep_newest(slide_keep());
  prefill();
}

}  // namespace emsync::music
