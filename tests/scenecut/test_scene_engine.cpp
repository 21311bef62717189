/* Unit tests of the scene engine (lib/scene, no GStreamer): FFmpeg's score by hand, stride handling of
 * the analyser, and the detectors on tiny synthetic frames. Check (bundled with GstCheck) runs them.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/* The engine first: GstCheck defines a `fail` macro. */
#include "lib/scene/analysis.h"
#include "lib/scene/detector.h"
#include "lib/scene/ffmpeg_score.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <vector>

#include <gst/check/gstcheck.h>

using namespace emsync::scene;

namespace {

/* An I420 frame with padded strides (stride > width), filled with a per-plane pattern. */
struct I420Frame {
  int width, height, stride_y, stride_c;
  std::vector<std::uint8_t> y, u, v;

  I420Frame (int w, int h, int pad) : width (w), height (h)
  {
    stride_y = w + pad;
    stride_c = (w + 1) / 2 + pad;
    y.assign ((size_t) stride_y * h, 0xEE); /* padding bytes hold garbage that must be ignored */
    u.assign ((size_t) stride_c * ((h + 1) / 2), 0xEE);
    v.assign ((size_t) stride_c * ((h + 1) / 2), 0xEE);
  }

  void
  fill (int luma, int cb, int cr, int texture_seed = -1)
  {
    for (int r = 0; r < height; r++)
      for (int c = 0; c < width; c++)
        y[(size_t) r * stride_y + c] = (std::uint8_t) (
            texture_seed < 0 ? luma : (luma + ((r * 7 + c * 13 + texture_seed * 31) % 40)) % 256);
    for (int r = 0; r < (height + 1) / 2; r++)
      for (int c = 0; c < (width + 1) / 2; c++) {
        u[(size_t) r * stride_c + c] = (std::uint8_t) cb;
        v[(size_t) r * stride_c + c] = (std::uint8_t) cr;
      }
  }

  FrameView
  view () const
  {
    FrameView f;
    f.layout = PixelLayout::kYuvPlanar;
    f.width = width;
    f.height = height;
    f.n_planes = 3;
    f.chroma_shift_x = f.chroma_shift_y = 1;
    f.planes[0] = { y.data (), stride_y, width, height };
    f.planes[1] = { u.data (), stride_c, (width + 1) / 2, (height + 1) / 2 };
    f.planes[2] = { v.data (), stride_c, (width + 1) / 2, (height + 1) / 2 };
    return f;
  }
};

} // namespace

/* FFmpeg: luma SAD / luma bytes; score = min (mafd, |mafd - previous mafd|) / 100. */
GST_START_TEST (test_ffmpeg_score_by_hand)
{
  I420Frame f (33, 17, 7);
  FfmpegSceneScore score;
  f.fill (16, 128, 128);
  fail_unless (score.next (f.view ()) == 0.0); /* first frame */
  f.fill (66, 40, 200);                        /* luma +50 everywhere; chroma ignored */
  /* mafd = 50, previous mafd = 0: min (50, 50) / 100 */
  fail_unless (std::fabs (score.next (f.view ()) - 0.5) < 1e-12);
  f.fill (106, 40, 200); /* +40: mafd 40, |40 - 50| = 10 -> 0.1 */
  fail_unless (std::fabs (score.next (f.view ()) - 0.1) < 1e-12);
  f.fill (106, 90, 10); /* chroma only: mafd 0 -> 0 */
  fail_unless (score.next (f.view ()) == 0.0);
}
GST_END_TEST;

/* Packed RGB: one plane of 3 bytes per pixel, all bytes compared. */
GST_START_TEST (test_ffmpeg_score_packed)
{
  const int w = 10, h = 4, stride = 32;
  std::vector<std::uint8_t> a ((size_t) stride * h, 7), b ((size_t) stride * h, 7);
  for (int r = 0; r < h; r++)
    for (int c = 0; c < w * 3; c++) {
      a[(size_t) r * stride + c] = 100;
      b[(size_t) r * stride + c] = (c % 3 == 0) ? 190 : 100; /* R +90 -> mafd 30 */
    }
  FrameView fa;
  fa.layout = PixelLayout::kPackedRgb;
  fa.width = w;
  fa.height = h;
  fa.n_planes = 1;
  fa.bytes_per_pixel = 3;
  fa.planes[0] = { a.data (), stride, w, h };
  FrameView fb = fa;
  fb.planes[0].data = b.data ();
  FfmpegSceneScore score;
  score.next (fa);
  fail_unless (std::fabs (score.next (fb) - 0.30) < 1e-12);
}
GST_END_TEST;

