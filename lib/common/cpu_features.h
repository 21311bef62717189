// The one check of the CPU's vector extensions, for every kernel set (the generator's step and prefill, the face
// model's convolutions). Setting EMSYNC_NO_AVX2 in the environment selects the generic kernels (the tests run
// both).
#pragma once

#include <cpuid.h>

#include <cstdlib>

namespace emsync {

// AVX2 + FMA + F16C: the AVX2 kernels are compiled for all three (F16C for the half-precision weights and cache),
// so they run only where all three exist. F16C is read from CPUID: clang 14's __builtin_cpu_supports does not know
// "f16c".
inline bool cpu_has_avx2_kernels() {
  static const bool have = [] {
    if (std::getenv("EMSYNC_NO_AVX2")) return false;
    __builtin_cpu_init();
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C);
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
  }();
  return have;
}

}  // namespace emsync
