// The only translation unit of lib/music that includes libtorch: loading the TorchScript generator and
// running its prefill/step methods (contract: models/FORMAT.md).
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <ATen/Parallel.h>
#include <torch/script.h>

#include <cmath>
#include <map>
#include <mutex>
#include <regex>
#include <sstream>

#include "lib/music/generator_model.h"
#include "lib/music/native_decoder.h"

namespace emsync::music {

struct GeneratorModel::Impl {
  torch::jit::Module module;
  // The same weights as plain arrays for the native step; empty when the module's parameters do not
  // follow model.py's names (then sessions step through TorchScript).
  std::unique_ptr<DecoderWeights> native;
};

struct GeneratorSession::State {
  torch::jit::Module module;
  StepBackend backend = StepBackend::TorchScript;
  c10::IValue cache;  // TorchScript backend
  KvCache kv;         // native backend
  std::unique_ptr<NativeDecoder> decoder;
};

namespace {

constexpr int kExpectedVocabSize = 1011;
constexpr const char* kConfigName = "emsync.json";

std::string first_line(const std::string& s) {
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

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

// model.py's parameters as plain arrays (names as in the official EMSYNC checkpoint). Returns null when a
// parameter is missing or shaped unexpectedly, so an unusual but valid TorchScript file still runs.
std::unique_ptr<DecoderWeights> extract_native_weights(const torch::jit::Module& module, const GeneratorConfig& c) {
  std::map<std::string, at::Tensor> params;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) params[p.name] = p.value;
  auto take = [&](const std::string& name, std::vector<float>& out) {
    auto it = params.find(name);
    if (it == params.end()) throw std::invalid_argument("generator weights: no parameter " + name);
    at::Tensor t = it->second.detach().to(at::kFloat).contiguous();
    out.assign(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
  };
  auto w = std::make_unique<DecoderWeights>();
  w->shape = c;
  try {
    take("embedding.weight", w->embedding);
    take("positional_encoding", w->position);
    take("ff_times_to_chord.0.weight", w->bnd_w1);
    take("ff_times_to_chord.0.bias", w->bnd_b1);
    take("ff_times_to_chord.2.weight", w->bnd_w2);
    take("ff_times_to_chord.2.bias", w->bnd_b2);
    take("fc.weight", w->out_w);
    take("fc.bias", w->out_b);
    w->layers.resize(c.n_layers);
    for (int i = 0; i < c.n_layers; ++i) {
      const std::string p = "enc_layers." + std::to_string(i) + ".";
      DecoderWeights::Layer& l = w->layers[i];
      take(p + "rga.Wq.weight", l.wq);
      take(p + "rga.Wq.bias", l.bq);
      take(p + "rga.Wk.weight", l.wk);
      take(p + "rga.Wk.bias", l.bk);
      take(p + "rga.Wv.weight", l.wv);
      take(p + "rga.Wv.bias", l.bv);
      take(p + "rga.fc.weight", l.wo);
      take(p + "rga.fc.bias", l.bo);
      take(p + "rga.E", l.rel);
      take(p + "FFN_pre.weight", l.ff1_w);
      take(p + "FFN_pre.bias", l.ff1_b);
      take(p + "FFN_suf.weight", l.ff2_w);
      take(p + "FFN_suf.bias", l.ff2_b);
      take(p + "layernorm1.weight", l.ln1_g);
      take(p + "layernorm1.bias", l.ln1_b);
      take(p + "layernorm2.weight", l.ln2_g);
      take(p + "layernorm2.bias", l.ln2_b);
    }
    w->check();
  } catch (const std::invalid_argument&) {
    return nullptr;
  }
  return w;
}

void copy_logits(const at::Tensor& t, std::vector<float>& out) {
  at::Tensor flat = t.reshape({-1}).to(at::kFloat).contiguous();
  out.resize(flat.numel());
  std::memcpy(out.data(), flat.data_ptr<float>(), out.size() * sizeof(float));
}

}  // namespace

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

