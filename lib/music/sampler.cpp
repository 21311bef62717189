#include "lib/music/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "lib/midi/vocab.h"

namespace emsync::music {

namespace vocab = emsync::midi;

Sampler::Sampler(const SamplerOptions& options, uint64_t seed) : options_(options) {
  reset(seed);
}

void Sampler::reset(uint64_t seed) {
  rng_.seed(seed);
  repeat_count_ = 0;
  last_nucleus_size_ = 0;
  have_previous_nucleus_ = false;
}

double Sampler::uniform01() {
  // 53 random bits -> [0, 1); independent of the standard library's distribution implementation.
  return static_cast<double>(rng_() >> 11) * (1.0 / 9007199254740992.0);
}

int Sampler::sample(const float* logits, int vocab_size, const std::vector<float>& bias, int previous_token) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  scratch_.resize(vocab_size);
  for (int i = 0; i < vocab_size; ++i) {
    float x = logits[i];
    if (std::isnan(x)) x = 0.0f;
    if (!bias.empty()) x += bias[i];
    scratch_[i] = x;
  }
  for (int special :
       {vocab::kPadToken, vocab::kStartToken, vocab::kLessInstrumentsToken, vocab::kMoreInstrumentsToken}) {
    if (special < vocab_size) scratch_[special] = neg_inf;
  }

  // Repetition rule: a nucleus of <= 2 candidates last step counts as a repetition, otherwise the count
  // halves. The effective temperature grows once the count passes 3.
  if (have_previous_nucleus_) {
    if (last_nucleus_size_ <= 2)
      repeat_count_ += 1;
    else
      repeat_count_ /= 2;
  }
  float temperature =
      static_cast<float>(vocab::is_time_shift(previous_token) ? options_.temperature_after_time_shift
                                                              : options_.temperature_otherwise);
  const double top_p = static_cast<float>(options_.top_p);
  float penalty =
      options_.repetition_coefficient * std::log((static_cast<float>(repeat_count_) + 1.0f) / 4.0f);
  temperature *= 1.0f + std::max(0.0f, penalty);
  if (temperature <= 0.0f) temperature = 1e-6f;

  // log-softmax then temperature == softmax(logits / T) up to normalisation.
  float max_logit = neg_inf;
  int argmax = -1;
  for (int i = 0; i < vocab_size; ++i) {
    if (scratch_[i] > max_logit) {
      max_logit = scratch_[i];
      argmax = i;
    }
  }
  if (argmax < 0 || std::isinf(max_logit)) {
    // Everything forbidden: fall back to the best token the reference would allow.
    int best = vocab::kBarToken;
    float best_logit = neg_inf;
    for (int i = 0; i < vocab_size; ++i) {
      if (i == vocab::kPadToken || i == vocab::kStartToken || i == vocab::kLessInstrumentsToken ||
          i == vocab::kMoreInstrumentsToken)
        continue;
      float x = std::isnan(logits[i]) ? 0.0f : logits[i];
      if (x > best_logit) {
        best_logit = x;
        best = i;
      }
    }
    last_nucleus_size_ = 1;
    have_previous_nucleus_ = true;
    return best;
  }
  double total = 0.0;
  for (int i = 0; i < vocab_size; ++i) {
    double p = std::isinf(scratch_[i]) ? 0.0 : std::exp((scratch_[i] - max_logit) / temperature);
    scratch_[i] = static_cast<float>(p);
    total += p;
  }
  if (options_.time_shift_top_p <= 0.0) {
    const int token = draw_nucleus(scratch_.data(), vocab_size, total, top_p, &last_nucleus_size_);
    have_previous_nucleus_ = true;
    return token;
  }
  // Typed nucleus: the time-shift class is one candidate (see SamplerOptions::time_shift_top_p).
  classes_.clear();
  class_token_.clear();
  double shift_mass = 0.0;
  for (int i = 0; i < vocab_size; ++i) {
    if (vocab::is_time_shift(i)) {
      shift_mass += scratch_[i];
    } else {
      classes_.push_back(scratch_[i]);
      class_token_.push_back(i);
    }
  }
  classes_.push_back(static_cast<float>(shift_mass));
  class_token_.push_back(-1);
  const int pick =
      draw_nucleus(classes_.data(), static_cast<int>(classes_.size()), total, top_p, &last_nucleus_size_);
  have_previous_nucleus_ = true;
  if (class_token_[pick] >= 0) return class_token_[pick];
  const int first = vocab::kFirstTimeShiftToken;
  const int shifts = std::min(vocab_size, vocab::kLastTimeShiftToken + 1) - first;
  int shift_nucleus = 0;
  return first + draw_nucleus(scratch_.data() + first, shifts, shift_mass,
                              static_cast<float>(options_.time_shift_top_p), &shift_nucleus);
}

int Sampler::draw_nucleus(const float* weights, int n, double total, double top_p, int* nucleus_size) {
  // Only the tokens up to the one that crosses top_p need ranking. Tokens at or above a cutoff come before all
  // others in the full order, so when their mass already exceeds top_p (with a margin for rounding) the
  // crossing token is among them and ranking just them gives the same nucleus as ranking the vocabulary.
  // The top token's weight is exp(0) = 1; most steps need a few dozen candidates instead of ~1000.
  auto by_probability = [&](int a, int b) {
    return weights[a] != weights[b] ? weights[a] > weights[b] : a < b;
  };
  bool ranked = false;
  for (float cutoff : {1.0f / 64.0f, 1.0f / 4096.0f}) {
    order_.clear();
    double mass = 0.0;
    for (int i = 0; i < n; ++i)
      if (weights[i] >= cutoff) {
        order_.push_back(i);
        mass += weights[i];
      }
    if (mass > (top_p + 1e-6) * total) {
      std::sort(order_.begin(), order_.end(), by_probability);
      ranked = true;
      break;
    }
  }
  if (!ranked) {
    order_.resize(n);
    std::iota(order_.begin(), order_.end(), 0);
    std::sort(order_.begin(), order_.end(), by_probability);
  }
  const int candidates = static_cast<int>(order_.size());

  // Keep tokens while the cumulative probability (including the token) stays <= top_p; always keep top-1.
  int nucleus = 1;
  double cumulative = weights[order_[0]] / total;
  double kept_mass = weights[order_[0]];
  for (int r = 1; r < candidates; ++r) {
    double p = weights[order_[r]];
    if (p <= 0.0) break;
    cumulative += p / total;
    if (cumulative > top_p) break;
    kept_mass += p;
    ++nucleus;
  }
  *nucleus_size = nucleus;

  double u = uniform01() * kept_mass;
  for (int r = 0; r < nucleus; ++r) {
    u -= weights[order_[r]];
    if (u < 0.0) return order_[r];
  }
  return order_[nucleus - 1];
}

}  // namespace emsync::music
