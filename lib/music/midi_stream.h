// MidiStream: the generator's music as timed MIDI messages, for whoever plays it while it is composed
// (emsyncmidigen, the tests, emsync-gen-eval).
//
// It owns a Composer and lib/midi's TokenStreamDecoder. Cuts and emotion go in on the music timeline (seconds
// from the start of the music); music is generated towards a target time in slices, so that a caller can stop
// between two of them and hand on the MIDI of one while the next is composed. Messages come out in time order (a
// tick within a nanosecond of a note may follow it):
// the program changes first, then the notes of each slice and, when a tick period is set, a MIDI tick between
// them every period, so that a synthesiser advances through silence. finish() ends the music: every sounding
// note is released.
//
// Dynamics: each note-on's velocity is the Performer's (ComposerOptions::velocity; the reference keeps the
// decoder's fixed 80/120). The ending (ComposerOptions::ending): finish() plans a final chord hold_seconds
// before the end (a kept cut: forced with sync=hard), starts no note after it and releases everything at the end.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "lib/midi/tokenizer.h"
#include "lib/music/composer.h"
#include "lib/music/performer.h"

namespace emsync::music {

// MIDI's "tick" system real-time message (the MIDI 1.0 specification sends one every 10 ms): advances time,
// plays nothing. Its period in a stream is the caller's (MidiStreamOptions::tick_period_seconds): unrelated to
// the 8 ms time step of the model's vocabulary (midi::kTickSeconds).
constexpr uint8_t kMidiTickStatus = 0xF9;

struct MidiStreamOptions {
  // Music composed per generate_slice() call.
  double slice_seconds = 0.25;
  // Period of the tick messages between the notes; 0 = none.
  double tick_period_seconds = 0.0;
};

class MidiStream {
 public:
  MidiStream(std::shared_ptr<const GeneratorModel> model, const ComposerOptions& options,
             const MidiStreamOptions& stream = {});

  // A scene cut at `time_seconds`; true when the music will mark it (Composer::add_cut).
  bool add_cut(double time_seconds);
  // Emotion from `time_seconds` on (NaN = unknown).
  void set_emotion(double time_seconds, float valence, float arousal);

  // Appends the messages of the next slice of music towards `until_seconds` (at most slice_seconds of it), with
  // the ticks up to the time composed; the first call starts with the program changes. Returns false (having
  // appended at most the program changes) when the music already reaches `until_seconds`. When `cancel` becomes
  // true the composer stops between two tokens; the stream is then only good for being thrown away. `tokens`, when
  // given, receives the slice's tokens too (for measuring them).
  bool generate_slice(double until_seconds, std::vector<midi::MidiEvent>& out,
                      const std::atomic<bool>* cancel = nullptr, std::vector<TimedToken>* tokens = nullptr);
  // Ends the music at `end_seconds`: plans the ending (ComposerOptions::ending) when the music has not yet reached
  // its final chord's time, composes what is missing up to it, then appends note-offs for every sounding note (at
  // end_seconds, or later where the last token already is) and the ticks up to the end.
  void finish(double end_seconds, std::vector<midi::MidiEvent>& out);
  // Plans the ending for music that ends at `end_seconds` (finish() does it too, when not done before).
  void plan_ending(double end_seconds);
  // The final chord's time planned; NaN when there is none.; NaN when there is none.
  double final_chord_seconds() const { return final_seconds_; }

  // The music time composed so far (at least the target of the last slice).
  double generated_until() const { return generated_until_; }
  const Composer& composer() const { return composer_; }

 private:
  void append_ticks_until(double until, std::vector<midi::MidiEvent>& out);
  void append_with_ticks(std::vector<midi::MidiEvent>& out);
  // Decodes tokens_ into events_, with the Performer's velocities and the ending's rules.
  void perform(size_t first_event, double frontier_seconds);
  void place_onsets(size_t first_event, double frontier_seconds);
  float arousal_at(double seconds) const;
  double seconds_to_cut(double seconds) const;
  double last_bar_before(double seconds) const;

  MidiStreamOptions options_;
  Composer composer_;
  midi::TokenStreamDecoder decoder_;
  bool programs_sent_ = false;
  double generated_until_ = 0.0;
  double next_tick_ = 0.0;
  Performer performer_;
  struct ArousalAt {
    double time;
    float arousal;
  };
  std::vector<ArousalAt> arousal_;
  std::vector<double> bars_;  // times of the <BAR> tokens
  bool after_chord_ = false;
  // The ending: no note-on after the final chord's tick, the notes sounding then held to the end.
  double final_seconds_ = std::numeric_limits<double>::quiet_NaN();
  double final_tick_seconds_ = std::numeric_limits<double>::infinity();
  std::array<std::array<bool, 128>, 16> sounding_{};
  // Scratch, reused between slices.
  std::vector<TimedToken> tokens_;
  std::vector<midi::MidiEvent> events_;
};

}  // namespace emsync::music
