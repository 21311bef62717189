#include "lib/music/composer.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "lib/midi/vocab.h"
#include "lib/music/key_finding.h"

namespace emsync::music {

namespace vocab = emsync::midi;

namespace {

// ln(n) / ln(kMaxShiftTicks) for a time shift of n ticks.
const std::array<float, vocab::kMaxShiftTicks + 1> kLogShift = [] {
  std::array<float, vocab::kMaxShiftTicks + 1> t{};
  for (int n = 1; n <= vocab::kMaxShiftTicks; ++n)
    t[n] = static_cast<float>(std::log(static_cast<double>(n)) /
                              std::log(static_cast<double>(vocab::kMaxShiftTicks)));
  return t;
}();

constexpr float kForbidden = -std::numeric_limits<float>::infinity();
// Half a tick (plus rounding room): the farthest the tick nearest a cut can lie after it.
constexpr double kCutSlackSeconds = vocab::kTickSeconds / 2 + 1e-9;
}  // namespace

ComposerOptions ComposerOptions::reference() {
  ComposerOptions o;
  o.sync = SyncMode::Soft;
  o.density_control = 0.0;
  o.mode_control = 0.0;
  o.emotion_guidance = 0.0;
  o.note_grammar = false;
  o.max_note_seconds = 0.0;
  o.max_tokens_without_time = 0;
  o.timing = Timing::Free;
  o.restrike_gap_seconds = 0.0;
  o.min_note_seconds = 0.0;
  o.release_push = 0.0;
  o.density_on_note_ons_only = false;
  o.mode_profile = ModeProfile::KrumhanslKessler;
  o.sampler.time_shift_top_p = 0.0;
  o.velocity = VelocityOptions::reference();
  o.onset_timing = OnsetTimingOptions::reference();
  o.ending = EndingOptions::reference();
  return o;
}

Composer::Composer(std::shared_ptr<const GeneratorModel> model, const ComposerOptions& options)
    : model_(std::move(model)),
      options_(options),
      session_(model_),
      sampler_(options.sampler, options.seed),
      schedule_(options.boundaries, model_->config().max_boundary_seconds),
      current_valence_(std::numeric_limits<float>::quiet_NaN()),
      current_arousal_(std::numeric_limits<float>::quiet_NaN()),
      note_started_(vocab::kNumInstruments * vocab::kNumPitches, -1),
      note_released_(vocab::kNumInstruments * vocab::kNumPitches, -1) {
  session_.set_threads(options_.threads);
  planner_ = TempoPlanner(options_.tempo);
  if (options_.emotion_guidance > 0.0) {
    unconditioned_ = std::make_unique<GeneratorSession>(model_);
    unconditioned_->set_threads(options_.threads);
  }
}

const float* Composer::next_logits() {
  if (!unconditioned_) return session_.logits().data();
  const std::vector<float>& c = session_.logits();
  const std::vector<float>& u = unconditioned_->logits();
  // The options are doubles as set; the composer's arithmetic is single precision (reproducible music).
  const float g = static_cast<float>(options_.emotion_guidance);
  guided_logits_.resize(c.size());
  for (size_t i = 0; i < c.size(); ++i) guided_logits_[i] = c[i] + g * (c[i] - u[i]);
  return guided_logits_.data();
}

void Composer::track_note(int token) {
  if (!vocab::is_note_token(token)) return;
  const auto parts = vocab::decode_note_token(token);
  const int index =
      vocab::instrument_index(parts.instrument) * vocab::kNumPitches + (parts.pitch - vocab::kMinPitch);
  note_started_[index] = parts.on ? cursor_ticks_ : -1;
  if (!parts.on) note_released_[index] = cursor_ticks_;
}

int Composer::oldest_sounding_note() const {
  int index = -1;
  for (size_t i = 0; i < note_started_.size(); ++i)
    if (note_started_[i] >= 0 && (index < 0 || note_started_[i] <= note_started_[index]))
      index = static_cast<int>(i);
  return index;
}
bool Composer::add_cut(double time_seconds) {
  if (time_seconds < cursor_seconds()) return false;
  const bool kept = schedule_.offer(time_seconds);
  if (kept && started_ && options_.timing == Timing::Grid) plan_grid();
  return kept;
}

double Composer::set_final_chord(double seconds, double latest_seconds) {
  schedule_.drop_pending_after(std::max(latest_seconds, cursor_seconds()));
  const auto& cuts = schedule_.cuts();
  if (!cuts.empty() && cuts.back().time >= seconds) {
    seconds = cuts.back().time;
  } else if (options_.timing == Timing::Grid) {
    // On the beat nearest to it in the tempo being played, on its 8 ms tick: the planner reaches it without
    // bending the tempo. Before the music starts, its start plans the tempo first (from the emotion at 0).
    if (!started_) begin();
    plan_grid();
    const GridPosition at = planner_.map().position(seconds);
    if (at.bar >= 0) {
      const double beat = seconds - at.phase * at.beat_seconds;
      const double next = beat + at.beat_seconds;
      seconds = (at.phase > 0.5 && next <= latest_seconds) ? next : beat;
      seconds = std::llround(seconds / vocab::kTickSeconds) * vocab::kTickSeconds;
    }
  }
  if (seconds <= cursor_seconds() + vocab::kTickSeconds) return std::numeric_limits<double>::quiet_NaN();
  if (cuts.empty() || cuts.back().time < seconds) {
    schedule_.offer(seconds, /*even_if_close=*/true);
    if (started_ && options_.timing == Timing::Grid) plan_grid();
  }
  final_chord_seconds_ = seconds;
  return seconds;
}

void Composer::plan_grid() {
  std::vector<double> pending;
  for (const BoundarySchedule::Cut& c : schedule_.cuts())
    if (!c.served && c.time > cursor_seconds()) pending.push_back(c.time);
  planned_arousal_ = tempo_arousal();
  planner_.plan(cursor_seconds(), pending, options_.tempo.preferred_beat_seconds(planned_arousal_));
}

void Composer::set_emotion(double time_seconds, float valence, float arousal) {
  // Keep the timeline ordered; a sample that is not newer replaces the newest one.
  while (!emotions_.empty() && emotions_.back().time >= time_seconds) emotions_.pop_back();
  emotions_.push_back({time_seconds, valence, arousal});
}

int Composer::instrument_token() const {
  return options_.instruments == InstrumentCount::More ? vocab::kMoreInstrumentsToken
                                                       : vocab::kLessInstrumentsToken;
}

float Composer::boundary_value() const {
  if (options_.sync == SyncMode::None) return static_cast<float>(schedule_.horizon_seconds());
  return static_cast<float>(schedule_.seconds_to_next(cursor_seconds()));
}

void Composer::apply_emotion_at_cursor() {
  const double now = cursor_seconds();
  // The sample in effect at the cursor; older ones are no longer needed.
  size_t idx = 0;
  bool found = false;
  for (size_t i = 0; i < emotions_.size(); ++i) {
    if (emotions_[i].time <= now) {
      idx = i;
      found = true;
    }
  }
  if (!found) {
    if (emotions_.empty()) return;
    idx = 0;  // before the first sample, its value applies
  }
  if (idx > 0) emotions_.erase(emotions_.begin(), emotions_.begin() + idx);
  const float v = emotions_.front().valence;
  const float a = emotions_.front().arousal;
  auto moved = [&](float x, float y) {
    if (std::isnan(x) != std::isnan(y)) return true;
    return !std::isnan(x) && std::fabs(x - y) > options_.emotion_update_threshold;
  };
  if (!started_) {
    current_valence_ = v;
    current_arousal_ = a;
    return;
  }
  if ((moved(v, current_valence_) || moved(a, current_arousal_)) &&
      now - last_emotion_update_ >= options_.emotion_update_interval_seconds) {
    current_valence_ = v;
    current_arousal_ = a;
    last_emotion_update_ = now;
    session_.set_condition(v, a);
  }
}

void Composer::begin() {
  apply_emotion_at_cursor();
  const float b = boundary_value();
  // Reference primer: the instrument control token, then <BAR>.
  session_.start({instrument_token(), vocab::kBarToken}, {b, b}, current_valence_, current_arousal_);
  if (unconditioned_) {
    const float kNull = std::numeric_limits<float>::quiet_NaN();
    unconditioned_->start({instrument_token(), vocab::kBarToken}, {b, b}, kNull, kNull);
  }
  previous_token_ = vocab::kBarToken;
  started_ = true;
  bar_emitted_tick_ = 0;  // the primer's <BAR> opens bar 0
  if (options_.timing == Timing::Grid) {
    planner_.reset(options_.tempo.preferred_beat_seconds(tempo_arousal()));
    plan_grid();
  }
}

bool Composer::build_constraints() {
  bool constrained = build_timing_constraints();
  const float density = density_bias();
  std::array<float, 12> mode{};
  const bool steer_mode = mode_bias(mode);
  const bool note_masks =
      options_.note_grammar || options_.restrike_gap_seconds > 0.0 || options_.min_note_seconds > 0.0;
  if (note_masks || options_.release_push > 0.0 || density != 0.0f || steer_mode) {
    if (!constrained) bias_.assign(model_->config().vocab_size, 0.0f);
    constrained = true;
  }
  if (steer_mode)
    for (int i = 0; i < vocab::kNumInstruments; ++i) {
      const auto instrument = static_cast<vocab::Instrument>(i);
      if (instrument == vocab::Instrument::Drums) continue;
      for (int pitch = vocab::kMinPitch; pitch <= vocab::kMaxPitch; ++pitch)
        bias_[vocab::note_token(instrument, pitch, /*on=*/true)] += mode[pitch % 12];
    }
  // EMSYNC-era form (density_on_note_ons_only false): on all note events, offs included, since favouring only
  // note-ons piled up sounding notes (polyphony 44 instead of 11 on a 60 s clip) before the release push.
  // Favouring notes over time shifts packs more of them into each second.
  if (density != 0.0f)
    for (int t = vocab::kFirstNoteToken; t <= vocab::kLastNoteToken; ++t)
      if (!options_.density_on_note_ons_only || vocab::note_is_on(t)) bias_[t] += density;  // -inf stays -inf
  // Too sparse, ons only: long shifts are penalised instead of offs favoured (see density_on_note_ons_only).
  if (density > 0.0f && options_.density_on_note_ons_only)
    for (int n = 2; n <= vocab::kMaxShiftTicks; ++n)
      bias_[vocab::time_shift_token(n)] -= density * kLogShift[n];
  // Too dense: also favour long time shifts. With the note events held back alone, the next likeliest tokens
  // are the shortest shifts, and the model walks through the gap one 8 ms tick at a time (chains of 1-tick
  // shifts, up to 125 tokens per second of music that carry nothing). Scaled by ln(ticks) so a 1-tick shift
  // gets nothing and a full 1 s shift the whole |bias|.
  if (density < 0.0f)
    for (int n = 2; n <= vocab::kMaxShiftTicks; ++n)
      bias_[vocab::time_shift_token(n)] += -density * kLogShift[n];
  if (options_.release_push > 0.0) push_releases();
  if (note_masks) mask_invalid_notes();
  if (!std::isnan(final_chord_seconds_) && options_.ending.cadence) {
    if (!constrained) bias_.assign(model_->config().vocab_size, 0.0f);
    constrained = apply_cadence() || constrained;
  }
  return constrained;
}

bool Composer::apply_cadence() {
  const double to_final = final_chord_seconds_ - cursor_seconds();
  const EndingOptions& e = options_.ending;
  if (to_final > e.cadence_seconds) return false;
  const Key key = current_key();
  if (key.tonic < 0) return false;
  const auto in_triad = [](int pc, int root, bool major) {
    const int d = ((pc - root) % 12 + 12) % 12;
    return d == 0 || d == 7 || d == (major ? 4 : 3);
  };
  // At the final chord (and the tick before it, where its releases fall): the tonic triad, the bass on the
  // tonic. Before it: the dominant triad favoured (major in either mode: the raised 7th of minor).
  const bool final_chord = to_final <= midi::kTickSeconds + 1e-9;
  const int dominant = (key.tonic + 7) % 12;
  for (int i = 0; i < vocab::kNumInstruments; ++i) {
    const auto instrument = static_cast<vocab::Instrument>(i);
    if (instrument == vocab::Instrument::Drums) continue;
    for (int pitch = vocab::kMinPitch; pitch <= vocab::kMaxPitch; ++pitch) {
      float& b = bias_[vocab::note_token(instrument, pitch, /*on=*/true)];
      const int pc = pitch % 12;
      if (final_chord) {
        const bool ok =
            instrument == vocab::Instrument::Bass ? pc == key.tonic : in_triad(pc, key.tonic, key.major);
        if (!ok) b = kForbidden;
      } else {
        b += static_cast<float>(in_triad(pc, dominant, true) ? e.dominant_bias : -e.dominant_bias);
      }
    }
  }
  return true;
}

namespace {

// Drops the entries (sorted by .tick) older than `window_seconds` before `now_ticks`.
template <typename T>
void keep_window(std::vector<T>& entries, int64_t now_ticks, double window_seconds, double tick_seconds) {
  const int64_t first = now_ticks - static_cast<int64_t>(window_seconds / tick_seconds);
  auto keep = std::find_if(entries.begin(), entries.end(), [first](const T& e) { return e.tick >= first; });
  entries.erase(entries.begin(), keep);
}

}  // namespace

void Composer::track_density(int token) {
  if (options_.density_control <= 0.0) return;
  keep_window(recent_onsets_, cursor_ticks_, options_.density_window_seconds, vocab::kTickSeconds);
  if (vocab::is_note_token(token) && vocab::note_is_on(token))
    recent_onsets_.push_back({cursor_ticks_, vocab::instrument_index(vocab::note_instrument(token))});
}

void Composer::track_pitches(int token) {
  if (options_.mode_control <= 0.0 && !(options_.ending.enabled && options_.ending.cadence)) return;
  keep_window(recent_pitches_, cursor_ticks_, options_.mode_window_seconds, vocab::kTickSeconds);
  if (vocab::is_note_token(token) && vocab::note_is_on(token) &&
      vocab::note_instrument(token) != vocab::Instrument::Drums)
    recent_pitches_.push_back({cursor_ticks_, vocab::note_pitch(token) % 12});
}

Key Composer::current_key() const {
  Key key;
  if (static_cast<int>(recent_pitches_.size()) < options_.mode_min_notes) return key;
  std::array<double, 12> hist{};
  for (const PitchOnset& p : recent_pitches_) hist[p.pitch_class] += 1.0;
  key = find_key(hist);
  const float v = current_valence_;
  if (key.tonic >= 0 && options_.mode_control > 0.0 && !std::isnan(v) && std::fabs(v) >= 0.05f &&
      key.major != (v > 0))
    key = relative_key(key);
  return key;
}

bool Composer::mode_bias(std::array<float, 12>& out) const {
  const float v = current_valence_;
  if (options_.mode_control <= 0.0 || std::isnan(v) || std::fabs(v) < 0.05f) return false;
  const Key key = current_key();
  if (key.tonic < 0) return false;
  const std::array<double, 12> profile = options_.mode_profile == ModeProfile::TonicTriad
                                             ? tonic_triad_profile(key.tonic, key.major)
                                             : standardised_key_profile(key.tonic, key.major);
  const double scale = static_cast<float>(options_.mode_control) * std::min(std::fabs(v), 1.0f);
  // Shifted by log(mean(exp(bias))) so that the bias moves probability between pitch classes without
  // changing the total weight of note-ons (which would fight the density controller).
  double mean_exp = 0;
  for (int pc = 0; pc < 12; ++pc) mean_exp += std::exp(scale * profile[pc]) / 12;
  const double shift = std::log(mean_exp);
  for (int pc = 0; pc < 12; ++pc) out[pc] = static_cast<float>(scale * profile[pc] - shift);
  return true;
}

float Composer::density_bias() {
  const GeneratorConfig& c = model_->config();
  if (options_.density_control <= 0.0 || std::isnan(current_arousal_) ||
      c.arousal_density_max <= c.arousal_density_min)
    return 0.0f;
  // Too little music yet to measure a density: let the model start on its own.
  const double span = std::min(options_.density_window_seconds, cursor_seconds());
  if (span < 1.0) return 0.0f;
  bool seen[vocab::kNumInstruments] = {};
  int instruments = 0;
  for (const Onset& o : recent_onsets_)
    if (!seen[o.instrument]) {
      seen[o.instrument] = true;
      ++instruments;
    }
  const double density = recent_onsets_.size() / span / std::max(instruments, 1);
  const double a = std::clamp(static_cast<double>(current_arousal_), -1.0, 1.0);
  const double target =
      c.arousal_density_min + (a + 1.0) / 2.0 * (c.arousal_density_max - c.arousal_density_min);
  // +0.5 notes/s keeps the ratio finite for silence.
  const double bias =
      static_cast<float>(options_.density_control) * std::log((target + 0.5) / (density + 0.5));
  return static_cast<float>(std::clamp(bias, -4.0, 4.0));
}

void Composer::mask_invalid_notes() {
  const int64_t gap = std::llround(options_.restrike_gap_seconds / vocab::kTickSeconds);
  const int64_t shortest = std::llround(options_.min_note_seconds / vocab::kTickSeconds);
  for (int i = 0; i < vocab::kNumInstruments; ++i) {
    const auto instrument = static_cast<vocab::Instrument>(i);
    const bool pitched = instrument != vocab::Instrument::Drums;
    for (int k = 0; k < vocab::kNumPitches; ++k) {
      const int index = i * vocab::kNumPitches + k;
      const int64_t started = note_started_[index], released = note_released_[index];
      const bool sounding = started >= 0;
      if (options_.note_grammar)
        bias_[vocab::note_token(instrument, k + vocab::kMinPitch, /*on=*/sounding)] = kForbidden;
      if (!pitched) continue;
      // The re-strike guard (ComposerOptions::restrike_gap_seconds, min_note_seconds).
      if (sounding && cursor_ticks_ - started < shortest)
        bias_[vocab::note_token(instrument, k + vocab::kMinPitch, /*on=*/false)] = kForbidden;
      if (!sounding && released >= 0 && cursor_ticks_ - released < gap)
        bias_[vocab::note_token(instrument, k + vocab::kMinPitch, /*on=*/true)] = kForbidden;
    }
  }
}

void Composer::push_releases() {
  // Corpus 95th-percentile note length per instrument (Bass, Drums, Guitar, Piano, Strings), seconds.
  static constexpr double kLongNoteSeconds[vocab::kNumInstruments] = {0.47, 0.24, 0.96, 1.33, 2.22};
  for (int i = 0; i < vocab::kNumInstruments; ++i)
    for (int k = 0; k < vocab::kNumPitches; ++k) {
      const int64_t started = note_started_[i * vocab::kNumPitches + k];
      if (started < 0) continue;
      const double age = (cursor_ticks_ - started) * vocab::kTickSeconds;
      if (age <= kLongNoteSeconds[i]) continue;
      float& b =
          bias_[vocab::note_token(static_cast<vocab::Instrument>(i), k + vocab::kMinPitch, /*on=*/false)];
      b +=
          static_cast<float>(options_.release_push * std::log(age / kLongNoteSeconds[i]));  // -inf stays -inf
    }
}

bool Composer::build_timing_constraints() {
  const int n = model_->config().vocab_size;
  bool constrained = false;
  auto ensure = [&]() {
    if (!constrained) {
      bias_.assign(n, 0.0f);
      constrained = true;
    }
  };

  // An overdue note is released first (unless a chord is being placed on a cut right now).
  // Notes held too long: the oldest is released at its deadline, and time may not pass that deadline.
  // (Not while a chord is being placed on a cut.)
  int64_t ticks_to_release = -1;  // -1: no deadline applies
  if (chord_notes_needed_ == 0 && options_.max_note_seconds > 0.0) {
    const int oldest = oldest_sounding_note();
    if (oldest >= 0) {
      const int64_t limit = static_cast<int64_t>(options_.max_note_seconds / vocab::kTickSeconds);
      ticks_to_release = note_started_[oldest] + limit - cursor_ticks_;
      if (ticks_to_release <= 0) {
        const auto instrument = static_cast<vocab::Instrument>(oldest / vocab::kNumPitches);
        ensure();
        for (int t = 0; t < n; ++t) bias_[t] = kForbidden;
        bias_[vocab::note_token(instrument, oldest % vocab::kNumPitches + vocab::kMinPitch, false)] = 0.0f;
        return true;
      }
    }
  }

  // A planned bar line: <BAR> first (the training order at a cut: <BAR>, <CHORD>, note-ons).
  const bool grid = options_.timing == Timing::Grid;
  if (grid && chord_notes_needed_ == 0 && bar_emitted_tick_ != cursor_ticks_ &&
      planner_.map().is_bar_tick(cursor_ticks_)) {
    ensure();
    for (int t = 0; t < n; ++t) bias_[t] = kForbidden;
    bias_[vocab::kBarToken] = 0.0f;
    return true;
  }

  if (options_.sync == SyncMode::Hard) {
    if (chord_notes_needed_ > 0) {
      // Inside a forced chord: no time may pass until enough non-drum notes have started.
      ensure();
      for (int t = 0; t < n; ++t) {
        const bool on = vocab::is_note_token(t) && vocab::note_is_on(t);
        const bool drum = on && vocab::note_instrument(t) == vocab::Instrument::Drums;
        // After a few tokens, only pitched note-ons: guarantees the chord completes.
        const bool allowed = on && (!drum || tokens_since_chord_ < 6);
        if (!allowed) bias_[t] = kForbidden;
      }
      return true;
    }
    // A cut between ticks is reached on the nearest tick, which may lie up to half a tick after it: look
    // that far back, or such a cut would slip behind the cursor unmarked.
    auto next = schedule_.next_pending(cursor_seconds(), kCutSlackSeconds);
    if (next) {
      // The cut's own nearest tick (not rounded relative to the cursor: at a half tick that could differ by one
      // from the tick of the bar line planned on the cut).
      const int64_t ticks_to_cut = std::llround(*next / vocab::kTickSeconds) - cursor_ticks_;
      ensure();
      if (ticks_to_cut <= 0) {
        for (int t = 0; t < n; ++t) bias_[t] = kForbidden;
        bias_[vocab::kChordToken] = 0.0f;
        return true;
      }
      for (int k = static_cast<int>(ticks_to_cut) + 1; k <= vocab::kMaxShiftTicks; ++k)
        bias_[vocab::time_shift_token(k)] = kForbidden;
    }
    ensure();
    bias_[vocab::kChordToken] = kForbidden;  // chords belong to cuts
  }

  if (ticks_to_release > 0 && ticks_to_release < vocab::kMaxShiftTicks) {
    ensure();
    for (int64_t k = ticks_to_release + 1; k <= vocab::kMaxShiftTicks; ++k)
      bias_[vocab::time_shift_token(static_cast<int>(k))] = kForbidden;
  }

  if (grid) {
    ensure();
    apply_grid_constraints();
  }

  if (options_.max_tokens_without_time > 0 && tokens_without_time_ >= options_.max_tokens_without_time) {
    ensure();
    // The shift limits set above (no overshooting a cut or a release deadline) stay in bias_.
    for (int t = 0; t < n; ++t)
      if (!vocab::is_time_shift(t)) bias_[t] = kForbidden;
  }
  return constrained;
}

void Composer::apply_grid_constraints() {
  const TempoMap& map = planner_.map();
  bias_[vocab::kBarToken] = kForbidden;  // only at bar lines, forced above
  const GridLevel here = map.level(cursor_ticks_);
  const bool onsets = here != GridLevel::Off && here != GridLevel::PreGrid;
  for (int i = 0; i < vocab::kNumInstruments; ++i) {
    const auto instrument = static_cast<vocab::Instrument>(i);
    const int cap =
        instrument == vocab::Instrument::Drums ? options_.max_step_drum_ons : options_.max_step_note_ons;
    if (onsets && (cap <= 0 || step_note_ons_[i] < cap)) continue;
    for (int pitch = vocab::kMinPitch; pitch <= vocab::kMaxPitch; ++pitch)
      bias_[vocab::note_token(instrument, pitch, /*on=*/true)] = kForbidden;
  }
  if (!onsets) bias_[vocab::kChordToken] = kForbidden;

  // A cut the plan could not put on a bar line is still reached exactly (sync=hard places its chord there).
  int64_t cut_tick = -1;
  if (options_.sync == SyncMode::Hard)
    if (auto next = schedule_.next_pending(cursor_seconds(), kCutSlackSeconds))
      cut_tick = static_cast<int64_t>(std::llround(*next / vocab::kTickSeconds));
  const int64_t bar = map.next_bar_tick(cursor_ticks_);
  bool any = false;
  int64_t first_point = -1;  // the nearest grid or pre-grid tick ahead
  for (int k = 1; k <= vocab::kMaxShiftTicks; ++k) {
    const int64_t t = cursor_ticks_ + k;
    const GridLevel l = map.level(t);
    if (first_point < 0 && (l != GridLevel::Off || t == cut_tick)) first_point = t;
    float& b = bias_[vocab::time_shift_token(k)];
    if (b == kForbidden) continue;
    if ((bar >= 0 && t > bar) || (l == GridLevel::Off && t != cut_tick)) {
      b = kForbidden;
      continue;
    }
    if (l != GridLevel::Off) b += options_.grid_level_prior[static_cast<int>(l)];
    any = true;
  }
  // Nothing left (a release deadline or a rest longer than 1 s): step to the nearest point of the grid.
  if (!any) {
    const int64_t k = first_point > 0 ? first_point - cursor_ticks_ : vocab::kMaxShiftTicks;
    bias_[vocab::time_shift_token(static_cast<int>(std::min<int64_t>(k, vocab::kMaxShiftTicks)))] = 0.0f;
  }
}

void Composer::generate_until(double until_seconds, std::vector<TimedToken>& out,
                              const std::atomic<bool>* cancel) {
  if (!started_) begin();
  static const std::vector<float> kNoBias;
  const int n = model_->config().vocab_size;
  while (cursor_seconds() < until_seconds) {
    if (cancel && cancel->load(std::memory_order_relaxed)) return;
    apply_emotion_at_cursor();
    if (options_.timing == Timing::Grid) {
      if (planner_.map().end_seconds() < cursor_seconds() + options_.tempo.horizon_seconds / 2 ||
          std::fabs(tempo_arousal() - planned_arousal_) > 0.05f)
        plan_grid();
    }
    const bool constrained = build_constraints();
    const int token = sampler_.sample(next_logits(), n, constrained ? bias_ : kNoBias, previous_token_);

    if (vocab::is_time_shift(token)) {
      cursor_ticks_ += vocab::time_shift_ticks(token);
      tokens_without_time_ = 0;
      step_note_ons_.fill(0);
    } else {
      ++tokens_without_time_;
    }
    if (token == vocab::kChordToken) {
      ++stats_.chords;
      const bool served = schedule_.serve_near(cursor_seconds());
      if (options_.sync == SyncMode::Hard && served) {
        ++stats_.forced_chords;
        chord_notes_needed_ = options_.chord_min_notes;
        tokens_since_chord_ = 0;
      }
    } else if (chord_notes_needed_ > 0) {
      ++tokens_since_chord_;
      if (vocab::is_note_token(token) && vocab::note_is_on(token) &&
          vocab::note_instrument(token) != vocab::Instrument::Drums)
        --chord_notes_needed_;
    }

    if (token == vocab::kBarToken) bar_emitted_tick_ = cursor_ticks_;
    if (vocab::is_note_token(token) && vocab::note_is_on(token))
      ++step_note_ons_[vocab::instrument_index(vocab::note_instrument(token))];
    track_note(token);
    track_density(token);
    track_pitches(token);
    const float boundary = boundary_value();
    session_.push(token, boundary);
    if (unconditioned_) unconditioned_->push(token, boundary);
    out.push_back({token, cursor_seconds()});
    previous_token_ = token;
    ++stats_.tokens;
  }
}

ComposerStats Composer::stats() const {
  ComposerStats s = stats_;
  s.prefills = session_.prefill_count() + (unconditioned_ ? unconditioned_->prefill_count() : 0);
  s.steps = session_.step_count() + (unconditioned_ ? unconditioned_->step_count() : 0);
  return s;
}

}  // namespace emsync::music
