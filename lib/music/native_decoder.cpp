#include "lib/music/native_decoder.h"
#include "lib/common/cpu_features.h"

#include <cblas.h>
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace emsync::music {

namespace {

// ---- kernels ---------------------------------------------------------------------------------------
// y[r] = W[r] . x (+ bias[r]) for `rows` rows of `cols` floats (row stride = cols). The step is bound by
// reading W once per token, so the AVX2 path walks four rows at a time against one load of x.

void matvec_generic(const float* W, const float* x, const float* bias, float* y, int rows, int cols) {
  for (int r = 0; r < rows; ++r) {
    const float* w = W + static_cast<size_t>(r) * cols;
    float acc = 0.0f;
    for (int c = 0; c < cols; ++c) acc += w[c] * x[c];
    y[r] = acc + (bias ? bias[r] : 0.0f);
  }
}

__attribute__((target("avx2,fma"))) inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0x55));
  return _mm_cvtss_f32(s);
}

// Eight weights as floats, and one weight as a float, for float weights and for half-precision weights
// (converted in registers by F16C). All AVX2 CPUs have F16C; the dispatch still checks for it.
__attribute__((target("avx2,fma,f16c"))) inline __m256 load8(const float* p) {
  return _mm256_loadu_ps(p);
}
__attribute__((target("avx2,fma,f16c"))) inline __m256 load8(const std::uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
__attribute__((target("avx2,fma,f16c"))) inline float load1(const float* p) {
  return *p;
}
__attribute__((target("avx2,fma,f16c"))) inline float load1(const std::uint16_t* p) {
  return _cvtsh_ss(*p);
}

// One output of a row: the vector accumulator's sum, the columns after the last full vector, the bias.
template <class Weight>
__attribute__((target("avx2,fma,f16c"))) inline float finish_row(__m256 acc, const Weight* w, const float* x,
                                                                 int vec_cols, int cols, const float* bias,
                                                                 int r) {
  float s = hsum256(acc);
  for (int c = vec_cols; c < cols; ++c) s += load1(w + c) * x[c];
  return s + (bias ? bias[r] : 0.0f);
}

template <class Weight>
__attribute__((target("avx2,fma,f16c"))) void matvec_avx2(const Weight* W, const float* x, const float* bias,
                                                          float* y, int rows, int cols) {
  const int vec_cols = cols & ~7;
  int r = 0;
  for (; r + 4 <= rows; r += 4) {
    const Weight* w0 = W + static_cast<size_t>(r) * cols;
    const Weight* w1 = w0 + cols;
    const Weight* w2 = w1 + cols;
    const Weight* w3 = w2 + cols;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(),
           a3 = _mm256_setzero_ps();
    for (int c = 0; c < vec_cols; c += 8) {
      const __m256 xv = _mm256_loadu_ps(x + c);
      a0 = _mm256_fmadd_ps(load8(w0 + c), xv, a0);
      a1 = _mm256_fmadd_ps(load8(w1 + c), xv, a1);
      a2 = _mm256_fmadd_ps(load8(w2 + c), xv, a2);
      a3 = _mm256_fmadd_ps(load8(w3 + c), xv, a3);
    }
    y[r] = finish_row(a0, w0, x, vec_cols, cols, bias, r);
    y[r + 1] = finish_row(a1, w1, x, vec_cols, cols, bias, r + 1);
    y[r + 2] = finish_row(a2, w2, x, vec_cols, cols, bias, r + 2);
    y[r + 3] = finish_row(a3, w3, x, vec_cols, cols, bias, r + 3);
  }
  for (; r < rows; ++r) {
    const Weight* w = W + static_cast<size_t>(r) * cols;
    __m256 a = _mm256_setzero_ps();
    for (int c = 0; c < vec_cols; c += 8) a = _mm256_fmadd_ps(load8(w + c), _mm256_loadu_ps(x + c), a);
    y[r] = finish_row(a, w, x, vec_cols, cols, bias, r);
  }
}

// Round-to-nearest-even conversion of n floats to half precision.
__attribute__((target("avx2,f16c"))) void to_half_f16c(const float* in, std::uint16_t* out, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) out[i] = _cvtss_sh(in[i], _MM_FROUND_TO_NEAREST_INT);
}

// y += a * x over n floats.
void axpy_generic(float a, const float* x, float* y, int n) {
  for (int i = 0; i < n; ++i) y[i] += a * x[i];
}

// y[c] = sum_r a[r] * X[r][c] for `rows` rows of `cols` floats: the attention-weighted sum of values.
void weighted_rows_generic(const float* X, const float* a, float* y, int rows, int cols) {
  std::fill(y, y + cols, 0.0f);
  for (int r = 0; r < rows; ++r) axpy_generic(a[r], X + static_cast<size_t>(r) * cols, y, cols);
}