/* The analyser reads only the payload (never the padding) and reduces by an integer factor. */
GST_START_TEST (test_analyzer_strides)
{
  I420Frame f (1281, 721, 11);
  f.fill (80, 100, 150);
  FrameAnalyzer analyzer (320);
  AnalysisFrame out;
  analyzer.analyze (f.view (), out);
  fail_unless_equals_int (out.y.cols (), 320); /* 1281 / 4 */
  fail_unless_equals_int (out.y.rows (), 180);
  fail_unless_equals_int (out.u.cols (), 160);
  fail_unless (std::fabs (out.mean_y - 80.0) < 1e-9);
  fail_unless (out.stddev_y < 1e-9);
  fail_unless (std::fabs (out.u.mean () - 100.0) < 1e-9);
  fail_unless (std::fabs (out.v.mean () - 150.0) < 1e-9);
  /* A frame smaller than the analysis width is analysed at full size. */
  I420Frame small (97, 55, 3);
  small.fill (50, 128, 128);
  analyzer.analyze (small.view (), out);
  fail_unless_equals_int (out.y.cols (), 97);
  fail_unless_equals_int (out.y.rows (), 55);
}
GST_END_TEST;

/* The vectorised paths (row means by multiply-shift, edge flags and their dilation 16 pixels at a time)
 * against plain scalar references, on random pictures whose widths leave every kind of remainder. */
GST_START_TEST (test_analyzer_matches_reference)
{
  std::uint32_t seed = 12345u;
  auto next = [&seed] () {
    seed = seed * 1664525u + 1013904223u;
    return (int) (seed >> 24);
  };
  const int widths[] = { 1, 2, 3, 15, 16, 17, 18, 33, 97, 160 };
  for (int i = 0; i < 2 * (int) G_N_ELEMENTS (widths); i++) {
    const int width = widths[i / 2], height = 9;
    /* Full size (factor 1): the analysed luma is the input, so edges can be checked by hand. Odd rounds
     * use only 20, 23 and 26: the median gives level 6, and many gradients land exactly on it. */
    I420Frame f (width, height, 5);
    for (int r = 0; r < height; r++)
      for (int c = 0; c < width; c++)
        f.y[(size_t) r * f.stride_y + c] =
            (std::uint8_t) (i % 2 ? 20 + 3 * (next () % 3) : (r * 40 + c * 3 + next ()) % 256);
    FrameAnalyzer analyzer (width);
    AnalysisFrame out;
    analyzer.analyze (f.view (), out);
    int hist[256] = { 0 };
    for (int r = 0; r < height; r++)
      for (int c = 0; c < width; c++)
        hist[f.y[(size_t) r * f.stride_y + c]]++;
    int median = 0;
    for (int acc = 0; median < 255; median++) {
      acc += hist[median];
      if (acc > width * height / 2)
        break;
    }
    const int level = std::max (6, median / 5);
    auto at = [&] (int rr, int cc) { return (int) f.y[(size_t) rr * f.stride_y + cc]; };
    std::vector<int> flag ((size_t) width * height, 0);
    for (int r = 1; r + 1 < height; r++)
      for (int c = 1; c + 1 < width; c++)
        flag[(size_t) r * width + c] =
            std::abs (at (r, c + 1) - at (r, c - 1)) + std::abs (at (r + 1, c) - at (r - 1, c)) > level;
    for (int r = 0; r < height; r++)
      for (int c = 0; c < width; c++) {
        int expected = 0;
        for (int dr = -1; dr <= 1; dr++)
          for (int dc = -1; dc <= 1; dc++) {
            const int rr = r + dr, cc = c + dc;
            if (rr >= 0 && rr < height && cc >= 0 && cc < width && flag[(size_t) rr * width + cc])
              expected = 255;
          }
        fail_unless_equals_int (out.edges.ptr (r)[c], expected);
      }
    /* Reduced by 8 (and by 12, not a power of two): one row per block, the rounded mean of its pixels. */
    for (int factor : { 8, 12 }) {
      const int big_w = width * factor, big_h = 3 * factor;
      I420Frame big (big_w, big_h, 7);
      for (int r = 0; r < big_h; r++)
        for (int c = 0; c < big_w; c++)
          big.y[(size_t) r * big.stride_y + c] = (std::uint8_t) next ();
      FrameAnalyzer reducer (width);
      reducer.analyze (big.view (), out);
      fail_unless_equals_int (out.y.cols (), width);
      for (int r = 0; r < 3; r++)
        for (int c = 0; c < width; c++) {
          unsigned sum = 0;
          for (int j = 0; j < factor; j++)
            sum += big.y[(size_t) (r * factor + factor / 2) * big.stride_y + c * factor + j];
          fail_unless_equals_int (out.y.ptr (r)[c], (int) ((sum + factor / 2) / factor));
        }
    }
  }
}
GST_END_TEST;

