// TF.js graph-model reader and runner (libtorch). Only the ops of the expression model are supported;
// anything else is refused at load time with the op's name.
#include "lib/emotion/face_model.h"

#include <sys/stat.h>

#include <ATen/ops/mkldnn_convolution.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <fstream>
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
  int value = 0, bits = -8;
  for (char c : in) {
    auto pos = chars.find(c);
    if (pos == std::string::npos) break;
    value = (value << 6) + static_cast<int>(pos);
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

// NHWC axis of the TF graph -> NCHW axis of our tensors.
int64_t nchw_axis(int64_t nhwc) {
  static const int64_t map[4] = {0, 2, 3, 1};
  if (nhwc < 0) nhwc += 4;
  return map[nhwc & 3];
}

// TensorFlow "SAME" padding: total = max((ceil(in / s) - 1) * s + k - in, 0), the smaller half before.
std::pair<int64_t, int64_t> same_padding(int64_t in, int64_t k, int64_t s) {
  int64_t out = (in + s - 1) / s;
  int64_t total = std::max<int64_t>((out - 1) * s + k - in, 0);
  return {total / 2, total - total / 2};
}

}  // namespace

struct FaceExpressionModel::Graph {
  enum class Op { kConst, kInput, kConv, kDepthwise, kMaxPool, kAdd, kRelu, kMean, kSoftmax, kIdentity };
  struct Node {
    std::string name;
    Op op = Op::kIdentity;
    std::vector<std::string> inputs;
    bool same_padding = false;
    int64_t stride_h = 1, stride_w = 1, kernel_h = 1, kernel_w = 1;
    bool relu = false, bias = false;
    bool keep_dims = false;
  };
  std::map<std::string, Node> nodes;
  std::map<std::string, torch::Tensor> constants;  // conv weights already in torch layout
  std::string output = "Identity";
  std::string logits = "StatefulPartitionedCall/model_1/global_average_pooling2d_1/Mean";
  std::string input;

  torch::Tensor eval(const std::string& name, std::map<std::string, torch::Tensor>& memo) const;
  static torch::Tensor max_pool(const torch::Tensor& x, const Node& n);
};

// Max pooling of a [1, C, H, W] float tensor, TF padding (SAME: the window skips the padding, as -inf padding
// would). A plain loop: libtorch's max_pool2d (with indices, NCHW) and the -inf padding cost about as much as all
// the model's convolutions together.
torch::Tensor FaceExpressionModel::Graph::max_pool(const torch::Tensor& input, const Node& n) {
  torch::Tensor x = input.contiguous();
  const int64_t c = x.size(1), h = x.size(2), w = x.size(3);
  int64_t oh, ow, top = 0, left = 0;
  if (n.same_padding) {
    oh = (h + n.stride_h - 1) / n.stride_h;
    ow = (w + n.stride_w - 1) / n.stride_w;
    top = same_padding(h, n.kernel_h, n.stride_h).first;
    left = same_padding(w, n.kernel_w, n.stride_w).first;
  } else {
    oh = (h - n.kernel_h) / n.stride_h + 1;
    ow = (w - n.kernel_w) / n.stride_w + 1;
  }
  if (oh <= 0 || ow <= 0) throw ModelError("max pool '" + n.name + "' has an empty output");
  torch::Tensor out = torch::empty({1, c, oh, ow}, torch::kFloat32);
  const float* src = x.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  for (int64_t ch = 0; ch < c; ++ch, src += h * w)
    for (int64_t i = 0; i < oh; ++i) {
      const int64_t y0 = std::max<int64_t>(0, i * n.stride_h - top), y1 = std::min(h, i * n.stride_h - top + n.kernel_h);
      for (int64_t j = 0; j < ow; ++j) {
        const int64_t x0 = std::max<int64_t>(0, j * n.stride_w - left);
        const int64_t x1 = std::min(w, j * n.stride_w - left + n.kernel_w);
        float m = -std::numeric_limits<float>::infinity();
        for (int64_t y = y0; y < y1; ++y)
          for (int64_t xx = x0; xx < x1; ++xx) m = std::max(m, src[y * w + xx]);
        *dst++ = m;
      }
    }
  return out;
}