// Keeps a block of up to 64 output columns in eight registers while walking all rows. Value: float or half.
template <class Value>
__attribute__((target("avx2,fma,f16c"))) void weighted_rows_avx2(const Value* X, const float* a, float* y,
                                                                 int rows, int cols) {
  int c0 = 0;
  for (; c0 + 64 <= cols; c0 += 64) {
    __m256 acc[8];
    for (int i = 0; i < 8; ++i) acc[i] = _mm256_setzero_ps();
    for (int r = 0; r < rows; ++r) {
      const __m256 av = _mm256_set1_ps(a[r]);
      const Value* x = X + static_cast<size_t>(r) * cols + c0;
      for (int i = 0; i < 8; ++i) acc[i] = _mm256_fmadd_ps(av, load8(x + 8 * i), acc[i]);
    }
    for (int i = 0; i < 8; ++i) _mm256_storeu_ps(y + c0 + 8 * i, acc[i]);
  }
  for (; c0 + 8 <= cols; c0 += 8) {
    __m256 acc = _mm256_setzero_ps();
    for (int r = 0; r < rows; ++r)
      acc = _mm256_fmadd_ps(_mm256_set1_ps(a[r]), load8(X + static_cast<size_t>(r) * cols + c0), acc);
    _mm256_storeu_ps(y + c0, acc);
  }
  for (; c0 < cols; ++c0) {
    float acc = 0.0f;
    for (int r = 0; r < rows; ++r) acc += a[r] * load1(X + static_cast<size_t>(r) * cols + c0);
    y[c0] = acc;
  }
}

// For each head h of `heads`: scores[h][j] = sum_d q[h][d] * (KT[h][d][j] + ET[d][j]) for j < n. KT[h] (a
// head's keys) and ET (the layer's relative table, shared by its heads) are stored transposed, [dh][stride],
// so the loop runs along positions in vector lanes; scores rows are `stride` apart.
void attention_scores_generic(float* const* KT, const float* ET, size_t stride, const float* q, int heads,
                              int dh, int n, float* scores) {
  for (int h = 0; h < heads; ++h) {
    float* out = scores + h * stride;
    std::fill(out, out + n, 0.0f);
    for (int d = 0; d < dh; ++d) {
      const float* k = KT[h] + d * stride;
      const float* e = ET + d * stride;
      const float qd = q[h * dh + d];
      for (int j = 0; j < n; ++j) out[j] += qd * (k[j] + e[j]);
    }
  }
}

// Blocks of 32 positions, all heads per block: the relative table's block is read from memory once per
// layer instead of once per head. Key: float or half.
template <class Key>
__attribute__((target("avx2,fma,f16c"))) void attention_scores_avx2(Key* const* KT, const float* ET,
                                                                    size_t stride, const float* q, int heads,
                                                                    int dh, int n, float* scores) {
  int j = 0;
  for (; j + 32 <= n; j += 32) {
    for (int h = 0; h < heads; ++h) {
      const float* qh = q + h * dh;
      __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(),
             a3 = _mm256_setzero_ps();
      for (int d = 0; d < dh; ++d) {
        const __m256 qd = _mm256_set1_ps(qh[d]);
        const Key* k = KT[h] + d * stride + j;
        const float* e = ET + d * stride + j;
        a0 = _mm256_fmadd_ps(qd, _mm256_add_ps(load8(k), _mm256_loadu_ps(e)), a0);
        a1 = _mm256_fmadd_ps(qd, _mm256_add_ps(load8(k + 8), _mm256_loadu_ps(e + 8)), a1);
        a2 = _mm256_fmadd_ps(qd, _mm256_add_ps(load8(k + 16), _mm256_loadu_ps(e + 16)), a2);
        a3 = _mm256_fmadd_ps(qd, _mm256_add_ps(load8(k + 24), _mm256_loadu_ps(e + 24)), a3);
      }
      float* out = scores + h * stride + j;
      _mm256_storeu_ps(out, a0);
      _mm256_storeu_ps(out + 8, a1);
      _mm256_storeu_ps(out + 16, a2);
      _mm256_storeu_ps(out + 24, a3);
    }
  }
  for (int h = 0; h < heads; ++h) {
    const float* qh = q + h * dh;
    for (int jj = j; jj < n; ++jj) {
      float a = 0.0f;
      for (int d = 0; d < dh; ++d) a += qh[d] * (load1(KT[h] + d * stride + jj) + ET[d * stride + jj]);
      scores[h * stride + jj] = a;
    }
  }
}

// exp(x) for 8 lanes (Cephes' expf: range reduction by ln 2 and a degree-5 polynomial; relative error
// ~1e-7 over the softmax's range x <= 0).
__attribute__((target("avx2,fma"))) inline __m256 exp256(__m256 x) {
  x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.3762626647949f)), _mm256_set1_ps(-88.3762626647949f));
  __m256 fx = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f));
  fx = _mm256_floor_ps(fx);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500E-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

// In place: s[j] = softmax(s * scale)[j] over n values.
void softmax_generic(float* s, int n, float scale) {
  float mx = -INFINITY;
  for (int j = 0; j < n; ++j) mx = std::max(mx, s[j] * scale);
  float sum = 0.0f;
  for (int j = 0; j < n; ++j) {
    s[j] = std::exp(s[j] * scale - mx);
    sum += s[j];
  }
  const float inv = 1.0f / sum;
  for (int j = 0; j < n; ++j) s[j] *= inv;
}

