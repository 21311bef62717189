// The EMSYNC reference sampler (emsync-reference.md §2e), made reproducible with an explicit seed.
//
// Per step: NaN logits -> 0; <PAD>, <START>, <LESS_INSTRUMENTS>, <MORE_INSTRUMENTS> masked; log-softmax;
// temperature (one value after a TIMESHIFT, another otherwise) raised by the repetition rule; top-p where
// every token whose cumulative probability exceeds p is dropped but the top-1 always stays; multinomial draw.
// Callers may add a per-token bias (-inf forbids a token) for constrained decoding.
// One departure, off in the reference options (time_shift_top_p = 0): a nucleus over token classes, see below.
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
  // Typed nucleus: the 125 time-shift tokens enter top-p as ONE candidate carrying their summed probability;
  // when that candidate is drawn, the shift itself is drawn among the time-shift tokens with this nucleus of
  // their own. 0 = every token competes alone (the reference). Why: the shift mass is spread over 125 tokens,
  // so a per-token top-p of 0.6 cuts most of time away and leaves the 1-tick shift: time advanced 8 ms at a
  // time and notes were closed after a few ticks (the model alone at T 1.35: 78 % of pitched notes under
  // 100 ms at top-p 0.6, 23 % at 0.95; corpus 10 %). Pitch choice keeps top_p.
  double time_shift_top_p = 0.95;
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
  // Draws from weights[0..n) (unnormalised, summing to `total`) within the top-p nucleus; sets
  // *nucleus_size. Equal weights rank by index.
  int draw_nucleus(const float* weights, int n, double total, double top_p, int* nucleus_size);
  std::vector<float> classes_;  // typed nucleus: weights of the non-shift tokens, then the shift class
  std::vector<int> class_token_;
};

}  // namespace emsync::music
