#include "lib/scene/ffmpeg_score.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "lib/scene/plane.h"

namespace emsync {
namespace scene {

void FfmpegSceneScore::reset() {
  have_previous_ = false;
  previous_mafd_ = 0.0;
  previous_planes_ = 0;
}

double FfmpegSceneScore::next(const FrameView& frame) {
  // FFmpeg compares only the luma plane of YUV formats.
  const bool yuv = frame.layout == PixelLayout::kYuvPlanar || frame.layout == PixelLayout::kYuvSemiPlanar;
  const int n_planes = yuv ? 1 : frame.n_planes;
  bool same_shape = have_previous_ && previous_planes_ == n_planes;
  for (int p = 0; same_shape && p < n_planes; p++)
    same_shape = previous_row_bytes_[p] == frame.row_bytes(p) && previous_rows_[p] == frame.planes[p].height;

  double score = 0.0;
  if (same_shape) {
    double sad = 0.0;
    double count = 0.0;
    for (int p = 0; p < n_planes; p++) {
      const int row_bytes = frame.row_bytes(p), rows = frame.planes[p].height;
      sad +=
          (double)sum_abs_diff(frame.planes[p].data, (std::size_t)frame.planes[p].stride, previous_[p].data(),
                               (std::size_t)row_bytes, row_bytes, rows);  // exact: far below 2^53
      count += (double)row_bytes * rows;
    }
    const double mafd = count > 0 ? sad / count : 0.0;
    const double diff = std::fabs(mafd - previous_mafd_);
    score = std::min(std::max(std::min(mafd, diff) / 100.0, 0.0), 1.0);
    previous_mafd_ = mafd;
  }

  // Keep this frame for the next call (FFmpeg keeps a reference to the previous frame).
  previous_planes_ = n_planes;
  for (int p = 0; p < n_planes; p++) {
    const int row_bytes = frame.row_bytes(p), rows = frame.planes[p].height;
    previous_[p].resize((size_t)row_bytes * rows);
    for (int r = 0; r < rows; r++)
      std::memcpy(previous_[p].data() + (size_t)r * row_bytes,
                  frame.planes[p].data + (size_t)r * frame.planes[p].stride, row_bytes);
    previous_row_bytes_[p] = row_bytes;
    previous_rows_[p] = rows;
  }
  have_previous_ = true;
  return score;
}

}  // namespace scene
}  // namespace emsync