__attribute__((target("avx2,fma"))) void softmax_avx2(float* s, int n, float scale) {
  float mx = -INFINITY;
  for (int j = 0; j < n; ++j) mx = std::max(mx, s[j] * scale);
  const __m256 sc = _mm256_set1_ps(scale), m = _mm256_set1_ps(mx);
  __m256 acc = _mm256_setzero_ps();
  int j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 e = exp256(_mm256_fmsub_ps(_mm256_loadu_ps(s + j), sc, m));
    _mm256_storeu_ps(s + j, e);
    acc = _mm256_add_ps(acc, e);
  }
  float sum = hsum256(acc);
  for (; j < n; ++j) {
    s[j] = std::exp(s[j] * scale - mx);
    sum += s[j];
  }
  const float inv = 1.0f / sum;
  for (j = 0; j < n; ++j) s[j] *= inv;
}

// The half-precision step exists only where the AVX2 kernels run.
const bool kHaveAvx2 = emsync::cpu_has_avx2_kernels();

inline void matvec(const float* W, const float* x, const float* bias, float* y, int rows, int cols) {
  if (kHaveAvx2)
    matvec_avx2(W, x, bias, y, rows, cols);
  else
    matvec_generic(W, x, bias, y, rows, cols);
}

inline void attention_scores(float* const* KT, const float* ET, size_t stride, const float* q, int heads,
                             int dh, int n, float* scores) {
  if (kHaveAvx2)
    attention_scores_avx2(KT, ET, stride, q, heads, dh, n, scores);
  else
    attention_scores_generic(KT, ET, stride, q, heads, dh, n, scores);
}

// Half-precision keys only exist where the CPU has F16C (and so AVX2).
inline void attention_scores(std::uint16_t* const* KT, const float* ET, size_t stride, const float* q,
                             int heads, int dh, int n, float* scores) {
  attention_scores_avx2(KT, ET, stride, q, heads, dh, n, scores);
}

inline void softmax(float* s, int n, float scale) {
  if (kHaveAvx2)
    softmax_avx2(s, n, scale);
  else
    softmax_generic(s, n, scale);
}

inline void weighted_rows(const float* X, const float* a, float* y, int rows, int cols) {
  if (kHaveAvx2)
    weighted_rows_avx2(X, a, y, rows, cols);
  else
    weighted_rows_generic(X, a, y, rows, cols);
}

inline void weighted_rows(const std::uint16_t* X, const float* a, float* y, int rows, int cols) {
  weighted_rows_avx2(X, a, y, rows, cols);
}

// One value in half precision, rounded to nearest even.
__attribute__((target("avx2,f16c"))) inline std::uint16_t half_of(float x) {
  return _cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT);
}

// x = LayerNorm(x) with PyTorch's biased variance and eps 1e-6 (model.py's layernorm1/2).
void layer_norm(float* x, const float* g, const float* b, int n) {
  double mean = 0.0;
  for (int i = 0; i < n; ++i) mean += x[i];
  mean /= n;
  double var = 0.0;
  for (int i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
  var /= n;
  const float inv = static_cast<float>(1.0 / std::sqrt(var + 1e-6));
  const float m = static_cast<float>(mean);
  for (int i = 0; i < n; ++i) x[i] = (x[i] - m) * inv * g[i] + b[i];
}

void expect_size(const std::vector<float>& v, size_t n, const std::string& what) {
  if (v.size() != n)
    throw std::invalid_argument("generator weights: " + what + " has " + std::to_string(v.size()) +
                                " values, expected " + std::to_string(n));
}

}  // namespace

DecoderWeights DecoderWeights::from_parameters(const GeneratorConfig& shape, const Source& take) {
  DecoderWeights w;
  w.shape = shape;
  for (int c = 0; c < 2; ++c) {
    const std::string p = "fc_conditions." + std::to_string(c) + ".";
    take(p + "0.weight", w.conditions[c].w1);
    take(p + "0.bias", w.conditions[c].b1);
    take(p + "2.weight", w.conditions[c].w2);
    take(p + "2.bias", w.conditions[c].b2);
    take("null_conditions." + std::to_string(c), w.conditions[c].null);
  }
  take("embedding.weight", w.embedding);
  take("positional_encoding", w.position);
  take("ff_times_to_chord.0.weight", w.bnd_w1);
  take("ff_times_to_chord.0.bias", w.bnd_b1);
  take("ff_times_to_chord.2.weight", w.bnd_w2);
  take("ff_times_to_chord.2.bias", w.bnd_b2);
  take("fc.weight", w.out_w);
  take("fc.bias", w.out_b);
  w.layers.resize(std::max(shape.n_layers, 0));
  for (int i = 0; i < shape.n_layers; ++i) {
    const std::string p = "enc_layers." + std::to_string(i) + ".";
    Layer& l = w.layers[i];
    take(p + "rga.Wq.weight", l.wq);
    take(p + "rga.Wq.bias", l.bq);
    take(p + "rga.Wk.weight", l.wk);
    take(p + "rga.Wk.bias", l.bk);
    take(p + "rga.Wv.weight", l.wv);
    take(p + "rga.Wv.bias", l.bv);
    take(p + "rga.fc.weight", l.wo);
    take(p + "rga.fc.bias", l.bo);
    take(p + "rga.E", l.rel);
    take(p + "FFN_pre.weight", l.ff1_w);
    take(p + "FFN_pre.bias", l.ff1_b);
    take(p + "FFN_suf.weight", l.ff2_w);
    take(p + "FFN_suf.bias", l.ff2_b);
    take(p + "layernorm1.weight", l.ln1_g);
    take(p + "layernorm1.bias", l.ln1_b);
    take(p + "layernorm2.weight", l.ln2_g);
    take(p + "layernorm2.bias", l.ln2_b);
  }
  w.check();
  return w;
}

