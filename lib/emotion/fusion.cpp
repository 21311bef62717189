#include "lib/emotion/fusion.h"

#include <sys/stat.h>

#include <torch/script.h>

#include <algorithm>
#include <cmath>
#include <mutex>

#include "lib/emotion/face_model.h"

namespace emsync::emotion {

Features make_features(const std::vector<FaceResult>& faces, const SceneAffectInputs& in, const SceneAffect& scene) {
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

struct FusionModel::Impl {
  mutable std::mutex mutex;  // torch::jit::Module::forward is not documented thread-safe
  mutable torch::jit::Module module;
};

FusionModel::~FusionModel() = default;

std::shared_ptr<const FusionModel> FusionModel::load(const std::string& path) {
  struct stat st;
  if (path.empty() || stat(path.c_str(), &st) != 0) throw ModelError("fusion model '" + path + "' does not exist");
  std::shared_ptr<FusionModel> model(new FusionModel());
  model->impl_ = std::make_unique<Impl>();
  model->path_ = path;
  try {
    model->impl_->module = torch::jit::load(path, torch::kCPU);
    model->impl_->module.eval();
  } catch (const std::exception& e) {
    std::string what = e.what();
    throw ModelError("fusion model '" + path + "' is not a TorchScript file: " + what.substr(0, what.find('\n')));
  }
  try {
    torch::NoGradGuard no_grad;
    auto out = model->impl_->module.forward({torch::zeros({1, static_cast<int64_t>(kFeatureCount)})}).toTensor();
    if (out.dim() != 2 || out.size(0) != 1 || (out.size(1) != 6 && out.size(1) != 2))
      throw ModelError("fusion model '" + path + "' returns shape " + c10::str(out.sizes()) +
                       "; expected [N, 6] (Ekman scores) or [N, 2] (valence, arousal)");
    model->outputs_ = static_cast<int>(out.size(1));
  } catch (const ModelError&) {
    throw;
  } catch (const std::exception& e) {
    std::string what = e.what();
    throw ModelError("fusion model '" + path + "' does not take a [N, 16] float tensor: " +
                     what.substr(0, what.find('\n')));
  }
  return model;
}

Fused FusionModel::run(const Features& f) const {
  torch::NoGradGuard no_grad;
  torch::Tensor in = torch::from_blob(const_cast<float*>(f.data()), {1, static_cast<int64_t>(kFeatureCount)},
                                      torch::kFloat32).clone();
  torch::Tensor out;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    out = impl_->module.forward({in}).toTensor().to(torch::kFloat32).reshape({-1}).contiguous();
  }
  Fused r;
  if (outputs_ == 6) {
    torch::Tensor p = torch::softmax(out, 0);
    EkmanProbabilities probs{};
    for (std::size_t i = 0; i < kEkmanCount; ++i) probs[i] = p[i].item<float>();
    r.valence_arousal = ekman_to_valence_arousal(probs);
    r.confidence = *std::max_element(probs.begin(), probs.end());
  } else {
    r.valence_arousal = {std::clamp<double>(out[0].item<float>(), -1, 1), std::clamp<double>(out[1].item<float>(), -1, 1)};
    r.confidence = 1.0;
  }
  return r;
}

}  // namespace emsync::emotion
