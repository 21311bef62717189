/* emsync — loudness measurement and streaming normalisation (see loudness.h). */
#include "lib/audio/loudness.h"
#include "lib/audio/range.h"

#include <ebur128.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace emsync {
namespace audio {

namespace {

/* BS.1770 gating. */
constexpr double kAbsoluteGateLufs = -70.0;
constexpr double kRelativeGateLu = -10.0;
/* A passage this far under the programme's level so far (a fade, a reverb tail, a long rest) does not raise the
 * gain. */
constexpr double kProgrammeGateLu = -20.0;
/* The momentary loudness of the output is held to at most this much above the target: a passage louder than
 * the window's is brought down within the fall time, not after the window has caught up (a streaming gain lags
 * a crescendo, and the loud part weighs most in the integrated loudness). */
constexpr double kMaxMomentaryAboveTargetLu = 1.0;
/* The output's gated loudness over the last minute, above or below the target, is made up for by up to this. */
constexpr double kMaxCorrectionDb = 3.0;
constexpr double kOutputHistoryS = 60.0;
/* ... once it holds this much, so that the convergence at the start is not taken for a loud programme. */
constexpr double kMinOutputHistoryS = 2.0;
constexpr double kBlockSeconds = 0.4;
constexpr double kHopSeconds = 0.1;
/* Before the first whole block of signal: an estimate every tick, approached this fast. */
constexpr double kTickSeconds = 0.01;
constexpr size_t kTicksPerHop = 10;
constexpr double kConvergeTimeS = 0.02;
/* Where the signal starts (-120 dBFS). */
constexpr float kSilence = 1e-6f;
/* Room under the ceiling for what the 4x interpolation misses between its points and for what a lossy encoder adds
 * to the peaks (AAC at 160 kb/s: up to 0.2 dB on the soundtrack). */
constexpr double kCeilingMarginDb = 0.3;

double energy_to_lufs(double energy) {
  return -0.691 + 10.0 * std::log10(energy);
}
double lufs_to_energy(double lufs) {
  return std::pow(10.0, (lufs + 0.691) / 10.0);
}

/* Kaiser window on [-1, 1]. */
double bessel_i0(double x) {
  double sum = 1.0, term = 1.0;
  for (int k = 1; k < 30; k++) {
    term *= (x / (2.0 * k)) * (x / (2.0 * k));
    sum += term;
  }
  return sum;
}

}  // namespace

double db_to_gain(double db) {
  return std::pow(10.0, db / 20.0);
}
double gain_to_db(double gain) {
  return 20.0 * std::log10(gain);
}

void LoudnessOptions::validate() const {
  check_range("loudness target (LUFS)", target_lufs, kMinTargetLufs, kMaxTargetLufs);
  check_range("true-peak ceiling (dBTP)", true_peak_dbtp, kMinTruePeakDbtp, kMaxTruePeakDbtp);
  check_range("limiter lookahead (s)", lookahead_s, 0.0005, kMaxLookaheadS);
  check_range("limiter release (s)", release_s, 0.001, 10.0);
  check_range("loudness window (s)", window_s, kMinWindowS, kMaxWindowS);
  check_range("gain rise time constant (s)", gain_time_s, 0.01, 600.0);
  check_range("gain fall time constant (s)", gain_fall_time_s, 0.01, 600.0);
  check_range("maximum gain (dB)", max_gain_db, 0.0, kMaxGainDb);
  check_range("minimum gain (dB)", min_gain_db, -60.0, 0.0);
}

/* ---------------------------------------------------------------------------------------------------------- */

struct LoudnessMeter::State {
  ebur128_state* meter = nullptr;
  ~State() {
    if (meter) ebur128_destroy(&meter);
  }
};

LoudnessMeter::LoudnessMeter(int sample_rate, int channels, int modes)
    : rate_(sample_rate), channels_(channels), modes_(modes) {
  reset();
}

LoudnessMeter::~LoudnessMeter() = default;

void LoudnessMeter::reset() {
  state_.reset();
  int flags = EBUR128_MODE_M;
  if (modes_ & kShortTerm) flags |= EBUR128_MODE_S;
  if (modes_ & kIntegrated) flags |= EBUR128_MODE_I | EBUR128_MODE_HISTOGRAM;
  if (modes_ & kTruePeak) flags |= EBUR128_MODE_TRUE_PEAK;
  if (rate_ < 8000 || rate_ > 384000 || channels_ < 1 || channels_ > 64)
    throw std::invalid_argument("loudness meter: unsupported format (" + std::to_string(channels_) +
                                " channels at " + std::to_string(rate_) + " Hz)");
  state_ = std::make_unique<State>();
  state_->meter = ebur128_init(static_cast<unsigned>(channels_), static_cast<unsigned long>(rate_), flags);
  if (!state_->meter) throw std::runtime_error("loudness meter: libebur128 could not be initialised");
}

void LoudnessMeter::add(const float* interleaved, size_t frames) {
  if (frames > 0 && ebur128_add_frames_float(state_->meter, interleaved, frames) != EBUR128_SUCCESS)
    throw std::runtime_error("loudness meter: libebur128 failed to take samples");
}

double LoudnessMeter::momentary() const {
  double out = -HUGE_VAL;
  ebur128_loudness_momentary(state_->meter, &out);
  return out;
}

double LoudnessMeter::short_term() const {
  double out = -HUGE_VAL;
  if (modes_ & kShortTerm) ebur128_loudness_shortterm(state_->meter, &out);
  return out;
}

double LoudnessMeter::integrated() const {
  double out = -HUGE_VAL;
  if (modes_ & kIntegrated) ebur128_loudness_global(state_->meter, &out);
  return out;
}

double LoudnessMeter::true_peak_dbtp() const {
  double peak = 0.0;
  if (modes_ & kTruePeak)
    for (int c = 0; c < channels_; c++) {
      double p = 0.0;
      if (ebur128_true_peak(state_->meter, static_cast<unsigned>(c), &p) == EBUR128_SUCCESS)
        peak = std::max(peak, p);
    }
  return peak > 0.0 ? gain_to_db(peak) : -HUGE_VAL;
}

/* ---------------------------------------------------------------------------------------------------------- */

TruePeakDetector::TruePeakDetector(int channels) : channels_(channels) {
  /* windowed sinc at the fractional positions 1/4, 1/2, 3/4 between frame n and n + 1; tap j reads frame
   * n - (kDelayFrames - 1) + j, so the taps span n - 5 ... n + 6 */
  const double beta = 6.0, half = kTapsPerPhase / 2.0;
  for (int phase = 0; phase < 3; phase++) {
    const double frac = (phase + 1) / 4.0;
    double sum = 0.0;
    for (int j = 0; j < kTapsPerPhase; j++) {
      const double x = frac - (j - (kDelayFrames - 1));
      const double sinc = std::sin(M_PI * x) / (M_PI * x);
      const double r = x / half;
      const double window =
          std::fabs(r) >= 1.0 ? 0.0 : bessel_i0(beta * std::sqrt(1.0 - r * r)) / bessel_i0(beta);
      taps_[phase][j] = static_cast<float>(sinc * window);
      sum += sinc * window;
    }
    for (int j = 0; j < kTapsPerPhase; j++) taps_[phase][j] = static_cast<float>(taps_[phase][j] / sum);
  }
  reset();
}

void TruePeakDetector::reset() {
  history_.assign(static_cast<size_t>(kTapsPerPhase) * channels_, 0.0f);
  pos_ = 0;
}

float TruePeakDetector::push(const float* frame) {
  std::copy(frame, frame + channels_, history_.begin() + static_cast<ptrdiff_t>(pos_) * channels_);
  pos_ = (pos_ + 1) % kTapsPerPhase; /* now the oldest frame */
  float peak = 0.0f;
  const int n = (pos_ + kDelayFrames - 1) % kTapsPerPhase; /* the frame whose interval is judged */
  for (int c = 0; c < channels_; c++) {
    peak = std::max(peak, std::fabs(history_[static_cast<size_t>(n) * channels_ + c]));
    for (int phase = 0; phase < 3; phase++) {
      float v = 0.0f;
      for (int j = 0; j < kTapsPerPhase; j++)
        v += taps_[phase][j] * history_[static_cast<size_t>((pos_ + j) % kTapsPerPhase) * channels_ + c];
      peak = std::max(peak, std::fabs(v));
    }
  }
  return peak;
}

/* ---------------------------------------------------------------------------------------------------------- */

TruePeakLimiter::TruePeakLimiter(int sample_rate, int channels, double ceiling, double lookahead_s,
                                 double release_s)
    : channels_(channels),
      lookahead_(std::max<size_t>(1, static_cast<size_t>(std::lround(lookahead_s * sample_rate)))),
      latency_(lookahead_ + TruePeakDetector::kDelayFrames - 1),
      ceiling_(static_cast<float>(ceiling)),
      release_coef_(static_cast<float>(1.0 - std::exp(-1.0 / (release_s * sample_rate)))),
      detector_(channels) {
  reset();
}

void TruePeakLimiter::reset() {
  detector_.reset();
  prev_interval_peak_ = 0.0f;
  minimum_.clear();
  held_ = 1.0f;
  average_ring_.assign(lookahead_, 1.0f);
  average_sum_ = static_cast<double>(lookahead_);
  average_pos_ = 0;
  delay_.assign(latency_ * channels_, 0.0f);
  delay_pos_ = 0;
  frame_ = 0;
}

float TruePeakLimiter::process(const float* in, float* out) {
  /* the gain frame m = frame_ - kDelayFrames needs: its sample and the intervals on either side under the
   * ceiling */
  const float interval_peak = detector_.push(in);
  const float peak = std::max(interval_peak, prev_interval_peak_);
  prev_interval_peak_ = interval_peak;
  const float needed = peak > ceiling_ ? ceiling_ / peak : 1.0f;

  /* minimum over the lookahead (frames m - lookahead + 1 ... m), then instant attack and smooth release */
  while (!minimum_.empty() && minimum_.back().second >= needed) minimum_.pop_back();
  minimum_.emplace_back(frame_, needed);
  while (minimum_.front().first + lookahead_ <= frame_) minimum_.pop_front();
  held_ = std::min(minimum_.front().second, held_ + (1.0f - held_) * release_coef_);

  /* average over the lookahead: the gain ramps down across it and reaches the minimum by the peak */
  average_sum_ += held_ - average_ring_[average_pos_];
  average_ring_[average_pos_] = held_;
  average_pos_ = (average_pos_ + 1) % lookahead_;
  const float gain = static_cast<float>(std::min(1.0, average_sum_ / static_cast<double>(lookahead_)));

  /* the frame leaving the delay is the one this gain belongs to */
  float* slot = &delay_[delay_pos_ * channels_];
  for (int c = 0; c < channels_; c++) {
    out[c] = slot[c] * gain;
    slot[c] = in[c];
  }
  delay_pos_ = (delay_pos_ + 1) % latency_;
  frame_++;
  return gain;
}

/* ---------------------------------------------------------------------------------------------------------- */

LoudnessNormalizer::LoudnessNormalizer(int sample_rate, int channels, const LoudnessOptions& options)
    : rate_(sample_rate),
      channels_(channels),
      options_((options.validate(), options)),
      meter_(sample_rate, channels, LoudnessMeter::kMomentary | LoudnessMeter::kIntegrated),
      output_meter_(sample_rate, channels, LoudnessMeter::kMomentary),
      limiter_(sample_rate, channels, db_to_gain(options.true_peak_dbtp - kCeilingMarginDb),
               options.lookahead_s, options.release_s),
      tick_frames_(static_cast<size_t>(std::lround(kTickSeconds * sample_rate))),
      block_energy_(static_cast<size_t>(std::ceil(options.window_s / kHopSeconds)), 0.0),
      output_energy_(static_cast<size_t>(std::ceil(kOutputHistoryS / kHopSeconds)), 0.0),
      rise_coef_(1.0 - std::exp(-1.0 / (options.gain_time_s * sample_rate))),
      fall_coef_(1.0 - std::exp(-1.0 / (options.gain_fall_time_s * sample_rate))),
      fast_coef_(1.0 - std::exp(-1.0 / (kConvergeTimeS * sample_rate))),
      frame_scratch_(channels),
      out_scratch_(channels) {}

LoudnessNormalizer::~LoudnessNormalizer() = default;

void LoudnessNormalizer::reset() {
  meter_.reset();
  output_meter_.reset();
  limiter_.reset();
  frames_in_tick_ = ticks_ = frames_seen_ = signal_start_ = 0;
  signal_ = false;
  std::fill(block_energy_.begin(), block_energy_.end(), 0.0);
  std::fill(output_energy_.begin(), output_energy_.end(), 0.0);
  blocks_ = 0;
  measured_ = converging_ = false;
  gain_db_ = target_gain_db_ = 0.0;
}

void LoudnessNormalizer::set_target(double loudness) {
  const double target =
      std::clamp(options_.target_lufs - loudness, options_.min_gain_db, options_.max_gain_db);
  if (!measured_ && std::fabs(target - target_gain_db_) > 0.05) converging_ = true;
  target_gain_db_ = target;
}

/* Every 10 ms: until 400 ms of signal have been measured, the loudness of what there is (the momentary block
 * holds silence before the signal's start: its energy is scaled up by the share of it that is signal). */
void LoudnessNormalizer::end_of_tick() {
  if (!measured_ && signal_) {
    const double seconds = static_cast<double>(frames_seen_ - signal_start_) / rate_;
    const double block = meter_.momentary();
    if (seconds >= kTickSeconds && block > -HUGE_VAL)
      set_target(energy_to_lufs(lufs_to_energy(block) * kBlockSeconds / std::min(kBlockSeconds, seconds)));
  }
  if (++ticks_ % kTicksPerHop == 0) end_of_hop();
}

/* A new 400 ms block every 100 ms: the gain's target follows the gated loudness of the window. */
/* BS.1770's gated loudness of the first `count` blocks of `energies` (0: a block under the absolute gate), with
 * the relative gate raised to `floor` where that is higher; -HUGE_VAL when no block passes. */
static double gated_loudness(const std::vector<double>& energies, size_t count, double floor) {
  double sum = 0.0;
  size_t above = 0;
  for (size_t i = 0; i < count; i++)
    if (energies[i] > 0.0) {
      sum += energies[i];
      above++;
    }
  if (above == 0) return -HUGE_VAL;
  const double gate = std::max(floor, lufs_to_energy(energy_to_lufs(sum / above) + kRelativeGateLu));
  double gated = 0.0;
  size_t kept = 0;
  for (size_t i = 0; i < count; i++)
    if (energies[i] > gate) {
      gated += energies[i];
      kept++;
    }
  return kept ? energy_to_lufs(gated / kept) : -HUGE_VAL;
}

/* A new 400 ms block every 100 ms: the gain's target follows the gated loudness of the window. */
void LoudnessNormalizer::end_of_hop() {
  if (static_cast<double>(frames_seen_) < kBlockSeconds * rate_ - 0.5) return; /* no whole block yet */
  const double block = meter_.momentary();
  const double energy = block > kAbsoluteGateLufs ? lufs_to_energy(block) : 0.0;
  block_energy_[blocks_ % block_energy_.size()] = energy;
  const double output_block = output_meter_.momentary();
  output_energy_[blocks_ % output_energy_.size()] =
      output_block > kAbsoluteGateLufs ? lufs_to_energy(output_block) : 0.0;
  blocks_++;
  if (!signal_ || static_cast<double>(frames_seen_ - signal_start_) < kBlockSeconds * rate_ - 0.5) return;
  const double programme = meter_.integrated();
  const double floor = programme > -HUGE_VAL ? lufs_to_energy(programme + kProgrammeGateLu) : 0.0;
  double loudness = gated_loudness(block_energy_, std::min(blocks_, block_energy_.size()), floor);
  if (loudness == -HUGE_VAL) return; /* silence, a fade or a tail: keep the gain */
  if (block > kAbsoluteGateLufs) loudness = std::max(loudness, block - kMaxMomentaryAboveTargetLu);
  /* what the output has been (after the limiter), above or below the target, is made up for (within a few dB) */
  const double output = gated_loudness(output_energy_, std::min(blocks_, output_energy_.size()), 0.0);
  if (output > -HUGE_VAL && static_cast<double>(blocks_) * kHopSeconds >= kMinOutputHistoryS)
    loudness += std::clamp(output - options_.target_lufs, -kMaxCorrectionDb, kMaxCorrectionDb);
  set_target(loudness);
  measured_ = true;
}

void LoudnessNormalizer::run_frame(const float* in, std::vector<float>& out) {
  if (!signal_) {
    for (int c = 0; c < channels_; c++) signal_ = signal_ || std::fabs(in[c]) > kSilence;
    signal_start_ = frames_seen_;
  }
  if (converging_) {
    gain_db_ += (target_gain_db_ - gain_db_) * fast_coef_;
    if (std::fabs(target_gain_db_ - gain_db_) < 0.05) converging_ = false;
  } else {
    gain_db_ += (target_gain_db_ - gain_db_) * (target_gain_db_ > gain_db_ ? rise_coef_ : fall_coef_);
  }
  const float gain = static_cast<float>(db_to_gain(gain_db_));
  for (int c = 0; c < channels_; c++) frame_scratch_[c] = in[c] * gain;
  limiter_.process(frame_scratch_.data(), out_scratch_.data());
  frames_seen_++;
  if (frames_seen_ > limiter_.latency_frames())
    out.insert(out.end(), out_scratch_.begin(), out_scratch_.end());
}

void LoudnessNormalizer::process(const float* in, size_t frames, std::vector<float>& out) {
  size_t done = 0;
  while (done < frames) {
    /* the meter takes whole ticks, so that the estimates fall on tick boundaries whatever the chunking */
    const size_t n = std::min(frames - done, tick_frames_ - frames_in_tick_);
    const float* chunk = in + done * channels_;
    meter_.add(chunk, n);
    const size_t before = out.size();
    for (size_t i = 0; i < n; i++) run_frame(chunk + i * channels_, out);
    output_meter_.add(out.data() + before, (out.size() - before) / channels_);
    frames_in_tick_ += n;
    done += n;
    if (frames_in_tick_ == tick_frames_) {
      frames_in_tick_ = 0;
      end_of_tick();
    }
  }
}

void LoudnessNormalizer::drain(std::vector<float>& out) {
  /* push silence through the delay (without metering it) to bring out the last frames */
  const size_t remaining = std::min(frames_seen_, limiter_.latency_frames());
  std::vector<float> silence(channels_, 0.0f);
  for (size_t i = 0; i < limiter_.latency_frames(); i++) {
    limiter_.process(silence.data(), out_scratch_.data());
    if (i >= limiter_.latency_frames() - remaining)
      out.insert(out.end(), out_scratch_.begin(), out_scratch_.end());
  }
  reset();
}

}  // namespace audio
}  // namespace emsync
