#include "lib/scene/analysis.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace emsync {
namespace scene {

int FrameAnalyzer::luma_factor(int width) const {
  if (analysis_width_ <= 0 || width <= analysis_width_) return 1;
  return std::max(1, (int)std::lround((double)width / analysis_width_));
}

// Mean of each run of @factor bytes (a multiple of 4) of @in into @out (one byte per run). With SSE2 the
// sum of 8 (or 4) bytes is one psadbw against zero; this is the hot loop of the element on large frames.
static void sum_rows_by_4(const std::uint8_t* in, int out_w, int factor, std::uint8_t* out) {
  const unsigned half = (unsigned)factor / 2;
  // (sum + half) / factor as a multiply and shift: with m = floor(2^32 / factor) + 1 the quotient is exact
  // for numerators below 2^32 / factor, and ours stay under 256 * factor (so for factors under 4096).
  const std::uint64_t reciprocal = (std::uint64_t{1} << 32) / (unsigned)factor + 1;
  const bool exact = factor < 4096;
  auto divide = [&](unsigned sum) -> std::uint8_t {
    return (std::uint8_t)(exact ? (((std::uint64_t)(sum + half) * reciprocal) >> 32)
                                : (sum + half) / (unsigned)factor);
  };
#if defined(__SSE2__)
  const __m128i zero = _mm_setzero_si128();
  for (int c = 0; c < out_w; c++) {
    const std::uint8_t* p = in + (size_t)c * factor;
    unsigned sum = 0;
    int j = 0;
    for (; j + 8 <= factor; j += 8) {
      const __m128i v = _mm_loadl_epi64((const __m128i*)(p + j));
      sum += (unsigned)_mm_cvtsi128_si32(_mm_sad_epu8(v, zero));
    }
    for (; j < factor; j += 4) {
      std::int32_t four;
      std::memcpy(&four, p + j, 4);
      sum += (unsigned)_mm_cvtsi128_si32(_mm_sad_epu8(_mm_cvtsi32_si128(four), zero));
    }
    out[c] = divide(sum);
  }
#else
  for (int c = 0; c < out_w; c++) {
    const std::uint8_t* p = in + (size_t)c * factor;
    unsigned sum = 0;
    for (int j = 0; j < factor; j++) sum += p[j];
    out[c] = divide(sum);
  }
#endif
}

// Downscales one plane of @channels interleaved channels by integer factors into one plane per channel: one
// row out of each block of factor_y rows is read (the memory traffic of the full-resolution frame is what
// costs) and each output pixel is the mean of factor_x pixels of that row, rounded to nearest.
static void reduce_plane(const std::uint8_t* data, int stride, int width, int height, int factor_x,
                         int factor_y, int channels, Plane* const* outs) {
  const int out_w = std::max(1, width / factor_x);
  const int out_h = std::max(1, height / factor_y);
  factor_x = std::max(1, std::min(factor_x, width));
  factor_y = std::max(1, std::min(factor_y, height));
  for (int ch = 0; ch < channels; ch++) outs[ch]->create(out_h, out_w);
  // Rows: one per output row (the middle one of its block); columns: mean of factor_x pixels.
  const std::uint8_t* first_row = data + (size_t)stride * (factor_y / 2);
  if (channels == 1 && factor_x % 4 == 0) {
    for (int r = 0; r < out_h; r++)
      sum_rows_by_4(first_row + (size_t)stride * factor_y * r, out_w, factor_x, outs[0]->ptr(r));
    return;
  }
  const float scale = 1.0f / (float)factor_x;
  for (int r = 0; r < out_h; r++) {
    const std::uint8_t* row = first_row + (size_t)stride * factor_y * r;
    for (int ch = 0; ch < channels; ch++) {
      std::uint8_t* o = outs[ch]->ptr(r);
      if (factor_x == 1) {
        for (int c = 0; c < out_w; c++) o[c] = row[(size_t)c * channels + ch];
        continue;
      }
      for (int c = 0; c < out_w; c++) {
        const std::uint8_t* p = row + (size_t)c * factor_x * channels + ch;
        unsigned sum = 0;
        for (int j = 0; j < factor_x; j++) sum += p[(size_t)j * channels];
        o[c] = (std::uint8_t)std::min(255L, std::lrint((float)sum * scale));  // to nearest, ties to even
      }
    }
  }
}

// Edge map of the analysed luma: pixels whose central-difference gradient |dx| + |dy| exceeds a level tied
// to the median luma (as PySceneDetect ties its Canny thresholds to the median), dilated by one pixel so
// that slow motion keeps edges overlapping. A fraction of the cost of Canny at this size.
static void compute_edges(const Plane& y, const int* hist, Plane& flags, Plane& dilate_scratch,
                          Plane& edges) {
  const int half = (y.rows() * y.cols()) / 2;
  int median = 0;
  for (int acc = 0; median < 255; median++) {
    acc += hist[median];
    if (acc > half) break;
  }
  const int level = std::max(6, median / 5);  // at most 51
  const int cols = y.cols();
  flags.create(y.rows(), cols);
  flags.fill(0);
  for (int r = 1; r + 1 < y.rows(); r++) {
    const std::uint8_t* up = y.ptr(r - 1);
    const std::uint8_t* row = y.ptr(r);
    const std::uint8_t* down = y.ptr(r + 1);
    std::uint8_t* e = flags.ptr(r);
    int c = 1;
#if defined(__SSE2__)
    // |a - b| of bytes is (a -sat b) | (b -sat a); the saturated sum of the two gradients still compares
    // the same against a level under 255; g > level is max (g, level + 1) == g, 0xff where true.
    const __m128i above_level = _mm_set1_epi8((char)(level + 1));
    for (; c + 17 <= cols; c += 16) {
      const __m128i left = _mm_loadu_si128((const __m128i*)(row + c - 1));
      const __m128i right = _mm_loadu_si128((const __m128i*)(row + c + 1));
      const __m128i u = _mm_loadu_si128((const __m128i*)(up + c));
      const __m128i d = _mm_loadu_si128((const __m128i*)(down + c));
      const __m128i dx = _mm_or_si128(_mm_subs_epu8(right, left), _mm_subs_epu8(left, right));
      const __m128i dy = _mm_or_si128(_mm_subs_epu8(d, u), _mm_subs_epu8(u, d));
      const __m128i g = _mm_adds_epu8(dx, dy);
      _mm_storeu_si128((__m128i*)(e + c), _mm_cmpeq_epi8(_mm_max_epu8(g, above_level), g));
    }
#endif
    for (; c + 1 < cols; c++) {
      const int gradient = std::abs((int)row[c + 1] - (int)row[c - 1]) + std::abs((int)down[c] - (int)up[c]);
      e[c] = gradient > level ? 255 : 0;
    }
  }
  dilate3x3(flags, edges, dilate_scratch);
}

static void compute_histogram(AnalysisFrame& f, const int* luma_hist) {
  f.histogram.fill(0.0f);
  float* hy = f.histogram.data();
  float* hu = hy + kHistogramBinsY;
  float* hv = hu + kHistogramBinsUV;
  for (int i = 0; i < 256; i++) hy[i >> 4] += (float)luma_hist[i];
  const float ny = 1.0f / (float)std::max(1, f.y.rows() * f.y.cols());
  for (int i = 0; i < kHistogramBinsY; i++) hy[i] *= ny;
  if (f.u.empty()) {
    hu[kHistogramBinsUV / 2] = hv[kHistogramBinsUV / 2] = 1.0f;
    return;
  }
  for (int r = 0; r < f.u.rows(); r++) {
    const std::uint8_t* pu = f.u.ptr(r);
    const std::uint8_t* pv = f.v.ptr(r);
    for (int c = 0; c < f.u.cols(); c++) {
      hu[pu[c] >> 5] += 1.0f;
      hv[pv[c] >> 5] += 1.0f;
    }
  }
  const float nc = 1.0f / (float)std::max(1, f.u.rows() * f.u.cols());
  for (int i = 0; i < kHistogramBinsUV; i++) {
    hu[i] *= nc;
    hv[i] *= nc;
  }
}

void FrameAnalyzer::analyze(const FrameView& frame, AnalysisFrame& out) {
  const int k = luma_factor(frame.width);
  switch (frame.layout) {
    case PixelLayout::kGray: {
      Plane* y[1] = {&out.y};
      reduce_plane(frame.planes[0].data, frame.planes[0].stride, frame.planes[0].width,
                   frame.planes[0].height, k, k, 1, y);
      out.u.release();
      out.v.release();
      break;
    }
    case PixelLayout::kYuvPlanar:
    case PixelLayout::kYuvSemiPlanar: {
      Plane* y[1] = {&out.y};
      reduce_plane(frame.planes[0].data, frame.planes[0].stride, frame.planes[0].width,
                   frame.planes[0].height, k, k, 1, y);
      // Chroma at half the analysed luma size, whatever the subsampling of the input.
      const int fx = std::max(1, (2 * k) >> frame.chroma_shift_x);
      const int fy = std::max(1, (2 * k) >> frame.chroma_shift_y);
      if (frame.layout == PixelLayout::kYuvPlanar) {
        const int iu = frame.swap_uv ? 2 : 1, iv = frame.swap_uv ? 1 : 2;
        Plane *u[1] = {&out.u}, *v[1] = {&out.v};
        reduce_plane(frame.planes[iu].data, frame.planes[iu].stride, frame.planes[iu].width,
                     frame.planes[iu].height, fx, fy, 1, u);
        reduce_plane(frame.planes[iv].data, frame.planes[iv].stride, frame.planes[iv].width,
                     frame.planes[iv].height, fx, fy, 1, v);
      } else {
        Plane* uv[2] = {frame.swap_uv ? &out.v : &out.u, frame.swap_uv ? &out.u : &out.v};
        reduce_plane(frame.planes[1].data, frame.planes[1].stride, frame.planes[1].width,
                     frame.planes[1].height, fx, fy, 2, uv);
      }
      break;
    }
    case PixelLayout::kPackedRgb: {
      const int bpp = std::max(1, std::min(4, frame.bytes_per_pixel));
      Plane* channels[4] = {&rgb_small_[0], &rgb_small_[1], &rgb_small_[2], &rgb_small_[3]};
      reduce_plane(frame.planes[0].data, frame.planes[0].stride, frame.planes[0].width,
                   frame.planes[0].height, k, k, bpp, channels);
      const int w = rgb_small_[0].cols(), h = rgb_small_[0].rows();
      out.y.create(h, w);
      uv_full_[0].create(h, w);
      uv_full_[1].create(h, w);
      // BT.601 limited range, the same integer approximation videoconvert uses.
      for (int r = 0; r < h; r++) {
        const std::uint8_t* pr = rgb_small_[frame.r_offset].ptr(r);
        const std::uint8_t* pg = rgb_small_[frame.g_offset].ptr(r);
        const std::uint8_t* pb = rgb_small_[frame.b_offset].ptr(r);
        std::uint8_t* py = out.y.ptr(r);
        std::uint8_t* pu = uv_full_[0].ptr(r);
        std::uint8_t* pv = uv_full_[1].ptr(r);
        for (int c = 0; c < w; c++) {
          const int R = pr[c], G = pg[c], B = pb[c];
          py[c] = (std::uint8_t)(((66 * R + 129 * G + 25 * B + 128) >> 8) + 16);
          pu[c] = (std::uint8_t)(((-38 * R - 74 * G + 112 * B + 128) >> 8) + 128);
          pv[c] = (std::uint8_t)(((112 * R - 94 * G - 18 * B + 128) >> 8) + 128);
        }
      }
      const int half_w = std::max(1, w / 2), half_h = std::max(1, h / 2);
      const int src_w = half_w * (w >= 2 ? 2 : 1), src_h = half_h * (h >= 2 ? 2 : 1);
      resize_area(uv_full_[0], half_h, half_w, out.u, src_h, src_w);
      resize_area(uv_full_[1], half_h, half_w, out.v, src_h, src_w);
      break;
    }
  }
  // One pass over the analysed luma: its histogram gives the mean, the spread, the median for the edge
  // detector and the coarse colour histogram.
  int luma_hist[256] = {0};
  for (int r = 0; r < out.y.rows(); r++) {
    const std::uint8_t* p = out.y.ptr(r);
    for (int c = 0; c < out.y.cols(); c++) luma_hist[p[c]]++;
  }
  double sum = 0.0, sum_sq = 0.0;
  for (int i = 0; i < 256; i++) {
    sum += (double)i * luma_hist[i];
    sum_sq += (double)i * i * luma_hist[i];
  }
  const double n = (double)std::max(1, out.y.rows() * out.y.cols());
  out.mean_y = sum / n;
  out.stddev_y = std::sqrt(std::max(0.0, sum_sq / n - out.mean_y * out.mean_y));
  compute_edges(out.y, luma_hist, edge_scratch_, dilate_scratch_, out.edges);
  compute_histogram(out, luma_hist);
  const int cw = std::min(kCoarseWidth, out.y.cols());
  const int ch = std::max(1, out.y.rows() * cw / std::max(1, out.y.cols()));
  resize_area(out.y, ch, cw, out.coarse_y);
  if (!out.u.empty()) {
    resize_area(out.u, ch, cw, out.coarse_u);
    resize_area(out.v, ch, cw, out.coarse_v);
  } else {
    out.coarse_u.release();
    out.coarse_v.release();
  }
}

FrameDelta frame_delta(const AnalysisFrame& a, const AnalysisFrame& b, bool with_edges) {
  FrameDelta d;
  d.luma = mean_abs_diff(a.y, b.y);
  d.chroma = 0.5 * (mean_abs_diff(a.u, b.u) + mean_abs_diff(a.v, b.v));
  if (with_edges) d.edges = mean_abs_diff(a.edges, b.edges);
  return d;
}

static double plane_blend_residual(const Plane& a, const Plane& m, const Plane& b) {
  if (a.empty() || !a.same_size(m) || !a.same_size(b)) return 0.0;
  long long sum = 0;
  for (int r = 0; r < a.rows(); r++) {
    const std::uint8_t* pa = a.ptr(r);
    const std::uint8_t* pm = m.ptr(r);
    const std::uint8_t* pb = b.ptr(r);
    int row = 0;
    for (int c = 0; c < a.cols(); c++) row += std::abs(2 * (int)pm[c] - (int)pa[c] - (int)pb[c]);
    sum += row;
  }
  return (double)sum / (2.0 * a.rows() * a.cols());
}

double blend_residual(const AnalysisFrame& a, const AnalysisFrame& mid, const AnalysisFrame& b, bool coarse) {
  if (coarse) {
    const double luma = plane_blend_residual(a.coarse_y, mid.coarse_y, b.coarse_y);
    const double chroma = 0.5 * (plane_blend_residual(a.coarse_u, mid.coarse_u, b.coarse_u) +
                                 plane_blend_residual(a.coarse_v, mid.coarse_v, b.coarse_v));
    return (luma + chroma) / 2.0;
  }
  const double luma = plane_blend_residual(a.y, mid.y, b.y);
  const double chroma = 0.5 * (plane_blend_residual(a.u, mid.u, b.u) + plane_blend_residual(a.v, mid.v, b.v));
  return (luma + chroma) / 2.0;
}

double coarse_difference(const AnalysisFrame& a, const AnalysisFrame& b) {
  const double luma = mean_abs_diff(a.coarse_y, b.coarse_y);
  const double chroma = 0.5 * (mean_abs_diff(a.coarse_u, b.coarse_u) + mean_abs_diff(a.coarse_v, b.coarse_v));
  return (luma + chroma) / 2.0;
}

double histogram_distance(const AnalysisFrame& a, const AnalysisFrame& b) {
  double sum = 0.0;
  for (int i = 0; i < kHistogramBins; i++) sum += std::fabs((double)a.histogram[i] - (double)b.histogram[i]);
  return sum / 6.0;  // three histograms, each with total variation sum/2
}

}  // namespace scene
}  // namespace emsync
