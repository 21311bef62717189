// The generator network, without libtorch.
//
// GeneratorModel is the immutable, loaded model file (a TorchScript archive, models/FORMAT.md, read by
// lib/music/model_archive.h), shared between elements and sessions by path. GeneratorSession is one stream's
// state on top of it: the token window, the KV cache and the conditioning; its prefill and step run natively
// (lib/music/native_decoder.h). The TorchScript methods can be run beside them for comparison
// (lib/music/torchscript_support.h, the only part that needs libtorch).
#pragma once

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "lib/midi/vocab.h"

namespace emsync::music {

class ModelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct GeneratorConfig {
  std::string format;  // "emsync-generator"
  int format_version = 0;
  int vocab_size = 0;
  int context = 0;  // positions including the 2 condition positions
  int d_model = 0;
  int n_layers = 0;
  int n_heads = 0;
  int d_ff = 0;
  double max_boundary_seconds = 8.0;
  int tick_ms = midi::kTickMs;  // the only one the vocabulary knows
  int n_condition_positions = 2;
  int instrument_threshold = 3;
  // Note density (notes per second per non-empty instrument) that the training labels mapped to arousal -1
  // and +1; 0 when the model does not declare it (then density control is unavailable).
  double arousal_density_min = 0.0;
  double arousal_density_max = 0.0;
};

class GeneratorModel {
 public:
  // Loads (or returns the already loaded) model at `path`. Throws ModelError naming the file and what
  // was expected when it is missing, unreadable, not TorchScript, not an emsync generator, or exported
  // without the weight index.
  static std::shared_ptr<const GeneratorModel> load(const std::string& path);

  ~GeneratorModel();
  const GeneratorConfig& config() const { return config_; }
  const std::string& path() const { return path_; }
  size_t parameter_count() const { return parameter_count_; }
  // Whether the weights were also read into the native step (lib/music/native_decoder.h); true for every
  // model exported from models/training/model.py, including converted official checkpoints.
  bool has_native_step() const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  GeneratorModel() = default;
  GeneratorConfig config_;
  std::string path_;
  size_t parameter_count_ = 0;
  std::unique_ptr<Impl> impl_;
};

// Models with fewer weights than this step on one thread whatever GeneratorSession::set_threads() says: their
// step's jobs take microseconds, less than waking a second thread (measured: the 4M-parameter shipped model at full
// context 0.72 ms/token on one thread, 2.8 ms on two; the 37M official size 16 vs 8 ms).
constexpr size_t kParallelMinParameters = 10'000'000;

// How a session runs single-token steps after a prefill. Native is plain C++ with a preallocated KV cache;
// NativeHalf (the default where the CPU has F16C) is the same step reading its matrices in half precision,
// about 1.5x faster, logits within ~1e-3 of Native; both prefill natively. TorchScript calls the exported
// `prefill` and `step` methods (for comparison in tests and benchmarks; it needs enable_torchscript() before the
// model is loaded, else selecting it throws ModelError). Without F16C, NativeHalf falls back to Native.
enum class StepBackend { Native, NativeHalf, TorchScript };

class GeneratorSession {
 public:
  explicit GeneratorSession(std::shared_ptr<const GeneratorModel> model);
  ~GeneratorSession();
  GeneratorSession(const GeneratorSession&) = delete;
  GeneratorSession& operator=(const GeneratorSession&) = delete;

  // Starts a new window with `prefix` tokens (e.g. the instrument control token and <BAR>) and their
  // seconds-to-boundary values; runs the prefill. NaN valence/arousal selects the learned null vector.
  void start(const std::vector<int>& prefix, const std::vector<float>& boundaries, float valence,
             float arousal);
  // Appends one token with its seconds-to-boundary value and computes the next logits. When the window
  // is full, the oldest tokens are dropped in one chunk (the first prefix token, the instrument control,
  // is kept, with the boundary value of the first token kept after it) and the window is re-prefilled.
  void push(int token, float boundary);
  // Threads of this session: its native step uses 1 or 2 (only for models of `parallel_min_parameters` weights or
  // more), and the BLAS thread pool (the process's, like libtorch's intra-op pool with the TorchScript support) is
  // sized to `threads` before each of its prefills, in the thread that runs it. Default 1.
  void set_threads(int threads, size_t parallel_min_parameters = kParallelMinParameters);
  // Selects the step backend; a current window is re-prefilled into the new backend's cache.
  void set_step_backend(StepBackend backend);
  StepBackend step_backend() const;
  // Changes the conditioning; the window is re-prefilled with the new values (no-op when unchanged). A window
  // longer than a slide keeps is first cut to what a slide keeps, so no prefill is longer than that.
  void set_condition(float valence, float arousal);

  // Next-token logits (vocabulary-sized), valid after start()/push().
  const std::vector<float>& logits() const { return logits_; }
  const GeneratorConfig& config() const { return model_->config(); }
  int window_length() const { return static_cast<int>(window_tokens_.size()); }
  // The boundary values of the window's tokens (the instrument control token's first).
  const std::vector<float>& window_boundaries() const { return window_boundaries_; }
  long prefill_count() const { return prefill_count_; }
  long step_count() const { return step_count_; }

  struct State;

 private:
  void prefill();
  // Drops the oldest tokens after the instrument control token until `keep` tokens follow it.
  void keep_newest(size_t keep);
  size_t slide_keep() const;

  std::shared_ptr<const GeneratorModel> model_;
  std::unique_ptr<State> state_;
  std::vector<int> window_tokens_;
  std::vector<float> window_boundaries_;
  std::vector<float> logits_;
  float valence_ = 0.0f;
  float arousal_ = 0.0f;
  long prefill_count_ = 0;
  long step_count_ = 0;
  int threads_ = 1;
  size_t parallel_min_parameters_ = kParallelMinParameters;
};

}  // namespace emsync::music
