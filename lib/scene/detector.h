// emsync scene engine — shot-boundary detectors.
//
// Three methods share one interface (frames in, boundaries out):
//  - kAdaptive (default): content score (luma + chroma + edge changes on a downscaled frame) of each frame
//    against the previous one; a hard cut is a score that stands out from its +-2 neighbours by the
//    adaptive ratio (PySceneDetect's AdaptiveDetector idea) and exceeds a minimum. A flash (one or two
//    frames whose neighbours before and after match) is not a cut; repeated frames (frame-rate
//    conversion) are left out of the neighbour mean. Gradual transitions are found apart: a frame that is
//    the average of the frames 4 before and 4 after it, while those two differ a lot, lies inside a
//    cross-dissolve or a fade (tested on the analysis picture and on 16-pixel-wide block means, where
//    moderate motion averages out); a run of such frames whose outer frames also differ in colour
//    histogram is one transition, placed at its middle. It is a fade when black frames take part; a
//    fade-out followed by a fade-in with less black between them than the minimum scene duration is one
//    fade through black, placed at its middle.
//  - kContent: the same content score against a fixed threshold (PySceneDetect's ContentDetector idea).
//  - kFfmpeg: FFmpeg's scene score (full-resolution luma of YUV, all bytes of RGB) against a threshold
//    (EMSYNC's method).
//
// A decision about frame t needs later frames: 2 for adaptive cuts, about half a transition plus 4 for
// gradual ones. Boundaries are therefore reported after the frame they name; Boundary::frame says which.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "lib/scene/frame_view.h"

namespace emsync {
namespace scene {

enum class Method { kAdaptive = 0, kFfmpeg = 1, kContent = 2 };
enum class TransitionKind { kCut = 0, kDissolve = 1, kFade = 2 };

constexpr double kDefaultAdaptiveThreshold = 5.0;  // ratio of a frame's score to its neighbours' mean
constexpr double kDefaultContentThreshold = 25.0;  // content score (0..255 scale)
constexpr double kDefaultFfmpegThreshold = 0.27;   // FFmpeg scene score (0..1), as in EMSYNC
constexpr double kDefaultMinSceneDuration = 0.5;   // seconds
constexpr int kDefaultAnalysisWidth = 160;         // pixels (rounded to an integer decimation)

// The threshold a method uses when the caller passes a negative one.
double default_threshold(Method method);
const char* method_name(Method method);
const char* kind_name(TransitionKind kind);

struct DetectorConfig {
  Method method = Method::kAdaptive;
  double threshold = -1.0;  // < 0: default_threshold (method)
  double min_scene_duration = kDefaultMinSceneDuration;
  int analysis_width = kDefaultAnalysisWidth;
  double frame_duration = 1.0 / 30.0;  // seconds; used for frames without a timestamp
};

struct Boundary {
  std::int64_t frame = 0;        // index of the first frame of the new shot (middle of a transition)
  std::int64_t pts = -1;         // that frame's timestamp in nanoseconds (-1 if frames had none)
  std::int64_t first_frame = 0;  // span of a gradual transition (== frame for a cut)
  std::int64_t last_frame = 0;
  std::int64_t first_pts = -1;
  std::int64_t last_pts = -1;
  double score = 0.0;  // method-specific strength (adaptive: ratio or blend contrast)
  TransitionKind kind = TransitionKind::kCut;
};

// What the detector measured for one frame (for logs and tuning).
struct FrameStats {
  std::int64_t frame = -1;
  double score = 0.0;  // content score or FFmpeg scene score against the previous frame
  double mean_luma = 0.0;
  // Blend test of the frame 4 back (adaptive): difference of its outer frames and how far it is from
  // their average, relative to that difference (near 0 inside a dissolve or fade).
  std::int64_t blend_frame = -1;
  double blend_contrast = 0.0;
  double blend_residual = 0.0;
  double coarse_contrast = 0.0;  // the same on block means
  double coarse_residual = 0.0;
};

class SceneDetector {
 public:
  explicit SceneDetector(const DetectorConfig& config);
  ~SceneDetector();
  SceneDetector(const SceneDetector&) = delete;
  SceneDetector& operator=(const SceneDetector&) = delete;

  // Analyses the next frame (presentation order; @pts in ns or -1) and returns the boundaries that became
  // certain with it, oldest first. They name earlier frames when the method needs to look ahead.
  std::vector<Boundary> push(const FrameView& frame, std::int64_t pts);
  // End of stream: decides what is still pending with the frames seen so far.
  std::vector<Boundary> finish();
  // Forgets all frames (flush, new stream, new caps).
  void reset();

  std::int64_t frames_seen() const;
  const FrameStats& last_stats() const;
  // Frames of look-ahead a hard-cut decision needs (0 for kFfmpeg and kContent, 2 for kAdaptive).
  int cut_decision_delay() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace scene
}  // namespace emsync
