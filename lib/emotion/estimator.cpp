#include "lib/emotion/estimator.h"

#include <algorithm>
#include <cmath>

namespace emsync::emotion {

namespace {
constexpr int kGridWidth = 32, kGridHeight = 18;
// Internal cut detector (only without emsyncscenecut upstream): a coarse-grid luma change this large, and
// well above the recent motion level, is a cut.
constexpr double kCutChange = 0.10, kCutOverMotion = 3.0;
}  // namespace

EmotionEstimator::EmotionEstimator(std::shared_ptr<const FaceExpressionModel> face_model,
                                   std::shared_ptr<const FaceDetector> detector,
                                   std::shared_ptr<const FusionModel> fusion, EstimatorConfig config)
    : fusion_(std::move(fusion)), config_(config) {
  if (face_model && detector)
    faces_ =
        std::make_unique<FaceAnalyzer>(std::move(face_model), std::move(detector), config.detection_width);
}

void EmotionEstimator::reset() {
  grid_.clear();
  prev_grid_.clear();
  motion_sum_ = motion_mean_ = 0.0;
  motion_frames_ = 0;
  upstream_cuts_ = false;
  cuts_.clear();
  cut_count_ = 0;
  first_time_ = last_frame_time_ = -1.0;
  last_faces_.clear();
  last_face_time_ = last_detection_time_ = -1.0;
  face_detections_ = 0;
  cuts_at_last_faces_ = 0;
  face_analyses_ = 0;
  has_value_ = false;
  last_analysis_time_ = 0.0;
  smoothed_ = {};
  smoothed_confidence_ = 0.0;
  analyses_ = 0;
  sum_weight_ = sum_valence_ = sum_arousal_ = sum_confidence_ = 0.0;
}

void EmotionEstimator::note_cut(double time_s) {
  if (!upstream_cuts_) {  // from now on upstream is the authority on cuts
    upstream_cuts_ = true;
    cuts_.clear();
  }
  if (cuts_.empty() || time_s > cuts_.back()) {
    cuts_.push_back(time_s);
    ++cut_count_;
  }
}

void EmotionEstimator::observe_frame(const FrameView& frame, double time_s) {
  if (first_time_ < 0.0) first_time_ = time_s;
  last_frame_time_ = time_s;
  sample_luma_grid(frame, kGridWidth, kGridHeight, grid_);
  if (!prev_grid_.empty()) {
    double change = mean_absolute_difference(grid_, prev_grid_);
    bool cut = change > kCutChange && change > kCutOverMotion * std::max(motion_mean_, 0.01);
    if (cut && !upstream_cuts_) {
      cuts_.push_back(time_s);
      ++cut_count_;
    }
    if (!cut) {  // a cut is not motion
      motion_sum_ += change;
      ++motion_frames_;
      motion_mean_ = 0.9 * motion_mean_ + 0.1 * change;
    }
  }
  std::swap(grid_, prev_grid_);
  while (!cuts_.empty() && cuts_.front() < time_s - config_.rhythm_window_s) cuts_.pop_front();
}

// Average shot length over the recent window: window / (cuts in it + 1), the window being at most
// rhythm_window_s and at least 4 s (so the start of a stream is not taken for fast editing).
double EmotionEstimator::mean_shot_length(double time_s) const {
  double span = first_time_ >= 0.0 ? time_s - first_time_ : 0.0;
  span = std::clamp(span, 4.0, config_.rhythm_window_s);
  std::size_t recent = 0;
  for (double c : cuts_)
    if (c >= time_s - span && c <= time_s) ++recent;
  return span / (recent + 1);
}

Estimate EmotionEstimator::analyse(const FrameView& frame, double time_s) {
  Estimate e;
  e.scene_inputs.colour = colour_stats(frame, config_.colour_grid_width);
  e.scene_inputs.motion_activity = motion_frames_ > 0 ? motion_sum_ / motion_frames_ : motion_mean_;
  motion_sum_ = 0.0;
  motion_frames_ = 0;
  e.scene_inputs.mean_shot_length_s = mean_shot_length(time_s);
  e.scene = scene_affect(e.scene_inputs);
  // Faces change slower than the analysis rate and their detection costs most (see EstimatorConfig).
  if (faces_) {
    const double fi = config_.face_interval_s;
    const bool fresh = last_face_time_ < 0.0 || time_s < last_face_time_;
    const double since_look = time_s - last_face_time_, since_detection = time_s - last_detection_time_;
    const bool cut = cut_count_ != cuts_at_last_faces_;
    if (fresh || (cut && since_look >= 0.5 * fi - 1e-6) ||
        since_detection >= (last_faces_.empty() ? 2.0 : 3.0) * fi - 1e-6) {
      last_faces_ = faces_->analyse(frame);
      last_face_time_ = last_detection_time_ = time_s;
      cuts_at_last_faces_ = cut_count_;
      ++face_analyses_;
      ++face_detections_;
    } else if (cut) {
      last_faces_.clear();  // the faces of the previous shot are gone; look again soon
    } else if (!last_faces_.empty() && since_look >= fi - 1e-6) {
      last_faces_ = faces_->reclassify(frame, last_faces_);
      last_face_time_ = time_s;
      ++face_analyses_;
    }
    e.faces = last_faces_;
  }
  e.features = make_features(e.faces, e.scene_inputs, e.scene);
  Fused fused = fusion_ ? fusion_->run(e.features) : default_fusion(e.features);
  e.valence_arousal = fused.valence_arousal;
  e.confidence = fused.confidence;

  if (!has_value_ || config_.smoothing_s <= 0.0) {
    smoothed_ = e.valence_arousal;
    smoothed_confidence_ = e.confidence;
  } else {
    double dt = std::max(0.0, time_s - last_analysis_time_);
    double a = 1.0 - std::exp(-dt / config_.smoothing_s);
    smoothed_.valence += a * (e.valence_arousal.valence - smoothed_.valence);
    smoothed_.arousal += a * (e.valence_arousal.arousal - smoothed_.arousal);
    smoothed_confidence_ += a * (e.confidence - smoothed_confidence_);
  }
  has_value_ = true;
  last_analysis_time_ = time_s;

  ++analyses_;
  double w = std::max(1e-6, e.confidence);
  sum_weight_ += w;
  sum_valence_ += w * e.valence_arousal.valence;
  sum_arousal_ += w * e.valence_arousal.arousal;
  sum_confidence_ += e.confidence;
  return e;
}

Estimate EmotionEstimator::whole_stream() const {
  Estimate e;
  if (analyses_ == 0) return e;
  e.valence_arousal = {sum_valence_ / sum_weight_, sum_arousal_ / sum_weight_};
  e.confidence = sum_confidence_ / analyses_;
  return e;
}

}  // namespace emsync::emotion
