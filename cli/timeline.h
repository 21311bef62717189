/* emsync CLI — the timeline picture: emotion curve, scene cuts and chord onsets on one time axis. */
#pragma once

#include <string>
#include <vector>

#include "lib/midi/notes.h"
#include "lib/midi/tokenizer.h"

namespace emsync::cli {

struct TimelineCut {
  double time;
  std::string kind; // cut, dissolve, fade
  double score = 0.0;
};

struct TimelineEmotion {
  double time;
  double valence, arousal;
};

struct TimelineData {
  std::vector<TimelineCut> cuts;
  std::vector<TimelineEmotion> emotion;      // empty: neutral
  std::vector<emsync::midi::MidiEvent> midi; // the generated channel messages, in stream time
};

// Notes of a stream of channel messages, read as lib/midi reads a file written with 1 ms ticks (what
// emsyncmidienc writes), so the picture shows what the .mid holds.
std::vector<emsync::midi::Note> notes_from_events (const std::vector<emsync::midi::MidiEvent> &events);

// Times of chord onsets: >= 3 pitched (non-drum) notes starting within one 8 ms tick.
std::vector<double> chord_onsets (const std::vector<emsync::midi::Note> &notes);

// Draws a PNG with cairo. Returns false and sets `why` on failure.
bool draw_timeline (const TimelineData &data, const std::string &png_path, std::string &why);

} // namespace emsync::cli
