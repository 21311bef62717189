#include "lib/emotion/fusion.h"

#include <sys/stat.h>

#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <stdexcept>
#include <cstdlib>

#include "lib/emotion/face_model.h"
#include "lib/emotion/fusion_module.h"

namespace emsync::emotion {

Features make_features(const std::vector<FaceResult>& faces, const SceneAffectInputs& in,
                       const SceneAffect& scene) {
  Features f{};
  double presence = 0.0, weight_sum = 0.0;
  std::array<double, kExpressionCount> probs{};
  for (const auto& face : faces) {
    double size = std::sqrt(std::max(0.0, face.width * face.height));
    presence += 2.0 * size;
    double w = size * face.confidence;
    weight_sum += w;
    for (std::size_t i = 0; i < kExpressionCount; ++i) probs[i] += w * face.probabilities[i];
  }
  f[0] = static_cast<float>(std::min(1.0, presence));
  ValenceArousal face_va;
  if (weight_sum > 0.0) {
    ExpressionProbabilities p{};
    for (std::size_t i = 0; i < kExpressionCount; ++i) p[i] = probs[i] / weight_sum;
    for (std::size_t i = 0; i < kExpressionCount; ++i) f[1 + i] = static_cast<float>(p[i]);
    face_va = expression_to_valence_arousal(p);
  }
  f[8] = static_cast<float>(in.colour.brightness);
  f[9] = static_cast<float>(in.colour.saturation);
  f[10] = static_cast<float>(scene.motion_component);
  f[11] = static_cast<float>(scene.rhythm_component);
  f[12] = static_cast<float>(scene.combined.valence);
  f[13] = static_cast<float>(scene.combined.arousal);
  f[14] = static_cast<float>(face_va.valence);
  f[15] = static_cast<float>(face_va.arousal);
  return f;
}

Fused default_fusion(const Features& f) {
  Fused out;
  ValenceArousal scene{f[12], f[13]};
  double presence = f[0];
  if (presence <= 0.0) {
    out.valence_arousal = scene;
    out.confidence = kSceneConfidence;
    return out;
  }
  double top = 0.0;
  for (std::size_t i = 0; i < kExpressionCount; ++i) top = std::max<double>(top, f[1 + i]);
  double a = 0.5 + 0.5 * presence;
  out.valence_arousal.valence = std::clamp(a * f[14] + (1 - a) * scene.valence, -1.0, 1.0);
  out.valence_arousal.arousal = std::clamp(0.5 * a * f[15] + (1 - 0.5 * a) * scene.arousal, -1.0, 1.0);
  out.confidence = std::clamp(a * top + (1 - a) * kSceneConfidence, 0.0, 1.0);
  return out;
}

namespace {

// The TorchScript support module (fusion_module.h), opened once on first use and never closed (unloading
// libtorch is not safe). Candidates: $EMSYNC_FUSION_MODULE, the installed module, the build tree's module.
struct ModuleState {
  std::mutex mutex;
  const EmsyncFusionModuleApi* api = nullptr;
  std::string path;
  std::string error;
  bool tried = false;
};

ModuleState& module_state() {
  static ModuleState state;
  return state;
}

const EmsyncFusionModuleApi* open_module(std::string* where, std::string* error) {
  ModuleState& m = module_state();
  std::lock_guard<std::mutex> lock(m.mutex);
  if (!m.tried) {
    m.tried = true;
    std::vector<std::string> candidates = fusion_module_candidates();
    const char* env = std::getenv("EMSYNC_FUSION_MODULE");
    const bool explicit_path = env && *env;  // then the only candidate, and it must exist
    std::string tried;
    for (const auto& c : candidates) {
      struct stat st;
      if (c.empty() || stat(c.c_str(), &st) != 0) {
        if (explicit_path) {
          m.error = "$EMSYNC_FUSION_MODULE names " + c + ", which does not exist";
          break;
        }
        if (!c.empty()) tried += (tried.empty() ? "" : ", ") + c;
        continue;
      }
      void* lib = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!lib) {
        const char* e = dlerror();
        m.error = "cannot open " + c + ": " + (e ? e : "unknown error");
        break;
      }
      using Entry = const EmsyncFusionModuleApi* (*)();
      auto entry = reinterpret_cast<Entry>(dlsym(lib, EMSYNC_FUSION_MODULE_SYMBOL));
      const EmsyncFusionModuleApi* api = entry ? entry() : nullptr;
      if (!api) {
        m.error = c + " is not emsync's TorchScript module (no " EMSYNC_FUSION_MODULE_SYMBOL ")";
        break;
      }
      if (api->abi != EMSYNC_FUSION_MODULE_ABI) {
        m.error = c + " is emsync's TorchScript module of another version (interface " +
                  std::to_string(api->abi) + ", expected " + std::to_string(EMSYNC_FUSION_MODULE_ABI) +
                  "): reinstall emsync";
        break;
      }
      m.api = api;
      m.path = c;
      break;
    }
    if (!m.api && m.error.empty())
      m.error = "emsync's TorchScript module " EMSYNC_FUSION_MODULE_NAME " is not installed (looked for " +
                (tried.empty() ? std::string("no candidate") : tried) + "; $EMSYNC_FUSION_MODULE overrides)";
  }
  if (where) *where = m.path;
  if (error) *error = m.error;
  return m.api;
}

std::string take_error(const EmsyncFusionModuleApi* api, char* e) {
  std::string s = e ? e : "unknown error";
  if (e) api->free_error(e);
  return s;
}

}  // namespace

