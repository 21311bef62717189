// Checks that our C++ runtime reproduces the Python reference forward of a converted official-configuration
// model: prefill of the whole input (the full forward) and the KV-cached step path, both against the reference
// logits of the last position. Usage: official_parity MODEL.pt IO.json [tolerance]
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/music/generator_model.h"

using namespace emsync::music;

// "key": [n, n, ...]   or   "key": n   (empty when absent or not numbers)
static std::vector<double>
numbers_of (const nlohmann::json &doc, const char *key)
{
  std::vector<double> out;
  auto it = doc.find (key);
  if (it == doc.end ())
    return out;
  for (const auto &v : it->is_array () ? *it : nlohmann::json::array ({ *it })) {
    if (!v.is_number ())
      return {};
    out.push_back (v.get<double> ());
  }
  return out;
}

int
main (int argc, char **argv)
{
  if (argc < 3) {
    std::fprintf (stderr, "usage: %s MODEL.pt IO.json [tolerance] [threads]\n", argv[0]);
    return 2;
  }
  const double tolerance = argc > 3 ? std::atof (argv[3]) : 1e-4;
  const int threads =
      argc > 4 ? std::atoi (argv[4]) : 1; // 2: the native step splits its work between two threads
  std::ifstream f (argv[2]);
  nlohmann::json json;
  try {
    json = nlohmann::json::parse (f);
  } catch (const nlohmann::json::exception &e) {
    std::fprintf (stderr, "%s: not valid JSON (%s)\n", argv[2], e.what ());
    return 2;
  }
  std::vector<double> tokens_d = numbers_of (json, "tokens"), boundary_d = numbers_of (json, "boundary");
  std::vector<double> reference = numbers_of (json, "logits_last");
  std::vector<double> valence = numbers_of (json, "valence"), arousal = numbers_of (json, "arousal");
  if (tokens_d.size () < 3 || tokens_d.size () != boundary_d.size () || reference.size () != 1011
      || valence.empty () || arousal.empty ()) {
    std::fprintf (stderr, "%s: unexpected content\n", argv[2]);
    return 2;
  }
  std::vector<int> tokens (tokens_d.begin (), tokens_d.end ());
  std::vector<float> boundary (boundary_d.begin (), boundary_d.end ());

  auto model = GeneratorModel::load (argv[1]);
  std::printf ("model %s: %d layers, d_model %d, %d heads, context %d, %zu parameters\n", argv[1],
      model->config ().n_layers, model->config ().d_model, model->config ().n_heads, model->config ().context,
      model->parameter_count ());
  auto max_error = [&] (const std::vector<float> &logits) {
    double e = 0.0;
    for (size_t i = 0; i < logits.size (); ++i)
      e = std::max (e, std::fabs (logits[i] - reference[i]));
    return e;
  };

  GeneratorSession full (model);
  full.set_threads (threads);
  full.start (tokens, boundary, (float) valence[0], (float) arousal[0]);
  const double full_error = max_error (full.logits ());

  // KV-cached path: prefill the first two tokens, then step through the rest (float weights: the exact
  // check; then the default half-precision weights, which only have to stay close).
  auto stepped_error = [&] (StepBackend backend) {
    GeneratorSession cached (model);
    cached.set_threads (threads);
    cached.set_step_backend (backend);
    cached.start (
        { tokens[0], tokens[1] }, { boundary[0], boundary[1] }, (float) valence[0], (float) arousal[0]);
    for (size_t i = 2; i < tokens.size (); ++i)
      cached.push (tokens[i], boundary[i]);
    return std::pair{ max_error (cached.logits ()), cached.step_backend () == backend };
  };
  const double step_error = stepped_error (StepBackend::Native).first;
  const auto [half_error, half_used] = stepped_error (StepBackend::NativeHalf);
  const double half_tolerance = 100 * tolerance;

  std::printf ("full forward (prefill) vs Python reference: max |diff| = %.3e\n", full_error);
  std::printf (
      "KV-cached steps (%d thread(s)) vs Python reference: max |diff| = %.3e\n", threads, step_error);
  const bool ok = full_error < tolerance && step_error < tolerance;
  std::printf ("tolerance %.0e: %s\n", tolerance, ok ? "PASS" : "FAIL");
  if (!half_used) {
    std::printf ("half-precision steps: not available on this CPU (no F16C)\n");
    return ok ? 0 : 1;
  }
  std::printf ("KV-cached half-precision steps vs Python reference: max |diff| = %.3e (tolerance %.0e: %s)\n",
      half_error, half_tolerance, half_error < half_tolerance ? "PASS" : "FAIL");
  return ok && half_error < half_tolerance ? 0 : 1;
}
