#include "lib/scene/detector.h"

#include <algorithm>
#include <cmath>
#include <deque>

#include "lib/scene/analysis.h"
#include "lib/scene/ffmpeg_score.h"

namespace emsync {
namespace scene {

namespace {

// Content score weights (0..255 scale): luma, chroma and edge-map changes.
constexpr double kWeightLuma = 1.0;
constexpr double kWeightChroma = 2.0;
constexpr double kWeightEdges = 0.5;

// Adaptive hard cuts.
constexpr int kAdaptiveWindow = 2;            // neighbours on each side (PySceneDetect's window_width)
constexpr double kMinCutContent = 8.0;        // a cut's own content score must reach this
constexpr double kRepeatedFrameScore = 0.25;  // below: a repeated frame, not a neighbour
constexpr int kMaxNeighbourReach = 4;         // how far back to look for non-repeated neighbours
constexpr double kFlashMatchRatio = 0.5;      // before/after frames this similar (vs the spike): a flash

// Gradual transitions.
constexpr int kBlendHalfWindow = 4;         // compare frame t with the frames t-4 and t+4
constexpr double kMinBlendContrast = 4.0;   // (luma + chroma)/2 difference of the outer frames
constexpr double kMaxBlendResidual = 0.30;  // |2 mid - a - b| / 2, relative to the outer difference
constexpr double kMinBlendBalance = 0.25;   // both halves must carry a share of the change
constexpr double kMinCoarseBlendContrast = 6.0;
constexpr double kMaxCoarseBlendResidual = 0.30;
constexpr int kMinTransitionRun = 3;              // candidate frames in a row
constexpr double kMinTransitionContrast = 10.0;   // outer frames of the whole transition
constexpr double kMinTransitionHistogram = 0.12;  // colour histograms of those frames must differ
constexpr double kBlackMeanLuma = 32.0;
constexpr double kBlackStddevLuma = 10.0;

constexpr int kRingSize = 256;  // frames of history (longest transition ~ 8 s at 30 fps)

// Weighted mean of the components; grey input has no chroma, so its weight is left out of the mean.
double content_score(const FrameDelta& d, bool has_chroma) {
  const double chroma_weight = has_chroma ? kWeightChroma : 0.0;
  return (kWeightLuma * d.luma + chroma_weight * d.chroma + kWeightEdges * d.edges) /
         (kWeightLuma + chroma_weight + kWeightEdges);
}

double content_score(const AnalysisFrame& a, const AnalysisFrame& b) {
  return content_score(frame_delta(a, b, true), !a.u.empty());
}

double colour_difference(const FrameDelta& d) {
  return (d.luma + d.chroma) / 2.0;
}

bool is_black(const AnalysisFrame& f) {
  return f.mean_y < kBlackMeanLuma && f.stddev_y < kBlackStddevLuma;
}

}  // namespace

double default_threshold(Method method) {
  switch (method) {
    case Method::kFfmpeg:
      return kDefaultFfmpegThreshold;
    case Method::kContent:
      return kDefaultContentThreshold;
    case Method::kAdaptive:
    default:
      return kDefaultAdaptiveThreshold;
  }
}

const char* method_name(Method method) {
  switch (method) {
    case Method::kFfmpeg:
      return "ffmpeg";
    case Method::kContent:
      return "content";
    default:
      return "adaptive";
  }
}

const char* kind_name(TransitionKind kind) {
  switch (kind) {
    case TransitionKind::kDissolve:
      return "dissolve";
    case TransitionKind::kFade:
      return "fade";
    default:
      return "cut";
  }
}

class SceneDetector::Impl {
 public:
  explicit Impl(const DetectorConfig& config) : config_(config), analyzer_(config.analysis_width) {
    threshold_ = config.threshold >= 0.0 ? config.threshold : default_threshold(config.method);
    ring_.resize(kRingSize);
  }

  std::vector<Boundary> push(const FrameView& frame, std::int64_t pts);
  std::vector<Boundary> finish();
  void reset();

  Method method() const { return config_.method; }

  std::int64_t frames_seen_ = 0;
  FrameStats stats_;

 private:
  struct FrameRecord {
    AnalysisFrame picture;
    std::int64_t pts = -1;
    double score = 0.0;  // content score against the previous frame (0 for the first)
    bool blend_candidate = false;
  };

  struct Transition {
    std::int64_t first = 0, last = 0, middle = 0;
    double contrast = 0.0;
    bool black_before = false, black_after = false, black_inside = false;
  };

