#include "lib/emotion/face_analyzer.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <opencv2/core/utility.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

namespace emsync::emotion {

std::size_t FaceResult::top_expression() const {
  return static_cast<std::size_t>(std::max_element(probabilities.begin(), probabilities.end()) -
                                  probabilities.begin());
}

struct FaceDetector::Impl {
  // detectMultiScale is const-incorrect in OpenCV; one classifier per detector, used by one stream at a time.
  mutable cv::CascadeClassifier cascade;
};

FaceDetector::FaceDetector(const std::string& cascade_path) : impl_(std::make_unique<Impl>()) {
  struct stat st;
  if (cascade_path.empty() || stat(cascade_path.c_str(), &st) != 0)
    throw ModelError("face detector cascade '" + cascade_path + "' does not exist (install opencv-data)");
  bool ok = false;
  try {
    ok = impl_->cascade.load(cascade_path);
  } catch (const cv::Exception& e) {
    ok = false;
  }
  if (!ok || impl_->cascade.empty())
    throw ModelError("face detector cascade '" + cascade_path + "' is not an OpenCV cascade file");
}

FaceDetector::~FaceDetector() = default;

std::string FaceDetector::default_cascade() {
  static const char* candidates[] = {
      std::getenv("EMSYNC_FACE_CASCADE") ? std::getenv("EMSYNC_FACE_CASCADE") : "",
      "/usr/share/opencv4/haarcascades/haarcascade_frontalface_alt2.xml",
      "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml",
      "/usr/share/opencv/haarcascades/haarcascade_frontalface_default.xml"};
  struct stat st;
  for (const char* c : candidates)
    if (stat(c, &st) == 0) return c;
  return {};
}

std::vector<FaceDetector::Box> FaceDetector::detect(const FrameView& frame, int detection_width) const {
  std::vector<Box> boxes;
  if (frame.width < 16 || frame.height < 16) return boxes;
  int dw = std::min(frame.width, std::max(64, detection_width));
  int dh = std::max(1, static_cast<int>(std::lround(static_cast<double>(frame.height) * dw / frame.width)));
  double sx = static_cast<double>(frame.width) / dw, sy = static_cast<double>(frame.height) / dh;
  // Grey copy, 2x2 samples per output pixel (a cheap area filter).
  cv::Mat grey(dh, dw, CV_8UC1);
  for (int j = 0; j < dh; ++j) {
    int y0 = std::min(frame.height - 1, static_cast<int>((j + 0.25) * sy));
    int y1 = std::min(frame.height - 1, static_cast<int>((j + 0.75) * sy));
    auto* row = grey.ptr<std::uint8_t>(j);
    for (int i = 0; i < dw; ++i) {
      int x0 = std::min(frame.width - 1, static_cast<int>((i + 0.25) * sx));
      int x1 = std::min(frame.width - 1, static_cast<int>((i + 0.75) * sx));
      double g =
          grey_at(frame, x0, y0) + grey_at(frame, x1, y0) + grey_at(frame, x0, y1) + grey_at(frame, x1, y1);
      row[i] = static_cast<std::uint8_t>(std::clamp(g * 0.25 + 0.5, 0.0, 255.0));
    }
  }
  cv::equalizeHist(grey, grey);
  std::vector<cv::Rect> found;
  // Faces of at least 1/8 of the width (24 pixels at 192): the 20-pixel scale (1/10) cost a fifth of the
  // detector's time and found no face in Megamind.avi that the larger scales missed.
  int min_side = std::max(24, dw / 8);
  // Scale step 1.2 and 4 neighbours: on Megamind.avi faces in as many shots as with 1.15/5, at ~2/3 of the cost.
  // Run inside a one-stripe parallel_for_: OpenCV then runs the cascade's own parallel loop serially in this
  // thread. On a small image its worker threads mostly spin (sched_yield), which doubled the CPU time.
  cv::parallel_for_(cv::Range(0, 1), [&](const cv::Range&) {
    impl_->cascade.detectMultiScale(grey, found, 1.2, 4, 0, cv::Size(min_side, min_side));
  });
  for (const auto& r : found)
    boxes.push_back({static_cast<int>(r.x * sx), static_cast<int>(r.y * sy), static_cast<int>(r.width * sx),
                     static_cast<int>(r.height * sy)});
  return boxes;
}

void face_crop(const FrameView& frame, const FaceDetector::Box& box, double margin, float* out) {
  constexpr int n = FaceExpressionModel::kInputSize;
  double x0 = box.x - margin * box.width, y0 = box.y - margin * box.height;
  double w = box.width * (1 + 2 * margin), h = box.height * (1 + 2 * margin);
  double cx0 = std::max(0.0, x0), cy0 = std::max(0.0, y0);
  double cx1 = std::min<double>(frame.width, x0 + w), cy1 = std::min<double>(frame.height, y0 + h);
  double cw = std::max(1.0, cx1 - cx0), ch = std::max(1.0, cy1 - cy0);
  int taps = std::clamp(static_cast<int>(std::ceil(std::max(cw, ch) / n)), 1, 4);
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < n; ++i) {
      double sum = 0;
      for (int b = 0; b < taps; ++b)
        for (int a = 0; a < taps; ++a) {
          int x = std::clamp(static_cast<int>(cx0 + (i + (a + 0.5) / taps) * cw / n), 0, frame.width - 1);
          int y = std::clamp(static_cast<int>(cy0 + (j + (b + 0.5) / taps) * ch / n), 0, frame.height - 1);
          sum += grey_at(frame, x, y);
        }
      double grey = sum / (taps * taps) / 255.0;
      out[j * n + i] = static_cast<float>((grey - 0.5) * 2.0);
    }
}

