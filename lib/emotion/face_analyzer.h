// Faces in a frame: OpenCV's Haar cascade detector (Debian's opencv-data: haarcascade_frontalface_alt2, which
// found faces in more Megamind.avi shots than the default cascade at lower cost; LBP cascades missed most) on a downscaled grey
// copy, then the expression model on a 64x64 grey crop of each face taken from the full-resolution frame.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lib/emotion/affect.h"
#include "lib/emotion/face_model.h"

namespace emsync::emotion {

struct FaceResult {
  // Box as fractions of the frame width/height.
  double x = 0, y = 0, width = 0, height = 0;
  int box_x = 0, box_y = 0, box_width = 0, box_height = 0;  // the same in frame pixels
  ExpressionProbabilities probabilities{};
  ValenceArousal valence_arousal;
  double confidence = 0;  // the top expression probability
  std::size_t top_expression() const;
};

class FaceDetector {
 public:
  // Throws ModelError naming the file when the cascade is missing or not a cascade.
  explicit FaceDetector(const std::string& cascade_path);
  ~FaceDetector();
  // $EMSYNC_FACE_CASCADE, else Debian's Haar frontal-face cascade (alt2, then default); empty without opencv-data.
  static std::string default_cascade();

  struct Box {
    int x, y, width, height;  // in full-frame pixels
  };
  // detection_width: width of the grey copy the cascade runs on (smaller is faster, misses small faces).
  std::vector<Box> detect(const FrameView& frame, int detection_width) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A 64x64 grey crop (model input in [-1, 1]) of a box of the frame, widened by `margin` of its size on
// each side and clipped to the frame; area-averaged.
void face_crop(const FrameView& frame, const FaceDetector::Box& box, double margin, float* out64x64);

// Detects faces and classifies the largest ones (max_faces; 2 as in EMSYNC, whose face feature is the mean of
// the 2 largest faces of a frame).
class FaceAnalyzer {
 public:
  FaceAnalyzer(std::shared_ptr<const FaceExpressionModel> model, std::shared_ptr<const FaceDetector> detector,
               int detection_width = 192, std::size_t max_faces = 2);
  // Detects the faces, then classifies the largest max_faces.
  std::vector<FaceResult> analyse(const FrameView& frame) const;
  // Classifies the expressions again at the places of earlier results (no detection).
  std::vector<FaceResult> reclassify(const FrameView& frame, const std::vector<FaceResult>& earlier) const;

 private:
  std::vector<FaceResult> classify(const FrameView& frame, const std::vector<FaceDetector::Box>& boxes) const;
  std::shared_ptr<const FaceExpressionModel> model_;
  std::shared_ptr<const FaceDetector> detector_;
  int detection_width_;
  std::size_t max_faces_;
};

}  // namespace emsync::emotion
