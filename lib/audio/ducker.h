/* emsync — side-chain ducker: lowers one signal (the background) while another (the key) plays.
 *
 * Plain C++17, no GStreamer. The key's level is its RMS over both channels (a one-pole mean square with a 10 ms
 * time constant), in dBFS of a full-scale sine. The background's attenuation follows that level, not an on/off
 * gate, because the music it ducks under is continuous but has dynamics, rests and a fade at the end:
 *
 *   reduction = depth * clamp((level - threshold) / range, 0, 1)     (dB)
 *
 * so under music at threshold + range or louder the background sits `depth` dB lower, under quiet passages it is
 * lowered less, and where the music rests (before its first note, after its end) it comes back to its own level.
 * The reduction moves towards that value with the attack time constant when it grows and the release time
 * constant when it shrinks. The background's gain is then background_level * 10^(-reduction / 20).
 */
#pragma once

#include <cstddef>

namespace emsync {
namespace audio {

struct DuckerOptions {
  double background_level = 1.0; /* linear gain of the background where the key is silent */
  double depth_db = 12.0;        /* attenuation under a key at threshold + range or louder */
  double threshold_db = -45.0;   /* key level (dBFS RMS) where ducking starts */
  double range_db = 15.0;        /* ducking reaches its depth this far above the threshold */
  double attack_s = 0.05;
  double release_s = 0.5;

  /* Throws std::invalid_argument naming the first value out of range. */
  void validate() const;
};

class Ducker {
 public:
  Ducker(int sample_rate, const DuckerOptions& options);

  /* Attenuates `frames` interleaved frames of `background` (in place) by the level of `key` over the same
   * frames; either may have any channel count. A null `key` is silence. */
  void process(const float* key, int key_channels, float* background, int channels, size_t frames);
  void set_options(const DuckerOptions& options);
  void reset();

  /* The current attenuation below background_level, dB (>= 0). */
  double reduction_db() const { return reduction_db_; }

 private:
  int rate_;
  DuckerOptions options_;
  double detector_coef_, attack_coef_, release_coef_;
  double mean_square_ = 0.0, reduction_db_ = 0.0;
};

}  // namespace audio
}  // namespace emsync