void DecoderWeights::check() const {
  const auto& s = shape;
  if (s.d_model <= 0 || s.n_heads <= 0 || s.d_model % s.n_heads != 0 || s.d_model % 4 != 0 ||
      s.context <= 0 || s.vocab_size <= 0 || s.d_ff <= 0 || s.n_layers <= 0)
    throw std::invalid_argument("generator weights: unusable shape");
  const size_t d = s.d_model, dh = d / s.n_heads, ff = s.d_ff;
  for (int c = 0; c < 2; ++c) {
    const std::string p = "fc_conditions." + std::to_string(c) + ".";
    expect_size(conditions[c].w1, d / 2, p + "0.weight");
    expect_size(conditions[c].b1, d / 2, p + "0.bias");
    expect_size(conditions[c].w2, d * d / 2, p + "2.weight");
    expect_size(conditions[c].b2, d, p + "2.bias");
    expect_size(conditions[c].null, d, "null_conditions." + std::to_string(c));
  }
  expect_size(embedding, s.vocab_size * d, "embedding.weight");
  expect_size(position, s.context * d / 2, "positional_encoding");
  expect_size(bnd_w1, d / 4, "ff_times_to_chord.0.weight");
  expect_size(bnd_b1, d / 4, "ff_times_to_chord.0.bias");
  expect_size(bnd_w2, d / 2 * d / 4, "ff_times_to_chord.2.weight");
  expect_size(bnd_b2, d / 2, "ff_times_to_chord.2.bias");
  expect_size(out_w, s.vocab_size * d, "fc.weight");
  expect_size(out_b, s.vocab_size, "fc.bias");
  if (layers.size() != static_cast<size_t>(s.n_layers))
    throw std::invalid_argument("generator weights: " + std::to_string(layers.size()) + " layers, expected " +
                                std::to_string(s.n_layers));
  for (size_t i = 0; i < layers.size(); ++i) {
    const Layer& l = layers[i];
    const std::string p = "enc_layers." + std::to_string(i) + ".";
    for (auto [v, name] : {std::pair{&l.wq, "rga.Wq.weight"},
                           {&l.wk, "rga.Wk.weight"},
                           {&l.wv, "rga.Wv.weight"},
                           {&l.wo, "rga.fc.weight"}})
      expect_size(*v, d * d, p + name);
    for (auto [v, name] : {std::pair{&l.bq, "rga.Wq.bias"},
                           {&l.bk, "rga.Wk.bias"},
                           {&l.bv, "rga.Wv.bias"},
                           {&l.bo, "rga.fc.bias"},
                           {&l.ff2_b, "FFN_suf.bias"},
                           {&l.ln1_g, "layernorm1.weight"},
                           {&l.ln1_b, "layernorm1.bias"},
                           {&l.ln2_g, "layernorm2.weight"},
                           {&l.ln2_b, "layernorm2.bias"}})
      expect_size(*v, d, p + name);
    expect_size(l.rel, s.context * dh, p + "rga.E");
    expect_size(l.ff1_w, ff * d, p + "FFN_pre.weight");
    expect_size(l.ff1_b, ff, p + "FFN_pre.bias");
    expect_size(l.ff2_w, d * ff, p + "FFN_suf.weight");
  }
}

size_t DecoderWeights::parameter_count() const {
  size_t n = embedding.size() + position.size() + bnd_w1.size() + bnd_b1.size() + bnd_w2.size() +
             bnd_b2.size() + out_w.size() + out_b.size();
  for (const Condition& c : conditions)
    n += c.w1.size() + c.b1.size() + c.w2.size() + c.b2.size() + c.null.size();
  for (const Layer& l : layers)
    for (const auto* v : {&l.wq, &l.bq, &l.wk, &l.bk, &l.wv, &l.bv, &l.wo, &l.bo, &l.rel, &l.ff1_w, &l.ff1_b,
                          &l.ff2_w, &l.ff2_b, &l.ln1_g, &l.ln1_b, &l.ln2_g, &l.ln2_b})
      n += v->size();
  return n;
}

bool DecoderWeights::prepare_half() {
  half_layers.clear();
  half_out_w.clear();
  if (!kHaveAvx2) return false;
  auto convert = [](const std::vector<float>& in, std::vector<std::uint16_t>& out) {
    out.resize(in.size());
    to_half_f16c(in.data(), out.data(), in.size());
  };
  half_layers.resize(layers.size());
  for (size_t i = 0; i < layers.size(); ++i) {
    const Layer& l = layers[i];
    HalfLayer& h = half_layers[i];
    convert(l.wq, h.wq);
    convert(l.wk, h.wk);
    convert(l.wv, h.wv);
    convert(l.wo, h.wo);
    convert(l.ff1_w, h.ff1_w);
    convert(l.ff2_w, h.ff2_w);
  }
  convert(out_w, half_out_w);
  return true;
}