  FrameRecord& at(std::int64_t i) { return ring_[(std::size_t)(i % kRingSize)]; }
  bool have(std::int64_t i) const { return i >= 0 && i < frames_seen_ && frames_seen_ - i <= kRingSize; }
  std::int64_t pts_of(std::int64_t i);
  double seconds_between(std::int64_t a, std::int64_t b);

  void decide_adaptive_cut(std::int64_t k, std::int64_t newest, std::vector<Boundary>& out);
  void decide_blend(std::int64_t m, std::vector<Boundary>& out);
  void close_run(std::vector<Boundary>& out);
  void report_transition(const Transition& t, std::vector<Boundary>& out);
  void flush_pending_fade(std::int64_t newest, bool force, std::vector<Boundary>& out);
  void emit(Boundary b, std::vector<Boundary>& out);
  Boundary make_boundary(std::int64_t frame, std::int64_t first, std::int64_t last, double score,
                         TransitionKind kind);

  DetectorConfig config_;
  double threshold_;
  FrameAnalyzer analyzer_;
  FfmpegSceneScore ffmpeg_;
  std::vector<FrameRecord> ring_;
  std::int64_t first_pts_ = -1;

  // Gradual transition tracking.
  std::int64_t run_first_ = -1, run_last_ = -1;
  bool have_pending_fade_out_ = false;
  Transition pending_fade_out_;

