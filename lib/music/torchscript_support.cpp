// The optional TorchScript side of the generator (lib/music/torchscript_support.h): the only translation unit of
// lib/music that includes libtorch. It runs the model file's exported prefill/step methods, which tests and
// benchmarks compare the native runtime against, and reads weights from files without the weight index.
#include "lib/music/torchscript_support.h"

#include <ATen/Parallel.h>
#include <torch/script.h>

#include <cstring>
#include <map>

#include "lib/music/generator_internal.h"

namespace emsync::music {

namespace {

std::string first_line(const std::string& s) {
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

void copy_logits(const at::Tensor& t, std::vector<float>& out) {
  at::Tensor flat = t.reshape({-1}).to(at::kFloat).contiguous();
  out.resize(flat.numel());
  std::memcpy(out.data(), flat.data_ptr<float>(), out.size() * sizeof(float));
}

class Model final : public TorchScriptModel {
 public:
  explicit Model(torch::jit::Module module) : module_(std::move(module)) {}

  struct TorchCache final : Cache {
    c10::IValue value;
  };

  std::unique_ptr<Cache> prefill(const std::vector<int>& tokens, const std::vector<float>& boundaries,
                                 float valence, float arousal, std::vector<float>& logits) const override {
    c10::InferenceMode guard;
    const int64_t n = static_cast<int64_t>(tokens.size());
    at::Tensor t = torch::empty({1, n}, torch::kLong);
    at::Tensor b = torch::empty({1, n}, torch::kFloat);
    for (int64_t i = 0; i < n; ++i) {
      t.data_ptr<int64_t>()[i] = tokens[i];
      b.data_ptr<float>()[i] = boundaries[i];
    }
    at::Tensor v = torch::full({1}, valence, torch::kFloat);
    at::Tensor a = torch::full({1}, arousal, torch::kFloat);
    auto out = module_.get_method("prefill")({t, v, a, b}).toTuple();
    copy_logits(out->elements()[0].toTensor(), logits);
    auto cache = std::make_unique<TorchCache>();
    cache->value = out->elements()[1];
    return cache;
  }

  void step(int token, float boundary, std::unique_ptr<Cache>& cache,
            std::vector<float>& logits) const override {
    c10::InferenceMode guard;
    auto& c = static_cast<TorchCache&>(*cache);
    at::Tensor t = torch::full({1, 1}, static_cast<int64_t>(token), torch::kLong);
    at::Tensor b = torch::full({1, 1}, boundary, torch::kFloat);
    auto out = module_.get_method("step")({t, b, c.value}).toTuple();
    copy_logits(out->elements()[0].toTensor(), logits);
    c.value = out->elements()[1];
  }

 private:
  // get_method is not const in libtorch; the module itself is never modified after loading.
  mutable torch::jit::Module module_;
};

std::shared_ptr<const TorchScriptModel> load(const std::string& path,
                                             std::unique_ptr<DecoderWeights>& weights,
                                             const GeneratorConfig& config) {
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, torch::kCPU);
  } catch (const c10::Error& e) {
    throw ModelError("generator model '" + path + "' is not a readable TorchScript file (" +
                     first_line(e.what_without_backtrace()) + ")");
  } catch (const std::exception& e) {
    throw ModelError("generator model '" + path + "' could not be loaded: " + first_line(e.what()));
  }
  for (const char* method : {"prefill", "step"}) {
    if (!module.find_method(method))
      throw ModelError("generator model '" + path + "' has no '" + method +
                       "' method: it was not exported with the KV-cache entry points (models/FORMAT.md)");
  }
  module.eval();
  if (!weights) {
    std::map<std::string, at::Tensor> params;
    for (const auto& p : module.named_parameters(/*recurse=*/true)) params[p.name] = p.value;
    try {
      weights = std::make_unique<DecoderWeights>(
          DecoderWeights::from_parameters(config, [&](const std::string& name, std::vector<float>& out) {
            auto it = params.find(name);
            if (it == params.end()) throw std::invalid_argument("generator weights: no parameter " + name);
            at::Tensor t = it->second.detach().to(at::kFloat).contiguous();
            out.assign(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
          }));
    } catch (const std::invalid_argument&) {
      weights.reset();  // not model.py's names: GeneratorModel::load reports the missing index
    }
  }
  return std::make_shared<Model>(std::move(module));
}

void set_threads(int threads) {
  at::set_num_threads(threads);
}

const TorchScriptSupport kSupport{load, set_threads};

}  // namespace

void enable_torchscript() {
  install_torchscript_support(&kSupport);
}

}  // namespace emsync::music