void KvCache::reset(const GeneratorConfig& shape, bool half) {
  if (half && !kHaveAvx2) throw std::invalid_argument("KvCache: half precision needs a CPU with F16C");
  heads_ = shape.n_heads;
  context_ = shape.context;
  d_head_ = shape.d_model / shape.n_heads;
  half_ = half;
  const size_t n = static_cast<size_t>(shape.n_layers) * heads_ * context_ * d_head_;
  auto size = [](auto& v, size_t want) {
    if (v.size() != want) {
      v.assign(want, 0);
      v.shrink_to_fit();
    }
  };
  size(k_, half ? 0 : n);
  size(v_, half ? 0 : n);
  size(k_half_, half ? n : 0);
  size(v_half_, half ? n : 0);
  length_ = 0;
}

void KvCache::assign(int layer, bool values, const float* data, int length) {
  if (length > context_) throw std::invalid_argument("KvCache::assign: longer than the context");
  for (int h = 0; h < heads_; ++h) {
    const float* src = data + static_cast<size_t>(h) * length * d_head_;
    const size_t at = offset(layer, h);
    if (values && half_) {
      to_half_f16c(src, v_half_.data() + at, static_cast<size_t>(length) * d_head_);
    } else if (values) {
      std::memcpy(v_.data() + at, src, sizeof(float) * length * d_head_);
    } else {
      for (int pos = 0; pos < length; ++pos)
        for (int i = 0; i < d_head_; ++i) {
          const size_t to = at + static_cast<size_t>(i) * context_ + pos;
          if (half_)
            k_half_[to] = half_of(src[pos * d_head_ + i]);
          else
            k_[to] = src[pos * d_head_ + i];
        }
    }
  }
}

namespace {
// Spinning waits for a job or its completion this long before sleeping: a step's jobs come microseconds
// apart, but on a busy machine a sleeping partner must not be burnt against.
constexpr auto kSpin = std::chrono::microseconds(50);

// True while the spin budget that started at `start` lasts (checks the clock every 64 calls).
inline bool keep_spinning(int& spins, std::chrono::steady_clock::time_point start) {
  _mm_pause();
  return (++spins & 63) != 0 || std::chrono::steady_clock::now() - start < kSpin;
}
}  // namespace

void NativeDecoder::set_threads(int threads, size_t min_parameters) {
  threads_ = std::clamp(threads, 1, 2);
  parallel_min_parameters_ = min_parameters;
}

ForkJoin::ForkJoin() : helper_([this] { helper_loop(); }) {}

ForkJoin::~ForkJoin() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
  }
  wake_.notify_one();
  helper_.join();
}

void ForkJoin::dispatch(void* fn, void (*invoke)(void*, int)) {
  fn_ = fn;
  invoke_ = invoke;
  const unsigned job = posted_.load(std::memory_order_relaxed) + 1;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    posted_.store(job, std::memory_order_release);
  }
  if (helper_sleeping_.load()) wake_.notify_one();
  invoke(fn, 0);
  int spins = 0;
  const auto start = std::chrono::steady_clock::now();
  while (finished_.load(std::memory_order_acquire) != job) {
    if (keep_spinning(spins, start)) continue;
    std::unique_lock<std::mutex> lock(mutex_);
    caller_sleeping_.store(true);
    done_cv_.wait(lock, [&] { return finished_.load(std::memory_order_acquire) == job; });
    caller_sleeping_.store(false);
  }
}

void ForkJoin::helper_loop() {
  unsigned seen = 0;
  for (;;) {
    int spins = 0;
    const auto start = std::chrono::steady_clock::now();
    while (posted_.load(std::memory_order_acquire) == seen && !stop_.load()) {
      if (keep_spinning(spins, start)) continue;
      std::unique_lock<std::mutex> lock(mutex_);
      helper_sleeping_.store(true);
      wake_.wait(lock, [&] { return posted_.load(std::memory_order_acquire) != seen || stop_.load(); });
      helper_sleeping_.store(false);
    }
    if (stop_.load()) return;
    seen = posted_.load(std::memory_order_acquire);
    invoke_(fn_, 1);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      finished_.store(seen, std::memory_order_release);
    }
    if (caller_sleeping_.load()) done_cv_.notify_one();
  }
}

