// emsync scene engine — the small per-frame picture the content detectors compare.
//
// Every frame is reduced once to a downscaled Y plane (about analysis_width pixels wide), U and V planes at
// half that size, a dilated edge map of Y, a few global statistics and a coarse YUV histogram. All later
// comparisons (neighbour scores, flash and dissolve checks between frames further apart) use only these.
#pragma once

#include <array>
#include <cstdint>

#include "lib/scene/frame_view.h"
#include "lib/scene/plane.h"

namespace emsync {
namespace scene {

constexpr int kHistogramBinsY = 16;
constexpr int kHistogramBinsUV = 8;
constexpr int kHistogramBins = kHistogramBinsY + 2 * kHistogramBinsUV;
constexpr int kCoarseWidth = 16;

struct AnalysisFrame {
  Plane y;                             // about analysis_width wide
  Plane u, v;                          // half the size of y (empty for GRAY8 input)
  Plane edges;                         // 0 or 255, same size as y
  Plane coarse_y, coarse_u, coarse_v;  // block means, about kCoarseWidth wide (motion-blind colour layout)
  double mean_y = 0.0;                 // mean luma (0..255)
  double stddev_y = 0.0;               // spatial standard deviation of luma
  std::array<float, kHistogramBins> histogram{};  // Y, U and V histograms, each normalised to sum 1
};

// Per-component mean absolute differences between two analysis frames (0..255 scale).
struct FrameDelta {
  double luma = 0.0;
  double chroma = 0.0;  // mean of the U and V differences
  double edges = 0.0;   // share of pixels whose edge flag differs, times 255
};

class FrameAnalyzer {
 public:
  explicit FrameAnalyzer(int analysis_width) : analysis_width_(analysis_width) {}

  // Reduces @frame into @out (reusing @out's buffers when the size is unchanged).
  void analyze(const FrameView& frame, AnalysisFrame& out);

 private:
  int luma_factor(int width) const;
  int analysis_width_;
  Plane rgb_small_[4];    // scratch: the channels of packed RGB at the analysed size
  Plane uv_full_[2];      // scratch: chroma of packed RGB at the analysed luma size
  Plane edge_scratch_;    // scratch: edge flags before dilation
  Plane dilate_scratch_;  // scratch: horizontal pass of the dilation
};

// Mean absolute per-component difference of two analysis frames of the same size.
FrameDelta frame_delta(const AnalysisFrame& a, const AnalysisFrame& b, bool with_edges);

// How far @mid is from the average of @a and @b (Y, U, V; 0..255 scale): near 0 inside a linear blend.
// @coarse: on the block-mean pictures, where moderate motion vanishes but a dissolve stays a blend.
double blend_residual(const AnalysisFrame& a, const AnalysisFrame& mid, const AnalysisFrame& b,
                      bool coarse = false);
// (luma + chroma) / 2 mean absolute difference of the block-mean pictures.
double coarse_difference(const AnalysisFrame& a, const AnalysisFrame& b);

// Total-variation distance of the two colour histograms, in [0, 1].
double histogram_distance(const AnalysisFrame& a, const AnalysisFrame& b);

}  // namespace scene
}  // namespace emsync
