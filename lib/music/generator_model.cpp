// The generator runtime without libtorch: loading the model file (lib/music/model_archive.h), the session's
// window, and its prefill and step (lib/music/native_decoder.h). The TorchScript side is optional
// (lib/music/torchscript_support.h).
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <cmath>
#include <map>
#include <mutex>
#include <regex>

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

constexpr int kExpectedVocabSize = 1011;
constexpr const char* kConfigName = "emsync.json";

// The exported config is one flat JSON object of numbers and strings.
std::map<std::string, std::string> parse_flat_json(const std::string& text) {
  std::map<std::string, std::string> out;
  static const std::regex pair_re("\"([A-Za-z0-9_]+)\"\\s*:\\s*(\"[^\"]*\"|[-+0-9.eE]+|true|false|null)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), pair_re); it != std::sregex_iterator(); ++it) {
    std::string value = (*it)[2];
    if (!value.empty() && value.front() == '"') value = value.substr(1, value.size() - 2);
    out[(*it)[1]] = value;
  }
  return out;
}

GeneratorConfig parse_config(const std::string& path, const std::string& json) {
  auto kv = parse_flat_json(json);
  auto number = [&](const char* key, bool required, double fallback) -> double {
    auto it = kv.find(key);
    if (it == kv.end()) {
      if (required)
        throw ModelError("generator model '" + path + "': its " + kConfigName + " lacks \"" + key +
                         "\" (see models/FORMAT.md)");
      return fallback;
    }
    return std::stod(it->second);
  };
  GeneratorConfig c;
  c.format = kv.count("format") ? kv["format"] : "";
  if (c.format != "emsync-generator")
    throw ModelError("'" + path + "' is not an emsync generator model: expected format \"emsync-generator\" in " +
                     kConfigName + ", found \"" + c.format + "\"");
  c.format_version = static_cast<int>(number("format_version", true, 0));
  if (c.format_version != 1)
    throw ModelError("generator model '" + path + "' has format_version " + std::to_string(c.format_version) +
                     "; this build reads version 1");
  c.vocab_size = static_cast<int>(number("vocab_size", true, 0));
  if (c.vocab_size != kExpectedVocabSize)
    throw ModelError("generator model '" + path + "' has a vocabulary of " + std::to_string(c.vocab_size) +
                     " tokens; the EMSYNC vocabulary has " + std::to_string(kExpectedVocabSize));
  c.context = static_cast<int>(number("context", true, 0));
  c.d_model = static_cast<int>(number("d_model", false, 0));
  c.n_layers = static_cast<int>(number("n_layers", false, 0));
  c.n_heads = static_cast<int>(number("n_heads", false, 0));
  c.d_ff = static_cast<int>(number("d_ff", false, 0));
  c.max_boundary_seconds = number("max_boundary_seconds", false, 8.0);
  c.tick_ms = static_cast<int>(number("tick_ms", false, 8));
  c.n_condition_positions = static_cast<int>(number("n_condition_positions", false, 2));
  c.instrument_threshold = static_cast<int>(number("instrument_threshold", false, 3));
  c.arousal_density_min = number("arousal_density_min", false, 0.0);
  c.arousal_density_max = number("arousal_density_max", false, 0.0);
  if (c.context < c.n_condition_positions + 8)
    throw ModelError("generator model '" + path + "' has an unusable context of " + std::to_string(c.context));
  if (c.tick_ms != 8)
    throw ModelError("generator model '" + path + "' uses " + std::to_string(c.tick_ms) +
                     " ms time shifts; the EMSYNC vocabulary uses 8 ms");
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
// `emsync` run on 2 cores when it was left at its default. Size that pool like the step's threads. Looked up at
// run time in the libraries already loaded, since other BLAS builds lack the function.
void set_openblas_threads(int threads) {
  for (const char* lib : {"libopenblas.so.0", "libblas.so.3"}) {
    void* handle = dlopen(lib, RTLD_LAZY | RTLD_NOLOAD);
    if (!handle) continue;
    auto set = reinterpret_cast<void (*)(int)>(dlsym(handle, "openblas_set_num_threads"));
    if (set) set(threads);
    dlclose(handle);
    if (set) return;
  }
}

}  // namespace

void install_torchscript_support(const TorchScriptSupport* support) { torchscript_support.store(support); }

GeneratorModel::~GeneratorModel() = default;

std::shared_ptr<const GeneratorModel> GeneratorModel::load(const std::string& path) {
  struct stat st;
  if (path.empty()) throw ModelError("no generator model file given");
  if (stat(path.c_str(), &st) != 0)
    throw ModelError("generator model file '" + path + "' not found");
  if (!S_ISREG(st.st_mode)) throw ModelError("generator model '" + path + "' is not a regular file");

  const std::string key = canonical_path(path);
  std::lock_guard<std::mutex> lock(cache_mutex);
  if (auto existing = loaded_models[key].lock()) return existing;

  ModelArchive archive(path);
  if (!archive.has(ModelArchive::kConfigRecord))
    throw ModelError("'" + path + "' is a TorchScript file without " + kConfigName +
                     ": expected an emsync generator exported by models/training/export.py (models/FORMAT.md)");
  GeneratorConfig config = parse_config(path, archive.read(ModelArchive::kConfigRecord));

  auto impl = std::make_unique<Impl>();
  if (archive.has(ModelArchive::kWeightsRecord)) {
    auto tensors = archive.read_weights();
    try {
      impl->native = std::make_unique<DecoderWeights>(DecoderWeights::from_parameters(
          config, [&](const std::string& name, std::vector<float>& out) {
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

void set_inference_threads(int threads) {
  if (threads <= 0) return;
  set_openblas_threads(threads);
  set_native_decoder_threads(threads);
  if (const TorchScriptSupport* support = torchscript_support.load()) support->set_threads(threads);
}

bool GeneratorModel::has_native_step() const { return impl_->native != nullptr; }

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

namespace {
bool is_native(StepBackend b) { return b == StepBackend::Native || b == StepBackend::NativeHalf; }
}  // namespace

void GeneratorSession::set_step_backend(StepBackend backend) {
  const DecoderWeights& weights = *model_->impl().native;
  if (backend == StepBackend::NativeHalf && !weights.has_half()) backend = StepBackend::Native;
  if (backend == StepBackend::TorchScript && !model_->impl().torch)
    throw ModelError("the TorchScript step needs the TorchScript support: call enable_torchscript() before loading "
                     "the model (lib/music/torchscript_support.h)");
  if (backend == state_->backend) return;
  state_->backend = backend;
  if (is_native(backend)) {
    const bool half = backend == StepBackend::NativeHalf;
    state_->kv.reset(weights.shape, half);
    state_->decoder = std::make_unique<NativeDecoder>(weights, half);
  } else {
    state_->kv = KvCache();
    state_->decoder.reset();
  }
  if (!window_tokens_.empty()) prefill();  // rebuild the current window's cache for the new backend
}

StepBackend GeneratorSession::step_backend() const { return state_->backend; }

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
    logits_.resize(model_->config().vocab_size);
    state_->prefill->run(window_tokens_, window_boundaries_, valence_, arousal_, state_->kv, logits_.data());
  } else {
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
  std::vector<float> bounds{window_boundaries_.front()};
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