FaceAnalyzer::FaceAnalyzer(std::shared_ptr<const FaceExpressionModel> model,
                           std::shared_ptr<const FaceDetector> detector, int detection_width,
                           std::size_t max_faces)
    : model_(std::move(model)),
      detector_(std::move(detector)),
      detection_width_(detection_width),
      max_faces_(max_faces) {}

std::vector<FaceResult> FaceAnalyzer::analyse(const FrameView& frame) const {
  if (!model_ || !detector_) return {};
  auto boxes = detector_->detect(frame, detection_width_);
  std::sort(boxes.begin(), boxes.end(),
            [](const auto& a, const auto& b) { return a.width * a.height > b.width * b.height; });
  if (boxes.size() > max_faces_) boxes.resize(max_faces_);
  return classify(frame, boxes);
}

std::vector<FaceResult> FaceAnalyzer::reclassify(const FrameView& frame,
                                                 const std::vector<FaceResult>& earlier) const {
  std::vector<FaceDetector::Box> boxes;
  for (const auto& r : earlier)
    boxes.push_back({std::min(r.box_x, frame.width - 1), std::min(r.box_y, frame.height - 1),
                     std::max(1, r.box_width), std::max(1, r.box_height)});
  return classify(frame, boxes);
}

std::vector<FaceResult> FaceAnalyzer::classify(const FrameView& frame,
                                               const std::vector<FaceDetector::Box>& boxes) const {
  std::vector<FaceResult> results;
  if (!model_ || frame.width <= 0 || frame.height <= 0) return results;
  std::vector<float> crop(FaceExpressionModel::kInputSize * FaceExpressionModel::kInputSize);
  for (const auto& b : boxes) {
    face_crop(frame, b, 0.1, crop.data());
    FaceResult r;
    r.x = static_cast<double>(b.x) / frame.width;
    r.y = static_cast<double>(b.y) / frame.height;
    r.width = static_cast<double>(b.width) / frame.width;
    r.height = static_cast<double>(b.height) / frame.height;
    r.box_x = b.x;
    r.box_y = b.y;
    r.box_width = b.width;
    r.box_height = b.height;
    r.probabilities = model_->predict(crop.data());
    r.valence_arousal = expression_to_valence_arousal(r.probabilities);
    r.confidence = r.probabilities[r.top_expression()];
    results.push_back(r);
  }
  return results;
}

}  // namespace emsync::emotion
