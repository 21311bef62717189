/* emsync — element tests of emsyncloudness (GstHarness) and emsyncducker (appsrc pipelines), measured with
 * lib/audio's BS.1770 meter. */
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include "lib/audio/loudness.h"

#include <cmath>
#include <vector>

static const int kRate = 48000;
static const char *const kCaps = "audio/x-raw,format=F32LE,layout=interleaved,rate=48000,channels=2";

/* Stereo: a sine of `dbfs` peak at `freq`, or (freq 0) a constant `dbfs` as a linear value. */
static std::vector<float>
signal (double freq, double amplitude, double seconds)
{
  const size_t frames = (size_t) (seconds * kRate);
  std::vector<float> out (frames * 2);
  for (size_t i = 0; i < frames; i++)
    out[2 * i] = out[2 * i + 1] =
        freq > 0 ? (float) (amplitude * std::sin (2 * M_PI * freq * i / kRate)) : (float) amplitude;
  return out;
}

static GstBuffer *
make_buffer (const float *data, size_t frames, guint64 first_frame)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, frames * 2 * sizeof (float), NULL);
  gst_buffer_fill (buf, 0, data, frames * 2 * sizeof (float));
  GST_BUFFER_PTS (buf) = gst_util_uint64_scale_int (first_frame, GST_SECOND, kRate);
  GST_BUFFER_DURATION (buf) =
      gst_util_uint64_scale_int (first_frame + frames, GST_SECOND, kRate) - GST_BUFFER_PTS (buf);
  return buf;
}

/* Runs `in` through emsyncloudness with `loudness` (NaN: default) in 10 ms buffers; returns the output and
 * checks its timestamps are contiguous from 0. */
static std::vector<float>
run_loudness (const std::vector<float> &in, double loudness, GstClockTime *latency)
{
  GstHarness *h = gst_harness_new ("emsyncloudness");
  if (std::isfinite (loudness))
    g_object_set (h->element, "loudness", loudness, NULL);
  gst_harness_set_src_caps_str (h, kCaps);
  const size_t frames = in.size () / 2, block = kRate / 100;
  std::vector<float> out;
  GstClockTime expected = 0;
  auto collect = [&] () {
    while (GstBuffer *b = gst_harness_try_pull (h)) {
      fail_unless_equals_uint64 (GST_BUFFER_PTS (b), expected);
      expected += GST_BUFFER_DURATION (b);
      GstMapInfo map;
      gst_buffer_map (b, &map, GST_MAP_READ);
      const float *f = reinterpret_cast<const float *> (map.data);
      out.insert (out.end (), f, f + map.size / sizeof (float));
      gst_buffer_unmap (b, &map);
      gst_buffer_unref (b);
    }
  };
  for (size_t f = 0; f < frames; f += block) {
    fail_unless_equals_int (
        gst_harness_push (h, make_buffer (&in[2 * f], std::min (block, frames - f), f)), GST_FLOW_OK);
    collect ();
  }
  if (latency)
    *latency = gst_harness_query_latency (h);
  gst_harness_push_event (h, gst_event_new_eos ());
  collect ();
  fail_unless_equals_uint64 (expected, gst_util_uint64_scale_int (frames, GST_SECOND, kRate));
  gst_harness_teardown (h);
  return out;
}

static void
measure (const std::vector<float> &x, double *lufs, double *dbtp)
{
  emsync::audio::LoudnessMeter meter (kRate, 2);
  meter.add (x.data (), x.size () / 2);
  *lufs = meter.integrated ();
  *dbtp = meter.true_peak_dbtp ();
}

GST_START_TEST (test_loudness_normalises)
{
  /* a quiet tone (-32 dBFS) and a loud one (-3 dBFS, true peak above -1 dBTP) */
  for (double amplitude : { 0.025, 0.7 }) {
    std::vector<float> in = signal (997.0, amplitude, 8.0);
    for (double target : { (double) NAN, -23.0 }) {
      GstClockTime latency = 0;
      std::vector<float> out = run_loudness (in, target, &latency);
      fail_unless_equals_int (out.size (), in.size ());
      double lufs, dbtp;
      measure (out, &lufs, &dbtp);
      const double want = std::isfinite (target) ? target : -14.0;
      fail_unless (
          std::fabs (lufs - want) < 0.5, "amplitude %.3f: %.2f LUFS for %.0f", amplitude, lufs, want);
      fail_unless (dbtp <= -1.0, "amplitude %.3f: true peak %.2f dBTP", amplitude, dbtp);
      /* its delay: 5 ms of lookahead and the 5 samples of the interpolator */
      fail_unless_equals_uint64 (latency, gst_util_uint64_scale_int (240 + 5, GST_SECOND, kRate));
    }
  }
}

GST_END_TEST;