  torch::jit::ExtraFilesMap extra{{kConfigName, ""}};
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, torch::kCPU, extra);
  } catch (const c10::Error& e) {
    throw ModelError("generator model '" + path + "' is not a readable TorchScript file (" +
                     first_line(e.what_without_backtrace()) + ")");
  } catch (const std::exception& e) {
    throw ModelError("generator model '" + path + "' could not be loaded: " + first_line(e.what()));
  }
  if (extra[kConfigName].empty())
    throw ModelError("'" + path + "' is a TorchScript file without " + kConfigName +
                     ": expected an emsync generator exported by models/training/export.py (models/FORMAT.md)");
  GeneratorConfig config = parse_config(path, extra[kConfigName]);
  for (const char* method : {"prefill", "step"}) {
    if (!module.find_method(method))
      throw ModelError("generator model '" + path + "' has no '" + method +
                       "' method: it was not exported with the KV-cache entry points (models/FORMAT.md)");
  }
  module.eval();

  std::shared_ptr<GeneratorModel> model(new GeneratorModel());
  model->config_ = config;
  model->path_ = path;
  model->impl_ = std::make_unique<Impl>();
  model->impl_->module = module;
  model->impl_->native = extract_native_weights(module, config);
  if (model->impl_->native) model->impl_->native->prepare_half();
  size_t count = 0;
  for (const auto& p : module.parameters()) count += p.numel();
  model->parameter_count_ = count;
  loaded_models[key] = model;
  return model;
}

namespace {

// libtorch hands its prefill matrix products to the system BLAS. Debian's OpenBLAS (pthread build) keeps its
// own pool of one thread per core, whose idle threads spin in sched_yield between calls: about 15 % of the
// CPU of a whole `emsync` run on 2 cores. Size that pool like libtorch's. Looked up at run time in the
// libraries already loaded, since other BLAS builds lack the function.
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

void set_inference_threads(int threads) {
  if (threads <= 0) return;
  at::set_num_threads(threads);
  set_openblas_threads(threads);
  set_native_decoder_threads(threads);
}

bool GeneratorModel::has_native_step() const { return impl_->native != nullptr; }

GeneratorSession::GeneratorSession(std::shared_ptr<const GeneratorModel> model)
    : model_(std::move(model)), state_(std::make_unique<State>()) {
  if (!model_) throw ModelError("GeneratorSession needs a model");
  state_->module = model_->impl().module;
  set_step_backend(StepBackend::NativeHalf);
}

namespace {
bool is_native(StepBackend b) { return b == StepBackend::Native || b == StepBackend::NativeHalf; }
}  // namespace

void GeneratorSession::set_step_backend(StepBackend backend) {
  const DecoderWeights* weights = model_->impl().native.get();
  if (backend == StepBackend::NativeHalf && !(weights && weights->has_half())) backend = StepBackend::Native;
  if (backend == StepBackend::Native && !weights) backend = StepBackend::TorchScript;
  if (backend == state_->backend) return;
  state_->backend = backend;
  if (is_native(backend)) {
    const bool half = backend == StepBackend::NativeHalf;
    state_->kv.reset(weights->shape, half);
    state_->decoder = std::make_unique<NativeDecoder>(*weights, half);
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
  c10::InferenceMode guard;
  const int64_t n = static_cast<int64_t>(window_tokens_.size());
  at::Tensor tokens = torch::empty({1, n}, torch::kLong);
  at::Tensor boundary = torch::empty({1, n}, torch::kFloat);
  auto* tp = tokens.data_ptr<int64_t>();
  auto* bp = boundary.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) {
    tp[i] = window_tokens_[i];
    bp[i] = window_boundaries_[i];
  }
  at::Tensor v = torch::full({1}, valence_, torch::kFloat);
  at::Tensor a = torch::full({1}, arousal_, torch::kFloat);
  auto out = state_->module.get_method("prefill")({tokens, v, a, boundary}).toTuple();
  copy_logits(out->elements()[0].toTensor(), logits_);
  if (is_native(state_->backend)) {
    const auto layers = out->elements()[1].toTensorList();
    for (size_t i = 0; i < layers.size(); ++i) {
      at::Tensor t = at::Tensor(layers[i]).contiguous();  // [1, heads, positions, d_head]
      state_->kv.assign(static_cast<int>(i / 2), i % 2 == 1, t.data_ptr<float>(), static_cast<int>(t.size(2)));
      state_->kv.set_length(static_cast<int>(t.size(2)));
    }
    state_->cache = c10::IValue();
  } else {
    state_->cache = out->elements()[1];
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
    ++step_count_;
    return;
  }
  c10::InferenceMode guard;
  at::Tensor t = torch::full({1, 1}, static_cast<int64_t>(token), torch::kLong);
  at::Tensor b = torch::full({1, 1}, boundary, torch::kFloat);
  auto out = state_->module.get_method("step")({t, b, state_->cache}).toTuple();
  copy_logits(out->elements()[0].toTensor(), logits_);
  state_->cache = out->elements()[1];
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
