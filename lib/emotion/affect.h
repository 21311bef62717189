// Scene-level affect from published findings (no learned weights), and the pixel access it needs.
//
//  - Colour -> pleasure and arousal: Valdez, P. & Mehrabian, A. (1994). Effects of color on emotions.
//    Journal of Experimental Psychology: General, 123(4), 394-409. Their regressions over colour samples
//    (standardised brightness B and saturation S):
//        Pleasure  = .69 B + .22 S
//        Arousal   = -.31 B + .60 S
//        Dominance = -.76 B + .32 S
//    Brighter and more saturated colours are more pleasant; saturation raises arousal, brightness lowers it.
//  - Motion and editing rhythm -> arousal: Hanjalic, A. & Xu, L.-Q. (2005). Affective video content
//    representation and modeling. IEEE Transactions on Multimedia, 7(1), 143-154. Arousal is modelled as
//    a weighted sum of motion activity m(k) (motion magnitude as a share of the maximum), shot-cut rhythm
//    r(k) = exp((1 - shot length)/delta) and sound energy, then smoothed over time. We have no audio: the two
//    visual components get equal weights (as their model weights its normalised components).
#pragma once

#include <cstdint>
#include <vector>

#include "lib/emotion/mapping.h"

namespace emsync::emotion {

// A read-only view of one 8-bit video frame, by component (what GstVideoFrame provides). Works for
// planar, semi-planar and packed YUV, packed RGB(A) and grey: component c of pixel (x, y) is at
// comp[c] + (y >> h_shift[c]) * stride[c] + (x >> w_shift[c]) * pixel_stride[c].
struct FrameView {
  enum class Colour { kYuv, kRgb, kGrey };
  Colour colour = Colour::kYuv;
  int width = 0, height = 0;
  const std::uint8_t* comp[3] = {nullptr, nullptr, nullptr};
  int stride[3] = {0, 0, 0};
  int pixel_stride[3] = {1, 1, 1};
  int w_shift[3] = {0, 0, 0};
  int h_shift[3] = {0, 0, 0};
  bool limited_range = true;  // YUV only: 16-235 luma, 16-240 chroma (BT.601/709 video range)
};

// Grey level in [0, 255] of one pixel: full-range luma, 0.2989 R + 0.5870 G + 0.1140 B for RGB (the weights
// the expression model was used with).
double grey_at(const FrameView& frame, int x, int y);
// R, G, B in [0, 1] of one pixel (YUV converted with BT.601 coefficients).
void rgb_at(const FrameView& frame, int x, int y, double rgb[3]);

// A coarse luma grid of the frame (nearest samples, values in [0, 1]), for motion and cut measures.
void sample_luma_grid(const FrameView& frame, int grid_width, int grid_height, std::vector<float>& out);
// Mean absolute difference of two grids of the same size, in [0, 1].
double mean_absolute_difference(const std::vector<float>& a, const std::vector<float>& b);

struct ColourStats {
  double brightness = 0.0;  // mean luma in [0, 1]
  double saturation = 0.0;  // mean chroma (max - min of R, G, B) in [0, 1]
};
// Colour statistics from a grid of about grid_width x (proportional) samples.
ColourStats colour_stats(const FrameView& frame, int grid_width);

struct SceneAffectInputs {
  ColourStats colour;
  double motion_activity = 0.0;      // mean absolute luma change between consecutive frames, [0, 1]
  double mean_shot_length_s = 10.0;  // recent average shot length in seconds
};

struct SceneAffect {
  ValenceArousal colour;          // Valdez & Mehrabian (pleasure, arousal), squashed to [-1, 1]
  double dominance = 0.0;         // Valdez & Mehrabian dominance (reported, not used for music)
  double motion_component = 0.0;  // Hanjalic & Xu m, [0, 1]
  double rhythm_component = 0.0;  // Hanjalic & Xu r, [0, 1]
  double dynamic_arousal = 0.0;   // (m + r) / 2 mapped to [-1, 1]
  ValenceArousal combined;        // valence from colour; arousal = mean of colour and dynamic arousal
};

SceneAffect scene_affect(const SceneAffectInputs& inputs);

// The reference points of the standardisation (ours: typical values of film and TV frames; the papers'
// standardisation was over their own stimulus sets). Documented in scene_affect().
struct SceneAffectConstants {
  static constexpr double kBrightnessMean = 0.45, kBrightnessSpread = 0.20;
  static constexpr double kSaturationMean = 0.20, kSaturationSpread = 0.15;
  static constexpr double kMotionFull = 0.12;  // mean |delta luma| treated as 100 % motion activity
  static constexpr double kRhythmDelta = 4.0;  // seconds (delta of r(k))
};

}  // namespace emsync::emotion
