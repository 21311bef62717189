// emsync-gen-eval speed: the Composer's generation/music ratio, and the per-token cost of the reference full-recompute
// loop against the KV-cached step (native and TorchScript) at short and full context.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "lib/midi/vocab.h"
#include "lib/music/sampler.h"
#include "tools/gen-eval/common.h"

namespace gen_eval {

int cmd_speed(const Args& a) {
  const double seconds = a.seconds > 0 ? a.seconds : 30.0;
  Json out = header_json(a, "speed");
  const double rss0 = current_rss_mib();
  ModelInfo info = open_model(a, out);
  const auto& cfg = info.model->config();
  const double rss_loaded = current_rss_mib();

  // 1. The real thing: the Composer, hard sync, a cut every ~6 s.
  GenRequest req = request_from_args(a, mu::SyncMode::Hard, a.seed, seconds);
  req.time_tokens = true;
  for (double t = a.cut_every; t < seconds - 0.5; t += a.cut_every) req.cuts.push_back(t);
  Piece p = compose(info.model, req);
  const double peak_composer = peak_rss_mib();
  const double rtf = p.gen_seconds / seconds;
  const double tokens = static_cast<double>(p.tokens.size());
  Json comp = Json::object();
  comp["music_seconds"] = seconds;
  comp["generation_seconds"] = p.gen_seconds;
  comp["realtime_factor"] = rtf;
  comp["tokens"] = p.tokens.size();
  comp["tokens_per_second"] = tokens / p.gen_seconds;
  comp["tokens_per_music_second"] = tokens / seconds;
  comp["ms_per_token_median"] = median(p.ms_per_token);
  comp["ms_per_token_mean"] = 1000.0 * p.gen_seconds / std::max(1.0, tokens);
  comp["ms_per_token_p95"] = quantile(p.ms_per_token, 0.95);
  comp["ms_per_token_max"] = quantile(p.ms_per_token, 1.0);
  comp["prefills"] = p.stats.prefills;
  comp["steps"] = p.stats.steps;
  comp["cuts_kept"] = p.kept_cuts.size();
  comp["forced_chords"] = p.stats.forced_chords;
  out["composer"] = comp;

  Table t1{"Composer (sync hard, cut every " + fmt("%.0f", a.cut_every) + " s, " + std::to_string(a.threads) +
               " thread(s))",
           {"model load s", "music s", "generation s", "generation/music", "tokens", "tokens/s",
            "tokens per music s", "ms/token median", "ms/token mean", "ms/token p95", "prefills"},
           {}};
  t1.rows.push_back({fmt("%.3f", info.load_seconds), fmt("%.1f", seconds), fmt("%.2f", p.gen_seconds),
                     fmt("%.4f", rtf), fmt("%.0f", tokens), fmt("%.1f", tokens / p.gen_seconds),
                     fmt("%.1f", tokens / seconds), fmt("%.2f", median(p.ms_per_token)),
                     fmt("%.2f", 1000.0 * p.gen_seconds / std::max(1.0, tokens)),
                     fmt("%.2f", quantile(p.ms_per_token, 0.95)), std::to_string(p.stats.prefills)});
  t1.print();

  // 2. Reference full-recompute loop vs the KV-cached step, at the same context lengths.
  const int capacity = cfg.context - cfg.n_condition_positions;  // token positions
  std::vector<int> contexts{std::min(a.short_context, capacity), capacity};
  if (contexts[0] == contexts[1]) contexts.pop_back();
  // Window material: the generated stream (cycled when too short), behind the instrument token.
  std::vector<int> material = p.raw;
  if (material.empty()) material.push_back(md::kBarToken);
  auto window_of = [&](int length, size_t offset) {
    std::vector<int> w{md::kMoreInstrumentsToken};
    for (int i = 1; i < length; ++i) w.push_back(material[(offset + i) % material.size()]);
    return w;
  };
  mu::Sampler sampler({}, a.seed);
  const int vocab = cfg.vocab_size;
  // KV-cached: prefill L - S tokens then S single-token steps (cache length L - S .. L), repeated until
  // `want` steps are timed (the first step of the first block is a warm-up and not counted).
  auto kv_span = [](int L) { return std::max(1, std::min(32, L / 4)); };
  auto kv_steps = [&](mu::GeneratorSession& session, int L, int want) {
    const int S = kv_span(L);
    std::vector<double> kv_ms;
    for (size_t block = 0; static_cast<int>(kv_ms.size()) < want; ++block) {
      std::vector<int> kw = window_of(L - S, block * 97);
      std::vector<float> kb(kw.size(), 8.0f);
      session.start(kw, kb, 0.0f, 0.0f);
      int kprev = kw.back();
      for (int s = 0; s < S; ++s) {
        const int tok = sampler.sample(session.logits().data(), vocab, {}, kprev);
        const double s0 = now_seconds();
        session.push(tok, 8.0f);
        const double dt = 1000.0 * (now_seconds() - s0);
        if (block > 0 || s > 0) kv_ms.push_back(dt);
        kprev = tok;
      }
    }
    return kv_ms;
  };
  Json ctx_json = Json::array();
  Table t2{"Per-token cost: reference full-recompute loop vs KV-cached step (" + std::to_string(a.threads) +
               " thread(s))",
           {"context tokens", "reference ms/token (median)", "n", "KV step ms/token (median)", "n",
            "speed-up", "re-prefill ms (tokens)", "KV amortised ms/token", "amortised speed-up",
            "TorchScript step ms/token (median)", "native step speed-up over TorchScript step",
            "float-weights native step ms/token (median)", "half-precision speed-up over float"},
           {}};
  double full_speedup = kNaN, full_amortised = kNaN;
  for (int L : contexts) {
    mu::GeneratorSession session(info.model);
    session.set_threads(a.threads);
    // Reference: as EMSYNC's generation loop, every token re-runs the full window forward in libtorch (the
    // exported TorchScript prefill of the whole window), not our native prefill.
    mu::GeneratorSession reference(info.model);
    reference.set_threads(a.threads);
    reference.set_step_backend(mu::StepBackend::TorchScript);
    std::vector<int> w = window_of(L, 0);
    std::vector<float> b(w.size(), 8.0f);
    reference.start(w, b, 0.0f, 0.0f);  // warm-up
    std::vector<double> ref_ms;
    int prev = w.back();
    for (int s = 0; s < a.ref_steps; ++s) {
      const double s0 = now_seconds();
      reference.start(w, b, 0.0f, 0.0f);
      ref_ms.push_back(1000.0 * (now_seconds() - s0));
      const int tok = sampler.sample(reference.logits().data(), vocab, {}, prev);
      w.erase(w.begin() + 1);  // slide: keep the instrument token, drop the oldest
      w.push_back(tok);
      prev = tok;
    }
    const int S = kv_span(L);
    std::vector<double> kv_ms = kv_steps(session, L, std::max(a.ref_steps, 2 * S));
    // The same steps through the exported TorchScript `step` method (libtorch ops, cache grown by
    // torch.cat), for comparison with the native step the sessions use by default.
    // And through the native step with float weights when the default reads half-precision ones.
    std::vector<double> ts_ms, float_ms;
    const mu::StepBackend default_backend = session.step_backend();
    if (default_backend != mu::StepBackend::TorchScript) {
      session.set_step_backend(mu::StepBackend::TorchScript);
      ts_ms = kv_steps(session, L, std::max(a.ref_steps, 2 * S));
      if (default_backend == mu::StepBackend::NativeHalf) {
        session.set_step_backend(mu::StepBackend::Native);
        float_ms = kv_steps(session, L, std::max(a.ref_steps, 2 * S));
      }
      session.set_step_backend(default_backend);
    }
    // The session's slide (only at full context: below it the window never slides). One push into a full
    // window shows how much the session keeps (W tokens) and what the re-prefill costs; two more prefills of
    // W tokens give a median. A cycle is then (capacity - W) steps and one re-prefill for capacity + 1 - W
    // tokens.
    const bool full = L == capacity;
    std::vector<double> pre_ms;
    int keep = 0;
    if (full) {
      std::vector<int> fw = window_of(capacity, 7);
      std::vector<float> fb(fw.size(), 8.0f);
      session.start(fw, fb, 0.0f, 0.0f);
      const long prefills = session.prefill_count();
      const int tok = sampler.sample(session.logits().data(), vocab, {}, fw.back());
      const double s0 = now_seconds();
      session.push(tok, 8.0f);
      const double dt = 1000.0 * (now_seconds() - s0);
      if (session.prefill_count() > prefills) {
        keep = session.window_length();
        pre_ms.push_back(dt);
        for (int r = 0; r < 2; ++r) {
          std::vector<int> pw = window_of(keep, 13 * r);
          std::vector<float> pb(pw.size(), 8.0f);
          const double t0 = now_seconds();
          session.start(pw, pb, 0.0f, 0.0f);
          pre_ms.push_back(1000.0 * (now_seconds() - t0));
        }
      }
    }
    const int per_slide = keep > 0 ? capacity + 1 - keep : 0;
    const double ref_med = median(ref_ms), kv_med = median(kv_ms), pre_med = median(pre_ms);
    const double amort = per_slide > 0 ? ((capacity - keep) * kv_med + pre_med) / per_slide : kv_med;
    if (full) {
      full_speedup = ref_med / kv_med;
      full_amortised = ref_med / amort;
    }
    Json cj = Json::object();
    cj["context_tokens"] = L;
    cj["full_context"] = full;
    cj["reference_ms_per_token_median"] = ref_med;
    cj["reference_ms_per_token_min"] = quantile(ref_ms, 0.0);
    cj["reference_steps"] = ref_ms.size();
    cj["kv_ms_per_token_median"] = kv_med;
    cj["kv_ms_per_token_min"] = quantile(kv_ms, 0.0);
    cj["kv_steps"] = kv_ms.size();
    cj["kv_cache_length_range"] = Json::array_of(std::vector<int>{L - S + 2, L + 2});
    cj["speedup"] = ref_med / kv_med;
    cj["reprefill_tokens"] = keep > 0 ? Json(keep) : Json();
    cj["reprefill_ms_median"] = pre_med;
    cj["tokens_per_reprefill"] = per_slide;
    cj["kv_amortised_ms_per_token"] = amort;
    cj["amortised_speedup"] = ref_med / amort;
    cj["torchscript_step_ms_per_token_median"] = median(ts_ms);
    cj["native_over_torchscript_step_speedup"] = median(ts_ms) / kv_med;
    cj["half_precision_step"] = default_backend == mu::StepBackend::NativeHalf;
    cj["float_native_step_ms_per_token_median"] = median(float_ms);
    cj["half_over_float_step_speedup"] = median(float_ms) / kv_med;
    ctx_json.push(cj);
    t2.rows.push_back(
        {std::to_string(L) + (full ? " (full)" : ""), fmt("%.2f", ref_med), std::to_string(ref_ms.size()),
         fmt("%.3f", kv_med), std::to_string(kv_ms.size()), fmt("%.1fx", ref_med / kv_med),
         keep > 0 ? fmt("%.1f", pre_med) + " (" + std::to_string(keep) + ")" : "n/a", fmt("%.3f", amort),
         fmt("%.1fx", ref_med / amort), ts_ms.empty() ? "n/a" : fmt("%.3f", median(ts_ms)),
         ts_ms.empty() ? "n/a" : fmt("%.1fx", median(ts_ms) / kv_med),
         float_ms.empty() ? "n/a" : fmt("%.3f", median(float_ms)),
         float_ms.empty() ? "n/a" : fmt("%.2fx", median(float_ms) / kv_med)});
  }
  t2.print();
  if (!a.kv_profile.empty()) {
    // How the KV step's cost grows with the cache length (attention and the per-step cache copy).
    Table t3{"KV-cached step cost by cache length", {"context tokens", "KV step ms/token (median)", "n"}, {}};
    Json prof = Json::array();
    mu::GeneratorSession session(info.model);
    session.set_threads(a.threads);
    for (double x : a.kv_profile) {
      const int L = std::min(capacity, std::max(8, static_cast<int>(x)));
      std::vector<double> ms = kv_steps(session, L, 2 * kv_span(L));
      t3.rows.push_back({std::to_string(L), fmt("%.3f", median(ms)), std::to_string(ms.size())});
      Json j = Json::object();
      j["context_tokens"] = L;
      j["kv_ms_per_token_median"] = median(ms);
      prof.push(j);
    }
    t3.print();
    out["kv_profile"] = prof;
  }
  out["contexts"] = ctx_json;
  out["full_context_speedup"] = full_speedup;
  out["full_context_amortised_speedup"] = full_amortised;
  const double peak = peak_rss_mib();
  out["rss_mib"] = Json::object();
  out["rss_mib"]["before_load"] = rss0;
  out["rss_mib"]["after_load"] = rss_loaded;
  out["rss_mib"]["peak_after_composer"] = peak_composer;
  out["rss_mib"]["peak"] = peak;
  std::printf(
      "\npeak RSS %.1f MiB at the end, %.1f MiB after the Composer run (after load %.1f MiB, before load "
      "%.1f MiB)\n",
      peak, peak_composer, rss_loaded, rss0);
  std::printf(
      "generation/music %.4f; full-context speed-up %.1fx (step), %.1fx (amortised incl. re-prefill)\n", rtf,
      full_speedup, full_amortised);
  write_json(a, out);
  return 0;
}

}  // namespace gen_eval
