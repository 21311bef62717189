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
#include <memory>
#include <vector>

#include "lib/midi/vocab.h"
#include "lib/music/boundary_schedule.h"
#include "lib/music/generator_model.h"
#include "lib/music/sampler.h"

namespace emsync::music {

enum class SyncMode { Hard, Soft, None };
enum class InstrumentCount { More, Less };

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
  // Note grammar: a note-on of a key that is already sounding and a note-off of a silent key are masked,
  // so the token stream itself is valid (the reference relies on its decoder to drop such events).
  bool note_grammar = true;
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
  double mode_window_seconds = 8.0;
  int mode_min_notes = 8;

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

  // Generates until the cursor reaches `until_seconds` (or `cancel` becomes true). Appends to `out`.
  void generate_until(double until_seconds, std::vector<TimedToken>& out,
                      const std::atomic<bool>* cancel = nullptr);

  double cursor_seconds() const { return cursor_ticks_ * midi::kTickSeconds; }
  int instrument_token() const;
  const BoundarySchedule& schedule() const { return schedule_; }
  ComposerStats stats() const;
  const ComposerOptions& options() const { return options_; }

 private:
  void begin();
  void apply_emotion_at_cursor();
  float boundary_value() const;
  // Fills bias_ for the next step; returns false when no constraint applies.
  bool build_constraints();
  bool build_timing_constraints();
  void mask_invalid_notes();
  // The density controller's bias for note-on tokens at the cursor (0 when it does not apply).
  float density_bias();
  void track_density(int token);
  // The mode controller's bias per pitch class (all 0 when it does not apply); returns false then.
  bool mode_bias(std::array<float, 12>& out) const;
  void track_pitches(int token);
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
  int64_t cursor_ticks_ = 0;
  int previous_token_ = 0;
  int chord_notes_needed_ = 0;
  int tokens_since_chord_ = 0;
  int tokens_without_time_ = 0;
  // Start tick of every sounding (instrument, pitch), -1 when silent.
  std::vector<int64_t> note_started_;
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
};

}  // namespace emsync::music
