#include "lib/emotion/mapping.h"

#include <algorithm>

namespace emsync::emotion {

namespace {

constexpr double kRescaledLimit = 0.8;  // EMSYNC: max_v = max_a = 0.8, min_v = min_a = -0.8

// Raw means (Russell & Mehrabian 1977, via EMSYNC's emotion_to_va.csv) and the rescaled standard
// deviations listed in the reference table (§1c).
struct RawEntry {
  const char* name;
  double valence, arousal, valence_std, arousal_std;
};
constexpr RawEntry kRaw[kEkmanCount] = {
    {"anger", -0.51, 0.59, 0.229, 0.494},    {"disgust", -0.60, 0.35, 0.229, 0.698},
    {"fear", -0.64, 0.60, 0.229, 0.545},     {"joy", 0.76, 0.48, 0.251, 0.443},
    {"sadness", -0.63, -0.27, 0.263, 0.579}, {"surprise", 0.40, 0.67, 0.343, 0.460},
};

// Linear map of [lo, hi] onto [-0.8, 0.8] (EMSYNC utils.py::adjust_valence_arousal).
double rescale(double value, double lo, double hi) {
  return -kRescaledLimit + (value - lo) / (hi - lo) * 2.0 * kRescaledLimit;
}

std::array<EmotionGaussian, kEkmanCount> build_table() {
  double vlo = kRaw[0].valence, vhi = vlo, alo = kRaw[0].arousal, ahi = alo;
  for (const auto& r : kRaw) {
    vlo = std::min(vlo, r.valence);
    vhi = std::max(vhi, r.valence);
    alo = std::min(alo, r.arousal);
    ahi = std::max(ahi, r.arousal);
  }
  std::array<EmotionGaussian, kEkmanCount> table{};
  for (std::size_t i = 0; i < kEkmanCount; ++i) {
    const auto& r = kRaw[i];
    table[i] = {r.name,        r.valence,
                r.arousal,     rescale(r.valence, vlo, vhi),
                r.valence_std, rescale(r.arousal, alo, ahi),
                r.arousal_std};
  }
  return table;
}

// Expression index -> Ekman index (-1 for neutral).
constexpr int kExpressionToEkman[kExpressionCount] = {0, 1, 2, 3, 4, 5, -1};
constexpr const char* kExpressionNames[kExpressionCount] = {"angry", "disgust",  "fear",   "happy",
                                                            "sad",   "surprise", "neutral"};

double clip_unit(double x) {
  return std::clamp(x, -1.0, 1.0);
}

}  // namespace

const std::array<EmotionGaussian, kEkmanCount>& ekman_gaussians() {
  static const auto table = build_table();
  return table;
}

const char* expression_name(std::size_t index) {
  return index < kExpressionCount ? kExpressionNames[index] : "?";
}

ValenceArousal ekman_to_valence_arousal(const EkmanProbabilities& p) {
  const auto& table = ekman_gaussians();
  double total = 0.0, v = 0.0, a = 0.0;
  for (std::size_t i = 0; i < kEkmanCount; ++i) {
    double w = std::max(0.0, p[i]);
    total += w;
    v += w * table[i].valence_mean;
    a += w * table[i].arousal_mean;
  }
  if (total <= 0.0) return {};
  return {clip_unit(v / total), clip_unit(a / total)};
}

ValenceArousal expression_to_valence_arousal(const ExpressionProbabilities& p) {
  const auto& table = ekman_gaussians();
  double total = 0.0, v = 0.0, a = 0.0;
  for (std::size_t i = 0; i < kExpressionCount; ++i) {
    double w = std::max(0.0, p[i]);
    total += w;
    int e = kExpressionToEkman[i];
    if (e >= 0) {  // neutral sits at the origin: it only dilutes the others
      v += w * table[e].valence_mean;
      a += w * table[e].arousal_mean;
    }
  }
  if (total <= 0.0) return {};
  return {clip_unit(v / total), clip_unit(a / total)};
}

EkmanProbabilities expression_to_ekman(const ExpressionProbabilities& p) {
  EkmanProbabilities out{};
  double total = 0.0;
  for (std::size_t i = 0; i < kExpressionCount; ++i)
    if (kExpressionToEkman[i] >= 0) {
      out[kExpressionToEkman[i]] = std::max(0.0, p[i]);
      total += out[kExpressionToEkman[i]];
    }
  for (auto& x : out) x = total > 0.0 ? x / total : 1.0 / kEkmanCount;
  return out;
}

}  // namespace emsync::emotion
