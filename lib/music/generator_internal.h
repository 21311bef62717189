// Shared by lib/music/generator_model.cpp (the libtorch-free runtime) and lib/music/torchscript_support.cpp (the
// optional TorchScript side that tools and tests link to compare against libtorch). Not an API.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lib/music/generator_model.h"
#include "lib/music/native_decoder.h"

namespace emsync::music {

// The exported `prefill` and `step` methods of the model file, run by libtorch.
class TorchScriptModel {
 public:
  virtual ~TorchScriptModel() = default;
  struct Cache {
    virtual ~Cache() = default;
  };
  virtual std::unique_ptr<Cache> prefill(const std::vector<int>& tokens, const std::vector<float>& boundaries,
                                         float valence, float arousal, std::vector<float>& logits) const = 0;
  virtual void step(int token, float boundary, std::unique_ptr<Cache>& cache,
                    std::vector<float>& logits) const = 0;
};

struct TorchScriptSupport {
  // Loads the file's TorchScript module (throws ModelError when it cannot). When `weights` is empty (a file
  // without the weight index), fills it from the module's parameters where they follow model.py's names.
  std::shared_ptr<const TorchScriptModel> (*load)(const std::string& path,
                                                  std::unique_ptr<DecoderWeights>& weights,
                                                  const GeneratorConfig& config);
  void (*set_threads)(int threads);
};
// Called by enable_torchscript(); null uninstalls.
void install_torchscript_support(const TorchScriptSupport* support);

struct GeneratorModel::Impl {
  std::unique_ptr<DecoderWeights> native;
  std::shared_ptr<const TorchScriptModel> torch;  // only with the TorchScript support enabled
};

}  // namespace emsync::music
