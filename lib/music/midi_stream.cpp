#include "lib/music/midi_stream.h"

#include <algorithm>
#include <cmath>

#include "lib/midi/program_map.h"

namespace emsync::music {

MidiStream::MidiStream(std::shared_ptr<const GeneratorModel> model, const ComposerOptions& options,
                       const MidiStreamOptions& stream)
    : options_(stream),
      composer_(std::move(model), options),
      decoder_(0.0),
      performer_(options.velocity, options.onset_timing, options.seed) {}

bool MidiStream::add_cut(double time_seconds) {
  return composer_.add_cut(time_seconds);
}

void MidiStream::set_emotion(double time_seconds, float valence, float arousal) {
  composer_.set_emotion(time_seconds, valence, arousal);
  while (!arousal_.empty() && arousal_.back().time >= time_seconds) arousal_.pop_back();
  arousal_.push_back({time_seconds, arousal});
}

float MidiStream::arousal_at(double seconds) const {
  float a = std::numeric_limits<float>::quiet_NaN();
  for (const ArousalAt& e : arousal_) {
    if (e.time > seconds) break;
    a = e.arousal;
  }
  return a;
}

double MidiStream::seconds_to_cut(double seconds) const {
  for (const BoundarySchedule::Cut& c : composer_.schedule().cuts())
    if (c.time >= seconds - midi::kTickSeconds) return std::max(0.0, c.time - seconds);
  return std::numeric_limits<double>::infinity();
}

double MidiStream::last_bar_before(double seconds) const {
  double last = 0.0;
  for (const BoundarySchedule::Cut& c : composer_.schedule().cuts())
    if (c.time <= seconds + 1e-9) last = std::max(last, c.time);
  for (auto it = bars_.rbegin(); it != bars_.rend(); ++it)
    if (*it <= seconds + 1e-9) {
      last = std::max(last, *it);
      break;
    }
  return last;
}

static bool is_note_on(const midi::MidiEvent& e) {
  return (e.status & 0xF0) == 0x90 && e.data2 > 0;
}
static bool is_note_off(const midi::MidiEvent& e) {
  return (e.status & 0xF0) == 0x80 || ((e.status & 0xF0) == 0x90 && e.data2 == 0);
}

void MidiStream::perform(size_t first_event, double frontier_seconds) {
  struct On {
    size_t event;
    bool chord;
    bool top = false;
  };
  std::vector<On> ons;
  for (const TimedToken& t : tokens_) {
    const size_t before = events_.size();
    decoder_.push(t.token, events_);
    if (t.token == midi::kBarToken) bars_.push_back(t.time_seconds);
    if (t.token == midi::kChordToken) after_chord_ = true;
    if (midi::is_time_shift(t.token)) after_chord_ = false;
    for (size_t i = before; i < events_.size(); i++)
      if (is_note_on(events_[i])) ons.push_back({i, after_chord_});
  }
  const VelocityOptions& vo = performer_.options();
  if (vo.enabled) {
    // The top voice of each onset: the highest note-on of guitar, piano or strings at one time.
    for (size_t g = 0; g < ons.size();) {
      size_t end = g, top = ons.size();
      int top_pitch = -1;
      const double time = events_[ons[g].event].time_seconds;
      for (; end < ons.size() && events_[ons[end].event].time_seconds == time; end++) {
        const midi::MidiEvent& e = events_[ons[end].event];
        const int ch = e.status & 0x0F;
        if (ch == midi::kDrumChannel || ch == midi::output_channel(midi::Instrument::Bass)) continue;
        if (e.data1 > top_pitch) top_pitch = e.data1, top = end;
      }
      if (top < ons.size()) ons[top].top = true;
      g = end;
    }
    const TempoMap& map = composer_.tempo_map();
    for (const On& on : ons) {
      midi::MidiEvent& e = events_[on.event];
      NoteContext n;
      n.time = e.time_seconds;
      n.channel = e.status & 0x0F;
      n.pitch = e.data1;
      n.arousal = arousal_at(n.time);
      n.seconds_to_cut = seconds_to_cut(n.time);
      n.cut_chord = on.chord && n.seconds_to_cut <= midi::kTickSeconds;
      n.top_voice = on.top;
      e.data2 = static_cast<uint8_t>(performer_.velocity(n, map, last_bar_before(n.time)));
    }
  }
  // The ending's rules, and the sounding notes (for the final release).
  size_t kept = first_event;
  for (size_t i = first_event; i < events_.size(); i++) {
    const midi::MidiEvent& e = events_[i];
    const bool after_final = e.time_seconds > final_tick_seconds_ + 1e-6;
    const int ch = e.status & 0x0F;
    if (is_note_on(e)) {
      if (after_final) continue;
      sounding_[ch][e.data1 & 0x7F] = true;
    } else if (is_note_off(e)) {
      if (after_final || !sounding_[ch][e.data1 & 0x7F]) continue;
      sounding_[ch][e.data1 & 0x7F] = false;
    }
    events_[kept++] = e;
  }
  events_.resize(kept);
  if (performer_.timing().enabled) place_onsets(first_event, frontier_seconds);
}

// The Performer's onset timing for the new events: each instrument's note-ons of one tick move by its delays.
// A note-on stays before its own note-off and before `frontier_seconds` (the composer's cursor: the next slice's
// events are not earlier), so the events stay in time order after a stable sort.
void MidiStream::place_onsets(size_t first_event, double frontier_seconds) {
  constexpr double kGap = 0.001;
  const size_t n = events_.size();
  std::vector<double> grid_time(n);
  for (size_t i = first_event; i < n; i++) grid_time[i] = events_[i].time_seconds;
  std::vector<bool> done(n, false);
  std::vector<size_t> group;
  std::vector<int> pitches;
  std::vector<double> delays;
  for (size_t i = first_event; i < n; i++) {
    if (done[i] || !is_note_on(events_[i])) continue;
    const uint8_t status = events_[i].status;
    group.clear();
    pitches.clear();
    for (size_t j = i; j < n && grid_time[j] == grid_time[i]; j++)
      if (!done[j] && events_[j].status == status && is_note_on(events_[j])) {
        group.push_back(j);
        pitches.push_back(events_[j].data1);
        done[j] = true;
      }
    performer_.onset_delays(status & 0x0F, pitches, delays);
    for (size_t k = 0; k < group.size(); k++) {
      midi::MidiEvent& on = events_[group[k]];
      double limit = frontier_seconds;
      for (size_t j = group[k] + 1; j < n; j++)
        if (is_note_off(events_[j]) && events_[j].status == (0x80 | (status & 0x0F)) &&
            events_[j].data1 == on.data1) {
          limit = std::min(limit, events_[j].time_seconds);
          break;
        }
      on.time_seconds += std::clamp(limit - kGap - grid_time[i], 0.0, delays[k]);
    }
  }
  std::stable_sort(
      events_.begin() + static_cast<long>(first_event), events_.end(),
      [](const midi::MidiEvent& a, const midi::MidiEvent& b) { return a.time_seconds < b.time_seconds; });
}

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
  // After the final chord nothing more is played: no need to compose.
  if (composer_.cursor_seconds() <= final_tick_seconds_ + 1e-6)
    composer_.generate_until(slice_end, tokens_, cancel);
  perform(events_.size(), composer_.cursor_seconds());
  if (tokens) tokens->insert(tokens->end(), tokens_.begin(), tokens_.end());
  append_with_ticks(out);
  generated_until_ = std::max(slice_end, composer_.cursor_seconds());
  append_ticks_until(generated_until_, out);
  return true;
}

