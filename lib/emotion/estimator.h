// Per-stream emotion estimation: per-frame motion and cut tracking, analysis of selected frames
// (faces + scene affect + fusion), exponential smoothing over time, and the whole-stream mean for
// EMSYNC's one-value-per-video behaviour.
#pragma once

#include <deque>
#include <memory>
#include <vector>

#include "lib/emotion/face_analyzer.h"
#include "lib/emotion/fusion.h"

namespace emsync::emotion {

struct EstimatorConfig {
  double smoothing_s = 2.0;  // time constant of the exponential smoothing (0: none)
  // Faces: with faces in view, their expressions are classified again every face_interval_s at the same places
  // and the faces looked for anew every 3 face intervals; with none, looked for every 2 face intervals; after
  // a cut, looked for at the first analysis at least half a face interval after the previous look. Analyses in
  // between reuse the last faces.
  double face_interval_s = 2.0;
  int detection_width = 192;      // width of the grey copy the face detector runs on (faces >= 1/8 of it)
  int colour_grid_width = 48;     // samples per row for colour statistics
  double rhythm_window_s = 10.0;  // shot lengths are averaged over this much recent video
};

struct Estimate {
  ValenceArousal valence_arousal;  // this frame's (unsmoothed) value
  double confidence = 0.0;
  std::vector<FaceResult> faces;
  SceneAffectInputs scene_inputs;
  SceneAffect scene;
  Features features{};
};

class EmotionEstimator {
 public:
  // Any of the models may be null: no face model or detector = scene affect only; no fusion model = the
  // default fusion.
  EmotionEstimator(std::shared_ptr<const FaceExpressionModel> face_model,
                   std::shared_ptr<const FaceDetector> detector, std::shared_ptr<const FusionModel> fusion,
                   EstimatorConfig config = {});

  // Every frame (cheap): motion activity and, unless cuts are reported by upstream (note_cut), cut detection.
  void observe_frame(const FrameView& frame, double time_s);
  // A shot boundary reported by emsyncscenecut (meta or event); disables the internal cut detector.
  void note_cut(double time_s);
  // Full analysis of one frame; updates the smoothed value and the whole-stream mean.
  Estimate analyse(const FrameView& frame, double time_s);

  ValenceArousal smoothed() const { return smoothed_; }
  double smoothed_confidence() const { return smoothed_confidence_; }
  bool has_value() const { return has_value_; }
  // Confidence-weighted mean over every analysis since reset (EMSYNC's single value per video).
  Estimate whole_stream() const;
  std::size_t analyses() const { return analyses_; }
  std::size_t cuts_seen() const { return cut_count_; }

  void set_smoothing(double seconds) { config_.smoothing_s = seconds; }
  void set_face_interval(double seconds) { config_.face_interval_s = seconds; }
  std::size_t face_analyses() const {
    return face_analyses_;
  }  // looks at faces (detections + reclassifications)
  std::size_t face_detections() const { return face_detections_; }
  void reset();

 private:
  double mean_shot_length(double time_s) const;

  std::unique_ptr<FaceAnalyzer> faces_;
  std::shared_ptr<const FusionModel> fusion_;
  EstimatorConfig config_;

  std::vector<float> grid_, prev_grid_;
  double motion_sum_ = 0.0, motion_mean_ = 0.0;
  int motion_frames_ = 0;
  bool upstream_cuts_ = false;
  std::deque<double> cuts_;
  std::size_t cut_count_ = 0;
  double first_time_ = -1.0, last_frame_time_ = -1.0;

  std::vector<FaceResult> last_faces_;
  double last_face_time_ = -1.0, last_detection_time_ = -1.0;
  std::size_t face_detections_ = 0;
  std::size_t cuts_at_last_faces_ = 0;

  bool has_value_ = false;
  double last_analysis_time_ = 0.0;
  ValenceArousal smoothed_;
  double smoothed_confidence_ = 0.0;

  std::size_t analyses_ = 0, face_analyses_ = 0;
  double sum_weight_ = 0.0, sum_valence_ = 0.0, sum_arousal_ = 0.0, sum_confidence_ = 0.0;
};

}  // namespace emsync::emotion
