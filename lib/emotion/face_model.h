// The face-expression classifier: the mini-Xception of oarriaga/face_classification as shipped by the npm
// package @vladmandic/human (MIT) in models/emotion.json + models/emotion.bin (TensorFlow.js graph model).
// We read the TF.js graph JSON and weights manifest directly and run its op set in plain C++ (NHWC float32,
// AVX2/FMA kernels with a generic fallback; no libtorch): nothing is converted ahead of time and nothing needs
// Python or Node at run time.
//
// Input: one 64x64 grey face crop, values in [-1, 1] (grey in [0, 1] -> (g - 0.5) * 2, as the package's
// src/gear/emotion.ts does). Output: 7 softmax probabilities in the order of expression_name().
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "lib/emotion/mapping.h"

namespace emsync::emotion {

class ModelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class FaceExpressionModel {
 public:
  // Loads <json_path> and the weight files its manifest names (next to it). Throws ModelError naming the
  // file for a missing file, malformed JSON, an unsupported op, a weight size mismatch or the wrong input or
  // output shape.
  static std::shared_ptr<const FaceExpressionModel> load(const std::string& json_path);
  // Shared instance per path (immutable once loaded).
  static std::shared_ptr<const FaceExpressionModel> load_shared(const std::string& json_path);

  ~FaceExpressionModel();

  static constexpr int kInputSize = 64;
  // input: kInputSize*kInputSize floats, row-major, in [-1, 1]; logits_out (optional): the 7 pre-softmax
  // values (the spatially averaged last convolution).
  ExpressionProbabilities predict(const float* input,
                                  std::array<double, kExpressionCount>* logits_out = nullptr) const;

  const std::string& path() const { return path_; }

 private:
  FaceExpressionModel() = default;
  struct Graph;
  std::unique_ptr<Graph> graph_;
  std::string path_;
};

// Where "auto" finds the model: $EMSYNC_FACE_MODEL, the installed data folder (<install_dir>/emotion/emotion.json,
// which `meson install` fills), then the project's set-up folder
// (third_party/npm/node_modules/@vladmandic/human/models/emotion.json in the source tree), as the generator's
// models are looked up (plugins/gen/model_paths.h). Empty when none exists.
std::string find_face_model(const std::string& source_root, const std::string& install_dir);

}  // namespace emsync::emotion
