/* emsync — unit tests of lib/audio: the BS.1770 meter, the streaming loudness normaliser and its true-peak
 * limiter, and the side-chain ducker. No GStreamer elements involved. */
#include <gst/check/gstcheck.h>

#include "lib/audio/ducker.h"
#include "lib/audio/loudness.h"

#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

using emsync::audio::Ducker;
using emsync::audio::DuckerOptions;
using emsync::audio::LoudnessMeter;
using emsync::audio::LoudnessNormalizer;
using emsync::audio::LoudnessOptions;
using emsync::audio::TruePeakLimiter;

static const int kRate = 48000;

static std::vector<float>
stereo_sine (double freq, double dbfs, double seconds, double phase = 0.0)
{
  const size_t frames = (size_t) (seconds * kRate);
  const double amp = std::pow (10.0, dbfs / 20.0);
  std::vector<float> out (frames * 2);
  for (size_t i = 0; i < frames; i++)
    out[2 * i] = out[2 * i + 1] = (float) (amp * std::sin (2 * M_PI * freq * i / kRate + phase));
  return out;
}

/* Music-like test signal: notes of a few partials with sharp attacks and decays, level stepping by up to 4 dB
 * every 2 s, a rest in the middle, and clicks that peak between samples. */
static std::vector<float>
music_like (double seconds, double level_db, unsigned seed)
{
  std::mt19937 rng (seed);
  std::uniform_real_distribution<double> uni (0.0, 1.0);
  const size_t frames = (size_t) (seconds * kRate);
  std::vector<float> out (frames * 2, 0.0f);
  double t_note = 0.0;
  while (t_note < seconds) {
    const double freq = 110.0 * std::pow (2.0, std::floor (uni (rng) * 36) / 12.0);
    const double step = std::floor (t_note / 2.0);
    const double amp = std::pow (10.0, (level_db + 4.0 * std::sin (step * 1.7)) / 20.0);
    const size_t start = (size_t) (t_note * kRate), len = (size_t) (0.6 * kRate);
    for (size_t i = 0; i < len && start + i < frames; i++) {
      const double t = (double) i / kRate;
      const double env = std::exp (-t * 4.0) * std::min (1.0, t * 500.0);
      double v = 0.0;
      for (int k = 1; k <= 4; k++)
        v += std::sin (2 * M_PI * freq * k * t) / k;
      out[2 * (start + i)] += (float) (amp * env * v);
      out[2 * (start + i) + 1] += (float) (amp * env * v * 0.8);
    }
    t_note += 0.15 + 0.3 * uni (rng);
    if (t_note > seconds * 0.45 && t_note < seconds * 0.55)
      t_note = seconds * 0.55; /* a rest */
  }
  /* fs/4 clicks at 45 degrees: samples at +-a/sqrt(2), the waveform between them at a */
  for (double t = 1.0; t < seconds; t += 3.0) {
    const size_t s = (size_t) (t * kRate);
    for (size_t i = 0; i < 64 && s + i < frames; i++)
      for (int c = 0; c < 2; c++)
        out[2 * (s + i) + c] +=
            (float) (std::pow (10.0, (level_db + 18) / 20.0) * std::sin (M_PI / 2 * i + M_PI / 4));
  }
  return out;
}

static void
measure (const std::vector<float> &x, double *integrated, double *true_peak)
{
  LoudnessMeter meter (kRate, 2);
  meter.add (x.data (), x.size () / 2);
  *integrated = meter.integrated ();
  *true_peak = meter.true_peak_dbtp ();
}

static std::vector<float>
normalise (const std::vector<float> &in, const LoudnessOptions &options, size_t chunk = 480)
{
  LoudnessNormalizer norm (kRate, 2, options);
  std::vector<float> out;
  for (size_t f = 0; f < in.size () / 2; f += chunk)
    norm.process (in.data () + 2 * f, std::min (chunk, in.size () / 2 - f), out);
  norm.drain (out);
  return out;
}

GST_START_TEST (test_meter_sine)
{
  /* EBU Tech 3341: a stereo 1 kHz sine at -23 dBFS reads -23.0 LUFS */
  std::vector<float> x = stereo_sine (1000.0, -23.0, 10.0);
  double lufs, tp;
  measure (x, &lufs, &tp);
  fail_unless (std::fabs (lufs + 23.0) < 0.1, "integrated %.2f LUFS", lufs);
  fail_unless (std::fabs (tp + 23.0) < 0.1, "true peak %.2f dBTP", tp);
}

GST_END_TEST;

