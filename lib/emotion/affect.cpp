#include "lib/emotion/affect.h"

#include <algorithm>
#include <cmath>

namespace emsync::emotion {

namespace {

inline const std::uint8_t* comp_ptr(const FrameView& f, int c, int x, int y) {
  return f.comp[c] + (y >> f.h_shift[c]) * f.stride[c] + (x >> f.w_shift[c]) * f.pixel_stride[c];
}

inline double full_range_luma(const FrameView& f, double y) {
  return f.limited_range ? std::clamp((y - 16.0) * (255.0 / 219.0), 0.0, 255.0) : y;
}

}  // namespace

double grey_at(const FrameView& f, int x, int y) {
  switch (f.colour) {
    case FrameView::Colour::kGrey:
      return *comp_ptr(f, 0, x, y);
    case FrameView::Colour::kYuv:
      return full_range_luma(f, *comp_ptr(f, 0, x, y));
    case FrameView::Colour::kRgb:
    default:
      return 0.2989 * *comp_ptr(f, 0, x, y) + 0.5870 * *comp_ptr(f, 1, x, y) + 0.1140 * *comp_ptr(f, 2, x, y);
  }
}

void rgb_at(const FrameView& f, int x, int y, double rgb[3]) {
  switch (f.colour) {
    case FrameView::Colour::kGrey:
      rgb[0] = rgb[1] = rgb[2] = *comp_ptr(f, 0, x, y) / 255.0;
      return;
    case FrameView::Colour::kRgb:
      for (int c = 0; c < 3; ++c) rgb[c] = *comp_ptr(f, c, x, y) / 255.0;
      return;
    case FrameView::Colour::kYuv:
    default: {
      double luma = full_range_luma(f, *comp_ptr(f, 0, x, y)) / 255.0;
      double cb = *comp_ptr(f, 1, x, y) - 128.0, cr = *comp_ptr(f, 2, x, y) - 128.0;
      double scale = f.limited_range ? 255.0 / 224.0 : 1.0;
      cb = cb * scale / 255.0;
      cr = cr * scale / 255.0;
      rgb[0] = std::clamp(luma + 1.402 * cr, 0.0, 1.0);
      rgb[1] = std::clamp(luma - 0.344136 * cb - 0.714136 * cr, 0.0, 1.0);
      rgb[2] = std::clamp(luma + 1.772 * cb, 0.0, 1.0);
      return;
    }
  }
}

void sample_luma_grid(const FrameView& f, int gw, int gh, std::vector<float>& out) {
  out.resize(static_cast<std::size_t>(gw) * gh);
  for (int j = 0; j < gh; ++j) {
    int y = static_cast<int>((j + 0.5) * f.height / gh);
    for (int i = 0; i < gw; ++i) {
      int x = static_cast<int>((i + 0.5) * f.width / gw);
      out[static_cast<std::size_t>(j) * gw + i] = static_cast<float>(grey_at(f, x, y) / 255.0);
    }
  }
}

double mean_absolute_difference(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size() || a.empty()) return 0.0;
  double sum = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += std::fabs(a[i] - b[i]);
  return sum / a.size();
}

ColourStats colour_stats(const FrameView& f, int grid_width) {
  ColourStats stats;
  if (f.width <= 0 || f.height <= 0) return stats;
  int gw = std::max(1, std::min(grid_width, f.width));
  int gh = std::max(1, std::min(f.height, gw * f.height / std::max(1, f.width)));
  double luma_sum = 0.0, chroma_sum = 0.0;
  for (int j = 0; j < gh; ++j) {
    int y = static_cast<int>((j + 0.5) * f.height / gh);
    for (int i = 0; i < gw; ++i) {
      int x = static_cast<int>((i + 0.5) * f.width / gw);
      double rgb[3];
      rgb_at(f, x, y, rgb);
      luma_sum += grey_at(f, x, y) / 255.0;
      chroma_sum += std::max({rgb[0], rgb[1], rgb[2]}) - std::min({rgb[0], rgb[1], rgb[2]});
    }
  }
  stats.brightness = luma_sum / (gw * gh);
  stats.saturation = chroma_sum / (gw * gh);
  return stats;
}

// Valdez & Mehrabian's coefficients are for standardised brightness and saturation. A frame's mean luma and
// chroma are standardised against the reference points in SceneAffectConstants, the weighted sums are
// squashed to [-1, 1] with tanh (half a standard unit of the sum ~ 0.46). Hanjalic & Xu's components:
// m = min(1, motion / kMotionFull) (their motion magnitude as a share of the maximum), and
// r = min(1, exp((1 - L) / delta)) for the current average shot length L in seconds (their r(k) with shot
// lengths in seconds instead of frames); arousal_dynamic = 2 * (m + r) / 2 - 1.
SceneAffect scene_affect(const SceneAffectInputs& in) {
  using K = SceneAffectConstants;
  SceneAffect out;
  double zb = (in.colour.brightness - K::kBrightnessMean) / K::kBrightnessSpread;
  double zs = (in.colour.saturation - K::kSaturationMean) / K::kSaturationSpread;
  double pleasure = 0.69 * zb + 0.22 * zs;
  double arousal = -0.31 * zb + 0.60 * zs;
  double dominance = -0.76 * zb + 0.32 * zs;
  out.colour = {std::tanh(0.5 * pleasure), std::tanh(0.5 * arousal)};
  out.dominance = std::tanh(0.5 * dominance);

  out.motion_component = std::clamp(in.motion_activity / K::kMotionFull, 0.0, 1.0);
  double shot = std::max(0.0, in.mean_shot_length_s);
  out.rhythm_component = std::clamp(std::exp((1.0 - shot) / K::kRhythmDelta), 0.0, 1.0);
  out.dynamic_arousal = (out.motion_component + out.rhythm_component) - 1.0;

  out.combined.valence = out.colour.valence;
  out.combined.arousal = std::clamp(0.5 * (out.colour.arousal + out.dynamic_arousal), -1.0, 1.0);
  return out;
}

}  // namespace emsync::emotion