  std::deque<Boundary> emitted_;  // recent boundaries, for the minimum scene duration
};

std::int64_t SceneDetector::Impl::pts_of(std::int64_t i) {
  if (have(i) && at(i).pts >= 0) return at(i).pts;
  const double base = first_pts_ >= 0 ? (double)first_pts_ : 0.0;
  return (std::int64_t)std::llround(base + (double)i * config_.frame_duration * 1e9);
}

double SceneDetector::Impl::seconds_between(std::int64_t a, std::int64_t b) {
  return std::fabs((double)(pts_of(b) - pts_of(a))) / 1e9;
}

Boundary SceneDetector::Impl::make_boundary(std::int64_t frame, std::int64_t first, std::int64_t last,
                                            double score, TransitionKind kind) {
  Boundary b;
  b.frame = frame;
  b.first_frame = first;
  b.last_frame = last;
  b.pts = pts_of(frame);
  b.first_pts = pts_of(first);
  b.last_pts = pts_of(last);
  b.score = score;
  b.kind = kind;
  return b;
}

void SceneDetector::Impl::emit(Boundary b, std::vector<Boundary>& out) {
  for (const Boundary& e : emitted_) {
    if (std::fabs((double)(b.pts - e.pts)) / 1e9 < config_.min_scene_duration) return;
  }
  // A boundary closer to the stream start than the minimum scene duration is allowed (the first shot
  // may be short), as EMSYNC's and PySceneDetect's filters measure from the previous cut only.
  emitted_.push_back(b);
  while (emitted_.size() > 16) emitted_.pop_front();
  out.push_back(b);
}

void SceneDetector::Impl::decide_adaptive_cut(std::int64_t k, std::int64_t newest,
                                              std::vector<Boundary>& out) {
  if (k < 1 || !have(k)) return;
  const double score = at(k).score;
  if (score < kMinCutContent) return;
  // Neighbours: the later frames up to kAdaptiveWindow, then earlier frames (at most kMaxNeighbourReach
  // back) until there are 2 * kAdaptiveWindow. Repeated frames (frame-rate conversion, a score of ~0) say
  // nothing about the motion level and are skipped; a static shot has no neighbours left and a mean of 0.
  double sum = 0.0;
  int n = 0;
  for (std::int64_t i = k + 1; i <= std::min(k + kAdaptiveWindow, newest); i++) {
    if (have(i) && at(i).score >= kRepeatedFrameScore) {
      sum += at(i).score;
      n++;
    }
  }
  for (std::int64_t i = k - 1; i >= 1 && i >= k - kMaxNeighbourReach && n < 2 * kAdaptiveWindow; i--) {
    if (have(i) && at(i).score >= kRepeatedFrameScore) {
      sum += at(i).score;
      n++;
    }
  }
  const double mean = n > 0 ? sum / n : 0.0;
  const double ratio = mean > 1e-5 ? std::min(score / mean, 255.0) : 255.0;
  if (ratio < threshold_) return;
  // Flash: a frame before the spike and one after it (not the spike frame itself) look alike.
  for (std::int64_t a = k - 1; a >= k - 3; a--) {
    for (std::int64_t b = k + 1; b <= std::min(k + 2, newest); b++) {
      if (!have(a) || !have(b)) continue;
      const double d = content_score(at(a).picture, at(b).picture);
      if (d < kFlashMatchRatio * score) return;
    }
  }
  emit(make_boundary(k, k, k, ratio, TransitionKind::kCut), out);
}

void SceneDetector::Impl::decide_blend(std::int64_t m, std::vector<Boundary>& out) {
  if (m < 0) return;
  const int h = kBlendHalfWindow;
  bool candidate = false;
  if (have(m - h) && have(m + h)) {
    const AnalysisFrame &a = at(m - h).picture, &mid = at(m).picture, &b = at(m + h).picture;
    const double contrast = colour_difference(frame_delta(a, b, false));
    stats_.blend_frame = m;
    stats_.blend_contrast = contrast;
    stats_.blend_residual = -1.0;
    stats_.coarse_contrast = 0.0;
    stats_.coarse_residual = -1.0;
    if (contrast >= kMinBlendContrast) {
      const double residual = blend_residual(a, mid, b);
      stats_.blend_residual = residual / contrast;
      if (residual <= kMaxBlendResidual * contrast) {
        const double to_mid = colour_difference(frame_delta(a, mid, false));
        const double from_mid = colour_difference(frame_delta(mid, b, false));
        candidate = std::min(to_mid, from_mid) >= kMinBlendBalance * contrast;
      }
    }
    // The same test on block means: motion inside the shots (which breaks the pixel-level blend) mostly
    // averages out there, while a dissolve between different shots is still a blend of its ends.
    const double coarse_contrast = coarse_difference(a, b);
    stats_.coarse_contrast = coarse_contrast;
    if (!candidate && coarse_contrast >= kMinCoarseBlendContrast) {
      const double residual = blend_residual(a, mid, b, true);
      stats_.coarse_residual = residual / coarse_contrast;
      if (residual <= kMaxCoarseBlendResidual * coarse_contrast) {
        const double to_mid = coarse_difference(a, mid), from_mid = coarse_difference(mid, b);
        candidate = std::min(to_mid, from_mid) >= kMinBlendBalance * coarse_contrast;
      }
    }
  }
  at(m).blend_candidate = candidate;
  if (candidate) {
    if (run_first_ < 0) run_first_ = m;
    run_last_ = m;
  } else if (run_first_ >= 0 && m > run_last_ + 1) {
    close_run(out);  // one non-candidate frame inside a run is tolerated
  }
}

void SceneDetector::Impl::close_run(std::vector<Boundary>& out) {
  const std::int64_t first = run_first_, last = run_last_;
  run_first_ = run_last_ = -1;
  if (first < 0 || last - first + 1 < kMinTransitionRun) return;
  const int h = kBlendHalfWindow;
  const std::int64_t outer_first = std::max<std::int64_t>(first - h, 0);
  const std::int64_t outer_last = std::min<std::int64_t>(last + h, frames_seen_ - 1);
  if (!have(outer_first) || !have(outer_last)) return;
  const AnalysisFrame &a = at(outer_first).picture, &b = at(outer_last).picture;
  Transition t;
  t.first = outer_first;
  t.last = outer_last;
  t.middle = (first + last + 1) / 2;
  t.contrast = colour_difference(frame_delta(a, b, false));
  if (t.contrast < kMinTransitionContrast) return;
  // The same scene moving (pans, zooms) keeps its colours; a change of shot does not.
  if (histogram_distance(a, b) < kMinTransitionHistogram && !is_black(a) && !is_black(b)) return;
  t.black_before = is_black(a);
  t.black_after = is_black(b);
  for (std::int64_t i = outer_first; i <= outer_last; i++)
    t.black_inside = t.black_inside || is_black(at(i).picture);
  report_transition(t, out);
}

void SceneDetector::Impl::report_transition(const Transition& t, std::vector<Boundary>& out) {
  const bool fade = t.black_before || t.black_after || t.black_inside;
  if (!fade) {
    flush_pending_fade(t.first, true, out);
    emit(make_boundary(t.middle, t.first, t.last, t.contrast, TransitionKind::kDissolve), out);
    return;
  }
  const bool fade_out = t.black_after && !t.black_before;
  const bool fade_in = t.black_before && !t.black_after;
  if (fade_in && have_pending_fade_out_) {
    // Fade out, a little black, fade in: one fade through black, placed at its middle.
    const Transition& o = pending_fade_out_;
    have_pending_fade_out_ = false;
    if (seconds_between(o.last, t.first) < config_.min_scene_duration || t.first <= o.last) {
      const std::int64_t middle = (o.middle + t.middle + 1) / 2;
      emit(make_boundary(middle, o.first, t.last, std::max(o.contrast, t.contrast), TransitionKind::kFade),
           out);
      return;
    }
    emit(make_boundary(o.middle, o.first, o.last, o.contrast, TransitionKind::kFade), out);
  }
  if (fade_out) {
    flush_pending_fade(t.first, true, out);
    pending_fade_out_ = t;
    have_pending_fade_out_ = true;
    return;
  }
  flush_pending_fade(t.first, true, out);
  emit(make_boundary(t.middle, t.first, t.last, t.contrast, TransitionKind::kFade), out);
}

// A pending fade-out becomes a boundary of its own once no fade-in can follow it closely enough.
void SceneDetector::Impl::flush_pending_fade(std::int64_t newest, bool force, std::vector<Boundary>& out) {
  if (!have_pending_fade_out_) return;
  if (!force) {
    if (run_first_ >= 0) return;  // a transition is in progress: it may be the fade-in
    const std::int64_t wait_until_frame = pending_fade_out_.last + 2 * kBlendHalfWindow + 2;
    if (newest < wait_until_frame ||
        seconds_between(pending_fade_out_.last, newest - 2 * kBlendHalfWindow) < config_.min_scene_duration)
      return;
  }
  have_pending_fade_out_ = false;
  const Transition& o = pending_fade_out_;
  emit(make_boundary(o.middle, o.first, o.last, o.contrast, TransitionKind::kFade), out);
}

std::vector<Boundary> SceneDetector::Impl::push(const FrameView& frame, std::int64_t pts) {
  std::vector<Boundary> out;
  const std::int64_t t = frames_seen_;
  if (t == 0) first_pts_ = pts;
  FrameRecord& rec = at(t);
  rec.pts = pts;
  rec.blend_candidate = false;
  stats_.frame = t;

  if (config_.method == Method::kFfmpeg) {
    rec.score = ffmpeg_.next(frame);
    frames_seen_++;
    stats_.score = rec.score;
    stats_.mean_luma = 0.0;
    if (t > 0 && rec.score > threshold_) emit(make_boundary(t, t, t, rec.score, TransitionKind::kCut), out);
    return out;
  }

  analyzer_.analyze(frame, rec.picture);
  rec.score = 0.0;
  if (t > 0 && have(t - 1) && at(t - 1).picture.y.same_size(rec.picture.y))
    rec.score = content_score(at(t - 1).picture, rec.picture);
  frames_seen_++;
  stats_.score = rec.score;
  stats_.mean_luma = rec.picture.mean_y;

  if (config_.method == Method::kContent) {
    if (t > 0 && rec.score >= threshold_) emit(make_boundary(t, t, t, rec.score, TransitionKind::kCut), out);
    return out;
  }

  decide_adaptive_cut(t - kAdaptiveWindow, t, out);
  decide_blend(t - kBlendHalfWindow, out);
  flush_pending_fade(t, false, out);
  std::sort(out.begin(), out.end(), [](const Boundary& x, const Boundary& y) { return x.frame < y.frame; });
  return out;
}

std::vector<Boundary> SceneDetector::Impl::finish() {
  std::vector<Boundary> out;
  if (config_.method == Method::kAdaptive && frames_seen_ > 0) {
    const std::int64_t newest = frames_seen_ - 1;
    // Frames whose +-2 window is cut short by the end: judge them with the neighbours that exist.
    for (std::int64_t k = std::max<std::int64_t>(1, newest - kAdaptiveWindow + 1); k <= newest; k++)
      decide_adaptive_cut(k, newest, out);
    if (run_first_ >= 0) close_run(out);
    flush_pending_fade(newest, true, out);
  }
  std::sort(out.begin(), out.end(), [](const Boundary& x, const Boundary& y) { return x.frame < y.frame; });
  return out;
}

void SceneDetector::Impl::reset() {
  frames_seen_ = 0;
  first_pts_ = -1;
  run_first_ = run_last_ = -1;
  have_pending_fade_out_ = false;
  emitted_.clear();
  ffmpeg_.reset();
  stats_ = FrameStats();
}

SceneDetector::SceneDetector(const DetectorConfig& config) : impl_(new Impl(config)) {}
SceneDetector::~SceneDetector() = default;

std::vector<Boundary> SceneDetector::push(const FrameView& frame, std::int64_t pts) {
  return impl_->push(frame, pts);
}

std::vector<Boundary> SceneDetector::finish() {
  return impl_->finish();
}

void SceneDetector::reset() {
  impl_->reset();
}

std::int64_t SceneDetector::frames_seen() const {
  return impl_->frames_seen_;
}

const FrameStats& SceneDetector::last_stats() const {
  return impl_->stats_;
}

int SceneDetector::cut_decision_delay() const {
  return impl_->method() == Method::kAdaptive ? kAdaptiveWindow : 0;
}

}  // namespace scene
}  // namespace emsync