NativeDecoder::NativeDecoder(const DecoderWeights& weights, bool half) : w_(weights), half_(half) {
  const auto& s = w_.shape;
  if (half_ && !w_.has_half())
    throw std::invalid_argument("generator weights: no half-precision copy for the half-precision step");
  x_.resize(s.d_model);
  q_.resize(s.d_model);
  k_.resize(s.d_model);
  v_.resize(s.d_model);
  att_.resize(s.d_model);
  proj_.resize(s.d_model);
  hidden_.resize(s.d_model);
  ff_.resize(s.d_ff);
  if (s.n_heads > kMaxHeads) throw std::invalid_argument("generator weights: more than 64 heads");
  scores_.resize(static_cast<size_t>(s.context) * s.n_heads);
  scores2_.resize(static_cast<size_t>(s.context) * s.n_heads);
  bnd_hidden_.resize(s.d_model / 4);
  // The weights one step reads (the matrices; biases and norms are negligible).
  parameter_count_ = w_.embedding.size() + w_.out_w.size() +
                     w_.layers.size() * (w_.layers[0].wq.size() * 4 + w_.layers[0].ff1_w.size() * 2);
  const int dh = s.d_model / s.n_heads;
  rel_t_.resize(s.n_layers);
  for (int l = 0; l < s.n_layers; ++l) {
    rel_t_[l].resize(static_cast<size_t>(dh) * s.context);
    for (int r = 0; r < s.context; ++r)
      for (int i = 0; i < dh; ++i)
        rel_t_[l][static_cast<size_t>(i) * s.context + r] = w_.layers[l].rel[static_cast<size_t>(r) * dh + i];
  }
}

std::pair<int, int> NativeDecoder::split(int n, int part, int parts) {
  if (parts == 1) return {0, n};
  const int mid = std::min(n, ((n / 2) + 7) & ~7);
  return part == 0 ? std::pair{0, mid} : std::pair{mid, n};
}

void NativeDecoder::attend_heads(int l, int p, int head_begin, int head_end, float* scores, KvCache& cache) {
  if (cache.half())
    attend_heads_stored<std::uint16_t>(l, p, head_begin, head_end, scores, cache);
  else
    attend_heads_stored<float>(l, p, head_begin, head_end, scores, cache);
}

template <class Stored>
void NativeDecoder::attend_heads_stored(int l, int p, int head_begin, int head_end, float* scores,
                                        KvCache& cache) {
  const GeneratorConfig& s = w_.shape;
  const int dh = s.d_model / s.n_heads;
  const float inv_sqrt_dh = 1.0f / std::sqrt(static_cast<float>(dh));
  constexpr bool half = std::is_same_v<Stored, std::uint16_t>;
  auto keys_of = [&](int h) {
    if constexpr (half)
      return cache.keys_transposed_half(l, h);
    else
      return cache.keys_transposed(l, h);
  };
  auto values_of = [&](int h) {
    if constexpr (half)
      return cache.values_half(l, h);
    else
      return cache.values(l, h);
  };
  auto store = [](float x) {
    if constexpr (half)
      return half_of(x);
    else
      return x;
  };
  Stored* keys[kMaxHeads];
  for (int h = head_begin; h < head_end; ++h) {
    Stored* KT = keys[h - head_begin] = keys_of(h);
    for (int i = 0; i < dh; ++i) KT[static_cast<size_t>(i) * s.context + p] = store(k_[h * dh + i]);
    Stored* V = values_of(h) + static_cast<size_t>(p) * dh;
    for (int i = 0; i < dh; ++i) V[i] = store(v_[h * dh + i]);
  }
  // Relative global attention for one query: key j (0..p) pairs with E[context-1-(p-j)].
  attention_scores(keys, rel_t_[l].data() + (s.context - 1 - p), s.context, q_.data() + head_begin * dh,
                   head_end - head_begin, dh, p + 1, scores);
  for (int h = head_begin; h < head_end; ++h) {
    float* row = scores + static_cast<size_t>(h - head_begin) * s.context;
    softmax(row, p + 1, inv_sqrt_dh);
    weighted_rows(values_of(h), row, att_.data() + h * dh, p + 1, dh);
  }
}

