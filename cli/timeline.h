/* emsync CLI — the timeline picture: emotion curve, scene cuts and chord onsets on one time axis. */
#pragma once

#include <string>
#include <vector>

namespace emsync::cli {

struct TimelineCut {
  double time;
  std::string kind;  // cut, dissolve, fade
};

struct TimelineEmotion {
  double time;
  double valence, arousal;
};

struct TimelineData {
  std::vector<TimelineCut> cuts;
  std::vector<TimelineEmotion> emotion;  // empty: neutral
};

// Times of chord onsets: >= 3 pitched (non-drum) notes starting within one 8 ms tick.
std::vector<double> chord_onsets(const std::string& midi_path);

// Draws a PNG with cairo. Returns false and sets `why` on failure.
bool draw_timeline(const TimelineData& data, const std::string& midi_path, const std::string& png_path,
                   std::string& why);

}  // namespace emsync::cli
