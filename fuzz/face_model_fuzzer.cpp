// libFuzzer harness: the face-expression model loader (lib/emotion/face_model.h: TF.js graph JSON, weights
// manifest, base64 attributes, graph checks) on arbitrary bytes. The input is the JSON, a NUL byte, then the
// weights file; both are written next to each other in a temporary folder (the seed's manifest names "w.bin").
// Its contract: ModelError or a model that predicts 7 probabilities.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "lib/emotion/face_model.h"

static void write_file(const std::string& path, const uint8_t* data, size_t size) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) __builtin_trap();
  if (size && std::fwrite(data, 1, size, f) != size) __builtin_trap();
  std::fclose(f);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace emsync::emotion;
  static const std::string dir = [] {
    char templ[] = "/tmp/emsync-fuzz-face-XXXXXX";
    if (!mkdtemp(templ)) __builtin_trap();
    return std::string(templ);
  }();
  const uint8_t* nul = static_cast<const uint8_t*>(std::memchr(data, 0, size));
  const size_t json_size = nul ? static_cast<size_t>(nul - data) : size;
  write_file(dir + "/model.json", data, json_size);
  write_file(dir + "/w.bin", nul ? nul + 1 : data, nul ? size - json_size - 1 : 0);
  try {
    auto model = FaceExpressionModel::load(dir + "/model.json");
    std::vector<float> face(FaceExpressionModel::kInputSize * FaceExpressionModel::kInputSize, 0.25f);
    model->predict(face.data());
  } catch (const ModelError&) {
  }
  return 0;
}