void NativeDecoder::step(int token, float boundary_seconds, KvCache& cache, float* logits) {
  const GeneratorConfig& s = w_.shape;
  const int d = s.d_model, H = s.n_heads, half = d / 2;
  const int p = cache.length();
  if (p >= s.context) throw std::out_of_range("emsync: context exceeded; re-prefill a shorter window");
  if (cache.half() != half_)
    throw std::invalid_argument("emsync: KV cache precision differs from the step's");
  if (token < 0 || token >= s.vocab_size) throw std::out_of_range("emsync: token out of the vocabulary");
  const int parts = parameter_count_ >= parallel_min_parameters_ ? threads_ : 1;
  if (parts > 1 && !fork_join_) fork_join_ = std::make_unique<ForkJoin>();
  // Runs f(part, parts) over the threads in use.
  auto parallel = [&](auto&& f) {
    if (parts == 1) {
      f(0, 1);
      return;
    }
    auto job = [&](int part) { f(part, 2); };
    fork_join_->run(job);
  };

  // Embedding, then [position | boundary MLP] added (model.py _pos_boundary).
  const float scale = std::sqrt(static_cast<float>(d));
  const float* e = w_.embedding.data() + static_cast<size_t>(token) * d;
  for (int i = 0; i < d; ++i) x_[i] = e[i] * scale;
  const float* pos = w_.position.data() + static_cast<size_t>(p) * half;
  for (int i = 0; i < half; ++i) x_[i] += pos[i];
  const float max_b = static_cast<float>(s.max_boundary_seconds);
  const float u = max_b - std::clamp(boundary_seconds, 0.0f, max_b);
  for (int i = 0; i < d / 4; ++i) bnd_hidden_[i] = std::max(0.0f, w_.bnd_w1[i] * u + w_.bnd_b1[i]);
  matvec(w_.bnd_w2.data(), bnd_hidden_.data(), w_.bnd_b2.data(), proj_.data(), half, d / 4);
  for (int i = 0; i < half; ++i) x_[half + i] += proj_[i];

  // Each thread computes a share of every matrix's rows (and of the heads); the layer norms between the
  // phases need whole vectors and run on the calling thread.
  // W_half: the same matrix in half precision, read instead of W by the half-precision step.
  auto rows = [&](const std::vector<float>& W, const std::vector<std::uint16_t>& W_half,
                  const std::vector<float>& b, const float* in, float* out, int n, int cols, int part,
                  int nparts) {
    auto [r0, r1] = split(n, part, nparts);
    const size_t first = static_cast<size_t>(r0) * cols;
    if (half_)
      matvec_avx2(W_half.data() + first, in, b.data() + r0, out + r0, r1 - r0, cols);
    else
      matvec(W.data() + first, in, b.data() + r0, out + r0, r1 - r0, cols);
  };
  static const DecoderWeights::HalfLayer kNoHalf;
  for (int l = 0; l < s.n_layers; ++l) {
    const DecoderWeights::Layer& L = w_.layers[l];
    const DecoderWeights::HalfLayer& LH = half_ ? w_.half_layers[l] : kNoHalf;
    parallel([&](int part, int nparts) {
      rows(L.wq, LH.wq, L.bq, x_.data(), q_.data(), d, d, part, nparts);
      rows(L.wk, LH.wk, L.bk, x_.data(), k_.data(), d, d, part, nparts);
      rows(L.wv, LH.wv, L.bv, x_.data(), v_.data(), d, d, part, nparts);
    });
    parallel([&](int part, int nparts) {
      const int h0 = nparts == 1 ? 0 : part * (H / 2), h1 = nparts == 1 ? H : (part == 0 ? H / 2 : H);
      attend_heads(l, p, h0, h1, part == 0 ? scores_.data() : scores2_.data(), cache);
    });
    parallel([&](int part, int nparts) {
      rows(L.wo, LH.wo, L.bo, att_.data(), proj_.data(), d, d, part, nparts);
    });
    for (int i = 0; i < d; ++i) proj_[i] += x_[i];
    layer_norm(proj_.data(), L.ln1_g.data(), L.ln1_b.data(), d);  // out1
    parallel([&](int part, int nparts) {
      rows(L.ff1_w, LH.ff1_w, L.ff1_b, proj_.data(), ff_.data(), s.d_ff, d, part, nparts);
      auto [r0, r1] = split(s.d_ff, part, nparts);
      for (int i = r0; i < r1; ++i) ff_[i] = std::max(0.0f, ff_[i]);
    });
    parallel([&](int part, int nparts) {
      rows(L.ff2_w, LH.ff2_w, L.ff2_b, ff_.data(), hidden_.data(), d, s.d_ff, part, nparts);
    });
    for (int i = 0; i < d; ++i) x_[i] = proj_[i] + hidden_[i];
    layer_norm(x_.data(), L.ln2_g.data(), L.ln2_b.data(), d);
  }
  cache.set_length(p + 1);
  parallel([&](int part, int nparts) {
    rows(w_.out_w, w_.half_out_w, w_.out_b, x_.data(), logits, s.vocab_size, d, part, nparts);
  });
}

namespace {

// Y[rows][out] = X[rows][in] . W^T + b, with W in nn.Linear's [out][in] layout.
void linear_rows(const float* X, int rows, int in, const std::vector<float>& W, const std::vector<float>& b,
                 int out, float* Y) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in, 1.0f, X, in, W.data(), in, 0.0f, Y,
              out);
  for (int r = 0; r < rows; ++r) {
    float* y = Y + static_cast<size_t>(r) * out;
    for (int i = 0; i < out; ++i) y[i] += b[i];
  }
}

}  // namespace

