// The generator's forward pass in plain C++ (no libtorch): the single-token decoding step and the prefill.
//
// Why: a libtorch step of the small model spends most of its time in operator dispatch (~100 small ops
// per token), and its KV cache grows by torch.cat, copying the whole cache every token (55 MB per token
// at the official size). Here the weights are plain arrays, the KV cache is preallocated for the full
// context, and the step is a fixed sequence of matrix-vector products (AVX2/FMA when the CPU has it; by
// default reading half-precision copies of the matrices where it has F16C, see DecoderWeights::prepare_half).
// The prefill (many tokens at once) hands its matrix products to the system BLAS. Without libtorch the
// runtime also starts half a second sooner. The math mirrors models/training/model.py (EmsyncGenerator.step
// and .prefill); tests compare both paths' logits with TorchScript's.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <string>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "lib/music/generator_model.h"

namespace emsync::music {

// Weights in PyTorch's layout: nn.Linear weights are [out][in] row-major.
struct DecoderWeights {
  struct Layer {
    std::vector<float> wq, bq, wk, bk, wv, bv;  // [d][d], [d]
    std::vector<float> wo, bo;                  // attention output projection
    std::vector<float> rel;                     // relative position table E [context][d_head]
    std::vector<float> ff1_w, ff1_b;            // [d_ff][d], [d_ff]
    std::vector<float> ff2_w, ff2_b;            // [d][d_ff], [d]
    std::vector<float> ln1_g, ln1_b, ln2_g, ln2_b;
  };
  // Valence or arousal -> one condition position: Linear(1, d/2) -> ReLU -> Linear(d/2, d), or the learned
  // null vector when the value is NaN (model.py _encode_conditions).
  struct Condition {
    std::vector<float> w1, b1;  // [d/2][1], [d/2]
    std::vector<float> w2, b2;  // [d][d/2], [d]
    std::vector<float> null;    // [1][d]
  };
  GeneratorConfig shape;  // context counts the condition positions (= the relative table's size)
  std::array<Condition, 2> conditions;  // valence, arousal
  std::vector<float> embedding;         // [vocab][d]
  std::vector<float> position;          // [context][d/2]
  std::vector<float> bnd_w1, bnd_b1;    // boundary MLP: [d/4][1], [d/4]
  std::vector<float> bnd_w2, bnd_b2;    // [d/2][d/4], [d/2]
  std::vector<Layer> layers;
  std::vector<float> out_w, out_b;  // [vocab][d], [vocab]

  // The step's big matrices again in IEEE half precision (binary16), made by prepare_half(). The step reads
  // every weight once per token and is bound by that memory traffic, so reading half the bytes takes about
  // half the time; the logits move by ~1e-3 (tests bound it). Empty until prepared.
  struct HalfLayer {
    std::vector<std::uint16_t> wq, wk, wv, wo, ff1_w, ff2_w;
  };
  std::vector<HalfLayer> half_layers;
  std::vector<std::uint16_t> half_out_w;

  // Fills every array from `take(name, out)`, which copies the parameter of that name (model.py's names, which are
  // the official EMSYNC checkpoint's) into `out` or throws std::invalid_argument when there is none; then
  // check()s the sizes.
  using Source = std::function<void(const std::string& name, std::vector<float>& out)>;
  static DecoderWeights from_parameters(const GeneratorConfig& shape, const Source& take);
  // Throws std::invalid_argument naming the first array whose size does not match the shape.
  void check() const;
  // Every float parameter (the half-precision copies not counted).
  size_t parameter_count() const;
  // Fills the half-precision copies; returns false (and leaves them empty) where the CPU cannot run the
  // half-precision step (it needs AVX2, FMA and F16C).
  bool prepare_half();
  bool has_half() const { return !half_layers.empty(); }
};

// One stream's keys and values, preallocated for the whole context. Values are [layer][head][position][d_head];
// keys are stored transposed, [layer][head][d_head][position], so attention scores vectorise along positions.
// In half precision (for the half-precision step) they take half the memory and half the reads per step.
class KvCache {
 public:
  void reset(const GeneratorConfig& shape, bool half = false);
  int length() const { return length_; }
  bool half() const { return half_; }
  // Replaces the contents with `length` positions of a layer's keys or values laid out [head][pos][d_head].
  void assign(int layer, bool values, const float* data, int length);
  void set_length(int length) { length_ = length; }

