// libFuzzer harness: the generator model loader (lib/music/model_archive.h: the zip directory, records and the
// weight index; lib/music/generator_model.cpp: emsync.json and the weights' checks) on arbitrary bytes, through a
// temporary file as the element and the CLI load it. Its contract: ModelError or a model whose session runs.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "lib/music/generator_model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace emsync::music;
  static const std::string path = "/tmp/emsync-fuzz-model-" + std::to_string(getpid()) + ".pt";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) __builtin_trap();
  if (size && std::fwrite(data, 1, size, f) != size) __builtin_trap();
  std::fclose(f);
  try {
    auto model = GeneratorModel::load(path);
    // A model that loads must be usable: one short prefill and a step.
    GeneratorSession session(model);
    session.start({0, 1}, {0.0f, 0.0f}, 0.5f, -0.5f);
    session.push(2, 1.0f);
  } catch (const ModelError&) {
  }
  return 0;
}
