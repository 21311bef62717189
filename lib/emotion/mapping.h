// Discrete emotion classes -> continuous valence/arousal, the EMSYNC way (reference §1c): the
// probability-weighted mean of per-class Gaussians from Russell & Mehrabian (1977), rescaled so the
// class means span [-0.8, 0.8] on each axis.
#pragma once

#include <array>
#include <cstddef>

namespace emsync::emotion {

struct ValenceArousal {
  double valence = 0.0;
  double arousal = 0.0;
};

// EMSYNC's classifier order: anger, disgust, fear, joy, sadness, surprise.
constexpr std::size_t kEkmanCount = 6;
using EkmanProbabilities = std::array<double, kEkmanCount>;

// The face-expression model's order (oarriaga/face_classification, FER-2013 labels):
// angry, disgust, fear, happy, sad, surprise, neutral.
constexpr std::size_t kExpressionCount = 7;
using ExpressionProbabilities = std::array<double, kExpressionCount>;

struct EmotionGaussian {
  const char* name;
  double valence_mean_raw;  // Russell & Mehrabian (1977), as in EMSYNC's emotion_to_va.csv
  double arousal_mean_raw;
  double valence_mean;  // rescaled so the means span [-0.8, 0.8]
  double valence_std;   // the rescaled standard deviations (reference table; not used by the mean)
  double arousal_mean;
  double arousal_std;
};

// The six Ekman Gaussians in EMSYNC's class order, rescaled as EMSYNC does.
const std::array<EmotionGaussian, kEkmanCount>& ekman_gaussians();

const char* expression_name(std::size_t index);

// V = sum p_i * Vmean_i, A = sum p_i * Amean_i (p renormalised to sum 1; all-zero p gives the origin),
// clipped to [-1, 1].
ValenceArousal ekman_to_valence_arousal(const EkmanProbabilities& probabilities);

// The 7 face expressions mapped onto the same Gaussians (angry=anger, disgust, fear, happy=joy,
// sad=sadness, surprise) with neutral at the origin (0, 0).
ValenceArousal expression_to_valence_arousal(const ExpressionProbabilities& probabilities);

// The Ekman part of the expression probabilities (neutral dropped, renormalised; uniform when only
// neutral carries mass).
EkmanProbabilities expression_to_ekman(const ExpressionProbabilities& probabilities);

}  // namespace emsync::emotion
