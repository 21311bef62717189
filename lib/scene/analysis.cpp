#include "lib/scene/analysis.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include <opencv2/imgproc.hpp>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace emsync {
namespace scene {

int
FrameAnalyzer::luma_factor (int width) const
{
  if (analysis_width_ <= 0 || width <= analysis_width_)
    return 1;
  return std::max (1, (int) std::lround ((double) width / analysis_width_));
}

// Mean of each run of @factor bytes (a multiple of 4) of @in into @out (one byte per run). With SSE2 the
// sum of 8 (or 4) bytes is one psadbw against zero; this is the hot loop of the element on large frames.
static void
sum_rows_by_4 (const std::uint8_t *in, int out_w, int factor, std::uint8_t *out)
{
  const unsigned half = (unsigned) factor / 2;
#if defined(__SSE2__)
  const __m128i zero = _mm_setzero_si128 ();
  for (int c = 0; c < out_w; c++) {
    const std::uint8_t *p = in + (size_t) c * factor;
    unsigned sum = 0;
    int j = 0;
    for (; j + 8 <= factor; j += 8) {
      const __m128i v = _mm_loadl_epi64 ((const __m128i *) (p + j));
      sum += (unsigned) _mm_cvtsi128_si32 (_mm_sad_epu8 (v, zero));
    }
    for (; j < factor; j += 4) {
      std::int32_t four;
      std::memcpy (&four, p + j, 4);
      sum += (unsigned) _mm_cvtsi128_si32 (_mm_sad_epu8 (_mm_cvtsi32_si128 (four), zero));
    }
    out[c] = (std::uint8_t) ((sum + half) / (unsigned) factor);
  }
#else
  for (int c = 0; c < out_w; c++) {
    const std::uint8_t *p = in + (size_t) c * factor;
    unsigned sum = 0;
    for (int j = 0; j < factor; j++)
      sum += p[j];
    out[c] = (std::uint8_t) ((sum + half) / (unsigned) factor);
  }
#endif
}

// Downscales one plane by integer factors: one row out of each block of factor_y rows is read (the
// memory traffic of the full-resolution frame is what costs) and averaged over factor_x columns by
// OpenCV's INTER_AREA, which an integer factor keeps on its fast path (a plain box filter).
void
FrameAnalyzer::reduce_plane (const std::uint8_t *data, int stride, int width, int height,
    int factor_x, int factor_y, int channels, cv::Mat &out)
{
  const int out_w = std::max (1, width / factor_x);
  const int out_h = std::max (1, height / factor_y);
  factor_x = std::max (1, std::min (factor_x, width));
  factor_y = std::max (1, std::min (factor_y, height));
  // Rows: one per output row (the middle one of its block); columns: mean of factor_x pixels.
  const std::uint8_t *first_row = data + (size_t) stride * (factor_y / 2);
  if (channels == 1 && factor_x % 4 == 0) {
    out.create (out_h, out_w, CV_8U);
    for (int r = 0; r < out_h; r++)
      sum_rows_by_4 (first_row + (size_t) stride * factor_y * r, out_w, factor_x, out.ptr<std::uint8_t> (r));
    return;
  }
  const cv::Mat src (out_h, out_w * factor_x, CV_MAKETYPE (CV_8U, channels),
      const_cast<std::uint8_t *> (first_row), (size_t) stride * factor_y);
  if (factor_x == 1)
    src.copyTo (out);
  else
    cv::resize (src, out, cv::Size (out_w, out_h), 0, 0, cv::INTER_AREA);
}

// Edge map of the analysed luma: pixels whose central-difference gradient |dx| + |dy| exceeds a level tied
// to the median luma (as PySceneDetect ties its Canny thresholds to the median), dilated by one pixel so
// that slow motion keeps edges overlapping. A fraction of the cost of Canny at this size.
static void
compute_edges (const cv::Mat &y, const int *hist, cv::Mat &edges)
{
  const int half = (y.rows * y.cols) / 2;
  int median = 0;
  for (int acc = 0; median < 255; median++) {
    acc += hist[median];
    if (acc > half)
      break;
  }
  const int level = std::max (6, median / 5);
  edges.create (y.size (), CV_8U);
  edges.setTo (0);
  for (int r = 1; r + 1 < y.rows; r++) {
    const std::uint8_t *up = y.ptr<std::uint8_t> (r - 1);
    const std::uint8_t *row = y.ptr<std::uint8_t> (r);
    const std::uint8_t *down = y.ptr<std::uint8_t> (r + 1);
    std::uint8_t *e = edges.ptr<std::uint8_t> (r);
    for (int c = 1; c + 1 < y.cols; c++) {
      const int gradient = std::abs ((int) row[c + 1] - (int) row[c - 1]) +
          std::abs ((int) down[c] - (int) up[c]);
      e[c] = gradient > level ? 255 : 0;
    }
  }
  static const cv::Mat kernel = cv::Mat::ones (3, 3, CV_8U);
  cv::dilate (edges, edges, kernel);
}

static void
compute_histogram (AnalysisFrame &f, const int *luma_hist)
{
  f.histogram.fill (0.0f);
  float *hy = f.histogram.data ();
  float *hu = hy + kHistogramBinsY;
  float *hv = hu + kHistogramBinsUV;
  for (int i = 0; i < 256; i++)
    hy[i >> 4] += (float) luma_hist[i];
  const float ny = 1.0f / (float) std::max (1, f.y.rows * f.y.cols);
  for (int i = 0; i < kHistogramBinsY; i++)
    hy[i] *= ny;
  if (f.u.empty ()) {
    hu[kHistogramBinsUV / 2] = hv[kHistogramBinsUV / 2] = 1.0f;
    return;
  }
  for (int r = 0; r < f.u.rows; r++) {
    const std::uint8_t *pu = f.u.ptr<std::uint8_t> (r);
    const std::uint8_t *pv = f.v.ptr<std::uint8_t> (r);
    for (int c = 0; c < f.u.cols; c++) {
      hu[pu[c] >> 5] += 1.0f;
      hv[pv[c] >> 5] += 1.0f;
    }
  }
  const float nc = 1.0f / (float) std::max (1, f.u.rows * f.u.cols);
  for (int i = 0; i < kHistogramBinsUV; i++) {
    hu[i] *= nc;
    hv[i] *= nc;
  }
}

void
FrameAnalyzer::analyze (const FrameView &frame, AnalysisFrame &out)
{
  const int k = luma_factor (frame.width);
  switch (frame.layout) {
    case PixelLayout::kGray:
      reduce_plane (frame.planes[0].data, frame.planes[0].stride, frame.planes[0].width,
          frame.planes[0].height, k, k, 1, out.y);
      out.u.release ();
      out.v.release ();
      break;
    case PixelLayout::kYuvPlanar:
    case PixelLayout::kYuvSemiPlanar:{
      reduce_plane (frame.planes[0].data, frame.planes[0].stride, frame.planes[0].width,
          frame.planes[0].height, k, k, 1, out.y);
      // Chroma at half the analysed luma size, whatever the subsampling of the input.
      const int fx = std::max (1, (2 * k) >> frame.chroma_shift_x);
      const int fy = std::max (1, (2 * k) >> frame.chroma_shift_y);
      if (frame.layout == PixelLayout::kYuvPlanar) {
        const int iu = frame.swap_uv ? 2 : 1, iv = frame.swap_uv ? 1 : 2;
        reduce_plane (frame.planes[iu].data, frame.planes[iu].stride, frame.planes[iu].width,
            frame.planes[iu].height, fx, fy, 1, out.u);
        reduce_plane (frame.planes[iv].data, frame.planes[iv].stride, frame.planes[iv].width,
            frame.planes[iv].height, fx, fy, 1, out.v);
      } else {
        reduce_plane (frame.planes[1].data, frame.planes[1].stride, frame.planes[1].width,
            frame.planes[1].height, fx, fy, 2, packed_small_);
        cv::Mat parts[2];
        cv::split (packed_small_, parts);
        out.u = parts[frame.swap_uv ? 1 : 0];
        out.v = parts[frame.swap_uv ? 0 : 1];
      }
      break;
    }
    case PixelLayout::kPackedRgb:{
      reduce_plane (frame.planes[0].data, frame.planes[0].stride, frame.planes[0].width,
          frame.planes[0].height, k, k, frame.bytes_per_pixel, packed_small_);
      const int w = packed_small_.cols, h = packed_small_.rows;
      out.y.create (h, w, CV_8U);
      uv_full_[0].create (h, w, CV_8U);
      uv_full_[1].create (h, w, CV_8U);
      const int bpp = frame.bytes_per_pixel;
      // BT.601 limited range, the same integer approximation videoconvert uses.
      for (int r = 0; r < h; r++) {
        const std::uint8_t *p = packed_small_.ptr<std::uint8_t> (r);
        std::uint8_t *py = out.y.ptr<std::uint8_t> (r);
        std::uint8_t *pu = uv_full_[0].ptr<std::uint8_t> (r);
        std::uint8_t *pv = uv_full_[1].ptr<std::uint8_t> (r);
        for (int c = 0; c < w; c++, p += bpp) {
          const int R = p[frame.r_offset], G = p[frame.g_offset], B = p[frame.b_offset];
          py[c] = (std::uint8_t) (((66 * R + 129 * G + 25 * B + 128) >> 8) + 16);
          pu[c] = (std::uint8_t) (((-38 * R - 74 * G + 112 * B + 128) >> 8) + 128);
          pv[c] = (std::uint8_t) (((112 * R - 94 * G - 18 * B + 128) >> 8) + 128);
        }
      }
      const cv::Size half (std::max (1, w / 2), std::max (1, h / 2));
      cv::resize (uv_full_[0] (cv::Rect (0, 0, half.width * (w >= 2 ? 2 : 1),
                  half.height * (h >= 2 ? 2 : 1))), out.u, half, 0, 0, cv::INTER_AREA);
      cv::resize (uv_full_[1] (cv::Rect (0, 0, half.width * (w >= 2 ? 2 : 1),
                  half.height * (h >= 2 ? 2 : 1))), out.v, half, 0, 0, cv::INTER_AREA);
      break;
    }
  }
  // One pass over the analysed luma: its histogram gives the mean, the spread, the median for the edge
  // detector and the coarse colour histogram.
  int luma_hist[256] = { 0 };
  for (int r = 0; r < out.y.rows; r++) {
    const std::uint8_t *p = out.y.ptr<std::uint8_t> (r);
    for (int c = 0; c < out.y.cols; c++)
      luma_hist[p[c]]++;
  }
  double sum = 0.0, sum_sq = 0.0;
  for (int i = 0; i < 256; i++) {
    sum += (double) i * luma_hist[i];
    sum_sq += (double) i * i * luma_hist[i];
  }
  const double n = (double) std::max (1, out.y.rows * out.y.cols);
  out.mean_y = sum / n;
  out.stddev_y = std::sqrt (std::max (0.0, sum_sq / n - out.mean_y * out.mean_y));
  compute_edges (out.y, luma_hist, out.edges);
  compute_histogram (out, luma_hist);
  const int cw = std::min (kCoarseWidth, out.y.cols);
  const cv::Size coarse (cw, std::max (1, out.y.rows * cw / std::max (1, out.y.cols)));
  cv::resize (out.y, out.coarse_y, coarse, 0, 0, cv::INTER_AREA);
  if (!out.u.empty ()) {
    cv::resize (out.u, out.coarse_u, coarse, 0, 0, cv::INTER_AREA);
    cv::resize (out.v, out.coarse_v, coarse, 0, 0, cv::INTER_AREA);
  } else {
    out.coarse_u.release ();
    out.coarse_v.release ();
  }
}

static double
mean_abs_diff (const cv::Mat &a, const cv::Mat &b)
{
  if (a.empty () || b.empty () || a.size () != b.size ())
    return 0.0;
  return cv::norm (a, b, cv::NORM_L1) / (double) (a.rows * a.cols);
}

FrameDelta
frame_delta (const AnalysisFrame &a, const AnalysisFrame &b, bool with_edges)
{
  FrameDelta d;
  d.luma = mean_abs_diff (a.y, b.y);
  d.chroma = 0.5 * (mean_abs_diff (a.u, b.u) + mean_abs_diff (a.v, b.v));
  if (with_edges)
    d.edges = mean_abs_diff (a.edges, b.edges);
  return d;
}

static double
plane_blend_residual (const cv::Mat &a, const cv::Mat &m, const cv::Mat &b)
{
  if (a.empty () || a.size () != m.size () || a.size () != b.size ())
    return 0.0;
  long long sum = 0;
  for (int r = 0; r < a.rows; r++) {
    const std::uint8_t *pa = a.ptr<std::uint8_t> (r);
    const std::uint8_t *pm = m.ptr<std::uint8_t> (r);
    const std::uint8_t *pb = b.ptr<std::uint8_t> (r);
    int row = 0;
    for (int c = 0; c < a.cols; c++)
      row += std::abs (2 * (int) pm[c] - (int) pa[c] - (int) pb[c]);
    sum += row;
  }
  return (double) sum / (2.0 * a.rows * a.cols);
}

double
blend_residual (const AnalysisFrame &a, const AnalysisFrame &mid, const AnalysisFrame &b, bool coarse)
{
  if (coarse) {
    const double luma = plane_blend_residual (a.coarse_y, mid.coarse_y, b.coarse_y);
    const double chroma = 0.5 * (plane_blend_residual (a.coarse_u, mid.coarse_u, b.coarse_u) +
        plane_blend_residual (a.coarse_v, mid.coarse_v, b.coarse_v));
    return (luma + chroma) / 2.0;
  }
  const double luma = plane_blend_residual (a.y, mid.y, b.y);
  const double chroma = 0.5 * (plane_blend_residual (a.u, mid.u, b.u) +
      plane_blend_residual (a.v, mid.v, b.v));
  return (luma + chroma) / 2.0;
}

double
coarse_difference (const AnalysisFrame &a, const AnalysisFrame &b)
{
  const double luma = mean_abs_diff (a.coarse_y, b.coarse_y);
  const double chroma = 0.5 * (mean_abs_diff (a.coarse_u, b.coarse_u) +
      mean_abs_diff (a.coarse_v, b.coarse_v));
  return (luma + chroma) / 2.0;
}

double
histogram_distance (const AnalysisFrame &a, const AnalysisFrame &b)
{
  double sum = 0.0;
  for (int i = 0; i < kHistogramBins; i++)
    sum += std::fabs ((double) a.histogram[i] - (double) b.histogram[i]);
  return sum / 6.0;             // three histograms, each with total variation sum/2
}

}  // namespace scene
}  // namespace emsync