/* A linear blend has zero residual; a cut between the outer frames has half the difference. */
GST_START_TEST (test_blend_residual)
{
  I420Frame a (64, 48, 0), m (64, 48, 0), b (64, 48, 0);
  a.fill (40, 100, 100);
  b.fill (140, 160, 60);
  m.fill (90, 130, 80);
  FrameAnalyzer analyzer (64);
  AnalysisFrame fa, fm, fb;
  analyzer.analyze (a.view (), fa);
  analyzer.analyze (m.view (), fm);
  analyzer.analyze (b.view (), fb);
  fail_unless (blend_residual (fa, fm, fb) < 1e-9);
  const double contrast = (frame_delta (fa, fb, false).luma + frame_delta (fa, fb, false).chroma) / 2;
  fail_unless (std::fabs (blend_residual (fa, fa, fb) - contrast / 2) < 1e-9);
  fail_unless (histogram_distance (fa, fa) == 0.0);
  fail_unless (histogram_distance (fa, fb) > 0.5);
}
GST_END_TEST;

static std::vector<Boundary>
run_detector (Method method, int n, int cut_at, double min_scene = 0.5)
{
  DetectorConfig config;
  config.method = method;
  config.min_scene_duration = min_scene;
  config.frame_duration = 0.04;
  SceneDetector detector (config);
  I420Frame f (160, 90, 5);
  std::vector<Boundary> all;
  for (int i = 0; i < n; i++) {
    if (i < cut_at)
      f.fill (60, 110, 140, i % 2);
    else
      f.fill (170, 150, 100, 5 + i % 2);
    for (const Boundary &b : detector.push (f.view (), (std::int64_t) i * 40000000))
      all.push_back (b);
  }
  for (const Boundary &b : detector.finish ())
    all.push_back (b);
  return all;
}

GST_START_TEST (test_detectors_find_cut)
{
  for (Method m : { Method::kAdaptive, Method::kContent, Method::kFfmpeg }) {
    std::vector<Boundary> found = run_detector (m, 40, 20);
    fail_unless_equals_int (found.size (), 1);
    fail_unless_equals_int (found[0].frame, 20);
    fail_unless_equals_int (found[0].pts, 20 * 40000000LL);
    fail_unless (found[0].kind == TransitionKind::kCut);
  }
  /* A cut in the last frame is still decided, at the end of the stream. */
  std::vector<Boundary> found = run_detector (Method::kAdaptive, 21, 20);
  fail_unless_equals_int (found.size (), 1);
  fail_unless_equals_int (found[0].frame, 20);
}
GST_END_TEST;

GST_START_TEST (test_defaults_and_names)
{
  fail_unless_equals_float (default_threshold (Method::kFfmpeg), 0.27);
  fail_unless_equals_float (default_threshold (Method::kAdaptive), 5.0);
  fail_unless_equals_string (method_name (Method::kContent), "content");
  fail_unless_equals_string (kind_name (TransitionKind::kDissolve), "dissolve");
}
GST_END_TEST;

static Suite *
scene_engine_suite (void)
{
  Suite *s = suite_create ("scene-engine");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_ffmpeg_score_by_hand);
  tcase_add_test (tc, test_ffmpeg_score_packed);
  tcase_add_test (tc, test_analyzer_strides);
  tcase_add_test (tc, test_analyzer_matches_reference);
  tcase_add_test (tc, test_blend_residual);
  tcase_add_test (tc, test_detectors_find_cut);
  tcase_add_test (tc, test_defaults_and_names);
  return s;
}

GST_CHECK_MAIN (scene_engine);
