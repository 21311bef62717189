/* emsync — loudness measurement and streaming normalisation (EBU R128 / ITU-R BS.1770-4).
 *
 * Plain C++17, no GStreamer. LoudnessMeter wraps libebur128 (K-weighting, gating, true peak). LoudnessNormalizer
 * brings a stream to a target integrated loudness under a true-peak ceiling while it streams, with a fixed,
 * small delay:
 *
 *   gain   the input's loudness is measured every 100 ms over 400 ms blocks (BS.1770's momentary blocks); the
 *          gain follows target minus the gated loudness (absolute gate -70 LUFS, relative gate -10 LU) of the
 *          blocks of the last `window_s` seconds (10), approached with the time constant `gain_time_s` (2 s)
 *          when it rises and `gain_fall_time_s` (0.25 s) when it falls. Two corrections keep the integrated
 *          loudness of the whole on target although a streaming gain lags the music (a crescendo would come out
 *          too loud, and the loud part weighs most): the output's momentary loudness is held to 1 LU above the
 *          target, and the output's gated loudness over the last minute (once 2 s of it are there), above or
 *          below the target, is made up for by up to 3 dB. A passage 20 LU under the programme's level so far (a fade, a reverb tail) does not
 *          raise the gain. Until the
 *          signal has lasted 400 ms the gain comes from the loudness of what there is so far, every 10 ms, and
 *          converges with a 20 ms time constant, so the start is not left at the input's level for long (a too
 *          loud start would weigh on the integrated loudness: a quiet one is gated out). Silence (no block above
 *          -70 LUFS) holds the gain, so rests do not pump.
 *   limit  a lookahead true-peak limiter: the peak between samples is estimated by 4x oversampling (a
 *          windowed-sinc interpolator, 12 taps per phase), the gain each sample needs is held as a minimum over
 *          the lookahead and averaged over it (so the gain is down before the peak arrives, without a step), and
 *          recovers with the release time. The normaliser aims it 0.3 dB under the true-peak ceiling: room for
 *          what the interpolation misses and for what an AAC encoder adds to the peaks.
 *
 * Output lags input by latency_frames() = lookahead + 5 frames (the interpolator's look ahead); the first that
 * many frames of a stream are produced by drain() at its end. Every input frame yields exactly one output frame.
 */
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <vector>

namespace emsync {
namespace audio {

/* The targets users choose between; web video is the default. */
constexpr double kWebLoudnessLufs = -14.0;
constexpr double kBroadcastLoudnessLufs = -23.0; /* EBU R128 */

struct LoudnessOptions {
  double target_lufs = kWebLoudnessLufs; /* integrated loudness of the output */
  double true_peak_dbtp = -1.0;          /* ceiling on the output's true peak */
  double lookahead_s = 0.005;            /* limiter lookahead: the latency */
  double release_s = 0.1;                /* limiter recovery time constant */
  double window_s = 10.0;                /* loudness history the gain follows */
  double gain_time_s = 2.0;              /* time constant of the gain's rise towards its target */
  double gain_fall_time_s = 0.25;        /* and of its fall: a louder input is brought down sooner */
  double max_gain_db = 30.0;             /* a quieter input is raised by at most this much (0: never) */
  double min_gain_db = -30.0;            /* and a louder one lowered by at most this much */

  static constexpr double kMinTargetLufs = -70.0, kMaxTargetLufs = -5.0;
  static constexpr double kMinTruePeakDbtp = -20.0, kMaxTruePeakDbtp = 0.0;
  static constexpr double kMaxLookaheadS = 0.1;
  static constexpr double kMaxGainDb = 60.0;
  static constexpr double kMinWindowS = 0.4, kMaxWindowS = 3600.0;
  /* Throws std::invalid_argument naming the first value out of range. */
  void validate() const;
};

/* BS.1770-4 meter over interleaved float samples (channels in WAV order: L, R, C, LFE (unweighted), Ls, Rs). */
class LoudnessMeter {
 public:
  enum Mode : int { kMomentary = 1, kShortTerm = 2, kIntegrated = 4, kTruePeak = 8 };
  LoudnessMeter(int sample_rate, int channels, int modes = kMomentary | kShortTerm | kIntegrated | kTruePeak);
  ~LoudnessMeter();
  LoudnessMeter(const LoudnessMeter&) = delete;
  LoudnessMeter& operator=(const LoudnessMeter&) = delete;

