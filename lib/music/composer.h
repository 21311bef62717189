// Composer: drives the generator token by token along the music timeline.
//
// It owns one GeneratorSession (KV cache), the Sampler (RNG), the BoundarySchedule (cuts ahead) and the
// emotion timeline, and produces tokens stamped with the time cursor. Turning tokens into MIDI messages is
// the job of lib/midi's TokenStreamDecoder.
//
// Sync modes:
//  - Soft: the reference behaviour: the model sees the seconds to the next cut and may or may not place a
//    <CHORD> there.
//  - Hard: constrained decoding: a time shift may not overshoot a pending cut, at the cut the <CHORD> token is
//    forced and followed by at least three non-drum note-ons before time moves on, and <CHORD> is not
//    allowed away from cuts. The chord onset lands on the 8 ms tick nearest the cut.
//  - None: the model gets no boundary information (every offset = horizon), for comparison.
#pragma once

#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "lib/midi/vocab.h"
#include "lib/music/boundary_schedule.h"
#include "lib/music/key_finding.h"
#include "lib/music/generator_model.h"
#include "lib/music/sampler.h"
#include "lib/music/performer.h"
#include "lib/music/tempo_map.h"

namespace emsync::music {

enum class SyncMode { Hard, Soft, None };
enum class InstrumentCount { More, Less };
// Grid: onsets on the planned beat grid (lib/music/tempo_map.h); Free: EMSYNC's free 8 ms timing.
enum class Timing { Grid, Free };
// What mode control favours: EMSYNC-era Krumhansl-Kessler key profile, or the flatter tonic-triad prior.
enum class ModeProfile { KrumhanslKessler, TonicTriad };

// Every parameter of the generator, with the values emsync ships (the defaults of emsyncmidigen's properties, of
// emsyncbin and of the emsync tool come from here). reference() is EMSYNC's own procedure.
struct ComposerOptions {
  SamplerOptions sampler;
  uint64_t seed = 0;
  SyncMode sync = SyncMode::Hard;
  BoundaryOptions boundaries;
  InstrumentCount instruments = InstrumentCount::More;
  // Threads of this composer's decoding step (1 or 2; a model below kParallelMinParameters steps on one) and of
  // the BLAS pool while it prefills (the pool itself is the process's: its size is set before each prefill).
  int threads = 1;
  // Re-condition the model when valence or arousal moved by more than this...
  float emotion_update_threshold = 0.1f;
  // ...but not more often than this (each update re-prefills the window).
  double emotion_update_interval_seconds = 2.0;
  // After a forced <CHORD>, this many non-drum note-ons must follow before time may move on.
  int chord_min_notes = 3;
  // Safety net: after this many tokens without time moving, only a time shift is allowed; 0 disables.
  int max_tokens_without_time = 96;
  // A note held longer than this is released: its OFF token is forced into the stream (so the model sees
  // it too). Small models sometimes forget to close notes; 0 disables. 4 s is the corpus's upper tail: 0.2-2.4 %
  // of its non-drum notes last 4 s or more and almost none 8 s, while with an 8 s limit ~5 % of the generated
  // notes hung until it, as drones that held most of the sounding time and of the synthesiser's voices.
  double max_note_seconds = 4.0;
  // Release push: a sounding note older than its instrument's corpus 95th-percentile length (bass 0.47 s, drums
  // 0.24, guitar 0.96, piano 1.33, strings 2.22; debian_free/POP909/EMOPIA, 80 files) gets
  //   release_push * ln(age / p95)
  // on its note-off, so the model closes what it forgot to long before max_note_seconds. Measured (3x3 emotion
  // grid, 2 seeds, 30 s): with the typed nucleus 18 % of pitched notes reached the 4 s release; push 3 left
  // 8.9 %, push 8 1.1 % (corpus 0.2 % of notes last 4 s). With all the note-level changes (emsync-gen-eval stats,
  // 5x5 grid, 30 s): push 8 2.8 %, push 16 0.0 % (notes < 100 ms 14.9 -> 13.7 %). 0 = off (the reference).
  double release_push = 16.0;
  // Note grammar: a note-on of a key that is already sounding and a note-off of a silent key are masked,
  // so the token stream itself is valid (the reference relies on its decoder to drop such events).
  bool note_grammar = true;
  // Re-strike guard (pitched notes; not drums): a key may not be struck again within restrike_gap_seconds of
  // its note-off, and a note may not end before it has lasted min_note_seconds. The training data's
  // re-articulation idiom (OFF_K, 1-tick shift, ON_K: 2.4 % of corpus note-ons) became a self-sustaining loop
  // under top-p 0.6: a key re-struck every 8-24 ms (with the shipped options 26 % of pitched notes re-struck
  // within 50 ms, 11 % lasted <= 10 ms; corpus after the tokenizer 0.1 % and 0.1 %). 48 ms (6 ticks) took both
  // to 0 and repeated pitches from 42 % to 11 %. 0 = off (the reference).
  double restrike_gap_seconds = 0.048;
  double min_note_seconds = 0.048;
  // Beat grid (Timing::Grid): a tempo map planned from the kept cuts (each on a bar line; the tempo follows the
  // arousal, TempoOptions), <BAR> forced at its bar lines and forbidden elsewhere, time shifts only onto grid
  // points (8ths, 16ths, 8th triplets) or the tick before one (a release before a re-attack), note-ons only on
  // grid points, at most max_step_note_ons note-ons per instrument (max_step_drum_ons for drums) in one time
  // step outside a forced chord. Without that cap the mass the model puts on smearing a chord over 1-tick
  // shifts went into more note-ons in the same step (prototype: steps with ~40 note-ons, 29.9 notes/s; capped
  // at 6: 20.8 notes/s and the most frequent gap between onsets a 16th). The model still sees the true time.
  Timing timing = Timing::Grid;
  TempoOptions tempo;
  // Logit prior of a time shift by the grid level it lands on (GridLevel order: downbeat, beat, 8th, 16th, 8th
  // triplet, the tick before a grid point), so strong positions are likelier, as in metrical music.
  std::array<float, 6> grid_level_prior{1.0f, 0.6f, 0.2f, -4.0f, -6.0f, -1.0f};
  int max_step_note_ons = 4;
  int max_step_drum_ons = 3;
  // Emotion guidance (classifier-free guidance): next-token logits are
  //   conditioned + g * (conditioned - unconditioned),
  // where "unconditioned" is a second session of the same model with the learned null valence/arousal
  // (training drops each label 20% of the time, which teaches the null vectors). g > 0 strengthens the
  // emotion's effect on the music at the cost of a second decoding step per token; 0 = the reference.
  double emotion_guidance = 0.0;
  // Density control, the arousal counterpart of sync=hard: arousal was learned as note density, so the
  // requested arousal is turned back into a target density with the model's own label scale
  // (GeneratorConfig::arousal_density_min/max) and note-event logits (on and off) are nudged by
  //   density_control * ln(target / density over the last density_window_seconds)   (clamped to +-4);
  // when that is negative (too dense), time shifts of n ticks also get -bias * ln(n)/ln(125), so the model
  // leaves a gap with one long shift rather than a chain of 8 ms ones.
  // 0 = off (the reference); no effect for models that do not declare their density scale or when the
  // arousal is unknown. On by default: the shipped models' own arousal response is weak (models/MODEL_CARD.md).
  double density_control = 5.0;
  // Density bias on note-ons only: when too sparse, long time shifts are penalised (-bias * ln(n)/ln(125))
  // instead of note-offs being favoured. Favouring offs with the ons made the just-released key the likeliest
  // next note-on (repeated pitches 21 -> 49 % with density control 5) and suppressed offs when too dense (5.7 %
  // of notes held to 4 s). The release push keeps the sounding notes in check instead. false = on and off events.
  bool density_on_note_ons_only = true;
  double density_window_seconds = 4.0;
  // Mode control, the valence counterpart: the valence labels (EMOPIA/VGMIDI) mostly separate major from
  // minor, which a small model follows only weakly. The key of the last mode_window_seconds of non-drum
  // note-ons is found (Krumhansl–Schmuckler); the target key is that key when its mode already matches the
  // sign of the valence, else its relative key (same scale, other mode: C major <-> A minor, so the music
  // shifts its emphasis rather than its notes). Note-on logits are then nudged by
  //   mode_control * |valence| * (the target key's standardised Krumhansl–Kessler weight of the pitch class),
  // shifted so that the total weight of note-ons stays what it was.
  // 0 = off (the reference); no effect while the valence is unknown or before mode_min_notes pitched notes.
  double mode_control = 1.5;
  // TonicTriad: +0.5 on the target key's tonic triad, 0 on its other scale tones (minor: natural minor plus the
  // raised 7th), -1 elsewhere (times mode_control * |valence|, then normalised as above). The standardised KK
  // weights made the tonic 6.3x the mean pitch class at |valence| 0.8 and, re-estimated from their own output,
  // collapsed the music onto two pitch classes (entropy 0.9 bits; corpus 2.7). With the triad prior the entropy
  // stays >= 2.6 at every valence (3x3 grid, all note-level fixes) and the major share still rises with valence
  // (1/6, 4/6, 6/6 pieces at valence -0.8 / 0 / +0.8); a scale-membership prior alone lost that (5/6, 5/6, 4/6).
  ModeProfile mode_profile = ModeProfile::TonicTriad;
  double mode_window_seconds = 8.0;
  int mode_min_notes = 8;
  // Dynamics, onset timing and the file-mode ending, applied where the tokens become MIDI (MidiStream;
  // lib/music/performer.h).
  VelocityOptions velocity;
  OnsetTimingOptions onset_timing;
  EndingOptions ending;