void NativePrefill::run(const std::vector<int>& tokens, const std::vector<float>& boundaries, float valence,
                        float arousal, KvCache& cache, float* logits) {
  const GeneratorConfig& s = w_.shape;
  const int d = s.d_model, H = s.n_heads, dh = d / H, half = d / 2, quarter = d / 4;
  const int L = static_cast<int>(tokens.size()) + 2;  // the two condition positions first
  if (tokens.empty() || boundaries.size() != tokens.size())
    throw std::invalid_argument("emsync: a prefill needs tokens with one boundary value each");
  if (L > s.context) throw std::out_of_range("emsync: context exceeded; re-prefill a shorter window");
  const size_t Ld = static_cast<size_t>(L) * d;
  for (auto* v : {&x_, &q_, &k_, &v_, &att_, &proj_, &heads_}) v->resize(Ld);
  ff_.resize(static_cast<size_t>(L) * s.d_ff);
  scores_.resize(static_cast<size_t>(L) * L);
  rel_.resize(static_cast<size_t>(L) * L);

  // Inputs (model.py _embed_full): [valence, arousal, tokens...] + [position | boundary MLP]; both condition
  // positions take the first token's boundary value.
  std::vector<float> hidden(half);
  const float values[2] = {valence, arousal};
  for (int c = 0; c < 2; ++c) {
    const DecoderWeights::Condition& cw = w_.conditions[c];
    float* x = x_.data() + static_cast<size_t>(c) * d;
    if (std::isnan(values[c])) {
      std::copy(cw.null.begin(), cw.null.end(), x);
      continue;
    }
    for (int i = 0; i < half; ++i) hidden[i] = std::max(0.0f, cw.w1[i] * values[c] + cw.b1[i]);
    matvec(cw.w2.data(), hidden.data(), cw.b2.data(), x, d, half);
  }
  const float scale = std::sqrt(static_cast<float>(d));
  for (size_t t = 0; t < tokens.size(); ++t) {
    if (tokens[t] < 0 || tokens[t] >= s.vocab_size)
      throw std::out_of_range("emsync: token out of the vocabulary");
    const float* e = w_.embedding.data() + static_cast<size_t>(tokens[t]) * d;
    float* x = x_.data() + (t + 2) * d;
    for (int i = 0; i < d; ++i) x[i] = e[i] * scale;
  }
  const float max_b = static_cast<float>(s.max_boundary_seconds);
  std::vector<float> bnd_hidden(quarter), bnd_out(half);
  for (int p = 0; p < L; ++p) {
    float* x = x_.data() + static_cast<size_t>(p) * d;
    const float* pos = w_.position.data() + static_cast<size_t>(p) * half;
    for (int i = 0; i < half; ++i) x[i] += pos[i];
    const float u = max_b - std::clamp(boundaries[p < 2 ? 0 : p - 2], 0.0f, max_b);
    for (int i = 0; i < quarter; ++i) bnd_hidden[i] = std::max(0.0f, w_.bnd_w1[i] * u + w_.bnd_b1[i]);
    matvec(w_.bnd_w2.data(), bnd_hidden.data(), w_.bnd_b2.data(), bnd_out.data(), half, quarter);
    for (int i = 0; i < half; ++i) x[half + i] += bnd_out[i];
  }

  const float inv_sqrt_dh = 1.0f / std::sqrt(static_cast<float>(dh));
  for (int l = 0; l < s.n_layers; ++l) {
    const DecoderWeights::Layer& W = w_.layers[l];
    linear_rows(x_.data(), L, d, W.wq, W.bq, d, q_.data());
    linear_rows(x_.data(), L, d, W.wk, W.bk, d, k_.data());
    linear_rows(x_.data(), L, d, W.wv, W.bv, d, v_.data());
    // The last L rows of the relative table: row r pairs with distance L-1-r (model.py's skewing).
    const float* E = W.rel.data() + static_cast<size_t>(s.context - L) * dh;
    for (int h = 0; h < H; ++h) {
      const float* q = q_.data() + h * dh;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, dh, 1.0f, q, d, k_.data() + h * dh, d, 0.0f,
                  scores_.data(), L);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, dh, 1.0f, q, d, E, dh, 0.0f, rel_.data(), L);
      for (int i = 0; i < L; ++i) {
        float* row = scores_.data() + static_cast<size_t>(i) * L;
        const float* rel =
            rel_.data() + static_cast<size_t>(i) * L + (L - 1 - i);  // Srel[i][j] = rel[i][L-1-i+j]
        for (int j = 0; j <= i; ++j) row[j] += rel[j];
        softmax(row, i + 1, inv_sqrt_dh);       // the step's softmax over keys 0..i
        std::fill(row + i + 1, row + L, 0.0f);  // causal mask
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, dh, L, 1.0f, scores_.data(), L,
                  v_.data() + h * dh, d, 0.0f, att_.data() + h * dh, d);
    }
    // The cache takes each head's keys and values as [head][position][d_head].
    for (int kv = 0; kv < 2; ++kv) {
      const float* src = kv == 0 ? k_.data() : v_.data();
      for (int h = 0; h < H; ++h)
        for (int p = 0; p < L; ++p)
          std::memcpy(heads_.data() + (static_cast<size_t>(h) * L + p) * dh,
                      src + static_cast<size_t>(p) * d + h * dh, sizeof(float) * dh);
      cache.assign(l, kv == 1, heads_.data(), L);
    }
    linear_rows(att_.data(), L, d, W.wo, W.bo, d, proj_.data());
    for (size_t i = 0; i < Ld; ++i) proj_[i] += x_[i];
    for (int p = 0; p < L; ++p)
      layer_norm(proj_.data() + static_cast<size_t>(p) * d, W.ln1_g.data(), W.ln1_b.data(), d);
    linear_rows(proj_.data(), L, d, W.ff1_w, W.ff1_b, s.d_ff, ff_.data());
    for (float& f : ff_) f = std::max(0.0f, f);
    linear_rows(ff_.data(), L, s.d_ff, W.ff2_w, W.ff2_b, d, x_.data());
    for (size_t i = 0; i < Ld; ++i) x_[i] += proj_[i];
    for (int p = 0; p < L; ++p)
      layer_norm(x_.data() + static_cast<size_t>(p) * d, W.ln2_g.data(), W.ln2_b.data(), d);
  }
  cache.set_length(L);
  matvec(w_.out_w.data(), x_.data() + static_cast<size_t>(L - 1) * d, w_.out_b.data(), logits, s.vocab_size,
         d);
}

}  // namespace emsync::music
