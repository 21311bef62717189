// The interface between the torch-free emotion engine (fusion.cpp) and the small shared module that runs a
// TorchScript fusion model with libtorch (fusion_torch.cpp, built as libemsync-fusion-torch.so). The engine opens
// the module with dlopen only when a fusion model is loaded (`model-file`), so that emsyncemotion does not load
// libtorch (~0.4 s of CPU time) otherwise. A C interface, versioned, so that a stale module is refused clearly.
#pragma once

#include <cstdint>

#define EMSYNC_FUSION_MODULE_ABI 1
#define EMSYNC_FUSION_MODULE_NAME "libemsync-fusion-torch.so"
#define EMSYNC_FUSION_MODULE_SYMBOL "emsync_fusion_module_api"

extern "C" {

struct EmsyncFusionModuleApi {
  int abi;  // EMSYNC_FUSION_MODULE_ABI
  // Loads a TorchScript module for CPU inference. NULL and *error (free with free_error) when it cannot.
  void* (*load)(const char* path, char** error);
  // forward() on a float32 tensor [1, n]; the output (float32) is written to out (at most max_out values), its
  // shape to shape[0..*ndim) (at most 8 dimensions). 0 on success, -1 and *error otherwise. Thread-safe.
  int (*run)(void* handle, const float* in, int n, float* out, int max_out, int64_t* shape, int* ndim,
             char** error);
  void (*free_handle)(void* handle);
  void (*free_error)(char* error);
};

// The one exported symbol of the module.
const EmsyncFusionModuleApi* emsync_fusion_module_api(void);
}