  // EMSYNC's procedure (emsync-reference.md §2d-2e): soft sync, the model alone (no density or mode control, no
  // guidance), no note grammar, no forced release of held notes, no limit on tokens without time.
  static ComposerOptions reference();
};

struct TimedToken {
  int token = 0;
  double time_seconds = 0.0;  // the time cursor after the token
};

struct ComposerStats {
  long tokens = 0;
  long chords = 0;
  long forced_chords = 0;
  long prefills = 0;
  long steps = 0;
};

class Composer {
 public:
  Composer(std::shared_ptr<const GeneratorModel> model, const ComposerOptions& options);

  // Offers a scene cut (seconds on the music timeline, increasing). Returns true if the schedule keeps it
  // (false when it is closer than min_gap to the previous kept cut, or already behind the cursor).
  bool add_cut(double time_seconds);
  // Emotion in effect from `time_seconds` on (NaN = unknown: the model's null condition).
  void set_emotion(double time_seconds, float valence, float arousal);
  // The music's final chord is at `seconds` (on the grid: the beat nearest to it): a kept cut however close the
  // last one is (or that cut itself when it lies at or after `seconds`), with the cadence of
  // ComposerOptions::ending leading into it. Kept cuts after `latest_seconds` are dropped (too close to the end
  // for a chord to ring) and the final chord stays at or before it. Returns its time, NaN when the cursor is
  // already past it.
  double set_final_chord(double seconds, double latest_seconds = std::numeric_limits<double>::infinity());

