#include "lib/scene/plane.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace emsync {
namespace scene {

void Plane::create(int rows, int cols) {
  rows_ = std::max(0, rows);
  cols_ = std::max(0, cols);
  data_.resize((std::size_t)rows_ * cols_);
}

void Plane::release() {
  rows_ = cols_ = 0;
  data_.clear();
}

void Plane::fill(std::uint8_t value) {
  std::fill(data_.begin(), data_.end(), value);
}

double Plane::mean() const {
  if (empty()) return 0.0;
  std::uint64_t sum = 0;
  for (std::uint8_t v : data_) sum += v;
  return (double)sum / (double)data_.size();
}

std::uint64_t sum_abs_diff(const std::uint8_t* a, std::size_t stride_a, const std::uint8_t* b,
                           std::size_t stride_b, int width, int rows) {
  std::uint64_t total = 0;
  for (int r = 0; r < rows; r++) {
    const std::uint8_t* pa = a + stride_a * r;
    const std::uint8_t* pb = b + stride_b * r;
    int c = 0;
#if defined(__SSE2__)
    __m128i acc = _mm_setzero_si128();
    for (; c + 16 <= width; c += 16) {
      const __m128i va = _mm_loadu_si128((const __m128i*)(pa + c));
      const __m128i vb = _mm_loadu_si128((const __m128i*)(pb + c));
      acc = _mm_add_epi64(acc, _mm_sad_epu8(va, vb));
    }
    total += (std::uint64_t)_mm_cvtsi128_si64(acc) +
             (std::uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(acc, acc));
#endif
    unsigned rest = 0;
    for (; c < width; c++) rest += (unsigned)std::abs((int)pa[c] - (int)pb[c]);
    total += rest;
  }
  return total;
}

double mean_abs_diff(const Plane& a, const Plane& b) {
  if (a.empty() || b.empty() || !a.same_size(b)) return 0.0;
  return (double)sum_abs_diff(a.data(), a.cols(), b.data(), b.cols(), a.cols(), a.rows()) /
         ((double)a.rows() * a.cols());
}

namespace {

struct AreaWeight {
  int out;       // output index
  int in;        // source index
  float weight;  // share of the output cell this source pixel covers
};

// Source pixels and weights of each output index when @in_size pixels are averaged down to @out_size.
void area_weights(int in_size, int out_size, std::vector<AreaWeight>& tab) {
  tab.clear();
  const double scale = (double)in_size / out_size;
  for (int o = 0; o < out_size; o++) {
    const double start = o * scale, end = start + scale;
    const double cell = std::min(scale, in_size - start);
    int first = (int)std::ceil(start), last = (int)std::floor(end);
    last = std::min(last, in_size - 1);
    first = std::min(first, last);
    if (first - start > 1e-3) tab.push_back({o, first - 1, (float)((first - start) / cell)});
    for (int i = first; i < last; i++) tab.push_back({o, i, (float)(1.0 / cell)});
    if (end - last > 1e-3)
      tab.push_back({o, last, (float)(std::min(std::min(end - last, 1.0), cell) / cell)});
  }
}

std::uint8_t round_to_u8(float v) {
  const long r = std::lrint(v);  // to nearest, ties to even
  return (std::uint8_t)std::min(255L, std::max(0L, r));
}

}  // namespace

void resize_area(const Plane& src, int rows, int cols, Plane& out, int src_rows, int src_cols) {
  src_rows = src_rows > 0 ? std::min(src_rows, src.rows()) : src.rows();
  src_cols = src_cols > 0 ? std::min(src_cols, src.cols()) : src.cols();
  rows = std::max(1, std::min(rows, src_rows));
  cols = std::max(1, std::min(cols, src_cols));
  if (src.empty()) {
    out.release();
    return;
  }
  out.create(rows, cols);
  if (src_rows % rows == 0 && src_cols % cols == 0) {
    // Integer factors: the mean of each fy x fx block (2 x 2: (sum + 2) / 4).
    const int fy = src_rows / rows, fx = src_cols / cols;
    const float scale = 1.0f / (float)(fx * fy);
    for (int r = 0; r < rows; r++) {
      std::uint8_t* o = out.ptr(r);
      for (int c = 0; c < cols; c++) {
        unsigned sum = 0;
        for (int y = 0; y < fy; y++) {
          const std::uint8_t* p = src.ptr(r * fy + y) + c * fx;
          for (int x = 0; x < fx; x++) sum += p[x];
        }
        o[c] = fx == 2 && fy == 2 ? (std::uint8_t)((sum + 2) >> 2) : round_to_u8((float)sum * scale);
      }
    }
    return;
  }
  // Fractional cells: weight the partly covered border pixels by the share they cover.
  std::vector<AreaWeight> wx, wy;
  area_weights(src_cols, cols, wx);
  area_weights(src_rows, rows, wy);
  std::vector<float> row_sums((std::size_t)cols), acc((std::size_t)cols, 0.0f);
  int current = 0;
  for (std::size_t k = 0; k <= wy.size(); k++) {
    if (k == wy.size() || wy[k].out != current) {
      std::uint8_t* o = out.ptr(current);
      for (int c = 0; c < cols; c++) o[c] = round_to_u8(acc[c]);
      if (k == wy.size()) break;
      std::fill(acc.begin(), acc.end(), 0.0f);
      current = wy[k].out;
    }
    const std::uint8_t* p = src.ptr(wy[k].in);
    std::fill(row_sums.begin(), row_sums.end(), 0.0f);
    for (const AreaWeight& w : wx) row_sums[w.out] += w.weight * p[w.in];
    for (int c = 0; c < cols; c++) acc[c] += wy[k].weight * row_sums[c];
  }
}

void dilate3x3(const Plane& src, Plane& out, Plane& scratch) {
  const int rows = src.rows(), cols = src.cols();
  // Horizontal maximum into @scratch, then vertical maximum of it; 16 pixels at a time where SSE2 is there.
  scratch.create(rows, cols);
  for (int r = 0; r < rows; r++) {
    const std::uint8_t* p = src.ptr(r);
    std::uint8_t* h = scratch.ptr(r);
    int c = 0;
    if (cols > 0) {
      h[0] = cols > 1 ? std::max(p[0], p[1]) : p[0];
      c = 1;
    }
#if defined(__SSE2__)
    for (; c + 17 <= cols; c += 16) {
      const __m128i left = _mm_loadu_si128((const __m128i*)(p + c - 1));
      const __m128i mid = _mm_loadu_si128((const __m128i*)(p + c));
      const __m128i right = _mm_loadu_si128((const __m128i*)(p + c + 1));
      _mm_storeu_si128((__m128i*)(h + c), _mm_max_epu8(mid, _mm_max_epu8(left, right)));
    }
#endif
    for (; c < cols; c++) {
      std::uint8_t m = std::max(p[c], p[c - 1]);
      if (c + 1 < cols) m = std::max(m, p[c + 1]);
      h[c] = m;
    }
  }
  out.create(rows, cols);
  for (int r = 0; r < rows; r++) {
    const std::uint8_t* up = scratch.ptr(std::max(0, r - 1));
    const std::uint8_t* mid = scratch.ptr(r);
    const std::uint8_t* down = scratch.ptr(std::min(rows - 1, r + 1));
    std::uint8_t* o = out.ptr(r);
    int c = 0;
#if defined(__SSE2__)
    for (; c + 16 <= cols; c += 16) {
      const __m128i m = _mm_max_epu8(_mm_loadu_si128((const __m128i*)(mid + c)),
                                     _mm_max_epu8(_mm_loadu_si128((const __m128i*)(up + c)),
                                                  _mm_loadu_si128((const __m128i*)(down + c))));
      _mm_storeu_si128((__m128i*)(o + c), m);
    }
#endif
    for (; c < cols; c++) o[c] = std::max(mid[c], std::max(up[c], down[c]));
  }
}

}  // namespace scene
}  // namespace emsync