GST_START_TEST (test_loudness_keeps_time)
{
  /* a click at 1.000 s comes out at 1.000 s */
  std::vector<float> in (2 * kRate * 2, 0.0f);
  std::vector<float> tone = signal (440.0, 0.1, 0.9);
  std::copy (tone.begin (), tone.end (), in.begin ());
  in[2 * kRate] = in[2 * kRate + 1] = 0.05f;
  std::vector<float> out = run_loudness (in, NAN, NULL);
  size_t peak = 0;
  for (size_t f = (size_t) (0.95 * kRate); f < out.size () / 2; f++)
    if (std::fabs (out[2 * f]) > std::fabs (out[2 * peak]))
      peak = f;
  fail_unless_equals_int (peak, kRate);
}

GST_END_TEST;

/* emsyncducker: music (a 300 Hz sine at -15 dBFS from 2 s to 6 s, silent around it) on `sink`, a constant 0.1
 * on `background` with background-level 0.5: the output's mean is the background's gain times 0.1 */
static double
mean_over (const std::vector<float> &x, double from, double to)
{
  double sum = 0.0;
  size_t n = 0;
  for (size_t f = (size_t) (from * kRate); f < (size_t) (to * kRate) && 2 * f < x.size (); f++, n++)
    sum += x[2 * f];
  return n ? sum / n : NAN;
}

static void
push_all (GstElement *src, const std::vector<float> &x)
{
  const size_t frames = x.size () / 2, block = 1024;
  for (size_t f = 0; f < frames; f += block)
    fail_unless_equals_int (
        gst_app_src_push_buffer (GST_APP_SRC (src), make_buffer (&x[2 * f], std::min (block, frames - f), f)),
        GST_FLOW_OK);
  gst_app_src_end_of_stream (GST_APP_SRC (src));
}

GST_START_TEST (test_ducker_side_chain)
{
  GError *err = NULL;
  GstElement *pipe =
      gst_parse_launch ("emsyncducker name=duck background-level=0.5 ! appsink name=out sync=false "
                        "appsrc name=music format=time ! duck.sink "
                        "appsrc name=bg format=time ! duck.background",
          &err);
  fail_unless (pipe != NULL, "%s", err ? err->message : "");
  GstElement *music = gst_bin_get_by_name (GST_BIN (pipe), "music"),
             *bg = gst_bin_get_by_name (GST_BIN (pipe), "bg");
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipe), "out");
  GstCaps *caps = gst_caps_from_string (kCaps);
  g_object_set (music, "caps", caps, "max-bytes", (guint64) 0, NULL);
  g_object_set (bg, "caps", caps, "max-bytes", (guint64) 0, NULL);
  gst_caps_unref (caps);

  std::vector<float> m = signal (0, 0.0, 10.0), tone = signal (300.0, std::pow (10.0, -15.0 / 20.0), 4.0);
  std::copy (tone.begin (), tone.end (), m.begin () + 2 * 2 * kRate);
  push_all (music, m);
  push_all (bg, signal (0, 0.1, 10.0));
  fail_unless (gst_element_set_state (pipe, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  std::vector<float> out;
  while (GstSample *s = gst_app_sink_pull_sample (GST_APP_SINK (sink))) {
    GstMapInfo map;
    gst_buffer_map (gst_sample_get_buffer (s), &map, GST_MAP_READ);
    const float *f = reinterpret_cast<const float *> (map.data);
    out.insert (out.end (), f, f + map.size / sizeof (float));
    gst_buffer_unmap (gst_sample_get_buffer (s), &map);
    gst_sample_unref (s);
  }
  gst_element_set_state (pipe, GST_STATE_NULL);
  fail_unless (out.size () >= m.size () - 2 * 1024, "%zu of %zu samples", out.size (), m.size ());

  auto db = [] (double mean) { return 20 * std::log10 (mean / 0.1); };
  const double before = db (mean_over (out, 1.0, 2.0)), under = db (mean_over (out, 3.0, 6.0)),
               after = db (mean_over (out, 9.0, 10.0));
  GST_INFO ("background %.2f dB before the music, %.2f dB under it, %.2f dB after", before, under, after);
  fail_unless (std::fabs (before - 20 * std::log10 (0.5)) < 0.1, "before the music: %.2f dB", before);
  fail_unless (std::fabs (under - (20 * std::log10 (0.5) - 12.0)) < 0.5, "under the music: %.2f dB", under);
  fail_unless (std::fabs (after - 20 * std::log10 (0.5)) < 0.2, "after the music: %.2f dB", after);
  /* the music itself passes at unity */
  double peak = 0.0;
  for (size_t f = 3 * kRate; f < 5 * (size_t) kRate; f++)
    peak = std::max (peak, (double) std::fabs (out[2 * f] - mean_over (out, 3.0, 6.0)));
  fail_unless (
      std::fabs (20 * std::log10 (peak) + 15.0) < 0.2, "music peak %.2f dBFS", 20 * std::log10 (peak));
  gst_object_unref (music);
  gst_object_unref (bg);
  gst_object_unref (sink);
  gst_object_unref (pipe);
}

GST_END_TEST;

static Suite *
audio_elements_suite (void)
{
  Suite *s = suite_create ("audio-elements");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 120);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_loudness_normalises);
  tcase_add_test (tc, test_loudness_keeps_time);
  tcase_add_test (tc, test_ducker_side_chain);
  return s;
}

GST_CHECK_MAIN (audio_elements);