  float* keys_transposed(int layer, int head) { return k_.data() + offset(layer, head); }
  float* values(int layer, int head) { return v_.data() + offset(layer, head); }
  std::uint16_t* keys_transposed_half(int layer, int head) { return k_half_.data() + offset(layer, head); }
  std::uint16_t* values_half(int layer, int head) { return v_half_.data() + offset(layer, head); }

 private:
  size_t offset(int layer, int head) const {
    return (static_cast<size_t>(layer) * heads_ + head) * static_cast<size_t>(context_) * d_head_;
  }
  std::vector<float> k_, v_;                    // float cache (empty in half precision)
  std::vector<std::uint16_t> k_half_, v_half_;  // half-precision cache (empty in float)
  bool half_ = false;
  int heads_ = 0, context_ = 0, d_head_ = 0, length_ = 0;
};

// Fork-join over the caller and one helper thread: run(f) calls f(0) here and f(1) on the helper and returns
// when both are done. The helper spins briefly between jobs (a step issues ~5 jobs per layer, microseconds
// apart) and then sleeps, so an idle session costs no CPU.
class ForkJoin {
 public:
  ForkJoin();
  ~ForkJoin();
  ForkJoin(const ForkJoin&) = delete;
  ForkJoin& operator=(const ForkJoin&) = delete;

  template <class F>
  void run(F& f) {
    dispatch(&f, [](void* fn, int part) { (*static_cast<F*>(fn))(part); });
  }

 private:
  void dispatch(void* fn, void (*invoke)(void*, int));
  void helper_loop();

  std::mutex mutex_;
  std::condition_variable wake_, done_cv_;
  void* fn_ = nullptr;
  void (*invoke_)(void*, int) = nullptr;
  std::atomic<unsigned> posted_{0}, finished_{0};
  std::atomic<bool> helper_sleeping_{false}, caller_sleeping_{false}, stop_{false};
  std::thread helper_;
};

// Runs one token at position cache.length() (which must be < context), appends its keys and values to
// the cache and writes vocab_size logits.
class NativeDecoder {
 public:
  // `half`: read the matrices' half-precision copies (the weights must have them, see prepare_half()) and
  // keep the keys and values in half precision (the cache must be reset with half = true).
  explicit NativeDecoder(const DecoderWeights& weights, bool half = false);
  bool half() const { return half_; }
  // Threads of the step (1 or 2; GeneratorSession::set_threads).
  void set_threads(int threads, size_t min_parameters = kParallelMinParameters);
  void step(int token, float boundary_seconds, KvCache& cache, float* logits);

 private:
  static constexpr int kMaxHeads = 64;
  // Rows [begin, end) of part `part` when `n` rows are split over `parts` threads (multiples of 8).
  static std::pair<int, int> split(int n, int part, int parts);
  void attend_heads(int layer, int p, int head_begin, int head_end, float* scores, KvCache& cache);
  template <class Stored>
  void attend_heads_stored(int layer, int p, int head_begin, int head_end, float* scores, KvCache& cache);

  const DecoderWeights& w_;
  bool half_ = false;
  size_t parameter_count_ = 0;
  int threads_ = 1;
  size_t parallel_min_parameters_ = kParallelMinParameters;
  std::unique_ptr<ForkJoin> fork_join_;  // created when a step first runs with 2 threads
  // Scratch, sized once.
  std::vector<float> x_, q_, k_, v_, att_, proj_, hidden_, ff_, scores_, scores2_, bnd_hidden_;
  std::vector<std::vector<float>> rel_t_;  // per layer: the relative table E transposed, [d_head][context]
};

// A whole window in one pass (model.py's prefill): the two condition positions, then `tokens` with their
// seconds-to-boundary values. Fills `cache` with every position's keys and values (replacing what it held) and
// writes the logits of the last position. The matrix products run in the system BLAS (cblas_sgemm); a prefill
// of 256 tokens costs about as much as 60 steps.
class NativePrefill {
 public:
  explicit NativePrefill(const DecoderWeights& weights) : w_(weights) {}
  void run(const std::vector<int>& tokens, const std::vector<float>& boundaries, float valence, float arousal,
           KvCache& cache, float* logits);

 private:
  const DecoderWeights& w_;
  // Scratch, grown to the longest window seen: [positions][d] activations, [positions][positions] scores.
  std::vector<float> x_, q_, k_, v_, att_, proj_, ff_, scores_, rel_, heads_;
};

}  // namespace emsync::music
