// emsync scene engine — a small 8-bit picture and the few operations the detectors need on it.
//
// The analysis pictures are tiny (about 160 x 90), so these plain loops cost less than a general image
// library's dispatch, and the scene-cut element loads without OpenCV (whose Debian build pulls in BLAS,
// LAPACK, TBB and X11 libraries: tens of milliseconds at every start of a pipeline).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace emsync {
namespace scene {

// rows x cols pixels of one 8-bit channel, rows stored contiguously.
class Plane {
 public:
  Plane() = default;
  Plane(int rows, int cols) { create(rows, cols); }

  // Resizes (contents undefined when the size changes; kept when it does not).
  void create(int rows, int cols);
  void release();
  bool empty() const { return rows_ == 0 || cols_ == 0; }
  int rows() const { return rows_; }
  int cols() const { return cols_; }
  bool same_size(const Plane& other) const { return rows_ == other.rows_ && cols_ == other.cols_; }
  std::uint8_t* ptr(int row) { return data_.data() + (std::size_t)row * cols_; }
  const std::uint8_t* ptr(int row) const { return data_.data() + (std::size_t)row * cols_; }
  std::uint8_t* data() { return data_.data(); }
  const std::uint8_t* data() const { return data_.data(); }
  void fill(std::uint8_t value);
  double mean() const;

 private:
  int rows_ = 0;
  int cols_ = 0;
  std::vector<std::uint8_t> data_;
};

// Sum of absolute differences of @rows rows of @width bytes (SSE2 psadbw where available).
std::uint64_t sum_abs_diff(const std::uint8_t* a, std::size_t stride_a, const std::uint8_t* b,
                           std::size_t stride_b, int width, int rows);

// Mean absolute difference of two planes of the same size (0 when either is empty or the sizes differ).
double mean_abs_diff(const Plane& a, const Plane& b);

// Area-average downscale of @src to @rows x @cols (no larger than @src): each output pixel is the mean of the
// source pixels its cell covers, partly covered pixels weighted by the covered share, rounded to nearest.
// Integer factors are a plain box mean. @src_rows x @src_cols (when > 0) limits the source to its top-left part.
// @out must be another plane than @src.
void resize_area(const Plane& src, int rows, int cols, Plane& out, int src_rows = 0, int src_cols = 0);

// Each pixel becomes the maximum of its 3 x 3 neighbourhood (pixels outside the picture are ignored).
// @scratch holds the horizontal pass; a caller-owned plane, so per-frame use allocates nothing.
void dilate3x3(const Plane& src, Plane& out, Plane& scratch);

}  // namespace scene
}  // namespace emsync