GST_START_TEST (test_normalise_to_targets)
{
  for (double target : { emsync::audio::kWebLoudnessLufs, emsync::audio::kBroadcastLoudnessLufs }) {
    for (double input_level : { -36.0, -8.0 }) {
      std::vector<float> in = music_like (20.0, input_level, 7);
      double in_lufs, in_tp;
      measure (in, &in_lufs, &in_tp);
      LoudnessOptions options;
      options.target_lufs = target;
      std::vector<float> out = normalise (in, options);
      fail_unless_equals_int (out.size (), in.size ());
      double lufs, tp;
      measure (out, &lufs, &tp);
      GST_INFO (
          "target %.0f: input %.1f LUFS %.1f dBTP -> %.2f LUFS %.2f dBTP", target, in_lufs, in_tp, lufs, tp);
      fail_unless (std::fabs (lufs - target) <= 1.0, "target %.0f, input %.1f LUFS: output %.2f LUFS", target,
          in_lufs, lufs);
      fail_unless (tp <= -1.0, "target %.0f, input %.1f LUFS: true peak %.2f dBTP", target, in_lufs, tp);
    }
  }
}

GST_END_TEST;

GST_START_TEST (test_limiter_true_peak)
{
  /* fs/4 at 45 degrees: the samples peak 3 dB under the waveform, so a sample-peak limiter lets it through */
  std::vector<float> in = stereo_sine (kRate / 4.0, 0.0, 1.0, M_PI / 4);
  double in_lufs, in_tp;
  measure (in, &in_lufs, &in_tp);
  fail_unless (in_tp > -0.2, "input true peak %.2f", in_tp);
  const double ceiling = std::pow (10.0, -1.0 / 20.0);
  TruePeakLimiter limiter (kRate, 2, ceiling, 0.005, 0.1);
  std::vector<float> out (in.size ());
  for (size_t f = 0; f < in.size () / 2; f++)
    limiter.process (&in[2 * f], &out[2 * f]);
  double lufs, tp;
  measure (out, &lufs, &tp);
  fail_unless (tp <= -1.0 + 0.05, "limited true peak %.2f dBTP", tp);
  /* not more than needed: the steady part sits at the ceiling (true peak -1 dB ~ samples at -4 dB) */
  fail_unless (std::fabs (out[2 * kRate / 2] - 0.0f) < 1.0f);
  float max_sample = 0.0f;
  for (size_t f = kRate / 4; f < in.size () / 2; f++)
    max_sample = std::max (max_sample, std::fabs (out[2 * f]));
  fail_unless (std::fabs (20 * std::log10 (max_sample) - (-1.0 - 3.01)) < 0.3, "steady sample peak %.2f dB",
      20 * std::log10 (max_sample));
}

GST_END_TEST;

GST_START_TEST (test_limiter_delay)
{
  /* a small impulse comes out unchanged, exactly latency_frames() later */
  TruePeakLimiter limiter (kRate, 2, 0.9, 0.005, 0.1);
  fail_unless_equals_int (limiter.latency_frames (), 240 + 5);
  float in[2], out[2];
  for (size_t f = 0; f < 1000; f++) {
    in[0] = in[1] = f == 100 ? 0.5f : 0.0f;
    limiter.process (in, out);
    const float want = f == 100 + limiter.latency_frames () ? 0.5f : 0.0f;
    fail_unless (std::fabs (out[0] - want) < 1e-6f, "frame %zu: %f", f, out[0]);
  }
}

GST_END_TEST;

GST_START_TEST (test_normaliser_aligned_and_streaming)
{
  /* output frame i is input frame i times a gain: no shift, whatever the chunk size */
  std::vector<float> in = music_like (3.0, -30.0, 3);
  LoudnessOptions options;
  std::vector<float> a = normalise (in, options, 480), b = normalise (in, options, 1);
  fail_unless_equals_int (a.size (), in.size ());
  fail_unless (a == b, "the output depends on how the input is chunked");
  /* a loud note late in the piece starts in the output where it starts in the input */
  size_t first_in = 0, first_out = 0;
  for (size_t f = 0; f < in.size () / 2 && !first_in; f++)
    if (std::fabs (in[2 * f]) > 1e-4f)
      first_in = f;
  for (size_t f = 0; f < a.size () / 2 && !first_out; f++)
    if (std::fabs (a[2 * f]) > 1e-4f * 0.5f)
      first_out = f;
  fail_unless (
      first_out <= first_in + 1 && first_out + 1 >= first_in, "onset %zu -> %zu", first_in, first_out);
  LoudnessNormalizer norm (kRate, 2, options);
  fail_unless (norm.latency_frames () * 1000 / kRate <= 6, "latency %zu frames", norm.latency_frames ());
}