void MidiStream::plan_ending(double end_seconds) {
  const EndingOptions& ending = composer_.options().ending;
  const double final_time = end_seconds - ending.hold_seconds;
  // The final chord: a kept cut (with sync=hard its <CHORD> and notes are forced there), when the music has not
  // reached it yet.
  if (!ending.enabled || !std::isnan(final_seconds_) ||
      final_time <= composer_.cursor_seconds() + midi::kTickSeconds)
    return;
  const double chord = composer_.set_final_chord(final_time, end_seconds - ending.min_ring_seconds);
  if (std::isnan(chord)) return;
  final_seconds_ = chord;
  final_tick_seconds_ = midi::seconds_to_ticks(chord) * midi::kTickSeconds;
}

void MidiStream::finish(double end_seconds, std::vector<midi::MidiEvent>& out) {
  plan_ending(end_seconds);
  while (generate_slice(end_seconds, out)) {
  }
  // The notes played and not yet released (the decoder's own list also has the note-ons dropped after the final
  // chord, and lacks the notes whose note-off was dropped to hold them).
  const double when = std::max(end_seconds, decoder_.time_seconds());
  std::vector<midi::MidiEvent> unused;
  decoder_.flush(end_seconds, unused);
  for (int ch = 0; ch < 16; ch++)
    for (int pitch = 0; pitch < 128; pitch++)
      if (sounding_[ch][pitch]) {
        sounding_[ch][pitch] = false;
        events_.push_back({when, static_cast<uint8_t>(0x80 | ch), static_cast<uint8_t>(pitch), 0});
      }
  append_with_ticks(out);
  append_ticks_until(end_seconds + options_.tick_period_seconds / 2, out);
}

}  // namespace emsync::music
