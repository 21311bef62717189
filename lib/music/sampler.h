// The EMSYNC reference sampler (emsync-reference.md §2e), made reproducible with an explicit seed.
//
// Per step: NaN logits -> 0; <PAD>, <START>, <LESS_INSTRUMENTS>, <MORE_INSTRUMENTS> masked; log-softmax;
// temperature (one value after a TIMESHIFT, another otherwise) raised by the repetition rule; top-p where
// every token whose cumulative probability exceeds p is dropped but the top-1 always stays; multinomial draw.
// Callers may add a per-token bias (-inf forbids a token) for constrained decoding.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace emsync::music {

struct SamplerOptions {
  // Doubles as set (they are properties); the sampler computes in single precision.
  double temperature_after_time_shift = 1.35;  // the reference demo passes [1.35, 1.35]
  double temperature_otherwise = 1.35;
  double top_p = 0.6;
  // T_eff = T * (1 + max(0, coefficient * ln((repeat_count + 1) / 4)))
  float repetition_coefficient = 0.4f;
};

class Sampler {
 public:
  explicit Sampler(const SamplerOptions& options = {}, uint64_t seed = 0);

  void reset(uint64_t seed);
  const SamplerOptions& options() const { return options_; }
  void set_options(const SamplerOptions& options) { options_ = options; }

  // Draws the next token from `logits` (vocabulary-sized). `bias` is empty or vocabulary-sized and is
  // added to the logits first (use -infinity to forbid). `previous_token` selects the temperature.
  // If every token is forbidden, the unbiased argmax among allowed-by-reference tokens is returned.
  int sample(const float* logits, int vocab_size, const std::vector<float>& bias, int previous_token);

  // How many candidates survived top-p in the last call (drives the repetition rule).
  int last_nucleus_size() const { return last_nucleus_size_; }
  int repeat_count() const { return repeat_count_; }

 private:
  SamplerOptions options_;
  std::mt19937_64 rng_;
  int repeat_count_ = 0;
  int last_nucleus_size_ = 0;
  bool have_previous_nucleus_ = false;
  std::vector<float> scratch_;
  std::vector<int> order_;

  double uniform01();
};

}  // namespace emsync::music