  void add(const float* interleaved, size_t frames);
  /* LUFS; -HUGE_VAL when silent. */
  double momentary() const;
  double short_term() const;
  double integrated() const;
  /* dBTP over all channels; -HUGE_VAL before any signal. */
  double true_peak_dbtp() const;
  void reset();

  int sample_rate() const { return rate_; }
  int channels() const { return channels_; }

 private:
  struct State; /* libebur128's */
  int rate_, channels_, modes_;
  std::unique_ptr<State> state_;
};

/* Estimates the peak between samples (4x oversampling), streaming: feed one frame, get the peak of the interval
 * that ended kDelayFrames frames earlier. */
class TruePeakDetector {
 public:
  static constexpr int kTapsPerPhase = 12;
  static constexpr int kDelayFrames = kTapsPerPhase / 2; /* frames of look ahead the interpolation needs */

  explicit TruePeakDetector(int channels);
  /* Takes one frame; returns the largest absolute value, over channels, of the signal on [n, n + 1) for the
   * frame n = (frames fed) - 1 - kDelayFrames (samples and the 3 interpolated points between them). */
  float push(const float* frame);
  void reset();

 private:
  int channels_;
  std::vector<float> history_; /* kTapsPerPhase frames per channel, ring */
  int pos_ = 0;
  float taps_[3][kTapsPerPhase];
};

/* Lookahead limiter keeping the (estimated) true peak under `ceiling` (linear). Output lags input by
 * latency_frames(). */
class TruePeakLimiter {
 public:
  TruePeakLimiter(int sample_rate, int channels, double ceiling, double lookahead_s, double release_s);
  size_t latency_frames() const { return latency_; }
  /* Takes one frame and writes the delayed, limited frame `latency_frames()` earlier into `out` (zeros while
   * the delay line fills). Returns the gain applied to it. */
  float process(const float* in, float* out);
  void reset();

 private:
  int channels_;
  size_t lookahead_, latency_;
  float ceiling_;
  float release_coef_;
  TruePeakDetector detector_;
  float prev_interval_peak_ = 0.0f;
  /* sliding minimum of the needed gain over the lookahead (monotonic queue of (frame, gain)) */
  std::deque<std::pair<size_t, float>> minimum_;
  float held_ = 1.0f; /* the minimum after release smoothing */
  std::vector<float> average_ring_;
  double average_sum_ = 0.0;
  size_t average_pos_ = 0;
  std::vector<float> delay_; /* latency_ frames, ring */
  size_t delay_pos_ = 0;
  size_t frame_ = 0;
};

/* The whole normaliser: gain from the gated loudness, then the true-peak limiter. */
class LoudnessNormalizer {
 public:
  LoudnessNormalizer(int sample_rate, int channels, const LoudnessOptions& options);
  ~LoudnessNormalizer();

  size_t latency_frames() const { return limiter_.latency_frames(); }
  /* Normalises `frames` frames; appends to `out` what leaves the delay (fewer frames at the start). */
  void process(const float* in, size_t frames, std::vector<float>& out);
  /* End of stream: appends the frames still in the delay. The normaliser is then reset. */
  void drain(std::vector<float>& out);
  /* Back to the start of a stream (gain, history and delay line). */
  void reset();

  /* The gain applied now (before limiting), dB. */
  double gain_db() const { return gain_db_; }
  int channels() const { return channels_; }
  int sample_rate() const { return rate_; }

 private:
  void end_of_tick();
  void end_of_hop();
  void set_target(double loudness);
  void run_frame(const float* in, std::vector<float>& out);

  int rate_, channels_;
  LoudnessOptions options_;
  LoudnessMeter meter_, output_meter_;
  TruePeakLimiter limiter_;
  size_t tick_frames_, frames_in_tick_ = 0, ticks_ = 0, frames_seen_ = 0;
  size_t signal_start_ = 0; /* first frame that is not silence */
  bool signal_ = false;
  std::vector<double> block_energy_;  /* the input's blocks: ring over the window */
  std::vector<double> output_energy_; /* the output's: ring over the last minute */
  size_t blocks_ = 0;
  bool measured_ = false, converging_ = false;
  double gain_db_ = 0.0, target_gain_db_ = 0.0;
  double rise_coef_, fall_coef_, fast_coef_;
  std::vector<float> frame_scratch_, out_scratch_;
};

/* dB <-> linear amplitude. */
double db_to_gain(double db);
double gain_to_db(double gain);

}  // namespace audio
}  // namespace emsync