std::vector<std::string> fusion_module_candidates() {
  std::vector<std::string> out;
  const char* env = std::getenv("EMSYNC_FUSION_MODULE");
  if (env && *env) return {env};
#ifdef EMSYNC_FUSION_MODULE_INSTALL_PATH
  out.push_back(EMSYNC_FUSION_MODULE_INSTALL_PATH);
#endif
#ifdef EMSYNC_FUSION_MODULE_BUILD_PATH
  out.push_back(EMSYNC_FUSION_MODULE_BUILD_PATH);
#endif
  return out;
}

bool fusion_module_loaded() {
  ModuleState& m = module_state();
  std::lock_guard<std::mutex> lock(m.mutex);
  return m.api != nullptr;
}

struct FusionModel::Impl {
  const EmsyncFusionModuleApi* api = nullptr;
  void* handle = nullptr;
  ~Impl() {
    if (api && handle) api->free_handle(handle);
  }
};

FusionModel::~FusionModel() = default;

bool FusionModel::forward(const Features& f, std::vector<float>& out, std::vector<int64_t>& shape,
                          std::string* error) const {
  float buf[64];
  int64_t dims[8];
  int ndim = 0;
  char* e = nullptr;
  if (impl_->api->run(impl_->handle, f.data(), static_cast<int>(kFeatureCount), buf, 64, dims, &ndim, &e) !=
      0) {
    if (error) *error = take_error(impl_->api, e);
    return false;
  }
  shape.assign(dims, dims + ndim);
  int64_t count = 1;
  for (auto d : shape) count *= d;
  out.assign(buf, buf + std::min<int64_t>(count, 64));
  return true;
}

std::shared_ptr<const FusionModel> FusionModel::load(const std::string& path) {
  struct stat st;
  if (path.empty() || stat(path.c_str(), &st) != 0)
    throw ModelError("fusion model '" + path + "' does not exist");
  std::string module_path, module_error;
  const EmsyncFusionModuleApi* api = open_module(&module_path, &module_error);
  if (!api) throw ModelError("fusion model '" + path + "' cannot be run: " + module_error);
  std::shared_ptr<FusionModel> model(new FusionModel());
  model->impl_ = std::make_unique<Impl>();
  model->impl_->api = api;
  model->path_ = path;
  char* e = nullptr;
  model->impl_->handle = api->load(path.c_str(), &e);
  if (!model->impl_->handle)
    throw ModelError("fusion model '" + path + "' is not a TorchScript file: " + take_error(api, e));
  Features zeros{};
  std::vector<float> out;
  std::vector<int64_t> shape;
  std::string error;
  if (!model->forward(zeros, out, shape, &error))
    throw ModelError("fusion model '" + path + "' does not take a [N, 16] float tensor: " + error);
  if (shape.size() != 2 || shape[0] != 1 || (shape[1] != 6 && shape[1] != 2)) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    throw ModelError("fusion model '" + path + "' returns shape " + s + "]" +
                     "; expected [N, 6] (Ekman scores) or [N, 2] (valence, arousal)");
  }
  model->outputs_ = static_cast<int>(shape[1]);
  return model;
}

Fused FusionModel::run(const Features& f) const {
  std::vector<float> out;
  std::vector<int64_t> shape;
  std::string error;
  if (!forward(f, out, shape, &error))
    throw std::runtime_error("fusion model '" + path_ + "' failed: " + error);
  if (out.size() < static_cast<std::size_t>(outputs_))
    throw std::runtime_error("fusion model '" + path_ + "' returned " + std::to_string(out.size()) +
                             " values");
  Fused r;
  if (outputs_ == 6) {
    // softmax
    const float m = *std::max_element(out.begin(), out.begin() + 6);
    double sum = 0.0;
    std::array<double, 6> e{};
    for (std::size_t i = 0; i < 6; ++i) sum += (e[i] = std::exp(static_cast<double>(out[i]) - m));
    EkmanProbabilities probs{};
    for (std::size_t i = 0; i < kEkmanCount; ++i) probs[i] = e[i] / sum;
    r.valence_arousal = ekman_to_valence_arousal(probs);
    r.confidence = *std::max_element(probs.begin(), probs.end());
  } else {
    r.valence_arousal = {std::clamp<double>(out[0], -1, 1), std::clamp<double>(out[1], -1, 1)};
    r.confidence = 1.0;
  }
  return r;
}

}  // namespace emsync::emotion
