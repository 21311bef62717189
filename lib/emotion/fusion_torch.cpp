// libemsync-fusion-torch.so: runs a user's TorchScript fusion model (contract in fusion.h) for the emotion
// engine, which opens this module only when a fusion model is set (fusion_module.h). The only libtorch user of
// the emotion engine.
#include <torch/script.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "lib/emotion/fusion_module.h"

namespace {

struct Handle {
  std::mutex mutex;  // torch::jit::Module::forward is not documented thread-safe
  torch::jit::Module module;
};

char* make_error(const std::string& what) {
  std::string first = what.substr(0, what.find('\n'));
  return strdup(first.c_str());
}

void* load(const char* path, char** error) {
  try {
    auto h = std::make_unique<Handle>();
    h->module = torch::jit::load(path, torch::kCPU);
    h->module.eval();
    return h.release();
  } catch (const std::exception& e) {
    if (error) *error = make_error(e.what());
  } catch (...) {
    if (error) *error = make_error("unknown exception");
  }
  return nullptr;
}

int run(void* handle, const float* in, int n, float* out, int max_out, int64_t* shape, int* ndim,
        char** error) {
  try {
    auto* h = static_cast<Handle*>(handle);
    torch::NoGradGuard no_grad;
    torch::Tensor x = torch::from_blob(const_cast<float*>(in), {1, n}, torch::kFloat32).clone();
    torch::Tensor y;
    {
      std::lock_guard<std::mutex> lock(h->mutex);
      y = h->module.forward({x}).toTensor();
    }
    y = y.to(torch::kFloat32).contiguous();
    *ndim = static_cast<int>(std::min<int64_t>(y.dim(), 8));
    for (int i = 0; i < *ndim; ++i) shape[i] = y.size(i);
    const int64_t count = std::min<int64_t>(y.numel(), max_out);
    std::memcpy(out, y.data_ptr<float>(), sizeof(float) * count);
    return 0;
  } catch (const std::exception& e) {
    if (error) *error = make_error(e.what());
  } catch (...) {
    if (error) *error = make_error("unknown exception");
  }
  return -1;
}

void free_handle(void* handle) {
  delete static_cast<Handle*>(handle);
}
void free_error(char* error) {
  std::free(error);
}

const EmsyncFusionModuleApi kApi = {EMSYNC_FUSION_MODULE_ABI, load, run, free_handle, free_error};

}  // namespace

extern "C" __attribute__((visibility("default"))) const EmsyncFusionModuleApi* emsync_fusion_module_api(
    void) {
  return &kApi;
}
