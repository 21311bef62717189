// emsync scene engine — FFmpeg's `select` scene score, reproduced exactly.
//
// EMSYNC finds its cuts with `ffmpeg -vf select='gt(scene,0.27)'`. FFmpeg's score (libavfilter/f_select.c):
// the sum of absolute differences between this frame and the previous one at full resolution, over the
// luma plane only for planar/semi-planar YUV (FFmpeg's config_input keeps one plane when the format is
// planar YUV with 3+ components), over all bytes of the single plane of packed RGB (3/4 bytes per pixel)
// and over the only plane of GRAY8,
//   mafd  = sad / (number of compared bytes)          (8-bit formats)
//   score = clip (min (mafd, |mafd - previous mafd|) / 100, 0, 1),   0 for the first frame.
// The previous frame's planes are kept as a private copy, so the caller may release its buffer.
#pragma once

#include <cstdint>
#include <vector>

#include "lib/scene/frame_view.h"

namespace emsync {
namespace scene {

class FfmpegSceneScore {
 public:
  // Score of @frame against the previous frame given to this object (0 for the first one, or after a
  // change of size or layout, as FFmpeg does).
  double next(const FrameView& frame);
  void reset();

 private:
  std::vector<std::uint8_t> previous_[3];
  int previous_row_bytes_[3] = {0, 0, 0};
  int previous_rows_[3] = {0, 0, 0};
  int previous_planes_ = 0;
  bool have_previous_ = false;
  double previous_mafd_ = 0.0;
};

}  // namespace scene
}  // namespace emsync