torch::Tensor FaceExpressionModel::Graph::eval(const std::string& name,
                                               std::map<std::string, torch::Tensor>& memo) const {
  static const bool use_mkldnn = at::hasMKLDNN() && !std::getenv("EMSYNC_NO_MKLDNN");
  auto hit = memo.find(name);
  if (hit != memo.end()) return hit->second;
  auto it = nodes.find(name);
  if (it == nodes.end()) throw ModelError("graph refers to a missing node '" + name + "'");
  const Node& n = it->second;
  auto in = [&](std::size_t i) { return eval(n.inputs.at(i), memo); };
  torch::Tensor out;
  switch (n.op) {
    case Op::kConst:
      out = constants.at(name);
      break;
    case Op::kInput:
      throw ModelError("graph input '" + name + "' was not fed");
    case Op::kConv:
    case Op::kDepthwise: {
      torch::Tensor x = in(0);
      const torch::Tensor& w = constants.at(n.inputs.at(1));
      int64_t kh = w.size(2), kw = w.size(3);
      std::vector<int64_t> padding{0, 0};
      if (n.same_padding) {
        auto ph = same_padding(x.size(2), kh, n.stride_h), pw = same_padding(x.size(3), kw, n.stride_w);
        if (ph.first == ph.second && pw.first == pw.second) {
          padding = {ph.first, pw.first};  // symmetric (every convolution of the expression model): the convolution pads
        } else {
          x = torch::constant_pad_nd(x, {pw.first, pw.second, ph.first, ph.second}, 0.0);
        }
      }
      c10::optional<torch::Tensor> b;
      if (n.bias) b = constants.at(n.inputs.at(2));
      int64_t groups = n.op == Op::kDepthwise ? x.size(1) : 1;
      const std::vector<int64_t> stride{n.stride_h, n.stride_w}, no_dilation{1, 1};
      // oneDNN directly when libtorch has it: torch::conv2d sends 1x1 convolutions of a single image to
      // BLAS, whose threads then spin for ~0.1 s after every call (a large CPU cost at one face a second).
      out = use_mkldnn ? at::mkldnn_convolution(x.contiguous(), w, b, padding, stride, no_dilation, groups)
                       : torch::conv2d(x, w, b, stride, padding, no_dilation, groups);
      if (n.relu) out = torch::relu(out);
      break;
    }
    case Op::kMaxPool:
      out = max_pool(in(0), n);
      break;
    case Op::kAdd:
      out = in(0) + in(1);
      break;
    case Op::kRelu:
      out = torch::relu(in(0));
      break;
    case Op::kMean: {
      torch::Tensor axes = constants.at(n.inputs.at(1));
      std::vector<int64_t> dims;
      for (int64_t i = 0; i < axes.numel(); ++i) dims.push_back(nchw_axis(axes[i].item<int64_t>()));
      out = in(0).mean(dims, n.keep_dims);
      break;
    }
    case Op::kSoftmax:
      out = torch::softmax(in(0), -1);
      break;
    case Op::kIdentity:
      out = in(0);
      break;
  }
  memo.emplace(name, out);
  return out;
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
  if (!doc.is_object() || doc.value("format", "") != "graph-model" || !doc.contains("modelTopology") ||
      !doc.contains("weightsManifest"))
    throw fail("not a TensorFlow.js graph model (format \"graph-model\" with modelTopology and weightsManifest)");

  std::shared_ptr<FaceExpressionModel> model(new FaceExpressionModel());
  model->path_ = json_path;
  model->graph_ = std::make_unique<Graph>();
  Graph& g = *model->graph_;

  try {
    // Weights: each manifest group's files are concatenated; entries are packed in order.
    std::map<std::string, std::pair<torch::Tensor, std::vector<int64_t>>> raw;
    std::string dir = dirname_of(json_path);
    for (const auto& group : doc.at("weightsManifest")) {
      std::string bytes;
      for (const auto& p : group.at("paths")) {
        std::string wpath = dir + "/" + p.get<std::string>();
        std::ifstream wf(wpath, std::ios::binary);
        if (!wf) throw ModelError("weights file '" + wpath + "' (named by '" + json_path + "') does not exist");
        std::stringstream ss;
        ss << wf.rdbuf();
        bytes += ss.str();
      }
      std::size_t offset = 0;
      for (const auto& w : group.at("weights")) {
        std::string name = w.at("name");
        std::string dtype = w.at("dtype");
        if (w.contains("quantization")) throw fail("weight '" + name + "' is quantized (unsupported)");
        std::vector<int64_t> shape = w.at("shape").get<std::vector<int64_t>>();
        int64_t count = 1;
        for (auto d : shape) count *= d;
        if (dtype != "float32" && dtype != "int32") throw fail("weight '" + name + "' has dtype " + dtype);
        std::size_t size = static_cast<std::size_t>(count) * 4;
        if (offset + size > bytes.size())
          throw fail("weights are shorter than the manifest says (at '" + name + "')");
        torch::Tensor t = dtype == "float32"
                              ? torch::from_blob(bytes.data() + offset, {count}, torch::kFloat32).clone()
                              : torch::from_blob(bytes.data() + offset, {count}, torch::kInt32).to(torch::kInt64);
        raw[name] = {t.reshape(shape.empty() ? std::vector<int64_t>{} : shape), shape};
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
        n.stride_h = strides[1];
        n.stride_w = strides[2];
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
        if (!raw.count(n.name)) throw fail("constant '" + n.name + "' has no weights in the manifest");
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
              if (fo == "BiasAdd") n.bias = true;
              else if (fo == "Relu") n.relu = true;
              else throw fail("node '" + n.name + "' fuses " + fo + " (unsupported)");
            }
        }
      } else if (op == "DepthwiseConv2dNative") {
        n.op = Graph::Op::kDepthwise;
      } else if (op == "MaxPool") {
        n.op = Graph::Op::kMaxPool;
        auto k = attr_ints(attr, "ksize");
        if (k.size() != 4) throw fail("max pool '" + n.name + "' has no ksize");
        n.kernel_h = k[1];
        n.kernel_w = k[2];
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

    // Convert the weights that feed convolutions into torch's layout.
    for (const auto& [name, n] : g.nodes) {
      if (n.op == Graph::Op::kConst) {
        if (!g.constants.count(name)) g.constants[name] = raw.at(name).first;
        continue;
      }
      if ((n.op == Graph::Op::kConv || n.op == Graph::Op::kDepthwise)) {
        if (n.inputs.size() < (n.bias ? 3u : 2u)) throw fail("convolution '" + name + "' lacks inputs");
        const auto& wname = n.inputs[1];
        if (!raw.count(wname)) throw fail("convolution '" + name + "' has no weights");
        torch::Tensor w = raw.at(wname).first;
        if (w.dim() != 4) throw fail("weights of '" + name + "' are not 4-D");
        if (n.op == Graph::Op::kConv) {
          g.constants[wname] = w.permute({3, 2, 0, 1}).contiguous();  // HWIO -> OIHW
        } else {
          int64_t kh = w.size(0), kw = w.size(1), cin = w.size(2), mult = w.size(3);
          g.constants[wname] = w.permute({2, 3, 0, 1}).reshape({cin * mult, 1, kh, kw}).contiguous();
        }
      }
    }
    for (const auto& [name, n] : g.nodes)
      for (const auto& i : n.inputs)
        if (!g.nodes.count(i)) throw fail("node '" + name + "' reads the missing node '" + i + "'");
    if (g.input.empty()) throw fail("graph has no input");
    if (!g.nodes.count(g.output)) throw fail("graph has no output named Identity");
    if (!g.nodes.count(g.logits)) g.logits.clear();
  } catch (const ModelError&) {
    throw;
  } catch (const std::exception& e) {
    throw fail(std::string("malformed model: ") + e.what());
  }

  // Check the output shape once with a blank input.
  std::vector<float> blank(kInputSize * kInputSize, 0.0f);
  try {
    torch::NoGradGuard no_grad;
    std::map<std::string, torch::Tensor> memo;
    memo[g.input] = torch::zeros({1, 1, kInputSize, kInputSize});
    auto out = g.eval(g.output, memo);
    if (out.numel() != static_cast<int64_t>(kExpressionCount))
      throw fail("output has " + std::to_string(out.numel()) + " values, expected 7 expressions");
  } catch (const ModelError&) {
    throw;
  } catch (const std::exception& e) {
    throw fail(std::string("the graph does not run: ") + e.what());
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
  torch::NoGradGuard no_grad;
  std::map<std::string, torch::Tensor> memo;
  memo[graph_->input] =
      torch::from_blob(const_cast<float*>(input), {1, 1, kInputSize, kInputSize}, torch::kFloat32).clone();
  torch::Tensor out = graph_->eval(graph_->output, memo).reshape({-1}).contiguous();
  ExpressionProbabilities p{};
  auto acc = out.accessor<float, 1>();
  for (std::size_t i = 0; i < kExpressionCount; ++i) p[i] = acc[i];
  if (logits_out && !graph_->logits.empty()) {
    torch::Tensor l = graph_->eval(graph_->logits, memo).reshape({-1}).contiguous();
    auto la = l.accessor<float, 1>();
    for (std::size_t i = 0; i < kExpressionCount; ++i) (*logits_out)[i] = la[i];
  }
  return p;
}

std::string find_face_model(const std::string& source_root, const std::string& install_dir) {
  const char* env = std::getenv("EMSYNC_FACE_MODEL");
  if (env && *env) return env;
  const std::string rel = "/node_modules/@vladmandic/human/models/emotion.json";
  std::vector<std::string> candidates;
  if (!source_root.empty()) candidates.push_back(source_root + "/third_party/npm" + rel);
  if (!install_dir.empty()) {
    candidates.push_back(install_dir + "/emotion/emotion.json");
    candidates.push_back(install_dir + "/npm" + rel);
  }
  for (const auto& c : candidates)
    if (file_exists(c)) return c;
  return {};
}

}  // namespace emsync::emotion
