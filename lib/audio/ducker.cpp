/* emsync — side-chain ducker (see ducker.h). */
#include "lib/audio/ducker.h"
#include "lib/audio/range.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace emsync {
namespace audio {

namespace {

constexpr double kDetectorTimeS = 0.01;
/* Below this the key counts as silent (-150 dBFS), which also keeps log10 finite. */
constexpr double kSilentMeanSquare = 1e-15;

double coefficient(double seconds, int rate) {
  return 1.0 - std::exp(-1.0 / (seconds * rate));
}

}  // namespace

void DuckerOptions::validate() const {
  check_range("ducker: background level", background_level, 0.0, 1.0);
  check_range("ducker: depth (dB)", depth_db, 0.0, 60.0);
  check_range("ducker: threshold (dBFS)", threshold_db, -100.0, 0.0);
  check_range("ducker: range (dB)", range_db, 0.1, 60.0);
  check_range("ducker: attack (s)", attack_s, 0.0001, 10.0);
  check_range("ducker: release (s)", release_s, 0.0001, 30.0);
}

Ducker::Ducker(int sample_rate, const DuckerOptions& options) : rate_(sample_rate) {
  if (sample_rate < 1000) throw std::invalid_argument("ducker: sample rate " + std::to_string(sample_rate));
  detector_coef_ = coefficient(kDetectorTimeS, sample_rate);
  set_options(options);
}

void Ducker::set_options(const DuckerOptions& options) {
  options.validate();
  options_ = options;
  attack_coef_ = coefficient(options.attack_s, rate_);
  release_coef_ = coefficient(options.release_s, rate_);
}

void Ducker::reset() {
  mean_square_ = 0.0;
  reduction_db_ = 0.0;
}

void Ducker::process(const float* key, int key_channels, float* background, int channels, size_t frames) {
  for (size_t i = 0; i < frames; i++) {
    double square = 0.0;
    if (key) {
      for (int c = 0; c < key_channels; c++) {
        const double v = key[i * key_channels + c];
        square += v * v;
      }
      square /= key_channels;
    }
    mean_square_ += (square - mean_square_) * detector_coef_;
    /* dBFS where a full-scale sine reads 0 */
    const double level = 10.0 * std::log10(std::max(2.0 * mean_square_, kSilentMeanSquare));
    const double wanted =
        options_.depth_db * std::clamp((level - options_.threshold_db) / options_.range_db, 0.0, 1.0);
    reduction_db_ += (wanted - reduction_db_) * (wanted > reduction_db_ ? attack_coef_ : release_coef_);
    const float gain = static_cast<float>(options_.background_level * std::pow(10.0, -reduction_db_ / 20.0));
    for (int c = 0; c < channels; c++) background[i * channels + c] *= gain;
  }
}

}  // namespace audio
}  // namespace emsync