  // Generates until the cursor reaches `until_seconds` (or `cancel` becomes true). Appends to `out`.
  void generate_until(double until_seconds, std::vector<TimedToken>& out,
                      const std::atomic<bool>* cancel = nullptr);

  double cursor_seconds() const { return cursor_ticks_ * midi::kTickSeconds; }
  int instrument_token() const;
  const BoundarySchedule& schedule() const { return schedule_; }
  ComposerStats stats() const;
  const ComposerOptions& options() const { return options_; }
  // The planned beat grid (empty with Timing::Free).
  const TempoMap& tempo_map() const { return planner_.map(); }

 private:
  void begin();
  void apply_emotion_at_cursor();
  float boundary_value() const;
  // Fills bias_ for the next step; returns false when no constraint applies.
  bool build_constraints();
  bool build_timing_constraints();
  // Re-plans the tempo map after the cursor from the pending cuts and the arousal (Timing::Grid).
  void plan_grid();
  // The arousal the tempo follows: the current one, neutral while it is unknown.
  float tempo_arousal() const { return std::isnan(current_arousal_) ? 0.0f : current_arousal_; }
  // The grid's masks (bar lines, shifts onto grid points, onsets on grid points, the per-step note-on cap).
  void apply_grid_constraints();
  void mask_invalid_notes();
  // The density controller's bias for note-on tokens at the cursor (0 when it does not apply).
  float density_bias();
  void track_density(int token);
  // The mode controller's bias per pitch class (all 0 when it does not apply); returns false then.
  bool mode_bias(std::array<float, 12>& out) const;
  // The key of the recent pitched note-ons, turned to the valence's mode when mode control is on; tonic -1 while
  // there are too few notes.
  Key current_key() const;
  // The cadence's masks and bias near the final chord (EndingOptions::cadence); false when none applies.
  bool apply_cadence();
  void track_pitches(int token);
  // Adds the release push (ComposerOptions::release_push) to the note-offs of notes held past their length.
  void push_releases();
  // Index into note_started_ of the longest-held sounding note, else -1.
  int oldest_sounding_note() const;
  void track_note(int token);
  // The logits to sample from: the session's, or the guided mix.
  const float* next_logits();

  std::shared_ptr<const GeneratorModel> model_;
  ComposerOptions options_;
  GeneratorSession session_;
  std::unique_ptr<GeneratorSession> unconditioned_;  // only with emotion_guidance > 0
  std::vector<float> guided_logits_;
  Sampler sampler_;
  BoundarySchedule schedule_;

  struct EmotionSample {
    double time;
    float valence, arousal;
  };
  std::vector<EmotionSample> emotions_;
  float current_valence_;
  float current_arousal_;
  double last_emotion_update_ = -1e9;

  bool started_ = false;
  double final_chord_seconds_ = std::numeric_limits<double>::quiet_NaN();
  int64_t cursor_ticks_ = 0;
  int previous_token_ = 0;
  int chord_notes_needed_ = 0;
  int tokens_since_chord_ = 0;
  int tokens_without_time_ = 0;
  // Start tick of every sounding (instrument, pitch), -1 when silent.
  std::vector<int64_t> note_started_;
  // Tick of every (instrument, pitch)'s last note-off, -1 before the first (the re-strike guard).
  std::vector<int64_t> note_released_;
  std::vector<float> bias_;
  struct Onset {
    int64_t tick;
    int instrument;
  };
  std::vector<Onset> recent_onsets_;  // note-ons within the density window, oldest first
  struct PitchOnset {
    int64_t tick;
    int pitch_class;
  };
  std::vector<PitchOnset> recent_pitches_;  // non-drum note-ons within the mode window, oldest first
  ComposerStats stats_;
  TempoPlanner planner_;
  double planned_arousal_ = 0.0;                            // the arousal the tempo map was planned for
  int64_t bar_emitted_tick_ = -1;                           // tick of the last <BAR>
  std::array<int, midi::kNumInstruments> step_note_ons_{};  // note-ons since time last moved, per instrument
};

}  // namespace emsync::music
