// Fusion of the face and scene measures into one valence/arousal estimate per analysed frame.
//
// Feature vector (the input contract of a user's TorchScript fusion model, `model-file`): 16 float32 values
//   [0]      face presence: sum over faces of sqrt(box area / frame area) * 2, clipped to 1 (0 = no face)
//   [1..7]   face expression probabilities (angry, disgust, fear, happy, sad, surprise, neutral), the
//            weighted mean over faces (weights: sqrt(area) * top probability); all 0 without faces
//   [8]      brightness (mean luma, [0, 1])       [9]  saturation (mean chroma, [0, 1])
//   [10]     motion activity ([0, 1], Hanjalic & Xu m)  [11] shot rhythm ([0, 1], Hanjalic & Xu r)
//   [12..13] scene valence, scene arousal ([-1, 1], affect.h)
//   [14..15] face valence, face arousal ([-1, 1]; 0 without faces)
// A fusion model is a TorchScript module whose forward takes a float32 tensor [N, 16] and returns either
//   [N, 6]: Ekman class scores (anger, disgust, fear, joy, sadness, surprise), turned into probabilities with
//           softmax and mapped to valence/arousal the EMSYNC way (mapping.h), confidence = top probability; or
//   [N, 2]: valence and arousal directly (clipped to [-1, 1]), confidence 1.
// models/training/fusion/train_fusion.py trains and exports such a model from labelled features.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lib/emotion/affect.h"
#include "lib/emotion/face_analyzer.h"

namespace emsync::emotion {

constexpr std::size_t kFeatureCount = 16;
using Features = std::array<float, kFeatureCount>;

struct Fused {
  ValenceArousal valence_arousal;
  double confidence = 0.0;
};

// Builds the feature vector of one analysed frame.
Features make_features(const std::vector<FaceResult>& faces, const SceneAffectInputs& scene_inputs,
                       const SceneAffect& scene);

// The default combination, without a learned model:
//   no face: the scene affect, confidence kSceneConfidence;
//   faces:   valence = a * face_valence + (1 - a) * scene_valence with a = 0.5 + 0.5 * presence,
//            arousal = (a / 2) * face_arousal + (1 - a / 2) * scene_arousal (expressions tell pleasantness
//            better than activation; motion and editing carry arousal),
//            confidence = a * face confidence + (1 - a) * kSceneConfidence.
Fused default_fusion(const Features& features);
constexpr double kSceneConfidence = 0.35;

// Runs a TorchScript fusion model through libemsync-fusion-torch.so (fusion_module.h), which is opened, and
// libtorch with it, only by the first load(): the rest of the engine does not link libtorch.
class FusionModel {
 public:
  // Throws ModelError naming the file when it is missing, not TorchScript, or breaks the contract above, or
  // when the TorchScript module cannot be found or opened.
  static std::shared_ptr<const FusionModel> load(const std::string& path);
  ~FusionModel();
  Fused run(const Features& features) const;
  const std::string& path() const { return path_; }

 private:
  FusionModel() = default;
  bool forward(const Features& f, std::vector<float>& out, std::vector<int64_t>& shape,
               std::string* error) const;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
  int outputs_ = 0;
};

// Where the TorchScript module is looked for: $EMSYNC_FUSION_MODULE alone when set (it must exist), else the
// installed <libdir>/emsync/libemsync-fusion-torch.so, then the build tree's (lib/emotion/).
std::vector<std::string> fusion_module_candidates();
// Whether this process has opened the module (and so libtorch).
bool fusion_module_loaded();

}  // namespace emsync::emotion