GST_END_TEST;

GST_START_TEST (test_normaliser_holds_gain_over_silence)
{
  LoudnessOptions options;
  LoudnessNormalizer norm (kRate, 2, options);
  std::vector<float> tone = stereo_sine (440.0, -30.0, 20.0), silence (10 * kRate * 2, 0.0f), out;
  double tone_lufs, tone_tp;
  measure (tone, &tone_lufs, &tone_tp);
  norm.process (tone.data (), tone.size () / 2, out);
  const double before = norm.gain_db ();
  fail_unless (std::fabs (before - (-14.0 - tone_lufs)) < 0.3, "gain %.2f dB for a %.2f LUFS tone to -14",
      before, tone_lufs);
  norm.process (silence.data (), silence.size () / 2, out);
  /* the gain holds instead of rising to its maximum for the silence */
  fail_unless (std::fabs (norm.gain_db () - before) < 1.0, "the gain moved in silence: %.2f -> %.2f", before,
      norm.gain_db ());
  for (float v : out)
    fail_unless (std::isfinite (v));
}

GST_END_TEST;

template <typename Options>
static bool
rejected (const Options &options)
{
  try {
    options.validate ();
  } catch (const std::invalid_argument &) {
    return true;
  }
  return false;
}

GST_START_TEST (test_options_validated)
{
  LoudnessOptions options;
  fail_if (rejected (options));
  options.target_lufs = -80;
  fail_unless (rejected (options));
  options.target_lufs = -23;
  options.true_peak_dbtp = 3;
  fail_unless (rejected (options));
  DuckerOptions duck;
  fail_if (rejected (duck));
  duck.depth_db = -3;
  fail_unless (rejected (duck));
}

GST_END_TEST;

/* the background's gain after `seconds` of a key at `key_dbfs` (-inf: silent key) */
static double
ducked_db (Ducker &ducker, double key_dbfs, double seconds)
{
  std::vector<float> key = std::isfinite (key_dbfs)
      ? stereo_sine (300.0, key_dbfs, seconds)
      : std::vector<float> ((size_t) (seconds * kRate) * 2, 0.0f);
  std::vector<float> background (key.size () / 2, 1.0f); /* mono, DC: the gain itself */
  ducker.process (key.data (), 2, background.data (), 1, background.size ());
  return 20 * std::log10 (background.back ());
}

GST_START_TEST (test_ducker_follows_key)
{
  DuckerOptions options;
  options.background_level = 0.5;
  Ducker ducker (kRate, options);
  const double level_db = 20 * std::log10 (0.5);
  /* silent key: the background at its level */
  fail_unless (std::fabs (ducked_db (ducker, -INFINITY, 1.0) - level_db) < 0.01);
  /* loud music: full depth after the attack; 90 % of it within 3 attack times */
  double after_attack = ducked_db (ducker, -15.0, 3 * options.attack_s);
  fail_unless (
      after_attack < level_db - 0.85 * options.depth_db, "after 3 attack times: %.2f dB", after_attack);
  double full = ducked_db (ducker, -15.0, 1.0);
  fail_unless (std::fabs (full - (level_db - options.depth_db)) < 0.1, "under loud music: %.2f dB", full);
  /* the music stops: the release brings it back */
  double early = ducked_db (ducker, -INFINITY, options.release_s * 0.5);
  fail_unless (early < level_db - 3.0, "released too fast: %.2f dB", early);
  double back = ducked_db (ducker, -INFINITY, 5.0);
  fail_unless (std::fabs (back - level_db) < 0.1, "not released: %.2f dB", back);
  /* quiet music (half way up the range): half the depth */
  double half = ducked_db (ducker, options.threshold_db + options.range_db / 2, 3.0);
  fail_unless (
      std::fabs (half - (level_db - options.depth_db / 2)) < 0.5, "under quiet music: %.2f dB", half);
}

GST_END_TEST;

static Suite *
audio_suite (void)
{
  Suite *s = suite_create ("audio-engine");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 120);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_meter_sine);
  tcase_add_test (tc, test_normalise_to_targets);
  tcase_add_test (tc, test_limiter_true_peak);
  tcase_add_test (tc, test_limiter_delay);
  tcase_add_test (tc, test_normaliser_aligned_and_streaming);
  tcase_add_test (tc, test_normaliser_holds_gain_over_silence);
  tcase_add_test (tc, test_options_validated);
  tcase_add_test (tc, test_ducker_follows_key);
  return s;
}

GST_CHECK_MAIN (audio);
