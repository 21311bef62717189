// TF.js graph-model reader and runner, plain C++ (no libtorch). Only the ops of the expression model are
// supported; anything else is refused at load time with the op's name.
//
// Activations are NHWC float32 (batch 1), the layout of the TF graph, so its HWIO weights need no transposition.
// Every convolution (3x3, 1x1, any stride) runs as one kernel over a zero-padded input: blocks of up to 6 output
// pixels x 16 output channels accumulate in registers while the input channels and kernel taps are walked, with
// the weights packed at load time as [Cout/16][kh][kw][Cin][16]. AVX2/FMA when the CPU has it, else the same loops
// in plain C++. About 64 M multiply-adds per face.
#include "lib/emotion/face_model.h"
#include "lib/common/cpu_features.h"

#include <immintrin.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

namespace emsync::emotion {

namespace {

using json = nlohmann::json;

std::string base64_decode(const std::string& in) {
  static const std::string chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  // Unsigned and kept to the bits not yet emitted: a signed int shifted left overflowed after 6 characters.
  uint32_t value = 0;
  int bits = -8;
  for (char c : in) {
    auto pos = chars.find(c);
    if (pos == std::string::npos) break;
    value = ((value << 6) | static_cast<uint32_t>(pos)) & 0xFFFFFFu;
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((value >> bits) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

bool file_exists(const std::string& p) {
  struct stat st;
  return !p.empty() && stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string dirname_of(const std::string& p) {
  auto slash = p.rfind('/');
  return slash == std::string::npos ? std::string(".") : p.substr(0, slash);
}

// TensorFlow "SAME" padding: total = max((ceil(in / s) - 1) * s + k - in, 0), the smaller half before.
std::pair<int, int> same_padding(int in, int k, int s) {
  int out = (in + s - 1) / s;
  int total = std::max((out - 1) * s + k - in, 0);
  return {total / 2, total - total / 2};
}

// An activation: [1, h, w, c] NHWC (h = w = 1 after the spatial mean).
struct Tensor {
  int h = 0, w = 0, c = 0;
  std::vector<float> v;
  Tensor() = default;
  Tensor(int h_, int w_, int c_) : h(h_), w(w_), c(c_), v(static_cast<std::size_t>(h_) * w_ * c_, 0.0f) {}
  // Reuses the storage (no zeroing when the size is unchanged): the buffers of one face are kept for the next,
  // since allocating ~1 MB of activations per face cost about a third of the time in page faults.
  void reshape(int h_, int w_, int c_) {
    h = h_;
    w = w_;
    c = c_;
    v.resize(static_cast<std::size_t>(h_) * w_ * c_);
  }
  float* at(int y, int x) { return v.data() + (static_cast<std::size_t>(y) * w + x) * c; }
  const float* at(int y, int x) const { return v.data() + (static_cast<std::size_t>(y) * w + x) * c; }
};

// out = x with zero rows/columns around it (TF's SAME padding for convolutions pads with zeros).
void zero_pad(const Tensor& x, int top, int bottom, int left, int right, Tensor& out) {
  out.reshape(x.h + top + bottom, x.w + left + right, x.c);
  std::fill(out.v.begin(), out.v.end(), 0.0f);
  for (int y = 0; y < x.h; ++y) std::memcpy(out.at(y + top, left), x.at(y, 0), sizeof(float) * x.w * x.c);
}

constexpr int kBlockC = 16;  // output channels per register block
constexpr int kBlockP = 6;   // output pixels per register block

// Convolution weights packed for the kernels: [Cout blocks][kh][kw][Cin][16], bias padded to the blocks.
struct PackedConv {
  int kh = 0, kw = 0, cin = 0, cout = 0, blocks = 0;
  std::vector<float> w, bias;
};

PackedConv pack_conv(const std::vector<float>& hwio, int kh, int kw, int cin, int cout, const float* bias) {
  PackedConv p;
  p.kh = kh;
  p.kw = kw;
  p.cin = cin;
  p.cout = cout;
  p.blocks = (cout + kBlockC - 1) / kBlockC;
  p.w.assign(static_cast<std::size_t>(p.blocks) * kh * kw * cin * kBlockC, 0.0f);
  p.bias.assign(static_cast<std::size_t>(p.blocks) * kBlockC, 0.0f);
  for (int ky = 0; ky < kh; ++ky)
    for (int kx = 0; kx < kw; ++kx)
      for (int ci = 0; ci < cin; ++ci)
        for (int co = 0; co < cout; ++co) {
          int b = co / kBlockC, j = co % kBlockC;
          p.w[((((static_cast<std::size_t>(b) * kh + ky) * kw + kx) * cin + ci) * kBlockC) + j] =
              hwio[((static_cast<std::size_t>(ky) * kw + kx) * cin + ci) * cout + co];
        }
  if (bias)
    for (int co = 0; co < cout; ++co) p.bias[co] = bias[co];
  return p;
}

// Stores a block of 16 accumulated channels of one pixel (fewer at the last block of an odd Cout).
inline void store_block(float* dst, const float* acc, int count, bool relu) {
  for (int j = 0; j < count; ++j) dst[j] = relu ? std::max(acc[j], 0.0f) : acc[j];
}

// P output pixels (consecutive in a row, input pointers `src`) x one block of 16 channels, generic C++.
template <int P>
void conv_block_generic(const float* const* src, int in_row, int cin, const PackedConv& pc, int block,
                        float* const* dst, int count, bool relu) {
  float acc[P][kBlockC];
  const float* bias = pc.bias.data() + block * kBlockC;
  for (int p = 0; p < P; ++p)
    for (int j = 0; j < kBlockC; ++j) acc[p][j] = bias[j];
  const float* wk = pc.w.data() + static_cast<std::size_t>(block) * pc.kh * pc.kw * cin * kBlockC;
  for (int ky = 0; ky < pc.kh; ++ky)
    for (int kx = 0; kx < pc.kw; ++kx) {
      const std::size_t off = static_cast<std::size_t>(ky) * in_row + static_cast<std::size_t>(kx) * cin;
      for (int ci = 0; ci < cin; ++ci, wk += kBlockC)
        for (int p = 0; p < P; ++p) {
          const float a = src[p][off + ci];
          for (int j = 0; j < kBlockC; ++j) acc[p][j] += a * wk[j];
        }
    }
  for (int p = 0; p < P; ++p) store_block(dst[p], acc[p], count, relu);
}

template <int P>
__attribute__((target("avx2,fma"))) void conv_block_avx2(const float* const* src, int in_row, int cin,
                                                         const PackedConv& pc, int block, float* const* dst,
                                                         int count, bool relu) {
  __m256 acc0[P], acc1[P];
  const float* bias = pc.bias.data() + block * kBlockC;
#pragma GCC unroll 6
  for (int p = 0; p < P; ++p) {
    acc0[p] = _mm256_loadu_ps(bias);
    acc1[p] = _mm256_loadu_ps(bias + 8);
  }
  const float* wk = pc.w.data() + static_cast<std::size_t>(block) * pc.kh * pc.kw * cin * kBlockC;
  for (int ky = 0; ky < pc.kh; ++ky)
    for (int kx = 0; kx < pc.kw; ++kx) {
      const std::size_t off = static_cast<std::size_t>(ky) * in_row + static_cast<std::size_t>(kx) * cin;
      const float* s[P];
#pragma GCC unroll 6
      for (int p = 0; p < P; ++p) s[p] = src[p] + off;
      for (int ci = 0; ci < cin; ++ci, wk += kBlockC) {
        const __m256 w0 = _mm256_loadu_ps(wk), w1 = _mm256_loadu_ps(wk + 8);
#pragma GCC unroll 6
        for (int p = 0; p < P; ++p) {
          const __m256 a = _mm256_broadcast_ss(s[p] + ci);
          acc0[p] = _mm256_fmadd_ps(a, w0, acc0[p]);
          acc1[p] = _mm256_fmadd_ps(a, w1, acc1[p]);
        }
      }
    }
  const __m256 zero = _mm256_setzero_ps();
#pragma GCC unroll 6
  for (int p = 0; p < P; ++p) {
    if (relu) {
      acc0[p] = _mm256_max_ps(acc0[p], zero);
      acc1[p] = _mm256_max_ps(acc1[p], zero);
    }
    if (count == kBlockC) {
      _mm256_storeu_ps(dst[p], acc0[p]);
      _mm256_storeu_ps(dst[p] + 8, acc1[p]);
    } else {
      alignas(32) float tmp[kBlockC];
      _mm256_store_ps(tmp, acc0[p]);
      _mm256_store_ps(tmp + 8, acc1[p]);
      store_block(dst[p], tmp, count, false);
    }
  }
}

const bool kHaveAvx2 = emsync::cpu_has_avx2_kernels();

template <int P>
void conv_block(const float* const* src, int in_row, int cin, const PackedConv& pc, int block,
                float* const* dst, int count, bool relu) {
  if (kHaveAvx2)
    conv_block_avx2<P>(src, in_row, cin, pc, block, dst, count, relu);
  else
    conv_block_generic<P>(src, in_row, cin, pc, block, dst, count, relu);
}

using BlockFn = void (*)(const float* const*, int, int, const PackedConv&, int, float* const*, int, bool);
constexpr BlockFn kBlockFns[kBlockP + 1] = {nullptr,       conv_block<1>, conv_block<2>, conv_block<3>,
                                            conv_block<4>, conv_block<5>, conv_block<6>};

// VALID convolution of an (already padded) input with stride (sh, sw).
void conv2d(const Tensor& x, const PackedConv& pc, int sh, int sw, bool relu, Tensor& out) {
  const int oh = (x.h - pc.kh) / sh + 1, ow = (x.w - pc.kw) / sw + 1;
  if (oh <= 0 || ow <= 0) throw ModelError("convolution with an empty output");
  out.reshape(oh, ow, pc.cout);
  const int in_row = x.w * x.c;
  const float* src[kBlockP];
  float* dst[kBlockP];
  for (int b = 0; b < pc.blocks; ++b) {
    const int count = std::min(kBlockC, pc.cout - b * kBlockC);
    for (int y = 0; y < oh; ++y)
      for (int x0 = 0; x0 < ow; x0 += kBlockP) {
        const int n = std::min(kBlockP, ow - x0);
        for (int p = 0; p < n; ++p) {
          src[p] = x.at(y * sh, (x0 + p) * sw);
          dst[p] = out.at(y, x0 + p) + b * kBlockC;
        }
        kBlockFns[n](src, in_row, x.c, pc, b, dst, count, relu);
      }
  }
}

// Depthwise convolution (channel multiplier 1), weights [kh][kw][C], VALID on a padded input.
void depthwise_row_generic(const float* const* rows, const float* w, int kh, int kw, int c, int sw, int ow,
                           float* out) {
  for (int x = 0; x < ow; ++x, out += c) {
    std::fill(out, out + c, 0.0f);
    for (int ky = 0; ky < kh; ++ky)
      for (int kx = 0; kx < kw; ++kx) {
        const float* s = rows[ky] + static_cast<std::size_t>(x * sw + kx) * c;
        const float* wk = w + (static_cast<std::size_t>(ky) * kw + kx) * c;
        for (int ch = 0; ch < c; ++ch) out[ch] += s[ch] * wk[ch];
      }
  }
}

__attribute__((target("avx2,fma"))) void depthwise_row_avx2(const float* const* rows, const float* w, int kh,
                                                            int kw, int c, int sw, int ow, float* out) {
  for (int x = 0; x < ow; ++x, out += c) {
    int ch = 0;
    for (; ch + 8 <= c; ch += 8) {
      __m256 acc = _mm256_setzero_ps();
      for (int ky = 0; ky < kh; ++ky)
        for (int kx = 0; kx < kw; ++kx) {
          const float* s = rows[ky] + static_cast<std::size_t>(x * sw + kx) * c + ch;
          const float* wk = w + (static_cast<std::size_t>(ky) * kw + kx) * c + ch;
          acc = _mm256_fmadd_ps(_mm256_loadu_ps(s), _mm256_loadu_ps(wk), acc);
        }
      _mm256_storeu_ps(out + ch, acc);
    }
    for (; ch < c; ++ch) {
      float acc = 0.0f;
      for (int ky = 0; ky < kh; ++ky)
        for (int kx = 0; kx < kw; ++kx)
          acc += rows[ky][static_cast<std::size_t>(x * sw + kx) * c + ch] *
                 w[(static_cast<std::size_t>(ky) * kw + kx) * c + ch];
      out[ch] = acc;
    }
  }
}

void depthwise2d(const Tensor& x, const std::vector<float>& w, int kh, int kw, int sh, int sw, Tensor& out) {
  const int oh = (x.h - kh) / sh + 1, ow = (x.w - kw) / sw + 1;
  if (oh <= 0 || ow <= 0) throw ModelError("depthwise convolution with an empty output");
  out.reshape(oh, ow, x.c);
  std::vector<const float*> rows(kh);
  for (int y = 0; y < oh; ++y) {
    for (int ky = 0; ky < kh; ++ky) rows[ky] = x.at(y * sh + ky, 0);
    if (kHaveAvx2)
      depthwise_row_avx2(rows.data(), w.data(), kh, kw, x.c, sw, ow, out.at(y, 0));
    else
      depthwise_row_generic(rows.data(), w.data(), kh, kw, x.c, sw, ow, out.at(y, 0));
  }
}

}  // namespace

struct FaceExpressionModel::Graph {
  enum class Op { kConst, kInput, kConv, kDepthwise, kMaxPool, kAdd, kRelu, kMean, kSoftmax, kIdentity };
  struct Node {
    std::string name;
    Op op = Op::kIdentity;
    std::vector<std::string> inputs;
    bool same_padding = false;
    int stride_h = 1, stride_w = 1, kernel_h = 1, kernel_w = 1;
    bool relu = false, bias = false;
    bool keep_dims = false;
    // Filled when the plan is built.
    std::vector<int> in_slots;
    int slot = -1;
    PackedConv conv;               // kConv
    std::vector<float> depthwise;  // kDepthwise: [kh][kw][C]
  };
  struct Raw {
    std::vector<float> f;
    std::vector<int64_t> i;
    std::vector<int64_t> shape;
  };
  std::map<std::string, Node> nodes;
  std::map<std::string, Raw> raw;
  std::string output = "Identity";
  std::string logits = "StatefulPartitionedCall/model_1/global_average_pooling2d_1/Mean";
  std::string input;

  // Execution plan: the non-constant nodes that the outputs need, in dependency order.
  std::vector<const Node*> plan;
  int slots = 0, input_slot = -1, output_slot = -1, logits_slot = -1;

  // The activations of one run, kept for the next (a small pool: predict() may run on several threads).
  struct Workspace {
    std::vector<Tensor> values;
    Tensor padded;
  };
  mutable std::mutex pool_mutex;
  mutable std::vector<std::unique_ptr<Workspace>> pool;

  void build_plan();
  void run(const float* input, Workspace& ws) const;
  void step(const Node& n, Workspace& ws, Tensor& out) const;
  static void max_pool(const Tensor& x, const Node& n, Tensor& out);
};

// Max pooling, TF padding (SAME: the window skips the padding, as -inf padding would).
void FaceExpressionModel::Graph::max_pool(const Tensor& x, const Node& n, Tensor& out) {
  int oh, ow, top = 0, left = 0;
  if (n.same_padding) {
    oh = (x.h + n.stride_h - 1) / n.stride_h;
    ow = (x.w + n.stride_w - 1) / n.stride_w;
    top = same_padding(x.h, n.kernel_h, n.stride_h).first;
    left = same_padding(x.w, n.kernel_w, n.stride_w).first;
  } else {
    oh = (x.h - n.kernel_h) / n.stride_h + 1;
    ow = (x.w - n.kernel_w) / n.stride_w + 1;
  }
  if (oh <= 0 || ow <= 0) throw ModelError("max pool '" + n.name + "' has an empty output");
  out.reshape(oh, ow, x.c);
  for (int i = 0; i < oh; ++i) {
    const int y0 = std::max(0, i * n.stride_h - top), y1 = std::min(x.h, i * n.stride_h - top + n.kernel_h);
    for (int j = 0; j < ow; ++j) {
      const int x0 = std::max(0, j * n.stride_w - left),
                x1 = std::min(x.w, j * n.stride_w - left + n.kernel_w);
      float* d = out.at(i, j);
      std::fill(d, d + x.c, -std::numeric_limits<float>::infinity());
      for (int y = y0; y < y1; ++y)
        for (int xx = x0; xx < x1; ++xx) {
          const float* s = x.at(y, xx);
          for (int ch = 0; ch < x.c; ++ch) d[ch] = std::max(d[ch], s[ch]);
        }
    }
  }
}

void FaceExpressionModel::Graph::build_plan() {
  std::map<std::string, int> slot_of;
  std::vector<std::string> visiting;
  // Depth-first post-order from the outputs; constants are read directly by their consumers.
  std::function<int(const std::string&)> visit = [&](const std::string& name) -> int {
    auto hit = slot_of.find(name);
    if (hit != slot_of.end()) {
      if (hit->second < 0) throw ModelError("graph has a cycle through '" + name + "'");
      return hit->second;
    }
    auto it = nodes.find(name);
    if (it == nodes.end()) throw ModelError("graph refers to a missing node '" + name + "'");
    Node& n = it->second;
    if (n.op == Op::kConst) return -2;
    slot_of[name] = -1;
    n.in_slots.clear();
    for (const auto& i : n.inputs) n.in_slots.push_back(visit(i));
    n.slot = slots++;
    slot_of[name] = n.slot;
    plan.push_back(&n);
    return n.slot;
  };
  output_slot = visit(output);
  if (!logits.empty()) logits_slot = visit(logits);
  input_slot = slot_of.count(input) ? slot_of[input] : -1;
  if (input_slot < 0) throw ModelError("the output does not depend on the input '" + input + "'");
}

void FaceExpressionModel::Graph::step(const Node& n, Workspace& ws, Tensor& out) const {
  auto in = [&](std::size_t i) -> const Tensor& {
    int s = n.in_slots.at(i);
    if (s < 0) throw ModelError("node '" + n.name + "' reads a constant where an activation is expected");
    if (s == n.slot) throw ModelError("node '" + n.name + "' reads itself");
    return ws.values[s];
  };
  switch (n.op) {
    case Op::kConst:
    case Op::kInput:
      throw ModelError("node '" + n.name + "' cannot be evaluated");
    case Op::kConv:
    case Op::kDepthwise: {
      const Tensor& x = in(0);
      const int kh = n.op == Op::kConv ? n.conv.kh : n.kernel_h,
                kw = n.op == Op::kConv ? n.conv.kw : n.kernel_w;
      const int cin = n.op == Op::kConv ? n.conv.cin : static_cast<int>(n.depthwise.size() / (kh * kw));
      if (x.c != cin)
        throw ModelError("node '" + n.name + "' expects " + std::to_string(cin) + " channels, gets " +
                         std::to_string(x.c));
      const Tensor* src = &x;
      if (n.same_padding) {
        auto ph = same_padding(x.h, kh, n.stride_h), pw = same_padding(x.w, kw, n.stride_w);
        if (ph.first || ph.second || pw.first || pw.second) {
          zero_pad(x, ph.first, ph.second, pw.first, pw.second, ws.padded);
          src = &ws.padded;
        }
      }
      if (n.op == Op::kConv)
        conv2d(*src, n.conv, n.stride_h, n.stride_w, n.relu, out);
      else
        depthwise2d(*src, n.depthwise, kh, kw, n.stride_h, n.stride_w, out);
      return;
    }
    case Op::kMaxPool:
      max_pool(in(0), n, out);
      return;
    case Op::kAdd: {
      const Tensor &a = in(0), &b = in(1);
      if (a.h != b.h || a.w != b.w || a.c != b.c)
        throw ModelError("add '" + n.name + "' of different shapes");
      out.reshape(a.h, a.w, a.c);
      for (std::size_t i = 0; i < out.v.size(); ++i) out.v[i] = a.v[i] + b.v[i];
      return;
    }
    case Op::kRelu: {
      const Tensor& a = in(0);
      out.reshape(a.h, a.w, a.c);
      for (std::size_t i = 0; i < out.v.size(); ++i) out.v[i] = std::max(a.v[i], 0.0f);
      return;
    }
    case Op::kMean: {
      const Tensor& x = in(0);
      std::vector<double> sum(x.c, 0.0);
      for (int y = 0; y < x.h; ++y)
        for (int xx = 0; xx < x.w; ++xx) {
          const float* s = x.at(y, xx);
          for (int ch = 0; ch < x.c; ++ch) sum[ch] += s[ch];
        }
      out.reshape(1, 1, x.c);
      for (int ch = 0; ch < x.c; ++ch)
        out.v[ch] = static_cast<float>(sum[ch] / (static_cast<double>(x.h) * x.w));
      return;
    }
    case Op::kSoftmax: {
      const Tensor& x = in(0);
      if (x.h != 1 || x.w != 1) throw ModelError("softmax '" + n.name + "' of a spatial tensor");
      out.reshape(1, 1, x.c);
      const float m = *std::max_element(x.v.begin(), x.v.end());
      double sum = 0.0;
      for (int ch = 0; ch < x.c; ++ch) sum += (out.v[ch] = std::exp(x.v[ch] - m));
      for (float& v : out.v) v = static_cast<float>(v / sum);
      return;
    }
    case Op::kIdentity: {
      const Tensor& a = in(0);
      out.reshape(a.h, a.w, a.c);
      std::copy(a.v.begin(), a.v.end(), out.v.begin());
      return;
    }
  }
  throw ModelError("node '" + n.name + "' has an unknown op");
}

void FaceExpressionModel::Graph::run(const float* input, Workspace& ws) const {
  ws.values.resize(slots);
  for (const Node* n : plan) {
    Tensor& out = ws.values[n->slot];
    if (n->slot == input_slot) {
      out.reshape(kInputSize, kInputSize, 1);
      std::copy(input, input + kInputSize * kInputSize, out.v.begin());
    } else {
      step(*n, ws, out);
    }
  }
}

FaceExpressionModel::~FaceExpressionModel() = default;

std::shared_ptr<const FaceExpressionModel> FaceExpressionModel::load(const std::string& json_path) {
  if (!file_exists(json_path)) throw ModelError("face model '" + json_path + "' does not exist");
  json doc;
  try {
    std::ifstream f(json_path);
    doc = json::parse(f);
  } catch (const std::exception& e) {
    throw ModelError("face model '" + json_path + "' is not valid JSON: " + e.what());
  }
  auto fail = [&](const std::string& what) -> ModelError {
    return ModelError("face model '" + json_path + "': " + what);
  };
  // contains() before reading "format": json::value() throws when the member is there but not a string.
  if (!doc.is_object() || !doc.contains("format") || doc["format"] != "graph-model" ||
      !doc.contains("modelTopology") || !doc.contains("weightsManifest"))
    throw fail(
        "not a TensorFlow.js graph model (format \"graph-model\" with modelTopology and weightsManifest)");

  std::shared_ptr<FaceExpressionModel> model(new FaceExpressionModel());
  model->path_ = json_path;
  model->graph_ = std::make_unique<Graph>();
  Graph& g = *model->graph_;

  try {
    // Weights: each manifest group's files are concatenated; entries are packed in order (little-endian).
    std::string dir = dirname_of(json_path);
    for (const auto& group : doc.at("weightsManifest")) {
      std::string bytes;
      for (const auto& p : group.at("paths")) {
        std::string wpath = dir + "/" + p.get<std::string>();
        std::ifstream wf(wpath, std::ios::binary);
        if (!wf)
          throw ModelError("weights file '" + wpath + "' (named by '" + json_path + "') does not exist");
        std::stringstream ss;
        ss << wf.rdbuf();
        bytes += ss.str();
      }
      std::size_t offset = 0;
      for (const auto& w : group.at("weights")) {
        std::string name = w.at("name");
        std::string dtype = w.at("dtype");
        if (w.contains("quantization")) throw fail("weight '" + name + "' is quantized (unsupported)");
        Graph::Raw r;
        // Integers only: nlohmann-json converts a float (e.g. a dimension too large for int64, which it
        // parses as a double) to int64_t with a plain cast, undefined for out-of-range values.
        const json& shape = w.at("shape");
        if (!shape.is_array()) throw fail("weight '" + name + "' has no list of dimensions");
        for (const auto& d : shape) {
          if (!d.is_number_integer())
            throw fail("weight '" + name + "' has a dimension that is not an integer");
          r.shape.push_back(d.get<int64_t>());
        }
        if (dtype != "float32" && dtype != "int32") throw fail("weight '" + name + "' has dtype " + dtype);
        // Checked dimension by dimension against what the files hold, so the product cannot overflow.
        const std::size_t available = (bytes.size() - offset) / 4;
        std::size_t count = 1;
        for (auto d : r.shape) {
          if (d < 0) throw fail("weight '" + name + "' has a negative dimension");
          if (d > 0 && count > available / static_cast<std::size_t>(d))
            throw fail("weights are shorter than the manifest says (at '" + name + "')");
          count *= static_cast<std::size_t>(d);
        }
        if (count > available) throw fail("weights are shorter than the manifest says (at '" + name + "')");
        const std::size_t size = count * 4;
        if (dtype == "float32") {
          r.f.resize(count);
          if (size) std::memcpy(r.f.data(), bytes.data() + offset, size);
        } else {
          std::vector<int32_t> tmp(count);
          if (size) std::memcpy(tmp.data(), bytes.data() + offset, size);
          r.i.assign(tmp.begin(), tmp.end());
        }
        g.raw[name] = std::move(r);
        offset += size;
      }
      if (offset != bytes.size()) throw fail("weights are longer than the manifest says");
    }

    auto attr_s = [](const json& attr, const char* key) -> std::string {
      if (!attr.contains(key) || !attr[key].contains("s")) return {};
      return base64_decode(attr[key]["s"].get<std::string>());
    };
    auto attr_ints = [](const json& attr, const char* key) -> std::vector<int64_t> {
      std::vector<int64_t> out;
      if (attr.contains(key) && attr[key].contains("list") && attr[key]["list"].contains("i"))
        for (const auto& v : attr[key]["list"]["i"]) out.push_back(std::stoll(v.get<std::string>()));
      return out;
    };

    for (const auto& jn : doc.at("modelTopology").at("node")) {
      Graph::Node n;
      n.name = jn.at("name");
      std::string op = jn.at("op");
      json attr = jn.value("attr", json::object());
      if (jn.contains("input"))
        for (const auto& i : jn["input"]) {
          std::string s = i;
          if (!s.empty() && s[0] == '^') continue;  // control dependency
          auto colon = s.find(':');
          n.inputs.push_back(colon == std::string::npos ? s : s.substr(0, colon));
        }
      std::string fmt = attr_s(attr, "data_format");
      if (!fmt.empty() && fmt != "NHWC") throw fail("node '" + n.name + "' uses data format " + fmt);
      auto strides = attr_ints(attr, "strides");
      if (strides.size() == 4) {
        n.stride_h = static_cast<int>(strides[1]);
        n.stride_w = static_cast<int>(strides[2]);
        if (n.stride_h < 1 || n.stride_w < 1) throw fail("node '" + n.name + "' has a stride below 1");
      }
      auto dil = attr_ints(attr, "dilations");
      for (auto d : dil)
        if (d != 1) throw fail("node '" + n.name + "' uses dilation (unsupported)");
      std::string padding = attr_s(attr, "padding");
      if (!padding.empty() && padding != "SAME" && padding != "VALID")
        throw fail("node '" + n.name + "' uses padding " + padding + " (unsupported)");
      n.same_padding = padding == "SAME";

      if (op == "Const") {
        n.op = Graph::Op::kConst;
        if (!g.raw.count(n.name)) throw fail("constant '" + n.name + "' has no weights in the manifest");
      } else if (op == "Placeholder") {
        n.op = Graph::Op::kInput;
        g.input = n.name;
        std::vector<int64_t> shape;
        if (attr.contains("shape") && attr["shape"].contains("shape"))
          for (const auto& d : attr["shape"]["shape"].value("dim", json::array()))
            shape.push_back(std::stoll(d.value("size", std::string("-1"))));
        if (shape.size() != 4 || shape[1] != kInputSize || shape[2] != kInputSize || shape[3] != 1)
          throw fail("input '" + n.name + "' is not [-1, 64, 64, 1] (not the grey 64x64 expression model)");
      } else if (op == "_FusedConv2D" || op == "Conv2D") {
        n.op = Graph::Op::kConv;
        if (op == "_FusedConv2D") {
          if (attr.contains("fused_ops") && attr["fused_ops"].contains("list"))
            for (const auto& f : attr["fused_ops"]["list"].value("s", json::array())) {
              std::string fo = base64_decode(f.get<std::string>());
              if (fo == "BiasAdd")
                n.bias = true;
              else if (fo == "Relu")
                n.relu = true;
              else
                throw fail("node '" + n.name + "' fuses " + fo + " (unsupported)");
            }
        }
      } else if (op == "DepthwiseConv2dNative") {
        n.op = Graph::Op::kDepthwise;
      } else if (op == "MaxPool") {
        n.op = Graph::Op::kMaxPool;
        auto k = attr_ints(attr, "ksize");
        if (k.size() != 4 || k[1] < 1 || k[2] < 1) throw fail("max pool '" + n.name + "' has no ksize");
        n.kernel_h = static_cast<int>(k[1]);
        n.kernel_w = static_cast<int>(k[2]);
      } else if (op == "AddV2" || op == "Add") {
        n.op = Graph::Op::kAdd;
      } else if (op == "Relu") {
        n.op = Graph::Op::kRelu;
      } else if (op == "Mean") {
        n.op = Graph::Op::kMean;
        n.keep_dims = attr.contains("keep_dims") && attr["keep_dims"].value("b", false);
      } else if (op == "Softmax") {
        n.op = Graph::Op::kSoftmax;
      } else if (op == "Identity") {
        n.op = Graph::Op::kIdentity;
      } else {
        throw fail("op " + op + " of node '" + n.name + "' is not supported by emsync's runner");
      }
      g.nodes[n.name] = n;
    }

    // Pack the convolution weights; check the operands the runner reads from constants.
    for (auto& [name, n] : g.nodes) {
      if (n.op == Graph::Op::kConv || n.op == Graph::Op::kDepthwise) {
        if (n.inputs.size() < (n.bias ? 3u : 2u)) throw fail("convolution '" + name + "' lacks inputs");
        const auto& wname = n.inputs[1];
        if (!g.raw.count(wname) || g.raw.at(wname).f.empty())
          throw fail("convolution '" + name + "' has no weights");
        const Graph::Raw& w = g.raw.at(wname);
        if (w.shape.size() != 4) throw fail("weights of '" + name + "' are not 4-D");
        const int kh = static_cast<int>(w.shape[0]), kw = static_cast<int>(w.shape[1]);
        const int cin = static_cast<int>(w.shape[2]), cout = static_cast<int>(w.shape[3]);
        if (n.op == Graph::Op::kConv) {
          const float* bias = nullptr;
          if (n.bias) {
            const auto& bname = n.inputs[2];
            if (!g.raw.count(bname) || static_cast<int>(g.raw.at(bname).f.size()) != cout)
              throw fail("bias of '" + name + "' does not have " + std::to_string(cout) + " values");
            bias = g.raw.at(bname).f.data();
          }
          n.conv = pack_conv(w.f, kh, kw, cin, cout, bias);
        } else {
          if (cout != 1)
            throw fail("depthwise convolution '" + name + "' has a channel multiplier (unsupported)");
          if (n.inputs.size() > 2) throw fail("depthwise convolution '" + name + "' has extra inputs");
          n.kernel_h = kh;
          n.kernel_w = kw;
          n.depthwise = w.f;  // [kh][kw][C][1] is [kh][kw][C]
        }
      } else if (n.op == Graph::Op::kMean) {
        if (n.inputs.size() != 2 || !g.raw.count(n.inputs[1])) throw fail("mean '" + name + "' has no axes");
        const Graph::Raw& axes = g.raw.at(n.inputs[1]);
        std::vector<int64_t> a = axes.i;
        for (auto& v : a)
          if (v < 0) v += 4;
        std::sort(a.begin(), a.end());
        if (a != std::vector<int64_t>{1, 2})
          throw fail("mean '" + name + "' is not over height and width (unsupported)");
      }
    }
    if (g.input.empty()) throw fail("graph has no input");
    if (!g.nodes.count(g.output)) throw fail("graph has no output named Identity");
    if (!g.nodes.count(g.logits)) g.logits.clear();
    g.build_plan();
  } catch (const ModelError& e) {
    std::string what = e.what();
    if (what.find(json_path) != std::string::npos) throw;
    throw fail(what);
  } catch (const std::exception& e) {
    throw fail(std::string("malformed model: ") + e.what());
  }

  // Check the output shape once with a blank input.
  std::vector<float> blank(kInputSize * kInputSize, 0.0f);
  try {
    Graph::Workspace ws;
    g.run(blank.data(), ws);
    const Tensor& out = ws.values[g.output_slot];
    if (out.v.size() != kExpressionCount)
      throw fail("output has " + std::to_string(out.v.size()) + " values, expected 7 expressions");
  } catch (const std::exception& e) {
    std::string what = e.what();
    if (what.find(json_path) != std::string::npos) throw;
    throw fail("the graph does not run: " + what);
  }
  return model;
}

std::shared_ptr<const FaceExpressionModel> FaceExpressionModel::load_shared(const std::string& json_path) {
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<const FaceExpressionModel>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto m = cache[json_path].lock()) return m;
  auto m = load(json_path);
  cache[json_path] = m;
  return m;
}

ExpressionProbabilities FaceExpressionModel::predict(const float* input,
                                                     std::array<double, kExpressionCount>* logits_out) const {
  std::unique_ptr<Graph::Workspace> ws;
  {
    std::lock_guard<std::mutex> lock(graph_->pool_mutex);
    if (!graph_->pool.empty()) {
      ws = std::move(graph_->pool.back());
      graph_->pool.pop_back();
    }
  }
  if (!ws) ws = std::make_unique<Graph::Workspace>();
  graph_->run(input, *ws);
  const Tensor& out = ws->values[graph_->output_slot];
  ExpressionProbabilities p{};
  for (std::size_t i = 0; i < kExpressionCount; ++i) p[i] = out.v[i];
  if (logits_out && graph_->logits_slot >= 0) {
    const Tensor& l = ws->values[graph_->logits_slot];
    for (std::size_t i = 0; i < kExpressionCount; ++i) (*logits_out)[i] = l.v[i];
  }
  std::lock_guard<std::mutex> lock(graph_->pool_mutex);
  graph_->pool.push_back(std::move(ws));
  return p;
}

std::string find_face_model(const std::string& source_root, const std::string& install_dir) {
  const char* env = std::getenv("EMSYNC_FACE_MODEL");
  if (env && *env) return env;
  const std::string rel = "/node_modules/@vladmandic/human/models/emotion.json";
  std::vector<std::string> candidates;
  if (!install_dir.empty()) {
    candidates.push_back(install_dir + "/emotion/emotion.json");
    candidates.push_back(install_dir + "/npm" + rel);
  }
  if (!source_root.empty()) candidates.push_back(source_root + "/third_party/npm" + rel);
  for (const auto& c : candidates)
    if (file_exists(c)) return c;
  return {};
}

}  // namespace emsync::emotion
