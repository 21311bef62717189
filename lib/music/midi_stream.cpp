#include "lib/music/midi_stream.h"

#include <algorithm>

namespace emsync::music {

MidiStream::MidiStream(std::shared_ptr<const GeneratorModel> model, const ComposerOptions& options,
                       const MidiStreamOptions& stream)
    : options_(stream), composer_(std::move(model), options), decoder_(0.0) {}

void MidiStream::append_ticks_until(double until, std::vector<midi::MidiEvent>& out) {
  if (options_.tick_period_seconds <= 0.0) return;
  // Accumulated rather than multiplied: the times of the stream emsyncmidigen has always produced.
  while (next_tick_ < until - 1e-9) {
    out.push_back({next_tick_, kMidiTickStatus, 0, 0});
    next_tick_ += options_.tick_period_seconds;
  }
}

// Moves events_ to `out`, each preceded by the ticks due before it.
void MidiStream::append_with_ticks(std::vector<midi::MidiEvent>& out) {
  for (const midi::MidiEvent& e : events_) {
    append_ticks_until(e.time_seconds, out);
    out.push_back(e);
  }
  events_.clear();
}

bool MidiStream::generate_slice(double until_seconds, std::vector<midi::MidiEvent>& out,
                                const std::atomic<bool>* cancel, std::vector<TimedToken>* tokens) {
  if (!programs_sent_) {
    decoder_.start(events_);
    append_with_ticks(out);
    programs_sent_ = true;
  }
  if (generated_until_ >= until_seconds) return false;
  const double slice_end = std::min(until_seconds, generated_until_ + options_.slice_seconds);
  tokens_.clear();
  composer_.generate_until(slice_end, tokens_, cancel);
  for (const TimedToken& t : tokens_) decoder_.push(t.token, events_);
  if (tokens) tokens->insert(tokens->end(), tokens_.begin(), tokens_.end());
  append_with_ticks(out);
  generated_until_ = std::max(slice_end, composer_.cursor_seconds());
  append_ticks_until(generated_until_, out);
  return true;
}

void MidiStream::finish(double end_seconds, std::vector<midi::MidiEvent>& out) {
  while (generate_slice(end_seconds, out)) {
  }
  decoder_.flush(end_seconds, events_);
  append_with_ticks(out);
  append_ticks_until(end_seconds + options_.tick_period_seconds / 2, out);
}

}  // namespace emsync::music
